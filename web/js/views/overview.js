// The overview (#/): the counts as tiles, what needs attention, what comes next and what
// went out last. Owns no state; imports dom, i18n, api, data, windows, attention,
// timeline, paging and pieces.

import { el, heading, safeUrl } from '../dom.js';
import { ms, t } from '../i18n.js';
import { list, str } from '../api.js';
import { currentHealth, currentSummary } from '../data.js';
import { listSpec, windowOf } from '../windows.js';
import { attentionCount, attentionList, attentionShown } from '../attention.js';
import { timeline, upcomingShown } from '../timeline.js';
import { pending } from '../paging.js';
import { dataTable, dryRunNote, messageBox, postLink, timeEl, zoneNote } from '../pieces.js';

const OVERVIEW_ATTENTION = 50;
const OVERVIEW_UPCOMING = 8;
const OVERVIEW_RECENT = 8;

// Published deliveries, newest first.
function publishedDeliveries(posts) {
  const out = [];
  for (const post of list(posts)) {
    for (const d of list(post.deliveries)) {
      if (d.state === 'published') out.push({ post, delivery: d, at: ms(d.published_at) });
    }
  }
  out.sort((a, b) => (Number.isNaN(b.at) ? 0 : b.at) - (Number.isNaN(a.at) ? 0 : a.at));
  return out;
}

// "✓ x": a network the post went to, linked to it there when the address is http(s).
function chip(delivery) {
  const href = safeUrl(delivery.remote_url);
  const parts = [el('span', { attrs: { 'aria-hidden': 'true' }, text: '✓ ' }), str(delivery.network)];
  return href
    ? el('a', { className: 'chip', attrs: { href, rel: 'noopener noreferrer', target: '_blank' } }, parts)
    : el('span', { className: 'chip' }, parts);
}

function tile(key, n, href, state) {
  return el('li', { className: `tile${n > 0 && state ? ` tile-${state}` : ''}` },
    el('a', { attrs: { href, 'data-key': `tile:${key}` } },
      el('span', { className: 'tile-number', text: String(n) }),
      el('span', { className: 'tile-label', text: t(key) })));
}

function tiles(total) {
  const summary = currentSummary() || {};
  const count = (n) => Number(n) || 0;
  return el('section', { className: 'summary', attrs: { 'aria-labelledby': 'summary-title' } },
    heading(2, { className: 'visually-hidden', attrs: { id: 'summary-title' }, text: t('overview.summary') }),
    el('ul', { className: 'tiles' },
      tile('tile.attention', total, '#/attention', 'alert'),
      tile('tile.upcoming', count(summary.upcoming_24h), '#/upcoming'),
      tile('tile.published', count(summary.published_today), '#/published'),
      tile('tile.paused', list(currentHealth() && currentHealth().paused_networks).length, '#/attention', 'alert')));
}

function attentionPanel(w, total) {
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'ov-attention' } },
    heading(2, { attrs: { id: 'ov-attention' } }, t('attention.title'), ' ', el('span', { className: 'count', text: t('nav.count', { n: total }) })),
    attentionList(attentionShown(w), 3),
    w.next ? el('p', { className: 'more' }, el('a', { attrs: { href: '#/attention' }, text: t('overview.attention.more', { n: total }) })) : null);
}

function upcomingPanel(w) {
  const upcoming = upcomingShown(w);
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'ov-upcoming' } },
    heading(2, { attrs: { id: 'ov-upcoming' } }, t('overview.upcoming')),
    timeline(upcoming.slice(0, OVERVIEW_UPCOMING), 3),
    w.total > OVERVIEW_UPCOMING || upcoming.length > OVERVIEW_UPCOMING
      ? el('p', { className: 'more' }, el('a', { attrs: { href: '#/upcoming' }, text: t('overview.upcoming.more', { n: w.total }) })) : null);
}

// One row per post, newest first, with every network it went to.
function recentPanel(w) {
  const recent = w.posts.slice(0, OVERVIEW_RECENT).map((post) => {
    const sent = publishedDeliveries([post]);
    return el('tr', { attrs: { 'data-post-id': str(post.id) } },
      el('td', { className: 'when' }, timeEl(sent.length > 0 ? sent[0].delivery.published_at : null)),
      el('th', { attrs: { scope: 'row' } }, postLink(post)),
      el('td', { text: str(post.department) || t('none') }),
      el('td', {}, el('ul', { className: 'network-list' }, sent.map(({ delivery }) => el('li', { attrs: { 'data-network': str(delivery.network) } },
        chip(delivery))))));
  });
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'ov-recent' } },
    heading(2, { attrs: { id: 'ov-recent' } }, t('overview.recent')),
    recent.length > 0
      ? dataTable(t('overview.recent'), [t('col.published'), t('col.title'), t('col.department'), t('col.networks')], recent)
      : messageBox(t('published.none')),
    recent.length > 0 ? el('p', { className: 'more' }, el('a', { attrs: { href: '#/published' }, text: t('overview.recent.more') })) : null);
}

function body() {
  const [att, up, pub] = [windowOf('attention'), windowOf('upcoming'), windowOf('published')];
  const waiting = pending(att, up, pub);
  if (waiting) return [zoneNote(), ...waiting];
  const total = attentionCount();
  return [zoneNote(), dryRunNote(), tiles(total), attentionPanel(att, total), upcomingPanel(up), recentPanel(pub)];
}

export const overview = {
  name: 'overview',
  title: () => t('overview.title'),
  windows: () => [listSpec('attention', '', OVERVIEW_ATTENTION), listSpec('upcoming', '', OVERVIEW_UPCOMING),
    listSpec('published', '', OVERVIEW_RECENT)],
  body,
};
