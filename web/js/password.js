// The password page: the current password and a new one (twice) to
// POST /api/session/password with the session's CSRF token, then back to the dashboard.
// A session signed in with a temporary password reaches nothing else, so this page reads
// the session itself (GET /api/session) and imports only i18n.js.

import { t, initialLang, setLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const MIN_CHARS = 12;

let csrf = '';

// The server's reasons name the field; the page says them in the reader's language.
const FIELD_TEXTS = { current: 'password.wrong_current', new: 'password.bad_new' };

async function loadSession() {
  const response = await fetch('api/session', { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) {
    location.replace('signin.html');
    return;
  }
  const data = await response.json();
  csrf = typeof data.csrf === 'string' ? data.csrf : '';
  const email = data.person && typeof data.person.email === 'string' ? data.person.email : '';
  $('password-email').value = email;
  const temporary = data.must_change_password === true;
  $('password-why').hidden = !temporary;
  // With a temporary password the dashboard stays shut until this is done.
  $('password-back-line').hidden = temporary;
}

// What is wrong before asking the server, or '' (the server checks again).
function problem(current, next, again) {
  if (!current) return ['password-current', t('password.missing_current')];
  if ([...next].length < MIN_CHARS) return ['password-new', t('password.too_short', { n: MIN_CHARS })];
  if (next !== again) return ['password-again', t('password.mismatch')];
  if (next === current) return ['password-new', t('password.same')];
  return null;
}

async function submit(event) {
  event.preventDefault();
  const error = $('password-error');
  const current = $('password-current').value;
  const next = $('password-new').value;
  const found = problem(current, next, $('password-again').value);
  error.textContent = '';
  if (found) {
    error.textContent = found[1];
    $(found[0]).focus();
    return;
  }
  $('password-submit').disabled = true;
  try {
    const response = await fetch('api/session/password', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ current, new: next }),
      cache: 'no-store',
      credentials: 'same-origin',
    });
    if (response.ok) {
      location.replace('./');
      return;
    }
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = {};
    }
    const key = response.status === 422 ? FIELD_TEXTS[data.field] : null;
    const detail = typeof data.error === 'string' ? data.error : '';
    error.textContent = key ? t(key, { detail }) : t('password.failed', { status: response.status, detail });
    $(data.field === 'new' ? 'password-new' : 'password-current').select();
  } catch {
    error.textContent = t('password.failed', { status: '-', detail: '' });
  } finally {
    $('password-submit').disabled = false;
  }
}

function title() {
  document.title = `${t('password.heading')} — oshirase`;
}

setLang(initialLang(), false);
title();
$('lang-select').addEventListener('change', (event) => {
  setLang(event.target.value, true);
  title();
});
$('password-form').addEventListener('submit', submit);
loadSession().then(() => $('password-current').focus(), () => {
  $('password-error').textContent = t('password.failed', { status: '-', detail: '' });
});
