// The search view (#/posts?…): the form, kept in step with the address, and the posts
// that match. Owns whether focus moves to the results once they are shown; imports dom,
// i18n, api, states, data, windows, paging, pieces and route.

import { $, el, heading } from '../dom.js';
import { dateToInstant, locale, t } from '../i18n.js';
import { list, str } from '../api.js';
import { STATES } from '../states.js';
import { currentInfo, currentSummary } from '../data.js';
import { listSpec, PAGE, windowOf } from '../windows.js';
import { moreButton } from '../paging.js';
import { badge, dataTable, messageBox, networkBadges, postLink, stateName, timeEl } from '../pieces.js';
import { navigate } from '../route.js';

// Set by the form, so that the results it asked for take focus once shown.
let focusResults = false;

// The search form's values as /api/posts query parameters (dates become the day's
// bounds in the repository's timezone).
function searchQuery(params) {
  const query = new URLSearchParams();
  for (const key of ['q', 'department', 'account', 'network', 'state']) {
    const v = params.get(key);
    if (v) query.set(key, v);
  }
  const from = dateToInstant(params.get('from'), false);
  const to = dateToInstant(params.get('to'), true);
  if (from) query.set('from', from);
  if (to) query.set('to', to);
  return query.toString();
}

function options(values, current) {
  return [el('option', { attrs: { value: '' }, text: t('posts.any') }),
    ...values.map(([value, label]) => el('option', { attrs: { value, selected: value === current ? 'selected' : null }, text: label }))];
}

function uniqueSorted(values) {
  return [...new Set(values.filter((v) => typeof v === 'string' && v !== ''))].sort((a, b) => a.localeCompare(b, locale()));
}

// What the search form's lists offer: the configuration's names and every name a post
// uses (from /api/summary), each as [value, label].
function searchChoices() {
  const info = currentInfo();
  const accounts = list(info && info.accounts);
  const summary = currentSummary() || {};
  const pairs = (values) => values.map((v) => [v, v]);
  return {
    department: pairs(uniqueSorted(list(summary.departments))),
    account: pairs(uniqueSorted([...accounts.map((a) => a && a.name), ...list(summary.accounts)])),
    network: pairs(uniqueSorted([...accounts.flatMap((a) => list(a && a.networks).map((n) => n && n.name)), ...list(summary.networks)])),
    state: STATES.map((s) => [s, stateName(s)]),
  };
}

// The lists fill in as the counts arrive, without rebuilding the form someone types in.
function syncSearchChoices() {
  for (const [name, values] of Object.entries(searchChoices())) {
    const select = $(`f-${name}`);
    if (!select) continue;
    const now = [...select.options].map((o) => o.value).join('\u0000');
    if (now === ['', ...values.map(([v]) => v)].join('\u0000')) continue;
    const value = select.value;
    select.replaceChildren(...options(values, value));
    select.value = value;
  }
}

function fields(p) {
  const choices = searchChoices();
  const field = (name, label, control, hint) => el('div', { className: `field field-${name}` },
    el('label', { attrs: { for: `f-${name}` }, text: label }), control,
    hint ? el('p', { className: 'hint', attrs: { id: `f-${name}-hint` }, text: hint }) : null);
  const select = (name, values) => el('select', { attrs: { id: `f-${name}`, name } }, options(values, p.get(name) || ''));
  return el('div', { className: 'fields' },
    field('q', t('posts.q'), el('input', { attrs: { id: 'f-q', name: 'q', type: 'search', value: p.get('q') || '', 'aria-describedby': 'f-q-hint', autocomplete: 'off' } }), t('posts.q.hint')),
    field('department', t('posts.department'), select('department', choices.department)),
    field('account', t('posts.account'), select('account', choices.account)),
    field('network', t('posts.network'), select('network', choices.network)),
    field('state', t('posts.state'), select('state', choices.state)),
    field('from', t('posts.from'), el('input', { attrs: { id: 'f-from', name: 'from', type: 'date', value: p.get('from') || '' } })),
    field('to', t('posts.to'), el('input', { attrs: { id: 'f-to', name: 'to', type: 'date', value: p.get('to') || '' } })),
    el('div', { className: 'actions' },
      el('button', { className: 'primary', attrs: { type: 'submit' }, text: t('posts.submit') }),
      el('button', { className: 'secondary', attrs: { type: 'reset' }, text: t('posts.clear') })));
}

function searchForm(r) {
  const form = el('form', { className: 'search', attrs: { role: 'search', 'aria-label': t('posts.form'), id: 'search-form' } }, fields(r.params));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (typeof value === 'string' && value.trim() !== '') params.set(key, value.trim());
    }
    focusResults = true;
    navigate(params.toString() ? `#/posts?${params}` : '#/posts');
  });
  form.addEventListener('reset', (event) => {
    event.preventDefault();
    for (const control of form.elements) if ('value' in control && control.tagName !== 'BUTTON') control.value = '';
    focusResults = true;
    navigate('#/posts');
  });
  return [form];
}

// Going back through searches keeps the form in step with the address.
function syncSearchForm(r) {
  const form = $('search-form');
  if (!form) return;
  for (const control of form.elements) {
    if (control.name) control.value = r.params.get(control.name) || '';
  }
}

function postsTable(posts, caption) {
  const rows = posts.map((post) => el('tr', { attrs: { 'data-post-id': str(post.id), 'data-state': str(post.state) } },
    el('td', { className: 'when' }, timeEl(post.publish_at, 'datetime', t('asap'))),
    el('th', { attrs: { scope: 'row' } }, postLink(post), el('span', { className: 'file', text: str(post.file) })),
    el('td', { text: str(post.department) || t('none') }),
    el('td', { text: str(post.account) || t('none') }),
    el('td', {}, badge(post.state)),
    el('td', {}, networkBadges(post.deliveries))));
  return dataTable(caption, [t('col.time'), t('col.title'), t('col.department'), t('col.account'), t('col.state'), t('col.networks')], rows, 'posts');
}

function searchBody(r) {
  const w = windowOf('all', searchQuery(r.params));
  if (w && w.error && !w.loaded) return [messageBox(t('load.failed', { error: w.error }), 'error-text')];
  if (!w || !w.loaded) return [messageBox(t('loading'))];
  return [
    // `data-params`: the search these results answer, so a reader (or a test) can tell them
    // from those of the search before.
    heading(2, { attrs: { id: 'results-title', tabindex: '-1', 'data-params': r.params.toString() } }, t('posts.results', { n: w.total })),
    w.posts.length > 0 ? postsTable(w.posts, t('posts.caption')) : messageBox(t('posts.none')),
    moreButton(w),
  ];
}

function rendered() {
  syncSearchChoices();
  if (focusResults && $('results-title')) {
    focusResults = false;
    $('results-title').focus();
  }
}

export const posts = {
  name: 'posts',
  title: () => t('posts.title'),
  head: searchForm,
  windows: (r) => [listSpec('all', searchQuery(r.params), PAGE, { found: true })],
  body: searchBody,
  // A new search keeps the form (and what is typed in it) and only follows the address.
  sameRoute: syncSearchForm,
  rendered,
};
