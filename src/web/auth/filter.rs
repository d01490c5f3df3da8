//! The warp filter in front of every route: what a request presents, which routes stay
//! open, and the answers to a refusal (401 with a challenge, 429, 503).

use std::convert::Infallible;
use std::time::Duration;

use base64::Engine;
use warp::http::{header, HeaderMap, StatusCode};
use warp::path::FullPath;
use warp::{Filter, Rejection, Reply};

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
    path == "/healthz" || one_segment("/hooks/") || one_segment("/media/")
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

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
    warp::path::full()
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and_then(
            move |path: FullPath, headers: HeaderMap, peer: Option<ClientAddr>| {
                let auth = auth.clone();
                async move {
                    let auth = match auth {
                        None => return Ok(()),
                        Some(_) if is_open(path.as_str()) => return Ok(()),
                        Some(auth) => auth,
                    };
                    match check(&auth, &headers, peer).await {
                        Verdict::Allowed => Ok(()),
                        Verdict::Refused => {
                            tracing::debug!(path = path.as_str(), "dashboard: credentials refused");
                            Err(warp::reject::custom(Unauthorized))
                        }
                        Verdict::TooMany(wait) => Err(warp::reject::custom(TooMany(wait))),
                        Verdict::Busy => Err(warp::reject::custom(Busy)),
                    }
                }
            },
        )
        .untuple_one()
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

fn retry_later(status: StatusCode, message: &str, secs: u64) -> warp::reply::Response {
    let body = serde_json::json!({ "error": message });
    let mut response = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    response
}
