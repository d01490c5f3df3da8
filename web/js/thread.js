// A thread as one network receives it (src/model/records.rs, Part): each part's exact text
// and count, in order, with a link to the part once it is out; LINE's parts are the
// messages of one broadcast; and a checked draft's parts for the desk and the approval
// view. Owns no state; imports dom, i18n and api.

import { el, externalLink, safeUrl } from './dom.js';
import { t } from './i18n.js';
import { list, str } from './api.js';

// The delivery's parts in order, the first being its own text; null when it is no thread.
function partsOf(delivery) {
  const rest = list(delivery.parts);
  const messages = list(delivery.messages);
  if (rest.length === 0 && messages.length === 0) return null;
  const first = { text: delivery.text, length: delivery.length, url: delivery.remote_url };
  if (messages.length > 0) {
    return { broadcast: true, parts: [first, ...messages.map((text) => ({ text }))] };
  }
  const later = rest.map((p) => ({
    text: p && p.text,
    length: p && p.count ? p.count.length : undefined,
    url: p && p.remote_url,
    out: Boolean(p && p.remote_id),
  }));
  return { broadcast: false, parts: [{ ...first, out: Boolean(delivery.remote_id) }, ...later] };
}

// The parts as an ordered list, or null for a post of one part. `countLine` words one
// part's count against the delivery's limit, as the post view does for a whole post.
export function threadList(delivery, network, countLine) {
  const thread = partsOf(delivery);
  if (!thread) return null;
  const n = thread.parts.length;
  const label = thread.broadcast ? t('thread.messages', { n }) : t('thread.parts', { n });
  return el('div', { className: 'thread', attrs: { 'data-parts': n } },
    el('p', { className: 'label', text: label }),
    el('ol', { className: 'thread-parts' }, thread.parts.map((part, i) => {
      const href = safeUrl(part.url);
      return el('li', { attrs: { 'data-part': i + 1, 'data-out': part.out ? 'yes' : 'no' } },
        el('p', { className: 'part-head', text: t('thread.part', { k: i + 1, n }) }),
        typeof part.length === 'number' ? countLine({ length: part.length, limit: delivery.limit }) : null,
        el('pre', { className: 'post-text', attrs: { 'data-network': network }, text: str(part.text) }),
        href && !thread.broadcast ? externalLink(href, t('thread.open', { k: i + 1, network })) : null);
    })));
}

// A checked draft's thread (a network of `check`'s answer, with `parts`): each part as the
// network would receive it, with its own count; null for a post of one part. The desk's
// preview and the approval view both show it.
export function partsPreview(n, textClass) {
  const parts = list(n.parts);
  if (parts.length === 0) return null;
  return el('ol', { className: 'thread-parts', attrs: { 'data-parts': parts.length } }, parts.map((p, i) => {
    const over = Number(p && p.length) > Number(n.limit);
    return el('li', { className: over ? 'over' : null, attrs: { 'data-part': i + 1 } },
      el('p', { className: 'part-head' },
        t('thread.part', { k: i + 1, n: parts.length }), ' ',
        el('span', { className: 'count', text: t('compose.preview.count', { length: str(p && p.length), limit: str(n.limit) }) })),
      el('pre', { className: textClass, text: str(p && p.text) }));
  }));
}
