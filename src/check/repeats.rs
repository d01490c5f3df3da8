//! `check`'s duplicate guard (`policy.duplicates`): `check` has no store, so "already
//! published" means a post on the branch whose time has passed within the window; the
//! posts under review are also compared with one another.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::content::config::NetworkKind;
use crate::content::policy::duplicates::{self, alike, skeleton};
use crate::content::problem::Problem;

/// One network's text of one post, as the guard compares it.
pub(super) struct Sent {
    pub path: String,
    pub shown: String,
    pub line: usize,
    pub account: String,
    pub network: String,
    pub kind: NetworkKind,
    pub at: Option<DateTime<Utc>>,
    /// Part of the change under review (else only compared against).
    pub reviewed: bool,
    /// The account's `policy.duplicates` window.
    pub window: Duration,
    pub skeleton: String,
}

impl Sent {
    pub fn text(mut self, text: &str) -> Sent {
        self.skeleton = skeleton(text);
        self
    }
}

/// A finding with the content path it belongs to.
type Found = (String, Problem);

/// The guard's findings, each with the content path it belongs to: errors (X) and
/// warnings (other networks).
pub(super) fn find(
    sent: &[Sent],
    now: DateTime<Utc>,
    zone: Option<Tz>,
) -> (Vec<Found>, Vec<Found>) {
    let mut by_network: BTreeMap<(&str, &str), Vec<&Sent>> = BTreeMap::new();
    for s in sent {
        by_network
            .entry((&s.account, &s.network))
            .or_default()
            .push(s);
    }
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for texts in by_network.values() {
        for r in texts.iter().filter(|s| s.reviewed) {
            let Some(earlier) = texts.iter().find_map(|e| repeated(r, e, now, zone)) else {
                continue;
            };
            let problem = duplicates::finding(&r.shown, r.line, &r.network, r.kind, &earlier);
            let list = if duplicates::is_error(r.kind) {
                &mut errors
            } else {
                &mut warnings
            };
            list.push((r.path.clone(), problem));
        }
    }
    (errors, warnings)
}

/// How `e` is described when `r` repeats it: another post of the change, or one whose time
/// passed within `r`'s window before `r` goes out.
fn repeated(r: &Sent, e: &Sent, now: DateTime<Utc>, zone: Option<Tz>) -> Option<String> {
    if e.path == r.path {
        return None;
    }
    let description = if e.reviewed {
        format!("{} (in this change)", e.shown)
    } else {
        let at = e.at.filter(|t| *t <= now)?;
        let due = r.at.unwrap_or(now).max(now);
        let window = chrono::Duration::from_std(r.window).unwrap_or(chrono::Duration::MAX);
        if at
            < due
                .checked_sub_signed(window)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        {
            return None;
        }
        let when = duplicates::when(at, zone);
        format!("{} (published {when})", e.shown)
    };
    alike(&r.skeleton, &e.skeleton).then_some(description)
}
