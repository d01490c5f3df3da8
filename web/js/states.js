// The delivery states the dashboard knows, their shapes and groups. The list of states
// comes from the server; what is here is how the dashboard shows them.

// The states themselves, most urgent first, and the groups the server ranks by: made by
// the server from its State enum (src/model/records.rs, served at js/delivery-states.js).
export { STATES, ATTENTION, UPCOMING } from './delivery-states.js';

// Badges that are not delivery states: a post edited after publishing, a problem of the
// service itself, a paused network.
export const OTHER_BADGES = ['edited', 'problem', 'paused'];

// A shape next to every state, so no state is told by colour alone.
export const ICONS = new Map([
  ['invalid', '!'], ['held', '‖'], ['unknown', '?'], ['failed', '✕'], ['retrying', '↻'],
  ['publishing', '→'], ['scheduled', '◷'], ['missed', '⊘'], ['published', '✓'],
  ['cancelled', '–'], ['retracted', '↩'], ['edited', '✎'], ['problem', '!'], ['paused', '‖'],
]);

// The changes the live region speaks of.
export const ANNOUNCED = ['published', 'failed', 'unknown', 'held', 'missed', 'invalid', 'retracted'];

// The deliveries whose images went out, which /media serves.
export const SENT = ['published', 'retracted'];
