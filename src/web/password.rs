//! `POST /api/session/password` (JSON `{"current","new"}`, with the session's CSRF token):
//! a signed-in person chooses their own password. A temporary password an admin was shown
//! (a new person, a reset, an import) opens nothing else until this is done (see
//! `auth::filter`); anyone may also change theirs at any time from the dashboard.
//!
//! The current password is checked as a sign-in is (failures counted, the hash on the
//! sign-in pool), so a session left open cannot be turned into someone else's account by a
//! passer-by. Every other session of the person ends, and the change is an audit event
//! (`person-changed`) whose actor is the person; the password itself is never recorded.

use std::convert::Infallible;

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use warp::http::{header, HeaderMap, StatusCode};
use warp::Filter;

use crate::model::event::EventKind;
use crate::model::records::{Actor, NewEvent};
use crate::web::auth::people::{PasswordOrigin, PeopleError, PersonRecord};
use crate::web::auth::sessions::CSRF_HEADER;
use crate::web::auth::{DashboardAuth, Verdict};
use crate::web::http_server::ClientAddr;
use crate::web::login_guard::client_ip;
use crate::web::reply::{
    blocking, error_reply, field_error, is_json, json_reply, not_json, too_many,
};
use crate::web::state::AppState;

/// The shortest password a person may choose: long enough that a phrase is easier than a
/// pattern (NIST SP 800-63B asks for at least 8; the office asked for more).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest: PBKDF2 hashes the whole of it, as at sign-in.
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_BODY: u64 = 4 * 1024;

type Answer = Result<warp::reply::Response, warp::reply::Response>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    current: String,
    new: String,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_state = warp::any().map(move || state.clone());
    warp::path!("api" / "session" / "password")
        .and(warp::post())
        .and(with_state)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and_then(change)
}

async fn change(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Result<warp::reply::Response, Infallible> {
    Ok(changing(state, headers, peer, body)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn changing(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Answer {
    let Some((auth, people)) = state
        .auth
        .clone()
        .and_then(|a| a.people().cloned().map(|p| (a, p)))
    else {
        return Err(error_reply(StatusCode::NOT_FOUND, "nobody signs in here"));
    };
    let Some(signed) = auth.signed_in(&headers, peer.map(|p| p.0.ip())) else {
        return Err(error_reply(StatusCode::FORBIDDEN, "sign in first"));
    };
    let Some(token) = signed.token.clone() else {
        return Err(error_reply(
            StatusCode::CONFLICT,
            "you signed in through the office's single sign-on; change your password there",
        ));
    };
    // The guard asks for it too; this route must not depend on being behind it.
    if !signed
        .session
        .csrf_matches(headers.get(CSRF_HEADER).map(|v| v.as_bytes()))
    {
        return Err(error_reply(
            StatusCode::FORBIDDEN,
            "X-CSRF-Token: missing, or not this session's; reload the page",
        ));
    }
    if !is_json(&headers) {
        return Err(not_json());
    }
    let asked: Change = serde_json::from_slice(&body).map_err(|e| {
        error_reply(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"current\": …, \"new\": …}}: {e}"),
        )
    })?;
    let email = signed.person.email.clone();
    if let Some((field, why)) = new_password_problem(&asked, &email) {
        return Err(field_error(StatusCode::UNPROCESSABLE_ENTITY, field, why));
    }
    let client = client_ip(peer.map(|p| p.0), &headers);
    let checked = current_is_right(&auth, &email, asked.current.into_bytes(), client).await?;
    let temporary = checked.must_change_password;
    let cost = people.cost_for_new();
    let written = {
        let (people, email, new) = (people.clone(), email.clone(), asked.new);
        tokio::task::spawn_blocking(move || {
            // Hashed before the people file is locked: every request's session check reads
            // that file, and PBKDF2 takes a good part of a second.
            let hashed =
                crate::web::auth::hash_secret(&new, cost).map_err(PeopleError::Password)?;
            people.update(|all| {
                // An admin's reset since the check wins: its temporary password is the
                // one in force, and the session that asked is ended with it.
                let unchanged = all
                    .find(&email)
                    .is_some_and(|p| p.password == checked.password);
                if !unchanged {
                    return Ok(None);
                }
                all.set_password_hash(&email, hashed, PasswordOrigin::Own, Utc::now())?;
                Ok(all.find(&email).cloned())
            })
        })
        .await
    };
    let person =
        match written {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) => return Err(field_error(
                StatusCode::CONFLICT,
                "current",
                "your password was changed meanwhile (an admin may have reset it); sign in again",
            )),
            Ok(Err(e)) => {
                return Err(error_reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.to_string(),
                ))
            }
            Err(e) => {
                return Err(error_reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.to_string(),
                ))
            }
        };
    auth.end_other_sessions_of(&person.email, &token);
    let detail = if temporary {
        format!(
            "{} chose their own password in place of the temporary one",
            person.email
        )
    } else {
        format!("{} changed their password", person.email)
    };
    let event = NewEvent {
        actor: Actor::Desk(person.email.clone()),
        ..NewEvent::service("", EventKind::PersonChanged, None, detail)
    };
    // The password is changed either way: answering an error now would send the person
    // back to a form whose "current password" no longer is.
    if let Err(refused) = blocking(&state, move |s| s.record(vec![event], &[])).await {
        tracing::error!(
            email = %person.email,
            status = %refused.status(),
            "the password change was made but could not be recorded in the audit log"
        );
    }
    tracing::info!(email = %person.email, "dashboard: password changed");
    let mut r = json_reply(
        StatusCode::OK,
        &json!({ "changed": true, "person": crate::web::session::person(&person) }),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// What is wrong with the new password, naming the field: too short or long, the same as
/// the current one, or the person's own address.
fn new_password_problem(asked: &Change, email: &str) -> Option<(&'static str, String)> {
    // Spaces around it do not count: a password of blanks is no password.
    let chars = asked.new.trim().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Some((
            "new",
            format!("at least {MIN_PASSWORD_CHARS} characters (this has {chars}); a phrase of a few words is easiest to remember"),
        ));
    }
    if asked.new.len() > MAX_PASSWORD_BYTES {
        return Some(("new", format!("at most {MAX_PASSWORD_BYTES} bytes")));
    }
    if asked.current.is_empty() || asked.current.len() > MAX_PASSWORD_BYTES {
        return Some(("current", format!("from 1 to {MAX_PASSWORD_BYTES} bytes")));
    }
    if asked.new == asked.current {
        return Some((
            "new",
            "the same as the current password; choose another".into(),
        ));
    }
    if asked.new.trim().eq_ignore_ascii_case(email) {
        return Some(("new", "your e-mail address cannot be your password".into()));
    }
    None
}

/// Refuses (with the field named) unless `current` is the person's password now.
/// The person as the check found them (their stored hash: what a later write must still
/// find there).
async fn current_is_right(
    auth: &DashboardAuth,
    email: &str,
    current: Vec<u8>,
    client: std::net::IpAddr,
) -> Result<PersonRecord, warp::reply::Response> {
    match auth.person_with_password(email, current, client).await {
        Ok(person) => Ok(person),
        Err(Verdict::TooMany(wait)) => Err(too_many("wrong passwords", wait)),
        Err(Verdict::Busy) => Err(error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "the password checks are busy; try again in a moment",
        )),
        Err(_) => Err(field_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "current",
            "this is not your current password",
        )),
    }
}
