//! The delivery state machine: every move the scheduler makes of a delivery, for a publish
//! and for a retract, with the audit event that says so. Pure: the caller reads the
//! record, calls one of these in the store's write transaction and commits what it
//! returns (`src/store/mod.rs`, `update_delivery`), so a move and its event land together.
//!
//! ```text
//!  scheduled ──lease──▶ publishing ──ok──▶ published ──retract: true──▶ (retract pending)
//!     │  ▲                  │                                │ lease ▲          │
//!     │  └──── retrying ◀───┤ may pass (RetryPolicy)         ▼       │ may pass │
//!     ▼                     ├──▶ failed                   retracted  └──────────┘
//!   missed                  └──▶ unknown (crash, nobody can tell)  retract failed
//! ```
//! Planning (scheduled, held, invalid, cancelled, the retract request) is the sync's
//! (`src/sync/`); an operator's settlement is `oshirase resolve` (`src/cli/resolve.rs`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::delivery::pausing::PARKED_DELAY;
use crate::delivery::retry::RetryPolicy;
use crate::model::event::EventKind;
use crate::model::facts::Facts;
use crate::model::records::{DeliveryRecord, NewEvent, State};
use crate::networks::{ErrorClass, NetError, Published, Settlement};

/// What the scheduler knows of a delivery's network at the moment it is due.
/// How much later than an emergency delivery another delivery waiting for the same spent
/// posting budget is looked at again.
const YIELD_TO_EMERGENCY: Duration = Duration::from_millis(250);

pub trait Gate {
    /// Whether the configuration still has this network.
    fn configured(&self) -> bool;
    /// `Err(probe_at)` while the network is paused for refused credentials (the probe
    /// that may go through is let through and counted here).
    fn may_try(&self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>>;
    /// `Err(wait)` while the network's posting budget is spent.
    fn budget(&self) -> Result<(), Duration>;
}

fn parked(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default()
}

fn stating(d: &DeliveryRecord, kind: EventKind, facts: Facts) -> NewEvent {
    NewEvent::stating(&d.post_id, kind, Some(&d.network), facts)
}

/// What [`lease`] made of a due delivery.
#[derive(Debug, PartialEq)]
pub struct Lease {
    /// Whether to send it now: its intent is committed (`publishing`, or a retract's
    /// lease). Otherwise it waits, and `events` say why (or nothing, when nothing changed).
    pub send: bool,
    pub events: Vec<NewEvent>,
}

impl Lease {
    fn send(event: NewEvent) -> Lease {
        Lease {
            send: true,
            events: vec![event],
        }
    }

    fn wait(events: Vec<NewEvent>) -> Lease {
        Lease {
            send: false,
            events,
        }
    }
}

/// A due delivery handed out, its intent committed before any request, or the reason it
/// waits; `None` when it is not due after all.
pub fn lease(
    d: &mut DeliveryRecord,
    now: DateTime<Utc>,
    max_lateness: Duration,
    gate: &dyn Gate,
) -> Option<Lease> {
    if !d.is_due() || d.due_at > now {
        return None;
    }
    if d.retracting() {
        return Some(lease_retract(d, now, gate));
    }
    let late = (now - d.publish_at).to_std().unwrap_or(Duration::ZERO);
    if d.state == State::Scheduled && late > max_lateness {
        d.state = State::Missed;
        let facts = Facts::Missed {
            due_at: d.publish_at,
            late_secs: late.as_secs(),
            max_lateness_secs: max_lateness.as_secs(),
        };
        d.set_error_facts(facts.clone());
        return Some(Lease::wait(vec![stating(d, EventKind::Missed, facts)]));
    }
    if !gate.configured() {
        d.state = State::Retrying;
        d.due_at = parked(now);
        d.next_attempt_at = Some(d.due_at);
        d.set_error_facts(Facts::NotConfigured);
        return Some(Lease::wait(vec![stating(
            d,
            EventKind::Waiting,
            Facts::NotConfigured,
        )]));
    }
    if let Some(lease) = wait_at_gate(d, now, gate) {
        return Some(lease);
    }
    d.state = State::Publishing;
    d.attempts += 1;
    d.next_attempt_at = None;
    let facts = Facts::Attempt {
        attempt: d.attempts,
        key: d.key.clone(),
    };
    Some(Lease::send(stating(d, EventKind::Publishing, facts)))
}

/// Holds a delivery back while its network is paused or over budget (`None`: it may go).
/// Lateness still counts from the publish time, not from here.
fn wait_at_gate(d: &mut DeliveryRecord, now: DateTime<Utc>, gate: &dyn Gate) -> Option<Lease> {
    // In this order: a paused network's probe is not charged to the budget.
    let until = if let Err(probe_at) = gate.may_try(now) {
        probe_at
    } else if let Err(wait) = gate.budget() {
        // Everything waiting for the same budget is due when it refills; an emergency
        // delivery is due a moment sooner, so it is the one that gets the next post.
        let wait = match d.emergency {
            true => wait,
            false => wait + YIELD_TO_EMERGENCY,
        };
        now + chrono::Duration::from_std(wait).unwrap_or_default()
    } else {
        return None;
    };
    d.due_at = until;
    d.next_attempt_at = Some(until);
    Some(Lease::wait(Vec::new()))
}

/// A retract handed out: leased for a while so it is not handed out twice (deleting is
/// idempotent, so a lease that runs out after a crash just repeats it). Like a publish, it
/// waits while its network is not configured or is paused, instead of being leased to an
/// adapter that is not there.
fn lease_retract(d: &mut DeliveryRecord, now: DateTime<Utc>, gate: &dyn Gate) -> Lease {
    if !gate.configured() {
        d.due_at = parked(now);
        d.next_attempt_at = Some(d.due_at);
        // Said once: looking again every few minutes is not news for the audit log.
        if d.last_error_facts == Some(Facts::NotConfigured) {
            return Lease::wait(Vec::new());
        }
        d.set_error_facts(Facts::NotConfigured);
        return Lease::wait(vec![stating(d, EventKind::Waiting, Facts::NotConfigured)]);
    }
    if let Some(lease) = wait_at_gate(d, now, gate) {
        return lease;
    }
    // Records from before the approval time was kept count from their first try.
    d.retract_since.get_or_insert(now);
    d.due_at = parked(now);
    d.attempts += 1;
    let facts = Facts::Retracting {
        attempt: d.attempts,
    };
    Lease::send(stating(d, EventKind::Retracting, facts))
}

/// Moves a `publishing` delivery to where its outcome puts it and describes the move.
pub fn publish_outcome(
    d: &mut DeliveryRecord,
    outcome: Result<Published, NetError>,
    now: DateTime<Utc>,
    policy: RetryPolicy,
) -> NewEvent {
    let e = match outcome {
        Ok(p) if d.parts.is_empty() => return published(d, p, now),
        // A thread's last part: the thread's place stays its first part's.
        Ok(p) => {
            let k = d.first_unpublished().min(d.parts.len());
            let key = d.part_key(k + 1);
            return match part_published(d, &key, k, p, now) {
                Some(e) => e,
                None => thread_out(d, now),
            };
        }
        Err(e) => e,
    };
    match e.class {
        ErrorClass::Transient => match policy.next_attempt(d.attempts, d.publish_at, &e, now) {
            Some(at) => {
                d.state = State::Retrying;
                d.due_at = at;
                d.next_attempt_at = Some(at);
                d.set_error(Some(e.message.clone()));
                let facts = Facts::Retrying {
                    message: e.message,
                    next_at: at,
                };
                stating(d, EventKind::Retrying, facts)
            }
            None => {
                let facts = Facts::GaveUp {
                    message: e.message.clone(),
                    attempts: d.attempts,
                    retry_for_secs: policy.retry_for.as_secs(),
                };
                failed(d, e, facts)
            }
        },
        ErrorClass::Credentials => {
            d.state = State::Retrying;
            credentials_refused(d, e, now)
        }
        ErrorClass::Permanent => {
            let facts = Facts::Refused {
                message: e.message.clone(),
                attempts: d.attempts,
            };
            failed(d, e, facts)
        }
    }
}

fn published(d: &mut DeliveryRecord, p: Published, now: DateTime<Utc>) -> NewEvent {
    d.state = State::Published;
    d.published_at = Some(now);
    d.remote_id = p.remote_id;
    d.remote_url = p.remote_url;
    d.set_error(None);
    let place = d
        .remote_url
        .clone()
        .or_else(|| d.remote_id.clone())
        .unwrap_or_default();
    let facts = Facts::Published {
        place,
        lag_ms: (now - d.publish_at).num_milliseconds(),
        config: None,
        settled_after_restart: false,
    };
    stating(d, EventKind::Published, facts)
}

/// Records that part `k` (0 = the first) of a thread in flight, sent with `key`, is out.
/// After the last part the thread is `published`, at the first part's place; before it the
/// delivery stays `publishing` for the next part. `None` when the delivery moved on.
pub fn part_published(
    d: &mut DeliveryRecord,
    key: &str,
    k: usize,
    p: Published,
    now: DateTime<Utc>,
) -> Option<NewEvent> {
    if d.state != State::Publishing || k >= d.part_count() || d.part_key(k + 1) != key {
        return None;
    }
    let place = p.remote_url.clone().or_else(|| p.remote_id.clone());
    // Some id, even an empty one, marks the part as out: it is never sent again.
    let id = Some(p.remote_id.unwrap_or_default());
    match k.checked_sub(1).and_then(|i| d.parts.get_mut(i)) {
        None => (d.remote_id, d.remote_url) = (id, p.remote_url),
        Some(part) => {
            (part.remote_id, part.remote_url) = (id, p.remote_url);
            part.published_at = Some(now);
        }
    }
    if k + 1 == d.part_count() {
        return Some(thread_out(d, now));
    }
    let facts = Facts::PartPublished {
        part: k + 1,
        of: d.part_count(),
        place: place.unwrap_or_default(),
    };
    Some(stating(d, EventKind::PartPublished, facts))
}

/// A thread whose every part is out: `published` at its first part's place.
fn thread_out(d: &mut DeliveryRecord, now: DateTime<Utc>) -> NewEvent {
    let root = Published {
        remote_id: d.remote_id.clone(),
        remote_url: d.remote_url.clone(),
    };
    published(d, root, now)
}

fn failed(d: &mut DeliveryRecord, e: NetError, facts: Facts) -> NewEvent {
    d.state = State::Failed;
    d.next_attempt_at = None;
    d.set_error(Some(e.message));
    stating(d, EventKind::Failed, facts)
}

/// Credentials are an operator's matter: wait for the fix without burning an attempt.
fn credentials_refused(d: &mut DeliveryRecord, e: NetError, now: DateTime<Utc>) -> NewEvent {
    d.attempts = d.attempts.saturating_sub(1);
    d.due_at = parked(now);
    d.next_attempt_at = Some(d.due_at);
    d.set_error(Some(format!("credentials refused: {}", e.message)));
    let facts = Facts::CredentialsRefused { message: e.message };
    stating(d, EventKind::Credentials, facts)
}

/// Records what a delete request came to. `None` when the delivery is not waiting for a
/// retract any more (an operator settled it meanwhile).
pub fn retract_outcome(
    d: &mut DeliveryRecord,
    outcome: Result<(), NetError>,
    now: DateTime<Utc>,
    policy: RetryPolicy,
) -> Option<NewEvent> {
    if !d.retracting() {
        return None;
    }
    let e = match outcome {
        Ok(()) => {
            d.state = State::Retracted;
            d.retract_pending = false;
            d.set_error(None);
            d.next_attempt_at = None;
            return Some(stating(d, EventKind::Retracted, Facts::Retracted));
        }
        Err(e) => e,
    };
    if e.class == ErrorClass::Credentials {
        // The scheduler has paused the network; the retract waits for the fix.
        return Some(credentials_refused(d, e, now));
    }
    let since = *d.retract_since.get_or_insert(now);
    let retry_at = match e.class {
        ErrorClass::Transient => policy.next_attempt(d.attempts, since, &e, now),
        _ => None,
    };
    Some(match retry_at {
        Some(at) => {
            d.due_at = at;
            d.next_attempt_at = Some(at);
            d.set_error(Some(format!("retract: {}", e.message)));
            NewEvent::service(
                &d.post_id,
                EventKind::RetractRetrying,
                Some(&d.network),
                e.message,
            )
        }
        None => {
            // Still on the network: a person must delete it there.
            d.retract_pending = false;
            d.next_attempt_at = None;
            d.set_error(Some(format!("retract failed: {}", e.message)));
            let facts = Facts::RetractFailed { message: e.message };
            stating(d, EventKind::RetractFailed, facts)
        }
    })
}

/// Records what a network said of a delivery a crash left `publishing`; `None` when the
/// delivery moved on meanwhile.
pub fn settle(
    d: &mut DeliveryRecord,
    key: &str,
    settlement: Settlement,
    now: DateTime<Utc>,
) -> Option<NewEvent> {
    let part = d.first_unpublished();
    if d.state != State::Publishing || d.part_key(part + 1) != key {
        return None;
    }
    Some(match settlement {
        Settlement::Published(p) if d.parts.is_empty() => {
            let mut e = published(d, p, now);
            amend_published(&mut e, |settled, _| *settled = true);
            e
        }
        Settlement::Published(p) => {
            let mut e = part_published(d, key, part, p, now)?;
            amend_published(&mut e, |settled, _| *settled = true);
            if d.state == State::Publishing {
                // The rest of the thread follows, from the next part.
                d.state = State::Retrying;
                d.due_at = now;
                d.next_attempt_at = Some(now);
            }
            e
        }
        Settlement::SafeToRetry => {
            d.state = State::Retrying;
            d.due_at = now;
            d.next_attempt_at = Some(now);
            stating(d, EventKind::Retrying, Facts::Resent)
        }
        Settlement::Unknown(why) => {
            d.state = State::Unknown;
            d.set_error(Some(why.clone()));
            stating(d, EventKind::Unknown, Facts::Interrupted { why })
        }
    })
}

/// Changes the facts of a `published` event (whether a restart settled it, the commit of
/// its configuration) and words its detail again; any other event is left alone.
pub fn amend_published(event: &mut NewEvent, change: impl FnOnce(&mut bool, &mut Option<String>)) {
    if let Some(Facts::Published {
        settled_after_restart,
        config,
        ..
    }) = &mut event.facts
    {
        change(settled_after_restart, config);
    }
    if let Some(facts @ Facts::Published { .. }) = &event.facts {
        event.detail = facts.stored();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A network as the scheduler would see it, with what it was asked.
    struct FakeGate {
        configured: bool,
        paused_until: Option<DateTime<Utc>>,
        budget_asked: Cell<u32>,
    }

    impl FakeGate {
        fn open() -> FakeGate {
            FakeGate {
                configured: true,
                paused_until: None,
                budget_asked: Cell::new(0),
            }
        }
    }

    impl Gate for FakeGate {
        fn configured(&self) -> bool {
            self.configured
        }
        fn may_try(&self, _now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
            self.paused_until.map_or(Ok(()), Err)
        }
        fn budget(&self) -> Result<(), Duration> {
            self.budget_asked.set(self.budget_asked.get() + 1);
            Ok(())
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const POLICY: RetryPolicy = RetryPolicy { retry_for: HOUR };

    /// A delivery published two days ago whose `retract: true` was just approved.
    fn retract_pending(now: DateTime<Utc>) -> DeliveryRecord {
        let two_days_ago = now - chrono::Duration::days(2);
        DeliveryRecord {
            state: State::Published,
            retract_pending: true,
            retract_since: Some(now),
            attempts: 1,
            published_at: Some(two_days_ago),
            remote_id: Some("1234".into()),
            ..DeliveryRecord::new("city", "x", "posts/a", "text", two_days_ago)
        }
    }

    fn kinds(events: &[NewEvent]) -> Vec<EventKind> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_due_post_is_leased_once_with_its_intent() {
        let now = Utc::now();
        let mut d = DeliveryRecord::new("city", "x", "posts/a", "text", now);
        let leased = lease(&mut d, now, HOUR, &FakeGate::open()).unwrap();
        assert!(leased.send);
        assert_eq!(kinds(&leased.events), [EventKind::Publishing]);
        assert_eq!((d.state, d.attempts), (State::Publishing, 1));
        // Publishing is not due: nobody hands it out a second time.
        assert!(lease(&mut d, now, HOUR, &FakeGate::open()).is_none());
    }

    #[test]
    fn a_paused_network_is_not_charged_to_its_budget() {
        let now = Utc::now();
        let mut d = DeliveryRecord::new("city", "x", "posts/a", "text", now);
        let probe = now + chrono::Duration::minutes(5);
        let gate = FakeGate {
            paused_until: Some(probe),
            ..FakeGate::open()
        };
        assert_eq!(
            lease(&mut d, now, HOUR, &gate),
            Some(Lease::wait(Vec::new()))
        );
        assert_eq!((d.state, d.due_at), (State::Scheduled, probe));
        assert_eq!(gate.budget_asked.get(), 0);
    }

    #[test]
    fn a_retract_retries_within_retry_for_of_its_approval_not_of_the_old_publish_time() {
        // The post went out two days ago; `retry_for` is an hour. A passing failure of the
        // delete just after approval is retried, not a failure for good.
        let now = Utc::now();
        let mut d = retract_pending(now);
        let busy = Err(NetError::transient("503 busy"));
        let e = retract_outcome(&mut d, busy, now, POLICY).unwrap();
        assert_eq!(e.kind, EventKind::RetractRetrying);
        assert!(d.retract_pending && d.state == State::Published);
        assert!(d.due_at > now && d.due_at <= now + chrono::Duration::hours(1));
        // An hour after approval the same failure is final: a person must delete it.
        let later = now + chrono::Duration::minutes(61);
        let busy = Err(NetError::transient("503 busy"));
        let e = retract_outcome(&mut d, busy, later, POLICY).unwrap();
        assert_eq!(e.kind, EventKind::RetractFailed);
        assert!(!d.retract_pending);
    }

    #[test]
    fn a_retract_on_a_network_no_longer_configured_waits_and_says_so_once() {
        let now = Utc::now();
        let mut d = retract_pending(now);
        let gone = FakeGate {
            configured: false,
            ..FakeGate::open()
        };
        // Not leased (no adapter would ever record its outcome): it waits, as a publish
        // does, and tells why.
        let waits = lease(&mut d, now, HOUR, &gone).unwrap();
        assert!(!waits.send);
        assert_eq!(kinds(&waits.events), [EventKind::Waiting]);
        assert_eq!(d.last_error_facts, Some(Facts::NotConfigured));
        assert_eq!(d.attempts, 1, "no attempt was made");
        assert!(d.retract_pending && d.due_at > now);
        // Looking again later adds nothing to the audit log while nothing changed.
        let later = d.due_at;
        assert_eq!(
            lease(&mut d, later, HOUR, &gone),
            Some(Lease::wait(Vec::new()))
        );
        assert_eq!(d.attempts, 1);
        // Configured again, the retract goes ahead.
        let again = d.due_at;
        let leased = lease(&mut d, again, HOUR, &FakeGate::open()).unwrap();
        assert!(leased.send);
        assert_eq!(kinds(&leased.events), [EventKind::Retracting]);
    }

    #[test]
    fn refused_credentials_pause_a_retract_as_they_pause_a_publish() {
        let now = Utc::now();
        let mut d = retract_pending(now);
        let refused = Err(NetError {
            class: ErrorClass::Credentials,
            ..NetError::transient("401 token revoked")
        });
        let e = retract_outcome(&mut d, refused, now, POLICY).unwrap();
        assert_eq!(e.kind, EventKind::Credentials);
        assert!(d.retract_pending, "the retract still waits to be done");
        assert_eq!(d.state, State::Published);
        assert!(d.due_at > now);
        // While the network is paused, the retract waits for the probe like a publish.
        let probe = d.due_at + chrono::Duration::minutes(5);
        let paused = FakeGate {
            paused_until: Some(probe),
            ..FakeGate::open()
        };
        let due = d.due_at;
        assert_eq!(
            lease(&mut d, due, HOUR, &paused),
            Some(Lease::wait(Vec::new()))
        );
        assert_eq!(d.due_at, probe);
    }

    #[test]
    fn a_retract_that_went_through_is_recorded_once() {
        let now = Utc::now();
        let mut d = retract_pending(now);
        let e = retract_outcome(&mut d, Ok(()), now, POLICY).unwrap();
        assert_eq!(e.kind, EventKind::Retracted);
        assert_eq!(d.state, State::Retracted);
        assert!(retract_outcome(&mut d, Ok(()), now, POLICY).is_none());
    }
}
