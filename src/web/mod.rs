//! HTTP: the dashboard (embedded from `web/`), the JSON API, live events and health.
//!
//! Every request is untrusted: query values are validated and a bad one is a 400 naming
//! the parameter; post content is only ever sent as JSON and rendered by the dashboard with
//! `textContent`, and every response carries headers that forbid inline script and framing.

pub mod auth;
pub mod hook_deliveries;
pub mod hooks;
pub mod http_server;
pub mod login_guard;
pub mod metrics;
pub mod post_list;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rust_embed::RustEmbed;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_stream::wrappers::BroadcastStream;
use warp::http::{header, Response, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::content::info::RepoInfo;
use crate::content::post::Image;
use crate::git::forge::Forge;
use crate::model::records::{post_state, Event, State};
use crate::networks::media::BlobError;
use crate::store::{meta, PostView, Store, StoreError};
use crate::web::hooks::HookSettings;
use post_list::Query;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// What `/healthz` reports; the sync loop keeps it current.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub last_sync_commit: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The last sync's error, cleared by the next good sync.
    pub sync_error: Option<String>,
    /// The last fetch of a remote repository, and its error while fetching fails.
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub fetch_error: Option<String>,
    /// Failed fetches since the service started (for metrics).
    pub fetch_failures: u64,
    /// Sync durations and failures since the service started (for metrics).
    pub sync_stats: crate::web::metrics::SyncStats,
    /// The commit that landed the `oshirase.yaml` in force.
    pub config_commit: Option<String>,
    /// A change of `oshirase.yaml` on the branch that waits for approval.
    pub config_held: Option<crate::sync::config_approval::HeldConfig>,
    /// What the last sync found wrong outside any post: Markdown files that look meant to
    /// be posts but are not (empty, a forgotten `---`).
    pub sync_problems: Vec<crate::content::post::Problem>,
    /// A background task that died (src/tasks.rs): the service stops, and says why here
    /// until it has.
    pub task_failed: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub health: Arc<RwLock<Health>>,
    /// Turns true when the server shuts down, so open event streams end.
    pub shutdown: watch::Receiver<bool>,
    pub hooks: HookSettings,
    /// Networks paused because they refused their credentials.
    pub paused: crate::delivery::scheduler::PausedNetworks,
    /// The repository images are read from for `GET /media/<blob>`.
    pub repo: std::path::PathBuf,
    /// The forge the remote repository is on, for links to commits and files.
    pub forge: Option<Forge>,
    /// Dashboard credentials; `None` is an open dashboard (loopback only).
    pub auth: Option<crate::web::auth::DashboardAuth>,
}

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// All routes, with security headers on every response.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let posts = warp::path!("api" / "posts")
        .and(warp::get())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(with_state.clone())
        .and_then(list_posts);
    let post = warp::path("api")
        .and(warp::path("posts"))
        .and(warp::path::tail())
        .and(warp::get())
        .and(with_state.clone())
        .and_then(one_post);
    let summary = warp::path!("api" / "summary")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(summary);
    let info = warp::path!("api" / "info")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(info);
    let events = warp::path!("api" / "events")
        .and(warp::get())
        .and(with_state.clone())
        .map(event_stream);
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_state.clone())
        .and(crate::web::auth::authenticated(state.auth.clone()))
        .map(healthz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(crate::web::metrics::reply);
    let media = warp::path!("media" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and_then(media);
    let assets = warp::get().and(warp::path::tail()).map(asset);
    let hooks = crate::web::hooks::routes(state.hooks.clone());
    let app = hooks
        .or(posts)
        .or(post)
        .or(summary)
        .or(info)
        .or(events)
        .or(health)
        .or(metrics)
        .or(media)
        .or(assets);
    // Every route needs the dashboard credentials unless `auth` lists it as open.
    crate::web::auth::guard(state.auth.clone())
        .and(app)
        .recover(crate::web::auth::challenge)
        .recover(handle_rejection)
        .with(warp::reply::with::header(
            header::CONTENT_SECURITY_POLICY,
            CSP,
        ))
        .with(warp::reply::with::header(
            header::X_CONTENT_TYPE_OPTIONS,
            "nosniff",
        ))
        .with(warp::reply::with::header(header::X_FRAME_OPTIONS, "DENY"))
        .with(warp::reply::with::header(
            header::REFERRER_POLICY,
            "no-referrer",
        ))
}

fn json_reply(status: StatusCode, body: &Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

fn error_reply(status: StatusCode, message: impl Into<String>) -> warp::reply::Response {
    json_reply(status, &json!({ "error": message.into() }))
}

async fn handle_rejection(r: Rejection) -> Result<warp::reply::Response, Infallible> {
    // Checked before "method not allowed": the other routes' method rejections would
    // otherwise hide why a POST to a hook was refused.
    Ok(if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        error_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        )
    } else if r.is_not_found() {
        error_reply(StatusCode::NOT_FOUND, "not found")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        error_reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else {
        error_reply(StatusCode::BAD_REQUEST, "bad request")
    })
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, warp::reply::Response> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("store: {e}");
            Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the database could not be read",
            ))
        }
        Err(e) => {
            tracing::error!("store task: {e}");
            Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}

// ---- /api/posts --------------------------------------------------------------------------

#[derive(Serialize)]
struct DeliveryJson<'a> {
    network: &'a str,
    state: State,
    attempts: u32,
    remote_id: Option<&'a str>,
    remote_url: Option<&'a str>,
    last_error: Option<&'a str>,
    /// `last_error` as facts, for the dashboard to word in its language (`src/facts.rs`).
    last_error_facts: Option<&'a crate::model::facts::Facts>,
    published_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    due_at: DateTime<Utc>,
    text: &'a str,
    /// The text's length as the network counts it and its limit; `null` when not recorded.
    length: Option<usize>,
    limit: Option<usize>,
    images: &'a [Image],
}

/// A post as the API shows it (DESIGN.md, "HTTP").
pub fn post_json(v: &PostView) -> Value {
    let p = &v.post;
    let deliveries: Vec<DeliveryJson<'_>> = v
        .deliveries
        .iter()
        .map(|d| DeliveryJson {
            network: &d.network,
            state: d.state,
            attempts: d.attempts,
            remote_id: d.remote_id.as_deref(),
            remote_url: d.remote_url.as_deref(),
            last_error: d.last_error.as_deref(),
            last_error_facts: d.last_error_facts.as_ref(),
            published_at: d.published_at,
            next_attempt_at: d.next_attempt_at,
            due_at: d.due_at,
            text: &d.text,
            length: d.count.map(|c| c.length),
            limit: d.count.map(|c| c.limit),
            images: &d.images,
        })
        .collect();
    json!({
        "id": p.id,
        "title": p.title,
        "file": p.file,
        "account": p.account,
        "department": p.department,
        "publish_at": p.publish_at,
        "proposer": p.proposer.as_ref().map(ToString::to_string),
        "proposed_at": p.proposer.as_ref().map(|x| x.at),
        "approver": p.approver.as_ref().map(ToString::to_string),
        "approved_at": p.approver.as_ref().map(|x| x.at),
        "commit": p.commit,
        "state": post_state(p, &v.deliveries),
        "on_branch": p.present,
        "edited_after_publish": p.edited_after_publish,
        "errors": p.errors,
        "deliveries": deliveries,
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn list_posts(query: String, state: AppState) -> Result<warp::reply::Response, Infallible> {
    let query = match Query::parse(&query) {
        Ok(q) => q,
        Err(message) => return Ok(error_reply(StatusCode::BAD_REQUEST, message)),
    };
    let found = blocking(&state, move |s| {
        let listings = s.listings()?;
        // A text search reads the whole posts (texts are not kept in memory); every other
        // list is decided on the listings alone.
        let hits: Option<HashSet<String>> = if query.filters().searches_text() {
            Some(
                s.posts()?
                    .into_iter()
                    .filter(|v| query.filters().text_matches(v))
                    .map(|v| v.post.id)
                    .collect(),
            )
        } else {
            None
        };
        let page = post_list::page(&listings, &query, hits.as_ref());
        // The page's posts, whole, from one snapshot of the store (a post removed since
        // the listing was read is left out).
        let mut cursors: HashMap<&str, String> = page
            .posts
            .iter()
            .map(|(l, c)| (&*l.id, c.clone()))
            .collect();
        let views = s
            .snapshot()?
            .posts_by_id(page.posts.iter().map(|(l, _)| &*l.id))?;
        let posts: Vec<(PostView, String)> = views
            .into_iter()
            .map(|v| {
                let cursor = cursors.remove(v.post.id.as_str()).unwrap_or_default();
                (v, cursor)
            })
            .collect();
        Ok((posts, page.total, page.next_cursor))
    })
    .await;
    let (posts, total, next_cursor) = match found {
        Ok(found) => found,
        Err(r) => return Ok(r),
    };
    let list: Vec<Value> = posts
        .iter()
        .map(|(v, cursor)| {
            let mut json = post_json(v);
            json["cursor"] = Value::String(cursor.clone());
            json
        })
        .collect();
    // Moved into the body, not copied as `json!` would (a third of the time for 10,000).
    let body = Value::Object(serde_json::Map::from_iter([
        ("posts".to_string(), Value::Array(list)),
        ("total".to_string(), Value::from(total)),
        (
            "next_cursor".to_string(),
            next_cursor.map_or(Value::Null, Value::String),
        ),
    ]));
    Ok(json_reply(StatusCode::OK, &body))
}

/// `GET /api/summary`: the counts the dashboard shows, so it never needs every post.
async fn summary(state: AppState) -> Result<warp::reply::Response, Infallible> {
    let found = blocking(&state, |s| Ok((s.listings()?, s.meta(meta::REPO_INFO)?))).await;
    let (posts, stored) = match found {
        Ok(found) => found,
        Err(r) => return Ok(r),
    };
    let tz = stored
        .as_deref()
        .and_then(RepoInfo::from_json)
        .and_then(|r| r.timezone)
        .and_then(|name| name.parse().ok());
    let summary = post_list::summary(&posts, tz, Utc::now());
    Ok(json_reply(StatusCode::OK, &json!(summary)))
}

async fn one_post(
    tail: warp::path::Tail,
    state: AppState,
) -> Result<warp::reply::Response, Infallible> {
    // Ids contain `/`, so the dashboard sends them encoded; plain slashes work too.
    let id = percent_decode(tail.as_str());
    if id.is_empty() {
        return Ok(error_reply(StatusCode::NOT_FOUND, "not found"));
    }
    let lookup = id.clone();
    let found = blocking(&state, move |s| {
        Ok(match s.post(&lookup)? {
            Some(v) => Some((v, s.events_for(&lookup)?)),
            None => None,
        })
    })
    .await;
    Ok(match found {
        Err(r) => r,
        Ok(None) => error_reply(StatusCode::NOT_FOUND, format!("no post with id `{id}`")),
        Ok(Some((v, events))) => {
            let mut body = post_json(&v);
            body["events"] = events.iter().map(event_json).collect();
            body["links"] =
                forge_links(state.forge.as_ref(), v.post.commit.as_deref(), &v.post.file);
            json_reply(StatusCode::OK, &body)
        }
    })
}

/// Where the post's commit and file are on the forge: `{"forge", "commit", "file"}`, or
/// `null` when the remote is not on a known forge (see `forge`).
fn forge_links(forge: Option<&Forge>, commit: Option<&str>, file: &str) -> Value {
    let (Some(forge), Some(commit)) = (forge, commit) else {
        return Value::Null;
    };
    json!({
        "forge": forge.kind.as_str(),
        "repository": forge.web,
        "commit": forge.commit_url(commit),
        "file": forge.file_url(commit, file),
    })
}

/// `GET /api/info`: the configuration as last synced (timezone, accounts, networks,
/// approvers), the branch, and the forge; what the dashboard needs besides the posts.
async fn info(state: AppState) -> Result<warp::reply::Response, Infallible> {
    let stored = match blocking(&state, |s| s.meta(meta::REPO_INFO)).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let repo = stored.as_deref().and_then(RepoInfo::from_json);
    let forge = state
        .forge
        .as_ref()
        .map(|f| json!({ "forge": f.kind.as_str(), "repository": f.web }));
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "timezone": repo.as_ref().and_then(|r| r.timezone.clone()),
            "dry_run": repo.as_ref().is_some_and(|r| r.dry_run),
            "max_lateness_secs": repo.as_ref().map(|r| r.max_lateness_secs),
            "accounts": repo.map(|r| r.accounts).unwrap_or_default(),
            "branch": state.hooks.branch,
            "forge": forge,
        }),
    ))
}

pub fn event_json(e: &Event) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "post_id": e.post_id,
        "kind": e.kind,
        "network": e.network,
        "detail": e.detail,
        "facts": e.facts,
        "actor": e.actor,
    })
}

fn event_stream(state: AppState) -> impl Reply {
    let mut shutdown = state.shutdown.clone();
    let ended = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    let stream = BroadcastStream::new(state.store.subscribe())
        // A listener that falls behind misses events but keeps its connection, and is told
        // so: the dashboard then reads its views again instead of the posts named.
        .map(|e| {
            let data = match e {
                Ok(e) => event_json(&e),
                Err(_lagged) => json!({ "resync": true }),
            };
            Ok::<_, Infallible>(
                warp::sse::Event::default()
                    .event("message")
                    .data(data.to_string()),
            )
        })
        .take_until(Box::pin(ended));
    // The comment every 15 s keeps bytes moving, so the server's stall limit
    // (`http_server`, 60 s) never cuts a live stream however long it stays open.
    warp::sse::reply(
        warp::sse::keep_alive()
            .interval(std::time::Duration::from_secs(15))
            .stream(stream),
    )
}

/// Probes get the status and its HTTP code from anyone; the details (commit, errors,
/// paused networks) only with dashboard credentials.
fn healthz(state: AppState, full: bool) -> warp::reply::Response {
    let h = state
        .health
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let paused: Vec<Value> = state
        .paused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(network, p)| json!({ "network": network, "reason": p.reason, "since": p.since, "next_try_at": p.probe_at }))
        .collect();
    let ok = h.sync_error.is_none()
        && h.task_failed.is_none()
        && h.fetch_error.is_none()
        && h.last_sync_commit.is_some()
        && paused.is_empty();
    let body = json!({
        "status": if ok { "ok" } else { "error" },
        "last_sync_commit": h.last_sync_commit,
        "last_sync_at": h.last_sync_at,
        "sync_error": h.sync_error,
        "last_fetch_at": h.last_fetch_at,
        "fetch_error": h.fetch_error,
        "paused_networks": paused,
        "config_commit": h.config_commit,
        "config_held": h.config_held,
        "task_failed": h.task_failed,
        "sync_problems": h.sync_problems,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !full {
        return json_reply(status, &json!({ "status": body["status"] }));
    }
    json_reply(status, &body)
}

/// `GET /media/<blob>`: an image that went out with a delivery, for networks that fetch
/// images by URL. Any other blob id (a draft, the configuration) is 404, so this never
/// becomes a way to read the repository.
async fn media(blob: String, state: AppState) -> Result<warp::reply::Response, Infallible> {
    let not_found = || warp::reply::with_status("not found", StatusCode::NOT_FOUND).into_response();
    let unavailable = || {
        let mut r = error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "the image cannot be read now",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        r
    };
    if !(blob.len() == 40 || blob.len() == 64) || !blob.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(not_found());
    }
    let found = tokio::task::spawn_blocking(move || {
        let Some(mime) = state.store.published_media(&blob).ok().flatten() else {
            return Ok(None);
        };
        match crate::networks::media::read_blob(&state.repo, &blob) {
            Ok(bytes) => Ok(Some((mime, bytes))),
            Err(BlobError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await;
    let (mime, bytes) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return Ok(not_found()),
        // The network fetching it will try again; the image is still there.
        Ok(Err(e)) => {
            tracing::warn!("GET /media: {e}");
            return Ok(unavailable());
        }
        Err(e) => {
            tracing::warn!("GET /media: the read stopped: {e}");
            return Ok(unavailable());
        }
    };
    let mut response = warp::reply::Response::new(bytes.into());
    let headers = response.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // A blob id names its content for ever.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}

fn asset(tail: warp::path::Tail) -> warp::reply::Response {
    let name = match tail.as_str() {
        "" => "index.html",
        other => other,
    };
    match Assets::get(name) {
        None => error_reply(StatusCode::NOT_FOUND, "not found"),
        Some(file) => {
            let mime = match name.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("ico") => "image/x-icon",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            Response::builder()
                .header(header::CONTENT_TYPE, mime)
                .header(header::CACHE_CONTROL, "no-cache")
                .body(warp::hyper::body::Bytes::from(file.data.into_owned()).into())
                .unwrap_or_else(|_| error_reply(StatusCode::INTERNAL_SERVER_ERROR, "asset"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_links_only_for_a_known_forge_and_a_commit() {
        let sha = "89abcdef0123456789abcdef0123456789abcdef";
        let forge = Forge::from_remote("https://deploy:token@gitlab.com/city/posts.git");
        let links = forge_links(forge.as_ref(), Some(sha), "posts/a.md");
        assert_eq!(links["forge"], "gitlab");
        assert_eq!(links["repository"], "https://gitlab.com/city/posts");
        assert_eq!(
            links["commit"],
            format!("https://gitlab.com/city/posts/-/commit/{sha}")
        );
        assert_eq!(
            links["file"],
            format!("https://gitlab.com/city/posts/-/blob/{sha}/posts/a.md")
        );
        assert!(!links.to_string().contains("token"));
        assert_eq!(forge_links(forge.as_ref(), None, "posts/a.md"), Value::Null);
        assert_eq!(forge_links(None, Some(sha), "posts/a.md"), Value::Null);
    }

    #[test]
    fn percent_decoding_survives_garbage() {
        assert_eq!(percent_decode("posts%2Fa"), "posts/a");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%E3%81"), "\u{fffd}");
    }
}
