//! What an audit event or a delivery's reason says, as facts rather than a sentence.
//!
//! The audit log keeps its English `detail` with UTC times, the record an auditor or a
//! script reads (and the wording earlier versions wrote). Beside it the API gives these
//! facts (`facts`, `last_error_facts`), from which the dashboard writes the sentence in
//! the reader's language with times in the repository's time zone (web/js/facts.js,
//! `factsText`). A message from a network stays as the network wrote it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::problem::Problem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Facts {
    /// Scheduled: due at `at`.
    Due { at: DateTime<Utc> },
    /// Not sent: `late_secs` after `due_at`, beyond `max_lateness_secs`.
    Missed {
        due_at: DateTime<Utc>,
        late_secs: u64,
        max_lateness_secs: u64,
    },
    /// The network is not in the configuration in force; the delivery waits.
    NotConfigured,
    /// The adapter is called, for the `attempt`th time, with the delivery's key.
    Attempt { attempt: u32, key: String },
    /// Published at `place` (its address or id), `lag_ms` after its time.
    Published {
        place: String,
        lag_ms: i64,
        /// The commit of the configuration it went out under.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<String>,
        /// Found published when a restart settled a delivery in flight.
        #[serde(default)]
        settled_after_restart: bool,
    },
    /// Part `part` of a thread of `of` parts is out at `place`; the next part follows.
    PartPublished {
        part: usize,
        of: usize,
        place: String,
    },
    /// The network failed for now; tried again at `next_at`.
    Retrying {
        message: String,
        next_at: DateTime<Utc>,
    },
    /// The network kept failing until the next try would fall beyond `retry_for_secs`.
    GaveUp {
        message: String,
        attempts: u32,
        retry_for_secs: u64,
    },
    /// The network refused the post; retrying cannot help.
    Refused { message: String, attempts: u32 },
    /// The network refused the credentials; the delivery waits for an operator.
    CredentialsRefused { message: String },
    /// A restart interrupted the call; sent again with the same key.
    Resent,
    /// A restart interrupted the call and it cannot be known whether it went out.
    Interrupted { why: String },
    /// The post left the branch before this delivery was sent.
    Removed,
    /// The post cannot be used as it is; the problem is worded in both languages.
    Invalid { problem: Problem },
    /// An approved retract deletes the post from the network, for the `attempt`th time.
    Retracting { attempt: u32 },
    /// Deleted from the network.
    Retracted,
    /// The network would not delete it; a person must, there.
    RetractFailed { message: String },
    /// Who brought this version of `file` to the branch (`commit` shortened): proposed by
    /// `proposer`, approved by the merge's author, or pushed without a merge. `None`s when
    /// git could not tell. `back_on_branch`: the file had left the branch and returned.
    Landing {
        file: String,
        commit: Option<String>,
        proposer: Option<String>,
        approver: Option<String>,
        #[serde(default)]
        back_on_branch: bool,
    },
    /// Held for approval: why (see [`Hold`]).
    Held { hold: Hold },
    /// An emergency post let through: by whom (`by`, as git records them), through which
    /// commit and route (`merge` or `direct-push`).
    Emergency {
        by: String,
        commit: String,
        via: crate::model::records::EmergencyRoute,
    },
    /// The network was taken out of the post before this delivery was sent.
    NetworkRemoved,
    /// An approved `retract: true` came before this delivery was sent.
    RetractedBeforeSent,
    /// An approved `retract: true` asks to delete the published post.
    RetractRequested,
    /// A `retract: true` waits for approval.
    RetractHeld { hold: Hold },
    /// The post changed after this delivery became `state`; it is not sent again.
    EditedAfterPublish { state: String },
    /// The post's file left the branch at `commit`.
    FileRemoved { file: String, commit: String },
    /// An operator settled an `unknown` delivery: published at `url`, or not published
    /// (`url` absent) and sent again.
    Resolved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
}

/// Why a post in `mode: merge` waits for an approver (`sync::approval_hold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Hold {
    /// The commit that added this version was not found.
    NoLanding,
    /// A squash or rebase merge on the forge (`request`, e.g. `#12`): no merge commit.
    ForgeSquash {
        commit: String,
        by: String,
        request: String,
    },
    /// Pushed to the branch directly.
    Direct { commit: String, by: String },
    /// The branch had no earlier commit to read the approvers from.
    NoBase,
    /// The approver list before the merge cannot be read.
    BaseUnreadable { commit: String, error: String },
    /// Merged by someone who is not an approver of `account`.
    NotApprover {
        commit: String,
        by: String,
        account: String,
    },
    /// Merged by the person who proposed it.
    OwnMerge { commit: String, by: String },
    /// Proposed by someone `accounts.<name>.proposers` does not list.
    NotProposer {
        commit: String,
        by: String,
        account: String,
    },
    /// Marked `emergency: true` but neither merged by an approver nor pushed by one of the
    /// account's emergency approvers.
    Emergency {
        commit: String,
        by: String,
        account: String,
    },
    /// A reason this version does not know (recorded by a newer one).
    #[serde(other)]
    Unknown,
}

impl Hold {
    /// The English reason, as the audit log and `last_error` keep it.
    pub fn stored(&self) -> String {
        match self {
            Hold::NoLanding => "the commit that added this version could not be found".into(),
            Hold::ForgeSquash {
                commit,
                by,
                request,
            } => format!(
                "commit {commit} by {by} looks like a squash or rebase merge of {request} on \
                 the forge; such merges leave no merge commit, so git cannot show who approved \
                 it. Merge with \"Create a merge commit\", or use `approval: {{ mode: branch }}` \
                 with the forge's branch protection requiring review"
            ),
            Hold::Direct { commit, by } => format!(
                "commit {commit} by {by} reached the branch directly, not through a merge by \
                 an approver; merge it through a pull request approved by one of the \
                 account's approvers"
            ),
            Hold::NoBase => {
                "the branch had no earlier commit to read the approver list from".into()
            }
            Hold::BaseUnreadable { commit, error } => {
                format!("the approver list before merge {commit} cannot be read: {error}")
            }
            Hold::NotApprover {
                commit,
                by,
                account,
            } => format!(
                "merge {commit} was made by {by}, who is not an approver of account \
                 `{account}` (as listed before the merge and in the configuration in force)"
            ),
            Hold::OwnMerge { commit, by } => format!(
                "merge {commit} was made by {by}, who also proposed the change; another \
                 approver must merge it"
            ),
            Hold::NotProposer {
                commit,
                by,
                account,
            } => format!(
                "commit {commit} was proposed by {by}, who is not among the proposers of \
                 account `{account}` (`proposers:` in oshirase.yaml)"
            ),
            Hold::Emergency {
                commit,
                by,
                account,
            } => format!(
                "commit {commit} by {by} marks the post `emergency: true`, but only a merge by \
                 an approver of account `{account}` or a push by one of its emergency \
                 approvers (`accounts.{account}.emergency.approvers`) may publish an \
                 emergency post at once"
            ),
            Hold::Unknown => "held for approval".into(),
        }
    }
}

impl Facts {
    /// The English sentence kept in the audit log (times in UTC, RFC 3339).
    pub fn stored(&self) -> String {
        let dur = |secs: u64| humantime::format_duration(Duration::from_secs(secs)).to_string();
        match self {
            Facts::Due { at } => format!("due {}", at.to_rfc3339()),
            Facts::Missed {
                due_at,
                late_secs,
                max_lateness_secs,
            } => format!(
                "due at {}, {} late, beyond max_lateness {}; not sent",
                due_at.to_rfc3339(),
                dur(*late_secs),
                dur(*max_lateness_secs)
            ),
            Facts::NotConfigured => "the network is not in the current configuration".into(),
            Facts::Attempt { attempt, key } => format!("attempt {attempt} with key {key}"),
            Facts::Published {
                place,
                lag_ms,
                config,
                settled_after_restart,
            } => published_text(place, *lag_ms, config.as_deref(), *settled_after_restart),
            Facts::PartPublished { part, of, place } => {
                format!("part {part} of {of} published at {place}")
            }
            Facts::Retrying { message, next_at } => {
                format!("{message}; next attempt {}", next_at.to_rfc3339())
            }
            Facts::GaveUp {
                message,
                attempts,
                retry_for_secs,
            } => format!(
                "{message}; gave up after {attempts} attempts, the next would fall beyond \
                 retry_for ({} after its time)",
                dur(*retry_for_secs)
            ),
            Facts::Refused { message, attempts } => {
                format!("{message} (after {attempts} attempts)")
            }
            Facts::CredentialsRefused { message } => message.clone(),
            Facts::Resent => "interrupted by a restart; sent again with the same key".into(),
            Facts::Interrupted { why } => {
                format!("interrupted by a restart and {why}; a person must check the network")
            }
            Facts::Removed => "removed from the branch before it was sent".into(),
            Facts::Invalid { problem } => problem.to_string(),
            Facts::Retracting { attempt } => {
                format!("deleting it from the network (attempt {attempt})")
            }
            Facts::Retracted => "deleted from the network".into(),
            Facts::RetractFailed { message } => {
                format!("{message}; delete it on the network by hand")
            }
            Facts::Landing {
                file,
                commit,
                proposer,
                approver,
                back_on_branch,
            } => {
                let provenance = provenance_text(commit, proposer, approver);
                match back_on_branch {
                    true => format!("{file} is back on the branch; {provenance}"),
                    false => format!("{file}: {provenance}"),
                }
            }
            Facts::Held { hold } => hold.stored(),
            Facts::Emergency { by, commit, via } => format!(
                "emergency post let through by {by} ({via} {commit}): it goes at once, ahead \
                 of the queue"
            ),
            Facts::NetworkRemoved => {
                "the network was removed from the post before it was sent".into()
            }
            Facts::RetractedBeforeSent => "retracted before it was sent".into(),
            Facts::RetractRequested => "an approved `retract: true` asks to delete it".into(),
            Facts::RetractHeld { hold } => format!("retract not approved: {}", hold.stored()),
            Facts::EditedAfterPublish { state } => format!(
                "the post changed after this network's delivery became {state}; it is not \
                 sent again (delete or correct it on the network if needed)"
            ),
            Facts::FileRemoved { file, commit } => {
                format!("{file} is no longer on the branch (at {commit})")
            }
            Facts::Resolved { url: Some(url) } => {
                format!("an operator confirmed it is published at {url}")
            }
            Facts::Resolved { url: None } => {
                "an operator confirmed it was not published; sending it again".into()
            }
        }
    }
}

fn published_text(place: &str, lag_ms: i64, config: Option<&str>, after_restart: bool) -> String {
    let mut text = format!("{place} ({lag_ms} ms after its time)");
    if after_restart {
        text = format!("settled after a restart: {text}");
    }
    if let Some(config) = config {
        text.push_str(&format!("; configuration {config}"));
    }
    text
}

fn provenance_text(
    commit: &Option<String>,
    proposer: &Option<String>,
    approver: &Option<String>,
) -> String {
    match (commit, proposer, approver) {
        (Some(c), Some(p), Some(a)) => format!("commit {c}: proposed by {p}, approved by {a}"),
        (Some(c), Some(p), None) => format!("commit {c}: pushed by {p} (no merge)"),
        _ => "provenance unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_tagged_by_code_and_keep_the_audit_logs_wording() {
        let due_at: DateTime<Utc> = "2026-12-01T03:00:00Z".parse().unwrap();
        let missed = Facts::Missed {
            due_at,
            late_secs: 55_781,
            max_lateness_secs: 7_200,
        };
        let json = serde_json::to_value(&missed).unwrap();
        assert_eq!(json["code"], "missed");
        assert_eq!(json["late_secs"], 55_781);
        assert_eq!(
            missed.stored(),
            "due at 2026-12-01T03:00:00+00:00, 15h 29m 41s late, beyond max_lateness 2h; not sent"
        );
        let back: Facts = serde_json::from_value(json).unwrap();
        assert_eq!(back, missed);
        assert_eq!(
            serde_json::to_value(Facts::NotConfigured).unwrap()["code"],
            "not-configured"
        );
    }
}
