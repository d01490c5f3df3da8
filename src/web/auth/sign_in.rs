//! Signing in with an e-mail address and a password from `people.json`, and the session
//! each later request of that browser carries. Guarded as basic sign-in is (see the
//! module documentation of `auth`): failures counted per address and per e-mail, the hash
//! on the sign-in pool, and the same cost whether the address exists or not.

use std::net::IpAddr;

use warp::http::HeaderMap;

use super::people::PersonRecord;
use super::sessions::{cookie_token, Session};
use super::{pbkdf2_sha256, DashboardAuth, Verdict};

/// The person behind a request's session cookie.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub person: PersonRecord,
    pub session: Session,
    /// The cookie's value, to end this session.
    pub token: String,
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
        let (token, session) = self.0.sessions.start(&person.email);
        tracing::info!(email = %person.email, "dashboard: signed in");
        Ok(SignedIn {
            person,
            session,
            token,
        })
    }

    /// The live session of the request's cookie and its person, still listed and enabled;
    /// a session whose person is gone or disabled ends here.
    pub fn signed_in(&self, headers: &HeaderMap) -> Option<SignedIn> {
        let people = self.0.people.as_ref()?;
        let token = cookie_token(headers)?;
        let session = self.0.sessions.get(&token)?;
        let Some(person) = people.active(&session.email) else {
            self.0.sessions.end(&token);
            return None;
        };
        Some(SignedIn {
            person,
            session,
            token,
        })
    }

    /// Ends one session (sign-out).
    pub fn sign_out(&self, signed: &SignedIn) {
        self.0.sessions.end(&signed.token);
        tracing::info!(email = %signed.person.email, "dashboard: signed out");
    }
}
