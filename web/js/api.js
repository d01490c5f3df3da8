// The API client: GET of a JSON document (/api/posts, /api/summary, /api/posts/{id},
// /api/info, /healthz) and what each URL last answered, plus the coercions every answer
// goes through, as the API's values are untrusted. Imports nothing of the app's.

export const list = (value) => (Array.isArray(value) ? value : []);
export const str = (value) => (value === null || value === undefined ? '' : String(value));

// The posts of a /api/posts answer that are objects at all.
export const postsOf = (data) => list(data && data.posts).filter((p) => p && typeof p === 'object');

export function titleOf(post) {
  return post && post.title ? String(post.title) : str(post && post.id);
}

// Last response text per URL, to skip re-rendering when nothing changed.
const raw = new Map();

async function fetchText(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const text = await response.text();
  return { response, text };
}

// GET a JSON document; `changed` says whether it differs from the last answer for `url`.
export async function getJson(url, { allowStatus = [] } = {}) {
  const { response, text } = await fetchText(url);
  // A session that ended (expired, signed out elsewhere, the person disabled): sign in
  // again and come back here. Basic credentials get a challenge instead, left to the browser.
  if (response.status === 401 && !response.headers.has('WWW-Authenticate')) {
    location.replace(`signin.html?next=${encodeURIComponent(location.hash)}`);
  }
  if (!response.ok && !allowStatus.includes(response.status)) {
    const err = new Error(`HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  const changed = raw.get(url) !== text;
  raw.set(url, text);
  return { data: JSON.parse(text), changed };
}

// The next answer for `url` counts as changed (it failed, or it was a one-off question).
export function forget(url) {
  raw.delete(url);
}

export function forgetStartingWith(prefix) {
  for (const key of [...raw.keys()]) if (key.startsWith(prefix)) raw.delete(key);
}
