// The upcoming view (#/upcoming): the timeline of everything still to go out, a page at a
// time. Owns no state; imports i18n, windows, timeline, paging and pieces.

import { t } from '../i18n.js';
import { listSpec, PAGE, windowOf } from '../windows.js';
import { timeline, upcomingShown } from '../timeline.js';
import { moreButton, pending } from '../paging.js';
import { zoneNote } from '../pieces.js';

function body() {
  const w = windowOf('upcoming');
  const waiting = pending(w);
  if (waiting) return [zoneNote(), ...waiting];
  return [zoneNote(), timeline(upcomingShown(w), 2), moreButton(w)];
}

export const upcoming = {
  name: 'upcoming',
  title: () => t('upcoming.title'),
  windows: () => [listSpec('upcoming', '', PAGE)],
  body,
};
