// One post (#/post/{id}): what needs attention, what each network receives, who proposed
// and approved it, and its audit trail. Owns the post last read (/api/posts/{id});
// imports dom, i18n, api, states, data, facts, attention, pieces, route, session and thread.

import { code, el, externalLink, heading, safeUrl } from '../dom.js';
import { formatNumber, hasMessage, t, tNodes } from '../i18n.js';
import { forget, getJson, list, str, titleOf } from '../api.js';
import { ATTENTION, SENT, UPCOMING } from '../states.js';
import { changed, networkType } from '../data.js';
import { factsText, routeText } from '../facts.js';
import { attentionList, postItems } from '../attention.js';
import { badge, dataTable, messageBox, timeEl } from '../pieces.js';
import { route } from '../route.js';
import { signedIn } from '../session.js';
import { threadList } from '../thread.js';

let detail = { id: null, post: null, error: null, notFound: false };

// Reads the post the route names: on a full refresh (`ids` null), or when a live event
// named it. Never rejects: a failure is shown in the view.
async function load(r, ids) {
  const id = r.id;
  if (id === null || (ids && !ids.includes(id))) return;
  const url = `api/posts/${encodeURIComponent(id)}`;
  try {
    const { data, changed: differs } = await getJson(url);
    if (route().id !== id) return;
    if (differs || detail.id !== id || !detail.post) {
      detail = { id, post: data, error: null, notFound: false };
      changed();
    }
  } catch (err) {
    if (route().id !== id) return;
    forget(url);
    detail = { id, post: null, error: err.message, notFound: err.status === 404 };
    changed();
  }
}

function countLine(delivery) {
  const { length, limit } = delivery;
  if (typeof length !== 'number' || typeof limit !== 'number' || limit <= 0) {
    return el('p', { className: 'count-line muted', text: t('post.count.unknown') });
  }
  const over = length - limit;
  return el('p', { className: `count-line${over > 0 ? ' over' : ''}`, attrs: { 'data-length': length, 'data-limit': limit } },
    t('post.count', { length: formatNumber(length), limit: formatNumber(limit) }),
    over > 0 ? [' ', el('strong', {}, el('span', { attrs: { 'aria-hidden': 'true' }, text: '! ' }), t('post.count.over', { n: over }))] : null);
}

// When it went out, where, how often it was tried and when next.
function deliveryFacts(delivery, network) {
  const facts = [];
  if (delivery.published_at) facts.push(el('li', {}, tNodes('post.published', { time: timeEl(delivery.published_at, 'seconds') })));
  const href = safeUrl(delivery.remote_url);
  if (href) facts.push(el('li', {}, externalLink(href, t('post.open', { network }))));
  if (delivery.attempts > 0) facts.push(el('li', { text: t('post.attempts', { n: delivery.attempts }) }));
  if (delivery.state === 'retrying' && delivery.next_attempt_at) {
    facts.push(el('li', {}, tNodes('attn.retrying.todo', { time: timeEl(delivery.next_attempt_at, 'seconds') })));
  } else if (delivery.next_attempt_at && UPCOMING.includes(delivery.state)) {
    facts.push(el('li', {}, tNodes('post.next', { time: timeEl(delivery.next_attempt_at, 'seconds') })));
  }
  return facts;
}

function preview(post, delivery, index) {
  const network = str(delivery.network);
  const type = networkType(post.account, network);
  const id = `pv-${index}`;
  const facts = deliveryFacts(delivery, network);
  const images = list(delivery.images);
  return el('article', { className: 'preview', attrs: { 'aria-labelledby': id, 'data-network': network, 'data-state': str(delivery.state) } },
    el('header', { className: 'preview-head' },
      heading(3, { attrs: { id } }, network, type ? el('span', { className: 'network-type', text: ` (${type})` }) : null),
      badge(delivery.state)),
    // A thread shows its parts in order, each with its count; a post its one text.
    threadList(delivery, network, countLine) || [
      countLine(delivery),
      // The exact text, line breaks and all; a pre-wrap block, never interpreted.
      el('p', { className: 'visually-hidden', text: t('post.text', { network }) }),
      el('pre', { className: 'post-text', attrs: { 'data-network': network }, text: str(delivery.text) })],
    images.length > 0 ? el('div', { className: 'images' },
      el('p', { className: 'label', text: t('post.images', { n: images.length }) }),
      el('ul', { className: 'image-list' }, images.map((img) => imageItem(img, delivery.state)))) : null,
    facts.length > 0 ? el('ul', { className: 'facts' }, facts) : null,
    delivery.last_error && !ATTENTION.includes(delivery.state) ? el('p', { className: 'last-error' },
      el('span', { className: 'label', text: `${t('post.lasterror')}: ` }), el('span', { text: factsText(delivery.last_error_facts, delivery.last_error) })) : null);
}

function imageItem(img, state) {
  const blob = str(img && img.blob);
  // /media serves only images that went out; before that the alt text stands in.
  const servable = /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(blob) && SENT.includes(state);
  const alt = str(img && img.alt);
  const size = Number(img && img.size);
  const sizeText = Number.isFinite(size) ? `${formatNumber(size / 1024, { maximumFractionDigits: 1 })} KB` : t('none');
  return el('li', { className: 'image-item' },
    servable ? el('img', { className: 'thumb', attrs: { src: `media/${blob}`, alt, loading: 'lazy' } })
      : el('div', { className: 'thumb thumb-none' }, el('span', { text: t('post.image.nothumb') })),
    el('dl', { className: 'image-facts' },
      el('dt', { text: t('post.image.alt') }), el('dd', alt ? { text: alt } : { className: 'warn-text', text: t('post.image.noalt') }),
      el('dt', { text: t('post.image.file') }), el('dd', {}, code(str(img && img.path))),
      el('dt', { text: t('post.image.size') }), el('dd', { text: `${sizeText} · ${str(img && img.mime)}` })));
}

function provenance(post) {
  const links = post.links && typeof post.links === 'object' ? post.links : null;
  const forge = links ? { github: 'GitHub', gitlab: 'GitLab', codeberg: 'Codeberg' }[links.forge] || str(links.forge) : '';
  const commitHref = links ? safeUrl(links.commit) : null;
  const fileHref = links ? safeUrl(links.file) : null;
  const row = (term, ...value) => [el('dt', { text: term }), el('dd', {}, value)];
  const commit = post.commit ? code(str(post.commit).slice(0, 12)) : t('none');
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'p-provenance' } },
    heading(2, { attrs: { id: 'p-provenance' } }, t('post.provenance')),
    el('dl', { className: 'facts-grid' },
      row(t('post.proposer'), str(post.proposer) || t('none')),
      row(t('post.proposed_at'), timeEl(post.proposed_at, 'seconds')),
      row(t('post.approver'), str(post.approver) || t('none')),
      row(t('post.approved_at'), timeEl(post.approved_at, 'seconds')),
      row(t('post.commit'), commit, commitHref ? [' ', externalLink(commitHref, t('post.commit.link', { forge }))] : null),
      row(t('post.file'), code(str(post.file)), fileHref ? [' ', externalLink(fileHref, t('post.file.link', { forge }))] : null),
      row(t('post.id'), code(str(post.id))),
      row(t('post.publish_at'), timeEl(post.publish_at, 'datetime', t('asap')),
        post.slot && typeof post.slot === 'object' ? [' ', t('post.slot', { name: str(post.slot.name) })] : null),
      post.emergency && typeof post.emergency === 'object'
        ? row(t('post.emergency'), t('post.emergency.by', { by: str(post.emergency.by), via: routeText(post.emergency.via) }))
        : null,
      row(t('post.on_branch'), post.on_branch === false ? t('no') : t('yes'))));
}

function actorText(actor) {
  if (!actor || typeof actor !== 'object') return t('none');
  if (actor.type === 'service') return t('actor.service');
  if (actor.type === 'git') return t('actor.git', { name: str(actor.name) });
  if (actor.type === 'operator') return t('actor.operator', { name: str(actor.name) });
  return str(actor.name || actor.type);
}

function eventName(kind) {
  const key = `event.${str(kind)}`;
  return hasMessage(key) ? t(key) : str(kind);
}

function auditTrail(post) {
  const rows = list(post.events).map((e) => el('tr', { attrs: { 'data-kind': str(e.kind) } },
    el('td', { className: 'when' }, timeEl(e.at, 'seconds')),
    el('th', { attrs: { scope: 'row' } }, eventName(e.kind), ' ', el('code', { className: 'event-kind', text: str(e.kind) })),
    el('td', { text: str(e.network) || t('none') }),
    el('td', { text: actorText(e.actor) }),
    el('td', { className: 'event-detail', text: factsText(e.facts, e.detail) })));
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'p-audit' } },
    heading(2, { attrs: { id: 'p-audit' } }, t('post.audit')),
    rows.length > 0
      ? dataTable(t('post.audit.caption'), [t('col.at'), t('col.event'), t('col.network'), t('col.actor'), t('col.detail')], rows, 'audit')
      : messageBox(t('post.noevents')));
}

function body(r) {
  const d = detail;
  if (d.id !== r.id || (!d.post && !d.error)) return [messageBox(t('loading'))];
  if (d.notFound) return [messageBox(t('post.notfound', { id: d.id }), 'error-text')];
  if (!d.post) return [messageBox(t('load.failed', { error: d.error }), 'error-text')];
  const post = d.post;
  const attention = postItems([post]);
  return [
    el('p', { className: 'post-summary' }, badge(post.state), ' ',
      el('span', {}, timeEl(post.publish_at, 'datetime', t('asap'))),
      post.department ? [' · ', el('span', { text: str(post.department) })] : null,
      post.account ? [' · ', el('span', { text: str(post.account) })] : null),
    // A person signed in may propose a change to a post that is still on the branch.
    signedIn() && post.present !== false
      ? el('p', {}, el('a', { attrs: { href: `#/compose?post=${encodeURIComponent(str(post.id))}`, id: 'post-open-in-desk' }, text: t('post.open-in-desk') }))
      : null,
    attention.length > 0 ? el('section', { className: 'panel panel-alert', attrs: { 'aria-labelledby': 'p-attention' } },
      heading(2, { attrs: { id: 'p-attention' } }, t('attention.title')),
      attentionList(attention, 3)) : null,
    el('section', { className: 'panel', attrs: { 'aria-labelledby': 'p-networks' } },
      heading(2, { attrs: { id: 'p-networks' } }, t('post.networks')),
      list(post.deliveries).length > 0
        ? el('div', { className: 'previews' }, list(post.deliveries).map((x, i) => preview(post, x, i)))
        : messageBox(t('post.nodeliveries'))),
    provenance(post),
    auditTrail(post),
  ];
}

export const post = {
  name: 'post',
  takesId: true,
  // Another post than the one last read shows nothing of that one while it loads.
  enter: (r) => {
    if (detail.id !== r.id) detail = { id: r.id, post: null, error: null, notFound: false };
  },
  title: () => (detail.post ? titleOf(detail.post) : t('post.eyebrow')),
  eyebrow: () => t('post.eyebrow'),
  body,
  load,
};
