// The published view (#/published): per network, the newest posts that went out there,
// with links to them. Owns no state; imports dom, i18n, api, data, windows, paging and
// pieces.

import { code, el, externalLink, heading, safeUrl } from '../dom.js';
import { t } from '../i18n.js';
import { list, str } from '../api.js';
import { currentInfo, currentSummary, currentSummaryError, networkType } from '../data.js';
import { listSpec, windowOf } from '../windows.js';
import { pending } from '../paging.js';
import { dataTable, loadingOr, messageBox, postLink, timeEl, zoneNote } from '../pieces.js';

const PUBLISHED_PER_NETWORK = 100;

const filtersOf = (network) => new URLSearchParams({ network }).toString();

// Networks in the configured order, then any that only old deliveries name.
function publishedNetworks() {
  const names = [];
  const info = currentInfo();
  for (const a of list(info && info.accounts)) {
    for (const n of list(a && a.networks)) if (n && !names.includes(n.name)) names.push(n.name);
  }
  const summary = currentSummary();
  const counts = summary && summary.published && typeof summary.published === 'object' ? summary.published : {};
  for (const name of Object.keys(counts)) if (!names.includes(name)) names.push(name);
  return names.filter((name) => Number(counts[name]) > 0);
}

function remoteLink(delivery) {
  const href = safeUrl(delivery.remote_url);
  if (href) return externalLink(href, href);
  if (delivery.remote_id) return code(str(delivery.remote_id));
  return el('span', { className: 'muted', text: t('nolink') });
}

// One network's panel; `id` names its heading.
function networkPanel(name, w, id) {
  const rows = w.posts.flatMap((post) => list(post.deliveries)
    .filter((d) => d.state === 'published' && d.network === name)
    .map((delivery) => ({ post, delivery })));
  const total = Number(currentSummary().published[name]) || rows.length;
  const type = rows.length > 0 ? networkType(rows[0].post.account, name) : null;
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': id, 'data-network': str(name) } },
    heading(2, { attrs: { id } }, type ? t('published.network', { network: str(name), type }) : str(name), ' ',
      el('span', { className: 'count', text: t('published.count', { n: total }) })),
    total > rows.length ? el('p', { className: 'muted', text: t('published.limited', { shown: rows.length, n: total }) }) : null,
    dataTable(t('published.caption', { network: str(name) }), [t('col.published'), t('col.title'), t('col.department'), t('col.link')],
      rows.map(({ post, delivery }) => el('tr', { attrs: { 'data-post-id': str(post.id) } },
        el('td', { className: 'when' }, timeEl(delivery.published_at)),
        el('th', { attrs: { scope: 'row' } }, postLink(post)),
        el('td', { text: str(post.department) || t('none') }),
        el('td', {}, remoteLink(delivery))))));
}

function panels() {
  if (!currentSummary()) return [loadingOr(currentSummaryError())];
  const names = publishedNetworks();
  if (names.length === 0) return [messageBox(t('published.none'))];
  const windows = names.map((name) => windowOf('published', filtersOf(name)));
  return pending(...windows) || names.map((name, i) => networkPanel(name, windows[i], `net-${i}`));
}

export const published = {
  name: 'published',
  title: () => t('published.title'),
  windows: () => publishedNetworks().map((n) => listSpec('published', filtersOf(n), PUBLISHED_PER_NETWORK)),
  body: () => [zoneNote(), ...panels()],
};
