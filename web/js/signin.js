// The sign-in page: sends the e-mail address and password to POST /api/session, which
// answers with the session cookie, then opens the dashboard (at the view asked for, a
// "#/…" route only, so the page cannot be made to send anyone elsewhere).
// Imports only i18n.js, which is reachable before signing in.

import { t, initialLang, setLang } from './i18n.js';

const $ = (id) => document.getElementById(id);

// Only a dashboard route of this origin; anything else opens the overview. The route comes
// from ?next= (a session that ended under a view) or the fragment the browser kept when the
// server sent a signed-out page load here.
function nextPage() {
  const next = new URLSearchParams(location.search).get('next') || location.hash || '';
  return /^#\/[A-Za-z0-9_\-/%.~=&?]*$/.test(next) ? `./${next}` : './';
}

const FAILURES = { 401: 'signin.wrong', 404: 'signin.nobody', 429: 'signin.too_many' };

async function signIn(event) {
  event.preventDefault();
  const error = $('signin-error');
  const email = $('signin-email').value.trim();
  const password = $('signin-password').value;
  error.textContent = '';
  if (!email || !password) {
    error.textContent = t('signin.missing');
    (email ? $('signin-password') : $('signin-email')).focus();
    return;
  }
  $('signin-submit').disabled = true;
  try {
    const response = await fetch('api/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email, password }),
      cache: 'no-store',
      credentials: 'same-origin',
    });
    if (response.ok) {
      const data = await response.json().catch(() => ({}));
      // A temporary password an admin passed on is replaced before anything else.
      location.replace(data.must_change_password === true ? 'password.html' : nextPage());
      return;
    }
    error.textContent = t(FAILURES[response.status] || 'signin.failed', { status: response.status });
    $('signin-password').select();
  } catch {
    error.textContent = t('signin.failed', { status: '-' });
  } finally {
    $('signin-submit').disabled = false;
  }
}

setLang(initialLang(), false);
document.title = `${t('signin.heading')} — oshirase`;
$('lang-select').addEventListener('change', (event) => {
  setLang(event.target.value, true);
  document.title = `${t('signin.heading')} — oshirase`;
});
$('signin-form').addEventListener('submit', signIn);
$('signin-email').focus();
