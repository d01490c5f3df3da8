//! Forge push webhooks: GitHub, GitLab and Gitea tell oshirase the branch moved.
//!
//! The request is untrusted until its signature (GitHub, Gitea: HMAC-SHA256 of the body)
//! or token (GitLab) matches `OSHIRASE_WEBHOOK_SECRET`; a bad or missing one is 401 and
//! triggers nothing. A valid push to the watched branch asks for an immediate fetch and
//! sync; every other valid delivery (pings, tags, other branches) is acknowledged and
//! ignored. The body is never trusted for content: it only says "look now".
//!
//! The route is open to anyone, so what an anonymous sender can make it spend is bounded
//! before the signature can be checked: the body must announce its length, at most
//! [`MAX_BODY`]; a request without a secret on the server or without a signature (GitLab:
//! with a wrong token) is refused before its body is read; at most [`MAX_READING`] bodies are read
//! at once (503 beyond); each must arrive within [`BODY_TIMEOUT`] (408). A delivery the
//! forge sends again under the same id triggers no second fetch (`hook_deliveries`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, Semaphore};
use warp::http::header::RETRY_AFTER;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::{Buf, Filter, Reply};

use crate::web::hook_deliveries::{delivery_id, RecentDeliveries};

/// The secret shared with the forge.
pub const WEBHOOK_SECRET: &str = "OSHIRASE_WEBHOOK_SECRET";
/// Push payloads are a few kB (GitLab lists at most 20 commits); only a push of thousands
/// of commits to GitHub comes near 1 MiB, and then the next timed fetch finds it. nginx
/// refuses larger bodies by default too.
pub const MAX_BODY: u64 = 1024 * 1024;
/// A forge sends its payload in one go (and gives up itself after 10 s); a body still
/// incomplete after this is a slow sender holding memory.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies read at once before their signature is checked: memory is bounded by this many
/// times [`MAX_BODY`]. Forges deliver one event at a time.
pub const MAX_READING: usize = 16;

#[derive(Clone, Debug)]
pub struct HookSettings {
    pub secret: Option<String>,
    pub branch: String,
    /// Asks the sync loop to fetch and sync now.
    pub sync_now: mpsc::Sender<()>,
    /// Places for bodies being read; see [`MAX_READING`].
    reading: Arc<Semaphore>,
    /// Deliveries acted on, by id.
    recent: Arc<RecentDeliveries>,
}

impl HookSettings {
    pub fn new(secret: Option<String>, branch: String, sync_now: mpsc::Sender<()>) -> Self {
        HookSettings {
            secret,
            branch,
            sync_now,
            reading: Arc::new(Semaphore::new(MAX_READING)),
            recent: Arc::default(),
        }
    }
}

/// Which forge's webhook dialect a delivery speaks (its path, `/hooks/<name>`): how it is
/// signed and how it names a push. Not `git::forge::ForgeKind`, which names the hosts
/// oshirase links to (Gitea has no single host; Codeberg speaks Gitea's dialect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookDialect {
    GitHub,
    GitLab,
    Gitea,
}

impl HookDialect {
    fn parse(name: &str) -> Option<HookDialect> {
        match name {
            "github" => Some(HookDialect::GitHub),
            "gitlab" => Some(HookDialect::GitLab),
            "gitea" => Some(HookDialect::Gitea),
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

fn authenticated(forge: HookDialect, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    match forge {
        HookDialect::GitHub => header(headers, "x-hub-signature-256")
            .and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|sig| hmac_matches(secret, body, sig)),
        HookDialect::Gitea => {
            header(headers, "x-gitea-signature").is_some_and(|sig| hmac_matches(secret, body, sig))
        }
        HookDialect::GitLab => header(headers, "x-gitlab-token")
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(secret.as_bytes()))),
    }
}

/// Decides what a delivery means; pure, so the forges' real payloads test it directly.
pub fn decide(
    forge: HookDialect,
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
        HookDialect::GitHub => header(headers, "x-github-event"),
        HookDialect::GitLab => header(headers, "x-gitlab-event"),
        HookDialect::Gitea => header(headers, "x-gitea-event"),
    }
    .unwrap_or_default();
    let is_push = matches!(
        (forge, event),
        (HookDialect::GitHub, "push")
            | (HookDialect::GitLab, "Push Hook")
            | (HookDialect::Gitea, "push")
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

/// Why a delivery is refused before its body is read, if it is.
fn refused_unread(
    forge: HookDialect,
    secret: Option<&str>,
    headers: &HeaderMap,
) -> Option<&'static str> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Some("this server has no webhook secret (OSHIRASE_WEBHOOK_SECRET)");
    };
    let signed = match forge {
        HookDialect::GitHub => header(headers, "x-hub-signature-256").is_some(),
        HookDialect::Gitea => header(headers, "x-gitea-signature").is_some(),
        // GitLab's token is a header: it can be checked before anything is read.
        HookDialect::GitLab => authenticated(forge, secret, headers, b""),
    };
    (!signed).then_some("missing or wrong signature")
}

/// `POST /hooks/{github,gitlab,gitea}`.
pub fn routes(
    settings: HookSettings,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::post()
        .and(warp::path!("hooks" / String))
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(warp::any().map(move || settings.clone()))
        .then(
            |forge: String, headers: HeaderMap, body, settings: HookSettings| async move {
                handle(forge, headers, body, settings).await
            },
        )
}

fn reply(status: StatusCode, body: serde_json::Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

fn error(status: StatusCode, message: &str) -> warp::reply::Response {
    reply(status, json!({ "error": message }))
}

async fn handle(
    forge: String,
    headers: HeaderMap,
    body: impl Stream<Item = Result<impl Buf, warp::Error>>,
    settings: HookSettings,
) -> warp::reply::Response {
    let Some(forge) = HookDialect::parse(&forge) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown forge; use github, gitlab or gitea",
        );
    };
    // What the head alone tells decides first: its announced size, then its signature.
    let length = match announced_length(&headers) {
        Ok(length) => length,
        Err(refusal) => return refusal.reply(),
    };
    if let Some(why) = refused_unread(forge, settings.secret.as_deref(), &headers) {
        tracing::warn!(?forge, "webhook refused: {why}");
        return error(StatusCode::UNAUTHORIZED, why);
    }
    let body = match read_body(length, BODY_TIMEOUT, body, &settings.reading).await {
        Ok(body) => body,
        Err(refusal) => return refusal.reply(),
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
            error(StatusCode::UNAUTHORIZED, why)
        }
        Decision::BadRequest(why) => error(StatusCode::BAD_REQUEST, &why),
        Decision::Ignore(why) => reply(StatusCode::OK, json!({ "ignored": why })),
        Decision::Fetch => fetch(forge, &headers, &settings),
    }
}

/// An authenticated push to the watched branch: fetch now, unless this very delivery was
/// acted on before.
fn fetch(
    forge: HookDialect,
    headers: &HeaderMap,
    settings: &HookSettings,
) -> warp::reply::Response {
    if let Some(id) = delivery_id(forge, headers) {
        if !settings.recent.first_time(forge, id) {
            tracing::info!(
                ?forge,
                id,
                "webhook: a repeated delivery; already fetched for it"
            );
            return reply(
                StatusCode::OK,
                json!({ "ignored": format!("delivery {id} was already handled") }),
            );
        }
    }
    // A full channel already holds a request: one fetch covers both.
    let _ = settings.sync_now.try_send(());
    tracing::info!(?forge, "webhook: push to the watched branch; fetching");
    reply(StatusCode::ACCEPTED, json!({ "fetch": "requested" }))
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
enum Unread {
    NoLength,
    TooLarge,
    Busy,
    TooSlow,
    Broken,
}

impl Unread {
    fn reply(self) -> warp::reply::Response {
        let (status, message) = match self {
            Unread::NoLength => (
                StatusCode::LENGTH_REQUIRED,
                "the request must say its Content-Length",
            ),
            Unread::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            ),
            Unread::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many webhook deliveries at once; try again",
            ),
            Unread::TooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ),
            Unread::Broken => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ),
        };
        let mut response = error(status, message);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The body's announced length, if it is given and at most [`MAX_BODY`].
fn announced_length(headers: &HeaderMap) -> Result<usize, Unread> {
    let length: u64 = header(headers, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or(Unread::NoLength)?;
    if length > MAX_BODY {
        return Err(Unread::TooLarge);
    }
    usize::try_from(length).map_err(|_| Unread::TooLarge)
}

/// Reads a body of the announced `limit` within `timeout`, holding one of the reading
/// places meanwhile.
async fn read_body(
    limit: usize,
    timeout: Duration,
    body: impl Stream<Item = Result<impl Buf, warp::Error>>,
    reading: &Arc<Semaphore>,
) -> Result<Vec<u8>, Unread> {
    let _place = reading
        .clone()
        .try_acquire_owned()
        .map_err(|_| Unread::Busy)?;
    let collect = async {
        // Grown as bytes arrive: an announced length costs nothing until it is sent.
        let mut bytes = Vec::with_capacity(limit.min(64 * 1024));
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|_| Unread::Broken)?;
            // hyper holds a body to its announced length; this keeps it so if that changes.
            if bytes.len() + chunk.remaining() > limit {
                return Err(Unread::TooLarge);
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                bytes.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(bytes)
    };
    tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| Unread::TooSlow)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_announced_length_is_required_and_bounded() {
        assert_eq!(announced_length(&headers(&[])), Err(Unread::NoLength));
        assert_eq!(
            announced_length(&headers(&[("content-length", "x")])),
            Err(Unread::NoLength)
        );
        assert_eq!(
            announced_length(&headers(&[("content-length", "1048576")])),
            Ok(1024 * 1024)
        );
        assert_eq!(
            announced_length(&headers(&[("content-length", "1048577")])),
            Err(Unread::TooLarge)
        );
    }

    #[test]
    fn what_the_head_alone_refuses() {
        let none = headers(&[]);
        assert!(refused_unread(HookDialect::GitHub, None, &none)
            .is_some_and(|w| w.contains("no webhook secret")));
        assert!(refused_unread(HookDialect::GitHub, Some("s"), &none).is_some());
        assert!(refused_unread(HookDialect::Gitea, Some("s"), &none).is_some());
        // A signature can only be checked against the body: read it.
        let signed = headers(&[("x-hub-signature-256", "sha256=00")]);
        assert_eq!(
            refused_unread(HookDialect::GitHub, Some("s"), &signed),
            None
        );
        // GitLab's token is in the head: a wrong one is refused unread.
        let wrong = headers(&[("x-gitlab-token", "nope")]);
        assert!(refused_unread(HookDialect::GitLab, Some("s3cret"), &wrong).is_some());
        let right = headers(&[("x-gitlab-token", "s3cret")]);
        assert_eq!(
            refused_unread(HookDialect::GitLab, Some("s3cret"), &right),
            None
        );
    }

    #[tokio::test]
    async fn a_body_is_read_within_its_places_size_and_time() {
        use futures_util::stream;
        let places = Arc::new(Semaphore::new(1));
        let chunks = || stream::iter([Ok::<_, warp::Error>(&b"{\"ref\":"[..]), Ok(&b"1}"[..])]);
        assert_eq!(
            read_body(9, BODY_TIMEOUT, chunks(), &places).await,
            Ok(b"{\"ref\":1}".to_vec())
        );
        // More than announced is refused (hyper prevents it; this would catch a change).
        assert_eq!(
            read_body(4, BODY_TIMEOUT, chunks(), &places).await,
            Err(Unread::TooLarge)
        );
        // No place free: refused at once.
        let taken = places.clone().try_acquire_owned().unwrap();
        assert_eq!(
            read_body(9, BODY_TIMEOUT, chunks(), &places).await,
            Err(Unread::Busy)
        );
        drop(taken);
        // A sender that stops: cut off after the body time limit.
        let stalled = stream::pending::<Result<&[u8], warp::Error>>();
        let short = Duration::from_millis(50);
        assert_eq!(
            read_body(9, short, stalled, &places).await,
            Err(Unread::TooSlow)
        );
    }
}
