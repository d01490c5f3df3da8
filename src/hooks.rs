//! Forge push webhooks: GitHub, GitLab and Gitea tell oshirase the branch moved.
//!
//! The request is untrusted until its signature (GitHub, Gitea: HMAC-SHA256 of the body)
//! or token (GitLab) matches `OSHIRASE_WEBHOOK_SECRET`; a bad or missing one is 401 and
//! triggers nothing. A valid push to the watched branch asks for an immediate fetch and
//! sync; every other valid delivery (pings, tags, other branches) is acknowledged and
//! ignored. The body is never trusted for content: it only says "look now".

use std::convert::Infallible;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use warp::http::{HeaderMap, StatusCode};
use warp::{Filter, Reply};

/// The secret shared with the forge.
pub const WEBHOOK_SECRET: &str = "OSHIRASE_WEBHOOK_SECRET";
/// Push payloads are small; anything larger is refused before it is read.
const MAX_BODY: u64 = 5 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct HookSettings {
    pub secret: Option<String>,
    pub branch: String,
    /// Asks the sync loop to fetch and sync now.
    pub sync_now: mpsc::Sender<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    fn parse(name: &str) -> Option<Forge> {
        match name {
            "github" => Some(Forge::GitHub),
            "gitlab" => Some(Forge::GitLab),
            "gitea" => Some(Forge::Gitea),
            _ => None,
        }
    }
}

/// What to do with a delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Unauthorized(&'static str),
    /// A push to the watched branch: fetch now.
    Fetch,
    Ignore(String),
    BadRequest(String),
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `hex_signature` is the HMAC-SHA256 of `body` under `secret` (constant time).
pub fn hmac_matches(secret: &str, body: &[u8], hex_signature: &str) -> bool {
    let Ok(expected) = hex::decode(hex_signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn authenticated(forge: Forge, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    match forge {
        Forge::GitHub => header(headers, "x-hub-signature-256")
            .and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|sig| hmac_matches(secret, body, sig)),
        Forge::Gitea => {
            header(headers, "x-gitea-signature").is_some_and(|sig| hmac_matches(secret, body, sig))
        }
        Forge::GitLab => header(headers, "x-gitlab-token")
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(secret.as_bytes()))),
    }
}

/// Decides what a delivery means; pure, so the forges' real payloads test it directly.
pub fn decide(
    forge: Forge,
    secret: Option<&str>,
    branch: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Decision {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Decision::Unauthorized(
            "this server has no webhook secret (OSHIRASE_WEBHOOK_SECRET)",
        );
    };
    if !authenticated(forge, secret, headers, body) {
        return Decision::Unauthorized("missing or wrong signature");
    }
    let event = match forge {
        Forge::GitHub => header(headers, "x-github-event"),
        Forge::GitLab => header(headers, "x-gitlab-event"),
        Forge::Gitea => header(headers, "x-gitea-event"),
    }
    .unwrap_or_default();
    let is_push = matches!(
        (forge, event),
        (Forge::GitHub, "push") | (Forge::GitLab, "Push Hook") | (Forge::Gitea, "push")
    );
    if !is_push {
        return Decision::Ignore(format!("event `{event}` is not a push"));
    }
    let push: Push = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => return Decision::BadRequest(format!("the push payload is not JSON: {e}")),
    };
    let watched = format!("refs/heads/{branch}");
    match push.reference {
        Some(r) if r == watched => Decision::Fetch,
        Some(r) => Decision::Ignore(format!("push to `{r}`, not `{watched}`")),
        None => Decision::BadRequest("the push payload has no `ref`".into()),
    }
}

/// `POST /hooks/{github,gitlab,gitea}`.
pub fn routes(
    settings: HookSettings,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::post()
        .and(warp::path!("hooks" / String))
        .and(warp::header::headers_cloned())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(warp::any().map(move || settings.clone()))
        .and_then(handle)
}

async fn handle(
    forge: String,
    headers: HeaderMap,
    body: warp::hyper::body::Bytes,
    settings: HookSettings,
) -> Result<warp::reply::Response, Infallible> {
    let reply = |status: StatusCode, body: serde_json::Value| {
        Ok(warp::reply::with_status(warp::reply::json(&body), status).into_response())
    };
    let Some(forge) = Forge::parse(&forge) else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({ "error": "unknown forge; use github, gitlab or gitea" }),
        );
    };
    match decide(
        forge,
        settings.secret.as_deref(),
        &settings.branch,
        &headers,
        &body,
    ) {
        Decision::Unauthorized(why) => {
            tracing::warn!(?forge, "webhook refused: {why}");
            reply(StatusCode::UNAUTHORIZED, json!({ "error": why }))
        }
        Decision::BadRequest(why) => reply(StatusCode::BAD_REQUEST, json!({ "error": why })),
        Decision::Ignore(why) => reply(StatusCode::OK, json!({ "ignored": why })),
        Decision::Fetch => {
            // A full channel already holds a request: one fetch covers both.
            let _ = settings.sync_now.try_send(());
            tracing::info!(?forge, "webhook: push to the watched branch; fetching");
            reply(StatusCode::ACCEPTED, json!({ "fetch": "requested" }))
        }
    }
}
