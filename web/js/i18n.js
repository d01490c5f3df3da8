// The reader's language and the repository's timezone: t(), language switching, and every
// number, date, time and duration the dashboard shows. Owns the language and the zone.
// Imports only its own tables (i18n/ja.js, i18n/en.js), nothing else of the app's; reads
// the page's data-i18n attributes itself, as switching must reach the static markup too.

import { ja } from './i18n/ja.js';
import { en } from './i18n/en.js';

const I18N = { ja, en };
const LANGS = ['ja', 'en'];
const LANG_KEY = 'oshirase.lang';
const LOCALES = { ja: 'ja-JP', en: 'en-GB' };

let current = 'ja';
// From /api/info; undefined is the viewer's own timezone.
let timeZone;

const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
const text = (value) => (value === null || value === undefined ? '' : String(value));

export const lang = () => current;
export const locale = () => LOCALES[current];

function message(key) {
  const table = I18N[current] || I18N.en;
  return has(table, key) ? table[key] : (has(I18N.en, key) ? I18N.en[key] : key);
}

// Whether a text exists for the key, in English at least (every key is there).
export const hasMessage = (key) => has(I18N.en, key);

export function t(key, params) {
  let out = message(key);
  if (params) {
    out = out.replace(/\{(\w+)\}/g, (whole, name) => (has(params, name) ? text(params[name]) : whole));
  }
  return out;
}

// A message whose placeholders are elements (a command, a time): an array of nodes.
export function tNodes(key, params) {
  const template = message(key);
  const out = [];
  let last = 0;
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    out.push(template.slice(last, match.index));
    const value = has(params, match[1]) ? params[match[1]] : match[0];
    out.push(value instanceof Node ? value : text(value));
    last = match.index + match[0].length;
  }
  out.push(template.slice(last));
  return out.filter((part) => part !== '');
}

export function initialLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    // Storage may be disabled; the browser's language decides then.
  }
  const langs = navigator.languages && navigator.languages.length > 0 ? navigator.languages : [navigator.language];
  return text(langs[0]).toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

// Switches the language and the page's static texts; the caller renders the view again.
export function setLang(next, persist) {
  current = LANGS.includes(next) ? next : 'en';
  document.documentElement.lang = current;
  if (persist) {
    try {
      localStorage.setItem(LANG_KEY, current);
    } catch {
      // Not persisted; the choice still holds for this page.
    }
  }
  document.getElementById('lang-select').value = current;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.getAttribute('data-i18n'));
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.getAttribute('data-i18n-label')));
  formatters.clear();
}

// ---------------------------------------------------------------- numbers and times

export function formatNumber(n, options) {
  return new Intl.NumberFormat(locale(), options).format(n);
}

// Times are shown in the repository's timezone (from /api/info), whatever the viewer's
// machine is set to; without one, in the viewer's own.
export function setTimeZone(name) {
  timeZone = typeof name === 'string' && name !== '' ? name : undefined;
  formatters.clear();
}

export const zone = () => timeZone;

const FORMATS = {
  datetime: { year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  seconds: { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
  day: { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' },
  time: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  clock: { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
  parts: { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
};
const formatters = new Map();

export function formatter(kind) {
  const key = `${current}|${timeZone}|${kind}`;
  let f = formatters.get(key);
  if (!f) {
    const loc = kind === 'parts' ? 'en-CA' : LOCALES[current];
    try {
      f = new Intl.DateTimeFormat(loc, { ...FORMATS[kind], timeZone });
    } catch {
      f = new Intl.DateTimeFormat(loc, FORMATS[kind]); // an unknown zone name
    }
    formatters.set(key, f);
  }
  return f;
}

// An RFC 3339 value as milliseconds, NaN for anything else.
export function ms(value) {
  return typeof value === 'string' && value !== '' ? Date.parse(value) : NaN;
}

export function formatTime(value, kind = 'datetime') {
  const at = typeof value === 'number' ? value : ms(value);
  return Number.isNaN(at) ? text(value) : formatter(kind).format(at);
}

// Calendar fields of an instant in the display timezone.
export function zoneParts(at) {
  const out = {};
  for (const p of formatter('parts').formatToParts(at)) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  if (out.hour === 24) out.hour = 0;
  return out;
}

export function dayKey(at) {
  const p = zoneParts(at);
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

// The instant at which the display timezone's clock shows this wall time.
function wallToInstant(year, month, day, hour, minute) {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const offsetAt = (at) => {
    const p = zoneParts(at);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(at / 60000) * 60000;
  };
  let at = guess - offsetAt(guess);
  const again = guess - offsetAt(at);
  if (again !== at) at = again; // the offset changed in between (summer time)
  return at;
}

// A <input type=date> value as the RFC 3339 start or end of that day in the display zone.
export function dateToInstant(value, endOfDay) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text(value));
  if (!m) return null;
  const start = wallToInstant(Number(m[1]), Number(m[2]), Number(m[3]), 0, 0);
  if (!endOfDay) return new Date(start).toISOString();
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const next = new Date(Date.UTC(y, mo - 1, d + 1));
  const end = wallToInstant(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0) - 1000;
  return new Date(end).toISOString();
}

// A setting's length of time, in whole hours or minutes.
export function duration(secs) {
  const n = Number(secs);
  if (!Number.isFinite(n) || n <= 0) return t('none');
  if (n % 3600 === 0) return t('duration.hours', { n: n / 3600 });
  return t('duration.minutes', { n: Math.round(n / 60) });
}

// A length of time in whole hours, minutes and seconds, in the reader's language.
export function durationText(secs) {
  const total = Math.max(0, Math.floor(Number(secs) || 0));
  const [h, m, sec] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const parts = [];
  if (h > 0) parts.push(t('duration.h', { n: h }));
  if (m > 0) parts.push(t('duration.m', { n: m }));
  if (sec > 0 || parts.length === 0) parts.push(t('duration.s', { n: sec }));
  return parts.join(current === 'ja' ? '' : ' ');
}
