//! Posts and audit events as the API shows them (README, "HTTP"); `oshirase status
//! --format json` prints the same shapes.

use chrono::{DateTime, Utc};

use serde::Serialize;
use serde_json::{json, Value};

use crate::content::post::Image;
use crate::git::forge::Forge;
use crate::model::records::PostView;
use crate::model::records::{post_state, Event, Part, State};

#[derive(Serialize)]
struct DeliveryJson<'a> {
    network: &'a str,
    state: State,
    attempts: u32,
    remote_id: Option<&'a str>,
    remote_url: Option<&'a str>,
    last_error: Option<&'a str>,
    /// `last_error` as facts, for the dashboard to word in its language (`src/model/facts.rs`).
    last_error_facts: Option<&'a crate::model::facts::Facts>,
    published_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    due_at: DateTime<Utc>,
    text: &'a str,
    /// The text's length as the network counts it and its limit; `null` when not recorded.
    length: Option<usize>,
    limit: Option<usize>,
    images: &'a [Image],
    /// A delivery of an emergency post, handed out ahead of the others.
    emergency: bool,
    /// A thread's parts after the first (`text`), in order: each one's text, key, count
    /// and, once out, where it is. Left out for a post of one part.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    parts: &'a [Part],
    /// LINE's further messages of a thread's broadcast.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    messages: &'a [String],
}

/// A post as the API shows it (README, "HTTP").
pub fn post_json(v: &PostView) -> Value {
    let p = &v.post;
    let deliveries: Vec<DeliveryJson<'_>> = v
        .deliveries
        .iter()
        .map(|d| DeliveryJson {
            network: &d.network,
            state: d.state,
            attempts: d.attempts,
            remote_id: d.remote_id.as_deref(),
            remote_url: d.remote_url.as_deref(),
            last_error: d.last_error.as_deref(),
            last_error_facts: d.last_error_facts.as_ref(),
            published_at: d.published_at,
            next_attempt_at: d.next_attempt_at,
            due_at: d.due_at,
            text: &d.text,
            length: d.count.map(|c| c.length),
            limit: d.count.map(|c| c.limit),
            images: &d.images,
            emergency: d.emergency,
            parts: &d.parts,
            messages: &d.messages,
        })
        .collect();
    json!({
        "id": p.id,
        "title": p.title,
        "file": p.file,
        "account": p.account,
        "department": p.department,
        "publish_at": p.publish_at,
        "proposer": p.proposer.as_ref().map(ToString::to_string),
        "proposed_at": p.proposer.as_ref().map(|x| x.at),
        "approver": p.approver.as_ref().map(ToString::to_string),
        "approved_at": p.approver.as_ref().map(|x| x.at),
        "commit": p.commit,
        "state": post_state(p, &v.deliveries),
        "on_branch": p.present,
        "edited_after_publish": p.edited_after_publish,
        "emergency": p.emergency.as_ref().map(|e| json!({
            "by": e.by.to_string(),
            "at": e.by.at,
            "commit": e.commit,
            "via": e.via,
        })),
        "slot": p.slot.as_ref().map(|s| json!({ "name": s.name, "at": s.at })),
        "errors": p.errors,
        "deliveries": deliveries,
    })
}

/// Where the post's commit and file are on the forge: `{"forge", "commit", "file"}`, or
/// `null` when the remote is not on a known forge (see `forge`).
pub fn forge_links(forge: Option<&Forge>, commit: Option<&str>, file: &str) -> Value {
    let (Some(forge), Some(commit)) = (forge, commit) else {
        return Value::Null;
    };
    json!({
        "forge": forge.kind.as_str(),
        "repository": forge.web,
        "commit": forge.commit_url(commit),
        "file": forge.file_url(commit, file),
    })
}

pub fn event_json(e: &Event) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "post_id": e.post_id,
        "kind": e.kind,
        "network": e.network,
        "detail": e.detail,
        "facts": e.facts,
        "actor": e.actor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_links_only_for_a_known_forge_and_a_commit() {
        let sha = "89abcdef0123456789abcdef0123456789abcdef";
        let forge = Forge::from_remote("https://deploy:token@gitlab.com/city/posts.git");
        let links = forge_links(forge.as_ref(), Some(sha), "posts/a.md");
        assert_eq!(links["forge"], "gitlab");
        assert_eq!(links["repository"], "https://gitlab.com/city/posts");
        assert_eq!(
            links["commit"],
            format!("https://gitlab.com/city/posts/-/commit/{sha}")
        );
        assert_eq!(
            links["file"],
            format!("https://gitlab.com/city/posts/-/blob/{sha}/posts/a.md")
        );
        assert!(!links.to_string().contains("token"));
        assert_eq!(forge_links(forge.as_ref(), None, "posts/a.md"), Value::Null);
        assert_eq!(forge_links(None, Some(sha), "posts/a.md"), Value::Null);
    }
}
