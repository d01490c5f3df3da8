// The post lists the route shows, each a window onto one page of /api/posts: which ones
// there are, paging ("show more"), and where a live event's posts now belong (by cursor).
// Owns the windows; imports api, data, announce, i18n and route (each view names its
// lists through its `windows(route)`).
//
// The dashboard never reads every post. Each view reads one page of its own list from
// /api/posts, the counts come from /api/summary, and a live event reads again only the
// posts it names (src/web/post_list.rs).

import { forget, forgetStartingWith, getJson, postsOf, str } from './api.js';
import { changed } from './data.js';
import { announce, remember } from './announce.js';
import { t } from './i18n.js';
import { route } from './route.js';

export const PAGE = 100; // posts per page of a full view
const MAX_PAGE = 1000; // the most /api/posts gives at once (src/web/post_list.rs)

// Key → { spec, posts, total, next, loaded, error, seq }. The views read these objects as
// they are (copying every list on each render would cost more than it protects); only
// this module writes them.
const windows = new Map();

// One list of a view: a view of /api/posts, its filters, how many posts the first page
// holds; `found` has the live region say how many the first read found (a search).
export function listSpec(view, filters, limit, { found = false } = {}) {
  return { key: `${view}?${filters}`, view, filters, limit, found };
}

function specsOf(r) {
  return r.view && r.view.windows ? r.view.windows(r) : [];
}

// The route's windows, made when first needed; windows of other routes are dropped, as
// live events no longer keep them true.
export function currentWindows() {
  const specs = specsOf(route());
  const keys = new Set(specs.map((s) => s.key));
  for (const key of [...windows.keys()]) if (!keys.has(key)) windows.delete(key);
  return specs.map((s) => {
    let w = windows.get(s.key);
    if (!w) {
      w = { spec: s, posts: [], total: 0, next: null, loaded: false, error: null };
      windows.set(s.key, w);
    } else if (s.limit > w.spec.limit) {
      w.spec = s;
    }
    return w;
  });
}

// A list the route now shows that has no window yet (the published view, when a network
// has its first post).
export function windowMissing() {
  return specsOf(route()).some((spec) => !windows.has(spec.key));
}

export function windowOf(view, filters = '') {
  return windows.get(`${view}?${filters}`) || null;
}

function windowUrl(w, extra) {
  const query = new URLSearchParams(w.spec.filters);
  if (w.spec.view !== 'all') query.set('view', w.spec.view);
  for (const [key, value] of extra) query.append(key, String(value));
  return `api/posts?${query}`;
}

const byCursor = (a, b) => (str(a.cursor) < str(b.cursor) ? -1 : str(a.cursor) > str(b.cursor) ? 1 : 0);

function setPage(w, data, posts) {
  w.seq = (w.seq || 0) + 1;
  w.posts = posts;
  w.total = Number.isFinite(Number(data && data.total)) ? Number(data.total) : posts.length;
  w.next = data && typeof data.next_cursor === 'string' ? data.next_cursor : null;
  w.loaded = true;
  w.error = null;
  remember(posts);
}

// The window's first page again, as long as what it shows.
export async function loadWindow(w) {
  const url = windowUrl(w, [['limit', Math.min(MAX_PAGE, Math.max(w.spec.limit, w.posts.length))]]);
  try {
    const { data, changed: differs } = await getJson(url);
    if (differs || !w.loaded) {
      const fresh = !w.loaded;
      setPage(w, data, postsOf(data));
      changed();
      if (fresh && w.spec.found) announce(t('posts.found', { n: w.total }));
    }
  } catch (err) {
    forget(url);
    if (!w.loaded) {
      w.error = err.message;
      changed();
    }
    throw err;
  }
}

// The page after the last one shown ("show more").
export async function loadMore(w) {
  if (!w.next) return;
  const seq = w.seq;
  const { data } = await getJson(windowUrl(w, [['limit', PAGE], ['cursor', w.next]]));
  // The window changed meanwhile (a live update, a refresh): this page may hold posts
  // that have left the view since; the button asks again.
  if (w.seq !== seq) return;
  const shown = new Set(w.posts.map((p) => str(p.id)));
  setPage(w, data, w.posts.concat(postsOf(data).filter((p) => !shown.has(str(p.id)))));
  changed();
}

// Puts the posts a live event named where they now belong in the window: out of it,
// moved, or in (when they sort within what the window shows).
export async function updateWindow(w, ids) {
  const url = windowUrl(w, [['limit', MAX_PAGE], ...ids.map((id) => ['id', id])]);
  const { data } = await getJson(url);
  forget(url);
  const named = new Set(ids);
  const posts = w.posts.filter((p) => !named.has(str(p.id)));
  for (const p of postsOf(data)) {
    if (w.next === null || str(p.cursor) <= w.next) posts.push(p);
  }
  posts.sort(byCursor);
  // The first page's cached answer no longer says what the window holds.
  forgetStartingWith(windowUrl(w, []));
  // Posts left a window that has more to read: what follows them must move up, and only
  // the server knows what that is.
  if (w.next !== null && posts.length < w.spec.limit) {
    await loadWindow(w);
    return;
  }
  setPage(w, { total: data && data.total, next_cursor: w.next }, posts);
  changed();
}
