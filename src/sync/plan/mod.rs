//! The pure planner: one post file as this sync sees it, against the post as the store
//! holds it, becomes the records and audit events to write (`plan_post`, `plan_removal`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::content::post;
use crate::content::problem::Problem;
use crate::content::resolve::PlannedDelivery;
use crate::content::thread::Style;
use crate::git::repo::Landing;
use crate::model::event::EventKind;
use crate::model::facts::{Facts, Hold};
use crate::model::records::PostView;
use crate::model::records::{
    Actor, DeliveryRecord, Emergency, NewEvent, Part, PostChange, PostRecord, SlotChoice, State,
    TextCount,
};

mod delivery;
use delivery::{plan_delivery, plan_retract};

/// One post file as this sync sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub file: String,
    /// The file's path from the content directory (its default id without `.md`).
    pub id_path: String,
    pub blob: String,
    pub config_hash: String,
    pub title: String,
    pub account: Option<String>,
    pub department: Option<String>,
    pub publish_at: Option<DateTime<Utc>>,
    pub landing: Option<Landing>,
    pub outcome: Outcome,
    /// The file says `emergency: true`.
    pub asks_emergency: bool,
    /// The file says `card: false`.
    pub no_card: bool,
    /// Set by `sync::approval::emergency` when the post may go at once.
    pub emergency: Option<EmergencyGrant>,
    /// `publish_at: next-slot` or `slot:` (`Some(None)`: any slot; `Some(Some(name))`).
    pub slot_asked: Option<Option<String>>,
    /// The slot it took, set by `sync::slots` once it may go (its time is `publish_at`).
    pub slot: Option<SlotChoice>,
}

/// An emergency post let through, and who is told of it (every approver of the account).
#[derive(Debug, Clone)]
pub struct EmergencyGrant {
    pub record: Emergency,
    pub notify: Vec<String>,
    /// Still news: let through within `max_lateness` of its commit, so the `emergency`
    /// event is written and approvers are alerted (an old one found by a cold sync is not).
    pub news: bool,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The post can go out; `hold` says why it must wait for approval, if it must.
    /// `retract` asks, once approved, to delete it from every network it went to.
    Ready {
        deliveries: Vec<PlannedDelivery>,
        images: Vec<post::Image>,
        hold: Option<Hold>,
        retract: bool,
    },
    /// The post as a whole is unusable.
    Broken { problems: Vec<Problem> },
}

/// The actor to credit for a landing: the approver when there was one.
pub(crate) fn git_actor(landing: Option<&Landing>) -> Actor {
    match landing {
        Some(l) => Actor::Git(l.approver.as_ref().unwrap_or(&l.proposer).to_string()),
        None => Actor::Service,
    }
}

/// Who brought `file` to the branch, as the `landed`, `edited` and `restored` events
/// record it.
pub(crate) fn landing_facts(file: &str, landing: Option<&Landing>, back_on_branch: bool) -> Facts {
    Facts::Landing {
        file: file.to_string(),
        commit: landing.map(|l| l.commit[..l.commit.len().min(8)].to_string()),
        proposer: landing.map(|l| l.proposer.to_string()),
        approver: landing.and_then(|l| l.approver.as_ref().map(ToString::to_string)),
        back_on_branch,
    }
}

/// Plans one post file against its record as committed now.
pub fn plan_post(
    current: Option<&PostView>,
    c: &Candidate,
    now: DateTime<Utc>,
) -> Option<PostChange> {
    let content_changed =
        current.is_none_or(|v| v.post.blob != c.blob || !v.post.present || v.post.file != c.file);
    let mut post = post_record(current, c, content_changed);
    let actor = git_actor(c.landing.as_ref());
    let mut plan = Plan {
        id: &c.id,
        actor: &actor,
        content_changed,
        deliveries: Vec::new(),
        events: file_events(current, c, content_changed, &actor),
        wanted: HashSet::new(),
    };
    plan.events
        .extend(emergency_event(current, c, &post, &actor));
    let existing: BTreeMap<&str, &DeliveryRecord> = current
        .map(|v| {
            v.deliveries
                .iter()
                .map(|d| (d.network.as_str(), d))
                .collect()
        })
        .unwrap_or_default();
    match &c.outcome {
        Outcome::Ready {
            retract: true,
            hold,
            ..
        } => {
            plan.wanted.extend(existing.keys().map(|n| n.to_string()));
            let (changed, events) =
                plan_retract(&existing, hold.as_ref(), content_changed, &actor, now);
            plan.deliveries.extend(changed);
            plan.events.extend(events);
        }
        Outcome::Ready {
            deliveries: planned,
            images,
            hold,
            ..
        } => {
            for p in planned {
                let old = existing.get(p.network.as_str()).copied();
                let desired =
                    desired_delivery(c, p, images, hold.as_ref(), old, content_changed, now);
                if plan.delivery(old, desired) {
                    post.edited_after_publish = true;
                }
            }
        }
        Outcome::Broken { problems } => plan.invalidate(&existing, problems),
    }
    plan.cancel_unwanted(&existing);
    let post_changed = current.is_none_or(|v| v.post != post);
    if !post_changed && plan.deliveries.is_empty() && plan.events.is_empty() {
        return None;
    }
    Some(PostChange {
        post,
        deliveries: plan.deliveries,
        events: plan.events,
    })
}

/// The post's record as this version of its file makes it.
fn post_record(current: Option<&PostView>, c: &Candidate, content_changed: bool) -> PostRecord {
    let errors = match &c.outcome {
        Outcome::Broken { problems } => problems.clone(),
        Outcome::Ready { .. } => Vec::new(),
    };
    let mut post = PostRecord {
        id: c.id.clone(),
        title: c.title.clone(),
        file: c.file.clone(),
        account: c.account.clone(),
        department: c.department.clone(),
        publish_at: c.publish_at,
        proposer: c.landing.as_ref().map(|l| l.proposer.clone()),
        approver: c.landing.as_ref().and_then(|l| l.approver.clone()),
        commit: c.landing.as_ref().map(|l| l.commit.clone()),
        blob: c.blob.clone(),
        config_hash: c.config_hash.clone(),
        errors,
        present: true,
        edited_after_publish: current.is_some_and(|v| v.post.edited_after_publish),
        emergency: c.emergency.as_ref().map(|g| g.record.clone()),
        slot: c.slot.clone(),
    };
    if !content_changed {
        // Same file, new configuration: the provenance found now is only as good as before.
        if let Some(v) = current {
            post.proposer.clone_from(&v.post.proposer);
            post.approver.clone_from(&v.post.approver);
            post.commit.clone_from(&v.post.commit);
            // An emergency let through before keeps its record; one let through only now
            // (its approver was approved since) is recorded now.
            if post.emergency.is_some() && v.post.emergency.is_some() {
                post.emergency.clone_from(&v.post.emergency);
                post.publish_at = v.post.publish_at.or(post.publish_at);
            }
        }
    }
    post
}

/// The `emergency` event, once per version let through: it names who let it through and
/// tells every approver of the account.
fn emergency_event(
    current: Option<&PostView>,
    c: &Candidate,
    post: &PostRecord,
    actor: &Actor,
) -> Option<NewEvent> {
    let grant = c.emergency.as_ref().filter(|g| g.news)?;
    let Emergency { by, commit, via } = post.emergency.as_ref()?;
    if current.is_some_and(|v| v.post.emergency == post.emergency) {
        return None;
    }
    let facts = Facts::Emergency {
        by: by.to_string(),
        commit: commit.clone(),
        via: *via,
    };
    Some(NewEvent {
        post_id: c.id.clone(),
        kind: EventKind::Emergency,
        network: None,
        detail: facts.stored(),
        actor: actor.clone(),
        facts: Some(facts),
        notify: grant.notify.clone(),
    })
}

/// The events of the file itself: it landed, came back or changed, and is unreadable.
fn file_events(
    current: Option<&PostView>,
    c: &Candidate,
    content_changed: bool,
    actor: &Actor,
) -> Vec<NewEvent> {
    let post_event = |kind: EventKind, detail: String| NewEvent {
        post_id: c.id.clone(),
        kind,
        network: None,
        detail,
        actor: actor.clone(),
        facts: None,
        notify: Vec::new(),
    };
    let landing = |kind, back_on_branch| {
        let facts = landing_facts(&c.file, c.landing.as_ref(), back_on_branch);
        NewEvent {
            facts: Some(facts.clone()),
            ..post_event(kind, facts.stored())
        }
    };
    let mut events = Vec::new();
    match current {
        None => events.push(landing(EventKind::Landed, false)),
        Some(v) if content_changed && !v.post.present => {
            events.push(landing(EventKind::Restored, true))
        }
        Some(_) if content_changed => events.push(landing(EventKind::Edited, false)),
        Some(_) => {}
    }
    if let Outcome::Broken { problems } = &c.outcome {
        if content_changed || current.is_some_and(|v| v.post.errors != *problems) {
            let detail = problems
                .iter()
                .map(Problem::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            events.push(post_event(EventKind::Invalid, detail));
        }
    }
    events
}

/// One network's delivery as this version of the post wants it.
fn desired_delivery(
    c: &Candidate,
    p: &PlannedDelivery,
    images: &[post::Image],
    hold: Option<&Hold>,
    old: Option<&DeliveryRecord>,
    content_changed: bool,
    now: DateTime<Utc>,
) -> DeliveryRecord {
    let (state, reason, facts) = match (&p.problem, hold) {
        (Some(problem), _) => {
            let facts = Facts::Invalid {
                problem: problem.clone(),
            };
            (State::Invalid, Some(facts.stored()), Some(facts))
        }
        (None, Some(hold)) => {
            let facts = Facts::Held { hold: hold.clone() };
            (State::Held, Some(facts.stored()), Some(facts))
        }
        (None, None) => (State::Scheduled, None, None),
    };
    let account = c.account.clone().unwrap_or_default();
    let publish_at = match (c.publish_at, old) {
        (Some(t), _) => t,
        // As soon as approved: keep the time it was first approved, unless it is only
        // being approved now.
        (None, Some(o)) if o.state == State::Scheduled && !content_changed => o.publish_at,
        (None, _) => now,
    };
    let mut d = DeliveryRecord {
        state,
        emergency: c.emergency.is_some(),
        no_card: c.no_card,
        images: images.to_vec(),
        last_error: reason,
        last_error_facts: facts,
        count: Some(TextCount {
            length: p.length,
            limit: p.limit,
        }),
        ..DeliveryRecord::new(&account, &p.network, &c.id, &p.text, publish_at)
    };
    let rest = p.parts.iter().skip(1);
    match p.style {
        Style::Replies => {
            let parts = rest.enumerate().map(|(i, part)| Part {
                text: part.text.clone(),
                key: d.part_key(i + 2),
                count: Some(TextCount {
                    length: part.length,
                    limit: p.limit,
                }),
                remote_id: None,
                remote_url: None,
                published_at: None,
            });
            d.parts = parts.collect();
        }
        Style::Messages(_) => d.messages = rest.map(|part| part.text.clone()).collect(),
        Style::Joined => {}
    }
    d
}

/// What planning one post writes, gathered network by network.
struct Plan<'a> {
    id: &'a str,
    actor: &'a Actor,
    content_changed: bool,
    deliveries: Vec<DeliveryRecord>,
    events: Vec<NewEvent>,
    /// The networks this version of the post names; the others are cancelled.
    wanted: HashSet<String>,
}

impl Plan<'_> {
    fn event(&self, kind: EventKind, network: &str, facts: Option<Facts>) -> NewEvent {
        NewEvent {
            post_id: self.id.to_string(),
            kind,
            network: Some(network.to_string()),
            detail: facts.as_ref().map(Facts::stored).unwrap_or_default(),
            actor: self.actor.clone(),
            facts,
            notify: Vec::new(),
        }
    }

    /// Plans one wanted delivery; `true` when it shows the post was edited after it went
    /// out.
    fn delivery(&mut self, old: Option<&DeliveryRecord>, desired: DeliveryRecord) -> bool {
        self.wanted.insert(desired.network.clone());
        let Some((record, event)) = plan_delivery(old, desired, self.content_changed, self.actor)
        else {
            return false;
        };
        let edited = event.kind == EventKind::EditedAfterPublish;
        self.events.push(event);
        self.deliveries.extend(record);
        edited
    }

    /// Nothing unsent may go out in a version nobody can read; the networks named before
    /// stay listed, as invalid, so the dashboard shows what is blocked.
    fn invalidate(&mut self, existing: &BTreeMap<&str, &DeliveryRecord>, problems: &[Problem]) {
        let facts = problems
            .first()
            .map(|p| Facts::Invalid { problem: p.clone() });
        for d in existing.values() {
            self.wanted.insert(d.network.clone());
            let blocked = d.state.is_unsent()
                && d.state != State::Invalid
                && (self.content_changed || d.state != State::Cancelled);
            if !blocked {
                continue;
            }
            let mut d = (*d).clone();
            d.state = State::Invalid;
            match &facts {
                Some(f) => d.set_error_facts(f.clone()),
                None => d.set_error(None),
            }
            self.events
                .push(self.event(EventKind::Invalid, &d.network, facts.clone()));
            self.deliveries.push(d);
        }
    }

    /// Cancels what was not sent to networks this version of the post no longer names.
    fn cancel_unwanted(&mut self, existing: &BTreeMap<&str, &DeliveryRecord>) {
        for d in existing.values() {
            let unwanted = !self.wanted.contains(&d.network);
            if !unwanted
                || !d.state.is_unsent()
                || matches!(d.state, State::Cancelled | State::Missed)
            {
                continue;
            }
            let mut d = (*d).clone();
            d.state = State::Cancelled;
            d.set_error(Some("the network was removed from the post".into()));
            self.events.push(self.event(
                EventKind::Cancelled,
                &d.network,
                Some(Facts::NetworkRemoved),
            ));
            self.deliveries.push(d);
        }
    }
}

/// A post whose file left the branch: what was not sent is cancelled.
pub fn plan_removal(current: Option<&PostView>, commit: &str) -> Option<PostChange> {
    let v = current?;
    if !v.post.present {
        return None;
    }
    let mut post = v.post.clone();
    post.present = false;
    let removed = Facts::FileRemoved {
        file: post.file.clone(),
        commit: commit[..commit.len().min(8)].to_string(),
    };
    let mut events = vec![NewEvent::stating(
        &post.id,
        EventKind::Removed,
        None,
        removed,
    )];
    let mut deliveries = Vec::new();
    for d in &v.deliveries {
        if d.partly_out() {
            // A thread half-way out: the rest is never sent; what is out stays.
            let mut d = d.clone();
            d.state = State::Failed;
            let why = "the post was removed from the branch while its thread was going out; \
                       the parts already out stay on the network"
                .to_string();
            d.set_error(Some(why.clone()));
            events.push(NewEvent::service(
                &post.id,
                EventKind::Failed,
                Some(&d.network),
                why,
            ));
            deliveries.push(d);
            continue;
        }
        if matches!(
            d.state,
            State::Scheduled | State::Held | State::Invalid | State::Retrying
        ) {
            let mut d = d.clone();
            d.state = State::Cancelled;
            d.set_error(Some(
                "the post was removed from the branch before it was sent".into(),
            ));
            events.push(NewEvent::stating(
                &post.id,
                EventKind::Cancelled,
                Some(&d.network),
                Facts::Removed,
            ));
            deliveries.push(d);
        }
    }
    Some(PostChange {
        post,
        deliveries,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::person::Person;

    fn person(email: &str) -> Person {
        Person {
            name: email.split('@').next().unwrap_or_default().into(),
            email: email.into(),
            at: Utc::now(),
        }
    }

    fn candidate(blob: &str, text: &str, publish_at: Option<DateTime<Utc>>) -> Candidate {
        Candidate {
            id: "posts/a".into(),
            file: "posts/a.md".into(),
            id_path: "posts/a.md".into(),
            blob: blob.into(),
            config_hash: "c".into(),
            title: "t".into(),
            account: Some("adachi".into()),
            department: None,
            publish_at,
            landing: Some(Landing {
                commit: "0123456789abcdef".into(),
                proposer: person("staff@city.example.jp"),
                approver: Some(person("chief@city.example.jp")),
                base: None,
                forge_merge: None,
                committer: None,
            }),
            outcome: Outcome::Ready {
                deliveries: vec![PlannedDelivery {
                    network: "portal".into(),
                    text: text.into(),
                    line: 6,
                    kind: crate::content::config::NetworkKind::Outbox,
                    length: 2,
                    limit: 100,
                    problem: None,
                    style: crate::content::thread::Style::Replies,
                    parts: vec![],
                }],
                images: vec![],
                hold: None,
                retract: false,
            },
            asks_emergency: false,
            no_card: false,
            emergency: None,
            slot_asked: None,
            slot: None,
        }
    }

    fn apply(current: Option<PostView>, change: &PostChange) -> PostView {
        let mut deliveries: BTreeMap<String, DeliveryRecord> = current
            .map(|v| {
                v.deliveries
                    .into_iter()
                    .map(|d| (d.network.clone(), d))
                    .collect()
            })
            .unwrap_or_default();
        for d in &change.deliveries {
            deliveries.insert(d.network.clone(), d.clone());
        }
        PostView {
            post: change.post.clone(),
            deliveries: deliveries.into_values().collect(),
        }
    }

    #[test]
    fn a_new_post_is_scheduled_at_its_time_with_provenance() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let change = plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap();
        assert_eq!(change.deliveries[0].state, State::Scheduled);
        assert_eq!(change.deliveries[0].due_at, at);
        assert_eq!(change.events[0].kind, "landed");
        assert!(change.events[0].detail.contains("approved by chief"));
        assert_eq!(
            change.post.approver.as_ref().unwrap().email,
            "chief@city.example.jp"
        );
    }

    #[test]
    fn an_unchanged_post_plans_nothing() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let c = candidate("b1", "本文", Some(at));
        let v = apply(None, &plan_post(None, &c, Utc::now()).unwrap());
        assert!(plan_post(Some(&v), &c, Utc::now()).is_none());
    }

    #[test]
    fn an_edit_before_publishing_reschedules() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        let later = at + chrono::Duration::hours(1);
        let change = plan_post(
            Some(&v),
            &candidate("b2", "新しい本文", Some(later)),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(change.deliveries[0].due_at, later);
        assert_eq!(change.deliveries[0].text, "新しい本文");
        assert!(change
            .events
            .iter()
            .any(|e| e.kind == EventKind::Rescheduled));
    }

    #[test]
    fn an_edit_after_publishing_is_flagged_not_resent() {
        let at = Utc::now() - chrono::Duration::minutes(1);
        let mut v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        v.deliveries[0].state = State::Published;
        let change = plan_post(Some(&v), &candidate("b2", "訂正", Some(at)), Utc::now()).unwrap();
        assert!(change.deliveries.is_empty());
        assert!(change.post.edited_after_publish);
        assert!(change
            .events
            .iter()
            .any(|e| e.kind == EventKind::EditedAfterPublish));
    }

    #[test]
    fn a_broken_edit_invalidates_what_was_not_sent() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        let mut broken = candidate("b2", "", None);
        broken.outcome = Outcome::Broken {
            problems: vec![Problem::new(
                "posts/a.md",
                3,
                "yaml",
                "bad".into(),
                "だめ".into(),
            )],
        };
        let change = plan_post(Some(&v), &broken, Utc::now()).unwrap();
        assert_eq!(change.deliveries[0].state, State::Invalid);
        assert_eq!(change.post.errors.len(), 1);
    }

    #[test]
    fn removal_cancels_only_what_was_not_sent() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let mut v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        let mut published = v.deliveries[0].clone();
        published.network = "x".into();
        published.state = State::Published;
        v.deliveries.push(published);
        let change = plan_removal(Some(&v), "abcdef0123").unwrap();
        assert!(!change.post.present);
        assert_eq!(change.deliveries.len(), 1);
        assert_eq!(change.deliveries[0].network, "portal");
        assert_eq!(change.deliveries[0].state, State::Cancelled);
    }

    #[test]
    fn a_held_post_is_released_by_a_later_approval() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let mut held = candidate("b1", "本文", Some(at));
        if let Outcome::Ready { hold, .. } = &mut held.outcome {
            *hold = Some(Hold::Direct {
                commit: "0123abcd".into(),
                by: "staff".into(),
            });
        }
        let v = apply(None, &plan_post(None, &held, Utc::now()).unwrap());
        assert_eq!(v.deliveries[0].state, State::Held);
        let change = plan_post(Some(&v), &candidate("b1", "本文", Some(at)), Utc::now()).unwrap();
        assert_eq!(change.deliveries[0].state, State::Scheduled);
    }
}
