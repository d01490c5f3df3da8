// oshirase dashboard: plain script, no build step, no dependencies.
//
// Every string from the API is written by staff and therefore untrusted. The DOM is built
// with createElement, textContent and setAttribute only: never innerHTML, outerHTML,
// insertAdjacentHTML or document.write. The page runs under a strict CSP (no inline
// script or style), so all behaviour is wired up here and all looks live in style.css.
'use strict';

(() => {
  const REFRESH_MS = 15000; // fallback polling, also covers a broken event stream
  const EVENT_DELAY_MS = 300; // events come in bursts (one per delivery); fetch once per burst
  const SSE_RETRY_MS = 30000; // only used when the browser gave up reconnecting by itself
  const STATUS_CLEAR_MS = 10000; // the live-region message is brief, then goes away

  // Japanese label first, English second. A Map, so a state such as "__proto__" from the
  // API cannot hit an Object prototype property.
  const STATES = new Map([
    ['held', ['保留', 'Held']],
    ['scheduled', ['予定', 'Scheduled']],
    ['publishing', ['投稿中', 'Publishing']],
    ['published', ['投稿済み', 'Published']],
    ['retrying', ['再試行中', 'Retrying']],
    ['failed', ['失敗', 'Failed']],
    ['unknown', ['不明', 'Unknown']],
    ['cancelled', ['取消', 'Cancelled']],
    ['missed', ['期限切れ', 'Missed']],
    ['retracted', ['撤回済み', 'Retracted']],
    ['invalid', ['不備', 'Invalid']],
  ]);

  // States that need a person, in the order DESIGN.md ranks them (most urgent first).
  const ATTENTION = ['invalid', 'held', 'unknown', 'failed', 'retrying', 'missed'];

  // What to do when a post needs attention but carries no error text of its own.
  const HINTS = new Map([
    ['held', ['承認ルールを満たすまで保留中です。', 'Waiting for the approval rules to be met.']],
    ['unknown', ['投稿されたか不明です。ネットワーク上で確認し、oshirase resolve で記録してください。',
      'Not known whether it was posted: check the network, then record it with oshirase resolve.']],
    ['missed', ['公開予定時刻を大きく過ぎたため送信しませんでした。', 'Too late to send; it was not posted.']],
    ['retrying', ['一時的なエラーのため再試行します。', 'Temporary error; it will be retried.']],
  ]);

  // Times are shown in Tokyo time whatever the viewer's machine is set to.
  const FMT_MINUTE = new Intl.DateTimeFormat('ja-JP', {
    timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit',
    weekday: 'short', hour: '2-digit', minute: '2-digit',
  });
  const FMT_SECOND = new Intl.DateTimeFormat('ja-JP', {
    timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const FMT_CLOCK = new Intl.DateTimeFormat('ja-JP', {
    timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  const view = {
    posts: [],
    openId: null, // id of the post shown in #detail, or null
    opener: null, // element to return focus to when #detail closes
    postsSeq: 0, // request counters: a slow old answer must not overwrite a newer one
    detailSeq: 0,
    detailJson: null, // last rendered detail, to skip re-rendering (and losing focus) when unchanged
    signature: null, // summary of the last rendered list, to announce only real changes
    failing: false,
    eventTimer: null,
    streamWasDown: false,
    statusTimer: null,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers

  // The one way this file creates elements. `text` goes through textContent and children
  // through append(), which turns strings into Text nodes: nothing is ever parsed as HTML.
  // Attribute names are always literals from this file, never from data.
  function el(tag, opts = {}, ...children) {
    const node = document.createElement(tag);
    if (opts.className) node.className = opts.className;
    if (opts.attrs) {
      for (const [name, value] of Object.entries(opts.attrs)) {
        if (value !== null && value !== undefined) node.setAttribute(name, String(value));
      }
    }
    if (opts.text !== null && opts.text !== undefined) node.textContent = String(opts.text);
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  // "予定 Scheduled": Japanese, then English in a smaller secondary label.
  function bilingual(ja, en) {
    return el('span', { className: 'label' }, ja, ' ', el('span', { className: 'en', attrs: { lang: 'en' }, text: en }));
  }

  // Text for a value that may be missing; an em dash reads better than "null".
  function show(value) {
    return value === null || value === undefined || value === '' ? '—' : String(value);
  }

  function list(value) {
    return Array.isArray(value) ? value : [];
  }

  // Only http(s) links are followed: a staff-controlled remote_url such as
  // "javascript:…" or "data:…" must never become a clickable link.
  function safeUrl(raw) {
    if (typeof raw !== 'string' || raw === '') return null;
    try {
      const url = new URL(raw);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
    } catch {
      return null;
    }
  }

  function externalLink(href, text) {
    return el('a', { attrs: { href, target: '_blank', rel: 'noopener noreferrer' }, text });
  }

  // ---------------------------------------------------------------- times

  function parseTime(value) {
    if (typeof value !== 'string' || value === '') return NaN;
    return Date.parse(value);
  }

  // A <time> in Tokyo time with the exact RFC 3339 value as tooltip; unparsable values
  // are shown as they came so nothing is hidden from the reader.
  function timeEl(value, fmt = FMT_MINUTE, empty = '—') {
    if (value === null || value === undefined || value === '') {
      return el('span', { className: 'muted', text: empty });
    }
    const ms = parseTime(value);
    if (Number.isNaN(ms)) return el('span', { text: String(value) });
    return el('time', { attrs: { datetime: String(value), title: String(value) }, text: fmt.format(ms) });
  }

  // Sort key for publish_at: missing (posted as soon as approved) sorts first.
  function publishKey(post) {
    const ms = parseTime(post.publish_at);
    return Number.isNaN(ms) ? -Infinity : ms;
  }

  function byPublishTime(a, b) {
    const ka = publishKey(a);
    const kb = publishKey(b);
    if (ka !== kb) return ka < kb ? -1 : 1;
    const ia = String(a.id);
    const ib = String(b.id);
    return ia < ib ? -1 : ia > ib ? 1 : 0; // stable order for equal times
  }

  // ---------------------------------------------------------------- states and badges

  // The class is chosen from our own list, so API text never reaches className
  // (a state with a space in it would otherwise add arbitrary classes).
  function stateClass(state) {
    return STATES.has(state) ? `state-${state}` : 'state-other';
  }

  function stateLabel(state) {
    const names = STATES.get(state);
    return names ? bilingual(names[0], names[1]) : document.createTextNode(show(state));
  }

  // State is always written out as text; colour only repeats it.
  function stateBadge(state, extraClass = '') {
    return el('span', { className: `badge ${stateClass(state)} ${extraClass}`.trim() }, stateLabel(state));
  }

  // "x: 投稿済み Published", linked to the post on the network once it is published.
  function deliveryBadge(delivery) {
    const badge = el('span', {
      className: `badge delivery ${stateClass(delivery.state)}`,
      attrs: { 'data-network': delivery.network, 'data-state': delivery.state },
    });
    const href = delivery.state === 'published' ? safeUrl(delivery.remote_url) : null;
    const holder = href ? externalLink(href, '') : badge;
    holder.append(el('span', { className: 'network', text: `${show(delivery.network)}:` }), ' ', stateLabel(delivery.state));
    if (href) {
      holder.setAttribute('title', href);
      badge.append(holder);
    }
    return badge;
  }

  function deliveryList(deliveries) {
    const items = list(deliveries);
    if (items.length === 0) return el('span', { className: 'muted', text: '—' });
    return el('ul', { className: 'deliveries' }, ...items.map((d) => el('li', {}, deliveryBadge(d))));
  }

  // ---------------------------------------------------------------- table of posts

  function titleText(post) {
    return post.title ? String(post.title) : show(post.id);
  }

  function openButton(post) {
    const button = el('button', {
      className: 'link-button',
      attrs: { type: 'button', 'aria-controls': 'detail', 'data-open-id': post.id },
      text: titleText(post),
    });
    button.addEventListener('click', () => openDetail(String(post.id), button));
    return button;
  }

  function postRow(post) {
    const row = el('tr', {
      className: 'post',
      attrs: { 'data-post-id': post.id, 'data-state': post.state },
    },
    el('td', { className: 'when' }, timeEl(post.publish_at, FMT_MINUTE, '未定（承認後すぐ）')),
    el('th', { attrs: { scope: 'row' } }, openButton(post), post.file ? el('span', { className: 'file', text: post.file }) : null),
    el('td', { text: show(post.department) }),
    el('td', {}, stateBadge(post.state, 'post-state')),
    el('td', {}, deliveryList(post.deliveries)));
    if (view.openId !== null && String(post.id) === view.openId) row.classList.add('selected');
    return row;
  }

  function renderTable(posts) {
    const tbody = $('posts').tBodies[0];
    const rows = posts.length > 0
      ? posts.map(postRow)
      : [el('tr', { className: 'placeholder' }, el('td', { attrs: { colspan: 5 } }, bilingual('投稿はありません。', 'No posts.')))];
    tbody.replaceChildren(...rows);
    $('posts-count').textContent = `${posts.length}件`;
  }

  // ---------------------------------------------------------------- needs attention

  function needsAttention(post) {
    return ATTENTION.includes(post.state);
  }

  function byUrgency(a, b) {
    return ATTENTION.indexOf(a.state) - ATTENTION.indexOf(b.state) || byPublishTime(a, b);
  }

  // "posts/a.md:12 message": the place first, so staff can jump to it.
  function errorItem(error, fallbackFile) {
    const file = error.file || fallbackFile;
    const place = error.line === null || error.line === undefined ? show(file) : `${show(file)}:${error.line}`;
    return el('li', { className: 'problem' }, el('code', { text: place }), ' ', show(error.message));
  }

  function deliveryProblem(delivery) {
    const item = el('li', { className: 'problem' },
      el('span', { className: 'network', text: `${show(delivery.network)}:` }), ' ',
      stateBadge(delivery.state), ' ', show(delivery.last_error));
    if (delivery.state === 'retrying' && delivery.next_attempt_at) {
      item.append(' ', el('span', { className: 'muted' }, '（次回 ', timeEl(delivery.next_attempt_at, FMT_SECOND), '）'));
    }
    return item;
  }

  function problemsOf(post) {
    const items = list(post.errors).map((e) => errorItem(e, post.file));
    for (const d of list(post.deliveries)) {
      if (d.last_error && ATTENTION.includes(d.state)) items.push(deliveryProblem(d));
    }
    if (items.length === 0 && HINTS.has(post.state)) {
      const [ja, en] = HINTS.get(post.state);
      items.push(el('li', { className: 'problem hint' }, bilingual(ja, en)));
    }
    return items;
  }

  function attentionItem(post) {
    return el('li', { className: 'attention-item', attrs: { 'data-post-id': post.id, 'data-state': post.state } },
      el('div', { className: 'attention-head' },
        stateBadge(post.state), ' ', openButton(post), ' ',
        el('span', { className: 'muted' }, timeEl(post.publish_at, FMT_MINUTE, '未定'), ' · ', show(post.department))),
      el('ul', { className: 'problems' }, ...problemsOf(post)));
  }

  function renderAttention(posts) {
    const items = posts.filter(needsAttention).sort(byUrgency);
    $('attention').replaceChildren(...items.map(attentionItem));
    $('attention').hidden = items.length === 0;
    $('attention-empty').hidden = items.length !== 0;
    $('attention-count').textContent = `${items.length}件`;
    return items.length;
  }

  // ---------------------------------------------------------------- detail panel

  function field(termJa, termEn, value) {
    const term = termEn ? bilingual(termJa, termEn) : termJa;
    return [el('dt', {}, term), el('dd', {}, value)];
  }

  function detailFields(post) {
    const commit = post.commit ? el('code', { attrs: { title: post.commit }, text: String(post.commit).slice(0, 12) }) : show(null);
    return el('dl', { className: 'fields' },
      ...field('ID', null, el('code', { text: show(post.id) })),
      ...field('ファイル', 'File', el('code', { text: show(post.file) })),
      ...field('アカウント', 'Account', show(post.account)),
      ...field('部署', 'Department', show(post.department)),
      ...field('公開日時', 'Publish at', timeEl(post.publish_at, FMT_MINUTE, '未定（承認後すぐ）')),
      ...field('提案者', 'Proposer', show(post.proposer)),
      ...field('承認者', 'Approver', show(post.approver)),
      ...field('コミット', 'Commit', commit),
      ...field('状態', 'State', stateBadge(post.state)));
  }

  // A table inside a scrollable box; the box is focusable so keyboard users can scroll it.
  function dataTable(labelText, headers, rows) {
    const head = el('tr', {}, ...headers.map(([ja, en]) => el('th', { attrs: { scope: 'col' } }, bilingual(ja, en))));
    const table = el('table', { className: 'data', attrs: { 'aria-label': labelText } },
      el('thead', {}, head), el('tbody', {}, ...rows));
    return el('div', { className: 'table-wrap', attrs: { tabindex: 0, role: 'region', 'aria-label': labelText } }, table);
  }

  function remoteCell(delivery) {
    const href = safeUrl(delivery.remote_url);
    if (href) return externalLink(href, show(delivery.remote_id || delivery.remote_url));
    // An unsafe or missing URL is still shown, as plain text, so nothing is hidden.
    return el('span', { text: show(delivery.remote_url || delivery.remote_id) });
  }

  function detailDeliveries(post) {
    const rows = list(post.deliveries).map((d) => el('tr', { className: 'detail-delivery', attrs: { 'data-network': d.network, 'data-state': d.state } },
      el('th', { attrs: { scope: 'row' }, text: show(d.network) }),
      el('td', {}, stateBadge(d.state)),
      el('td', { className: 'num', text: show(d.attempts) }),
      el('td', {}, timeEl(d.published_at, FMT_SECOND)),
      el('td', {}, timeEl(d.next_attempt_at, FMT_SECOND)),
      el('td', { className: 'error-text', text: show(d.last_error) }),
      el('td', {}, remoteCell(d))));
    if (rows.length === 0) return el('p', { className: 'empty' }, bilingual('配信はありません。', 'No deliveries.'));
    return dataTable('配信 Deliveries', [
      ['ネットワーク', 'Network'], ['状態', 'State'], ['試行', 'Attempts'], ['投稿日時', 'Published'],
      ['次回試行', 'Next attempt'], ['最終エラー', 'Last error'], ['リンク', 'Link'],
    ], rows);
  }

  function detailEvents(post) {
    const rows = list(post.events).map((e) => el('tr', {},
      el('td', { className: 'when' }, timeEl(e.at, FMT_SECOND)),
      el('td', {}, el('code', { text: show(e.kind) })),
      el('td', { text: show(e.network) }),
      el('td', { className: 'event-detail', text: show(e.detail) })));
    if (rows.length === 0) return el('p', { className: 'empty' }, bilingual('記録はありません。', 'No events recorded.'));
    return dataTable('履歴 Event log', [['時刻', 'Time'], ['種類', 'Kind'], ['ネットワーク', 'Network'], ['詳細', 'Detail']], rows);
  }

  function renderDetail(post) {
    $('detail-title').textContent = titleText(post);
    const parts = [detailFields(post)];
    const errors = list(post.errors);
    if (errors.length > 0) {
      parts.push(el('h3', {}, bilingual('エラー', 'Errors')),
        el('ul', { className: 'problems' }, ...errors.map((e) => errorItem(e, post.file))));
    }
    parts.push(el('h3', {}, bilingual('配信', 'Deliveries')), detailDeliveries(post),
      el('h3', {}, bilingual('履歴', 'Event log')), detailEvents(post));
    $('detail-body').replaceChildren(...parts);
  }

  function detailMessage(ja, en, className = 'empty') {
    $('detail-body').replaceChildren(el('p', { className }, bilingual(ja, en)));
    view.detailJson = null;
  }

  async function loadDetail() {
    const id = view.openId;
    if (id === null) return;
    const seq = ++view.detailSeq;
    try {
      // ids may contain "/" (they default to the file path), so the whole id is one segment.
      const post = await getJson(`api/posts/${encodeURIComponent(id)}`);
      if (seq !== view.detailSeq || view.openId !== id) return;
      const json = JSON.stringify(post);
      if (json === view.detailJson) return; // unchanged: keep the DOM (and any focus in it)
      view.detailJson = json;
      renderDetail(post);
    } catch (err) {
      if (seq !== view.detailSeq || view.openId !== id) return;
      if (err.status === 404) detailMessage('この投稿は見つかりません（削除された可能性があります）。', 'Post not found; it may have been removed.');
      else detailMessage('詳細を読み込めませんでした。', `Could not load the detail (${err.message}).`, 'error-text');
    }
  }

  function openDetail(id, opener) {
    view.openId = id;
    view.opener = opener;
    view.detailJson = null;
    const known = view.posts.find((p) => String(p.id) === id);
    $('detail-title').textContent = known ? titleText(known) : id;
    detailMessage('読み込み中…', 'Loading…');
    $('detail').hidden = false;
    $('main').classList.add('with-detail');
    markSelected();
    // Move focus to the panel so keyboard and screen-reader users land on what they opened.
    $('detail-title').focus();
    loadDetail();
  }

  function closeDetail() {
    const id = view.openId;
    view.openId = null;
    view.detailSeq++; // drop any answer still on its way
    $('detail').hidden = true;
    $('main').classList.remove('with-detail');
    markSelected();
    // Rows are rebuilt on every refresh, so the opener may be gone: find its replacement.
    const target = view.opener && view.opener.isConnected ? view.opener : findOpenButton(id);
    view.opener = null;
    if (target) target.focus();
  }

  function findOpenButton(id, scope = $('posts')) {
    if (id === null) return null;
    for (const button of scope.querySelectorAll('button[data-open-id]')) {
      if (button.getAttribute('data-open-id') === id) return button;
    }
    return null;
  }

  function markSelected() {
    for (const row of $('posts').querySelectorAll('tr.post')) {
      row.classList.toggle('selected', view.openId !== null && row.getAttribute('data-post-id') === view.openId);
    }
  }

  // ---------------------------------------------------------------- loading

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) {
      const err = new Error(`HTTP ${response.status}`);
      err.status = response.status;
      throw err;
    }
    return response.json();
  }

  // A short summary of what is on screen; the live region speaks only when it changes.
  function signatureOf(posts) {
    return posts.map((p) => [p.id, p.state, list(p.errors).length,
      list(p.deliveries).map((d) => `${d.network}=${d.state}/${d.attempts}`).join(',')].join('|')).join('\n');
  }

  // Rebuilding the table would drop keyboard focus from a title button; put it back.
  function focusedOpenId() {
    const active = document.activeElement;
    if (!active || !active.matches('button[data-open-id]')) return null;
    const where = active.closest('#attention') ? $('attention') : $('posts');
    return { id: active.getAttribute('data-open-id'), where };
  }

  async function refreshPosts() {
    const seq = ++view.postsSeq;
    try {
      const data = await getJson('api/posts');
      if (seq !== view.postsSeq) return; // a newer refresh already answered
      const posts = list(data && data.posts).filter((p) => p && typeof p === 'object').sort(byPublishTime);
      const focus = focusedOpenId();
      view.posts = posts;
      renderTable(posts);
      const attention = renderAttention(posts);
      if (focus) {
        const again = findOpenButton(focus.id, focus.where);
        if (again) again.focus();
      }
      $('updated').textContent = `最終更新 ${FMT_CLOCK.format(Date.now())}`;
      const signature = signatureOf(posts);
      if (signature !== view.signature || view.failing) {
        const verb = view.signature === null ? '読み込みました' : '更新しました';
        announce(`${posts.length}件の投稿を${verb}（要対応 ${attention}件）。 ${posts.length} posts, ${attention} need attention.`);
      }
      view.signature = signature;
      view.failing = false;
    } catch (err) {
      if (seq !== view.postsSeq) return;
      // Keep showing the last good data; say once that it is stale, not every 15 s.
      if (!view.failing) announce(`投稿一覧を更新できませんでした（${err.message}）。 Refresh failed.`);
      view.failing = true;
      $('updated').textContent = `更新失敗 ${FMT_CLOCK.format(Date.now())}`;
    }
  }

  async function refreshHealth() {
    const sync = $('sync');
    try {
      // /healthz answers 503 with the reason while syncing or fetching fails: read it anyway.
      const response = await fetch('healthz', { headers: { Accept: 'application/json' }, cache: 'no-store' });
      const health = await response.json();
      renderHealthProblem(health);
      const parts = [];
      if (health.last_sync_commit) {
        parts.push(bilingual('同期', 'Synced'), ' ', el('code', { attrs: { title: health.last_sync_commit }, text: String(health.last_sync_commit).slice(0, 8) }),
          ' ', timeEl(health.last_sync_at, FMT_SECOND));
      } else {
        parts.push(bilingual('未同期', 'Not synced yet'));
      }
      const ok = health.status === 'ok';
      if (!ok) parts.push(' ', el('span', { className: 'sync-status', text: `(${show(health.status)})` }));
      sync.replaceChildren(...parts);
      sync.classList.toggle('sync-warn', !ok);
    } catch (err) {
      sync.replaceChildren(bilingual('同期状態を取得できません', `Sync status unavailable (${err.message})`));
      sync.classList.add('sync-warn');
    }
  }

  // A failing fetch or sync needs a person as much as a failed post: show it first.
  function renderHealthProblem(health) {
    const box = $('health-problem');
    const problems = [];
    if (health.fetch_error) {
      problems.push([bilingual('リポジトリを取得できません', 'Fetching the repository fails'), show(health.fetch_error),
        bilingual('ネットワークと認証情報を確認してください。記録済みの予定はそのまま送信されます。',
          'Check the network and credentials; what is already scheduled still goes out.')]);
    }
    for (const p of list(health.paused_networks)) {
      problems.push([bilingual(`投稿先 ${show(p.network)} を停止中`, `Network ${show(p.network)} paused`), show(p.reason),
        bilingual('認証情報（トークン）を更新してください。配信は失われず、更新後に送信されます。',
          'Renew its credentials (token); deliveries wait and go out once it works again.')]);
    }
    if (health.sync_error) {
      problems.push([bilingual('同期できません', 'Syncing fails'), show(health.sync_error),
        bilingual('ブランチと oshirase.yaml を確認してください。', 'Check the branch and oshirase.yaml.')]);
    }
    box.replaceChildren(...problems.map(([title, detail, todo]) =>
      el('p', { className: 'health-item' }, el('strong', {}, title), ' ', el('span', { text: detail }), ' ', todo)));
    box.hidden = problems.length === 0;
  }

  function refresh() {
    refreshPosts();
    refreshHealth();
    loadDetail();
  }

  function announce(message) {
    const status = $('status');
    clearTimeout(view.statusTimer);
    // Clearing first makes screen readers repeat a message identical to the previous one.
    status.textContent = '';
    setTimeout(() => { status.textContent = message; }, 50);
    view.statusTimer = setTimeout(() => { status.textContent = ''; }, STATUS_CLEAR_MS);
  }

  // ---------------------------------------------------------------- live updates

  // One fetch per burst: the first event starts the timer and later ones ride along. This
  // bounds the delay even when events never stop, unlike a debounce that restarts each time.
  // The payload is not needed: any event means "re-read the list" (and the open detail).
  function onServerEvent() {
    if (view.eventTimer !== null) return;
    view.eventTimer = setTimeout(() => {
      view.eventTimer = null;
      refresh();
    }, EVENT_DELAY_MS);
  }

  function setLive(ja, en, ok) {
    $('live').replaceChildren(bilingual(ja, en));
    $('live').classList.toggle('live-off', !ok);
  }

  function connectEvents() {
    if (typeof EventSource === 'undefined') {
      setLive('15秒ごとに更新', 'Refreshing every 15 s', false);
      return;
    }
    const source = new EventSource('api/events');
    source.addEventListener('open', () => {
      setLive('ライブ更新中', 'Live', true);
      // After a reconnect, catch up on what happened while the stream was down.
      if (view.streamWasDown) refresh();
      view.streamWasDown = false;
    });
    source.addEventListener('message', onServerEvent);
    source.addEventListener('error', () => {
      // The 15 s refresh keeps running regardless; this only tells the reader.
      setLive('再接続中（15秒ごとに更新）', 'Reconnecting; refreshing every 15 s', false);
      view.streamWasDown = true;
      if (source.readyState === EventSource.CLOSED) setTimeout(connectEvents, SSE_RETRY_MS);
    });
  }

  // ---------------------------------------------------------------- start

  function start() {
    $('detail-close').addEventListener('click', closeDetail);
    $('detail').addEventListener('keydown', (event) => {
      if (event.key === 'Escape') closeDetail();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
    });
    // Skip polling while the tab is hidden; it refreshes as soon as it is shown again.
    setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    refresh();
    connectEvents();
  }

  start();
})();
