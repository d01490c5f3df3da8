// The compose view (#/compose, 新しい投稿): one form for a post and, beside it, what each
// chosen network will receive, as the server's check says (POST /api/preview, asked again
// a moment after each change). "Propose" sends the same draft to POST /api/proposals,
// which writes it on a branch of its own; a proposal of one's own reopens here (#/compose
// with ?open=<id>) and takes a new commit with PUT. The draft is kept in this browser
// (localStorage) until it is proposed or discarded.
//
// The form lives in the view's head, which the router rebuilds only on navigation or a
// change of language, so live refreshes never touch what someone is typing. Every value
// shown comes from the server or the person and goes through el()/textContent.
// Imports dom, i18n, api, data, session and desk.

import { el } from '../dom.js';
import { formatTime, t, zone } from '../i18n.js';
import { list, str } from '../api.js';
import { currentInfo } from '../data.js';
import { signedIn } from '../session.js';
import { send } from '../desk.js';
import { partsPreview } from '../thread.js';

const STORE_KEY = 'oshirase.compose.draft';
const PREVIEW_DELAY_MS = 400;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

// What the form holds; `editing` is { id, commit } while a proposal is reopened.
let draft = loadDraft();
let editing = null;
let timer = null;
let asked = 0;
let form = null;

function emptyDraft() {
  // `id` and `rawAt` keep what a post opened in the desk wrote, so proposing it again loses
  // neither its id nor a time the form's date and time cannot show (an offset, seconds).
  return { title: '', account: '', networks: [], department: '', when: 'asap', date: '', time: '', body: '', text: {}, images: [], id: '', rawAt: '' };
}

function loadDraft() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
    return saved && typeof saved === 'object' ? { ...emptyDraft(), ...saved } : emptyDraft();
  } catch {
    return emptyDraft();
  }
}

function saveDraft() {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({ ...draft, editing }));
  } catch {
    // A full or disabled storage only loses the reload safety net.
  }
}

function discardDraft() {
  draft = emptyDraft();
  editing = null;
  try {
    localStorage.removeItem(STORE_KEY);
  } catch {
    // nothing kept
  }
}

// The JSON the API takes: the front-matter's keys plus body and images.
function payload() {
  const d = draft;
  const person = signedIn();
  const out = {
    title: d.title,
    networks: d.networks,
    body: d.body,
    text: Object.fromEntries(Object.entries(d.text).filter(([n, v]) => d.networks.includes(n) && v.trim() !== '')),
    images: d.images.map((i) => ({ name: i.name, alt: i.alt, data: i.data })),
  };
  if (d.account) out.account = d.account;
  const department = d.department || (person && person.department) || '';
  if (department) out.department = department;
  if (d.when === 'at' && d.date && d.time) {
    const untouched = d.rawAt && d.rawAt.startsWith(`${d.date}`) && d.rawAt.slice(11, 16) === d.time;
    out.publish_at = untouched ? d.rawAt : zone() ? `${d.date} ${d.time}` : withDeviceOffset(d.date, d.time);
  }
  if (d.when === 'slot') out.publish_at = 'next-slot';
  if (d.id) out.id = d.id;
  return out;
}

// A repository without `timezone:` refuses a time without an offset, and the form then
// says the time is this device's: so it is sent with this device's offset for that day.
function withDeviceOffset(date, time) {
  const local = new Date(`${date}T${time}:00`);
  if (Number.isNaN(local.getTime())) return `${date} ${time}`;
  const minutes = -local.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  return `${date}T${time}:00${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}

function accounts() {
  const info = currentInfo();
  return list(info && info.accounts).filter((a) => a && typeof a === 'object');
}

function accountOf() {
  const all = accounts();
  return all.find((a) => a.name === draft.account) || all[0] || null;
}

// ---------------------------------------------------------------- the preview

function schedulePreview() {
  saveDraft();
  clearTimeout(timer);
  timer = setTimeout(runPreview, PREVIEW_DELAY_MS);
}

async function runPreview() {
  const mine = ++asked;
  if (!draft.title.trim() || draft.networks.length === 0) {
    showPreview({ hint: t('compose.preview.hint') });
    return;
  }
  try {
    const { status, data } = await send('POST', 'api/preview', payload());
    if (mine !== asked) return; // a later question is on its way
    if (status === 200) showPreview({ answer: data });
    else showPreview({ fieldError: data });
  } catch (err) {
    if (mine === asked) showPreview({ failed: err.message });
  }
}

function problemList(items, className) {
  const shown = list(items).filter((p) => p && typeof p === 'object');
  if (shown.length === 0) return null;
  return el('ul', { className }, shown.map((p) => el('li', { text: str(p.message) })));
}

// The draft's images as each network will carry them.
function thumbnails() {
  if (draft.images.length === 0) return null;
  return el('div', { className: 'preview-images' }, draft.images.map((i) => el('img', {
    attrs: { src: `data:${i.type || 'image/png'};base64,${i.data}`, alt: i.alt || '', width: 64 },
  })));
}

function networkCard(n) {
  const over = n.ok === false;
  return el('section', { className: `preview-card${over ? ' over' : ''}`, attrs: { 'aria-label': t('compose.preview.for', { network: str(n.network) }) } },
    el('h3', {}, el('span', { text: str(n.network) }), ' ',
      el('span', { className: 'count', attrs: { 'data-network': str(n.network) }, text: t('compose.preview.count', { length: str(n.length), limit: str(n.limit) }) })),
    over ? el('p', { className: 'error', text: t('compose.preview.over') }) : null,
    partsPreview(n, 'preview-text') || el('pre', { className: 'preview-text', text: str(n.text) }),
    thumbnails());
}

function showPreview({ answer, fieldError, failed, hint }) {
  const box = form && form.querySelector('#compose-preview-body');
  if (!box) return;
  clearFieldErrors();
  if (hint) {
    box.replaceChildren(el('p', { className: 'muted', text: hint }));
  } else if (failed) {
    box.replaceChildren(el('p', { className: 'error', text: t('compose.preview.failed', { error: failed }) }));
  } else if (fieldError) {
    markField(str(fieldError.field), str(fieldError.error));
    box.replaceChildren(el('p', { className: 'error', text: str(fieldError.error) }));
  } else {
    const networks = list(answer.networks).filter((n) => n && typeof n === 'object');
    for (const p of [...list(answer.errors), ...list(answer.warnings)]) {
      if (p && typeof p === 'object' && p.field) markField(str(p.field), str(p.message));
    }
    box.replaceChildren(
      el('p', { className: 'muted' }, t('compose.preview.file'), ' ', el('code', { text: str(answer.file) })),
      problemList(answer.errors, 'errors'),
      problemList(answer.warnings, 'warnings'),
      answer.slot && typeof answer.slot === 'object'
        ? el('p', { className: 'slot-note', text: t('compose.preview.slot', { name: str(answer.slot.name), time: formatTime(answer.slot.at) }) })
        : null,
      ...networks.map(networkCard),
      draft.images.length ? el('p', { text: t('compose.preview.images', { n: draft.images.length }) }) : null,
    );
  }
}

// A problem the server tied to a field is shown under that field.
function markField(field, message) {
  // images[0].alt -> images; text.x -> text-x (the slot under that network's text).
  // The form has no `id` input: the id comes from the title, so its problems show there.
  const named = field.replace(/\[\d+\].*$/, '').replace(/^text\./, 'text-');
  const key = named === 'id' ? 'title' : named;
  const slot = form && form.querySelector(`[data-field-error="${CSS.escape(key)}"]`);
  if (slot) slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
}

function clearFieldErrors() {
  if (!form) return;
  for (const slot of form.querySelectorAll('[data-field-error]')) slot.textContent = '';
}

// ---------------------------------------------------------------- the form

function field(id, label, control, help) {
  const helpId = help ? `${id}-help` : null;
  if (helpId) control.setAttribute('aria-describedby', `${helpId} ${id}-error`);
  else control.setAttribute('aria-describedby', `${id}-error`);
  return el('div', { className: 'field' },
    el('label', { attrs: { for: id }, text: label }),
    control,
    help ? el('p', { className: 'help', attrs: { id: helpId }, text: help }) : null,
    el('p', { className: 'error', attrs: { id: `${id}-error`, 'data-field-error': id.replace('compose-', ''), 'aria-live': 'polite' } }));
}

function input(id, value, attrs, onInput) {
  const node = el('input', { attrs: { id, name: id, value, ...attrs } });
  node.value = value;
  node.addEventListener('input', () => onInput(node.value));
  return node;
}

function textarea(id, value, rows, onInput) {
  const node = el('textarea', { attrs: { id, name: id, rows } });
  node.value = value;
  node.addEventListener('input', () => onInput(node.value));
  return node;
}

function networkChoices() {
  const account = accountOf();
  const networks = list(account && account.networks).filter((n) => n && typeof n === 'object');
  if (networks.length === 0) return el('p', { className: 'muted', text: t('compose.networks.none') });
  return el('fieldset', { className: 'field', attrs: { id: 'compose-networks', 'aria-describedby': 'compose-networks-error' } },
    el('legend', { text: t('compose.networks') }),
    networks.map((n) => {
      const id = `compose-network-${str(n.name)}`;
      const box = el('input', { attrs: { type: 'checkbox', id, value: str(n.name), checked: draft.networks.includes(n.name) } });
      box.addEventListener('change', () => {
        draft.networks = box.checked ? [...new Set([...draft.networks, n.name])] : draft.networks.filter((x) => x !== n.name);
        rebuildPerNetwork();
        schedulePreview();
      });
      return el('div', { className: 'check' }, box, el('label', { attrs: { for: id } }, `${str(n.name)} `, el('span', { className: 'muted', text: t('compose.networks.limit', { type: str(n.type), limit: str(n.limit) }) })));
    }),
    el('p', { className: 'error', attrs: { id: 'compose-networks-error', 'data-field-error': 'networks', 'aria-live': 'polite' } }));
}

function perNetworkTexts() {
  return el('div', { attrs: { id: 'compose-per-network' } }, draft.networks.map((name) => {
    const id = `compose-text-${name}`;
    const area = textarea(id, str(draft.text[name]), 3, (v) => {
      draft.text = { ...draft.text, [name]: v };
      schedulePreview();
    });
    return el('details', { attrs: { open: draft.text[name] ? true : null } },
      el('summary', { text: t('compose.text.for', { network: name }) }),
      field(id, t('compose.text.label', { network: name }), area, t('compose.text.help')));
  }));
}

function rebuildPerNetwork() {
  const old = form && form.querySelector('#compose-per-network');
  if (old) old.replaceWith(perNetworkTexts());
}

// A plain file name the server accepts: a-z, 0-9, ., - and _, with its extension.
function plainName(name, type, taken) {
  const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' }[type] || 'png';
  let stem = name.replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'image';
  stem = stem.slice(0, 40);
  let candidate = `${stem}.${ext}`;
  for (let i = 2; taken.includes(candidate); i++) candidate = `${stem}-${i}.${ext}`;
  return candidate;
}

function readImage(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function imageList() {
  return el('ul', { className: 'compose-images', attrs: { id: 'compose-image-list' } }, draft.images.map((image, i) => {
    const id = `compose-alt-${i}`;
    const alt = input(id, image.alt, { type: 'text', required: true, maxlength: 1000 }, (v) => {
      draft.images[i].alt = v;
      schedulePreview();
    });
    const remove = el('button', { attrs: { type: 'button' }, text: t('compose.images.remove', { name: image.name }) });
    remove.addEventListener('click', () => {
      draft.images.splice(i, 1);
      rebuildImages();
      schedulePreview();
    });
    return el('li', {},
      el('img', { attrs: { src: `data:${image.type || 'image/png'};base64,${image.data}`, alt: '', width: 96 } }),
      el('div', {}, el('code', { text: image.name }), field(id, t('compose.images.alt'), alt, t('compose.images.alt.help')), remove));
  }));
}

function rebuildImages() {
  const old = form && form.querySelector('#compose-image-list');
  if (old) old.replaceWith(imageList());
}

function imagesField() {
  const picker = el('input', { attrs: { type: 'file', id: 'compose-images', accept: IMAGE_TYPES.join(','), multiple: true } });
  picker.addEventListener('change', async () => {
    for (const file of [...picker.files]) {
      if (!IMAGE_TYPES.includes(file.type)) {
        markField('images', t('compose.images.type', { name: file.name }));
        continue;
      }
      const data = await readImage(file);
      draft.images.push({ name: plainName(file.name, file.type, draft.images.map((i) => i.name)), type: file.type, alt: '', data });
    }
    picker.value = '';
    rebuildImages();
    schedulePreview();
  });
  return el('div', {}, field('compose-images', t('compose.images'), picker, t('compose.images.help')), imageList());
}

function whenField() {
  const tz = zone() || t('compose.when.local');
  const radio = (value, label) => {
    const id = `compose-when-${value}`;
    const r = el('input', { attrs: { type: 'radio', name: 'compose-when', id, value, checked: draft.when === value } });
    r.addEventListener('change', () => {
      draft.when = value;
      for (const n of form.querySelectorAll('#compose-date, #compose-time')) n.disabled = value !== 'at';
      schedulePreview();
    });
    return el('div', { className: 'check' }, r, el('label', { attrs: { for: id }, text: label }));
  };
  const date = input('compose-date', draft.date, { type: 'date' }, (v) => { draft.date = v; schedulePreview(); });
  const time = input('compose-time', draft.time, { type: 'time' }, (v) => { draft.time = v; schedulePreview(); });
  date.disabled = draft.when !== 'at';
  time.disabled = draft.when !== 'at';
  return el('fieldset', { className: 'field' },
    el('legend', { text: t('compose.when') }),
    radio('asap', t('compose.when.asap')),
    // The account's golden times, when it has some: the first free one after approval.
    list(accountOf() && accountOf().slots).length > 0 || draft.when === 'slot' ? radio('slot', t('compose.when.slot')) : null,
    radio('at', t('compose.when.at', { tz })),
    el('div', { className: 'when-at' }, field('compose-date', t('compose.when.date'), date), field('compose-time', t('compose.when.time'), time)),
    el('p', { className: 'error', attrs: { 'data-field-error': 'publish_at', 'aria-live': 'polite' } }));
}

function accountField() {
  const all = accounts();
  if (all.length <= 1) return null;
  const select = el('select', { attrs: { id: 'compose-account' } }, all.map((a) => el('option', { attrs: { value: str(a.name), selected: a.name === draft.account }, text: str(a.name) })));
  select.addEventListener('change', () => {
    draft.account = select.value;
    draft.networks = [];
    const old = form.querySelector('#compose-networks');
    if (old) old.replaceWith(networkChoices());
    rebuildPerNetwork();
    schedulePreview();
  });
  return field('compose-account', t('compose.account'), select);
}

function status(text, className = 'muted', link = null) {
  const box = form && form.querySelector('#compose-status');
  if (!box) return;
  box.className = className;
  box.replaceChildren(text, link ? ' ' : '', link || '');
}

async function propose() {
  clearFieldErrors();
  if (draft.images.some((i) => !i.alt.trim())) {
    markField('images', t('compose.images.alt.required'));
    status(t('compose.images.alt.required'), 'error');
    return;
  }
  status(t('compose.proposing'));
  const body = payload();
  const { status: code, data } = editing && editing.post
    ? await send('POST', `api/proposals?edit=${encodeURIComponent(editing.post)}`, body)
    : editing
      ? await send('PUT', `api/proposals/${encodeURIComponent(editing.id)}`, body, { 'If-Match': editing.commit })
      : await send('POST', 'api/proposals', body);
  if (code === 201 || code === 200) {
    const url = str(data.url);
    const link = /^https?:\/\//.test(url) ? el('a', { attrs: { href: url, rel: 'noopener noreferrer', target: '_blank' }, text: t('compose.proposed.link') }) : null;
    discardDraft();
    rebuild();
    status(t('compose.proposed', { branch: str(data.branch) }), 'ok', link);
    loadProposals();
  } else if (code === 422) {
    showPreview({ answer: data });
    status(str(data.error), 'error');
  } else {
    if (data.field) markField(str(data.field), str(data.error));
    status(str(data.error) || t('compose.failed', { status: code }), 'error');
  }
}

// The draft an API answer holds (GET /api/proposals/{id} or /api/drafts/{id}).
function fromAnswer(d) {
  const raw = str(d.publish_at);
  const at = raw.match(/^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})/);
  return {
    ...emptyDraft(),
    title: str(d.title), account: str(d.account), networks: list(d.networks).map(str), department: str(d.department),
    when: at ? 'at' : raw === 'next-slot' ? 'slot' : 'asap', date: at ? at[1] : '', time: at ? at[2] : '', rawAt: at ? raw : '', id: str(d.id), body: str(d.body),
    text: d.text && typeof d.text === 'object' ? Object.fromEntries(Object.entries(d.text).map(([k, v]) => [k, str(v)])) : {},
    images: list(d.images).map((i) => ({ name: str(i.name), alt: str(i.alt), data: str(i.data), type: '' })),
  };
}

async function fetchDraft(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || !data.draft) {
    status(str(data.error) || t('compose.failed', { status: response.status }), 'error');
    return null;
  }
  return data;
}

async function openProposal(id) {
  const data = await fetchDraft(`api/proposals/${encodeURIComponent(id)}`);
  if (!data) return;
  draft = fromAnswer(data.draft);
  editing = { id: str(data.id), commit: str(data.commit) };
  saveDraft();
  rebuild();
  status(t('compose.editing', { branch: str(data.branch) }));
}

// A post on the publish branch (written by hand or merged), to propose a change to it.
async function openPost(id) {
  const data = await fetchDraft(`api/drafts/${encodeURIComponent(id)}`);
  if (!data) return;
  draft = fromAnswer(data.draft);
  editing = { post: str(data.id) };
  saveDraft();
  rebuild();
  status(t('compose.editing-post', { file: str(data.file) }));
}

async function loadProposals() {
  const box = form && form.querySelector('#compose-proposals');
  if (!box) return;
  try {
    const response = await fetch('api/proposals', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) {
      box.replaceChildren();
      return;
    }
    const data = await response.json();
    const mine = list(data.proposals).filter((p) => p && typeof p === 'object' && p.mine === true);
    box.replaceChildren(el('h2', { text: t('compose.mine') }),
      mine.length === 0 ? el('p', { className: 'muted', text: t('compose.mine.none') }) : el('ul', {}, mine.map((p) => {
        const open = el('button', { attrs: { type: 'button' }, text: t('compose.mine.open', { title: str(p.title) || str(p.branch) }) });
        open.addEventListener('click', () => openProposal(str(p.id)));
        const url = str(p.url);
        return el('li', {}, el('code', { text: str(p.branch) }), ' ', open,
          /^https?:\/\//.test(url) ? el('a', { attrs: { href: url, rel: 'noopener noreferrer', target: '_blank' }, text: t('compose.proposed.link') }) : null);
      })));
  } catch {
    box.replaceChildren();
  }
}

function build() {
  const person = signedIn();
  if (!draft.department && person && person.department) draft.department = str(person.department);
  if (!draft.account && accounts()[0]) draft.account = str(accounts()[0].name);
  editing = editing || (loadDraft().editing || null);
  const title = input('compose-title', draft.title, { type: 'text', required: true, maxlength: 200, autocomplete: 'off' }, (v) => { draft.title = v; schedulePreview(); });
  const department = input('compose-department', draft.department, { type: 'text', maxlength: 100 }, (v) => { draft.department = v; schedulePreview(); });
  const body = textarea('compose-body', draft.body, 8, (v) => { draft.body = v; schedulePreview(); });
  const proposeButton = el('button', { className: 'primary', attrs: { type: 'submit' }, text: editing && editing.post ? t('compose.propose-change') : editing ? t('compose.update') : t('compose.propose') });
  const discard = el('button', { attrs: { type: 'button' }, text: t('compose.discard') });
  discard.addEventListener('click', () => {
    discardDraft();
    rebuild();
    status(t('compose.discarded'));
  });
  const theForm = el('form', { className: 'compose-form', attrs: { id: 'compose-form', novalidate: true } },
    field('compose-title', t('compose.title'), title, t('compose.title.help')),
    accountField(),
    networkChoices(),
    field('compose-department', t('compose.department'), department),
    whenField(),
    field('compose-body', t('compose.body'), body, t('compose.body.help')),
    perNetworkTexts(),
    imagesField(),
    el('div', { className: 'actions' }, proposeButton, discard),
    el('p', { attrs: { id: 'compose-status', role: 'status' } }));
  theForm.addEventListener('submit', (event) => {
    event.preventDefault();
    propose();
  });
  const preview = el('section', { className: 'compose-preview', attrs: { 'aria-labelledby': 'compose-preview-title' } },
    el('h2', { attrs: { id: 'compose-preview-title' }, text: t('compose.preview') }),
    el('div', { attrs: { id: 'compose-preview-body', 'aria-live': 'polite' } }));
  form = el('div', { className: 'compose', attrs: { id: 'compose' } }, el('div', { className: 'compose-columns' }, theForm, preview), el('section', { attrs: { id: 'compose-proposals' } }));
  setTimeout(() => {
    runPreview();
    loadProposals();
  }, 0);
  return form;
}

function rebuild() {
  if (form && form.isConnected) form.replaceWith(build());
}

// The accounts arrive with /api/info, possibly after the form was first built.
let builtWith = '';
function rendered() {
  const now = JSON.stringify(accounts());
  if (now !== builtWith) {
    builtWith = now;
    rebuild();
  }
}

export const compose = {
  name: 'compose',
  title: () => t('compose.heading'),
  head: (r) => {
    builtWith = JSON.stringify(accounts());
    const open = r.params.get('open');
    if (open) setTimeout(() => openProposal(open), 0);
    const post = r.params.get('post');
    if (post) setTimeout(() => openPost(post), 0);
    return [build()];
  },
  body: () => [],
  rendered,
};
