//! One delivery of a post, planned: the record a sync wants against the record the store
//! holds (`plan_delivery`), and an approved retract of every delivery (`plan_retract`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::event::EventKind;
use crate::model::facts::{Facts, Hold};
use crate::model::records::{Actor, DeliveryRecord, NewEvent, State};

/// An approved `retract: true`: what went out is queued for deletion, what did not is
/// cancelled. A retract still waiting for approval changes nothing but says why.
pub(super) fn plan_retract(
    existing: &BTreeMap<&str, &DeliveryRecord>,
    hold: Option<&Hold>,
    content_changed: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> (Vec<DeliveryRecord>, Vec<NewEvent>) {
    let mut changed = Vec::new();
    let mut events = Vec::new();
    let event = |d: &DeliveryRecord, kind: EventKind, facts: Facts| NewEvent {
        post_id: d.post_id.clone(),
        kind,
        network: Some(d.network.clone()),
        detail: facts.stored(),
        actor: actor.clone(),
        facts: Some(facts),
        notify: Vec::new(),
    };
    if let Some(hold) = hold {
        if content_changed {
            if let Some(d) = existing.values().next() {
                let facts = Facts::RetractHeld { hold: hold.clone() };
                let mut e = event(d, EventKind::RetractHeld, facts);
                e.network = None;
                events.push(e);
            }
        }
        return (changed, events);
    }
    for d in existing.values() {
        // Published, or a thread that stopped half-way: what is out is deleted.
        if (d.state == State::Published || d.partly_out()) && !d.retract_pending {
            let d = queued_for_deletion(d, now);
            events.push(event(
                &d,
                EventKind::RetractRequested,
                Facts::RetractRequested,
            ));
            changed.push(d);
            continue;
        }
        match d.state {
            s if (s.is_unsent() || s == State::Retrying)
                && s != State::Cancelled
                && s != State::Missed =>
            {
                let mut d = (*d).clone();
                d.state = State::Cancelled;
                d.set_error_facts(Facts::RetractedBeforeSent);
                events.push(event(&d, EventKind::Cancelled, Facts::RetractedBeforeSent));
                changed.push(d);
            }
            _ => {}
        }
    }
    (changed, events)
}

/// A delivery whose posts are out, queued for deletion now. A thread stopped half-way is
/// failed as well: the parts that are out are deleted, and the rest is never sent.
fn queued_for_deletion(d: &DeliveryRecord, now: DateTime<Utc>) -> DeliveryRecord {
    let mut d = d.clone();
    if d.state != State::Published {
        d.state = State::Failed;
    }
    d.retract_pending = true;
    d.retract_since = Some(now);
    d.due_at = now;
    d.next_attempt_at = Some(now);
    d
}

/// Decides one delivery: `Some((record to write, event))`, or `None` when it stays as it is.
pub(super) fn plan_delivery(
    old: Option<&DeliveryRecord>,
    desired: DeliveryRecord,
    content_changed: bool,
    actor: &Actor,
) -> Option<(Option<DeliveryRecord>, NewEvent)> {
    let (post_id, network) = (desired.post_id.clone(), desired.network.clone());
    let event = |kind: EventKind, (detail, facts): (String, Option<Facts>)| NewEvent {
        post_id: post_id.clone(),
        kind,
        network: Some(network.clone()),
        detail,
        actor: actor.clone(),
        facts,
        notify: Vec::new(),
    };
    let describe = |d: &DeliveryRecord| match d.state {
        State::Scheduled => {
            let facts = Facts::Due { at: d.due_at };
            (facts.stored(), Some(facts))
        }
        _ => (
            d.last_error.clone().unwrap_or_default(),
            d.last_error_facts.clone(),
        ),
    };
    let Some(old) = old else {
        let e = event(desired.state.event_kind(), describe(&desired));
        return Some((Some(desired), e));
    };
    // Anything of it on the network (a thread stopped half-way counts) is sent.
    if !old.state.is_unsent() || old.remote_id.is_some() || old.remote_url.is_some() {
        // Sent or in flight: never sent again. An edit is recorded for a person to see.
        let edited = content_changed && !same_content(old, &desired);
        return edited.then(|| {
            (
                None,
                event(EventKind::EditedAfterPublish, {
                    let facts = Facts::EditedAfterPublish {
                        state: old.state.to_string(),
                    };
                    (facts.stored(), Some(facts))
                }),
            )
        });
    }
    if !content_changed && matches!(old.state, State::Missed | State::Cancelled) {
        // Only a new version can revive a missed or cancelled delivery.
        return None;
    }
    let mut next = desired;
    next.attempts = old.attempts;
    next.remote_id.clone_from(&old.remote_id);
    next.remote_url.clone_from(&old.remote_url);
    let same = old.state == next.state
        && same_content(old, &next)
        && old.due_at == next.due_at
        && old.emergency == next.emergency
        && old.no_card == next.no_card
        && old.last_error == next.last_error;
    if same {
        return None;
    }
    let kind = match next.state {
        State::Scheduled if old.state == State::Scheduled => EventKind::Rescheduled,
        s => s.event_kind(),
    };
    let e = event(kind, describe(&next));
    Some((Some(next), e))
}

/// Whether two versions of a delivery would put the same things on the network: text,
/// images, and a thread's parts or LINE's further messages.
fn same_content(old: &DeliveryRecord, new: &DeliveryRecord) -> bool {
    let texts = |d: &DeliveryRecord| d.parts.iter().map(|p| p.text.clone()).collect::<Vec<_>>();
    old.text == new.text
        && old.images == new.images
        && texts(old) == texts(new)
        && old.messages == new.messages
}
