//! Networks that refused their credentials: their deliveries wait, one probing now and
//! then, instead of each failing. Shared with `/healthz` and the dashboard, which only read it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long a delivery waits when its network is not configured any more or refuses the
/// credentials: long enough not to hammer, short enough to notice a fix.
pub const PARKED_DELAY: Duration = Duration::from_secs(5 * 60);

/// A network whose credentials were refused: its deliveries wait instead of each trying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub since: DateTime<Utc>,
    pub reason: String,
    /// When one delivery may try again, to see whether someone fixed the credentials.
    pub probe_at: DateTime<Utc>,
}

/// `"account/network"` → why it is paused; shared with `/healthz` and the dashboard.
pub type PausedNetworks = Arc<Mutex<BTreeMap<String, Paused>>>;

/// Whether a delivery to this network may try now. While paused, only one delivery per
/// probe interval goes through; the others are told when to look again.
pub fn may_try(
    paused: &PausedNetworks,
    account: &str,
    network: &str,
    now: DateTime<Utc>,
) -> Result<(), DateTime<Utc>> {
    let mut paused = paused.lock().unwrap_or_else(|e| e.into_inner());
    match paused.get_mut(&format!("{account}/{network}")) {
        None => Ok(()),
        Some(p) if now >= p.probe_at => {
            p.probe_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
            Ok(())
        }
        Some(p) => Err(p.probe_at),
    }
}

/// Records what an attempt says about the network's credentials: a refusal pauses it, any
/// other answer lifts the pause.
pub fn note_credentials(
    paused: &PausedNetworks,
    account: &str,
    network: &str,
    refused: Option<&str>,
    now: DateTime<Utc>,
) {
    let mut paused = paused.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{account}/{network}");
    match refused {
        None => {
            paused.remove(&key);
        }
        Some(reason) => {
            let probe_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
            let entry = paused.entry(key).or_insert_with(|| Paused {
                since: now,
                reason: reason.to_string(),
                probe_at,
            });
            entry.reason = reason.to_string();
            entry.probe_at = probe_at;
        }
    }
}
