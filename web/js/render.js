// Puts the route's view on the page: the sync status and navigation in the header, the
// view's heading and controls, and its body, rebuilt only when what it shows changed.
// Owns what was last rendered; imports dom, i18n, api, data, attention, emergency, pieces
// and route
// (never a view: the route carries its view).

import { $, code, el, focusKeyIn, restoreFocusIn } from './dom.js';
import { lang, t, tNodes } from './i18n.js';
import { list, str } from './api.js';
import { currentHealth, currentHealthError, dataVersion } from './data.js';
import { attentionCount } from './attention.js';
import { renderEmergency } from './emergency.js';
import { timeEl } from './pieces.js';
import { route, routeKey } from './route.js';

const rendered = { head: null, body: null };

function renderSync() {
  const sync = $('sync');
  const h = currentHealth();
  if (currentHealthError() && !h) {
    sync.replaceChildren(t('sync.unavailable'));
    sync.setAttribute('data-ok', 'false');
  } else if (h) {
    const ok = h.status === 'ok';
    sync.setAttribute('data-ok', ok ? 'true' : 'false');
    if (!ok && (h.fetch_error || h.sync_error || list(h.paused_networks).length > 0)) {
      const problem = h.fetch_error || h.sync_error ? t('sync.error') : t('sync.paused');
      sync.replaceChildren(el('span', { attrs: { 'aria-hidden': 'true' }, text: '⚠ ' }), el('a', { attrs: { href: '#/attention' }, text: problem }));
    } else if (h.last_sync_commit) {
      sync.replaceChildren(...tNodes('sync.ok', { commit: code(str(h.last_sync_commit).slice(0, 8)), time: timeEl(h.last_sync_at, 'clock') }));
    } else {
      sync.replaceChildren(t('sync.none'));
    }
  }
}

function renderNav() {
  const count = attentionCount();
  const badgeEl = $('nav-attention-count');
  badgeEl.textContent = count > 0 ? t('nav.count', { n: count }) : '';
  badgeEl.hidden = count === 0;
  // A view without a link of its own (one post) marks none as current.
  for (const a of document.querySelectorAll('#site-nav a[data-route]')) {
    if (a.getAttribute('data-route') === route().name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

// The view's heading and any controls: rebuilt on navigation and language change only,
// so a refresh never takes away what someone is typing.
function renderHead() {
  const r = route();
  const h1 = el('h1', { attrs: { id: 'view-title', tabindex: '-1' }, text: r.view.title(r) });
  const eyebrow = r.view.eyebrow ? el('p', { className: 'eyebrow', text: r.view.eyebrow() }) : null;
  $('view-head').replaceChildren(eyebrow || '', h1, ...(r.view.head ? r.view.head(r) : []).filter(Boolean));
  rendered.head = `${routeKey()}|${lang()}`;
}

// `navigated`: the route or the language changed, so everything is built again.
export function render(navigated) {
  const r = route();
  renderSync();
  renderEmergency();
  renderNav();
  const headKey = `${routeKey()}|${lang()}`;
  if (navigated || rendered.head !== headKey) renderHead();
  // A post's title is data: keep the heading in step without rebuilding it.
  const title = r.view.title(r);
  if ($('view-title').textContent !== title) $('view-title').textContent = title;
  document.title = `${title} — oshirase`;

  const bodyKey = `${headKey}|${r.params}|${dataVersion()}`;
  if (navigated || rendered.body !== bodyKey) {
    const body = $('view-body');
    const focus = focusKeyIn(body);
    body.replaceChildren(...r.view.body(r).flat().filter(Boolean));
    rendered.body = bodyKey;
    restoreFocusIn(body, focus);
  }
  if (r.view.rendered) r.view.rendered(r);
}
