// What an event, a delivery's error or a hold says, worded from its facts (src/model/facts.rs)
// in the reader's language, with times in the repository's timezone. Owns no state;
// imports i18n and api (for coercion).

import { durationText, formatTime, lang, t } from './i18n.js';
import { str } from './api.js';

const HOLDS = ['no-landing', 'forge-squash', 'direct', 'no-base', 'base-unreadable', 'not-approver', 'own-merge', 'not-proposer', 'emergency'];
// Facts whose text has no placeholders.
const PLAIN = ['network-removed', 'retracted-before-sent', 'retract-requested', 'not-configured', 'resent',
  'removed', 'retracted'];

const time = (v) => formatTime(v, 'seconds');

// Facts worded with their values, one function per code.
const WORDED = {
  'due': (f) => t('facts.due', { time: time(f.at) }),
  'missed': (f) => t('facts.missed', { time: time(f.due_at), late: durationText(f.late_secs), max: durationText(f.max_lateness_secs) }),
  'attempt': (f) => t('facts.attempt', { n: f.attempt, key: f.key }),
  'published': (f) => {
    const config = f.config ? t('facts.config', { commit: f.config }) : '';
    const settled = f.settled_after_restart ? t('facts.settled') : '';
    return settled + t('facts.published', { place: f.place, lag: f.lag_ms }) + config;
  },
  'part-published': (f) => t('facts.part-published', { part: f.part, of: f.of, place: f.place }),
  'retrying': (f) => t('facts.retrying', { message: f.message, time: time(f.next_at) }),
  'gave-up': (f) => t('facts.gave-up', { message: f.message, n: f.attempts, dur: durationText(f.retry_for_secs) }),
  'refused': (f) => t('facts.refused', { message: f.message, n: f.attempts }),
  'credentials-refused': (f) => t('facts.credentials-refused', { message: f.message }),
  'interrupted': (f) => t('facts.interrupted', { why: f.why }),
  'retracting': (f) => t('facts.retracting', { n: f.attempt }),
  'retract-failed': (f) => t('facts.retract-failed', { message: f.message }),
  'invalid': (f) => problemText(f.problem),
  'landing': (f) => {
    const kind = !f.commit || !f.proposer ? 'unknown' : (f.approver ? 'merged' : 'pushed');
    const text = t(`facts.landing.${kind}`, f);
    return f.back_on_branch ? t('facts.landing.back') + text : text;
  },
  'held': (f, fallback) => holdText(f.hold, fallback),
  'emergency': (f) => t('facts.emergency', { by: f.by, commit: f.commit, via: routeText(f.via) }),
  'retract-held': (f) => t('facts.retract-held', { reason: holdText(f.hold, t('hold.unknown')) }),
  'edited-after-publish': (f) => t('facts.edited-after-publish', { state: t(`state.${f.state}`) }),
  'file-removed': (f) => t('facts.file-removed', f),
  'resolved': (f) => (f.url ? t('facts.resolved-published', f) : t('facts.resolved-not-published')),
};

// How an emergency post was let through (src/model/records.rs, EmergencyRoute), in words.
export function routeText(via) {
  return ['merge', 'direct-push'].includes(via) ? t(`emergency.via.${via}`) : str(via);
}

// `fallback` (the audit log's English) for facts this dashboard does not know.
export function factsText(facts, fallback) {
  if (!facts || typeof facts !== 'object' || typeof facts.code !== 'string') return str(fallback);
  if (Object.prototype.hasOwnProperty.call(WORDED, facts.code)) return WORDED[facts.code](facts, fallback);
  if (PLAIN.includes(facts.code)) return t(`facts.${facts.code}`);
  return str(fallback);
}

// Why a post waits for approval (src/model/facts.rs, Hold).
function holdText(hold, fallback) {
  return hold && typeof hold === 'object' && HOLDS.includes(hold.why) ? t(`hold.${hold.why}`, hold) : str(fallback);
}

export function problemText(problem) {
  if (!problem || typeof problem !== 'object') return str(problem);
  const message = lang() === 'ja' && problem.message_ja ? problem.message_ja : problem.message;
  const place = problem.line ? `${str(problem.file)}:${problem.line}` : str(problem.file);
  return place ? `${place}: ${str(message)}` : str(message);
}
