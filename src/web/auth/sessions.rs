//! Signed-in browsers: a session cookie for a person of `people.json`, and the CSRF token
//! every request that changes something must carry.
//!
//! The cookie holds 32 random bytes; the server keeps only their SHA-256, so a memory dump
//! or a log of the table gives no way in. Sessions live in memory: a restart signs everyone
//! out, which costs a sign-in and keeps the database free of secrets. A session ends after
//! [`IDLE`] without a request, after [`LIFETIME`] in any case (both can be set with `serve
//! --session-idle` and `--session-lifetime`), at sign-out, and at the next request once its
//! person is disabled or removed.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
//! sends it), `Path=/`, and `Secure` when the request came through TLS (a proxy saying
//! `X-Forwarded-Proto: https`). The CSRF token is returned at sign-in and by `GET
//! /api/session`, and must come back in `X-CSRF-Token` on every request that is not a GET
//! or HEAD: a form on another site can neither read it nor set a header.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use subtle::ConstantTimeEq;
use warp::http::HeaderMap;

use super::sha256;

/// The cookie's name.
pub const COOKIE: &str = "oshirase_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long is over, unless `serve --session-idle` says otherwise.
pub const IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// No session lasts longer than this (a working day and some), unless `serve
/// --session-lifetime` says otherwise.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Beyond this many sessions the one used least recently ends.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The person, by their e-mail address in `people.json`.
    pub email: String,
    pub csrf: String,
    started: Instant,
    seen: Instant,
}

impl Session {
    /// A person a trusted proxy named: no cookie, a CSRF token of their own.
    pub(super) fn from_proxy(email: &str, csrf: String) -> Session {
        let now = Instant::now();
        Session {
            email: email.to_string(),
            csrf,
            started: now,
            seen: now,
        }
    }

    /// Whether the header value is this session's CSRF token (constant-time).
    pub fn csrf_matches(&self, presented: Option<&[u8]>) -> bool {
        presented.is_some_and(|p| bool::from(p.ct_eq(self.csrf.as_bytes())))
    }

    fn expired(&self, now: Instant, limits: SessionLimits) -> bool {
        now.duration_since(self.seen) >= limits.idle
            || now.duration_since(self.started) >= limits.lifetime
    }
}

/// How long a session may sit unused, and how long it may last at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: Duration,
    pub lifetime: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: IDLE,
            lifetime: LIFETIME,
        }
    }
}

/// Every session of this process, keyed by the digest of its cookie.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    limits: OnceLock<SessionLimits>,
}

impl Sessions {
    /// Sets the limits once, before the first sign-in; later calls change nothing.
    pub fn set_limits(&self, limits: SessionLimits) {
        let _ = self.limits.set(limits);
    }

    /// The limits in force.
    pub fn limits(&self) -> SessionLimits {
        self.limits.get().copied().unwrap_or_default()
    }

    /// Starts a session for `email`: the cookie value and the session.
    pub fn start(&self, email: &str) -> (String, Session) {
        let token = random_token();
        let now = Instant::now();
        let session = Session {
            email: email.to_string(),
            csrf: random_token(),
            started: now,
            seen: now,
        };
        let limits = self.limits();
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| !s.expired(now, limits));
            if map.len() >= MAX_SESSIONS {
                if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
            map.insert(sha256(token.as_bytes()), session.clone());
        }
        (token, session)
    }

    /// The live session of a cookie value, marked as used now.
    pub fn get(&self, token: &str) -> Option<Session> {
        let key = sha256(token.as_bytes());
        let now = Instant::now();
        let limits = self.limits();
        let mut map = self.map.lock().ok()?;
        let session = map.get_mut(&key)?;
        if session.expired(now, limits) {
            map.remove(&key);
            return None;
        }
        session.seen = now;
        Some(session.clone())
    }

    /// The person of a cookie value's session while it is live, without marking it used:
    /// a live event stream asks this, and must not keep an unattended session from expiring.
    pub fn live_email(&self, token: &str) -> Option<String> {
        let map = self.map.lock().ok()?;
        let session = map.get(&sha256(token.as_bytes()))?;
        (!session.expired(Instant::now(), self.limits())).then(|| session.email.clone())
    }

    /// Ends the session of a cookie value (sign-out, or its person is gone).
    pub fn end(&self, token: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&sha256(token.as_bytes()));
        }
    }

    /// Ends every session of a person.
    pub fn end_all_of(&self, email: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| !s.email.eq_ignore_ascii_case(email));
        }
    }

    /// Ends every session of a person but the one of the cookie value `keep`.
    pub fn end_all_of_but(&self, email: &str, keep: &str) {
        let kept = sha256(keep.as_bytes());
        if let Ok(mut map) = self.map.lock() {
            map.retain(|k, s| *k == kept || !s.email.eq_ignore_ascii_case(email));
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The session cookie's value in a request's `Cookie` headers, if there is one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(warp::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether the request reached us through TLS: only a proxy can say so.
pub fn through_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that starts a session lasting at most `lifetime` (or, with
/// `None`, ends it).
pub fn set_cookie(token: Option<&str>, secure: bool, lifetime: Duration) -> String {
    let mut c = cookie::Cookie::build((COOKIE, token.unwrap_or("").to_string()))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .secure(secure);
    c = match token {
        Some(_) => c.max_age(cookie::time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        )),
        None => c.max_age(cookie::time::Duration::ZERO),
    };
    c.build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_at_sign_out() {
        let sessions = Sessions::default();
        let (token, session) = sessions.start("a@city.example.jp");
        assert_eq!(token.len(), 43);
        let found = sessions.get(&token).unwrap();
        assert_eq!(found.email, "a@city.example.jp");
        assert!(found.csrf_matches(Some(session.csrf.as_bytes())));
        assert!(!found.csrf_matches(Some(b"guess")));
        assert!(!found.csrf_matches(None));
        assert!(sessions.get("not-a-session").is_none());
        sessions.end(&token);
        assert!(sessions.get(&token).is_none());
        let (a, _) = sessions.start("b@city.example.jp");
        let (b, _) = sessions.start("B@city.example.jp");
        sessions.end_all_of("b@city.example.jp");
        assert!(sessions.get(&a).is_none() && sessions.get(&b).is_none());
    }

    #[test]
    fn a_session_ends_when_unused_for_its_idle_limit_and_at_its_lifetime() {
        let short = Sessions::default();
        short.set_limits(SessionLimits {
            idle: Duration::from_millis(60),
            lifetime: Duration::from_secs(60),
        });
        let (token, _) = short.start("a@city.example.jp");
        std::thread::sleep(Duration::from_millis(30));
        assert!(short.get(&token).is_some(), "used within the idle limit");
        std::thread::sleep(Duration::from_millis(90));
        assert!(short.get(&token).is_none(), "unused past the idle limit");

        let brief = Sessions::default();
        brief.set_limits(SessionLimits {
            idle: Duration::from_millis(60),
            lifetime: Duration::from_millis(100),
        });
        let (token, _) = brief.start("a@city.example.jp");
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(40));
            assert!(brief.get(&token).is_some(), "kept alive by use");
        }
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            brief.get(&token).is_none(),
            "over its lifetime although in use"
        );
        assert!(set_cookie(Some("t"), false, Duration::from_secs(90)).contains("Max-Age=90"));
    }

    #[test]
    fn the_cookie_is_strict_http_only_and_secure_behind_tls() {
        let c = set_cookie(Some("abc"), true, LIFETIME);
        for part in [
            "oshirase_session=abc",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=43200",
        ] {
            assert!(c.contains(part), "{part} in {c}");
        }
        assert!(!set_cookie(Some("abc"), false, LIFETIME).contains("Secure"));
        assert!(set_cookie(None, false, LIFETIME).contains("Max-Age=0"));
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "theme=dark; oshirase_session=tok; x=1".parse().unwrap(),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("tok"));
        h.insert("cookie", "oshirase_session=".parse().unwrap());
        assert_eq!(cookie_token(&h), None);
    }
}
