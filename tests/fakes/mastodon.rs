//! A fake Mastodon instance: the parts of the REST API oshirase uses, checked the way a real
//! instance checks them.
//!
//! - `POST /api/v1/statuses` (JSON or form): bearer token, 500-character limit (a link
//!   counts 23), visibility, at most 4 processed attachments, and `Idempotency-Key`: the
//!   same key answers with the status it already made.
//! - `POST /api/v2/media` (multipart `file` + `description`): 202 while "processing", after
//!   which `GET /api/v1/media/:id` answers 206 a set number of times, then 200 with a URL.
//! - `DELETE /api/v1/statuses/:id`, `GET /api/v1/accounts/verify_credentials`,
//!   `GET /api/v1/accounts/:id/statuses` (newest first, `limit`, `max_id`).
//! - Told to, it fails the next requests: 503, 429 with an ISO 8601 `X-RateLimit-Reset`,
//!   a revoked token, or a 403 with a given message.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::Filter;

pub const TOKEN: &str = "fake-mastodon-token-7f3a9c";
pub const ACCOUNT_ID: &str = "109876543210";
pub const USERNAME: &str = "adachi_city";
const LIMIT: usize = 500;
const URL_LENGTH: usize = 23;

/// One way to fail a request.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 503 with Mastodon's error body.
    Unavailable,
    /// 429 with `X-RateLimit-Reset` this many seconds ahead.
    RateLimited { reset_in_secs: i64 },
    /// 401: the token was revoked.
    TokenRevoked,
    /// 403 with this error text.
    Forbidden(String),
}

#[derive(Debug, Clone)]
struct Attachment {
    id: String,
    bytes_len: usize,
    alt: Option<String>,
    mime: String,
    file_name: String,
    /// 206 answers left before the attachment counts as processed.
    polls_left: usize,
}

#[derive(Debug, Clone)]
struct Stored {
    id: String,
    text: String,
    visibility: String,
    created_at: DateTime<Utc>,
    media: Vec<Attachment>,
    idempotency_key: Option<String>,
    deleted: bool,
    /// `in_reply_to_id`: the status this one answers.
    in_reply_to_id: Option<String>,
}

/// A request as it arrived, for tests that check headers.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    statuses: Vec<Stored>,
    media: HashMap<String, Attachment>,
    idempotency: HashMap<String, String>,
    deleted: Vec<String>,
    failures: VecDeque<Failure>,
    requests: Vec<Request>,
    /// How many 206 answers a new upload gets before it is processed (0: 200 at once).
    processing_polls: usize,
    prefixes: Vec<String>,
}

pub struct Fake {
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(State {
        processing_polls: 1,
        ..State::default()
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let shared = state.clone();
    let base = base_url.clone();
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body: warp::hyper::body::Bytes| {
                let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                handle(
                    &mut state,
                    &base,
                    &method,
                    path.as_str(),
                    &query,
                    &headers,
                    &body,
                )
            },
        );
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Fake { base_url, state }
}

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `KEY=value` lines for every credentials prefix handed out by `network_yaml`: each
    /// one's declaration and token.
    pub fn secrets(&self) -> String {
        self.prefixes()
            .iter()
            .map(|p| format!("{}{p}_ACCESS_TOKEN={TOKEN}\n", self.declaration_of(p)))
            .collect()
    }

    /// The declarations alone (type and the fake's loopback address as the allowed host)
    /// of every credentials prefix handed out by `network_yaml`.
    pub fn declaration(&self) -> String {
        self.prefixes()
            .iter()
            .map(|p| self.declaration_of(p))
            .collect()
    }

    fn declaration_of(&self, prefix: &str) -> String {
        let host = self.base_url.trim_start_matches("http://");
        format!("{prefix}_TYPE=mastodon\n{prefix}_HOSTS={host}\n")
    }

    fn prefixes(&self) -> Vec<String> {
        let mut prefixes = self.state().prefixes.clone();
        if prefixes.is_empty() {
            prefixes.push("MASTODON_TEST".into());
        }
        prefixes
    }

    /// `{ type: mastodon, ... }` for a network called `name`, with credentials
    /// `MASTODON_<NAME>`.
    pub fn network_yaml(&self, name: &str) -> String {
        self.network_yaml_with(name, "")
    }

    /// As [`Fake::network_yaml`], with more keys (e.g. `visibility: unlisted`).
    pub fn network_yaml_with(&self, name: &str, extra: &str) -> String {
        let prefix = self.prefix(name);
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        format!(
            "{{ type: mastodon, instance: https://mastodon.example, credentials: {prefix}, base_url: {}{extra} }}",
            self.base_url
        )
    }

    /// The credentials prefix `network_yaml(name)` uses.
    pub fn prefix(&self, name: &str) -> String {
        let suffix: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let prefix = format!("MASTODON_{suffix}");
        let mut state = self.state();
        if !state.prefixes.contains(&prefix) {
            state.prefixes.push(prefix.clone());
        }
        prefix
    }

    /// Every status created (a repeat answered from its idempotency key is not a new one),
    /// in order, deleted ones included.
    pub fn posts(&self) -> Vec<Value> {
        self.state().statuses.iter().map(post_json).collect()
    }

    /// Ids of deleted statuses, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.state().deleted.clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// Requests to a path (the query not included).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// The next `n` requests fail this way.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = self.state();
        for _ in 0..n {
            state.failures.push_back(failure.clone());
        }
    }

    /// How many times a new upload answers 206 before it is processed; 0 makes uploads
    /// answer 200 with a URL at once.
    pub fn set_processing_polls(&self, polls: usize) {
        self.state().processing_polls = polls;
    }

    /// Adds a status made earlier (by hand, or by an attempt that crashed); returns its id.
    pub fn add_status(&self, text: &str, created_at: DateTime<Utc>) -> String {
        let mut state = self.state();
        let id = next_id(&mut state, created_at);
        state.statuses.push(Stored {
            id: id.clone(),
            text: text.to_string(),
            visibility: "public".into(),
            created_at,
            media: Vec::new(),
            idempotency_key: None,
            deleted: false,
            in_reply_to_id: None,
        });
        id
    }

    /// The address the fake gives a status.
    pub fn status_url(&self, id: &str) -> String {
        format!("{}/@{USERNAME}/{id}", self.base_url)
    }
}

/// Ids like Mastodon's: the creation time in milliseconds, shifted, plus a sequence, so
/// that ordering by id is ordering by time.
fn next_id(state: &mut State, at: DateTime<Utc>) -> String {
    state.next_id = (state.next_id + 1) % 65_536;
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    ((millis << 16) | state.next_id).to_string()
}

fn post_json(s: &Stored) -> Value {
    json!({
        "id": s.id,
        "text": s.text,
        "visibility": s.visibility,
        "idempotency_key": s.idempotency_key,
        "deleted": s.deleted,
        "in_reply_to_id": s.in_reply_to_id,
        "images": s.media.iter().map(|m| json!({
            "alt": m.alt, "bytes_len": m.bytes_len, "mime": m.mime, "file_name": m.file_name,
        })).collect::<Vec<_>>(),
    })
}

fn reply(status: StatusCode, body: &Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .unwrap_or_default()
}

fn error(status: StatusCode, message: &str) -> Response<String> {
    reply(status, &json!({ "error": message }))
}

#[allow(clippy::too_many_arguments)]
fn handle(
    state: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    state.requests.push(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).to_string(),
                )
            })
            .collect(),
    });
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bearer != format!("Bearer {TOKEN}") {
        return error(StatusCode::UNAUTHORIZED, "The access token is invalid");
    }
    if let Some(failure) = state.failures.pop_front() {
        return fail(&failure);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "v1", "statuses"]) => create_status(state, base, headers, body),
        ("DELETE", ["api", "v1", "statuses", id]) => {
            let found = state
                .statuses
                .iter_mut()
                .find(|s| s.id == *id && !s.deleted);
            match found {
                Some(s) => {
                    s.deleted = true;
                    let shown = status_json(base, s);
                    state.deleted.push(id.to_string());
                    reply(StatusCode::OK, &shown)
                }
                None => error(StatusCode::NOT_FOUND, "Record not found"),
            }
        }
        ("POST", ["api", "v2", "media"]) => upload(state, base, headers, body),
        ("GET", ["api", "v1", "media", id]) => {
            let Some(m) = state.media.get_mut(*id) else {
                return error(StatusCode::NOT_FOUND, "Record not found");
            };
            if m.polls_left > 0 {
                m.polls_left -= 1;
                return Response::builder()
                    .status(StatusCode::PARTIAL_CONTENT)
                    .body(String::new())
                    .unwrap_or_default();
            }
            let shown = media_json(base, m);
            reply(StatusCode::OK, &shown)
        }
        ("GET", ["api", "v1", "accounts", "verify_credentials"]) => {
            reply(StatusCode::OK, &account_json(base))
        }
        ("GET", ["api", "v1", "accounts", id, "statuses"]) => {
            if *id != ACCOUNT_ID {
                return error(StatusCode::NOT_FOUND, "Record not found");
            }
            let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let limit = params
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(20)
                .min(40);
            let max_id = params.get("max_id").and_then(|m| m.parse::<u64>().ok());
            let mut list: Vec<&Stored> = state
                .statuses
                .iter()
                .filter(|s| !s.deleted)
                .filter(|s| max_id.is_none_or(|m| s.id.parse::<u64>().unwrap_or(0) < m))
                .collect();
            list.sort_by_key(|s| std::cmp::Reverse(s.id.parse::<u64>().unwrap_or(0)));
            let page: Vec<Value> = list
                .into_iter()
                .take(limit)
                .map(|s| status_json(base, s))
                .collect();
            reply(StatusCode::OK, &Value::Array(page))
        }
        _ => error(StatusCode::NOT_FOUND, "Record not found"),
    }
}

fn fail(failure: &Failure) -> Response<String> {
    match failure {
        Failure::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        Failure::TokenRevoked => error(StatusCode::UNAUTHORIZED, "The access token was revoked"),
        Failure::Forbidden(message) => error(StatusCode::FORBIDDEN, message),
        Failure::RateLimited { reset_in_secs } => {
            let reset = (Utc::now() + chrono::Duration::seconds(*reset_in_secs))
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("content-type", "application/json; charset=utf-8")
                .header("x-ratelimit-limit", "300")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", reset)
                .body(json!({ "error": "Too many requests" }).to_string())
                .unwrap_or_default()
        }
    }
}

/// The parameters of a new status, from JSON or from a form (`media_ids[]`).
struct NewStatus {
    status: Option<String>,
    visibility: Option<String>,
    media_ids: Vec<String>,
    in_reply_to_id: Option<String>,
}

fn parse_new_status(headers: &HeaderMap, body: &[u8]) -> Option<NewStatus> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(NewStatus {
            status: text("status"),
            visibility: text("visibility"),
            in_reply_to_id: text("in_reply_to_id"),
            media_ids: v
                .get("media_ids")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|i| i.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut new = NewStatus {
            status: None,
            visibility: None,
            media_ids: Vec::new(),
            in_reply_to_id: None,
        };
        for (k, v) in form_urlencoded::parse(body) {
            match k.as_ref() {
                "status" => new.status = Some(v.into_owned()),
                "visibility" => new.visibility = Some(v.into_owned()),
                "in_reply_to_id" => new.in_reply_to_id = Some(v.into_owned()),
                "media_ids[]" => new.media_ids.push(v.into_owned()),
                _ => {}
            }
        }
        Some(new)
    } else {
        None
    }
}

/// Mastodon's count: every character, but a link counts as 23 whatever its length.
fn countable_length(text: &str) -> usize {
    let mut length = 0;
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        length += rest[..i].chars().count();
        let candidate = &rest[i..];
        if candidate.starts_with("https://") || candidate.starts_with("http://") {
            let end = candidate
                .find(char::is_whitespace)
                .unwrap_or(candidate.len());
            length += URL_LENGTH;
            rest = &candidate[end..];
        } else {
            length += 4;
            rest = &candidate[4..];
        }
    }
    length + rest.chars().count()
}

fn create_status(
    state: &mut State,
    base: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    if let Some(key) = &key {
        if let Some(id) = state.idempotency.get(key) {
            // Mastodon finds the status the key made; deleted since, it is "not found".
            return match state.statuses.iter().find(|s| &s.id == id && !s.deleted) {
                Some(s) => reply(StatusCode::OK, &status_json(base, s)),
                None => error(StatusCode::NOT_FOUND, "Record not found"),
            };
        }
    }
    let Some(new) = parse_new_status(headers, body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Unsupported content type or malformed body",
        );
    };
    let text = new.status.unwrap_or_default();
    if text.trim().is_empty() && new.media_ids.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Text can't be blank",
        );
    }
    if countable_length(&text) > LIMIT {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Validation failed: Text character limit of {LIMIT} exceeded"),
        );
    }
    let visibility = new.visibility.unwrap_or_else(|| "public".into());
    if !["public", "unlisted", "private", "direct"].contains(&visibility.as_str()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("'{visibility}' is not a valid visibility"),
        );
    }
    if new.media_ids.len() > 4 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot attach more than 4 files",
        );
    }
    // Mastodon looks the replied-to status up and answers 404 when it is not there.
    if let Some(parent) = &new.in_reply_to_id {
        if !state.statuses.iter().any(|s| &s.id == parent && !s.deleted) {
            return error(StatusCode::NOT_FOUND, "Record not found");
        }
    }
    let mut media = Vec::new();
    for id in &new.media_ids {
        let Some(m) = state.media.get(id) else {
            return error(StatusCode::NOT_FOUND, "Record not found");
        };
        if m.polls_left > 0 {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot attach files that have not finished processing. Try again in a moment!",
            );
        }
        media.push(m.clone());
    }
    let now = Utc::now();
    let id = next_id(state, now);
    let stored = Stored {
        id: id.clone(),
        text,
        visibility,
        created_at: now,
        media,
        idempotency_key: key.clone(),
        deleted: false,
        in_reply_to_id: new.in_reply_to_id.clone(),
    };
    let shown = status_json(base, &stored);
    state.statuses.push(stored);
    if let Some(key) = key {
        state.idempotency.insert(key, id);
    }
    reply(StatusCode::OK, &shown)
}

fn upload(state: &mut State, base: &str, headers: &HeaderMap, body: &[u8]) -> Response<String> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: File can't be blank",
        );
    };
    let parts = multipart(body, &boundary);
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: File can't be blank",
        );
    };
    let mime = file.content_type.clone().unwrap_or_default();
    if !mime.starts_with("image/") || file.data.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: File content type is invalid, File is invalid",
        );
    }
    let alt = parts
        .iter()
        .find(|p| p.name == "description")
        .map(|p| String::from_utf8_lossy(&p.data).to_string());
    let id = next_id(state, Utc::now());
    let attachment = Attachment {
        id: id.clone(),
        bytes_len: file.data.len(),
        alt,
        mime,
        file_name: file.file_name.clone().unwrap_or_default(),
        polls_left: state.processing_polls,
    };
    let processing = attachment.polls_left > 0;
    let mut shown = media_json(base, &attachment);
    state.media.insert(id, attachment);
    if processing {
        shown["url"] = Value::Null;
        reply(StatusCode::ACCEPTED, &shown)
    } else {
        reply(StatusCode::OK, &shown)
    }
}

struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// Splits a multipart/form-data body into its parts (enough for reqwest's encoding).
fn multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut pieces = split(body, &delimiter).into_iter().skip(1);
    for piece in pieces.by_ref() {
        if piece.starts_with(b"--") {
            break;
        }
        let piece = piece.strip_prefix(b"\r\n").unwrap_or(piece);
        let Some(head_end) = find(piece, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&piece[..head_end]).to_string();
        let mut data = &piece[head_end + 4..];
        data = data.strip_suffix(b"\r\n").unwrap_or(data);
        let mut part = Part {
            name: String::new(),
            file_name: None,
            content_type: None,
            data: data.to_vec(),
        };
        for line in head.lines() {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                part.name = quoted(line, "name=").unwrap_or_default();
                part.file_name = quoted(line, "filename=");
            } else if lower.starts_with("content-type:") {
                part.content_type = Some(line["content-type:".len()..].trim().to_string());
            }
        }
        parts.push(part);
    }
    parts
}

fn quoted(line: &str, key: &str) -> Option<String> {
    let at = line
        .match_indices(key)
        .find(|(i, _)| *i == 0 || matches!(line.as_bytes()[i - 1], b' ' | b';'))?
        .0;
    let rest = line[at + key.len()..].strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, delimiter) {
        out.push(&hay[..i]);
        hay = &hay[i + delimiter.len()..];
    }
    out.push(hay);
    out
}

fn account_json(base: &str) -> Value {
    json!({
        "id": ACCOUNT_ID,
        "username": USERNAME,
        "acct": USERNAME,
        "display_name": "Adachi City",
        "url": format!("{base}/@{USERNAME}"),
    })
}

fn media_json(base: &str, m: &Attachment) -> Value {
    json!({
        "id": m.id,
        "type": "image",
        "url": format!("{base}/system/media_attachments/files/{}/original/{}", m.id, m.file_name),
        "preview_url": format!("{base}/system/media_attachments/files/{}/small/{}", m.id, m.file_name),
        "remote_url": null,
        "description": m.alt,
        "blurhash": null,
    })
}

fn status_json(base: &str, s: &Stored) -> Value {
    json!({
        "id": s.id,
        "created_at": s.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "visibility": s.visibility,
        "uri": format!("{base}/users/{USERNAME}/statuses/{}", s.id),
        "url": format!("{base}/@{USERNAME}/{}", s.id),
        "content": render(base, &s.text),
        "account": account_json(base),
        "media_attachments": s.media.iter().map(|m| media_json(base, m)).collect::<Vec<_>>(),
        "reblog": null,
        "in_reply_to_id": s.in_reply_to_id,
    })
}

/// Plain text as Mastodon renders it: escaped, links and hashtags wrapped, paragraphs on
/// blank lines, `<br />` for single line breaks.
fn render(base: &str, text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|paragraph| {
            let lines: Vec<String> = paragraph
                .split('\n')
                .map(|line| {
                    line.split(' ')
                        .map(|word| render_word(base, word))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            format!("<p>{}</p>", lines.join("<br />"))
        })
        .collect()
}

fn render_word(base: &str, word: &str) -> String {
    for scheme in ["https://", "http://"] {
        if let Some(rest) = word.strip_prefix(scheme) {
            let (shown, hidden) = if rest.chars().count() > 30 {
                let cut = rest
                    .char_indices()
                    .nth(30)
                    .map(|(i, _)| i)
                    .unwrap_or(rest.len());
                (&rest[..cut], &rest[cut..])
            } else {
                (rest, "")
            };
            let class = if hidden.is_empty() { "" } else { "ellipsis" };
            return format!(
                "<a href=\"{}\" rel=\"nofollow noopener\" translate=\"no\" target=\"_blank\">\
                 <span class=\"invisible\">{scheme}</span><span class=\"{class}\">{}</span>\
                 <span class=\"invisible\">{}</span></a>",
                escape(word),
                escape(shown),
                escape(hidden)
            );
        }
    }
    if let Some(tag) = word.strip_prefix('#').filter(|t| !t.is_empty()) {
        return format!(
            "<a href=\"{base}/tags/{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
            escape(tag),
            escape(tag)
        );
    }
    escape(word)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
