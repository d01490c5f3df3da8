// Who is signed in (GET /api/session), the sign-out button, and the session's CSRF token,
// which every request that changes something sends as X-CSRF-Token. With an open
// dashboard or a script's credentials there is no session and nothing is shown.
// Imports i18n.js and dom.js.

import { t } from './i18n.js';
import { $ } from './dom.js';

let csrf = '';
let person = null;

export const csrfToken = () => csrf;
export const signedIn = () => person;

export async function loadSession() {
  try {
    const response = await fetch('api/session', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) return;
    const data = await response.json();
    csrf = typeof data.csrf === 'string' ? data.csrf : '';
    person = data.person && typeof data.person === 'object' ? data.person : null;
    // The server opens nothing else to a temporary password (it sends page loads there too).
    if (data.must_change_password === true) {
      location.replace('password.html');
      return;
    }
  } catch {
    return;
  }
  $('sign-out').addEventListener('click', signOut);
  renderSession();
}

// Called again when the language changes.
export function renderSession() {
  if (!person) return;
  const name = String(person.name || person.email || '');
  const department = person.department ? String(person.department) : '';
  $('session-who').textContent = department
    ? t('session.as', { name, department })
    : t('session.as_no_department', { name });
  $('session').hidden = false;
  // The people page is for admins; the server refuses everyone else either way.
  $('nav-people').hidden = person.role !== 'admin';
}

async function signOut() {
  try {
    await fetch('api/session', {
      method: 'DELETE',
      headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' },
      cache: 'no-store',
    });
  } finally {
    location.replace('signin.html');
  }
}
