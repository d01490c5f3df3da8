//! Which network credential a network may use, and where it may be sent.
//!
//! The repository only names a credential (`credentials: NAME`); the server declares it.
//! `NAME_TYPE` says which network type may use it, `NAME_HOSTS` to which hosts it may be
//! sent (by default the type's official API host). An adapter reaches its secrets only
//! through a [`Grant`], which is issued once the address it will send to has been checked
//! against the declaration. A network that gets no grant is given a [`Refusing`] adapter:
//! it sends nothing, and each of its deliveries waits with the reason for the operator.

use std::fmt;

use async_trait::async_trait;
use reqwest::Url;

use super::{BuildError, NetError, Network, Published, Settlement};
use crate::content::config::NetworkKind;
use crate::model::records::DeliveryRecord;
use crate::support::secrets::{Secrets, CREDENTIAL_ENV_PREFIX};

/// Why a network may not use a credential. The messages name variables, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Depends only on the name and the type, so it cannot tell anyone which variables
    /// exist.
    #[error(
        "credential {name} is not declared on this server: declare it in the server's \
         secrets ({name}_TYPE={kind} in the --secrets file, or \
         {CREDENTIAL_ENV_PREFIX}{name}_TYPE={kind} in the environment)"
    )]
    Undeclared { name: String, kind: NetworkKind },
    #[error(
        "credential {name} is declared for `{declared}` networks ({names}), so a `{kind}` \
         network may not use it"
    )]
    OtherType {
        name: String,
        declared: NetworkKind,
        kind: NetworkKind,
        names: String,
    },
    #[error(
        "credential {name}: {names} is not a network type; use one of x, facebook, \
         mastodon, bluesky, line, webhook"
    )]
    BadType { name: String, names: String },
    #[error("credential {name}: {names}: {source}")]
    BadHosts {
        name: String,
        names: String,
        source: BadHost,
    },
    #[error("credential {name}: the address it would be sent to is not a URL with a host")]
    NotAUrl { name: String },
    #[error(
        "credential {name} may not be sent to host {target}: allow it in the server's \
         secrets ({names})"
    )]
    HostNotAllowed {
        name: String,
        target: Target,
        names: String,
    },
    /// A field a declared credential lacks: it may be named, since the credential exists
    /// by the operator's own declaration.
    #[error(
        "the secret {name}_{field} is not set in the --secrets file, nor \
         {CREDENTIAL_ENV_PREFIX}{name}_{field} in the environment"
    )]
    Missing { name: String, field: String },
}

/// An entry of `NAME_HOSTS` that is not `host` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not host or host:port (no scheme, no path)")]
pub struct BadHost(String);

/// Where an adapter sends its requests when `base_url` does not redirect it.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// A fixed address: the network's API, or `instance:` / `service:` of the configuration.
    Url(&'a str),
    /// The value of one of the credential's own fields (a webhook's `NAME_URL`).
    Field(&'static str),
}

/// One entry of `NAME_HOSTS`: a host alone means https on port 443; with a port, that port
/// under either scheme (a gateway or a test server on plain http).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host` or `host:port` (`[v6]:port` for IPv6), lower-casing the host.
    pub fn parse(entry: &str) -> Result<AllowedHost, BadHost> {
        let entry = entry.trim().to_ascii_lowercase();
        let bad = || BadHost(entry.clone());
        let (host, port) = match entry.strip_prefix('[') {
            Some(v6) => {
                let (inner, rest) = v6.split_once(']').ok_or_else(bad)?;
                let port = match rest {
                    "" => None,
                    r => Some(r.strip_prefix(':').ok_or_else(bad)?),
                };
                (format!("[{inner}]"), port)
            }
            None => match entry.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (entry.clone(), None),
            },
        };
        let host_ok = !host.is_empty()
            && host.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':')
            });
        if !host_ok {
            return Err(bad());
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        Ok(AllowedHost { host, port })
    }

    fn allows(&self, target: &Target) -> bool {
        self.host == target.host
            && match self.port {
                None => target.https && target.port == 443,
                Some(port) => port == target.port,
            }
    }
}

/// The host a request will really go to, as the URL parser sees it (so `user@` tricks,
/// upper case and IDN spellings all come out as the host that is connected to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: String,
    port: u16,
    https: bool,
}

impl Target {
    pub fn of(url: &str) -> Option<Target> {
        let parsed = Url::parse(url).ok()?;
        Some(Target {
            host: parsed.host_str()?.to_ascii_lowercase(),
            port: parsed.port_or_known_default()?,
            https: parsed.scheme() == "https",
        })
    }

    /// The entry of `NAME_HOSTS` that would allow exactly this target.
    fn as_allowed(&self) -> AllowedHost {
        AllowedHost {
            host: self.host.clone(),
            port: (!(self.https && self.port == 443)).then_some(self.port),
        }
    }
}

impl fmt::Display for Target {
    /// Written as the `NAME_HOSTS` entry that allows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_allowed().port {
            None => f.write_str(&self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
        }
    }
}

/// The official API hosts of a network type, where its credentials go unless the server
/// says otherwise: the hosts its adapter really calls. Mastodon has none (every instance is
/// someone's), and a webhook's is the host of its own `NAME_URL`.
pub fn default_hosts(kind: NetworkKind) -> &'static [&'static str] {
    match kind {
        NetworkKind::X => &["api.x.com"],
        NetworkKind::Facebook => &["graph.facebook.com"],
        NetworkKind::Bluesky => &["bsky.social"],
        NetworkKind::Line => &["api.line.me"],
        NetworkKind::Mastodon | NetworkKind::Webhook | NetworkKind::Outbox => &[],
    }
}

/// A credential the server declared, for the network type it was declared for.
pub struct Credential<'a> {
    name: &'a str,
    kind: NetworkKind,
    secrets: &'a Secrets,
}

impl<'a> Credential<'a> {
    /// The credential `name` for a network of type `kind`, when the server declared it for
    /// that type. The message for an undeclared name depends only on the name and the
    /// type, so it cannot tell anyone which variables exist.
    pub fn declared(
        secrets: &'a Secrets,
        name: &'a str,
        kind: NetworkKind,
    ) -> Result<Credential<'a>, CredentialError> {
        let credential = Credential {
            name,
            kind,
            secrets,
        };
        let Some(declared) = secrets.credential_field(name, "TYPE") else {
            return Err(CredentialError::Undeclared {
                name: name.to_string(),
                kind,
            });
        };
        match NetworkKind::parse(&declared.trim().to_ascii_lowercase()) {
            Some(k) if k == kind => Ok(credential),
            Some(k) if k != NetworkKind::Outbox => Err(CredentialError::OtherType {
                name: name.to_string(),
                declared: k,
                kind,
                names: credential.names("TYPE"),
            }),
            _ => Err(CredentialError::BadType {
                name: name.to_string(),
                names: credential.names("TYPE"),
            }),
        }
    }

    pub fn name(&self) -> &str {
        self.name
    }

    /// `NAME_<field>` when it is set.
    pub fn field(&self, field: &str) -> Option<String> {
        self.secrets.credential_field(self.name, field)
    }

    /// Where the field is read, for messages: `NAME_F or OSHIRASE_CRED_NAME_F`.
    pub fn names(&self, field: &str) -> String {
        let name = self.name;
        format!("{name}_{field} or {CREDENTIAL_ENV_PREFIX}{name}_{field}")
    }

    /// The hosts this credential may be sent to: `NAME_HOSTS` when set, else the type's.
    pub fn allowed_hosts(&self) -> Result<Vec<AllowedHost>, CredentialError> {
        if let Some(list) = self.field("HOSTS") {
            return list
                .split(',')
                .filter(|e| !e.trim().is_empty())
                .map(|e| {
                    AllowedHost::parse(e).map_err(|source| CredentialError::BadHosts {
                        name: self.name.to_string(),
                        names: self.names("HOSTS"),
                        source,
                    })
                })
                .collect();
        }
        if self.kind == NetworkKind::Webhook {
            // The operator wrote the URL, so its host is where this credential belongs.
            return Ok(self
                .field("URL")
                .and_then(|u| Target::of(&u))
                .map(|t| vec![t.as_allowed()])
                .unwrap_or_default());
        }
        let hosts = default_hosts(self.kind)
            .iter()
            .map(|h| AllowedHost::parse(h));
        hosts
            .collect::<Result<_, _>>()
            .map_err(|source| CredentialError::BadHosts {
                name: self.name.to_string(),
                names: "the type's official hosts".into(),
                source,
            })
    }

    /// Whether this credential may be sent to `url`; the refusal says how to allow it.
    pub fn check_target(&self, url: &str) -> Result<(), CredentialError> {
        let Some(target) = Target::of(url) else {
            return Err(CredentialError::NotAUrl {
                name: self.name.to_string(),
            });
        };
        if self.allowed_hosts()?.iter().any(|a| a.allows(&target)) {
            return Ok(());
        }
        Err(CredentialError::HostNotAllowed {
            name: self.name.to_string(),
            target,
            names: self.names("HOSTS"),
        })
    }

    /// The error for a field this credential lacks.
    pub fn missing(&self, field: &str) -> CredentialError {
        CredentialError::Missing {
            name: self.name.to_string(),
            field: field.to_string(),
        }
    }
}

/// What an adapter may use: the checked address it sends to and the credential's fields.
pub struct Grant<'a> {
    pub credential: Credential<'a>,
    /// The address requests go to, as configured; its host is allowed for the credential.
    pub endpoint: String,
    /// `accounts.<account>.networks.<network>`, for messages.
    pub place: String,
}

impl Grant<'_> {
    /// The endpoint without a trailing slash, for adapters that append API paths.
    pub fn base(&self) -> String {
        self.endpoint.trim_end_matches('/').to_string()
    }

    /// `NAME_<field>`, or an error naming where to set it (never a value).
    pub fn secret(&self, field: &str) -> Result<String, BuildError> {
        self.credential
            .field(field)
            .ok_or_else(|| BuildError::credential(&self.place, self.credential.missing(field)))
    }

    /// `NAME_<field>` when it is set.
    pub fn optional_secret(&self, field: &str) -> Option<String> {
        self.credential.field(field)
    }

    /// `NAME_<field>`, the name the secrets file uses, for messages.
    pub fn secret_name(&self, field: &str) -> String {
        format!("{}_{field}", self.credential.name)
    }
}

/// The adapter of a network that must not send: every call is refused with the reason,
/// as a credentials problem, so the scheduler pauses the network and the dashboard and
/// `/healthz` show why.
pub struct Refusing {
    reason: String,
}

impl Refusing {
    pub fn new(reason: String) -> Refusing {
        Refusing { reason }
    }
}

#[async_trait]
impl Network for Refusing {
    async fn publish(&self, _: &DeliveryRecord) -> Result<Published, NetError> {
        Err(NetError::credentials(self.reason.clone()))
    }

    async fn settle(&self, _: &DeliveryRecord) -> Result<Settlement, NetError> {
        Err(NetError::credentials(self.reason.clone()))
    }

    async fn retract(&self, _: &DeliveryRecord) -> Result<(), NetError> {
        Err(NetError::credentials(self.reason.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(text: &str) -> Secrets {
        Secrets::parse("s.env", text).unwrap()
    }

    fn target(url: &str) -> Target {
        Target::of(url).unwrap()
    }

    #[test]
    fn a_host_alone_means_https_on_443_and_a_port_means_that_port() {
        let plain = AllowedHost::parse("API.X.com").unwrap();
        assert!(plain.allows(&target("https://api.x.com")));
        assert!(plain.allows(&target("https://api.X.COM:443/2/tweets")));
        assert!(!plain.allows(&target("http://api.x.com")), "no cleartext");
        assert!(!plain.allows(&target("https://api.x.com:8443")));
        assert!(!plain.allows(&target("https://api.x.com.evil.example")));
        assert!(!plain.allows(&target("https://x.com")));
        let port = AllowedHost::parse("127.0.0.1:8080").unwrap();
        assert!(port.allows(&target("http://127.0.0.1:8080/")));
        assert!(port.allows(&target("https://127.0.0.1:8080/")));
        assert!(!port.allows(&target("http://127.0.0.1:8081/")));
        assert!(!port.allows(&target("http://127.0.0.1/")));
        let v6 = AllowedHost::parse("[::1]:9000").unwrap();
        assert!(v6.allows(&target("http://[::1]:9000/")));
    }

    #[test]
    fn the_host_checked_is_the_one_connected_to() {
        let plain = AllowedHost::parse("api.x.com").unwrap();
        assert_eq!(
            target("https://api.x.com@evil.example/").host,
            "evil.example"
        );
        assert!(!plain.allows(&target("https://api.x.com@evil.example/")));
        assert!(!plain.allows(&target("https://api.x.com%2F@evil.example/")));
        assert!(Target::of("not a url").is_none());
        assert_eq!(
            target("http://Evil.Example:8443/x").to_string(),
            "evil.example:8443"
        );
        assert_eq!(target("https://evil.example/x").to_string(), "evil.example");
        assert_eq!(
            target("http://evil.example/x").to_string(),
            "evil.example:80"
        );
    }

    #[test]
    fn bad_host_entries_are_refused() {
        for bad in [
            "https://api.x.com",
            "api.x.com/2",
            "a b",
            "",
            "h:99999",
            "h:x",
            "[::1",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_declaration_gives_the_type_and_the_hosts() {
        let s =
            secrets("X_CITY_TYPE=x\nM_TYPE=mastodon\nM_HOSTS=social.city.example, 127.0.0.1:9\n");
        let x = Credential::declared(&s, "X_CITY", NetworkKind::X).unwrap();
        assert_eq!(
            x.allowed_hosts().unwrap(),
            vec![AllowedHost::parse("api.x.com").unwrap()]
        );
        assert!(x.check_target("https://api.x.com").is_ok());
        let e = x
            .check_target("http://evil.example:8443")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "credential X_CITY may not be sent to host evil.example:8443: allow it in the \
             server's secrets (X_CITY_HOSTS or OSHIRASE_CRED_X_CITY_HOSTS)"
        );
        let m = Credential::declared(&s, "M", NetworkKind::Mastodon).unwrap();
        assert!(m.check_target("https://social.city.example").is_ok());
        assert!(m.check_target("http://127.0.0.1:9/api").is_ok());
        assert!(m.check_target("https://mastodon.social").is_err());
    }

    #[test]
    fn mastodon_has_no_default_host_and_a_webhook_trusts_its_own_url() {
        let s = secrets("M_TYPE=mastodon\nH_TYPE=webhook\nH_URL=https://hooks.example/T/abc\n");
        let m = Credential::declared(&s, "M", NetworkKind::Mastodon).unwrap();
        assert!(m.check_target("https://mastodon.social").is_err());
        let h = Credential::declared(&s, "H", NetworkKind::Webhook).unwrap();
        assert!(h.check_target("https://hooks.example/other").is_ok());
        assert!(h.check_target("https://capture.example/").is_err());
    }

    #[test]
    fn undeclared_wrong_type_and_reserved_names_get_no_credential() {
        let s =
            secrets("FB_TYPE=facebook\nODD_TYPE=telegram\nOSHIRASE_ALERT_WEBHOOK_TYPE=webhook\n");
        let e = Credential::declared(&s, "CI", NetworkKind::X)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("CI_TYPE=x") && e.contains("OSHIRASE_CRED_CI_TYPE=x"),
            "{e}"
        );
        let e = Credential::declared(&s, "FB", NetworkKind::X)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("declared for `facebook`"), "{e}");
        let e = Credential::declared(&s, "ODD", NetworkKind::X)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("not a network type") && !e.contains("telegram"),
            "{e}"
        );
        // The server's own names are never credentials, whatever the file holds.
        let e = Credential::declared(&s, "OSHIRASE_ALERT_WEBHOOK", NetworkKind::Webhook)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is not declared"), "{e}");
    }

    #[test]
    fn a_bad_hosts_entry_names_the_variable() {
        let s = secrets("X_TYPE=x\nX_HOSTS=api.x.com,https://evil.example\n");
        let x = Credential::declared(&s, "X", NetworkKind::X).unwrap();
        let e = x.check_target("https://api.x.com").unwrap_err().to_string();
        assert!(
            e.contains("X_HOSTS") && e.contains("https://evil.example"),
            "{e}"
        );
    }
}
