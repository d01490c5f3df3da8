//! `GET /healthz`: what the sync loop, the fetch, the background tasks and the paused
//! networks say of the service, for probes (status only) and operators (details).

use chrono::{DateTime, Utc};

use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::web::reply::json_reply;
use crate::web::state::AppState;

/// What `/healthz` reports; the sync loop keeps it current.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub last_sync_commit: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The last sync's error, cleared by the next good sync.
    pub sync_error: Option<String>,
    /// The last fetch of a remote repository, and its error while fetching fails.
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub fetch_error: Option<String>,
    /// Failed fetches since the service started (for metrics).
    pub fetch_failures: u64,
    /// Sync durations and failures since the service started (for metrics).
    pub sync_stats: crate::web::metrics::SyncStats,
    /// The commit that landed the `oshirase.yaml` in force.
    pub config_commit: Option<String>,
    /// A change of `oshirase.yaml` on the branch that waits for approval.
    pub config_held: Option<crate::sync::config_approval::HeldConfig>,
    /// What the last sync found wrong outside any post: Markdown files that look meant to
    /// be posts but are not (empty, a forgotten `---`).
    pub sync_problems: Vec<crate::content::problem::Problem>,
    /// A background task that died (`src/cli/tasks.rs`): the service stops, and says why here
    /// until it has.
    pub task_failed: Option<String>,
}

/// Probes get the status and its HTTP code from anyone; the details (commit, errors,
/// paused networks) only with dashboard credentials.
pub fn healthz(state: AppState, full: bool) -> warp::reply::Response {
    let h = state
        .health
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let paused: Vec<Value> = state
        .paused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(network, p)| json!({ "network": network, "reason": p.reason, "since": p.since, "next_try_at": p.probe_at }))
        .collect();
    let ok = h.sync_error.is_none()
        && h.task_failed.is_none()
        && h.fetch_error.is_none()
        && h.last_sync_commit.is_some()
        && paused.is_empty();
    let body = json!({
        "status": if ok { "ok" } else { "error" },
        "last_sync_commit": h.last_sync_commit,
        "last_sync_at": h.last_sync_at,
        "sync_error": h.sync_error,
        "last_fetch_at": h.last_fetch_at,
        "fetch_error": h.fetch_error,
        "paused_networks": paused,
        "config_commit": h.config_commit,
        "config_held": h.config_held,
        "task_failed": h.task_failed,
        "sync_problems": h.sync_problems,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !full {
        return json_reply(status, &json!({ "status": body["status"] }));
    }
    json_reply(status, &body)
}
