// What the dashboard knows of the service beyond the post lists: its configuration
// (/api/info), health (/healthz), counts (/api/summary), and the version that tells the
// view to rebuild. Owns them and their loaders; imports api.js and i18n.js only.

import { getJson, list, str } from './api.js';
import { setTimeZone } from './i18n.js';

let info = null;
let health = null;
let healthError = null;
let summary = null;
let summaryError = null;
// Bumped whenever anything the views show changed, by whichever module changed it; the
// view is rebuilt only when it moved (render.js).
let version = 0;

export const currentInfo = () => info;
export const currentHealth = () => health;
export const currentHealthError = () => healthError;
export const currentSummary = () => summary;
export const currentSummaryError = () => summaryError;
export const dataVersion = () => version;

export function changed() {
  version++;
}

export async function loadInfo() {
  try {
    const { data, changed: differs } = await getJson('api/info');
    if (differs) {
      info = data && typeof data === 'object' ? data : null;
      setTimeZone(info && info.timezone);
      version++;
    }
  } catch {
    // Without it the dashboard still works, in the viewer's timezone.
  }
}

export async function loadHealth() {
  try {
    // /healthz answers 503 with the reason while something fails: read it anyway.
    const { data, changed: differs } = await getJson('healthz', { allowStatus: [503] });
    if (differs || healthError) {
      health = data && typeof data === 'object' ? data : null;
      healthError = null;
      version++;
    }
  } catch (err) {
    if (!healthError) version++;
    healthError = err.message;
  }
}

export async function loadSummary() {
  const { data, changed: differs } = await getJson('api/summary');
  if (differs || !summary) {
    summary = data && typeof data === 'object' ? data : null;
    version++;
  }
}

// The counts and the health, as a full refresh reads them; false when the counts failed,
// whose error the views then show.
export async function loadCounts() {
  const [counts] = await Promise.allSettled([loadSummary(), loadHealth()]);
  const error = counts.status === 'rejected' ? str(counts.reason && counts.reason.message) : null;
  if (error !== summaryError) version++;
  summaryError = error;
  return counts.status === 'fulfilled';
}

export function accountInfo(name) {
  const accounts = list(info && info.accounts);
  if (name) return accounts.find((a) => a && a.name === name) || null;
  return accounts.length === 1 ? accounts[0] : null;
}

export function networkType(account, network) {
  const a = accountInfo(account);
  const n = a && list(a.networks).find((x) => x && x.name === network);
  return n ? str(n.type) : null;
}
