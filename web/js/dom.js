// Small DOM helpers: making elements, links to the outside, headings, and keeping focus
// across a rebuild. Owns no state and imports nothing of the app's.
//
// Every string from the API (titles, texts, departments, errors, event details, names) is
// written by staff or by a network and therefore untrusted. The DOM is built with
// createElement, textContent, append and setAttribute only: never innerHTML, outerHTML,
// insertAdjacentHTML or document.write. Links to the outside are made only from http(s)
// URLs. The page runs under a strict CSP (no inline script or style), so all behaviour is
// wired up in these modules and all looks live in style.css.

export const $ = (id) => document.getElementById(id);

// The one way the dashboard creates elements. `text` goes through textContent and children
// through append(), which makes Text nodes of strings: nothing is parsed as HTML.
// Attribute names are always literals from the dashboard's code, never from data.
export function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.className) node.className = opts.className;
  if (opts.attrs) {
    for (const [name, value] of Object.entries(opts.attrs)) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
  }
  if (opts.text !== null && opts.text !== undefined) node.textContent = String(opts.text);
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

// A heading of the given level (2–6).
export function heading(level, opts, ...children) {
  return el(`h${Math.min(6, Math.max(1, level))}`, opts, ...children);
}

export function code(text) {
  return el('code', { text });
}

// Only http(s) addresses become links: a remote_url such as "javascript:…" or "data:…"
// must never be clickable. Returns the normalised address or null.
export function safeUrl(raw) {
  if (typeof raw !== 'string' || raw === '') return null;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    if (url.username || url.password) return null; // never show credentials
    return url.href;
  } catch {
    return null;
  }
}

export function externalLink(href, text) {
  return el('a', { className: 'external', attrs: { href, rel: 'noopener noreferrer', target: '_blank' }, text });
}

// What has focus inside `container`, as a name that survives rebuilding it: the data-key
// of the nearest keyed element, or the id.
export function focusKeyIn(container) {
  const active = document.activeElement;
  if (!active || !container.contains(active)) return null;
  const keyed = active.closest('[data-key]');
  return keyed ? keyed.getAttribute('data-key') : (active.id ? `#${active.id}` : null);
}

export function restoreFocusIn(container, key) {
  if (!key) return;
  let target = null;
  if (key.startsWith('#')) target = $(key.slice(1));
  else {
    for (const node of container.querySelectorAll('[data-key]')) {
      if (node.getAttribute('data-key') === key) { target = node; break; }
    }
  }
  if (target) target.focus({ preventScroll: true });
}
