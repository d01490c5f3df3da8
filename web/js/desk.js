// Requests of the desk's views (compose, approvals, people): JSON in and out, with the
// session's CSRF token on every request that changes something. The answer is always an
// object, so a view reads `data.error` or `data.field` without checking first.
// Imports session.js.

import { csrfToken } from './session.js';

async function answerOf(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, data: data && typeof data === 'object' ? data : {} };
}

export async function send(method, url, body, extra = {}) {
  const response = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken(), ...extra },
    body: JSON.stringify(body),
    cache: 'no-store',
  });
  return answerOf(response);
}

// A body that is not JSON (the people page's CSV).
export async function sendText(url, contentType, text) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': contentType, Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
    body: text,
    cache: 'no-store',
  });
  return answerOf(response);
}

export async function read(url) {
  try {
    return await answerOf(await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' }));
  } catch (err) {
    return { status: 0, data: { error: String(err && err.message) } };
  }
}

// A link to a forge page, only for http(s) addresses.
export function isWebLink(url) {
  return typeof url === 'string' && /^https?:\/\//.test(url);
}
