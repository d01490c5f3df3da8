// Keeps the view true: the event stream (/api/events) and its fallback poll, one refresh
// at a time (aria-busy on #view-body meanwhile), full or only for the posts events named,
// and the header's connection state and the footer's last update, which it owns.
// Imports dom, i18n, api, data, windows, announce, render and route.

import { $, el } from './dom.js';
import { formatTime, t } from './i18n.js';
import { forget, getJson, postsOf } from './api.js';
import { loadCounts, loadHealth, loadInfo, loadSummary } from './data.js';
import { currentWindows, loadWindow, updateWindow, windowMissing } from './windows.js';
import { announce, announceChanges, knownStates } from './announce.js';
import { render } from './render.js';
import { route } from './route.js';

const EVENT_DELAY_MS = 300; // events come in bursts (one per delivery): fetch once per burst
const MAX_IDS = 200; // the most posts one request may name; more is a full refresh
const POLL_MS = 30000; // fallback while the event stream is down
const RECONNECT_MS = 5000; // after the browser gave up reconnecting by itself

let live = 'connecting';
let updatedAt = null;
let refreshFailed = false;
let eventTimer = null;
let refreshing = null;
let needFull = false; // a full refresh is waiting
let pendingIds = new Set(); // posts live events named since the last update
let pendingEvents = [];

// The connection state in the header and the time of the last update in the footer.
export function renderStatus() {
  const node = $('live');
  node.setAttribute('data-live', live);
  const icon = { live: '●', offline: '○', connecting: '…', unsupported: '↻' }[live] || '•';
  node.replaceChildren(el('span', { className: 'live-icon', attrs: { 'aria-hidden': 'true' }, text: icon }), ' ', t(`live.${live}`));
  const updated = $('updated');
  if (updatedAt) {
    updated.textContent = refreshFailed
      ? t('updated.failed', { time: formatTime(updatedAt, 'clock') })
      : t('updated', { time: formatTime(updatedAt, 'clock') });
    updated.classList.toggle('error-text', refreshFailed);
  }
}

function updated(failed) {
  refreshFailed = failed;
  updatedAt = Date.now();
  render(false);
  renderStatus();
}

// What a view reads besides its windows (one post); `ids` null on a full refresh.
function viewLoad(ids) {
  const r = route();
  return r.view && r.view.load ? r.view.load(r, ids) : null;
}

// Everything the route shows, read again: on start, navigation, reconnection, and when
// the server says this dashboard missed events.
// The info first (its timezone decides the windows' days); then the counts and the lists
// side by side, so a slow count does not hold the view back.
async function fullRefresh() {
  await loadInfo();
  const [countsOk, lists] = await Promise.all([
    loadCounts(),
    Promise.allSettled([...currentWindows().map(loadWindow), viewLoad(null)]),
  ]);
  updated(!countsOk || lists.some((r) => r.status === 'rejected'));
}

// A live update: only the posts the events named, and the counts.
async function liveUpdate(ids, events) {
  const named = `api/posts?${new URLSearchParams(ids.map((id) => ['id', id]))}`;
  // Taken first: the windows below remember what they read as they go.
  const before = new Map(ids.map((id) => [id, knownStates(id)]));
  const results = await Promise.allSettled([
    getJson(named).then(({ data }) => {
      forget(named);
      announceChanges(before, postsOf(data), events);
    }),
    ...currentWindows().map((w) => (w.loaded ? updateWindow(w, ids) : loadWindow(w))),
    loadSummary(),
    loadHealth(),
    viewLoad(ids),
  ]);
  const failed = results.some((r) => r.status === 'rejected');
  // What failed is read again whole; so is a list the route now shows that was not there.
  if (failed || windowMissing()) needFull = true;
  updated(failed);
}

// One refresh at a time: what is asked for meanwhile runs next, a full refresh taking in
// any live update waiting.
export function refresh() {
  needFull = true;
  return work();
}

function work() {
  if (refreshing) return refreshing;
  // Says to assistive technology (and tests) that the view is being brought up to date.
  $('view-body').setAttribute('aria-busy', 'true');
  refreshing = (async () => {
    while (needFull || pendingIds.size > 0) {
      const events = pendingEvents;
      const ids = [...pendingIds];
      pendingEvents = [];
      pendingIds = new Set();
      if (needFull || ids.length > MAX_IDS) {
        needFull = false;
        await fullRefresh();
      } else {
        await liveUpdate(ids, events);
      }
    }
  })().finally(() => {
    refreshing = null;
    $('view-body').setAttribute('aria-busy', 'false');
  });
  return refreshing;
}

function setLive(state) {
  const was = live;
  live = state;
  renderStatus();
  if (was === 'live' && state === 'offline') announce(t('announce.offline'));
  if (was === 'offline' && state === 'live') announce(t('announce.live'));
}

// One update per burst: the first event starts the timer and later ones ride along. An
// event names its post; one that names none, or the server saying this dashboard fell
// behind and missed some, reads everything shown again.
function onServerEvent(message) {
  let event = null;
  try {
    event = JSON.parse(message.data);
  } catch {
    event = null;
  }
  if (event && typeof event === 'object' && !event.resync && typeof event.post_id === 'string' && event.post_id !== '') {
    pendingIds.add(event.post_id);
    pendingEvents.push(event);
  } else {
    needFull = true;
  }
  if (eventTimer !== null) return;
  eventTimer = setTimeout(() => {
    eventTimer = null;
    work();
  }, EVENT_DELAY_MS);
}

function connectEvents() {
  if (typeof EventSource === 'undefined') {
    setLive('unsupported');
    return;
  }
  const source = new EventSource('api/events');
  source.addEventListener('open', () => {
    const wasDown = live === 'offline';
    setLive('live');
    if (wasDown) refresh(); // catch up on what happened while the stream was down
  });
  source.addEventListener('message', onServerEvent);
  source.addEventListener('error', () => {
    setLive('offline');
    if (source.readyState === EventSource.CLOSED) setTimeout(connectEvents, RECONNECT_MS);
  });
}

// Live updates from now on: the stream, and reading again when the page is shown again
// or, while the stream is down, every POLL_MS.
export function startLive() {
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  setInterval(() => {
    if (!document.hidden && live !== 'live') refresh();
  }, POLL_MS);
  renderStatus();
  connectEvents();
}
