// The live region (#announcer) and what the dashboard last saw of each post's deliveries,
// so that it can say in a sentence what a live event changed. Owns both; imports dom,
// i18n, api, states and pieces.

import { $ } from './dom.js';
import { t } from './i18n.js';
import { list, str, titleOf } from './api.js';
import { ANNOUNCED } from './states.js';
import { stateName } from './pieces.js';

// Post id → Map of network → delivery state, as last seen.
const known = new Map();
let announceTimer = null;

// The live region says what changed, once, in a sentence; never the whole list.
export function announce(message) {
  const region = $('announcer');
  clearTimeout(announceTimer);
  region.textContent = '';
  // Clearing first makes screen readers read a message equal to the previous one again.
  announceTimer = setTimeout(() => { region.textContent = message; }, 100);
}

export function remember(posts) {
  for (const p of posts) known.set(str(p.id), new Map(list(p.deliveries).map((d) => [str(d.network), d.state])));
}

export const knownStates = (id) => known.get(id);

// `posts` are the posts the events named, `before` what was known of them.
export function announceChanges(before, posts, events) {
  const landed = new Set(events.filter((e) => e.kind === 'landed').map((e) => str(e.post_id)));
  // For a post not seen before, only what the events name changed just now.
  const touched = new Set(events.map((e) => `${str(e.post_id)}\u0000${str(e.network)}`));
  const messages = [];
  for (const p of posts) {
    const id = str(p.id);
    const was = before.get(id);
    if (!was && landed.has(id)) {
      messages.push(t('announce.new', { title: titleOf(p), state: stateName(p.state) }));
      continue;
    }
    for (const d of list(p.deliveries)) {
      const differs = was ? was.get(str(d.network)) !== d.state : touched.has(`${id}\u0000${str(d.network)}`);
      if (differs && ANNOUNCED.includes(d.state)) {
        messages.push(t('announce.delivery', { title: titleOf(p), network: str(d.network), state: stateName(d.state) }));
      }
    }
  }
  remember(posts);
  if (messages.length === 0) return;
  announce(messages.length > 3 ? t('announce.many', { n: messages.length }) : messages.join(' '));
}
