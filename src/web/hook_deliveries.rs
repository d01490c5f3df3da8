//! Webhook deliveries already acted on, so that a forge sending one again (its retry after
//! a timeout, a redelivery by hand) triggers one fetch, not two.
//!
//! Each forge names a delivery in a header: GitHub `X-GitHub-Delivery`, Gitea
//! `X-Gitea-Delivery` (it also sends GitHub's), GitLab `Idempotency-Key` (the same on every
//! retry of one event) or else `X-Gitlab-Event-UUID`. Only authenticated deliveries are
//! remembered: the id header is not covered by the signature, and a delivery refused for
//! its signature must not keep its good retry out. Memory is bounded: the oldest ids are
//! forgotten first.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use warp::http::HeaderMap;

use crate::web::hooks::HookDialect;

/// Ids kept; a forge retries within minutes, and a push every few seconds for a day is
/// still far below this.
pub const REMEMBERED: usize = 4096;
/// Longer ids are not remembered (forges send UUIDs, 36 characters).
const MAX_ID: usize = 128;

/// The id a forge gave this delivery, if it gave one of a sensible size.
pub fn delivery_id(forge: HookDialect, headers: &HeaderMap) -> Option<&str> {
    let names: &[&str] = match forge {
        HookDialect::GitHub => &["x-github-delivery"],
        HookDialect::Gitea => &["x-gitea-delivery", "x-github-delivery"],
        HookDialect::GitLab => &["idempotency-key", "x-gitlab-event-uuid"],
    };
    names
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .map(str::trim)
        .find(|id| !id.is_empty() && id.len() <= MAX_ID)
}

/// The most recent delivery ids acted on.
#[derive(Debug, Default)]
pub struct RecentDeliveries {
    inner: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<(HookDialect, String)>,
    known: HashSet<(HookDialect, String)>,
}

impl RecentDeliveries {
    /// Records the delivery; false when it was already recorded (a repeat).
    pub fn first_time(&self, forge: HookDialect, id: &str) -> bool {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (forge, id.to_string());
        if r.known.contains(&key) {
            return false;
        }
        if r.order.len() >= REMEMBERED {
            if let Some(oldest) = r.order.pop_front() {
                r.known.remove(&oldest);
            }
        }
        r.order.push_back(key.clone());
        r.known.insert(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn each_forge_names_its_deliveries_in_its_own_header() {
        let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
        let h = headers(&[("x-github-delivery", id)]);
        assert_eq!(delivery_id(HookDialect::GitHub, &h), Some(id));
        assert_eq!(delivery_id(HookDialect::GitLab, &h), None);
        // Gitea sends its own and GitHub's; its own wins.
        let h = headers(&[
            ("x-gitea-delivery", "gitea-1"),
            ("x-github-delivery", "gh-1"),
        ]);
        assert_eq!(delivery_id(HookDialect::Gitea, &h), Some("gitea-1"));
        let h = headers(&[("x-github-delivery", "gh-1")]);
        assert_eq!(delivery_id(HookDialect::Gitea, &h), Some("gh-1"));
        // GitLab: the idempotency key stays the same on retries; the event UUID otherwise.
        let h = headers(&[
            ("idempotency-key", "key-1"),
            ("x-gitlab-event-uuid", "ev-1"),
        ]);
        assert_eq!(delivery_id(HookDialect::GitLab, &h), Some("key-1"));
        let h = headers(&[("x-gitlab-event-uuid", "ev-1")]);
        assert_eq!(delivery_id(HookDialect::GitLab, &h), Some("ev-1"));
        // Empty or oversized ids are no ids.
        let h = headers(&[("x-github-delivery", " ")]);
        assert_eq!(delivery_id(HookDialect::GitHub, &h), None);
        let long = "a".repeat(MAX_ID + 1);
        let h = headers(&[("x-github-delivery", &long)]);
        assert_eq!(delivery_id(HookDialect::GitHub, &h), None);
    }

    #[test]
    fn a_repeat_is_recognised_per_forge_and_the_oldest_ids_are_forgotten() {
        let recent = RecentDeliveries::default();
        assert!(recent.first_time(HookDialect::GitHub, "a"));
        assert!(!recent.first_time(HookDialect::GitHub, "a"));
        assert!(
            recent.first_time(HookDialect::Gitea, "a"),
            "another forge's id"
        );
        for i in 0..REMEMBERED {
            assert!(recent.first_time(HookDialect::GitLab, &i.to_string()));
        }
        let r = recent.inner.lock().unwrap();
        assert_eq!(r.order.len(), REMEMBERED);
        assert_eq!(r.known.len(), REMEMBERED);
        drop(r);
        assert!(
            recent.first_time(HookDialect::GitHub, "a"),
            "forgotten, oldest first"
        );
        assert!(!recent.first_time(HookDialect::GitLab, &(REMEMBERED - 1).to_string()));
    }
}
