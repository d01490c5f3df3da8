// Pieces more than one view shows: state badges, post links, times, notes, tables and
// messages. Owns no state; imports dom, i18n, api (for coercion), states and data (for
// the dry-run note).

import { el } from './dom.js';
import { formatter, ms, t, zone } from './i18n.js';
import { list, str, titleOf } from './api.js';
import { ICONS, OTHER_BADGES, STATES } from './states.js';
import { currentInfo } from './data.js';

export function stateName(state) {
  return STATES.includes(state) || OTHER_BADGES.includes(state) ? t(`state.${state}`) : str(state);
}

// The state in words with a shape; the colour (from the class) only repeats them.
export function badge(state) {
  const known = ICONS.has(state);
  return el('span', { className: `badge state-${known ? state : 'other'}`, attrs: { 'data-state': known ? state : null } },
    el('span', { className: 'badge-icon', attrs: { 'aria-hidden': 'true' }, text: known ? ICONS.get(state) : '•' }),
    ' ', stateName(state));
}

export function networkBadges(deliveries) {
  return el('ul', { className: 'network-list' }, list(deliveries).map((d) => el('li', {
    className: 'network-state', attrs: { 'data-network': str(d.network), 'data-state': str(d.state) },
  }, el('span', { className: 'network-name', text: str(d.network) }), ' ', badge(d.state))));
}

function postHref(id) {
  return `#/post/${encodeURIComponent(str(id))}`;
}

// An emergency post's link carries a marker in words, so a pinned one says why it is first.
export function postLink(post) {
  const link = el('a', { className: 'post-link', attrs: { href: postHref(post.id), 'data-key': `post:${str(post.id)}` }, text: titleOf(post) });
  if (!post.emergency || typeof post.emergency !== 'object') return link;
  return el('span', { className: 'post-link-wrap' }, el('span', { className: 'emergency-mark', text: t('emergency.pinned') }), ' ', link);
}

// A <time> with the exact RFC 3339 value as machine-readable datetime.
export function timeEl(value, kind = 'datetime', empty = null) {
  if (value === null || value === undefined || value === '') return el('span', { className: 'muted', text: empty || t('none') });
  const at = ms(value);
  if (Number.isNaN(at)) return el('span', { text: str(value) });
  return el('time', { attrs: { datetime: new Date(at).toISOString() }, text: formatter(kind).format(at) });
}

export function zoneNote() {
  return el('p', { className: 'zone-note' }, zone() ? t('times.in', { tz: zone() }) : t('times.local'));
}

export function dryRunNote() {
  const info = currentInfo();
  return info && info.dry_run ? el('p', { className: 'notice' }, t('dryrun')) : null;
}

export function messageBox(text, className = 'empty') {
  return el('p', { className }, text);
}

export function loadingOr(error) {
  return error ? messageBox(t('load.failed', { error }), 'error-text') : messageBox(t('loading'));
}

// A table in a box that scrolls sideways on narrow screens; the box is focusable so
// keyboard users can scroll it, and named after the table.
export function dataTable(caption, headers, rows, className = '') {
  const table = el('table', { className: `data ${className}`.trim() },
    el('caption', { className: 'visually-hidden', text: caption }),
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { attrs: { scope: 'col' }, text: h })))),
    el('tbody', {}, rows));
  return el('div', { className: 'table-wrap', attrs: { tabindex: '0', role: 'region', 'aria-label': caption } }, table);
}
