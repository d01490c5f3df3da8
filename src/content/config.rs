//! `oshirase.yaml`, the repository's own configuration.
//!
//! It is read from the branch tip like any post, so it is untrusted input: the raw YAML is
//! deserialised with unknown keys rejected, then validated once into [`RepoConfig`], whose
//! types make the rest of the program unable to meet an unchecked value.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::content::brief::{self, quote};
use crate::content::network_config::{self, FieldError, RawNetwork};
pub use crate::content::network_config::{
    NetworkConfig, NetworkKind, NetworkSettings, Rate, Visibility,
};
use crate::content::policy::{Policy, RawPolicy};
use crate::content::yaml_limits;

/// The name of the configuration file at the content root.
pub const CONFIG_FILE: &str = "oshirase.yaml";

/// Default for `max_lateness` when the file does not set it.
pub const DEFAULT_MAX_LATENESS: Duration = Duration::from_secs(2 * 60 * 60);

/// Default for `retry_for` when the file does not set it: long enough to ride out a
/// network's outage of a few hours, short enough that a person hears of it the same day.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(6 * 60 * 60);

/// A problem in `oshirase.yaml`, naming the line when YAML knows it and the field otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    timezone: Option<String>,
    max_lateness: Option<String>,
    retry_for: Option<String>,
    /// The office's rules for every account (see `content::policy`).
    policy: Option<RawPolicy>,
    #[serde(default)]
    accounts: BTreeMap<String, RawAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    approval: Option<RawApproval>,
    /// Who may propose posts for the account; absent, anyone may.
    proposers: Option<Vec<String>>,
    /// Adds to or replaces the repository's `policy:` for this account.
    policy: Option<RawPolicy>,
    /// Who may publish an emergency post at once, even by a direct push.
    emergency: Option<RawEmergency>,
    /// The account's golden times (`content::slots`).
    slots: Option<Vec<crate::content::slots::RawSlot>>,
    #[serde(default)]
    networks: BTreeMap<String, RawNetwork>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmergency {
    approvers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    mode: String,
    #[serde(default)]
    approvers: Vec<String>,
}

/// The validated repository configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    /// Time zone for `publish_at` values written without an offset; `None` means such
    /// values are an error.
    pub timezone: Option<Tz>,
    pub max_lateness: Duration,
    /// How long after its time a delivery that keeps failing transiently is retried.
    pub retry_for: Duration,
    pub accounts: BTreeMap<String, Account>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub name: String,
    pub approval: Approval,
    /// `proposers:` — who may propose posts for the account (`None`: anyone).
    pub proposers: Option<Vec<Proposer>>,
    /// `policy:` as it applies to this account; `None` when neither the repository nor
    /// the account has one, and posts are checked as before policies existed.
    pub policy: Option<Policy>,
    /// `emergency: { approvers: [...] }` — lower-cased addresses of the people (a
    /// crisis-management section) whose direct push or merge of an `emergency: true` post
    /// publishes it at once (judged in `sync::approval::emergency`). Empty: nobody but
    /// the account's approvers, through a merge.
    pub emergency_approvers: Vec<String>,
    /// `slots:` — the golden times `publish_at: next-slot` and `slot:` take (empty: none).
    pub slots: Vec<crate::content::slots::Slot>,
    pub networks: BTreeMap<String, NetworkConfig>,
}

/// One entry of `proposers:`: an e-mail address, or a pattern in which `*` stands for any
/// run of characters (`*@city.example.jp`). Compared without case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposer(String);

impl Proposer {
    pub fn matches(&self, email: &str) -> bool {
        wildcard(self.0.as_bytes(), email.trim().to_lowercase().as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Account {
    /// Whether `email` may propose posts for this account.
    pub fn may_propose(&self, email: &str) -> bool {
        self.proposers
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p.matches(email)))
    }

    /// Whether `email` is one of the account's emergency approvers.
    pub fn is_emergency_approver(&self, email: &str) -> bool {
        let email = email.trim().to_lowercase();
        self.emergency_approvers.contains(&email)
    }

    /// The account's approvers, if it has any (`mode: merge`).
    pub fn approvers(&self) -> &[String] {
        match &self.approval {
            Approval::Merge { approvers } => approvers,
            Approval::Branch => &[],
        }
    }
}

/// `*` matches any run of bytes (none included); everything else itself.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| wildcard(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, tail)| t == c && wildcard(rest, tail)),
    }
}

fn validate_proposers(account: &str, raw: Vec<String>) -> Result<Vec<Proposer>, FieldError> {
    let field = format!("accounts.{account}.proposers");
    if raw.is_empty() {
        return Err((
            field,
            "an empty list lets nobody propose; remove the key to let anyone".into(),
        ));
    }
    raw.into_iter()
        .map(|p| {
            let p = p.trim().to_lowercase();
            let stars = p.matches('*').count();
            if !p.contains('@') || p.chars().any(char::is_whitespace) || stars > 2 {
                return Err((
                    field.clone(),
                    format!(
                        "{} is not an e-mail address or a pattern like *@city.example.jp",
                        quote(&p)
                    ),
                ));
            }
            Ok(Proposer(p))
        })
        .collect()
}

/// How a post on the branch counts as approved (README, "Choosing the approval mode";
/// judged in `src/sync/approval.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Whatever reaches the branch is approved; the forge's branch protection enforces review.
    Branch,
    /// Only a merge commit authored by one of these (lower-cased) e-mail addresses, who is
    /// not the post's proposer, approves a post.
    Merge { approvers: Vec<String> },
}

impl RepoConfig {
    /// Parses and validates the text of `oshirase.yaml`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<RepoConfig, ConfigError> {
        let err = |line: Option<usize>, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Before serde_yaml, which would spend time out of proportion to the size on some.
        yaml_limits::check(text, &yaml_limits::CONFIG).map_err(|e| err(e.line(), e.to_string()))?;
        let raw: RawConfig = if text.trim().is_empty() {
            return Err(err(
                None,
                "the file is empty; it needs at least `accounts:`".into(),
            ));
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                err(
                    e.location().map(|l| l.line()),
                    brief::cap_message(&e.to_string()),
                )
            })?
        };
        validate(raw).map_err(|(field, message)| {
            err(
                find_key_line(text, field.rsplit('.').next().unwrap_or(&field)),
                // A field path holds the names the file gave; a long one is shown cut.
                format!("{}: {message}", brief::cap(&field, MAX_FIELD_CHARS)),
            )
        })
    }

    /// The account a post names, or the only account when the post names none.
    pub fn account(&self, name: Option<&str>) -> Result<&Account, AccountError> {
        match name {
            Some(name) => self
                .accounts
                .get(name)
                .ok_or_else(|| AccountError::Unknown {
                    name: name.to_string(),
                    defined: join_keys(&self.accounts),
                }),
            None if self.accounts.len() == 1 => {
                Ok(self.accounts.values().next().expect("one account"))
            }
            None => Err(AccountError::NotNamed {
                count: self.accounts.len(),
                defined: join_keys(&self.accounts),
            }),
        }
    }

    /// Replaces every network with an outbox, for `serve --dry-run` and the demo.
    pub fn into_dry_run(mut self) -> RepoConfig {
        for account in self.accounts.values_mut() {
            for network in account.networks.values_mut() {
                *network = network.clone().into_rehearsal();
            }
        }
        self
    }
}

/// A post's `account:` that does not pick one account of oshirase.yaml.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("unknown account {}; oshirase.yaml defines: {defined}", quote(.name))]
    Unknown { name: String, defined: String },
    #[error("the repository has {count} accounts; name one with `account:` ({defined})")]
    NotNamed { count: usize, defined: String },
}

/// Field paths in messages are cut after this many characters.
const MAX_FIELD_CHARS: usize = 160;

/// The names of a map, for a message; a long list is cut (names are up to 64 characters).
fn join_keys<V>(map: &BTreeMap<String, V>) -> String {
    if map.is_empty() {
        return "(none)".into();
    }
    let names = map
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    brief::cap_message(&names)
}

/// The 1-based line on which `key:` first appears, to point at a field that YAML accepted
/// but validation did not.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let patterns = [
        format!(" {key}:"),
        format!("{{{key}:"),
        format!("{{ {key}:"),
    ];
    text.lines()
        .position(|line| {
            // A line shorter than the key cannot hold it; skipping those keeps a long key
            // (an account name of 100 KB) from costing its length on every line.
            if line.len() < key.len() {
                return false;
            }
            let t = line.trim_start();
            t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
                || patterns.iter().any(|p| t.contains(p.as_str()))
        })
        .map(|i| i + 1)
}

fn validate(raw: RawConfig) -> Result<RepoConfig, FieldError> {
    let timezone = match raw.timezone {
        None => None,
        Some(tz) => Some(tz.parse::<Tz>().map_err(|_| {
            (
                "timezone".to_string(),
                format!(
                    "{} is not an IANA time zone name (for example Asia/Tokyo)",
                    quote(&tz)
                ),
            )
        })?),
    };
    let max_lateness = match raw.max_lateness {
        None => DEFAULT_MAX_LATENESS,
        Some(text) => humantime::parse_duration(&text).map_err(|e| {
            (
                "max_lateness".to_string(),
                format!(
                    "{} is not a duration such as 30m, 2h or 1d ({})",
                    quote(&text),
                    brief::cap_message(&e.to_string())
                ),
            )
        })?,
    };
    let retry_for = match raw.retry_for {
        None => DEFAULT_RETRY_FOR,
        Some(text) => humantime::parse_duration(&text).map_err(|e| {
            (
                "retry_for".to_string(),
                format!(
                    "{} is not a duration such as 30m, 6h or 1d ({})",
                    quote(&text),
                    brief::cap_message(&e.to_string())
                ),
            )
        })?,
    };
    if raw.accounts.is_empty() {
        return Err(("accounts".into(), "at least one account is required".into()));
    }
    let policy = raw
        .policy
        .map(|p| Policy::validate("policy", p, &Policy::default()))
        .transpose()?;
    let mut accounts = BTreeMap::new();
    for (name, account) in raw.accounts {
        check_name(&format!("accounts.{name}"), &name)?;
        let approval = match account.approval {
            None => Approval::Branch,
            Some(a) => validate_approval(&name, a)?,
        };
        let proposers = account
            .proposers
            .map(|list| validate_proposers(&name, list))
            .transpose()?;
        let policy = match (account.policy, &policy) {
            (None, repo_wide) => repo_wide.clone(),
            (Some(raw), repo_wide) => Some(Policy::validate(
                &format!("accounts.{name}.policy"),
                raw,
                repo_wide.as_ref().unwrap_or(&Policy::default()),
            )?),
        };
        let emergency_approvers = match account.emergency {
            None => Vec::new(),
            Some(e) => addresses(&format!("accounts.{name}.emergency.approvers"), e.approvers)?,
        };
        let slots = match account.slots {
            None => Vec::new(),
            Some(raw) => {
                crate::content::slots::validate(&format!("accounts.{name}.slots"), raw, timezone)?
            }
        };
        if account.networks.is_empty() {
            return Err((
                format!("accounts.{name}.networks"),
                "the account has no networks".into(),
            ));
        }
        let mut networks = BTreeMap::new();
        for (net_name, net) in account.networks {
            let field = format!("accounts.{name}.networks.{net_name}");
            check_name(&field, &net_name)?;
            networks.insert(
                net_name.clone(),
                network_config::validate(&field, net_name, net)?,
            );
        }
        accounts.insert(
            name.clone(),
            Account {
                name,
                approval,
                proposers,
                policy,
                emergency_approvers,
                slots,
                networks,
            },
        );
    }
    Ok(RepoConfig {
        timezone,
        max_lateness,
        retry_for,
        accounts,
    })
}

/// Account and network names appear in file paths (`outbox/<account>/<network>.jsonl`) and
/// URLs, so they are kept to a safe alphabet.
fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err((
            field.to_string(),
            format!(
                "{} must be 1–64 ASCII letters, digits, `-` or `_`",
                quote(name)
            ),
        ))
    }
}

/// A non-empty list of e-mail addresses, lower-cased.
fn addresses(field: &str, raw: Vec<String>) -> Result<Vec<String>, FieldError> {
    if raw.is_empty() {
        return Err((
            field.to_string(),
            "the list needs at least one e-mail address".into(),
        ));
    }
    raw.into_iter()
        .map(|a| {
            let a = a.trim().to_lowercase();
            match a.contains('@') && !a.chars().any(char::is_whitespace) {
                true => Ok(a),
                false => Err((
                    field.to_string(),
                    format!("{} is not an e-mail address", quote(&a)),
                )),
            }
        })
        .collect()
}

fn validate_approval(account: &str, raw: RawApproval) -> Result<Approval, FieldError> {
    let field = format!("accounts.{account}.approval");
    match raw.mode.as_str() {
        "branch" => {
            if raw.approvers.is_empty() {
                Ok(Approval::Branch)
            } else {
                Err((
                    format!("{field}.approvers"),
                    "approvers only apply to `mode: merge`".into(),
                ))
            }
        }
        "merge" => {
            if raw.approvers.is_empty() {
                return Err((
                    format!("{field}.approvers"),
                    "`mode: merge` needs at least one approver e-mail address".into(),
                ));
            }
            let approvers = addresses(&format!("{field}.approvers"), raw.approvers)?;
            Ok(Approval::Merge { approvers })
        }
        other => Err((
            format!("{field}.mode"),
            format!(
                "{} is not an approval mode; use `branch` or `merge`",
                quote(other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
timezone: Asia/Tokyo
max_lateness: 2h
accounts:
  adachi:
    approval: { mode: merge, approvers: [Koho-Chief@city.example.jp] }
    networks:
      x:        { type: x, credentials: X_ADACHI }
      facebook: { type: facebook, page_id: \"1234567890\", credentials: FB_ADACHI }
      demo:     { type: outbox }
";

    #[test]
    fn parses_the_design_example() {
        let c = RepoConfig::parse("oshirase.yaml", EXAMPLE).unwrap();
        assert_eq!(c.timezone, Some(chrono_tz::Asia::Tokyo));
        assert_eq!(c.max_lateness, Duration::from_secs(7200));
        let a = c.account(None).unwrap();
        assert_eq!(
            a.approval,
            Approval::Merge {
                approvers: vec!["koho-chief@city.example.jp".into()]
            }
        );
        assert_eq!(a.networks["facebook"].kind(), NetworkKind::Facebook);
        assert_eq!(a.networks["demo"].kind(), NetworkKind::Outbox);
        assert_eq!(
            a.networks["x"].rate,
            Some(Rate {
                requests: 100,
                per: Duration::from_secs(900)
            })
        );
        assert_eq!(a.networks["demo"].rate, None);
    }

    #[test]
    fn a_rate_can_be_set_and_is_checked() {
        let text = EXAMPLE.replace(
            "demo:     { type: outbox }",
            "demo:     { type: outbox, rate: { requests: 3, per: 2s } }",
        );
        let c = RepoConfig::parse("oshirase.yaml", &text).unwrap();
        let rate = c.account(None).unwrap().networks["demo"].rate;
        assert_eq!(
            rate,
            Some(Rate {
                requests: 3,
                per: Duration::from_secs(2)
            })
        );
        let bad = EXAMPLE.replace(
            "demo:     { type: outbox }",
            "demo:     { type: outbox, rate: { requests: 0, per: 2s } }",
        );
        assert!(RepoConfig::parse("oshirase.yaml", &bad)
            .unwrap_err()
            .message
            .contains("rate"));
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let text = EXAMPLE.replace("max_lateness", "max-lateness");
        let e = RepoConfig::parse("oshirase.yaml", &text).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("max-lateness"), "{e}");
    }

    #[test]
    fn validation_errors_name_field_and_line() {
        let text = EXAMPLE.replace("type: x,", "type: twitter,");
        let e = RepoConfig::parse("oshirase.yaml", &text).unwrap_err();
        assert!(
            e.message.starts_with("accounts.adachi.networks.x.type"),
            "{e}"
        );
        assert!(e.message.contains("twitter"), "{e}");

        let text = EXAMPLE.replace("Asia/Tokyo", "Asia/Tokio");
        let e = RepoConfig::parse("oshirase.yaml", &text).unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn a_secret_in_credentials_is_refused_without_echoing_it() {
        let text = EXAMPLE.replace("X_ADACHI", "sk-live-abcdef123456");
        let e = RepoConfig::parse("oshirase.yaml", &text).unwrap_err();
        assert!(!e.message.contains("abcdef123456"), "{e}");
    }

    #[test]
    fn a_credential_named_like_the_servers_own_settings_is_refused() {
        for name in ["OSHIRASE_ALERT_WEBHOOK", "OSHIRASE_GIT", "OSHIRASE"] {
            let text = EXAMPLE.replace("X_ADACHI", name);
            let e = RepoConfig::parse("oshirase.yaml", &text).unwrap_err();
            assert!(
                e.message
                    .starts_with("accounts.adachi.networks.x.credentials")
                    && e.message.contains("OSHIRASE_"),
                "{e}"
            );
        }
        // A name that only contains the word is an ordinary credential.
        let text = EXAMPLE.replace("X_ADACHI", "X_OSHIRASE_ADACHI");
        assert!(RepoConfig::parse("oshirase.yaml", &text).is_ok());
    }

    #[test]
    fn account_lookup() {
        let c = RepoConfig::parse("oshirase.yaml", EXAMPLE).unwrap();
        assert!(c.account(Some("adachi")).is_ok());
        assert!(c
            .account(Some("nerima"))
            .unwrap_err()
            .to_string()
            .contains("adachi"));
    }

    #[test]
    fn dry_run_swaps_every_network_for_an_outbox() {
        let c = RepoConfig::parse("oshirase.yaml", EXAMPLE)
            .unwrap()
            .into_dry_run();
        let a = c.account(None).unwrap();
        assert!(a.networks.values().all(|n| n.kind() == NetworkKind::Outbox));
        assert!(a.networks.values().all(|n| n.credentials.is_none()));
    }
}

#[cfg(test)]
mod proposer_tests {
    use super::*;

    fn with_proposers(list: &str) -> Result<RepoConfig, ConfigError> {
        RepoConfig::parse(
            CONFIG_FILE,
            &format!(
                "accounts:\n  city:\n    proposers: {list}\n    networks:\n      p: {{ type: outbox }}\n"
            ),
        )
    }

    #[test]
    fn proposers_are_addresses_or_star_patterns_compared_without_case() {
        let c = with_proposers("[\"*@City.example.jp\", kojin@example.com]").unwrap();
        let city = &c.accounts["city"];
        assert!(city.may_propose("hanako@city.example.jp"));
        assert!(city.may_propose("Jiro@CITY.example.jp"));
        assert!(city.may_propose("kojin@example.com"));
        assert!(!city.may_propose("hanako@city.example.jp.evil.example"));
        assert!(!city.may_propose("someone@example.com"));
        let open = RepoConfig::parse(
            CONFIG_FILE,
            "accounts:\n  city:\n    networks:\n      p: { type: outbox }\n",
        )
        .unwrap();
        assert!(open.accounts["city"].may_propose("anyone@example.org"));
    }

    #[test]
    fn a_bad_proposers_entry_names_the_field() {
        for bad in ["[]", "[everyone]", "[\"a b@x.jp\"]"] {
            let e = with_proposers(bad).unwrap_err().to_string();
            assert!(e.contains("accounts.city.proposers"), "{bad}: {e}");
        }
    }
}
