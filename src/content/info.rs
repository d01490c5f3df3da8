//! What the dashboard needs to know of `oshirase.yaml`: the timezone to show times in, the
//! accounts with their networks, and who approves.
//!
//! The sync records it in the store's metadata with every sync (the store holds no
//! configuration otherwise), so `GET /api/info` answers from the configuration of the commit
//! that was last synced, also while a later sync fails. It never holds a secret: network
//! credentials are only ever named in `oshirase.yaml`, and even the names are left out.

use serde::{Deserialize, Serialize};

use crate::content::config::{Approval, RepoConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// An IANA name (`Asia/Tokyo`); `None` when the repository sets none.
    pub timezone: Option<String>,
    /// Every network is an outbox for this run (`serve --dry-run`, the demo).
    pub dry_run: bool,
    /// Due posts found later than this at start-up are `missed`.
    pub max_lateness_secs: u64,
    pub accounts: Vec<AccountInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub name: String,
    pub approval: ApprovalInfo,
    pub networks: Vec<NetworkInfo>,
    /// The names of its golden-time slots (`slots:`), for the desk's "next free slot".
    #[serde(default)]
    pub slots: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalInfo {
    /// `merge` or `branch`, as in `oshirase.yaml`.
    pub mode: String,
    /// The e-mail addresses whose merge approves a post (`merge` mode).
    pub approvers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    pub name: String,
    /// The network type as written (`x`, `facebook`, … `outbox`), also in a dry run.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text limit posts are checked against.
    pub limit: usize,
}

impl RepoInfo {
    /// `config` as written in the file, before any dry-run rewrite.
    pub fn from_config(config: &RepoConfig, dry_run: bool) -> RepoInfo {
        RepoInfo {
            timezone: config.timezone.map(|tz| tz.name().to_string()),
            dry_run,
            max_lateness_secs: config.max_lateness.as_secs(),
            accounts: config
                .accounts
                .values()
                .map(|a| AccountInfo {
                    name: a.name.clone(),
                    slots: a.slots.iter().map(|s| s.name.clone()).collect(),
                    approval: match &a.approval {
                        Approval::Branch => ApprovalInfo {
                            mode: "branch".into(),
                            approvers: Vec::new(),
                        },
                        Approval::Merge { approvers } => ApprovalInfo {
                            mode: "merge".into(),
                            approvers: approvers.clone(),
                        },
                    },
                    networks: a
                        .networks
                        .values()
                        .map(|n| NetworkInfo {
                            name: n.name.clone(),
                            kind: n.kind().as_str().to_string(),
                            limit: crate::content::count::limit(n),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// As stored in the metadata. Serialising plain strings and numbers cannot fail.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads what a sync stored; `None` before the first sync or for an unreadable value
    /// (the dashboard then shows times in the viewer's own timezone and says so).
    pub fn from_json(text: &str) -> Option<RepoInfo> {
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_the_configuration_without_credentials() {
        let config = RepoConfig::parse(
            "oshirase.yaml",
            "timezone: Asia/Tokyo\nmax_lateness: 2h\naccounts:\n  city:\n    approval: { mode: merge, approvers: [chief@city.example.jp] }\n    networks:\n      x: { type: x, credentials: X_CITY }\n      portal: { type: outbox, limit: 1000 }\n",
        )
        .unwrap();
        let info = RepoInfo::from_config(&config, false);
        assert_eq!(info.timezone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(info.max_lateness_secs, 7200);
        let city = &info.accounts[0];
        assert_eq!(city.approval.mode, "merge");
        assert_eq!(city.approval.approvers, ["chief@city.example.jp"]);
        let names: Vec<(&str, &str, usize)> = city
            .networks
            .iter()
            .map(|n| (n.name.as_str(), n.kind.as_str(), n.limit))
            .collect();
        assert_eq!(names, [("portal", "outbox", 1000), ("x", "x", 280)]);
        let json = info.to_json();
        assert!(!json.contains("X_CITY"), "{json}");
        assert_eq!(RepoInfo::from_json(&json), Some(info));
        assert_eq!(RepoInfo::from_json("{not json"), None);
    }
}
