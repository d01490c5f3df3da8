//! Who may see the dashboard, the API, the live events and the metrics.
//!
//! Two ways in, both from the server's secrets (the `--secrets` file or the environment):
//!
//! - `OSHIRASE_DASHBOARD_TOKEN`: one shared token, for scripts and Prometheus, sent as
//!   `Authorization: Bearer <token>`. Browsers cannot put a header on an `EventSource` or a
//!   page load, so the same token is also accepted as the password of HTTP basic
//!   authentication with any user name: the browser asks once and then sends it with every
//!   request of the origin, the live event stream included. A token in the query string is
//!   never accepted: it would end up in logs, history and `Referer` headers.
//! - `OSHIRASE_DASHBOARD_USERS`: HTTP basic users, `name:hash` entries separated by commas
//!   or white space. `hash` is `pbkdf2-sha256:<iterations>:<salt>:<key>` (salt and key in
//!   base64; what `oshirase hash-password` prints), or the bare SHA-256 hex of the password,
//!   which is only fit for long random passwords since it costs an attacker nothing to try.
//!
//! Passwords are never stored in clear, and every comparison of a secret is constant-time
//! (`subtle`). PBKDF2-HMAC-SHA256 (RFC 8018) is built from the `hmac` and `sha2` already
//! here; it is deliberately slow, so a successful check is remembered (keyed by a MAC under
//! a per-process random key, never the password itself) and only one slow check runs at a
//! time, off the async runtime, so that wrong passwords cannot take the CPU from the
//! scheduler.
//!
//! On a loopback address with nothing configured the dashboard is open, as before; with
//! anything configured it is required everywhere; on any other address it is required and
//! `serve` refuses to start without it. The forge webhooks (`/hooks/…`, which carry their
//! own signatures), `/healthz` (probes cannot log in; without credentials it says only
//! ok/error) and `/media/…` (images already sent to networks, which fetch them by URL and
//! cannot log in) stay reachable without dashboard credentials.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::{header, HeaderMap, StatusCode};
use warp::path::FullPath;
use warp::{Filter, Rejection, Reply};

use crate::secrets::Secrets;

pub const DASHBOARD_TOKEN: &str = "OSHIRASE_DASHBOARD_TOKEN";
pub const DASHBOARD_USERS: &str = "OSHIRASE_DASHBOARD_USERS";
/// What `WWW-Authenticate` asks for.
pub const CHALLENGE: &str = "Basic realm=\"oshirase\"";
/// A shorter shared token can be guessed over the network.
pub const MIN_TOKEN_LEN: usize = 16;
/// What `hash-password` uses: OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Below this a stored hash is refused: it would be no real work for an attacker.
const MIN_ITERATIONS: u32 = 1_000;
/// Remembered successful logins; the cache is emptied when it fills.
const REMEMBERED: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "--listen {0}: a dashboard on a non-loopback address needs authentication; set \
         OSHIRASE_DASHBOARD_TOKEN (a shared token of at least 16 characters) or \
         OSHIRASE_DASHBOARD_USERS (name:hash entries from `oshirase hash-password`) in the \
         --secrets file or the environment, or listen on 127.0.0.1"
    )]
    Required(SocketAddr),
    #[error("OSHIRASE_DASHBOARD_TOKEN is shorter than 16 characters; use a long random one")]
    ShortToken,
    // Never echo the entry: a password may have been pasted in clear.
    #[error("OSHIRASE_DASHBOARD_USERS, entry {index}: {message}")]
    BadUser { index: usize, message: String },
}

/// How a user's password is kept.
#[derive(Clone)]
enum Stored {
    /// SHA-256 of the password.
    Sha256([u8; 32]),
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        key: [u8; 32],
    },
}

#[derive(Clone)]
struct User {
    name: String,
    stored: Stored,
}

struct Inner {
    /// SHA-256 of the token: comparing digests keeps the comparison constant-time whatever
    /// length the caller sends.
    token: Option<[u8; 32]>,
    users: Vec<User>,
    /// MACs of (user, password) pairs that passed a PBKDF2 check.
    remembered: Mutex<HashSet<[u8; 32]>>,
    cache_key: [u8; 32],
    /// One slow check at a time.
    slow: Mutex<()>,
}

/// The validated dashboard credentials; cheap to clone.
#[derive(Clone)]
pub struct DashboardAuth(Arc<Inner>);

impl std::fmt::Debug for DashboardAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardAuth")
            .field("token", &self.0.token.is_some())
            .field(
                "users",
                &self.0.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The dashboard credentials for a listen address: `None` means open (loopback with nothing
/// configured). Fails on a non-loopback address without credentials and on bad values.
pub fn for_listen(
    listen: SocketAddr,
    secrets: &Secrets,
) -> Result<Option<DashboardAuth>, AuthError> {
    let auth = DashboardAuth::new(
        secrets.get(DASHBOARD_TOKEN).as_deref(),
        secrets.get(DASHBOARD_USERS).as_deref(),
    )?;
    if auth.is_none() && !listen.ip().is_loopback() {
        return Err(AuthError::Required(listen));
    }
    Ok(auth)
}

impl DashboardAuth {
    /// Credentials from the two values, `None` when neither is set.
    pub fn new(
        token: Option<&str>,
        users: Option<&str>,
    ) -> Result<Option<DashboardAuth>, AuthError> {
        let token = match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() < MIN_TOKEN_LEN => return Err(AuthError::ShortToken),
            Some(t) => Some(sha256(t.as_bytes())),
            None => None,
        };
        let users = match users {
            Some(text) => parse_users(text)?,
            None => Vec::new(),
        };
        if token.is_none() && users.is_empty() {
            return Ok(None);
        }
        let mut cache_key = [0u8; 32];
        rand::fill(&mut cache_key);
        Ok(Some(DashboardAuth(Arc::new(Inner {
            token,
            users,
            remembered: Mutex::new(HashSet::new()),
            cache_key,
            slow: Mutex::new(()),
        }))))
    }

    /// Whether an `Authorization` header value lets the request in. May take a PBKDF2
    /// computation: call it off the async runtime.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match authorization.and_then(Presented::parse) {
            None => false,
            Some(Presented::Bearer(token)) => self.token_matches(&token),
            Some(Presented::Basic { user, password }) => {
                self.token_matches(&password) || self.user_matches(&user, &password)
            }
        }
    }

    fn token_matches(&self, presented: &[u8]) -> bool {
        self.0
            .token
            .is_some_and(|t| bool::from(t.ct_eq(&sha256(presented))))
    }

    fn user_matches(&self, name: &[u8], password: &[u8]) -> bool {
        let Some(user) = self.0.users.iter().find(|u| u.name.as_bytes() == name) else {
            return false;
        };
        match &user.stored {
            Stored::Sha256(hash) => bool::from(hash.ct_eq(&sha256(password))),
            Stored::Pbkdf2 {
                iterations,
                salt,
                key,
            } => {
                // A MAC under a per-process key: the set reveals nothing about passwords,
                // and looking a tag up in it in variable time tells an attacker nothing.
                let tag: [u8; 32] = {
                    let mut mac = Hmac::<Sha256>::new_from_slice(&self.0.cache_key)
                        .unwrap_or_else(|_| unreachable_hmac());
                    mac.update(&(name.len() as u64).to_be_bytes());
                    mac.update(name);
                    mac.update(password);
                    mac.finalize().into_bytes().into()
                };
                let remembered = || self.0.remembered.lock().unwrap_or_else(|e| e.into_inner());
                if remembered().contains(&tag) {
                    return true;
                }
                let ok = {
                    let _one_at_a_time = self.0.slow.lock().unwrap_or_else(|e| e.into_inner());
                    bool::from(key.ct_eq(&pbkdf2_sha256(password, salt, *iterations)))
                };
                if ok {
                    let mut r = remembered();
                    if r.len() >= REMEMBERED {
                        r.clear();
                    }
                    r.insert(tag);
                }
                ok
            }
        }
    }
}

/// `Hmac::new_from_slice` accepts keys of any length; this is never reached.
fn unreachable_hmac() -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new(&Default::default())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) with a 32-byte output, from the `pbkdf2` crate.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut key);
    key
}

/// A `name:pbkdf2-sha256:…` entry for `OSHIRASE_DASHBOARD_USERS`, with a fresh salt.
pub fn hash_password(name: &str, password: &str, iterations: u32) -> Result<String, AuthError> {
    let bad = |message: &str| AuthError::BadUser {
        index: 1,
        message: message.to_string(),
    };
    check_name(name).map_err(bad)?;
    if password.is_empty() {
        return Err(bad("the password is empty"));
    }
    if iterations < MIN_ITERATIONS {
        return Err(bad("use at least 1000 iterations"));
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let key = pbkdf2_sha256(password.as_bytes(), &salt, iterations);
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "{name}:pbkdf2-sha256:{iterations}:{}:{}",
        b64.encode(salt),
        b64.encode(key)
    ))
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("the user name is empty")
    } else if name
        .chars()
        .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
    {
        Err("a user name cannot hold `:`, `,`, spaces or control characters")
    } else {
        Ok(())
    }
}

fn parse_users(text: &str) -> Result<Vec<User>, AuthError> {
    let mut users: Vec<User> = Vec::new();
    let entries = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty());
    for (i, entry) in entries.enumerate() {
        let bad = |message: String| AuthError::BadUser {
            index: i + 1,
            message,
        };
        let Some((name, hash)) = entry.split_once(':') else {
            return Err(bad("expected name:hash".into()));
        };
        check_name(name).map_err(|m| bad(m.into()))?;
        if users.iter().any(|u| u.name == name) {
            return Err(bad(format!("the user `{name}` is listed twice")));
        }
        let stored = parse_hash(hash).map_err(bad)?;
        users.push(User {
            name: name.to_string(),
            stored,
        });
    }
    Ok(users)
}

fn parse_hash(hash: &str) -> Result<Stored, String> {
    if let Some(rest) = hash.strip_prefix("pbkdf2-sha256:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let [iterations, salt, key] = parts[..] else {
            return Err("expected pbkdf2-sha256:<iterations>:<salt>:<key>".into());
        };
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the iteration count is not a number".to_string())?;
        if iterations < MIN_ITERATIONS {
            return Err(format!("use at least {MIN_ITERATIONS} iterations"));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64
            .decode(salt)
            .map_err(|_| "the salt is not base64".to_string())?;
        if salt.len() < 8 {
            return Err("the salt is shorter than 8 bytes".into());
        }
        let key: [u8; 32] = b64
            .decode(key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| "the key is not 32 bytes of base64".to_string())?;
        return Ok(Stored::Pbkdf2 {
            iterations,
            salt,
            key,
        });
    }
    let digest: Option<[u8; 32]> = (hash.len() == 64)
        .then(|| hex::decode(hash).ok())
        .flatten()
        .and_then(|d| d.try_into().ok());
    digest.map(Stored::Sha256).ok_or_else(|| {
        "the hash is neither pbkdf2-sha256:… (see `oshirase hash-password`) nor the 64 hex \
         digits of a SHA-256; a password in clear is not accepted"
            .into()
    })
}

/// What a request presents.
enum Presented {
    Bearer(Vec<u8>),
    Basic { user: Vec<u8>, password: Vec<u8> },
}

impl Presented {
    fn parse(value: &[u8]) -> Option<Presented> {
        let value = std::str::from_utf8(value).ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Presented::Bearer(rest.as_bytes().to_vec()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let colon = decoded.iter().position(|b| *b == b':')?;
            return Some(Presented::Basic {
                user: decoded[..colon].to_vec(),
                password: decoded[colon + 1..].to_vec(),
            });
        }
        None
    }
}

/// Paths reachable without dashboard credentials (see the module comment for why): exactly
/// the shapes of those routes, so that no other route (the assets answer any path) is
/// reached through them.
fn is_open(path: &str) -> bool {
    let one_segment = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/') && rest != "..")
    };
    path == "/healthz" || one_segment("/hooks/") || one_segment("/media/")
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

async fn check(auth: &DashboardAuth, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let (auth, value) = (auth.clone(), value.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || auth.allows(Some(&value)))
        .await
        .unwrap_or(false)
}

/// Lets a request through when the dashboard is open, its path is one of the open ones, or
/// it carries valid credentials; rejects it otherwise (answered by [`challenge`]). Every
/// route behind it is protected unless listed in `is_open`, so a new route is safe by
/// default.
pub fn guard(auth: Option<DashboardAuth>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and(warp::header::headers_cloned())
        .and_then(move |path: FullPath, headers: HeaderMap| {
            let auth = auth.clone();
            async move {
                match auth {
                    None => Ok(()),
                    Some(_) if is_open(path.as_str()) => Ok(()),
                    Some(auth) if check(&auth, &headers).await => Ok(()),
                    Some(_) => {
                        tracing::debug!(path = path.as_str(), "dashboard: credentials refused");
                        Err(warp::reject::custom(Unauthorized))
                    }
                }
            }
        })
        .untuple_one()
}

/// Whether the request may see everything (open dashboard or valid credentials), for
/// routes that answer everyone but tell more to those who logged in.
pub fn authenticated(
    auth: Option<DashboardAuth>,
) -> impl Filter<Extract = (bool,), Error = Infallible> + Clone {
    warp::header::headers_cloned().then(move |headers: HeaderMap| {
        let auth = auth.clone();
        async move {
            match auth {
                None => true,
                Some(auth) => check(&auth, &headers).await,
            }
        }
    })
}

/// Answers a request [`guard`] refused with 401 and the challenge; passes others on.
pub async fn challenge(r: Rejection) -> Result<warp::reply::Response, Rejection> {
    if r.find::<Unauthorized>().is_none() {
        return Err(r);
    }
    let body = serde_json::json!({ "error": "authentication required" });
    let mut response = warp::reply::with_status(warp::reply::json(&body), StatusCode::UNAUTHORIZED)
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(CHALLENGE),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .into_bytes()
    }

    #[test]
    fn pbkdf2_matches_the_rfc_7914_vectors() {
        // RFC 7914, section 11: PBKDF2-HMAC-SHA-256, first 32 bytes of the output.
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"Password", b"NaCl", 80_000)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn token_as_bearer_or_as_any_users_basic_password() {
        let token = "0123456789abcdef-token";
        let auth = DashboardAuth::new(Some(token), None).unwrap().unwrap();
        assert!(auth.allows(Some(format!("Bearer {token}").as_bytes())));
        assert!(auth.allows(Some(format!("bearer  {token} ").as_bytes())));
        assert!(auth.allows(Some(&basic("anyone", token))));
        assert!(!auth.allows(Some(b"Bearer 0123456789abcdef-tokem")));
        assert!(!auth.allows(Some(&basic(token, "x"))));
        assert!(!auth.allows(Some(b"Bearer ")));
        assert!(!auth.allows(Some(b"Basic !!!")));
        assert!(!auth.allows(Some(b"\xff\xfe")));
        assert!(!auth.allows(None));
        assert_eq!(
            DashboardAuth::new(Some("short"), None).unwrap_err(),
            AuthError::ShortToken
        );
        assert!(!format!("{auth:?}").contains(token));
    }

    #[test]
    fn users_with_pbkdf2_and_sha256_hashes() {
        let alice = hash_password("alice", "correct horse", 1_000).unwrap();
        let bob = format!("bob:{}", hex::encode(sha256(b"bob's long random password")));
        let auth = DashboardAuth::new(None, Some(&format!("{alice},\n {bob}")))
            .unwrap()
            .unwrap();
        assert!(auth.allows(Some(&basic("alice", "correct horse"))));
        // Remembered the second time, and still right.
        assert!(auth.allows(Some(&basic("alice", "correct horse"))));
        assert!(!auth.allows(Some(&basic("alice", "correct horsf"))));
        assert!(!auth.allows(Some(&basic("bob", "correct horse"))));
        assert!(auth.allows(Some(&basic("bob", "bob's long random password"))));
        assert!(!auth.allows(Some(&basic("carol", "bob's long random password"))));
        assert!(!auth.allows(Some(b"Bearer correct horse")));
    }

    #[test]
    fn bad_user_entries_are_refused_without_echoing_them() {
        for (value, says) in [
            ("alice", "name:hash"),
            ("alice:hunter2hunter2", "in clear"),
            ("alice:pbkdf2-sha256:10:c2FsdHNhbHQ=:AAAA", "iterations"),
            ("alice:pbkdf2-sha256:1000:c2FsdHNhbHQ=:AAAA", "32 bytes"),
            ("a b:0000", "hash"),
        ] {
            let e = DashboardAuth::new(None, Some(value)).unwrap_err();
            assert!(e.to_string().contains(says), "{value}: {e}");
            assert!(!e.to_string().contains("hunter2"));
        }
        let h = hex::encode(sha256(b"x"));
        assert!(DashboardAuth::new(None, Some(&format!("a:{h} a:{h}")))
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(DashboardAuth::new(None, Some(" , ")).unwrap().is_none());
    }

    #[test]
    fn only_the_exact_shapes_of_the_open_routes_are_open() {
        for open in ["/healthz", "/hooks/github", "/media/0123abcd"] {
            assert!(is_open(open), "{open}");
        }
        for closed in [
            "/",
            "/healthz/",
            "/hooks/",
            "/hooks/../api/posts",
            "/hooks/a/b",
            "/media/..",
            "/media/x/app.js",
            "//hooks/github",
            "/api/posts",
            "/metrics",
            "/app.js",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    #[test]
    fn a_public_address_needs_credentials() {
        let none = Secrets::default();
        let open: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(for_listen(open, &none).unwrap().is_none());
        assert!(for_listen("[::1]:8080".parse().unwrap(), &none)
            .unwrap()
            .is_none());
        let e = for_listen(public, &none).unwrap_err().to_string();
        assert!(
            e.contains(DASHBOARD_TOKEN) && e.contains(DASHBOARD_USERS),
            "{e}"
        );
        let with = Secrets::parse("t", "OSHIRASE_DASHBOARD_TOKEN=0123456789abcdefXYZ").unwrap();
        assert!(for_listen(public, &with).unwrap().is_some());
        assert!(for_listen(open, &with).unwrap().is_some());
    }
}
