//! Signing in with an e-mail address and a password from `people.json`, and the session
//! each later request of that browser carries. Guarded as basic sign-in is (see the
//! module documentation of `auth`): failures counted per address and per e-mail, the hash
//! on the sign-in pool, and the same cost whether the address exists or not.

use std::net::IpAddr;

use base64::Engine;
use warp::http::{HeaderMap, HeaderName};

use super::people::PersonRecord;
use super::sessions::{cookie_token, Session, SessionLimits};
use super::{pbkdf2_sha256, AuthError, DashboardAuth, Verdict};

/// The person behind a request's session cookie.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub person: PersonRecord,
    pub session: Session,
    /// The cookie's value, to end this session; `None` for a person the proxy named.
    pub token: Option<String>,
}

impl SignedIn {
    /// Signed in with a temporary password an admin passed on, which opens nothing but the
    /// page to choose their own. A person the proxy names signed in elsewhere.
    pub fn must_change_password(&self) -> bool {
        self.token.is_some() && self.person.must_change_password
    }
}

/// Single sign-on: the header in which a reverse proxy names the signed-in person, and the
/// one address it is believed from.
#[derive(Debug, Clone)]
pub struct ProxyTrust {
    header: HeaderName,
    from: IpAddr,
}

impl ProxyTrust {
    /// The header's name is checked here, so a typo stops start-up.
    pub fn new(header: &str, from: IpAddr) -> Result<ProxyTrust, AuthError> {
        let header = HeaderName::from_bytes(header.trim().as_bytes())
            .map_err(|_| AuthError::ProxyHeader(header.to_string()))?;
        Ok(ProxyTrust { header, from })
    }
}

impl DashboardAuth {
    /// Checks the password and starts a session: the cookie value, the session and the
    /// person; or why not (`Refused`, `TooMany`, `Busy`).
    pub async fn sign_in(
        &self,
        email: &str,
        password: Vec<u8>,
        client: IpAddr,
    ) -> Result<SignedIn, Verdict> {
        let person = self.person_with_password(email, password, client).await?;
        let (token, session) = self.0.sessions.start(&person.email);
        tracing::info!(email = %person.email, "dashboard: signed in");
        Ok(SignedIn {
            person,
            session,
            token: Some(token),
        })
    }

    /// The enabled person whose password this is, guarded like every sign-in (failures
    /// counted, the hash on the sign-in pool, the same cost for an unknown address).
    pub async fn person_with_password(
        &self,
        email: &str,
        password: Vec<u8>,
        client: IpAddr,
    ) -> Result<PersonRecord, Verdict> {
        let Some(people) = self.0.people.clone() else {
            return Err(Verdict::Refused);
        };
        let attempt = self
            .0
            .guard
            .admit(client, email.trim().to_lowercase().as_bytes())
            .map_err(Verdict::TooMany)?;
        let pool = self.pool().map_err(|e| {
            tracing::error!("cannot start the sign-in check threads: {e}");
            Verdict::Busy
        })?;
        let dummy_salt = self.0.dummy_salt;
        let wanted = email.to_string();
        let found = pool
            .run(move || {
                let cost = people.cost();
                let (found, spent) = people.check(&wanted, &password);
                // An unknown address, or a cheaper hash, pays the difference.
                let rest = cost.saturating_sub(spent);
                if rest > 0 {
                    std::hint::black_box(pbkdf2_sha256(&password, &dummy_salt, rest));
                }
                found
            })
            .await
            .map_err(|e| {
                tracing::warn!("sign-in: {e}");
                Verdict::Busy
            })?;
        let Some(person) = found else {
            attempt.failed();
            return Err(Verdict::Refused);
        };
        attempt.succeeded();
        Ok(person)
    }

    /// Who the request is: the live session of its cookie, or the person a trusted proxy
    /// names (from the proxy's own address only, never from a forwarded one); listed and
    /// enabled in people.json either way. A session whose person is gone or disabled ends
    /// here.
    pub fn signed_in(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<SignedIn> {
        let people = self.0.people.as_ref()?;
        if let Some(token) = cookie_token(headers) {
            if let Some(session) = self.0.sessions.get(&token) {
                let Some(person) = people.active(&session.email) else {
                    self.0.sessions.end(&token);
                    return None;
                };
                return Some(SignedIn {
                    person,
                    session,
                    token: Some(token),
                });
            }
        }
        let trust = self.0.proxy.get()?;
        if peer != Some(trust.from) {
            return None;
        }
        let email = headers.get(&trust.header)?.to_str().ok()?.trim();
        let person = people.active(email)?;
        let csrf = self.proxy_csrf(&person.email);
        Some(SignedIn {
            session: Session::from_proxy(&person.email, csrf),
            person,
            token: None,
        })
    }

    /// Whether the session cookie of `headers` still opens the dashboard: live, its person
    /// enabled, and not holding a temporary password. `None` when the request carried no
    /// session (a script's token, an open dashboard), which this cannot end. Never marks
    /// the session used.
    pub fn session_still_open(&self, headers: &HeaderMap) -> Option<bool> {
        let token = cookie_token(headers)?;
        let people = self.0.people.as_ref()?;
        let open = self
            .0
            .sessions
            .live_email(&token)
            .and_then(|email| people.active(&email))
            .is_some_and(|p| !p.must_change_password);
        Some(open)
    }

    /// The people file, for the admin page.
    pub fn people(&self) -> Option<&super::people::PeopleFile> {
        self.0.people.as_ref()
    }

    /// Ends every session of a person at once (disabled, or their password reset).
    pub fn end_sessions_of(&self, email: &str) {
        self.0.sessions.end_all_of(email);
    }

    /// Ends a person's sessions but the one of this cookie value (their password changed:
    /// whoever else knew the old one is signed out).
    pub fn end_other_sessions_of(&self, email: &str, keep: &str) {
        self.0.sessions.end_all_of_but(email, keep);
    }

    /// Trusts a reverse proxy's user header from now on (set once, at start-up).
    pub fn trust_proxy(&self, trust: ProxyTrust) {
        let _ = self.0.proxy.set(trust);
    }

    /// Sets how long sessions last (`serve --session-idle`, `--session-lifetime`); once,
    /// before anyone signs in.
    pub fn limit_sessions(&self, limits: SessionLimits) {
        self.0.sessions.set_limits(limits);
    }

    /// How long sessions last.
    pub fn session_limits(&self) -> SessionLimits {
        self.0.sessions.limits()
    }

    /// A proxy-named person's CSRF token: a MAC of their address under this process's key,
    /// the same on every request, unknown to any other site.
    fn proxy_csrf(&self, email: &str) -> String {
        let tag = self.tag(b"csrf", email.to_lowercase().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    }

    /// Ends one session (sign-out); a proxy-named person has none to end.
    pub fn sign_out(&self, signed: &SignedIn) {
        if let Some(token) = &signed.token {
            self.0.sessions.end(token);
        }
        tracing::info!(email = %signed.person.email, "dashboard: signed out");
    }
}
