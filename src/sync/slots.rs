//! Golden-time slots in `serve`: a post written with `publish_at: next-slot` or `slot:`
//! takes the first free occurrence of its account's `slots:` at or after the time it was
//! approved, once; the choice is kept in its record ([`SlotChoice`]), so restarts, re-syncs
//! and edits before it goes out find the same time. No two posts of an account hold one
//! occurrence beyond the slot's `max`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::content::config::RepoConfig;
use crate::content::problem::Problem;
use crate::content::slots;
use crate::model::records::{PostView, SlotChoice, State};
use crate::store::{Store, StoreError};
use crate::sync::plan::{Candidate, Outcome};

/// An occurrence: (account, slot name, instant in ms).
type Occurrence = (String, String, i64);

/// Which posts hold each occurrence of every account's slots.
pub(crate) struct SlotBook {
    taken: HashMap<Occurrence, Vec<String>>,
}

impl SlotBook {
    /// The slots the store's posts hold, when some account has slots (else `None`: no
    /// scan of the posts at all).
    pub(crate) fn load(store: &Store, config: &RepoConfig) -> Result<Option<SlotBook>, StoreError> {
        if config.accounts.values().all(|a| a.slots.is_empty()) {
            return Ok(None);
        }
        let mut book = SlotBook {
            taken: HashMap::new(),
        };
        for v in store.posts()? {
            if let (Some(choice), Some(account)) = (&v.post.slot, &v.post.account) {
                if holds_its_slot(&v) {
                    book.take(account, choice, &v.post.id);
                }
            }
        }
        Ok(Some(book))
    }

    fn take(&mut self, account: &str, choice: &SlotChoice, post: &str) {
        let key = (
            account.to_string(),
            choice.name.clone(),
            choice.at.timestamp_millis(),
        );
        self.taken.entry(key).or_default().push(post.to_string());
    }

    /// Forgets what `post` held (it is planned again now).
    fn release(&mut self, post: &str) {
        for holders in self.taken.values_mut() {
            holders.retain(|p| p != post);
        }
    }

    fn count(&self, account: &str, slot: &str, at: DateTime<Utc>) -> u32 {
        let key = (account.to_string(), slot.to_string(), at.timestamp_millis());
        self.taken.get(&key).map_or(0, |holders| {
            u32::try_from(holders.len()).unwrap_or(u32::MAX)
        })
    }

    /// Gives a slot post that may go its time: the one it already holds, or the first free
    /// occurrence at or after its approval. A post that waits for approval holds none.
    pub(crate) fn place(
        &mut self,
        config: &RepoConfig,
        c: &mut Candidate,
        current: Option<&PostView>,
        now: DateTime<Utc>,
    ) {
        self.release(&c.id);
        let Some(asked) = c.slot_asked.clone() else {
            return;
        };
        let Ok(account) = config.account(c.account.as_deref()) else {
            return;
        };
        if !matches!(
            c.outcome,
            Outcome::Ready {
                hold: None,
                retract: false,
                ..
            }
        ) || c.emergency.is_some()
        {
            return;
        }
        let kept = current
            .and_then(|v| v.post.slot.clone())
            .filter(|s| s.asked == asked && account.slots.iter().any(|a| a.name == s.name));
        let choice = match kept {
            Some(choice) => choice,
            None => {
                let Some(tz) = config.timezone else {
                    return; // `slots:` is refused without a time zone.
                };
                let approved = approval_time(c).min(now);
                let found =
                    slots::first_free(&account.slots, asked.as_deref(), approved, tz, |s, t| {
                        self.count(&account.name, s, t)
                    });
                let Some((name, at)) = found else {
                    c.outcome = Outcome::Broken {
                        problems: vec![no_free_slot(c, asked.as_deref())],
                    };
                    return;
                };
                SlotChoice { name, at, asked }
            }
        };
        self.take(&account.name, &choice, &c.id);
        c.publish_at = Some(choice.at);
        c.slot = Some(choice);
    }
}

/// A post keeps its slot while it is on the branch and something of it is still to go or
/// went out in it.
fn holds_its_slot(v: &PostView) -> bool {
    v.post.present
        && v.deliveries
            .iter()
            .any(|d| !matches!(d.state, State::Cancelled | State::Invalid | State::Held))
}

/// When the version was approved: its merge, or the commit that brought it.
fn approval_time(c: &Candidate) -> DateTime<Utc> {
    let Some(landing) = &c.landing else {
        return Utc::now();
    };
    match (&landing.approver, &landing.committer) {
        (Some(approver), _) => approver.at,
        (None, Some(committer)) => committer.at,
        (None, None) => landing.proposer.at,
    }
}

fn no_free_slot(c: &Candidate, asked: Option<&str>) -> Problem {
    let which = asked.map_or_else(|| "any slot".to_string(), |n| format!("slot `{n}`"));
    Problem::new(
        &c.file,
        1,
        "no-free-slot",
        format!("{which} of the account has no free time within a year; give `publish_at` a time"),
        format!(
            "1年以内に空いている枠（{}）がありません。`publish_at` に日時を書いてください",
            asked.unwrap_or("すべて")
        ),
    )
}
