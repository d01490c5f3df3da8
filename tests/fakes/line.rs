//! A fake LINE Messaging API serving `POST /v2/bot/message/broadcast`, in-process on
//! 127.0.0.1.
//!
//! It checks the channel token (401 otherwise), validates the messages as LINE does (1 to 5
//! messages, text of 1 to 5,000 UTF-16 units, image URLs over HTTPS of at most 2,000
//! characters), and keeps LINE's retry-key promise: a key accepted once is answered with 409
//! and `x-line-accepted-request-id` ever after. It can be told to answer the next requests
//! with 429 (rate or monthly limit), any status, or to accept a broadcast and then lose the
//! answer (a 5xx after recording it).
//!
//! LINE never receives image bytes, so `posts()` lists each image's `url` with `alt` and
//! `bytes_len` null.
//!
//! Include it with `#[path = "fakes/line.rs"] mod fake_line;`.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::Filter;

pub const TOKEN: &str = "line-fake-channel-token/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=";
pub const CREDENTIALS: &str = "LINE_TEST";

#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 "The API rate limit has been exceeded", with an optional `Retry-After` (seconds).
    RateLimit { retry_after: Option<u64> },
    /// 429 "You have reached your monthly limit."
    MonthlyLimit,
    /// This status with LINE's error body and `message`.
    Status(u16, String),
    /// Accept and record the broadcast, then answer this status as if the answer was lost.
    AcceptThenFail(u16),
    /// This status and body, verbatim.
    Raw(u16, String),
}

#[derive(Debug, Clone)]
struct Broadcast {
    request_id: String,
    retry_key: Option<String>,
    messages: Value,
}

#[derive(Default)]
struct State {
    next_id: u64,
    broadcasts: Vec<Broadcast>,
    accepted_keys: HashMap<String, String>,
    failures: VecDeque<Failure>,
    requests: Vec<Value>,
}

pub struct Fake {
    pub base_url: String,
    pub token: String,
    state: Arc<Mutex<State>>,
}

pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(State::default()));
    let shared = state.clone();
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |method: Method, path: warp::path::FullPath, headers: HeaderMap, body: Bytes| {
                handle(&shared, &method, path.as_str(), &headers, &body)
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake LINE");
    let addr = listener.local_addr().expect("fake address");
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Fake {
        base_url: format!("http://{addr}"),
        token: TOKEN.to_string(),
        state,
    }
}

impl Fake {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `LINE_TEST_CHANNEL_TOKEN=…` for the `Secrets` file.
    pub fn secrets(&self) -> String {
        format!(
            "{}{CREDENTIALS}_CHANNEL_TOKEN={token}\n",
            self.declaration(),
            token = self.token
        )
    }

    /// The server's declaration of the credential alone: its type, and the fake's address
    /// on loopback as its one allowed host.
    pub fn declaration(&self) -> String {
        let host = self.base_url.trim_start_matches("http://");
        format!("{CREDENTIALS}_TYPE=line\n{CREDENTIALS}_HOSTS={host}\n")
    }

    /// One flow mapping for `networks:` in oshirase.yaml.
    pub fn network_yaml(&self, _name: &str) -> String {
        format!(
            "{{ type: line, credentials: {CREDENTIALS}, base_url: {} }}",
            self.base_url
        )
    }

    /// Accepted broadcasts, in order: `text` (the text messages joined), `images`
    /// ([{`url`, `preview`, `alt`: null, `bytes_len`: null}]), `messages` (as sent),
    /// `retry_key`, `request_id`.
    pub fn posts(&self) -> Vec<Value> {
        self.lock()
            .broadcasts
            .iter()
            .map(|b| {
                let list = b.messages.as_array().cloned().unwrap_or_default();
                let text: Vec<&str> = list
                    .iter()
                    .filter(|m| m["type"] == "text")
                    .filter_map(|m| m["text"].as_str())
                    .collect();
                let images: Vec<Value> = list
                    .iter()
                    .filter(|m| m["type"] == "image")
                    .map(|m| {
                        json!({
                            "url": m["originalContentUrl"],
                            "preview": m["previewImageUrl"],
                            "alt": null,
                            "bytes_len": null,
                        })
                    })
                    .collect();
                json!({
                    "text": text.join("\n"),
                    "images": images,
                    "messages": b.messages,
                    "retry_key": b.retry_key,
                    "request_id": b.request_id,
                })
            })
            .collect()
    }

    /// Every request: `method`, `path`, `authorization`, `retry_key`, `content_type`, `body`.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut s = self.lock();
        for _ in 0..n {
            s.failures.push_back(failure.clone());
        }
    }
}

fn reply(status: u16, request_id: &str, body: Value) -> Response<String> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("x-line-request-id", request_id)
        .body(body.to_string())
        .unwrap_or_default()
}

fn error(
    status: u16,
    request_id: &str,
    message: &str,
    details: Vec<(String, String)>,
) -> Response<String> {
    let mut body = json!({ "message": message });
    if !details.is_empty() {
        body["details"] = details
            .into_iter()
            .map(|(property, message)| json!({ "message": message, "property": property }))
            .collect();
    }
    reply(status, request_id, body)
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn handle(
    state: &Arc<Mutex<State>>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.next_id += 1;
    let request_id = format!("fake-req-{:04}", s.next_id);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_key = header("x-line-retry-key");
    s.requests.push(json!({
        "method": method.as_str(),
        "path": path,
        "authorization": header("authorization"),
        "retry_key": retry_key,
        "content_type": header("content-type"),
        "body": String::from_utf8_lossy(body),
    }));

    if header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return error(
            401,
            &request_id,
            "Authentication failed. Confirm that the access token in the authorization header is valid.",
            vec![],
        );
    }
    if !(method == Method::POST && path == "/v2/bot/message/broadcast") {
        return error(404, &request_id, "Not found", vec![]);
    }
    if let Some(key) = &retry_key {
        if !is_uuid(key) {
            return error(
                400,
                &request_id,
                "The value for the 'X-Line-Retry-Key' header is invalid",
                vec![],
            );
        }
        if let Some(accepted) = s.accepted_keys.get(key).cloned() {
            let mut r = error(
                409,
                &request_id,
                "The retry key is already accepted",
                vec![],
            );
            if let Ok(v) = accepted.parse() {
                r.headers_mut().insert("x-line-accepted-request-id", v);
            }
            return r;
        }
    }

    let failure = s.failures.pop_front();
    match &failure {
        Some(Failure::RateLimit { retry_after }) => {
            let mut r = error(
                429,
                &request_id,
                "The API rate limit has been exceeded. Try again later.",
                vec![],
            );
            if let Some(secs) = retry_after {
                r.headers_mut().insert("retry-after", (*secs).into());
            }
            return r;
        }
        Some(Failure::MonthlyLimit) => {
            return error(
                429,
                &request_id,
                "You have reached your monthly limit.",
                vec![],
            )
        }
        Some(Failure::Status(status, message)) => {
            return error(*status, &request_id, message, vec![])
        }
        Some(Failure::Raw(status, raw)) => {
            return Response::builder()
                .status(StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY))
                .header("x-line-request-id", &request_id)
                .body(raw.clone())
                .unwrap_or_default()
        }
        Some(Failure::AcceptThenFail(_)) | None => {}
    }

    if !header("content-type")
        .unwrap_or_default()
        .starts_with("application/json")
    {
        return error(
            415,
            &request_id,
            "The content type, text/plain, is not supported",
            vec![],
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(
            400,
            &request_id,
            "The request body has 1 error(s)",
            vec![("body".into(), "Invalid JSON".into())],
        );
    };
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    if messages.is_empty() || messages.len() > 5 {
        problems.push((
            "messages".to_string(),
            "Size must be between 1 and 5".to_string(),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        match m["type"].as_str() {
            Some("text") => {
                let units = m["text"].as_str().map(|t| t.encode_utf16().count());
                match units {
                    Some(n) if (1..=5000).contains(&n) => {}
                    Some(_) => problems.push((
                        format!("messages[{i}].text"),
                        "Length must be between 0 and 5000".into(),
                    )),
                    None => {
                        problems.push((format!("messages[{i}].text"), "Must not be null".into()))
                    }
                }
            }
            Some("image") => {
                for field in ["originalContentUrl", "previewImageUrl"] {
                    match m[field].as_str() {
                        Some(u) if u.starts_with("https://") && u.len() <= 2000 => {}
                        Some(_) => problems.push((
                            format!("messages[{i}].{field}"),
                            "Must be a valid HTTPS URL".into(),
                        )),
                        None => problems
                            .push((format!("messages[{i}].{field}"), "Must not be null".into())),
                    }
                }
            }
            _ => problems.push((format!("messages[{i}].type"), "Invalid message type".into())),
        }
    }
    if !problems.is_empty() {
        let message = format!("The request body has {} error(s)", problems.len());
        return error(400, &request_id, &message, problems);
    }

    s.broadcasts.push(Broadcast {
        request_id: request_id.clone(),
        retry_key: retry_key.clone(),
        messages: Value::Array(messages),
    });
    if let Some(key) = retry_key {
        s.accepted_keys.insert(key, request_id.clone());
    }
    if let Some(Failure::AcceptThenFail(status)) = failure {
        return error(status, &request_id, "Internal server error", vec![]);
    }
    reply(200, &request_id, json!({}))
}
