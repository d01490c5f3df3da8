// The timeline of work still to go out, by day and hour in the repository's timezone, as
// the overview and the upcoming view show it. Owns no state; imports dom, i18n, api,
// states and pieces.

import { el, heading } from './dom.js';
import { dayKey, formatTime, ms, t, zoneParts } from './i18n.js';
import { list, str } from './api.js';
import { UPCOMING } from './states.js';
import { messageBox, networkBadges, postLink } from './pieces.js';

// The window's timeline entries that are certain: with more to read, none after the last
// post read, as an unread post may come before them.
export function upcomingShown(w) {
  const entries = upcomingEntries(w.posts);
  const last = w.next && w.posts.length > 0 ? w.posts[w.posts.length - 1] : null;
  if (!last) return entries;
  const cutoff = Math.min(...upcomingEntries([last]).map((e) => e.at));
  return entries.filter((e) => e.at <= cutoff);
}

// Scheduled work, one entry per post and due minute, soonest first.
function upcomingEntries(posts) {
  const entries = [];
  for (const post of list(posts)) {
    const byDue = new Map();
    for (const d of list(post.deliveries)) {
      if (!UPCOMING.includes(d.state)) continue;
      const at = ms(d.due_at);
      if (Number.isNaN(at)) continue;
      const minute = Math.floor(at / 60000);
      if (!byDue.has(minute)) byDue.set(minute, { post, at, deliveries: [] });
      byDue.get(minute).deliveries.push(d);
    }
    entries.push(...byDue.values());
  }
  entries.sort((a, b) => a.at - b.at || (str(a.post.id) < str(b.post.id) ? -1 : 1));
  return entries;
}

// Entries by day, then by hour of the day.
function byDayAndHour(entries) {
  const days = new Map();
  for (const e of entries) {
    const day = dayKey(e.at);
    if (!days.has(day)) days.set(day, new Map());
    const hour = zoneParts(e.at).hour;
    const hours = days.get(day);
    if (!hours.has(hour)) hours.set(hour, []);
    hours.get(hour).push(e);
  }
  return days;
}

export function timeline(entries, level) {
  if (entries.length === 0) return messageBox(t('upcoming.none'));
  const out = [];
  for (const [day, hours] of byDayAndHour(entries)) {
    const first = hours.values().next().value[0];
    const count = [...hours.values()].reduce((n, es) => n + es.length, 0);
    const section = el('section', { className: 'day', attrs: { 'data-day': day } },
      heading(level, { className: 'day-title' }, formatTime(first.at, 'day'), ' ', el('span', { className: 'count', text: t('upcoming.count', { n: count }) })));
    for (const [hour, es] of hours) {
      const hh = String(hour).padStart(2, '0');
      section.append(el('div', { className: 'hour' },
        heading(level + 1, { className: 'hour-title' }, t('upcoming.hour', { hour: hh })),
        el('ol', { className: 'slots' }, es.map(slot))));
    }
    out.push(section);
  }
  return el('div', { className: 'timeline' }, out);
}

function slot(entry) {
  const post = entry.post;
  return el('li', { className: 'slot', attrs: { 'data-post-id': str(post.id), 'data-state': str(entry.deliveries[0].state) } },
    el('time', { className: 'slot-time', attrs: { datetime: new Date(entry.at).toISOString() }, text: formatTime(entry.at, 'time') }),
    el('div', { className: 'slot-body' },
      el('p', { className: 'slot-title' }, postLink(post)),
      el('p', { className: 'slot-meta' },
        post.department ? el('span', { className: 'department', text: str(post.department) }) : null,
        post.account ? el('span', { className: 'account', text: str(post.account) }) : null),
      networkBadges(entry.deliveries)));
}
