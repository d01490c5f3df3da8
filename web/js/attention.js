// What needs a person: the service's own problems and the posts' deliveries in an
// attention state, with the reason and what to do, and the list that shows them. Owns no
// state; imports dom, i18n, api, states, data, facts and pieces.

import { code, el, heading } from './dom.js';
import { duration, ms, t, tNodes } from './i18n.js';
import { list, str } from './api.js';
import { ATTENTION } from './states.js';
import { accountInfo, currentHealth, currentInfo, currentSummary } from './data.js';
import { factsText, problemText } from './facts.js';
import { badge, postLink, timeEl } from './pieces.js';

const rankOf = (kind) => (ATTENTION.includes(kind) ? ATTENTION.indexOf(kind) : ATTENTION.length);

// Everything a person must act on: the system first, then posts by urgency.
function attentionItems(posts, health) {
  return systemItems(health).concat(postItems(posts));
}

// The window's items that are certain: with more to read, none less urgent than the last
// post read, as an unread post may hold a more urgent one.
export function attentionShown(w) {
  const items = attentionItems(w.posts, currentHealth());
  const last = w.next && w.posts.length > 0 ? w.posts[w.posts.length - 1] : null;
  if (!last) return items;
  const cutoff = Math.min(...postItems([last]).map((item) => rankOf(item.kind)));
  return items.filter((item) => item.kind === 'system' || item.kind === 'paused' || rankOf(item.kind) <= cutoff);
}

// How many things there are to act on, over every post.
export function attentionCount() {
  const summary = currentSummary();
  return systemItems(currentHealth()).length + (summary ? Number(summary.attention) || 0 : 0);
}

function systemItems(health) {
  if (!health) return [];
  const items = [];
  if (health.fetch_error) {
    items.push({ kind: 'system', key: 'fetch', title: t('attn.fetch.title'), reasons: [str(health.fetch_error)], todo: [t('attn.fetch.todo')] });
  }
  const held = health.config_held;
  if (held && typeof held === 'object') {
    const short = (c) => str(c).slice(0, 8);
    items.push({
      kind: 'system', key: 'config', title: t('attn.config.title'),
      reasons: [t('attn.config.pushed', { commit: short(held.commit), who: str(held.pushed_by) }), str(held.reason), ...list(held.changes).map(str)],
      todo: [t('attn.config.todo', { commit: short(held.in_force) })],
    });
  }
  if (health.sync_error) {
    items.push({ kind: 'system', key: 'sync', title: t('attn.sync.title'), reasons: [str(health.sync_error)], todo: [t('attn.sync.todo')] });
  }
  const notPosts = list(health.sync_problems);
  if (notPosts.length > 0) {
    items.push({
      kind: 'system', key: 'notpost', title: t('attn.notpost.title', { count: notPosts.length }),
      reasons: notPosts.map(problemText), todo: [t('attn.notpost.todo')],
    });
  }
  for (const p of list(health.paused_networks)) {
    if (!p || typeof p !== 'object') continue;
    items.push({
      kind: 'paused', key: `paused:${str(p.network)}`, title: t('attn.paused.title', { network: str(p.network) }),
      reasons: [str(p.reason)],
      todo: tNodes('attn.paused.todo', { network: str(p.network), time: timeEl(p.next_try_at, 'datetime') }),
    });
  }
  return items;
}

function postWhen(post) {
  const at = ms(post.publish_at);
  if (!Number.isNaN(at)) return at;
  const first = list(post.deliveries)[0];
  return first ? ms(first.due_at) : NaN;
}

function byWhen(a, b) {
  const x = postWhen(a);
  const y = postWhen(b);
  const kx = Number.isNaN(x) ? -Infinity : x;
  const ky = Number.isNaN(y) ? -Infinity : y;
  if (kx !== ky) return kx < ky ? -1 : 1;
  return str(a.id) < str(b.id) ? -1 : str(a.id) > str(b.id) ? 1 : 0;
}

// The attention items of posts, most urgent first.
export function postItems(posts) {
  const out = [];
  for (const post of list(posts)) {
    if (list(post.errors).length > 0) {
      out.push({ kind: 'invalid', post, key: `post:${str(post.id)}:errors`, reasons: list(post.errors).map(problemText), networks: [], todo: [t('attn.invalid.todo')] });
    }
    for (const ds of deliveryGroups(post)) {
      const state = ds[0].state;
      out.push({
        kind: state, post, key: `post:${str(post.id)}:${state}:${ds.map((d) => str(d.network)).join(',')}`,
        networks: ds.map((d) => str(d.network)), reasons: ds[0].last_error ? [factsText(ds[0].last_error_facts, ds[0].last_error)] : [],
        todo: todoFor(state, post, ds),
      });
    }
    if (post.edited_after_publish) {
      const sent = list(post.deliveries).filter((d) => d.state === 'published').map((d) => str(d.network));
      out.push({ kind: 'edited', post, key: `post:${str(post.id)}:edited`, networks: sent, reasons: [t('attn.edited.reason')], todo: [t('attn.edited.todo')] });
    }
  }
  out.sort((a, b) => rankOf(a.kind) - rankOf(b.kind) || byWhen(a.post, b.post));
  return out;
}

// Deliveries in the same attention state for the same reason are one item.
function deliveryGroups(post) {
  const groups = new Map();
  for (const d of list(post.deliveries)) {
    if (!ATTENTION.includes(d.state)) continue;
    const key = `${d.state}\u0000${str(d.last_error)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(d);
  }
  return groups.values();
}

// A shell word for the resolve command: quoted when it holds anything unusual.
function shellWord(value) {
  const s = str(value);
  return /^[A-Za-z0-9._/@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

function todoFor(state, post, deliveries) {
  const network = str(deliveries[0].network);
  switch (state) {
    case 'invalid':
      return [t('attn.invalid.todo')];
    case 'held': {
      const account = accountInfo(post.account);
      const approval = account && account.approval;
      if (approval && approval.mode === 'merge' && list(approval.approvers).length > 0) {
        return [t('attn.held.todo.merge', { approvers: list(approval.approvers).map(str).join(t('list.sep')) })];
      }
      return [t('attn.held.todo.branch')];
    }
    case 'unknown': {
      const base = `oshirase resolve ${shellWord(post.id)} ${shellWord(network)}`;
      return tNodes('attn.unknown.todo', {
        network,
        published: code(`${base} --published URL`),
        notpublished: code(`${base} --not-published`),
      });
    }
    case 'failed':
      return [t('attn.failed.todo')];
    case 'missed': {
      const info = currentInfo();
      return [t('attn.missed.todo', { lateness: duration(info && info.max_lateness_secs) })];
    }
    default:
      return [];
  }
}

// ---------------------------------------------------------------- the list

export function attentionList(items, level) {
  if (items.length === 0) {
    return el('p', { className: 'all-clear' }, el('span', { className: 'badge-icon', attrs: { 'aria-hidden': 'true' }, text: '✓' }), ' ', t('attention.none'));
  }
  return el('ul', { className: 'attention-list' }, items.map((item) => attentionItem(item, level)));
}

function attentionMeta(item) {
  const post = item.post;
  const meta = [];
  if (item.networks.length > 0) meta.push(el('span', {}, t('attention.networks', { networks: item.networks.join(t('list.sep')) })));
  if (post.department) meta.push(el('span', { text: str(post.department) }));
  if (post.publish_at) meta.push(el('span', {}, tNodes('attention.due', { time: timeEl(post.publish_at) })));
  return meta;
}

function attentionItem(item, level) {
  const post = item.post;
  const title = post ? postLink(post) : item.title;
  const state = item.kind === 'system' ? 'problem' : item.kind;
  const meta = post ? attentionMeta(item) : [];
  return el('li', { className: 'attention-item', attrs: { 'data-kind': item.kind, 'data-post-id': post ? str(post.id) : null } },
    heading(level, { className: 'attention-title' }, badge(state), ' ', title),
    meta.length > 0 ? el('p', { className: 'attention-meta' }, meta.flatMap((m, i) => (i === 0 ? [m] : [' · ', m]))) : null,
    item.reasons.length > 0 ? el('div', { className: 'attention-reason' },
      el('p', { className: 'label', text: t('attention.reason') }),
      item.reasons.length === 1 ? el('p', { className: 'reason-text', text: item.reasons[0] })
        : el('ul', {}, item.reasons.map((r) => el('li', { className: 'reason-text', text: r })))) : null,
    item.todo.length > 0 ? el('div', { className: 'attention-todo' },
      el('p', { className: 'label', text: t('attention.todo') }),
      el('p', {}, item.todo)) : null);
}
