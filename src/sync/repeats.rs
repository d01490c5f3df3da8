//! `serve`'s duplicate guard (`policy.duplicates`): before a post's X delivery is
//! scheduled, its text is compared with what the store knows went out on the same account
//! and network within the window, and with texts already scheduled (in the store, or
//! planned earlier in this sync). A repeat makes that delivery `invalid`, naming the other
//! post, so a hurried second push of the same notice does not get the account suspended.
//! The first of two repeats to be planned keeps going; the other is the repeat.
//!
//! Only X is refused here; on other networks a repeat is the warning `check` and the desk
//! show.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::content::config::{Account, NetworkKind, RepoConfig};
use crate::content::policy::duplicates::{self, alike, skeleton};
use crate::model::records::{DeliveryRecord, PostView, State};
use crate::store::{Store, StoreError};
use crate::sync::plan::{Candidate, Outcome};

/// One text already out or due, as compared.
struct Sent {
    post_id: String,
    skeleton: String,
    /// When it went out, or is due.
    at: DateTime<Utc>,
    published: bool,
}

/// The texts of guarded accounts' networks, by (account, network).
pub(crate) struct SentTexts {
    texts: HashMap<(String, String), Vec<Sent>>,
}

impl SentTexts {
    /// What the store holds, when some account guards against repeats (else `None`: no
    /// scan of the deliveries at all).
    pub(crate) fn load(
        store: &Store,
        config: &RepoConfig,
    ) -> Result<Option<SentTexts>, StoreError> {
        let guarded = config
            .accounts
            .values()
            .any(|a| a.policy.as_ref().is_some_and(|p| p.duplicates.is_some()));
        if !guarded {
            return Ok(None);
        }
        let mut texts: HashMap<(String, String), Vec<Sent>> = HashMap::new();
        for state in [
            State::Published,
            State::Publishing,
            State::Retrying,
            State::Scheduled,
        ] {
            for d in store.deliveries_in(state)? {
                let entry = sent(&d);
                texts.entry((d.account, d.network)).or_default().push(entry);
            }
        }
        Ok(Some(SentTexts { texts }))
    }

    /// Marks the candidate's X deliveries that repeat an earlier text `invalid`, and
    /// remembers the texts it will send, for the posts planned after it.
    pub(crate) fn guard(
        &mut self,
        config: &RepoConfig,
        candidate: &mut Candidate,
        current: Option<&PostView>,
        now: DateTime<Utc>,
    ) {
        let Some(account) = candidate
            .account
            .as_deref()
            .and_then(|a| config.accounts.get(a))
        else {
            return;
        };
        let Some(window) = account.policy.as_ref().and_then(|p| p.duplicates) else {
            return;
        };
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let due = candidate.publish_at.unwrap_or(now);
        let Outcome::Ready {
            deliveries,
            hold,
            retract: false,
            ..
        } = &mut candidate.outcome
        else {
            return;
        };
        // A post waiting for approval may never go out: it is checked, not remembered.
        let remembered = hold.is_none();
        for d in deliveries.iter_mut().filter(|d| d.problem.is_none()) {
            let key = (account.name.clone(), d.network.clone());
            let list = self.texts.entry(key).or_default();
            list.retain(|s| s.post_id != candidate.id || s.published);
            let mine = skeleton(&d.text);
            // What already went out of this very post is not its repeat, and is not sent
            // again whatever its file now says.
            let already = current.is_some_and(|v| {
                v.deliveries.iter().any(|x| {
                    x.network == d.network
                        && !matches!(x.state, State::Scheduled | State::Held | State::Invalid)
                })
            });
            if already {
                continue;
            }
            // Within the window either side: whichever was planned first keeps going,
            // which stays true on every later sync (a repeat is never remembered).
            let earlier = list.iter().find(|s| {
                s.post_id != candidate.id
                    && (s.at - due).abs() <= window
                    && alike(&mine, &s.skeleton)
            });
            match earlier {
                Some(s) if duplicates::is_error(counted(account, &d.network, d.kind)) => {
                    let what = if s.published { "published" } else { "due" };
                    let when = duplicates::when(s.at, config.timezone);
                    let earlier = format!("post `{}` ({what} {when})", s.post_id);
                    d.problem = Some(duplicates::finding(
                        &candidate.file,
                        d.line,
                        &d.network,
                        NetworkKind::X,
                        &earlier,
                    ));
                }
                _ if remembered => list.push(Sent {
                    post_id: candidate.id.clone(),
                    skeleton: mine,
                    at: due,
                    published: false,
                }),
                _ => {}
            }
        }
    }
}

/// The network type whose rules apply: a dry run's outbox rehearses X's.
fn counted(account: &Account, network: &str, kind: NetworkKind) -> NetworkKind {
    account
        .networks
        .get(network)
        .map_or(kind, |n| n.counted_kind())
}

fn sent(d: &DeliveryRecord) -> Sent {
    let published = d.state == State::Published;
    Sent {
        post_id: d.post_id.clone(),
        skeleton: skeleton(&d.text),
        at: if published {
            d.published_at.unwrap_or(d.publish_at)
        } else {
            d.publish_at
        },
        // Publishing or retrying counts as out: it may already be on the network.
        published: d.state != State::Scheduled,
    }
}
