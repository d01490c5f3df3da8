// The emergency banner above every view: each emergency post still on its way, with who
// let it through and how far it has gone (from /api/summary). Owns the #emergency element;
// imports dom, i18n, api, data and facts.

import { $, el } from './dom.js';
import { t } from './i18n.js';
import { list, str } from './api.js';
import { currentSummary } from './data.js';
import { routeText } from './facts.js';

function item(note) {
  const text = t('emergency.item', {
    title: str(note.title) || str(note.id),
    by: str(note.by),
    via: routeText(note.via),
    published: Number(note.published) || 0,
    networks: Number(note.networks) || 0,
  });
  return el('li', {}, el('a', { attrs: { href: `#/post/${encodeURIComponent(str(note.id))}` }, text }));
}

export function renderEmergency() {
  const banner = $('emergency');
  const summary = currentSummary();
  const notes = list(summary && summary.emergencies).filter((n) => n && typeof n === 'object');
  const key = JSON.stringify(notes);
  if (banner.getAttribute('data-key') === key) return;
  banner.setAttribute('data-key', key);
  banner.hidden = notes.length === 0;
  banner.replaceChildren(
    el('p', { className: 'emergency-title' },
      el('span', { attrs: { 'aria-hidden': 'true' }, text: '⚠ ' }), t('emergency.title')),
    el('ul', { className: 'emergency-list' }, notes.map(item)),
  );
}
