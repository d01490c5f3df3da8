//! The warp filter in front of every route: what a request presents, which routes stay
//! open, and the answers to a refusal (401 with a challenge, 429, 503).

use std::convert::Infallible;
use std::time::Duration;

use base64::Engine;
use warp::http::{header, HeaderMap, Method, StatusCode};
use warp::path::FullPath;
use warp::{Filter, Rejection, Reply};

use super::sessions::CSRF_HEADER;
use super::{DashboardAuth, Verdict, CHALLENGE};
use crate::web::http_server::ClientAddr;
use crate::web::login_guard::client_ip;

/// What a request presents.
pub(super) enum Presented {
    Bearer(Vec<u8>),
    Basic { user: Vec<u8>, password: Vec<u8> },
}

impl Presented {
    pub(super) fn parse(value: &[u8]) -> Option<Presented> {
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
pub(super) fn is_open(path: &str) -> bool {
    let one_segment = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/') && rest != "..")
    };
    path == "/healthz"
        || one_segment("/hooks/")
        || one_segment("/media/")
        || SIGN_IN_FILES.contains(&path)
}

/// What the sign-in page needs before anyone is signed in: static files only, and the
/// route that signs in (which checks what it is sent itself).
const SIGN_IN_FILES: [&str; 7] = [
    "/signin.html",
    "/style.css",
    "/js/signin.js",
    "/js/i18n.js",
    "/js/i18n/ja.js",
    "/js/i18n/en.js",
    "/api/session",
];

/// Where browsers go to sign in.
pub const SIGN_IN_PAGE: &str = "/signin.html";

/// Where a person signed in with a temporary password chooses their own.
pub const PASSWORD_PAGE: &str = "/password.html";

/// All that a session with a temporary password reaches (with the open paths): the page
/// that replaces the password, its files, and the route it sends the new one to. Nothing
/// of the office's posts or people is open to a password an admin has seen.
const PASSWORD_PAGE_FILES: [&str; 3] = [PASSWORD_PAGE, "/js/password.js", "/api/session/password"];

/// A session with a temporary password asking for anything else; answered 403 (a page
/// load is sent to the password page).
#[derive(Debug)]
struct PasswordFirst {
    page: bool,
}
impl warp::reject::Reject for PasswordFirst {}

#[derive(Debug)]
struct Unauthorized {
    /// A browser's page load, sent to the sign-in page instead of a challenge.
    to_sign_in: bool,
    /// Whether to ask for basic credentials: not when people sign in on the sign-in page
    /// and the request carried none, as the browser's own dialog would pop up over it.
    challenge: bool,
}
impl warp::reject::Reject for Unauthorized {}

/// A changing request of a session without its CSRF token; answered 403.
#[derive(Debug)]
struct CsrfRefused;
impl warp::reject::Reject for CsrfRefused {}

/// Refused for too many failures; answered 429.
#[derive(Debug)]
struct TooMany(Duration);
impl warp::reject::Reject for TooMany {}

/// The hash pool is full; answered 503.
#[derive(Debug)]
struct Busy;
impl warp::reject::Reject for Busy {}

async fn check(auth: &DashboardAuth, headers: &HeaderMap, peer: Option<ClientAddr>) -> Verdict {
    let value = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let client = client_ip(peer.map(|p| p.0), headers);
    auth.verify(value, client).await
}

/// Lets a request through when the dashboard is open, its path is one of the open ones, or
/// it carries valid credentials; rejects it otherwise (answered by [`challenge`]). Every
/// route behind it is protected unless listed in `is_open`, so a new route is safe by
/// default.
pub fn guard(auth: Option<DashboardAuth>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and_then(
            move |method: Method, path: FullPath, headers: HeaderMap, peer: Option<ClientAddr>| {
                let auth = auth.clone();
                async move {
                    match auth {
                        None => Ok(()),
                        Some(a) if a.is_open_now() || is_open(path.as_str()) => Ok(()),
                        Some(auth) => admit(&auth, &method, path.as_str(), &headers, peer).await,
                    }
                }
            },
        )
        .untuple_one()
}

/// A session cookie (with its CSRF token on a changing request), else an `Authorization`
/// header. Scripts that send basic credentials are not asked for a CSRF token: every
/// changing route takes a JSON body, which a form on another site cannot send.
async fn admit(
    auth: &DashboardAuth,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
) -> Result<(), Rejection> {
    if let Some(signed) = auth.signed_in(headers, peer.map(|p| p.0.ip())) {
        let safe = matches!(*method, Method::GET | Method::HEAD);
        if signed.must_change_password() && !PASSWORD_PAGE_FILES.contains(&path) {
            let page = safe && (path == "/" || path == "/index.html");
            return Err(warp::reject::custom(PasswordFirst { page }));
        }
        if safe
            || signed
                .session
                .csrf_matches(headers.get(CSRF_HEADER).map(|v| v.as_bytes()))
        {
            return Ok(());
        }
        return Err(warp::reject::custom(CsrfRefused));
    }
    match check(auth, headers, peer).await {
        Verdict::Allowed => Ok(()),
        Verdict::Refused => {
            tracing::debug!(path, "dashboard: credentials refused");
            let people = auth.has_people();
            let page = *method == Method::GET && (path == "/" || path == "/index.html");
            Err(warp::reject::custom(Unauthorized {
                to_sign_in: people && page,
                challenge: !people || headers.contains_key(header::AUTHORIZATION),
            }))
        }
        Verdict::TooMany(wait) => Err(warp::reject::custom(TooMany(wait))),
        Verdict::Busy => Err(warp::reject::custom(Busy)),
    }
}

/// Whether the request may see everything (open dashboard or valid credentials), for
/// routes that answer everyone but tell more to those who logged in.
pub fn authenticated(
    auth: Option<DashboardAuth>,
) -> impl Filter<Extract = (bool,), Error = Infallible> + Clone {
    warp::header::headers_cloned()
        .and(warp::ext::optional::<ClientAddr>())
        .then(move |headers: HeaderMap, peer: Option<ClientAddr>| {
            let auth = auth.clone();
            async move {
                match auth {
                    None => true,
                    Some(auth)
                        if auth.is_open_now()
                            || auth
                                .signed_in(&headers, peer.map(|p| p.0.ip()))
                                .is_some_and(|s| !s.must_change_password()) =>
                    {
                        true
                    }
                    // No header: no check to count.
                    Some(_) if !headers.contains_key(header::AUTHORIZATION) => false,
                    Some(auth) => check(&auth, &headers, peer).await == Verdict::Allowed,
                }
            }
        })
}

/// Answers a request [`guard`] refused with 401 and the challenge; passes others on.
pub async fn challenge(r: Rejection) -> Result<warp::reply::Response, Rejection> {
    if let Some(TooMany(wait)) = r.find::<TooMany>() {
        // Whole seconds, rounded up: a client waiting what it is told is let through.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Ok(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many failed sign-ins; try again in {secs} s"),
            secs,
        ));
    }
    if r.find::<Busy>().is_some() {
        return Ok(retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "the sign-in checks are busy; try again in a moment",
            1,
        ));
    }
    if let Some(PasswordFirst { page }) = r.find::<PasswordFirst>() {
        if *page {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                header::HeaderValue::from_static(PASSWORD_PAGE),
            );
            return Ok(response);
        }
        let body = serde_json::json!({
            "error": "you signed in with a temporary password: choose your own first (password.html)",
            "code": "password-change-required",
        });
        return Ok(
            warp::reply::with_status(warp::reply::json(&body), StatusCode::FORBIDDEN)
                .into_response(),
        );
    }
    if r.find::<CsrfRefused>().is_some() {
        let body = serde_json::json!({
            "error": "X-CSRF-Token: missing, or not this session's; reload the page"
        });
        return Ok(
            warp::reply::with_status(warp::reply::json(&body), StatusCode::FORBIDDEN)
                .into_response(),
        );
    }
    let Some(refused) = r.find::<Unauthorized>() else {
        return Err(r);
    };
    if refused.to_sign_in {
        let mut response = StatusCode::SEE_OTHER.into_response();
        response.headers_mut().insert(
            header::LOCATION,
            header::HeaderValue::from_static(SIGN_IN_PAGE),
        );
        return Ok(response);
    }
    let body = serde_json::json!({ "error": "authentication required" });
    let mut response = warp::reply::with_status(warp::reply::json(&body), StatusCode::UNAUTHORIZED)
        .into_response();
    if refused.challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(CHALLENGE),
        );
    }
    Ok(response)
}

fn retry_later(status: StatusCode, message: &str, secs: u64) -> warp::reply::Response {
    let body = serde_json::json!({ "error": message });
    let mut response = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    response
}
