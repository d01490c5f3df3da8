//! What the dashboard's lists and counts and the metrics need to know of every post, kept
//! in memory between requests (`view_cache`) instead of whole posts.
//!
//! A whole post with its deliveries (texts, keys, provenance) takes about 4.5 KB in memory;
//! kept for 10,000 posts that was 45 MiB on top of an idle service of 27 MiB. A listing has
//! only what decides where a post is listed and how it is counted: its time, its department
//! and account, and each delivery's network, state and times. A page of posts is then read
//! whole from the store, a page at a time. Names repeat across posts (a few networks,
//! accounts and departments), so each is held once and shared.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::records::PostView;
use crate::model::records::{post_state, State};

#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub id: Box<str>,
    pub department: Option<Arc<str>>,
    pub account: Option<Arc<str>>,
    pub publish_at: Option<DateTime<Utc>>,
    pub has_errors: bool,
    pub edited_after_publish: bool,
    /// An emergency post let through (`PostRecord::emergency`).
    pub emergency: bool,
    /// The post's overall state (`delivery::post_state`).
    pub state: State,
    pub deliveries: Box<[DeliveryListing]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryListing {
    pub network: Arc<str>,
    pub account: Arc<str>,
    pub state: State,
    pub due_at: DateTime<Utc>,
    pub publish_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Which reason the delivery is in its state for, as a fingerprint of `last_error`:
    /// the dashboard lists deliveries of a post in one state for one reason as one item.
    pub reason: Option<u64>,
}

/// Each distinct name once (`Arc<str>` handed out again for the same text).
#[derive(Debug, Default)]
pub struct Names(BTreeSet<Arc<str>>);

impl Names {
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.0.insert(n.clone());
        n
    }
}

impl Listing {
    pub fn of(v: &PostView, names: &mut Names) -> Listing {
        let p = &v.post;
        Listing {
            id: p.id.as_str().into(),
            department: p.department.as_deref().map(|d| names.get(d)),
            account: p.account.as_deref().map(|a| names.get(a)),
            publish_at: p.publish_at,
            has_errors: !p.errors.is_empty(),
            edited_after_publish: p.edited_after_publish,
            emergency: p.emergency.is_some(),
            state: post_state(p, &v.deliveries),
            deliveries: v
                .deliveries
                .iter()
                .map(|d| DeliveryListing {
                    network: names.get(&d.network),
                    account: names.get(&d.account),
                    state: d.state,
                    due_at: d.due_at,
                    publish_at: d.publish_at,
                    published_at: d.published_at,
                    reason: d.last_error.as_deref().map(fingerprint),
                })
                .collect(),
        }
    }

    /// An emergency post still on its way to some network: the dashboard shows a banner
    /// and lists it first.
    pub fn emergency_in_flight(&self) -> bool {
        self.emergency
            && self.deliveries.iter().any(|d| {
                matches!(
                    d.state,
                    State::Scheduled | State::Publishing | State::Retrying
                )
            })
    }

    /// The post's time: its own, or (for a post sent on approval) its first delivery's.
    pub fn when(&self) -> Option<DateTime<Utc>> {
        self.publish_at
            .or_else(|| self.deliveries.first().map(|d| d.publish_at))
    }
}

fn fingerprint(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}
