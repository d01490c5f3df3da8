//! `oshirase resolve`: an operator settles a delivery nobody could settle automatically.
//!
//! A delivery is `unknown` when the process died mid-request to a network that has no
//! idempotency key and the network could not be asked. A person looks at the account and
//! says either "it is there" (with its URL) or "it is not" (then it is sent again with the
//! same key). Either way the audit log records who said so.

use chrono::Utc;

use crate::model::event::EventKind;
use crate::model::facts::Facts;
use crate::model::records::{Actor, DeliveryRecord, Event, NewEvent, State};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// It went out; here is where.
    Published { url: String },
    /// It did not go out: send it again.
    NotPublished,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no delivery of post `{post}` to `{network}`")]
    NoDelivery { post: String, network: String },
    #[error(
        "the delivery of `{post}` to `{network}` is `{state}`, not `unknown`; nothing was changed"
    )]
    NotUnknown {
        post: String,
        network: String,
        state: State,
    },
    #[error("--published {0}: give the http(s) address of the post on the network")]
    BadUrl(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A thread's part that was in flight is out at `url`: recorded as that part (its id taken
/// from the URL's last segment, as X and Mastodon addresses end in it), and the thread goes
/// on from the next part, or is published when that was the last.
fn resolve_part(d: &mut DeliveryRecord, url: &str, now: chrono::DateTime<Utc>) {
    let k = d.first_unpublished();
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let id = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_string);
    match k.checked_sub(1).and_then(|i| d.parts.get_mut(i)) {
        None => (d.remote_id, d.remote_url) = (id, Some(url.to_string())),
        Some(part) => {
            (part.remote_id, part.remote_url) = (id, Some(url.to_string()));
            part.published_at = Some(now);
        }
    }
    d.set_error(None);
    if d.first_unpublished() >= d.part_count() {
        d.state = State::Published;
        d.published_at = Some(now);
    } else {
        d.state = State::Retrying;
        d.due_at = now;
        d.next_attempt_at = Some(now);
    }
}

/// Settles one `unknown` delivery as `operator` says.
pub fn resolve(
    store: &Store,
    post: &str,
    network: &str,
    resolution: Resolution,
    operator: &str,
) -> Result<(DeliveryRecord, Vec<Event>), ResolveError> {
    if let Resolution::Published { url } = &resolution {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            return Err(ResolveError::BadUrl(url.clone()));
        }
    }
    let mut found_state = None;
    let actor = Actor::Operator(operator.to_string());
    let result = store.update_delivery(post, network, |d| {
        if d.state != State::Unknown {
            found_state = Some(d.state);
            return None;
        }
        let now = Utc::now();
        let facts = match &resolution {
            Resolution::Published { url } if !d.parts.is_empty() => {
                resolve_part(d, url, now);
                Facts::Resolved {
                    url: Some(url.clone()),
                }
            }
            Resolution::Published { url } => {
                d.state = State::Published;
                d.published_at = Some(now);
                d.remote_url = Some(url.clone());
                d.set_error(None);
                Facts::Resolved {
                    url: Some(url.clone()),
                }
            }
            Resolution::NotPublished => {
                // Sent again with the same key; lateness is not applied to a retry.
                d.state = State::Retrying;
                d.due_at = now;
                d.next_attempt_at = Some(now);
                d.set_error(None);
                Facts::Resolved { url: None }
            }
        };
        Some(vec![NewEvent {
            post_id: d.post_id.clone(),
            kind: EventKind::Resolved,
            network: Some(d.network.clone()),
            detail: facts.stored(),
            actor: actor.clone(),
            facts: Some(facts),
            notify: Vec::new(),
        }])
    })?;
    match (result, found_state) {
        (Some(done), _) => Ok(done),
        (None, Some(state)) => Err(ResolveError::NotUnknown {
            post: post.to_string(),
            network: network.to_string(),
            state,
        }),
        (None, None) => Err(ResolveError::NoDelivery {
            post: post.to_string(),
            network: network.to_string(),
        }),
    }
}
