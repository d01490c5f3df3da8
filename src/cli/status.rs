//! `oshirase status`: what the data directory holds, for an operator at a terminal.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::model::records::{post_state, State};
use crate::store::{self, Store, StoreError};
use crate::sync::config_approval::HeldConfig;
use crate::web::json::{event_json, post_json};

/// States that need a person to look.
const NEEDS_A_PERSON: [State; 5] = [
    State::Invalid,
    State::Held,
    State::Unknown,
    State::Failed,
    State::Missed,
];

/// Opens the store of `data_dir` without creating one where there is none, beside a
/// running service if there is one.
pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
    if !data_dir.join(store::DB_FILE).exists() {
        return Err(StoreError::Open {
            path: data_dir.join(store::DB_FILE),
            message: "there is no oshirase database here; pass the --data directory `serve` uses"
                .into(),
        });
    }
    Store::open_beside_service(data_dir)
}

/// The whole picture as JSON: counts, posts, and the audit log.
pub fn report_json(store: &Store) -> Result<Value, StoreError> {
    let posts = store.posts()?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &posts {
        for d in &v.deliveries {
            *counts.entry(d.state.as_str()).or_default() += 1;
        }
    }
    let events = store.events()?;
    Ok(json!({
        "last_sync_commit": store.meta(store::meta::LAST_SYNC_COMMIT)?,
        "last_sync_at": store.meta(store::meta::LAST_SYNC_AT)?,
        "deliveries_by_state": counts,
        "config_commit": store.meta(store::meta::CONFIG_IN_FORCE_COMMIT)?,
        "config_held": held_config(store)?,
        "posts": posts.iter().map(post_json).collect::<Vec<_>>(),
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
    }))
}

/// The unapproved change of `oshirase.yaml` the last sync held back, if any.
fn held_config(store: &Store) -> Result<Option<HeldConfig>, StoreError> {
    Ok(store
        .meta(store::meta::CONFIG_HELD)?
        .filter(|t| !t.is_empty())
        .and_then(|t| serde_json::from_str(&t).ok()))
}

/// A short report for a person: counts, then what needs attention with the reason.
pub fn report_human(store: &Store) -> Result<String, StoreError> {
    let posts = store.posts()?;
    let mut out = String::new();
    let commit = store
        .meta(store::meta::LAST_SYNC_COMMIT)?
        .unwrap_or_else(|| "(never)".into());
    let at = store.meta(store::meta::LAST_SYNC_AT)?.unwrap_or_default();
    out.push_str(&format!("last sync: {commit} {at}\n"));
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &posts {
        for d in &v.deliveries {
            *counts.entry(d.state.as_str()).or_default() += 1;
        }
    }
    out.push_str(&format!("posts: {}  deliveries:", posts.len()));
    for (state, n) in &counts {
        out.push_str(&format!(" {state}={n}"));
    }
    out.push('\n');
    let mut attention = Vec::new();
    for v in &posts {
        let state = post_state(&v.post, &v.deliveries);
        if v.deliveries.is_empty() && state == State::Invalid {
            for e in &v.post.errors {
                attention.push(format!("  invalid    {:<28} {e}", v.post.id));
            }
        }
        for d in &v.deliveries {
            if NEEDS_A_PERSON.contains(&d.state) {
                attention.push(format!(
                    "  {:<10} {:<28} {:<9} {}",
                    d.state.as_str(),
                    v.post.id,
                    d.network,
                    d.last_error.as_deref().unwrap_or("")
                ));
            }
        }
    }
    if let Some(held) = held_config(store)? {
        attention.insert(
            0,
            format!(
                "  held       oshirase.yaml at {} by {}: {}",
                &held.commit[..held.commit.len().min(8)],
                held.pushed_by,
                held.reason
            ),
        );
    }
    if attention.is_empty() {
        out.push_str("nothing needs a person\n");
    } else {
        out.push_str("needs a person:\n");
        for line in attention {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}
