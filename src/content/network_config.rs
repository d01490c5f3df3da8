//! One network of an account in `oshirase.yaml`: the keys every type shares, and the
//! settings only its type has, validated once when the file is read.
//!
//! An adapter in `src/networks/` receives a [`NetworkSettings`] variant whose fields are
//! already present, trimmed and checked, so none of them validates the file again.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::content::brief::{self, quote};

/// Every key any network type accepts; which ones a type takes is decided in [`validate`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    #[serde(rename = "type")]
    kind: String,
    credentials: Option<String>,
    base_url: Option<String>,
    page_id: Option<String>,
    instance: Option<String>,
    service: Option<String>,
    handle: Option<String>,
    limit: Option<usize>,
    visibility: Option<String>,
    rate: Option<RawRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    requests: u32,
    per: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetworkKind {
    X,
    Facebook,
    Mastodon,
    Bluesky,
    Line,
    Webhook,
    Outbox,
}

impl NetworkKind {
    pub const ALL: [NetworkKind; 7] = [
        NetworkKind::X,
        NetworkKind::Facebook,
        NetworkKind::Mastodon,
        NetworkKind::Bluesky,
        NetworkKind::Line,
        NetworkKind::Webhook,
        NetworkKind::Outbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NetworkKind::X => "x",
            NetworkKind::Facebook => "facebook",
            NetworkKind::Mastodon => "mastodon",
            NetworkKind::Bluesky => "bluesky",
            NetworkKind::Line => "line",
            NetworkKind::Webhook => "webhook",
            NetworkKind::Outbox => "outbox",
        }
    }

    pub fn parse(s: &str) -> Option<NetworkKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the network needs server-side secrets named by `credentials`.
    pub fn needs_credentials(self) -> bool {
        self != NetworkKind::Outbox
    }
}

impl fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most `requests` posts per `per` to one network (its documented budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl Rate {
    /// The budget a network type documents for posting, used when `rate:` is not set.
    pub fn default_for(kind: NetworkKind) -> Option<Rate> {
        let rate = |requests, minutes: u64| {
            Some(Rate {
                requests,
                per: Duration::from_secs(minutes * 60),
            })
        };
        match kind {
            // X: 100 posts per 15 minutes per user (POST /2/tweets).
            NetworkKind::X => rate(100, 15),
            // Mastodon: 300 statuses per 5 minutes per account.
            NetworkKind::Mastodon => rate(300, 5),
            // Bluesky: 5,000 write points an hour, a created record costs 3.
            NetworkKind::Bluesky => rate(1_666, 60),
            // Facebook Pages: calls are budgeted per hour per Page; stay well inside it.
            NetworkKind::Facebook => rate(200, 60),
            // LINE Messaging API: broadcast is limited to 60 requests an hour.
            NetworkKind::Line => rate(60, 60),
            // Slack-style webhooks take about one message a second.
            NetworkKind::Webhook => Some(Rate {
                requests: 1,
                per: Duration::from_secs(1),
            }),
            NetworkKind::Outbox => None,
        }
    }
}

/// Who may read a Mastodon status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Public,
    Unlisted,
    Private,
    Direct,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [
        Visibility::Public,
        Visibility::Unlisted,
        Visibility::Private,
        Visibility::Direct,
    ];

    /// The name in `oshirase.yaml`, which is also the value Mastodon's API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
            Visibility::Direct => "direct",
        }
    }
}

/// What one network type needs beyond the keys every network has.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkSettings {
    /// `handle` (without `@`) only makes links to posts; X finds the account by its token.
    X {
        handle: Option<String>,
    },
    Facebook {
        page_id: String,
    },
    /// `instance` is the server's address, e.g. `https://mastodon.example`.
    Mastodon {
        instance: String,
        visibility: Visibility,
    },
    /// `service` is the PDS to log in to; the public one when not set.
    Bluesky {
        handle: String,
        service: Option<String>,
    },
    Line,
    Webhook,
    /// A file in the data directory. In a dry run, `rehearses` is the type it stands in
    /// for: texts and images are still held to that network's limits, so a rehearsal
    /// catches what the real run would refuse.
    Outbox {
        rehearses: Option<NetworkKind>,
    },
}

impl NetworkSettings {
    pub fn kind(&self) -> NetworkKind {
        match self {
            NetworkSettings::X { .. } => NetworkKind::X,
            NetworkSettings::Facebook { .. } => NetworkKind::Facebook,
            NetworkSettings::Mastodon { .. } => NetworkKind::Mastodon,
            NetworkSettings::Bluesky { .. } => NetworkKind::Bluesky,
            NetworkSettings::Line => NetworkKind::Line,
            NetworkSettings::Webhook => NetworkKind::Webhook,
            NetworkSettings::Outbox { .. } => NetworkKind::Outbox,
        }
    }

    /// The type's own keys with their values as the file names them, for messages that
    /// say what changed.
    pub fn keys(&self) -> Vec<(&'static str, String)> {
        let mut keys = Vec::new();
        match self {
            NetworkSettings::X { handle } => {
                keys.extend(handle.clone().map(|h| ("handle", h)));
            }
            NetworkSettings::Facebook { page_id } => keys.push(("page_id", page_id.clone())),
            NetworkSettings::Mastodon {
                instance,
                visibility,
            } => {
                keys.push(("instance", instance.clone()));
                keys.push(("visibility", visibility.as_str().to_string()));
            }
            NetworkSettings::Bluesky { handle, service } => {
                keys.push(("handle", handle.clone()));
                keys.extend(service.clone().map(|s| ("service", s)));
            }
            NetworkSettings::Line | NetworkSettings::Webhook | NetworkSettings::Outbox { .. } => {}
        }
        keys
    }

    /// The address the type's settings name, if any (a Mastodon instance, a Bluesky PDS).
    pub fn address(&self) -> Option<&str> {
        match self {
            NetworkSettings::Mastodon { instance, .. } => Some(instance),
            NetworkSettings::Bluesky { service, .. } => service.as_deref(),
            _ => None,
        }
    }
}

/// One configured network of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// The name posts use in `networks:` (e.g. `x`, `portal`).
    pub name: String,
    /// Prefix of the server-side secret names; never a secret itself.
    pub credentials: Option<String>,
    /// Sends to this address instead of the network's own (a self-hosted or test server).
    pub base_url: Option<String>,
    /// Overrides the network's default text limit (e.g. a Mastodon instance allowing more).
    pub limit: Option<usize>,
    /// Posting budget: `rate:` in the file, else the network type's documented one.
    pub rate: Option<Rate>,
    pub settings: NetworkSettings,
}

impl NetworkConfig {
    pub fn kind(&self) -> NetworkKind {
        self.settings.kind()
    }

    /// The type whose limits apply: the network's own, or the one a dry run rehearses.
    pub fn counted_kind(&self) -> NetworkKind {
        match self.settings {
            NetworkSettings::Outbox {
                rehearses: Some(kind),
            } => kind,
            _ => self.kind(),
        }
    }

    /// The same network as a dry run's outbox: no credentials, no address, the limits of
    /// the type it stands in for.
    pub fn into_rehearsal(self) -> NetworkConfig {
        let rehearses = self.counted_kind();
        NetworkConfig {
            credentials: None,
            base_url: None,
            settings: NetworkSettings::Outbox {
                rehearses: (rehearses != NetworkKind::Outbox).then_some(rehearses),
            },
            ..self
        }
    }
}

/// A field path and what is wrong with it.
pub(super) type FieldError = (String, String);

/// Validates one network; `field` is its path (`accounts.<a>.networks.<n>`).
pub(super) fn validate(
    field: &str,
    name: String,
    raw: RawNetwork,
) -> Result<NetworkConfig, FieldError> {
    let kind = NetworkKind::parse(&raw.kind).ok_or_else(|| {
        (
            format!("{field}.type"),
            format!(
                "{} is not a network type; use one of {}",
                quote(&raw.kind),
                NetworkKind::ALL.map(|k| k.as_str()).join(", ")
            ),
        )
    })?;
    if kind.needs_credentials() {
        required(field, kind, "credentials", raw.credentials.as_deref())?;
        if let Some(name) = &raw.credentials {
            check_credential_name(field, name)?;
        }
    }
    for (key, url) in [
        ("base_url", &raw.base_url),
        ("instance", &raw.instance),
        ("service", &raw.service),
    ] {
        if let Some(url) = url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err((
                    format!("{field}.{key}"),
                    format!("{} must be an http:// or https:// URL", quote(url)),
                ));
            }
        }
    }
    if raw.limit == Some(0) {
        return Err((format!("{field}.limit"), "the limit must be above 0".into()));
    }
    let settings = settings(field, kind, &raw)?;
    let rate = match raw.rate {
        None => Rate::default_for(kind),
        Some(r) => Some(validate_rate(field, r)?),
    };
    Ok(NetworkConfig {
        name,
        credentials: raw.credentials,
        base_url: raw.base_url,
        limit: raw.limit,
        rate,
        settings,
    })
}

/// The keys only some types take: present where the type needs them, refused where the
/// type has no use for them (a `page_id` on an X network is a mistake, not a setting).
fn settings(
    field: &str,
    kind: NetworkKind,
    raw: &RawNetwork,
) -> Result<NetworkSettings, FieldError> {
    let owners: [(&str, &Option<String>, &[NetworkKind]); 5] = [
        ("page_id", &raw.page_id, &[NetworkKind::Facebook]),
        ("instance", &raw.instance, &[NetworkKind::Mastodon]),
        ("visibility", &raw.visibility, &[NetworkKind::Mastodon]),
        ("service", &raw.service, &[NetworkKind::Bluesky]),
        (
            "handle",
            &raw.handle,
            &[NetworkKind::X, NetworkKind::Bluesky],
        ),
    ];
    for (key, value, types) in owners {
        if value.is_some() && !types.contains(&kind) {
            let types = types.iter().map(|t| t.as_str()).collect::<Vec<_>>();
            return Err((
                format!("{field}.{key}"),
                format!(
                    "only a {} network has `{key}`; `{kind}` does not",
                    types.join(" or ")
                ),
            ));
        }
    }
    let handle = |h: &str| h.trim().trim_start_matches('@').trim().to_string();
    Ok(match kind {
        NetworkKind::X => NetworkSettings::X {
            handle: raw.handle.as_deref().map(handle).filter(|h| !h.is_empty()),
        },
        NetworkKind::Facebook => NetworkSettings::Facebook {
            page_id: required(field, kind, "page_id", raw.page_id.as_deref())?,
        },
        NetworkKind::Mastodon => NetworkSettings::Mastodon {
            instance: required(field, kind, "instance", raw.instance.as_deref())?,
            visibility: visibility(field, raw.visibility.as_deref())?,
        },
        NetworkKind::Bluesky => NetworkSettings::Bluesky {
            // `@` alone is no handle either.
            handle: required(
                field,
                kind,
                "handle",
                raw.handle.as_deref().map(handle).as_deref(),
            )?,
            service: raw.service.clone(),
        },
        NetworkKind::Line => NetworkSettings::Line,
        NetworkKind::Webhook => NetworkSettings::Webhook,
        NetworkKind::Outbox => NetworkSettings::Outbox { rehearses: None },
    })
}

/// A key the type cannot do without, trimmed; blank counts as missing.
fn required(
    field: &str,
    kind: NetworkKind,
    key: &str,
    value: Option<&str>,
) -> Result<String, FieldError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err((
            format!("{field}.{key}"),
            format!("a `{kind}` network needs `{key}`"),
        )),
    }
}

fn visibility(field: &str, value: Option<&str>) -> Result<Visibility, FieldError> {
    let Some(value) = value else {
        return Ok(Visibility::default());
    };
    Visibility::ALL
        .into_iter()
        .find(|v| v.as_str() == value)
        .ok_or_else(|| {
            (
                format!("{field}.visibility"),
                format!(
                    "{} is not a Mastodon visibility; use one of {}",
                    quote(value),
                    Visibility::ALL.map(Visibility::as_str).join(", ")
                ),
            )
        })
}

/// `credentials` names secrets the server holds; it must never be a secret itself.
fn check_credential_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = name
        .chars()
        .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
    if !ok {
        return Err((
            format!("{field}.credentials"),
            format!(
                "`credentials` names a credential declared on the server (like X_ADACHI), \
                 it must never hold a secret; `{}` is not such a name",
                redact(name)
            ),
        ));
    }
    if crate::support::secrets::is_reserved_name(name) {
        return Err((
            format!("{field}.credentials"),
            format!(
                "`{name}`: names starting with OSHIRASE_ are the server's own settings, \
                 never a network credential; name a credential the server declares \
                 (like X_ADACHI)"
            ),
        ));
    }
    Ok(())
}

fn validate_rate(field: &str, raw: RawRate) -> Result<Rate, FieldError> {
    let per = humantime::parse_duration(&raw.per).map_err(|e| {
        (
            format!("{field}.rate.per"),
            format!(
                "{} is not a duration such as 15m ({})",
                quote(&raw.per),
                brief::cap_message(&e.to_string())
            ),
        )
    })?;
    if raw.requests == 0 || per.is_zero() {
        return Err((
            format!("{field}.rate"),
            "a rate needs at least 1 request in a period above 0".into(),
        ));
    }
    Ok(Rate {
        requests: raw.requests,
        per,
    })
}

/// Shows the shape of a value that looks like a leaked secret without repeating it.
fn redact(value: &str) -> String {
    let shown: String = value.chars().take(2).collect();
    format!("{shown}… ({} characters)", value.chars().count())
}

#[cfg(test)]
mod tests {
    use crate::content::config::RepoConfig;

    use super::*;

    /// The one network `networks.n` of a file with one account, or the error's message.
    fn network(yaml: &str) -> Result<NetworkConfig, String> {
        let text = format!("accounts:\n  a:\n    networks:\n      n: {yaml}\n");
        let config = RepoConfig::parse("oshirase.yaml", &text).map_err(|e| e.message)?;
        Ok(config.accounts["a"].networks["n"].clone())
    }

    #[test]
    fn each_type_gets_its_own_settings_checked_and_trimmed() {
        let x = network("{ type: x, credentials: X_A, handle: ' @adachi ' }").unwrap();
        assert_eq!(
            x.settings,
            NetworkSettings::X {
                handle: Some("adachi".into())
            }
        );
        let m = network("{ type: mastodon, credentials: M, instance: https://m.example }").unwrap();
        assert_eq!(
            m.settings,
            NetworkSettings::Mastodon {
                instance: "https://m.example".into(),
                visibility: Visibility::Public
            }
        );
        let b = network("{ type: bluesky, credentials: B, handle: '@city.bsky.social' }").unwrap();
        assert_eq!(
            b.settings.keys(),
            vec![("handle", "city.bsky.social".into())]
        );
    }

    #[test]
    fn a_missing_or_blank_setting_names_its_field() {
        for (yaml, field) in [
            ("{ type: facebook, credentials: F }", "page_id"),
            (
                "{ type: facebook, credentials: F, page_id: '  ' }",
                "page_id",
            ),
            ("{ type: mastodon, credentials: M }", "instance"),
            ("{ type: bluesky, credentials: B, handle: '@' }", "handle"),
            ("{ type: x }", "credentials"),
        ] {
            let e = network(yaml).unwrap_err();
            assert!(
                e.starts_with(&format!("accounts.a.networks.n.{field}:")),
                "{yaml}: {e}"
            );
        }
    }

    #[test]
    fn a_setting_of_another_type_is_refused() {
        let e = network("{ type: x, credentials: X_A, page_id: '1' }").unwrap_err();
        assert!(e.contains("page_id") && e.contains("facebook"), "{e}");
        let e = network("{ type: outbox, handle: a }").unwrap_err();
        assert!(e.contains("only a x or bluesky network"), "{e}");
        let e = network(
            "{ type: mastodon, credentials: M, instance: https://m.example, visibility: secret }",
        )
        .unwrap_err();
        assert!(e.contains("public, unlisted, private, direct"), "{e}");
    }

    #[test]
    fn a_rehearsal_keeps_the_limits_of_the_type_it_stands_in_for() {
        let fb = network("{ type: facebook, credentials: F, page_id: '1', base_url: http://f }")
            .unwrap()
            .into_rehearsal();
        assert_eq!(fb.kind(), NetworkKind::Outbox);
        assert_eq!(fb.counted_kind(), NetworkKind::Facebook);
        assert_eq!((fb.credentials, fb.base_url), (None, None));
        let outbox = network("{ type: outbox }").unwrap().into_rehearsal();
        assert_eq!(outbox.counted_kind(), NetworkKind::Outbox);
    }
}
