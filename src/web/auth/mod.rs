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
//! (`subtle`). PBKDF2-HMAC-SHA256 (RFC 8018) is deliberately slow, so sign-in is guarded:
//!
//! - the hash runs on a small pool of threads of its own (`hash_pool`), never on the
//!   blocking pool the store and the scheduler use; when its queue is full the answer is
//!   503 at once;
//! - wrong passwords are counted per client address and per user name (`login_guard`); past
//!   a few, the answer is 429 with `Retry-After`, without hashing;
//! - every basic check costs the same: an unknown name is hashed against a dummy, and a
//!   user with a cheaper stored hash pays the difference, up to the highest iteration count
//!   configured, so the time of an answer tells nothing about which names exist;
//! - a successful check is remembered for [`REMEMBER_FOR`] (keyed by a MAC under a
//!   per-process random key, never the password itself), so a signed-in browser costs one
//!   hash every few minutes, not one per request, and keeps working while its name is
//!   locked by someone else's guesses.
//!
//! The shared token is compared in constant time against its digest, with no hash and no
//! counting: at 16 characters or more it cannot be guessed over the network.
//!
//! On a loopback address with nothing configured the dashboard is open, as before; with
//! anything configured it is required everywhere; on any other address it is required and
//! `serve` refuses to start without it. The forge webhooks (`/hooks/…`, which carry their
//! own signatures), `/healthz` (probes cannot log in; without credentials it says only
//! ok/error) and `/media/…` (images already sent to networks, which fetch them by URL and
//! cannot log in) stay reachable without dashboard credentials.

mod filter;
mod passwords;
pub mod people;
pub mod sessions;
mod sign_in;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use self::filter::Presented;
pub use self::filter::{authenticated, challenge, guard};
pub use self::passwords::{hash_password, hash_secret, pbkdf2_sha256};
use self::passwords::{parse_users, Stored, User};
use self::people::PeopleFile;
use self::sessions::Sessions;
pub use self::sign_in::{ProxyTrust, SignedIn};
use crate::support::hash_pool::HashPool;
use crate::support::secrets::Secrets;
use crate::web::login_guard::LoginGuard;

pub const DASHBOARD_TOKEN: &str = "OSHIRASE_DASHBOARD_TOKEN";
pub const DASHBOARD_USERS: &str = "OSHIRASE_DASHBOARD_USERS";
/// What `WWW-Authenticate` asks for.
pub const CHALLENGE: &str = "Basic realm=\"oshirase\"";
/// A shorter shared token can be guessed over the network.
pub const MIN_TOKEN_LEN: usize = 16;
/// What `hash-password` uses: OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Below this a stored hash is refused: it would be no real work for an attacker.
pub const MIN_ITERATIONS: u32 = 1_000;
/// Remembered successful sign-ins; beyond this the oldest is forgotten.
const REMEMBERED: usize = 1024;
/// How long a successful sign-in is remembered.
pub const REMEMBER_FOR: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "--listen {0}: a dashboard on a non-loopback address needs authentication; set \
         OSHIRASE_DASHBOARD_TOKEN (a shared token of at least 16 characters) or \
         OSHIRASE_DASHBOARD_USERS (name:hash entries from `oshirase hash-password`) in the \
         --secrets file or the environment, add people who sign in with `oshirase users \
         add`, or listen on 127.0.0.1"
    )]
    Required(SocketAddr),
    #[error("OSHIRASE_DASHBOARD_TOKEN is shorter than 16 characters; use a long random one")]
    ShortToken,
    // Never echo the entry: a password may have been pasted in clear.
    #[error("--proxy-user-header: `{0}` is not a header name")]
    ProxyHeader(String),
    #[error("OSHIRASE_DASHBOARD_USERS, entry {index}: {problem}")]
    BadUser {
        index: usize,
        problem: passwords::EntryProblem,
    },
}

struct Inner {
    /// SHA-256 of the token: comparing digests keeps the comparison constant-time whatever
    /// length the caller sends.
    token: Option<[u8; 32]>,
    users: Vec<User>,
    /// What every basic check costs: the highest PBKDF2 iteration count configured (0:
    /// only SHA-256 hashes), and the salt an unknown name is hashed with.
    cost: u32,
    dummy_salt: [u8; 16],
    /// MACs of (user, password) pairs that passed a check, and when.
    remembered: Mutex<HashMap<[u8; 32], Instant>>,
    cache_key: [u8; 32],
    /// Failed sign-ins by address and name.
    guard: LoginGuard,
    /// Started at the first slow check.
    pool: OnceLock<Result<HashPool, std::io::Error>>,
    /// The people of `people.json` who sign in on the sign-in page, when `serve` has a data
    /// directory.
    people: Option<PeopleFile>,
    sessions: Sessions,
    /// A reverse proxy's user header, when single sign-on is configured.
    proxy: OnceLock<ProxyTrust>,
    /// With nothing configured yet, the dashboard is open (a loopback address only).
    open_while_unset: bool,
}

/// What a sign-in attempt gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused,
    /// Too many failures from this address or for this name: wait this long.
    TooMany(Duration),
    /// The hash pool's queue is full.
    Busy,
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
    people: Option<PeopleFile>,
) -> Result<Option<DashboardAuth>, AuthError> {
    let loopback = listen.ip().is_loopback();
    let auth = DashboardAuth::build(
        secrets.get(DASHBOARD_TOKEN).as_deref(),
        secrets.get(DASHBOARD_USERS).as_deref(),
        people,
        loopback,
    )?;
    if !loopback && auth.as_ref().is_none_or(DashboardAuth::is_unset) {
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
        DashboardAuth::build(token, users, None, false)
    }

    /// Credentials from the two values and the people file, `None` when there is none of
    /// the three.
    fn build(
        token: Option<&str>,
        users: Option<&str>,
        people: Option<PeopleFile>,
        open_while_unset: bool,
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
        if token.is_none() && users.is_empty() && people.is_none() {
            return Ok(None);
        }
        let mut cache_key = [0u8; 32];
        rand::fill(&mut cache_key);
        let mut dummy_salt = [0u8; 16];
        rand::fill(&mut dummy_salt);
        let cost = users
            .iter()
            .filter_map(|u| match u.stored {
                Stored::Pbkdf2 { iterations, .. } => Some(iterations),
                Stored::Sha256(_) => None,
            })
            .max()
            .unwrap_or(0);
        let open_while_unset = open_while_unset && token.is_none() && users.is_empty();
        Ok(Some(DashboardAuth(Arc::new(Inner {
            token,
            users,
            cost,
            dummy_salt,
            remembered: Mutex::new(HashMap::new()),
            cache_key,
            guard: LoginGuard::default(),
            pool: OnceLock::new(),
            people,
            sessions: Sessions::default(),
            proxy: OnceLock::new(),
            open_while_unset,
        }))))
    }

    /// Whether nothing at all is configured: no token, no basic users, nobody in the people
    /// file.
    fn is_unset(&self) -> bool {
        self.0.token.is_none()
            && self.0.users.is_empty()
            && self
                .0
                .people
                .as_ref()
                .is_none_or(|p| p.current().is_empty())
    }

    /// Whether every request may pass right now: nothing configured, on a loopback address
    /// (as before people existed; the first `oshirase users add` closes it).
    pub fn is_open_now(&self) -> bool {
        self.0.open_while_unset && self.is_unset()
    }

    /// Whether the sign-in page is how browsers get in (someone is in the people file).
    pub fn has_people(&self) -> bool {
        self.0
            .people
            .as_ref()
            .is_some_and(|p| !p.current().is_empty())
    }

    /// Decides on an `Authorization` header value from `client`: cheap checks inline, the
    /// slow hash on the pool, failures counted (see the module documentation).
    pub async fn verify(&self, authorization: Option<&[u8]>, client: IpAddr) -> Verdict {
        let (user, password) = match authorization.and_then(Presented::parse) {
            None => return Verdict::Refused,
            Some(Presented::Bearer(token)) => return self.token_verdict(&token),
            Some(Presented::Basic { user, password }) => (user, password),
        };
        if self.token_matches(&password) {
            return Verdict::Allowed;
        }
        if self.0.users.is_empty() {
            return Verdict::Refused;
        }
        let tag = self.tag(&user, &password);
        if self.is_remembered(&tag) {
            return Verdict::Allowed;
        }
        let attempt = match self.0.guard.admit(client, &user) {
            Ok(attempt) => attempt,
            Err(wait) => return Verdict::TooMany(wait),
        };
        let ok = if self.0.cost == 0 {
            self.password_matches(&user, &password)
        } else {
            let auth = self.clone();
            let pool = match self.pool() {
                Ok(pool) => pool,
                Err(e) => {
                    tracing::error!("cannot start the sign-in check threads: {e}");
                    return Verdict::Busy;
                }
            };
            match pool
                .run(move || auth.password_matches(&user, &password))
                .await
            {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!("sign-in: {e}");
                    return Verdict::Busy;
                }
            }
        };
        if ok {
            attempt.succeeded();
            self.remember(tag);
            Verdict::Allowed
        } else {
            attempt.failed();
            Verdict::Refused
        }
    }

    fn token_verdict(&self, token: &[u8]) -> Verdict {
        if self.token_matches(token) {
            Verdict::Allowed
        } else {
            Verdict::Refused
        }
    }

    fn pool(&self) -> Result<&HashPool, &std::io::Error> {
        self.0.pool.get_or_init(HashPool::for_this_machine).as_ref()
    }

    /// Whether an `Authorization` header value lets the request in, computed here and now
    /// (a PBKDF2 hash for a basic user: call it off the async runtime) and without counting
    /// failures; the server uses [`DashboardAuth::verify`].
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match authorization.and_then(Presented::parse) {
            None => false,
            Some(Presented::Bearer(token)) => self.token_matches(&token),
            Some(Presented::Basic { user, password }) => {
                if self.token_matches(&password) {
                    return true;
                }
                let tag = self.tag(&user, &password);
                if self.is_remembered(&tag) {
                    return true;
                }
                let ok = self.password_matches(&user, &password);
                if ok {
                    self.remember(tag);
                }
                ok
            }
        }
    }

    fn token_matches(&self, presented: &[u8]) -> bool {
        self.0
            .token
            .is_some_and(|t| bool::from(t.ct_eq(&sha256(presented))))
    }

    /// The slow check: always costs one PBKDF2 of [`Inner::cost`] iterations (none when
    /// only SHA-256 hashes are configured), whether the name exists or not.
    fn password_matches(&self, name: &[u8], password: &[u8]) -> bool {
        self.check_password(name, password).0
    }

    /// Whether the password is right, and how many PBKDF2 iterations it took.
    fn check_password(&self, name: &[u8], password: &[u8]) -> (bool, u32) {
        let user = self.0.users.iter().find(|u| u.name.as_bytes() == name);
        let (ok, spent) = match user.map(|u| &u.stored) {
            Some(Stored::Pbkdf2 {
                iterations,
                salt,
                key,
            }) => (
                bool::from(key.ct_eq(&pbkdf2_sha256(password, salt, *iterations))),
                *iterations,
            ),
            Some(Stored::Sha256(hash)) => (bool::from(hash.ct_eq(&sha256(password))), 0),
            None => {
                // Nobody of that name: the same work, on a salt nobody's key matches.
                std::hint::black_box(sha256(password));
                (false, 0)
            }
        };
        // A cheaper stored hash, or none at all, pays the difference.
        let rest = self.0.cost.saturating_sub(spent);
        if rest > 0 {
            std::hint::black_box(pbkdf2_sha256(password, &self.0.dummy_salt, rest));
        }
        (ok, spent + rest)
    }

    /// A MAC under a per-process key: the cache reveals nothing about passwords, and looking
    /// a tag up in it in variable time tells an attacker nothing.
    fn tag(&self, name: &[u8], password: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0.cache_key)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(&(name.len() as u64).to_be_bytes());
        mac.update(name);
        mac.update(password);
        mac.finalize().into_bytes().into()
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.0.remembered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_remembered(&self, tag: &[u8; 32]) -> bool {
        self.remembered()
            .get(tag)
            .is_some_and(|at| at.elapsed() < REMEMBER_FOR)
    }

    fn remember(&self, tag: [u8; 32]) {
        let mut r = self.remembered();
        if r.len() >= REMEMBERED {
            r.retain(|_, at| at.elapsed() < REMEMBER_FOR);
        }
        if r.len() >= REMEMBERED {
            if let Some(oldest) = r.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k) {
                r.remove(&oldest);
            }
        }
        r.insert(tag, Instant::now());
    }
}

/// `Hmac::new_from_slice` accepts keys of any length; this is never reached.
fn unreachable_hmac() -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new(&Default::default())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::filter::is_open;
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

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn wrong_passwords_are_counted_and_a_signed_in_browser_keeps_working() {
        let token = "0123456789abcdef-token";
        let koho = hash_password("koho", "correct horse", 1_000).unwrap();
        let auth = DashboardAuth::new(Some(token), Some(&koho))
            .unwrap()
            .unwrap();
        let good = basic("koho", "correct horse");
        assert_eq!(auth.verify(Some(&good), HERE).await, Verdict::Allowed);
        for i in 0..crate::web::login_guard::FREE_PER_NAME {
            let wrong = basic("koho", &format!("guess {i}"));
            assert_eq!(auth.verify(Some(&wrong), HERE).await, Verdict::Refused);
        }
        // Locked: answered without a hash, even for the right password from a new browser…
        let wrong = basic("koho", "guess again");
        assert!(matches!(
            auth.verify(Some(&wrong), HERE).await,
            Verdict::TooMany(_)
        ));
        let other_spelling = basic("koho", "correct horse ");
        assert!(matches!(
            auth.verify(Some(&other_spelling), HERE).await,
            Verdict::TooMany(_)
        ));
        // … but the browser that signed in before is remembered, and the token is no
        // password to count.
        assert_eq!(auth.verify(Some(&good), HERE).await, Verdict::Allowed);
        let bearer = format!("Bearer {token}");
        assert_eq!(
            auth.verify(Some(bearer.as_bytes()), HERE).await,
            Verdict::Allowed
        );
        assert_eq!(
            auth.verify(Some(b"Bearer wrong"), HERE).await,
            Verdict::Refused
        );
    }

    #[test]
    fn every_basic_check_costs_the_same_whatever_the_name() {
        let users = [
            hash_password("koho", "a", 4_000).unwrap(),
            hash_password("cheap", "b", 1_000).unwrap(),
            format!("shauser:{}", hex::encode(sha256(b"long random"))),
        ]
        .join(",");
        let auth = DashboardAuth::new(None, Some(&users)).unwrap().unwrap();
        for (name, password, ok) in [
            ("koho", "a", true),
            ("koho", "wrong", false),
            ("cheap", "b", true),
            ("cheap", "wrong", false),
            ("shauser", "long random", true),
            ("shauser", "wrong", false),
            ("nobody", "wrong", false),
        ] {
            assert_eq!(
                auth.check_password(name.as_bytes(), password.as_bytes()),
                (ok, 4_000),
                "{name}: the highest iteration count configured, every time"
            );
        }
        // With SHA-256 hashes only, every check is one SHA-256: cheap and equal.
        let only_sha = format!("shauser:{}", hex::encode(sha256(b"long random")));
        let auth = DashboardAuth::new(None, Some(&only_sha)).unwrap().unwrap();
        assert_eq!(auth.check_password(b"nobody", b"x"), (false, 0));
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
            "/api/summary",
            "/metrics",
            "/js/main.js",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    #[test]
    fn a_public_address_needs_credentials() {
        let none = Secrets::default();
        let open: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(for_listen(open, &none, None).unwrap().is_none());
        assert!(for_listen("[::1]:8080".parse().unwrap(), &none, None)
            .unwrap()
            .is_none());
        let e = for_listen(public, &none, None).unwrap_err().to_string();
        assert!(
            e.contains(DASHBOARD_TOKEN) && e.contains(DASHBOARD_USERS),
            "{e}"
        );
        let with = Secrets::parse("t", "OSHIRASE_DASHBOARD_TOKEN=0123456789abcdefXYZ").unwrap();
        assert!(for_listen(public, &with, None).unwrap().is_some());
        assert!(for_listen(open, &with, None).unwrap().is_some());
    }
}
