//! A fake X API v2 on 127.0.0.1, in-process, for tests of the `x` adapter and of anything
//! that publishes to X.
//!
//! It checks what arrives the way X does: OAuth 1.0a signatures are recomputed from the
//! received `Authorization` header, method, `Host` and path (a wrong one, a stale timestamp
//! or a replayed nonce is X's 401); a bearer token must be the one it issued; a post over
//! 280 weighted characters (twitter-text) or with neither text nor media is X's 400; the same
//! text twice is X's 403 duplicate. It serves media upload (multipart) and alt text, post
//! deletion, `users/me` and the user's timeline, where texts come back as X shows them
//! (links as t.co links, a t.co link appended for media, `&<>` escaped).
//!
//! Include it with `#[path = "fakes/x.rs"] mod fake_x;`.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::{Filter, Reply};

/// The account the fake's credentials belong to.
pub const USER_ID: &str = "1500000000000000001";
pub const USERNAME: &str = "adachi_city_fake";

/// The OAuth 1.0a credentials the fake issued (OAuth 1.0a mode). The secrets hold `+`, `/`
/// and `=` so that a signer that forgets to encode the key is caught.
pub const CONSUMER_KEY: &str = "fakeConsumerKey9f3aLw";
pub const CONSUMER_SECRET: &str = "fake+Consumer/Secret=Zq81kP";
pub const ACCESS_TOKEN: &str = "1500000000000000001-fakeAccessToken77Qx";
pub const ACCESS_SECRET: &str = "fake~Access+Secret/Tk29";
/// The OAuth 2.0 user token the fake issued (bearer mode).
pub const BEARER_TOKEN: &str = "fakeBearerUserToken-cXpZbk1vOjE3MzA6MTox";

/// X's 280 weighted characters.
const MAX_WEIGHTED: i32 = 280;
const MAX_MEDIA: usize = 4;
const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
const MAX_ALT: usize = 1000;
/// X rejects OAuth 1.0a timestamps this far from its clock.
const TIMESTAMP_WINDOW_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    OAuth1,
    Bearer,
}

/// A way to fail the next matching request.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 with `x-rate-limit-limit`, `x-rate-limit-remaining: 0` and
    /// `x-rate-limit-reset` this many seconds from now.
    RateLimited { reset_in: i64 },
    /// 429 with the 15-minute window fine but the 24-hour user cap spent
    /// (`x-user-limit-24hour-remaining: 0`, `x-user-limit-24hour-reset`).
    DailyCapSpent { reset_in: i64 },
    /// 503 Service Unavailable.
    Unavailable,
    /// 401 as for a revoked token.
    Unauthorized,
    /// 403 with this `detail` (e.g. the app lacks write permission).
    Forbidden(String),
    /// Any status with any JSON body.
    Status(u16, Value),
    /// Does the work (the post is created) but answers 503, as when the answer is lost.
    AcceptThenFail,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// What the fake answered.
    pub status: u16,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `oauth_*` fields of an OAuth 1.0a header, decoded.
    pub fn oauth_fields(&self) -> HashMap<String, String> {
        parse_oauth_header(&self.authorization).unwrap_or_default()
    }
}

struct Tweet {
    id: String,
    text: String,
    media_ids: Vec<String>,
    created_at: DateTime<Utc>,
    deleted: bool,
    /// Put there by the test (`seed_post`), not by a client.
    seeded: bool,
    /// `reply.in_reply_to_tweet_id`: the post this one answers.
    in_reply_to: Option<String>,
}

struct Media {
    id: String,
    bytes_len: usize,
    mime: String,
    category: String,
    file_name: Option<String>,
    alt: Option<String>,
}

struct State {
    mode: AuthMode,
    tweets: Vec<Tweet>,
    media: Vec<Media>,
    next_id: u64,
    nonces: HashSet<String>,
    /// (method, path prefix, failure); `None` matches any request.
    failures: VecDeque<(Option<(String, String)>, Failure)>,
    requests: Vec<Request>,
    deleted: Vec<String>,
    /// Refuse every reply, as X does since 2026-02-23 for a self-serve tier's reply to a
    /// post whose author did not mention or quote the account.
    replies_refused: bool,
}

pub struct Fake {
    pub base_url: String,
    /// The `credentials:` prefix of `network_yaml`, and of the names in `secrets`.
    pub prefix: String,
    pub mode: AuthMode,
    state: Arc<Mutex<State>>,
}

/// A fake whose secrets are OAuth 1.0a user-context keys.
pub async fn start() -> Fake {
    start_with(AuthMode::OAuth1).await
}

/// A fake whose secret is an OAuth 2.0 user token.
pub async fn start_bearer() -> Fake {
    start_with(AuthMode::Bearer).await
}

pub async fn start_with(mode: AuthMode) -> Fake {
    let state = Arc::new(Mutex::new(State {
        mode,
        tweets: Vec::new(),
        media: Vec::new(),
        next_id: 1_870_000_000_000_000_000,
        nonces: HashSet::new(),
        failures: VecDeque::new(),
        requests: Vec::new(),
        deleted: Vec::new(),
        replies_refused: false,
    }));
    let shared = state.clone();
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
                let mut st = shared.lock().unwrap();
                let (status, extra, value) =
                    handle(&mut st, &method, path.as_str(), &query, &headers, &body);
                st.requests.push(Request {
                    method: method.to_string(),
                    path: path.as_str().to_string(),
                    query: query.clone(),
                    authorization: header(&headers, "authorization"),
                    content_type: header(&headers, "content-type"),
                    body: body.to_vec(),
                    status: status.as_u16(),
                });
                let mut response = warp::reply::json(&value).into_response();
                *response.status_mut() = status;
                for (name, v) in extra {
                    if let Ok(v) = HeaderValue::from_str(&v) {
                        response.headers_mut().insert(name, v);
                    }
                }
                response
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Fake {
        base_url: format!("http://127.0.0.1:{port}"),
        // Unique per fake, so that two fakes can serve one configuration.
        prefix: format!("X_FAKE_{port}"),
        mode,
        state,
    }
}

impl Fake {
    /// `KEY=value` lines for a `Secrets` file, named with `prefix`: the declaration and
    /// the keys.
    pub fn secrets(&self) -> String {
        let p = &self.prefix;
        let keys = match self.mode {
            AuthMode::OAuth1 => format!(
                "{p}_CONSUMER_KEY={CONSUMER_KEY}\n{p}_CONSUMER_SECRET={CONSUMER_SECRET}\n\
                 {p}_ACCESS_TOKEN={ACCESS_TOKEN}\n{p}_ACCESS_SECRET={ACCESS_SECRET}\n"
            ),
            AuthMode::Bearer => format!("{p}_BEARER_TOKEN={BEARER_TOKEN}\n"),
        };
        format!("{}{keys}", self.declaration())
    }

    /// The server's declaration of the credential alone: its type, and the fake's address
    /// on loopback as its one allowed host.
    pub fn declaration(&self) -> String {
        let p = &self.prefix;
        let host = self.base_url.trim_start_matches("http://");
        format!("{p}_TYPE=x\n{p}_HOSTS={host}\n")
    }

    /// Every secret value the fake knows, to check that none leaks into a message.
    pub fn secret_values(&self) -> Vec<&'static str> {
        vec![
            CONSUMER_KEY,
            CONSUMER_SECRET,
            ACCESS_TOKEN,
            ACCESS_SECRET,
            BEARER_TOKEN,
        ]
    }

    /// A YAML flow mapping for `accounts.<a>.networks.<name>` in `oshirase.yaml`.
    pub fn network_yaml(&self, _name: &str) -> String {
        format!(
            "{{ type: x, credentials: {}, base_url: {} }}",
            self.prefix, self.base_url
        )
    }

    /// The posts clients created, in order: `id`, `text`, `media_ids`, `deleted` and
    /// `images` (`alt`, `bytes_len`, `mime`, `media_category`, `file_name`).
    pub fn posts(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.tweets
            .iter()
            .filter(|t| !t.seeded)
            .map(|t| {
                let images: Vec<Value> = t
                    .media_ids
                    .iter()
                    .filter_map(|id| st.media.iter().find(|m| &m.id == id))
                    .map(|m| {
                        json!({
                            "alt": m.alt, "bytes_len": m.bytes_len, "mime": m.mime,
                            "media_category": m.category, "file_name": m.file_name,
                        })
                    })
                    .collect();
                json!({
                    "id": t.id, "text": t.text, "media_ids": t.media_ids,
                    "deleted": t.deleted, "images": images, "in_reply_to": t.in_reply_to,
                })
            })
            .collect()
    }

    /// Every request received, in order, including refused ones.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Uploaded media: `id`, `bytes_len`, `mime`, `media_category`, `alt`.
    pub fn media(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.media
            .iter()
            .map(|m| {
                json!({ "id": m.id, "bytes_len": m.bytes_len, "mime": m.mime,
                        "media_category": m.category, "alt": m.alt })
            })
            .collect()
    }

    /// Ids deleted through `DELETE /2/tweets/{id}`.
    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }

    /// Fails the next `n` requests, whatever they are.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut st = self.state.lock().unwrap();
        for _ in 0..n {
            st.failures.push_back((None, failure.clone()));
        }
    }

    /// Fails the next `n` requests with this method and a path starting with `path`.
    pub fn fail_next_on(&self, method: &str, path: &str, n: usize, failure: Failure) {
        let mut st = self.state.lock().unwrap();
        for _ in 0..n {
            st.failures.push_back((
                Some((method.to_ascii_uppercase(), path.to_string())),
                failure.clone(),
            ));
        }
    }

    /// A post on the account that no client made (by hand on x.com, or long ago).
    pub fn seed_post(&self, text: &str, created_at: DateTime<Utc>) -> String {
        let mut st = self.state.lock().unwrap();
        let id = st.new_id();
        st.tweets.push(Tweet {
            id: id.clone(),
            text: text.to_string(),
            media_ids: Vec::new(),
            created_at,
            deleted: false,
            seeded: true,
            in_reply_to: None,
        });
        id
    }

    /// From now on every reply is refused (403), as X's reply limits would.
    pub fn refuse_replies(&self) {
        self.state.lock().unwrap().replies_refused = true;
    }

    /// Deletes a post as someone would on x.com.
    pub fn delete_by_hand(&self, id: &str) {
        let mut st = self.state.lock().unwrap();
        if let Some(t) = st.tweets.iter_mut().find(|t| t.id == id) {
            t.deleted = true;
        }
    }

    /// How a post's text comes back from the timeline.
    pub fn shown_text(&self, id: &str) -> Option<String> {
        let st = self.state.lock().unwrap();
        st.tweets.iter().find(|t| t.id == id).map(shown)
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn take_failure(&mut self, method: &Method, path: &str) -> Option<Failure> {
        let i = self.failures.iter().position(|(filter, _)| match filter {
            None => true,
            Some((m, p)) => m == method.as_str() && path.starts_with(p.as_str()),
        })?;
        self.failures.remove(i).map(|(_, f)| f)
    }
}

type Answer = (StatusCode, Vec<(&'static str, String)>, Value);

fn answer(status: u16, value: Value) -> Answer {
    (StatusCode::from_u16(status).unwrap(), Vec::new(), value)
}

/// X's RFC 7807 problem body.
fn problem(status: u16, title: &str, detail: &str) -> Answer {
    answer(
        status,
        json!({ "title": title, "detail": detail, "type": "about:blank", "status": status }),
    )
}

/// X's 400 for a request whose parameters are wrong: the specifics in `errors`.
fn invalid(message: &str) -> Answer {
    answer(
        400,
        json!({
            "errors": [{ "parameters": {}, "message": message }],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }),
    )
}

fn unauthorized() -> Answer {
    problem(401, "Unauthorized", "Unauthorized")
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn failure_answer(failure: &Failure) -> Answer {
    let now = Utc::now().timestamp();
    match failure {
        Failure::RateLimited { reset_in } => {
            let (s, mut h, v) = problem(429, "Too Many Requests", "Too Many Requests");
            h.push(("x-rate-limit-limit", "100".into()));
            h.push(("x-rate-limit-remaining", "0".into()));
            h.push(("x-rate-limit-reset", (now + reset_in).to_string()));
            (s, h, v)
        }
        Failure::DailyCapSpent { reset_in } => {
            let (s, mut h, v) = problem(429, "Too Many Requests", "Too Many Requests");
            h.push(("x-rate-limit-limit", "100".into()));
            h.push(("x-rate-limit-remaining", "99".into()));
            h.push(("x-rate-limit-reset", (now + 900).to_string()));
            h.push(("x-user-limit-24hour-limit", "17".into()));
            h.push(("x-user-limit-24hour-remaining", "0".into()));
            h.push(("x-user-limit-24hour-reset", (now + reset_in).to_string()));
            (s, h, v)
        }
        Failure::Unavailable | Failure::AcceptThenFail => {
            problem(503, "Service Unavailable", "Service Unavailable")
        }
        Failure::Unauthorized => unauthorized(),
        Failure::Forbidden(detail) => problem(403, "Forbidden", detail),
        Failure::Status(status, body) => answer(*status, body.clone()),
    }
}

fn handle(
    st: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let failure = st.take_failure(method, path);
    if let Some(f) = &failure {
        if !matches!(f, Failure::AcceptThenFail) {
            return failure_answer(f);
        }
    }
    if let Err(refused) = check_auth(st, method, path, query, headers, body) {
        return refused;
    }
    let done = route(st, method, path, query, headers, body);
    match failure {
        Some(f) => failure_answer(&f),
        None => done,
    }
}

fn route(
    st: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["2", "tweets"]) => create_tweet(st, headers, body),
        ("DELETE", ["2", "tweets", id]) => delete_tweet(st, id),
        ("POST", ["2", "media", "upload"]) => upload_media(st, headers, body),
        ("POST", ["2", "media", "metadata"]) => media_metadata(st, headers, body),
        ("GET", ["2", "users", "me"]) => answer(
            200,
            json!({ "data": { "id": USER_ID, "name": "足立区（テスト）", "username": USERNAME } }),
        ),
        ("GET", ["2", "users", id, "tweets"]) => timeline(st, id, query),
        _ => problem(404, "Not Found Error", "Sorry, that page does not exist"),
    }
}

fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Answer> {
    if !header(headers, "content-type").starts_with("application/json") {
        return Err(invalid(
            "Requests with bodies must have content-type of application/json.",
        ));
    }
    serde_json::from_slice(body).map_err(|_| invalid("The request body is not valid JSON."))
}

fn create_tweet(st: &mut State, headers: &HeaderMap, body: &[u8]) -> Answer {
    let body = match json_body(headers, body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let text = body.get("text").and_then(Value::as_str).unwrap_or_default();
    let media_ids: Vec<String> = match body.pointer("/media/media_ids") {
        None => Vec::new(),
        Some(Value::Array(ids)) => {
            let ids: Option<Vec<String>> =
                ids.iter().map(|v| v.as_str().map(str::to_string)).collect();
            match ids {
                Some(ids) => ids,
                None => return invalid("$.media.media_ids: media ids must be strings"),
            }
        }
        Some(_) => return invalid("$.media.media_ids: must be an array"),
    };
    if text.is_empty() && media_ids.is_empty() {
        return invalid("$.text: is missing but it is required when there is no media");
    }
    let in_reply_to = match body.pointer("/reply/in_reply_to_tweet_id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return invalid("$.reply.in_reply_to_tweet_id: must be a string"),
    };
    if body.get("reply").is_some() && in_reply_to.is_none() {
        return invalid("$.reply.in_reply_to_tweet_id: is missing but it is required");
    }
    if let Some(parent) = &in_reply_to {
        if st.replies_refused {
            return problem(
                403,
                "Forbidden",
                "Reply to this conversation is not allowed because you have not been \
                 mentioned or otherwise engaged by the author of the post you are replying to.",
            );
        }
        if !st.tweets.iter().any(|t| &t.id == parent && !t.deleted) {
            return problem(
                403,
                "Forbidden",
                "You attempted to reply to a Tweet that is deleted or not visible to you.",
            );
        }
    }
    if media_ids.len() > MAX_MEDIA {
        return invalid("$.media.media_ids: the number of values must be between 1 and 4");
    }
    if media_ids
        .iter()
        .any(|id| !st.media.iter().any(|m| &m.id == id))
    {
        return invalid("Your media IDs are invalid.");
    }
    let counted = twitter_text::parse(text, twitter_text_config::config_v3(), true);
    if counted.weighted_length > MAX_WEIGHTED {
        return invalid(
            "Your Tweet text is too long. For more information on how X counts characters, \
             see https://github.com/twitter/twitter-text.",
        );
    }
    if !text.is_empty() && st.tweets.iter().any(|t| !t.deleted && t.text == text) {
        return problem(
            403,
            "Forbidden",
            "You are not allowed to create a Tweet with duplicate content.",
        );
    }
    let id = st.new_id();
    st.tweets.push(Tweet {
        id: id.clone(),
        text: text.to_string(),
        media_ids,
        created_at: Utc::now(),
        deleted: false,
        seeded: false,
        in_reply_to,
    });
    answer(
        201,
        json!({ "data": { "id": id, "text": text, "edit_history_tweet_ids": [id] } }),
    )
}

fn delete_tweet(st: &mut State, id: &str) -> Answer {
    match st.tweets.iter_mut().find(|t| t.id == id) {
        None => answer(
            404,
            json!({
                "errors": [{
                    "value": id, "detail": format!("Could not find tweet with id: [{id}]."),
                    "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
                    "resource_id": id, "type": "https://api.twitter.com/2/problems/resource-not-found",
                }],
                "title": "Not Found Error",
                "detail": format!("Could not find tweet with id: [{id}]."),
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }),
        ),
        // X documents `deleted` as "deleted as a result of this request": a post that was
        // already gone is not deleted again.
        Some(t) if t.deleted => answer(200, json!({ "data": { "deleted": false } })),
        Some(t) => {
            t.deleted = true;
            st.deleted.push(id.to_string());
            answer(200, json!({ "data": { "deleted": true } }))
        }
    }
}

fn upload_media(st: &mut State, headers: &HeaderMap, body: &[u8]) -> Answer {
    let content_type = header(headers, "content-type");
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return invalid("The media upload must be multipart/form-data.");
    };
    let parts = multipart_parts(body, &boundary);
    let Some(media) = parts.iter().find(|p| p.name == "media") else {
        return invalid("$.media: is missing but it is required");
    };
    let category = parts
        .iter()
        .find(|p| p.name == "media_category")
        .map(|p| String::from_utf8_lossy(&p.data).to_string());
    let Some(category) = category else {
        return invalid("$.media_category: is missing but it is required");
    };
    if !["tweet_image", "dm_image", "subtitles"].contains(&category.as_str()) {
        return invalid("$.media_category: does not have a value in the enumeration");
    }
    let Some(sniffed) = sniff(&media.data) else {
        return invalid("media type unrecognized.");
    };
    if media.data.len() > MAX_IMAGE_BYTES {
        return invalid("File size exceeds 5242880 bytes.");
    }
    let id = st.new_id();
    st.media.push(Media {
        id: id.clone(),
        bytes_len: media.data.len(),
        mime: media.content_type.clone().unwrap_or_else(|| sniffed.into()),
        category,
        file_name: media.file_name.clone(),
        alt: None,
    });
    answer(
        200,
        json!({ "data": {
            "id": id, "media_key": format!("3_{id}"), "size": media.data.len(),
            "expires_after_secs": 86400, "image": { "image_type": sniffed },
        } }),
    )
}

fn media_metadata(st: &mut State, headers: &HeaderMap, body: &[u8]) -> Answer {
    let body = match json_body(headers, body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(id) = body.get("id").and_then(Value::as_str) else {
        return invalid("$.id: is missing but it is required");
    };
    let alt = body
        .pointer("/metadata/alt_text/text")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(alt) = &alt {
        if alt.chars().count() > MAX_ALT {
            return invalid("$.metadata.alt_text.text: must be at most 1000 characters long");
        }
    }
    let Some(m) = st.media.iter_mut().find(|m| m.id == id) else {
        return invalid("The media id is not valid.");
    };
    m.alt = alt.clone();
    answer(
        200,
        json!({ "data": { "id": id, "associated_metadata": { "alt_text": { "text": alt } } } }),
    )
}

fn timeline(st: &State, user: &str, query: &str) -> Answer {
    if user != USER_ID {
        return problem(
            403,
            "Forbidden",
            "You are not permitted to perform this action.",
        );
    }
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let max: usize = match params.get("max_results").map(|m| m.parse::<usize>()) {
        None => 10,
        Some(Ok(m)) if (5..=100).contains(&m) => m,
        _ => return invalid("The `max_results` query parameter value is not between 5 and 100"),
    };
    let now = Utc::now();
    let start = match params.get("start_time") {
        None => DateTime::<Utc>::MIN_UTC,
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.with_timezone(&Utc) < now => t.with_timezone(&Utc),
            Ok(_) => return invalid("Invalid 'start_time'. 'start_time' must be before now."),
            Err(_) => return invalid("Invalid 'start_time'. It must be an RFC 3339 time."),
        },
    };
    let offset: usize = match params.get("pagination_token") {
        None => 0,
        Some(t) => match t.strip_prefix("page").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return invalid("The `pagination_token` query parameter value is invalid"),
        },
    };
    let mut posts: Vec<&Tweet> = st
        .tweets
        .iter()
        .filter(|t| !t.deleted && t.created_at >= start)
        .collect();
    posts.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let page: Vec<&Tweet> = posts.iter().skip(offset).take(max).copied().collect();
    if page.is_empty() {
        return answer(200, json!({ "meta": { "result_count": 0 } }));
    }
    let mut meta = json!({
        "result_count": page.len(),
        "newest_id": page[0].id,
        "oldest_id": page[page.len() - 1].id,
    });
    if offset + page.len() < posts.len() {
        meta["next_token"] = json!(format!("page{}", offset + page.len()));
    }
    let data: Vec<Value> = page
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "text": shown(t), "edit_history_tweet_ids": [t.id],
                "created_at": t.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect();
    answer(200, json!({ "data": data, "meta": meta }))
}

/// A text as X shows it: links become t.co links, `&<>` are escaped, media adds a link.
fn shown(t: &Tweet) -> String {
    let mut text = t.text.clone();
    let mut urls = twitter_text::extractor::Extractor::new().extract_urls(&text);
    urls.sort_by_key(|u| std::cmp::Reverse(u.len()));
    for url in urls {
        text = text.replace(&url, &tco(&url));
    }
    let mut text = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if !t.media_ids.is_empty() {
        text = format!("{text} {}", tco(&t.id));
    }
    text
}

fn tco(seed: &str) -> String {
    let digest = Hmac::<Sha1>::new_from_slice(b"t.co")
        .unwrap()
        .chain_update(seed.as_bytes())
        .finalize()
        .into_bytes();
    let code: String = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(digest)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    format!("https://t.co/{code}")
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// The parts of a multipart/form-data body (RFC 7578), enough for what clients send.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut positions = Vec::new();
    let mut i = 0;
    while let Some(p) = find(&body[i..], &delimiter) {
        positions.push(i + p);
        i += p + delimiter.len();
    }
    for pair in positions.windows(2) {
        let chunk = &body[pair[0] + delimiter.len()..pair[1]];
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix(b"\r\n").unwrap_or(chunk);
        let Some(split) = find(chunk, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&chunk[..split]).to_string();
        let data = chunk[split + 4..].to_vec();
        let mut part = Part {
            name: String::new(),
            file_name: None,
            content_type: None,
            data,
        };
        for line in head.split("\r\n") {
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---- authentication -----------------------------------------------------------------

fn check_auth(
    st: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Answer> {
    let auth = header(headers, "authorization");
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return if token == BEARER_TOKEN {
            Ok(())
        } else {
            Err(unauthorized())
        };
    }
    let fields = parse_oauth_header(&auth).ok_or_else(unauthorized)?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if get("oauth_consumer_key") != CONSUMER_KEY
        || get("oauth_token") != ACCESS_TOKEN
        || get("oauth_signature_method") != "HMAC-SHA1"
        || fields.get("oauth_version").is_some_and(|v| v != "1.0")
    {
        return Err(unauthorized());
    }
    let ts: i64 = get("oauth_timestamp").parse().map_err(|_| unauthorized())?;
    if (Utc::now().timestamp() - ts).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(unauthorized());
    }
    let nonce = get("oauth_nonce");
    if nonce.is_empty() || st.nonces.contains(&nonce) {
        return Err(unauthorized());
    }
    // The URL the client asked for, as this server was reached.
    let url = format!(
        "http://{}{}",
        header(headers, "host").to_ascii_lowercase(),
        path
    );
    let mut params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if header(headers, "content-type").starts_with("application/x-www-form-urlencoded") {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    params.extend(
        fields
            .iter()
            .filter(|(k, _)| k.as_str() != "oauth_signature" && k.as_str() != "realm")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let expected = sign(
        method.as_str(),
        &url,
        &params,
        CONSUMER_SECRET,
        ACCESS_SECRET,
    );
    if get("oauth_signature") != expected {
        return Err(unauthorized());
    }
    st.nonces.insert(nonce);
    Ok(())
}

/// `OAuth k="v", …` → decoded fields, or `None` when it is not an OAuth header.
fn parse_oauth_header(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.strip_prefix("OAuth ")?;
    let mut fields = HashMap::new();
    for item in rest.split(',') {
        let (k, v) = item.trim().split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .ok()?
            .to_string();
        fields.insert(k.trim().to_string(), v);
    }
    Some(fields)
}

/// RFC 5849 §3.4.1 and §3.4.2, written here independently of the adapter's signer.
fn sign(
    method: &str,
    url: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    encoded.sort();
    let base = [method.to_string(), pct(url), pct(&encoded.join("&"))].join("&");
    let key = format!("{}&{}", pct(consumer_secret), pct(token_secret));
    let mac = Hmac::<Sha1>::new_from_slice(key.as_bytes())
        .unwrap()
        .chain_update(base.as_bytes())
        .finalize()
        .into_bytes();
    base64::engine::general_purpose::STANDARD.encode(mac)
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The fake's own signer must agree with the published vector too, or its verdicts mean
/// nothing.
pub fn self_check() {
    let params: Vec<(String, String)> = [
        (
            "status",
            "Hello Ladies + Gentlemen, a signed OAuth request!",
        ),
        ("include_entities", "true"),
        ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
        ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1318622958"),
        (
            "oauth_token",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        ),
        ("oauth_version", "1.0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = sign(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json",
        &params,
        "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    );
    assert_eq!(signature, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
}
