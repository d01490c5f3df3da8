// The delivery states the dashboard knows, their order, shapes and groups: the one list
// of states in the dashboard's code. Pure data, imports nothing, so that the server can
// later serve this file generated from its State enum (src/delivery.rs) instead.

// Delivery states in the order DESIGN.md ranks them: what needs a person first.
export const STATES = ['invalid', 'held', 'unknown', 'failed', 'retrying', 'publishing', 'scheduled',
  'missed', 'published', 'cancelled', 'retracted'];

// Badges that are not delivery states: a post edited after publishing, a problem of the
// service itself, a paused network.
export const OTHER_BADGES = ['edited', 'problem', 'paused'];

// A shape next to every state, so no state is told by colour alone.
export const ICONS = new Map([
  ['invalid', '!'], ['held', '‖'], ['unknown', '?'], ['failed', '✕'], ['retrying', '↻'],
  ['publishing', '→'], ['scheduled', '◷'], ['missed', '⊘'], ['published', '✓'],
  ['cancelled', '–'], ['retracted', '↩'], ['edited', '✎'], ['problem', '!'], ['paused', '‖'],
]);

// What a person must act on, most urgent first (src/post_list.rs ranks the same way).
export const ATTENTION = ['invalid', 'held', 'unknown', 'failed', 'missed'];

// Work still to go out, in the timeline.
export const UPCOMING = ['scheduled', 'retrying', 'publishing'];

// The changes the live region speaks of.
export const ANNOUNCED = ['published', 'failed', 'unknown', 'held', 'missed', 'invalid', 'retracted'];

// The deliveries whose images went out, which /media serves.
export const SENT = ['published', 'retracted'];
