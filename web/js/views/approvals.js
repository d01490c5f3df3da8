// The approvals view (#/approvals, 承認待ち): every open proposal with what each network
// will receive (GET /api/proposals, checked by the server as the pull-request check
// would), who proposed it, its department, how long it has waited, when it is due, and
// whether the reader may approve it — those first. Approve merges it on the desk (POST
// .../approve with the commit shown, so a branch moved since is refused); send back asks
// for a reason; its proposer may withdraw it. Proposals sent back to the reader are listed
// with the reason.
//
// The view reads its own list and keeps it in its head, so live refreshes of the
// dashboard do not rebuild it while a reason is being typed.
// Imports dom, i18n, api, session and desk.

import { el } from '../dom.js';
import { durationText, formatTime, t } from '../i18n.js';
import { list, str } from '../api.js';
import { signedIn } from '../session.js';
import { partsPreview } from '../thread.js';
import { isWebLink, read, send } from '../desk.js';

let box = null;
let filters = { account: '', department: '' };

function query() {
  const q = new URLSearchParams();
  if (filters.account) q.set('account', filters.account);
  if (filters.department) q.set('department', filters.department);
  const s = q.toString();
  return s ? `?${s}` : '';
}

function since(value) {
  const ms = Date.now() - Date.parse(str(value));
  if (!Number.isFinite(ms)) return '';
  const hours = Math.floor(ms / 3600000);
  if (hours >= 48) return t('approvals.age.days', { n: Math.floor(hours / 24) });
  if (hours >= 1) return t('approvals.age.hours', { n: hours });
  return t('approvals.age.minutes', { n: Math.max(0, Math.floor(ms / 60000)) });
}

function problems(items, className) {
  const all = list(items);
  if (all.length === 0) return null;
  return el('ul', { className }, all.map((p) => el('li', { text: `${p.line ? `${str(p.file)}:${p.line}: ` : ''}${str(p.message)}` })));
}

const isPolicy = (p) => str(p && p.code).startsWith('policy-');

// The approver's checklist: what the office's policy found, before anything else.
function checklist(preview) {
  const errors = list(preview.errors).filter(isPolicy);
  const warnings = list(preview.warnings).filter(isPolicy);
  if (errors.length + warnings.length === 0) return null;
  return el('section', { className: 'policy-checklist', attrs: { 'aria-label': t('approvals.checklist') } },
    el('h4', { text: t('approvals.checklist') }),
    problems(errors, 'error-text'),
    problems(warnings, 'warning-text'));
}

function networkPreview(n) {
  const over = Number(n.length) > Number(n.limit);
  return el('section', { className: 'preview', attrs: { 'data-network': str(n.network) } },
    el('h4', {}, str(n.network), ' ', el('span', { className: over ? 'count over' : 'count', text: t('compose.preview.count', { length: n.length, limit: n.limit }) })),
    partsPreview(n, 'post-text') || el('pre', { className: 'post-text', text: str(n.text) }));
}

// Too late already, or due before an approval is likely (`wait`: the usual wait, minutes).
function lateness(post, wait) {
  if (post.past) return el('p', { className: 'error-text', attrs: { 'data-late': 'past' }, text: t('approvals.late') });
  if (post.late) return el('p', { className: 'warning-text', attrs: { 'data-late': 'soon' }, text: t('approvals.late-soon', { wait: durationText(wait * 60) }) });
  return null;
}

// When it goes out once approved: its time, the slot it would take if approved now, or at once.
function when(post, preview) {
  if (post.publish_at) return t('approvals.due', { time: formatTime(post.publish_at) });
  const slot = preview.slot;
  if (slot && typeof slot === 'object') return t('compose.preview.slot', { name: str(slot.name), time: formatTime(slot.at) });
  return t('approvals.asap');
}

// The images as the networks will carry them, each with the alternative text a reader of
// a screen reader will hear (or its absence, said plainly), read from the proposal's tip.
function imageReview(proposalId, images) {
  if (images.length === 0) return null;
  return el('ul', { className: 'review-images', attrs: { 'aria-label': t('approvals.images', { n: images.length }) } }, images.map((image) => {
    const alt = str(image.alt).trim();
    const shown = image.mime
      ? el('img', { attrs: { src: `api/proposals/${encodeURIComponent(proposalId)}/images/${encodeURIComponent(str(image.blob))}`, alt, width: 160, loading: 'lazy', 'data-path': str(image.path) } })
      : el('p', { className: 'error-text', text: t('approvals.image.not_image') });
    return el('li', {}, el('figure', {}, shown,
      el('figcaption', {},
        alt ? el('span', { className: 'alt-text', text: t('approvals.image.alt', { alt }) })
          : el('span', { className: 'warning-text', attrs: { 'data-no-alt': 'true' }, text: t('approvals.image.no_alt') }),
        el('span', { className: 'file', text: `${str(image.path)} · ${t('approvals.image.size', { kb: Math.max(1, Math.round(Number(image.size) / 1024)) })}` }))));
  }));
}

function postReview(post, wait, proposalId) {
  const preview = post.preview || {};
  const images = list(post.images);
  return el('div', { className: 'proposal-post' },
    el('h3', {}, str(post.title), ' ', el('code', { text: str(post.file) })),
    el('p', { className: 'muted' },
      when(post, preview),
      post.account ? ` · ${t('approvals.account', { account: str(post.account) })}` : ''),
    lateness(post, wait),
    checklist(preview),
    problems(list(preview.errors).filter((p) => !isPolicy(p)), 'error-text'),
    problems(list(preview.warnings).filter((p) => !isPolicy(p)), 'warning-text'),
    el('div', { className: 'previews' }, list(preview.networks).map(networkPreview)),
    imageReview(proposalId, images));
}

function status(card, text, className = 'muted') {
  const s = card.querySelector('.proposal-status');
  s.className = `proposal-status ${className}`;
  s.textContent = text;
}

async function act(card, url, body, done) {
  status(card, t('approvals.working'));
  const { status: code, data } = await send('POST', url, body);
  if (code === 200) {
    status(card, done, 'ok');
    setTimeout(refresh, 1500);
  } else {
    status(card, str(data.error) || t('compose.failed', { status: code }), 'error');
  }
}

function actions(p, card) {
  const id = encodeURIComponent(str(p.id));
  const person = signedIn();
  const out = [];
  if (p.approve_on === 'forge') {
    out.push(el('p', { className: 'muted', text: t('approvals.on_forge') }));
    const review = p.review_state;
    if (review && typeof review === 'object') {
      const by = list(review.approved_by).concat(list(review.changes_requested_by)).map(str).join(', ');
      out.push(el('p', { attrs: { 'data-review-state': str(review.state) }, text: t(`approvals.review.${str(review.state)}`, { by }) }));
    }
  } else if (p.may_approve === true) {
    const approve = el('button', { className: 'primary', attrs: { type: 'button', 'data-action': 'approve' }, text: t('approvals.approve') });
    approve.addEventListener('click', () => act(card, `api/proposals/${id}/approve`, { commit: str(p.commit) }, t('approvals.approved')));
    out.push(approve);
  } else if (p.why_not) {
    out.push(el('p', { className: 'muted', attrs: { 'data-why-not': 'true' }, text: str(p.why_not) }));
  }
  if (person && person.role !== 'staff' && p.mine !== true) {
    const reasonId = `reason-${str(p.id)}`;
    const reason = el('textarea', { attrs: { id: reasonId, rows: 2, maxlength: 2000 } });
    const back = el('button', { attrs: { type: 'button', 'data-action': 'return' }, text: t('approvals.return') });
    back.addEventListener('click', () => {
      if (!reason.value.trim()) {
        status(card, t('approvals.reason.required'), 'error');
        reason.focus();
        return;
      }
      act(card, `api/proposals/${id}/return`, { reason: reason.value, commit: str(p.commit) }, t('approvals.returned'));
    });
    out.push(el('div', { className: 'field' }, el('label', { attrs: { for: reasonId }, text: t('approvals.reason') }), reason), back);
  }
  if (p.mine === true) {
    const withdraw = el('button', { attrs: { type: 'button', 'data-action': 'withdraw' }, text: t('approvals.withdraw') });
    withdraw.addEventListener('click', () => act(card, `api/proposals/${id}/withdraw`, { commit: str(p.commit) }, t('approvals.withdrawn')));
    out.push(withdraw);
  }
  return el('div', { className: 'actions' }, ...out);
}

function proposalCard(p, wait) {
  const card = el('article', { className: 'proposal', attrs: { 'data-proposal': str(p.id), 'aria-labelledby': `proposal-${str(p.id)}` } });
  const author = p.author || {};
  card.append(
    el('h2', { attrs: { id: `proposal-${str(p.id)}` }, text: str(p.title) || str(p.branch) }),
    el('p', { className: 'proposal-meta' },
      t('approvals.by', { name: str(author.name), email: str(author.email) }),
      p.department ? ` · ${str(p.department)}` : '',
      ` · ${t('approvals.waiting', { age: since(p.updated) })}`,
      ' · ', el('code', { text: str(p.branch) }),
      isWebLink(p.url) ? el('span', {}, ' · ', el('a', { attrs: { href: p.url, rel: 'noopener noreferrer', target: '_blank' }, text: t('compose.proposed.link') })) : ''),
    ...list(p.review).map((post) => postReview(post, wait, str(p.id))),
    actions(p, card),
    el('p', { className: 'proposal-status muted', attrs: { role: 'status' } }));
  return card;
}

function returnedList(items) {
  const all = list(items);
  if (all.length === 0) return null;
  return el('section', { attrs: { id: 'returned', 'aria-labelledby': 'returned-title' } },
    el('h2', { attrs: { id: 'returned-title' }, text: t('approvals.returned.title') }),
    el('ul', {}, all.map((r) => el('li', {},
      el('strong', { text: str(r.title) || str(r.branch) }), ' — ',
      t(r.kind === 'withdrawn' ? 'approvals.returned.withdrawn' : 'approvals.returned.by', { name: str(r.by_name), time: formatTime(r.at) }),
      r.reason ? el('blockquote', { text: str(r.reason) }) : null))));
}

async function refresh() {
  if (!box || !box.isConnected) return;
  const results = box.querySelector('#approvals-list');
  const { status: code, data } = await read(`api/proposals${query()}`);
  if (code !== 200) {
    results.replaceChildren(el('p', { className: 'error-text', text: str(data.error) || t('compose.failed', { status: code }) }));
    return;
  }
  const proposals = list(data.proposals);
  results.replaceChildren(
    returnedList(data.returned) || '',
    el('p', { attrs: { id: 'approvals-count', role: 'status' }, text: t('approvals.count', { n: proposals.length }) }),
    ...proposals.map((p) => proposalCard(p, Number(data.expected_wait_minutes) || 60)));
}

function filterForm() {
  const account = el('input', { attrs: { id: 'approvals-account', type: 'text', value: filters.account, autocomplete: 'off' } });
  const department = el('input', { attrs: { id: 'approvals-department', type: 'text', value: filters.department, autocomplete: 'off' } });
  const form = el('form', { className: 'search-form', attrs: { id: 'approvals-filter', role: 'search' } },
    el('div', { className: 'field' }, el('label', { attrs: { for: 'approvals-account' }, text: t('approvals.filter.account') }), account),
    el('div', { className: 'field' }, el('label', { attrs: { for: 'approvals-department' }, text: t('approvals.filter.department') }), department),
    el('button', { attrs: { type: 'submit' }, text: t('approvals.filter.apply') }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    filters = { account: account.value.trim(), department: department.value.trim() };
    refresh();
  });
  return form;
}

export const approvals = {
  name: 'approvals',
  title: () => t('approvals.heading'),
  head: () => {
    box = el('div', { attrs: { id: 'approvals' } }, filterForm(), el('div', { attrs: { id: 'approvals-list', 'aria-live': 'polite' } }));
    setTimeout(refresh, 0);
    return [box];
  },
  body: () => [],
};
