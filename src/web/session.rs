//! `/api/session`: sign in (`POST`, JSON `{"email","password"}` → the session cookie and
//! `{"csrf", "person"}`), who is signed in (`GET`), sign out (`DELETE`, with the CSRF
//! token). The route is open in the guard, so each method checks what it needs itself.

use std::convert::Infallible;

use serde::Deserialize;
use serde_json::json;
use warp::http::{header, HeaderMap, StatusCode};
use warp::Filter;

use crate::web::auth::people::PersonRecord;
use crate::web::auth::sessions::{set_cookie, through_tls, CSRF_HEADER};
use crate::web::auth::{DashboardAuth, SignedIn, Verdict};
use crate::web::http_server::ClientAddr;
use crate::web::login_guard::client_ip;
use crate::web::reply::{error_reply, is_json, json_reply, not_json, too_many};

/// Largest sign-in body accepted: an address and a password fit many times over.
const MAX_BODY: u64 = 4 * 1024;
/// Longest password checked: PBKDF2 hashes the whole of it.
const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

/// The three methods of `/api/session`.
pub fn routes(
    auth: Option<DashboardAuth>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_auth = warp::any().map(move || auth.clone());
    let base = warp::path!("api" / "session");
    let sign_in = base
        .and(warp::post())
        .and(with_auth.clone())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and_then(sign_in);
    let who = base
        .and(warp::get())
        .and(with_auth.clone())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .map(who);
    let sign_out = base
        .and(warp::delete())
        .and(with_auth)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .map(sign_out);
    sign_in.or(who).unify().or(sign_out).unify()
}

async fn sign_in(
    auth: Option<DashboardAuth>,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Result<warp::reply::Response, Infallible> {
    let Some(auth) = auth.filter(DashboardAuth::has_people) else {
        return Ok(error_reply(
            StatusCode::NOT_FOUND,
            "nobody signs in here: add people with `oshirase users add`",
        ));
    };
    if !is_json(&headers) {
        return Ok(not_json());
    }
    let credentials: Credentials = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return Ok(error_reply(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"email\": …, \"password\": …}}: {e}"),
            ))
        }
    };
    if credentials.email.trim().is_empty() {
        return Ok(error_reply(StatusCode::BAD_REQUEST, "email: empty"));
    }
    if credentials.password.is_empty() || credentials.password.len() > MAX_PASSWORD_BYTES {
        return Ok(error_reply(
            StatusCode::BAD_REQUEST,
            format!("password: from 1 to {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let client = client_ip(peer.map(|p| p.0), &headers);
    let password = credentials.password.into_bytes();
    Ok(
        match auth.sign_in(&credentials.email, password, client).await {
            Ok(signed) => {
                let mut r = json_reply(StatusCode::OK, &described(&signed));
                cookie(
                    &mut r,
                    set_cookie(
                        signed.token.as_deref(),
                        through_tls(&headers),
                        auth.session_limits().lifetime,
                    ),
                );
                r
            }
            Err(Verdict::TooMany(wait)) => too_many("failed sign-ins", wait),
            Err(Verdict::Busy) => error_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "the sign-in checks are busy; try again in a moment",
            ),
            // One answer for an unknown address, a wrong password and a disabled person.
            Err(_) => error_reply(
                StatusCode::UNAUTHORIZED,
                "the e-mail address or the password is not right",
            ),
        },
    )
}

fn who(
    auth: Option<DashboardAuth>,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> warp::reply::Response {
    match auth.and_then(|a| a.signed_in(&headers, peer.map(|p| p.0.ip()))) {
        Some(signed) => json_reply(StatusCode::OK, &described(&signed)),
        None => error_reply(StatusCode::UNAUTHORIZED, "not signed in"),
    }
}

fn sign_out(
    auth: Option<DashboardAuth>,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> warp::reply::Response {
    let peer = peer.map(|p| p.0.ip());
    let Some((auth, signed)) = auth.and_then(|a| a.signed_in(&headers, peer).map(|s| (a, s)))
    else {
        return error_reply(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let csrf = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
    if !signed.session.csrf_matches(csrf) {
        return error_reply(
            StatusCode::FORBIDDEN,
            "X-CSRF-Token: missing, or not this session's; reload the page",
        );
    }
    auth.sign_out(&signed);
    let mut r = json_reply(StatusCode::OK, &json!({ "signed_out": true }));
    cookie(
        &mut r,
        set_cookie(None, through_tls(&headers), auth.session_limits().lifetime),
    );
    r
}

fn described(signed: &SignedIn) -> serde_json::Value {
    json!({
        "csrf": signed.session.csrf,
        "person": person(&signed.person),
        // A temporary password opens only the page that replaces it (password.html).
        "must_change_password": signed.must_change_password(),
    })
}

/// A person as the dashboard shows them: never their password hash.
pub fn person(p: &PersonRecord) -> serde_json::Value {
    json!({
        "email": p.email,
        "name": p.name,
        "department": p.department,
        "role": p.role,
    })
}

fn cookie(response: &mut warp::reply::Response, value: String) {
    if let Ok(v) = header::HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    // A response that sets or clears a session is never cached.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
}
