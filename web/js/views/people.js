// The people view (#/people, 職員管理), for admins: everyone who signs in (GET /api/users),
// each with their department and role to change, disable or enable, and a password reset;
// a form to add a person; and the April transfers as a CSV, shown as a dry run first
// (POST /api/users/import?dry_run=true) and applied only when asked. A temporary password
// is shown once, here, and nowhere else.
// Imports dom, i18n, api, session and desk.

import { el } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { list, str } from '../api.js';
import { signedIn } from '../session.js';
import { read, send, sendText } from '../desk.js';

const ROLES = ['staff', 'approver', 'admin'];
let box = null;

function say(text, className = 'muted') {
  const s = box && box.querySelector('#people-status');
  if (!s) return;
  s.className = className;
  s.textContent = text;
}

function roleSelect(id, current) {
  return el('select', { attrs: { id } }, ROLES.map((r) => el('option', { attrs: { value: r, selected: r === current ? 'selected' : null }, text: t(`people.role.${r}`) })));
}

// The password in a <code> of its own, so that 0 and O, l and 1 can be told apart.
function passwordShown(email, password) {
  const s = box && box.querySelector('#people-status');
  if (!s) return;
  s.className = 'ok';
  s.replaceChildren(t('people.temporary.lead', { email }), ' ', el('code', { attrs: { id: 'people-temporary' }, text: password }));
}

function personRow(u, index) {
  const email = str(u.email);
  const dept = el('input', { attrs: { id: `people-dept-${index}`, type: 'text', value: str(u.department), 'aria-label': t('people.department.of', { email }) } });
  const role = roleSelect(`people-role-${index}`, str(u.role));
  role.setAttribute('aria-label', t('people.role.of', { email }));
  const path = `api/users/${encodeURIComponent(email)}`;
  const save = el('button', { attrs: { type: 'button' }, text: t('people.save') });
  save.addEventListener('click', async () => {
    const { status, data } = await send('PATCH', path, { department: dept.value, role: role.value });
    if (status === 200) {
      say(t('people.saved', { email }), 'ok');
      refresh();
    } else say(str(data.error), 'error');
  });
  const toggle = el('button', { attrs: { type: 'button' }, text: u.disabled ? t('people.enable') : t('people.disable') });
  toggle.addEventListener('click', async () => {
    const { status, data } = await send('PATCH', path, { disabled: !u.disabled });
    if (status === 200) refresh();
    else say(str(data.error), 'error');
  });
  const reset = el('button', { attrs: { type: 'button' }, text: t('people.reset') });
  reset.addEventListener('click', async () => {
    const { status, data } = await send('PATCH', path, { reset_password: true });
    if (status === 200) passwordShown(email, str(data.temporary_password));
    else say(str(data.error), 'error');
  });
  return el('tr', { attrs: { 'data-email': email, 'data-disabled': String(u.disabled === true) } },
    el('th', { attrs: { scope: 'row' } }, str(u.name), el('span', { className: 'file', text: email })),
    el('td', {}, dept),
    el('td', {}, role),
    el('td', { text: u.disabled ? t('people.disabled') : t('people.active') }),
    el('td', { text: formatTime(u.changed_at) }),
    el('td', {}, save, ' ', toggle, ' ', reset));
}

function addForm() {
  const fields = [['email', 'email'], ['name', 'text'], ['department', 'text']].map(([name, type]) =>
    [name, el('input', { attrs: { id: `people-new-${name}`, name, type, required: name !== 'department' ? true : null, autocomplete: 'off' } })]);
  const role = roleSelect('people-new-role', 'staff');
  const form = el('form', { className: 'people-add', attrs: { id: 'people-add' } },
    el('h2', { text: t('people.add') }),
    ...fields.map(([name, input]) => el('div', { className: 'field' }, el('label', { attrs: { for: input.id }, text: t(`people.${name}`) }), input)),
    el('div', { className: 'field' }, el('label', { attrs: { for: 'people-new-role' }, text: t('people.role') }), role),
    el('button', { className: 'primary', attrs: { type: 'submit' }, text: t('people.add.submit') }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(fields.map(([name, input]) => [name, input.value.trim()]));
    body.role = role.value;
    if (!body.department) delete body.department;
    const { status, data } = await send('POST', 'api/users', body);
    if (status === 201) {
      form.reset();
      passwordShown(str(data.user && data.user.email), str(data.temporary_password));
      refresh();
    } else say(str(data.error), 'error');
  });
  return form;
}

function importResult(data) {
  const out = box.querySelector('#people-import-result');
  const problems = list(data.problems);
  if (problems.length) {
    out.replaceChildren(el('ul', { className: 'error-text' }, problems.map((p) =>
      el('li', { text: `${t('people.import.line', { line: p.line })}${p.field ? ` (${str(p.field)})` : ''}: ${str(p.message)}` }))));
    return;
  }
  const rows = list(data.changes).map((c) => el('tr', { attrs: { 'data-email': str(c.email), 'data-action': str(c.action) } },
    el('td', { text: String(c.line) }), el('td', { text: str(c.email) }), el('td', { text: t(`people.import.${str(c.action)}`) }),
    el('td', { text: list(c.changes).map((x) => `${str(x.field)}: ${str(x.before) || '—'} → ${str(x.after) || '—'}`).join('; ') })));
  const passwords = Object.entries(data.temporary_passwords || {});
  out.replaceChildren(
    el('p', { attrs: { role: 'status' }, text: data.dry_run ? t('people.import.dry') : t('people.import.done') }),
    el('table', {}, el('thead', {}, el('tr', {}, [t('people.import.col.line'), t('people.email'), t('people.import.col.action'), t('people.import.col.changes')].map((h) => el('th', { attrs: { scope: 'col' }, text: h })))), el('tbody', {}, rows)),
    passwords.length ? el('ul', {}, passwords.map(([email, pw]) => el('li', { text: t('people.temporary', { email, password: str(pw) }) }))) : '');
}

function importForm() {
  const text = el('textarea', { attrs: { id: 'people-csv', rows: 6, spellcheck: 'false' } });
  const file = el('input', { attrs: { id: 'people-csv-file', type: 'file', accept: '.csv,text/csv' } });
  file.addEventListener('change', async () => {
    if (file.files && file.files[0]) text.value = await file.files[0].text();
  });
  const dry = el('button', { attrs: { type: 'button', id: 'people-dry-run' }, text: t('people.import.preview') });
  const apply = el('button', { className: 'primary', attrs: { type: 'button', id: 'people-import' }, text: t('people.import.apply') });
  const run = async (dryRun) => {
    const { status, data } = await sendText(`api/users/import${dryRun ? '?dry_run=true' : ''}`, 'text/csv', text.value);
    if (status === 200 || status === 422) importResult(data);
    else say(str(data.error), 'error');
    if (!dryRun && status === 200) refresh();
  };
  dry.addEventListener('click', () => run(true));
  apply.addEventListener('click', () => run(false));
  return el('section', { attrs: { 'aria-labelledby': 'people-import-title' } },
    el('h2', { attrs: { id: 'people-import-title' }, text: t('people.import') }),
    el('p', { className: 'muted', text: t('people.import.help') }),
    el('div', { className: 'field' }, el('label', { attrs: { for: 'people-csv' }, text: t('people.import.csv') }), text),
    el('div', { className: 'field' }, el('label', { attrs: { for: 'people-csv-file' }, text: t('people.import.file') }), file),
    el('div', { className: 'actions' }, dry, apply),
    el('div', { attrs: { id: 'people-import-result' } }));
}

async function refresh() {
  if (!box || !box.isConnected) return;
  const target = box.querySelector('#people-list');
  const { status, data } = await read('api/users');
  if (status !== 200) {
    target.replaceChildren(el('p', { className: 'error-text', text: str(data.error) || t('compose.failed', { status }) }));
    return;
  }
  const users = list(data.users);
  target.replaceChildren(el('table', { className: 'people' },
    el('caption', { text: t('people.caption', { n: users.length }) }),
    el('thead', {}, el('tr', {}, [t('people.name'), t('people.department'), t('people.role'), t('people.state'), t('people.changed'), t('people.actions')].map((h) => el('th', { attrs: { scope: 'col' }, text: h })))),
    el('tbody', {}, users.map(personRow))));
}

export const people = {
  name: 'people',
  title: () => t('people.heading'),
  head: () => {
    const person = signedIn();
    if (!person || person.role !== 'admin') return [el('p', { className: 'muted', text: t('people.admins_only') })];
    box = el('div', { attrs: { id: 'people' } },
      el('p', { attrs: { id: 'people-status', role: 'status' } }),
      el('div', { attrs: { id: 'people-list' } }), addForm(), importForm());
    setTimeout(refresh, 0);
    return [box];
  },
  body: () => [],
};
