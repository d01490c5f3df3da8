//! The records oshirase keeps: posts, one delivery per (post, network), and audit events.
//!
//! These are plain data with serde, stored as JSON values in redb (see `store`), served as
//! JSON by the API, and planned by `sync`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::content::post::Image;
use crate::content::problem::Problem;
use crate::model::event::EventKind;
use crate::model::facts::Facts;
use crate::model::person::Person;

/// Where a delivery stands; the moves between states are in `src/delivery/machine.rs`
/// and `src/sync/plan/delivery.rs` (see ARCHITECTURE.md, "The delivery state machine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Held,
    Scheduled,
    Publishing,
    Published,
    Retrying,
    Failed,
    Unknown,
    Cancelled,
    Missed,
    Retracted,
    Invalid,
}

impl State {
    /// The audit event that records a delivery entering this state.
    pub fn event_kind(self) -> EventKind {
        match self {
            State::Held => EventKind::Held,
            State::Scheduled => EventKind::Scheduled,
            State::Publishing => EventKind::Publishing,
            State::Published => EventKind::Published,
            State::Retrying => EventKind::Retrying,
            State::Failed => EventKind::Failed,
            State::Unknown => EventKind::Unknown,
            State::Cancelled => EventKind::Cancelled,
            State::Missed => EventKind::Missed,
            State::Retracted => EventKind::Retracted,
            State::Invalid => EventKind::Invalid,
        }
    }

    /// States a person must act on, most urgent first (the dashboard's order).
    pub const ATTENTION: [State; 5] = [
        State::Invalid,
        State::Held,
        State::Unknown,
        State::Failed,
        State::Missed,
    ];

    /// States still to go out.
    pub const UPCOMING: [State; 3] = [State::Scheduled, State::Retrying, State::Publishing];

    /// Every state, most urgent first: the order the dashboard ranks them in.
    pub const ALL: [State; 11] = [
        State::Invalid,
        State::Held,
        State::Unknown,
        State::Failed,
        State::Retrying,
        State::Publishing,
        State::Scheduled,
        State::Missed,
        State::Published,
        State::Cancelled,
        State::Retracted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Held => "held",
            State::Scheduled => "scheduled",
            State::Publishing => "publishing",
            State::Published => "published",
            State::Retrying => "retrying",
            State::Failed => "failed",
            State::Unknown => "unknown",
            State::Cancelled => "cancelled",
            State::Missed => "missed",
            State::Retracted => "retracted",
            State::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Position in the order that decides a post's overall state: what needs a person first.
    fn urgency(self) -> usize {
        State::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(usize::MAX)
    }

    /// Nothing has gone to the network yet and nothing is in flight, so the delivery may be
    /// changed freely (new text, new time, cancelled).
    pub fn is_unsent(self) -> bool {
        matches!(
            self,
            State::Held | State::Scheduled | State::Invalid | State::Cancelled | State::Missed
        )
    }

    /// The scheduler has work to do for the delivery at its `due_at`.
    pub fn is_due_kind(self) -> bool {
        matches!(self, State::Scheduled | State::Retrying)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A post's state: its deliveries' state when they agree, else the most urgent of them.
/// A post without deliveries is `invalid` when it has errors and `cancelled` otherwise.
pub fn post_state(post: &PostRecord, deliveries: &[DeliveryRecord]) -> State {
    if deliveries.is_empty() {
        return if post.errors.is_empty() {
            State::Cancelled
        } else {
            State::Invalid
        };
    }
    deliveries
        .iter()
        .map(|d| d.state)
        .min_by_key(|s| s.urgency())
        .unwrap_or(State::Invalid)
}

/// What oshirase knows about one post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostRecord {
    pub id: String,
    pub title: String,
    pub file: String,
    pub account: Option<String>,
    pub department: Option<String>,
    pub publish_at: Option<DateTime<Utc>>,
    pub proposer: Option<Person>,
    pub approver: Option<Person>,
    pub commit: Option<String>,
    /// The git blob of the version last synced, so an unchanged file is not parsed again.
    pub blob: String,
    /// Fingerprint of the configuration the post was last planned against.
    pub config_hash: String,
    /// Problems that keep the whole post from going out.
    #[serde(default)]
    pub errors: Vec<Problem>,
    /// False once the file has left the branch.
    pub present: bool,
    /// Set when the file changed after some network already published it.
    #[serde(default)]
    pub edited_after_publish: bool,
    /// An `emergency: true` post let through to go at once: by whom and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<Emergency>,
    /// The golden-time slot a `publish_at: next-slot` or `slot:` post took, chosen once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<SlotChoice>,
}

/// The slot a post took (`sync::slots`): kept so that restarts and re-syncs find the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotChoice {
    /// The slot's name in `accounts.<name>.slots`.
    pub name: String,
    /// That occurrence of it.
    pub at: DateTime<Utc>,
    /// What the post asked for: a slot by name, or `None` for any (`next-slot`).
    pub asked: Option<String>,
}

/// How an emergency post was let through (`sync::approval::emergency`), kept with the post
/// for the audit trail and the dashboard's banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    /// The approver who merged it, or the emergency approver who pushed it.
    pub by: Person,
    /// The commit that brought it (short form).
    pub commit: String,
    pub via: EmergencyRoute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmergencyRoute {
    /// Merged by one of the account's approvers (or emergency approvers).
    Merge,
    /// Pushed to the branch by one of the account's emergency approvers.
    DirectPush,
}

impl fmt::Display for EmergencyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmergencyRoute::Merge => "merge",
            EmergencyRoute::DirectPush => "direct push",
        })
    }
}

/// One network's copy of a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub post_id: String,
    pub network: String,
    pub account: String,
    pub state: State,
    /// Stable for the life of the delivery: the idempotency key sent to networks and the
    /// outbox, so a retry after a crash can never become a second post.
    pub key: String,
    /// When the scheduler should act: the publish time, or the next retry.
    pub due_at: DateTime<Utc>,
    /// The post's own publish time (or its approval time), which lateness is measured from.
    pub publish_at: DateTime<Utc>,
    pub text: String,
    #[serde(default)]
    pub images: Vec<Image>,
    pub attempts: u32,
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
    /// Why the delivery is where it is, when something went wrong; set with
    /// [`DeliveryRecord::set_error`] or [`DeliveryRecord::set_error_facts`].
    pub last_error: Option<String>,
    /// The same reason as facts, for the dashboard to word (`None` when only the text is
    /// known, such as a network's own message or a record from before facts were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_facts: Option<Facts>,
    pub published_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the adapter was last called (its lag behind `due_at` is what the scheduler's
    /// benchmark measures).
    #[serde(default)]
    pub called_at: Option<DateTime<Utc>>,
    /// An approved `retract: true` waits to delete this published delivery.
    #[serde(default)]
    pub retract_pending: bool,
    /// When that retract was approved: its retries are counted from here, as a publish's
    /// are from its publish time (`None` for records from before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retract_since: Option<DateTime<Utc>>,
    /// The text's length as this network counts it and the network's limit, as planned;
    /// `None` for deliveries recorded before oshirase kept them.
    #[serde(default)]
    pub count: Option<TextCount>,
    /// A delivery of an emergency post: the scheduler hands it out ahead of every other
    /// due delivery, still within the network's posting budget.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub emergency: bool,
    /// The post said `card: false`: its first link gets no card.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_card: bool,
    /// A thread's parts after the first, in order (the first is `text`, `key` and
    /// `remote_id` above). Each goes out as a reply to the part before it, with a key of
    /// its own, and is recorded as out before the next is sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// LINE: a thread's texts after the first, sent as further messages of the same
    /// broadcast.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// Only on the copy of one part handed to an adapter ([`DeliveryRecord::part`]): the
    /// posts this part replies to. Never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
}

/// One part of a thread after its first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub text: String,
    /// Stable like the delivery's own key, and distinct for every part.
    pub key: String,
    #[serde(default)]
    pub count: Option<TextCount>,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub remote_url: Option<String>,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
}

/// A post on a network, as oshirase recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    pub id: String,
    pub url: Option<String>,
}

/// What a part of a thread replies to: the thread's first post, and the part before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub root: Remote,
    pub parent: Remote,
}

/// A text's length as a network counts it, and that network's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCount {
    pub length: usize,
    pub limit: usize,
}

impl DeliveryRecord {
    /// Sets (or clears) the reason as text alone.
    pub fn set_error(&mut self, text: Option<String>) {
        self.last_error = text;
        self.last_error_facts = None;
    }

    /// Sets the reason from facts: their audit-log wording, and the facts beside it.
    pub fn set_error_facts(&mut self, facts: Facts) {
        self.last_error = Some(facts.stored());
        self.last_error_facts = Some(facts);
    }

    /// A `scheduled` delivery of `text` to `network` of `account`, due at `at`, with its
    /// stable key and nothing attempted yet. Callers change the few fields that differ
    /// (`DeliveryRecord { state, ..DeliveryRecord::new(…) }`), so a new field is added here
    /// once.
    pub fn new(
        account: &str,
        network: &str,
        post_id: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> DeliveryRecord {
        DeliveryRecord {
            post_id: post_id.to_string(),
            network: network.to_string(),
            account: account.to_string(),
            state: State::Scheduled,
            key: DeliveryRecord::key_for(account, network, post_id),
            due_at: at,
            publish_at: at,
            text: text.to_string(),
            images: Vec::new(),
            attempts: 0,
            remote_id: None,
            remote_url: None,
            last_error: None,
            last_error_facts: None,
            published_at: None,
            next_attempt_at: None,
            called_at: None,
            retract_pending: false,
            retract_since: None,
            count: None,
            emergency: false,
            no_card: false,
            parts: Vec::new(),
            messages: Vec::new(),
            reply_to: None,
        }
    }

    /// The key of part `k` (1-based, the first part being the delivery's own key).
    pub fn part_key(&self, k: usize) -> String {
        match k {
            0 | 1 => self.key.clone(),
            k => {
                let id = format!("{}\npart {k}", self.post_id);
                DeliveryRecord::key_for(&self.account, &self.network, &id)
            }
        }
    }

    /// How many parts the delivery has: 1 for a post that is not a thread.
    pub fn part_count(&self) -> usize {
        1 + self.parts.len()
    }

    /// The index (0 = the first) of the first part not known to be out; `part_count()`
    /// when every part is.
    pub fn first_unpublished(&self) -> usize {
        if self.remote_id.is_none() && self.remote_url.is_none() {
            return 0;
        }
        let rest = self.parts.iter().position(|p| p.remote_id.is_none());
        1 + rest.unwrap_or(self.parts.len())
    }

    /// Part `k` (0 = the first) as a delivery of its own, for an adapter: its text, its
    /// key, the images only on the first, and what it replies to. `None` when a part
    /// before it is not recorded as out (there is nothing to reply to yet).
    pub fn part(&self, k: usize) -> Option<DeliveryRecord> {
        let mut piece = DeliveryRecord {
            parts: Vec::new(),
            ..self.clone()
        };
        if k == 0 {
            return Some(piece);
        }
        let part = self.parts.get(k - 1)?;
        let root = self.remote()?;
        let parent = match k {
            1 => root.clone(),
            k => self.parts.get(k - 2).and_then(part_remote)?,
        };
        piece.text = part.text.clone();
        piece.key = part.key.clone();
        piece.count = part.count;
        piece.images = Vec::new();
        piece.remote_id = part.remote_id.clone();
        piece.remote_url = part.remote_url.clone();
        piece.reply_to = Some(ReplyTo { root, parent });
        Some(piece)
    }

    /// The first part's place on the network, once it is out.
    fn remote(&self) -> Option<Remote> {
        Some(Remote {
            id: self.remote_id.clone()?,
            url: self.remote_url.clone(),
        })
    }

    /// Every part that is out, as deliveries of their own, the last first: what a
    /// retract deletes (replies before the post they answer).
    pub fn published_parts(&self) -> Vec<DeliveryRecord> {
        let mut out: Vec<DeliveryRecord> = (1..self.part_count())
            .filter(|k| self.parts[k - 1].remote_id.is_some())
            .filter_map(|k| self.part(k))
            .collect();
        out.reverse();
        if self.remote_id.is_some() || self.remote_url.is_some() {
            out.extend(self.part(0));
        }
        out
    }
}

fn part_remote(part: &Part) -> Option<Remote> {
    Some(Remote {
        id: part.remote_id.clone()?,
        url: part.remote_url.clone(),
    })
}

impl DeliveryRecord {
    /// The scheduler has work to do for the delivery at its `due_at`.
    pub fn is_due(&self) -> bool {
        self.state.is_due_kind() || self.retracting()
    }

    /// An approved retract waits to delete what is on the network: a published post, or
    /// the parts of a thread that went out before it stopped (`failed`).
    pub fn retracting(&self) -> bool {
        self.retract_pending && matches!(self.state, State::Published | State::Failed)
    }

    /// Part of a thread is on the network though the thread did not finish.
    pub fn partly_out(&self) -> bool {
        !self.parts.is_empty()
            && (self.remote_id.is_some() || self.remote_url.is_some())
            && matches!(self.state, State::Failed | State::Retrying)
    }

    /// The key a delivery of `post_id` to `network` of `account` always has.
    pub fn key_for(account: &str, network: &str, post_id: &str) -> String {
        let digest = Sha256::digest(format!("oshirase/1\n{account}\n{network}\n{post_id}"));
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Everything one transaction writes for a post: the post, the deliveries that changed,
/// and the events that explain the change.
#[derive(Debug, Clone, PartialEq)]
pub struct PostChange {
    pub post: PostRecord,
    pub deliveries: Vec<DeliveryRecord>,
    pub events: Vec<NewEvent>,
}

/// Who caused an event, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "name")]
pub enum Actor {
    /// The service acting on its own (the scheduler, a sync).
    Service,
    /// A person through git: the proposer or approver of a commit.
    Git(String),
    /// An operator at the command line.
    Operator(String),
    /// A person signed in to the dashboard (their e-mail address, from the session).
    Desk(String),
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub post_id: String,
    pub kind: EventKind,
    pub network: Option<String>,
    pub detail: String,
    pub actor: Actor,
    /// What `detail` says, as facts for the dashboard to word (`None` for events whose
    /// detail is only text, and for events recorded before facts were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// The people the event is for (e-mail addresses): a proposal's approvers when it
    /// waits, its proposer when it is approved or sent back. Alerts go to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

/// An event before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub post_id: String,
    pub kind: EventKind,
    pub network: Option<String>,
    pub detail: String,
    pub actor: Actor,
    pub facts: Option<Facts>,
    /// See [`Event::notify`].
    pub notify: Vec<String>,
}

impl NewEvent {
    pub fn service(
        post_id: &str,
        kind: EventKind,
        network: Option<&str>,
        detail: String,
    ) -> NewEvent {
        NewEvent {
            post_id: post_id.to_string(),
            kind,
            network: network.map(str::to_string),
            detail,
            actor: Actor::Service,
            facts: None,
            notify: Vec::new(),
        }
    }

    /// An event of the service whose detail is `facts`, worded for the audit log.
    pub fn stating(
        post_id: &str,
        kind: EventKind,
        network: Option<&str>,
        facts: Facts,
    ) -> NewEvent {
        NewEvent {
            facts: Some(facts.clone()),
            ..NewEvent::service(post_id, kind, network, facts.stored())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(state: State) -> DeliveryRecord {
        DeliveryRecord {
            state,
            ..DeliveryRecord::new("a", "x", "p", "", Utc::now())
        }
    }

    fn post() -> PostRecord {
        PostRecord {
            id: "p".into(),
            title: "t".into(),
            file: "p.md".into(),
            account: None,
            department: None,
            publish_at: None,
            proposer: None,
            approver: None,
            commit: None,
            blob: String::new(),
            config_hash: String::new(),
            errors: vec![],
            present: true,
            edited_after_publish: false,
            emergency: None,
            slot: None,
        }
    }

    #[test]
    fn post_state_puts_what_needs_a_person_first() {
        let p = post();
        let both = [delivery(State::Published), delivery(State::Published)];
        assert_eq!(post_state(&p, &both), State::Published);
        let mixed = [
            delivery(State::Published),
            delivery(State::Failed),
            delivery(State::Scheduled),
        ];
        assert_eq!(post_state(&p, &mixed), State::Failed);
        let mixed = [delivery(State::Cancelled), delivery(State::Missed)];
        assert_eq!(post_state(&p, &mixed), State::Missed);
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = DeliveryRecord::key_for("adachi", "x", "posts/a");
        assert_eq!(a, DeliveryRecord::key_for("adachi", "x", "posts/a"));
        assert_ne!(a, DeliveryRecord::key_for("adachi", "facebook", "posts/a"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn deliveries_stored_before_counts_were_kept_still_load() {
        let mut old = serde_json::to_value(delivery(State::Scheduled)).unwrap();
        old.as_object_mut().unwrap().remove("count");
        let d: DeliveryRecord = serde_json::from_value(old).unwrap();
        assert_eq!(d.count, None);
    }

    #[test]
    fn states_round_trip_as_lowercase_names() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }
}

/// A post with its deliveries, as read in one transaction.
#[derive(Debug, Clone)]
pub struct PostView {
    pub post: PostRecord,
    pub deliveries: Vec<DeliveryRecord>,
}
