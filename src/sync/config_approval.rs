//! Which `oshirase.yaml` is in force: a change to the configuration is approved like a post.
//!
//! The configuration decides who approves and where credentials go, so a push that edits it
//! must not be obeyed just because it is on the branch. In a repository with at least one
//! `approval: merge` account, a changed configuration takes effect only when it reached the
//! branch through a merge by an approver listed in the configuration **in force** (the last
//! approved one, not the branch before the merge, which an unapproved push may already have
//! changed), who is not the change's author. Until then the configuration in force stays,
//! and the unapproved version is reported as held with what it would change.
//!
//! Which approvers a change needs follows what it touches ([`requirements`]):
//! - an account's own settings (approval, proposers, networks) — that account's approvers,
//!   when it is in merge mode;
//! - a network that would use credentials a merge-mode account uses — that account's
//!   approvers too, so a branch-mode account cannot borrow them;
//! - a repository-wide key (timezone, lateness, retries), or a new account — an approver of
//!   any merge-mode account.
//!
//! This module is pure: [`judge`] takes the two configurations and how the new one landed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::content::config::{Account, Approval, NetworkConfig, RepoConfig};
use crate::git::repo::Landing;

/// An unapproved configuration on the branch: what the dashboard and `/healthz` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldConfig {
    /// The commit that brought the held version of `oshirase.yaml` to the branch.
    pub commit: String,
    /// Who wrote the change (`Name <email>`).
    pub pushed_by: String,
    /// Who merged it, when it came through a merge.
    pub merged_by: Option<String>,
    /// Why it is not in force.
    pub reason: String,
    /// What it would change, one line each.
    pub changes: Vec<String>,
    /// The commit whose configuration stays in force.
    pub in_force: String,
}

/// One difference between the configuration in force and a proposed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub scope: Scope,
    pub what: String,
}

/// Whose approval a change needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// A repository-wide key, or a new account.
    Repository,
    /// The settings of one account that exists in the configuration in force.
    Account(String),
    /// A network that would use these credentials (an account's, if one in merge mode
    /// uses them).
    Credentials(String),
}

/// Every difference between `old` and `new`, described for a person.
pub fn diff(old: &RepoConfig, new: &RepoConfig) -> Vec<ConfigChange> {
    let mut changes = Vec::new();
    let repo = |what: String| ConfigChange {
        scope: Scope::Repository,
        what,
    };
    if old.timezone != new.timezone {
        changes.push(repo(format!(
            "timezone: {} → {}",
            shown(old.timezone.map(|t| t.name().to_string())),
            shown(new.timezone.map(|t| t.name().to_string()))
        )));
    }
    if old.max_lateness != new.max_lateness {
        changes.push(repo(format!(
            "max_lateness: {} → {}",
            humantime::format_duration(old.max_lateness),
            humantime::format_duration(new.max_lateness)
        )));
    }
    if old.retry_for != new.retry_for {
        changes.push(repo(format!(
            "retry_for: {} → {}",
            humantime::format_duration(old.retry_for),
            humantime::format_duration(new.retry_for)
        )));
    }
    for (name, account) in &new.accounts {
        match old.accounts.get(name) {
            None => changes.push(repo(format!("new account `{name}`"))),
            Some(before) => changes.extend(account_diff(before, account)),
        }
        for net in account.networks.values() {
            let before = old
                .accounts
                .get(name)
                .and_then(|a| a.networks.get(&net.name));
            if let (Some(credentials), true) = (&net.credentials, before != Some(net)) {
                changes.push(ConfigChange {
                    scope: Scope::Credentials(credentials.clone()),
                    what: format!(
                        "accounts.{name}.networks.{} would use credentials {credentials}",
                        net.name
                    ),
                });
            }
        }
    }
    for name in old.accounts.keys() {
        if !new.accounts.contains_key(name) {
            changes.push(ConfigChange {
                scope: Scope::Account(name.clone()),
                what: format!("account `{name}` removed"),
            });
        }
    }
    changes
}

fn account_diff(old: &Account, new: &Account) -> Vec<ConfigChange> {
    let field = format!("accounts.{}", new.name);
    let change = |what: String| ConfigChange {
        scope: Scope::Account(new.name.clone()),
        what,
    };
    let mut changes = Vec::new();
    if old.approval != new.approval {
        changes.push(change(format!(
            "{field}.approval: {} → {}",
            approval_text(&old.approval),
            approval_text(&new.approval)
        )));
    }
    // Who may jump the queue, who may propose and what is checked are as much the
    // account's rules as its approvers: an unapproved push cannot widen them either.
    if old.emergency_approvers != new.emergency_approvers {
        changes.push(change(format!(
            "{field}.emergency.approvers: {} → {}",
            shown(Some(old.emergency_approvers.join(", ")).filter(|s| !s.is_empty())),
            shown(Some(new.emergency_approvers.join(", ")).filter(|s| !s.is_empty()))
        )));
    }
    if old.proposers != new.proposers {
        let list = |p: &Option<Vec<crate::content::config::Proposer>>| {
            p.as_ref()
                .map(|l| l.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))
        };
        changes.push(change(format!(
            "{field}.proposers: {} → {}",
            shown(list(&old.proposers)),
            shown(list(&new.proposers))
        )));
    }
    if old.policy != new.policy {
        changes.push(change(format!("{field}.policy changed")));
    }
    if old.slots != new.slots {
        changes.push(change(format!("{field}.slots changed")));
    }
    for (name, net) in &new.networks {
        match old.networks.get(name) {
            None => changes.push(change(format!(
                "{field}.networks.{name}: new `{}` network{}",
                net.kind(),
                target_text(net)
            ))),
            Some(before) if before != net => changes.push(change(format!(
                "{field}.networks.{name}: {}",
                network_diff(before, net).join(", ")
            ))),
            Some(_) => {}
        }
    }
    for name in old.networks.keys() {
        if !new.networks.contains_key(name) {
            changes.push(change(format!("{field}.networks.{name} removed")));
        }
    }
    changes
}

/// The keys of one network that differ, with old and new values (credential names and
/// hosts are names, never secrets, so they can be shown).
fn network_diff(old: &NetworkConfig, new: &NetworkConfig) -> Vec<String> {
    let mut parts = Vec::new();
    let mut field = |key: &str, a: Option<String>, b: Option<String>| {
        if a != b {
            parts.push(format!("{key} {} → {}", shown(a), shown(b)));
        }
    };
    field(
        "type",
        Some(old.kind().to_string()),
        Some(new.kind().to_string()),
    );
    field(
        "credentials",
        old.credentials.clone(),
        new.credentials.clone(),
    );
    field("base_url", old.base_url.clone(), new.base_url.clone());
    let (old_keys, new_keys) = (old.settings.keys(), new.settings.keys());
    let value = |keys: &[(&str, String)], key: &str| {
        keys.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    };
    for key in ["instance", "service", "page_id", "handle", "visibility"] {
        field(key, value(&old_keys, key), value(&new_keys, key));
    }
    field(
        "limit",
        old.limit.map(|l| l.to_string()),
        new.limit.map(|l| l.to_string()),
    );
    field(
        "rate",
        old.rate.map(|r| format!("{:?}", r)),
        new.rate.map(|r| format!("{:?}", r)),
    );
    if parts.is_empty() {
        parts.push("settings changed".into());
    }
    parts
}

fn approval_text(a: &Approval) -> String {
    match a {
        Approval::Branch => "branch".into(),
        Approval::Merge { approvers } => format!("merge by {}", approvers.join(", ")),
    }
}

fn target_text(net: &NetworkConfig) -> String {
    let target = net.base_url.as_deref().or(net.settings.address());
    let credentials = net
        .credentials
        .as_ref()
        .map(|c| format!(" with credentials {c}"))
        .unwrap_or_default();
    match target {
        Some(url) => format!(" at {}{credentials}", shown(Some(url.to_string()))),
        None => credentials,
    }
}

/// A value for a message, cut short: the configuration is untrusted input.
fn shown(value: Option<String>) -> String {
    match value {
        None => "(not set)".into(),
        Some(v) if v.chars().count() > 80 => {
            let head: String = v.chars().take(60).collect();
            format!("`{head}…` ({} characters)", v.chars().count())
        }
        Some(v) => format!("`{v}`"),
    }
}

/// One set of approvers of which the merge's author must be a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// What needs it, for the message ("account `adachi`").
    pub needed_for: String,
    pub approvers: BTreeSet<String>,
}

/// The approver sets a set of changes needs; empty when the configuration in force has no
/// merge-mode account (branch mode: the branch is the approval).
pub fn requirements(in_force: &RepoConfig, changes: &[ConfigChange]) -> Vec<Requirement> {
    let merge_approvers = |account: &Account| match &account.approval {
        Approval::Merge { approvers } => Some(approvers.iter().cloned().collect::<BTreeSet<_>>()),
        Approval::Branch => None,
    };
    let any_merge: BTreeSet<String> = in_force
        .accounts
        .values()
        .filter_map(merge_approvers)
        .flatten()
        .collect();
    if any_merge.is_empty() {
        return Vec::new();
    }
    let scopes: BTreeSet<&Scope> = changes.iter().map(|c| &c.scope).collect();
    let mut needed = Vec::new();
    for scope in scopes {
        match scope {
            Scope::Repository => needed.push(Requirement {
                needed_for: "a repository-wide change".into(),
                approvers: any_merge.clone(),
            }),
            Scope::Account(name) => {
                if let Some(approvers) = in_force.accounts.get(name).and_then(merge_approvers) {
                    needed.push(Requirement {
                        needed_for: format!("account `{name}`"),
                        approvers,
                    });
                }
            }
            Scope::Credentials(credentials) => {
                for account in in_force.accounts.values() {
                    let uses = account
                        .networks
                        .values()
                        .any(|n| n.credentials.as_ref() == Some(credentials));
                    if let (true, Some(approvers)) = (uses, merge_approvers(account)) {
                        needed.push(Requirement {
                            needed_for: format!(
                                "credentials {credentials} (used by account `{}`)",
                                account.name
                            ),
                            approvers,
                        });
                    }
                }
            }
        }
    }
    needed
}

/// Why a change to oshirase.yaml is not taken, written for the people who can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the commit that changed oshirase.yaml could not be found")]
    NoLanding,
    #[error(
        "commit {commit} by {by} changed oshirase.yaml directly, not through a merge by an \
         approver; the configuration in force stays until an approver merges the change"
    )]
    Direct { commit: String, by: String },
    #[error(
        "merge {commit} was made by {by}, who also wrote the change to oshirase.yaml; \
         another approver must merge it"
    )]
    OwnMerge { commit: String, by: String },
    #[error(
        "merge {commit} was made by {by}, who may not approve this change to oshirase.yaml \
         (approvers as in the configuration in force): {}",
        .missing.join("; ")
    )]
    NotApprover {
        commit: String,
        by: String,
        /// One "… needs one of …" per requirement the merger does not meet.
        missing: Vec<String>,
    },
}

/// Whether `proposed`, which reached the branch as `landing`, may replace `in_force`.
pub fn judge(
    in_force: &RepoConfig,
    proposed: &RepoConfig,
    landing: Option<&Landing>,
) -> Result<(), Refusal> {
    let changes = diff(in_force, proposed);
    let needed = requirements(in_force, &changes);
    if needed.is_empty() {
        return Ok(());
    }
    let Some(landing) = landing else {
        return Err(Refusal::NoLanding);
    };
    let commit = landing.commit[..landing.commit.len().min(8)].to_string();
    let Some(approver) = &landing.approver else {
        return Err(Refusal::Direct {
            commit,
            by: landing.proposer.to_string(),
        });
    };
    let by = approver.to_string();
    if approver.email == landing.proposer.email {
        return Err(Refusal::OwnMerge { commit, by });
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|r| !r.approvers.contains(&approver.email))
        .map(|r| {
            format!(
                "{} needs one of {}",
                r.needed_for,
                r.approvers.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Refusal::NotApprover {
            commit,
            by,
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::person::Person;

    const BASE: &str = "\
timezone: Asia/Tokyo
accounts:
  adachi:
    approval: { mode: merge, approvers: [chief@city.example.jp] }
    networks:
      x: { type: x, credentials: X_ADACHI }
      demo: { type: outbox }
";

    fn config(text: &str) -> RepoConfig {
        RepoConfig::parse("oshirase.yaml", text).unwrap()
    }

    fn person(email: &str) -> Person {
        Person {
            name: email.split('@').next().unwrap_or_default().into(),
            email: email.into(),
            at: chrono::Utc::now(),
        }
    }

    fn landing(proposer: &str, approver: Option<&str>) -> Landing {
        Landing {
            commit: "0123456789abcdef".into(),
            proposer: person(proposer),
            approver: approver.map(person),
            base: Some("fedcba9876543210".into()),
            forge_merge: None,
            committer: None,
        }
    }

    #[test]
    fn switching_merge_mode_off_by_a_direct_push_is_held() {
        let new = config(&BASE.replace(
            "{ mode: merge, approvers: [chief@city.example.jp] }",
            "{ mode: branch }",
        ));
        let e = judge(
            &config(BASE),
            &new,
            Some(&landing("staff@city.example.jp", None)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("directly"), "{e}");
        let changes = diff(&config(BASE), &new);
        assert!(
            changes[0]
                .what
                .contains("merge by chief@city.example.jp → branch"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_new_account_borrowing_credentials_needs_their_approvers() {
        let new = config(&format!(
            "{BASE}  side:\n    networks:\n      x: {{ type: x, credentials: X_ADACHI }}\n"
        ));
        let needed = requirements(&config(BASE), &diff(&config(BASE), &new));
        assert!(needed.iter().any(|r| r.needed_for.contains("X_ADACHI")));
        assert!(needed.iter().any(|r| r.needed_for.contains("repository")));
        // Merged by someone who is not an approver in force: held.
        let e = judge(
            &config(BASE),
            &new,
            Some(&landing(
                "staff@city.example.jp",
                Some("friend@city.example.jp"),
            )),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("chief@city.example.jp"), "{e}");
        // Merged by the approver in force: in force.
        judge(
            &config(BASE),
            &new,
            Some(&landing(
                "staff@city.example.jp",
                Some("chief@city.example.jp"),
            )),
        )
        .unwrap();
    }

    #[test]
    fn a_base_url_change_is_named_and_needs_the_account_approver() {
        let new = config(&BASE.replace(
            "credentials: X_ADACHI }",
            "credentials: X_ADACHI, base_url: \"http://capture.example:9\" }",
        ));
        let changes = diff(&config(BASE), &new);
        assert!(
            changes.iter().any(|c| c
                .what
                .contains("base_url (not set) → `http://capture.example:9`")),
            "{changes:?}"
        );
        assert!(judge(
            &config(BASE),
            &new,
            Some(&landing(
                "chief@city.example.jp",
                Some("chief@city.example.jp")
            ))
        )
        .unwrap_err()
        .to_string()
        .contains("also wrote"));
    }

    #[test]
    fn branch_mode_everywhere_approves_whatever_is_on_the_branch() {
        let old = config(&BASE.replace(
            "{ mode: merge, approvers: [chief@city.example.jp] }",
            "{ mode: branch }",
        ));
        let new = config(&old_text_with_timezone("Europe/Paris"));
        judge(&old, &new, Some(&landing("staff@city.example.jp", None))).unwrap();
    }

    fn old_text_with_timezone(tz: &str) -> String {
        BASE.replace(
            "{ mode: merge, approvers: [chief@city.example.jp] }",
            "{ mode: branch }",
        )
        .replace("Asia/Tokyo", tz)
    }

    #[test]
    fn a_repository_wide_key_needs_an_approver_of_a_merge_account() {
        let new = config(&BASE.replace("Asia/Tokyo", "Europe/Paris"));
        assert!(judge(
            &config(BASE),
            &new,
            Some(&landing("s@city.example.jp", None))
        )
        .is_err());
        judge(
            &config(BASE),
            &new,
            Some(&landing("s@city.example.jp", Some("chief@city.example.jp"))),
        )
        .unwrap();
    }

    #[test]
    fn an_unchanged_configuration_needs_nothing() {
        judge(&config(BASE), &config(BASE), None).unwrap();
    }
}
