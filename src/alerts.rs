//! Alerts: tell people when something needs them, without anyone watching the dashboard.
//!
//! Every committed event whose kind needs a person (a delivery failed, became `unknown`,
//! was `missed` or `held`, a network refused its credentials, a retract failed) is posted
//! as JSON to the webhook in `OSHIRASE_ALERT_WEBHOOK_URL` — Slack, Teams, Discord or any
//! JSON endpoint. A failed alert is logged and dropped: alerts never hold up publishing.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::delivery::Event;
use crate::networks::http;
use crate::store::Store;

/// The secret holding the alert webhook's URL.
pub const ALERT_WEBHOOK: &str = "OSHIRASE_ALERT_WEBHOOK_URL";

/// Event kinds that need a person.
pub const ALERT_KINDS: [&str; 7] = [
    "failed",
    "unknown",
    "missed",
    "held",
    "credentials",
    "retract-failed",
    "retract-held",
];

/// The text of an alert, in Japanese and English (the office reads the first line).
pub fn message(e: &Event, title: &str) -> String {
    let ja = match e.kind.as_str() {
        "failed" => "送信に失敗しました",
        "unknown" => "送信されたか不明です（要確認）",
        "missed" => "予定時刻を過ぎたため送信しませんでした",
        "held" => "承認待ちで保留中です",
        "credentials" => "認証情報が拒否されました",
        "retract-failed" => "削除に失敗しました",
        "retract-held" => "削除が承認待ちです",
        _ => "要対応",
    };
    let network = e
        .network
        .as_deref()
        .map(|n| format!(" → {n}"))
        .unwrap_or_default();
    format!(
        "[oshirase] {ja}: 「{title}」{network}\n{} ({}){network}: {}",
        e.kind, e.post_id, e.detail
    )
}

/// Posts alerts for the events `events` receives until `shutdown`. The caller subscribes
/// before the first sync, so what start-up finds is announced too.
pub async fn run(
    store: Arc<Store>,
    mut events: broadcast::Receiver<Event>,
    url: String,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = shutdown.changed() => return,
        };
        let e = match event {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("alerts: {n} events were missed while busy");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if !ALERT_KINDS.contains(&e.kind.as_str()) {
            continue;
        }
        let title = crate::store::title_of(&store, &e.post_id).await;
        let text = message(&e, &title);
        let body = json!({
            "text": text,
            "content": text,
            "oshirase": { "kind": e.kind, "post_id": e.post_id, "network": e.network, "detail": e.detail, "at": e.at },
        });
        match http::client().post(&url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!("alert webhook answered HTTP {}", r.status()),
            Err(err) => tracing::warn!("alert webhook: {}", err.without_url()),
        }
    }
}
