//! A fake Facebook Graph API for one Page, served in-process on 127.0.0.1.
//!
//! It speaks the parts oshirase uses: `POST /{v}/{page}/feed` (form: `message`,
//! `attached_media[i]`), `POST /{v}/{page}/photos` (multipart: `source`, `caption`,
//! `published`, `alt_text_custom`), `GET /{v}/{page}/posts` and `/feed` (`since`, `limit`,
//! `after`), and `DELETE /{v}/{id}`. It checks the Page token like Graph does (a bad one is
//! a code 190 error), refuses a message identical to the Page's latest post with code 506,
//! and can be told to fail the next requests with any Graph error or HTTP status.
//!
//! Include it with `#[path = "fakes/facebook.rs"] mod fake_facebook;`.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::Filter;

pub const TOKEN: &str = "EAAG-fake-page-token-0123456789";
pub const PAGE_ID: &str = "1234567890";
pub const CREDENTIALS: &str = "FB_TEST";

/// A failure the fake answers with instead of serving a request.
#[derive(Debug, Clone)]
pub enum Failure {
    /// A Graph error object with this HTTP status, code and optional subcode.
    Graph {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    /// Throttling: a Graph error with `code` (4, 17, 32, 341, 613), optionally with a
    /// `Retry-After` in seconds and an `X-Business-Use-Case-Usage` header whose
    /// `estimated_time_to_regain_access` is `regain_minutes`.
    Throttle {
        code: i64,
        retry_after: Option<u64>,
        regain_minutes: Option<u64>,
    },
    /// A bare HTTP status with a non-JSON body, as a load balancer would send.
    Http(u16),
    /// This status and body, verbatim (for malformed answers).
    Raw(u16, String),
}

impl Failure {
    pub fn graph(status: u16, code: i64, message: &str) -> Failure {
        Failure::Graph {
            status,
            code,
            subcode: None,
            message: message.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Photo {
    id: String,
    bytes_len: usize,
    content_type: String,
    file_name: String,
    caption: Option<String>,
    alt: Option<String>,
    published: bool,
}

#[derive(Debug, Clone)]
struct Post {
    id: String,
    message: String,
    /// The `link` it was made with (Facebook previews it).
    link: Option<String>,
    created: DateTime<Utc>,
    photos: Vec<Photo>,
    deleted: bool,
    /// Made by `seed_post`, not by a request.
    seeded: bool,
}

#[derive(Default)]
struct State {
    next_id: u64,
    posts: Vec<Post>,
    photos: Vec<Photo>,
    deletions: Vec<String>,
    failures: VecDeque<Failure>,
    requests: Vec<Value>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        100_000 + self.next_id
    }
}

pub struct Fake {
    pub base_url: String,
    pub page_id: String,
    pub token: String,
    state: Arc<Mutex<State>>,
}

pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(State::default()));
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
                  body: Bytes| {
                handle(&shared, &method, path.as_str(), &query, &headers, &body)
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake Facebook");
    let addr = listener.local_addr().expect("fake address");
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Fake {
        base_url: format!("http://{addr}"),
        page_id: PAGE_ID.to_string(),
        token: TOKEN.to_string(),
        state,
    }
}

impl Fake {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `FB_TEST_PAGE_TOKEN=…` for the `Secrets` file.
    pub fn secrets(&self) -> String {
        format!(
            "{}{CREDENTIALS}_PAGE_TOKEN={token}\n",
            self.declaration(),
            token = self.token
        )
    }

    /// The server's declaration of the credential alone: its type, and the fake's address
    /// on loopback as its one allowed host.
    pub fn declaration(&self) -> String {
        let host = self.base_url.trim_start_matches("http://");
        format!("{CREDENTIALS}_TYPE=facebook\n{CREDENTIALS}_HOSTS={host}\n")
    }

    /// One flow mapping for `networks:` in oshirase.yaml.
    pub fn network_yaml(&self, _name: &str) -> String {
        format!(
            "{{ type: facebook, page_id: \"{}\", credentials: {CREDENTIALS}, base_url: {} }}",
            self.page_id, self.base_url
        )
    }

    /// Posts made through the API, in order: `id`, `text`, `images` ([{`alt`, `bytes_len`,
    /// `content_type`, `file_name`}]) and whether it has since been `deleted`.
    pub fn posts(&self) -> Vec<Value> {
        self.lock()
            .posts
            .iter()
            .filter(|p| !p.seeded)
            .map(|p| {
                json!({
                    "id": p.id,
                    "text": p.message,
                    "link": p.link,
                    "images": p.photos.iter().map(photo_json).collect::<Vec<_>>(),
                    "deleted": p.deleted,
                })
            })
            .collect()
    }

    /// Every photo upload, published or not: `id`, `bytes_len`, `caption`, `alt`, `published`.
    pub fn photos(&self) -> Vec<Value> {
        self.lock().photos.iter().map(photo_json).collect()
    }

    /// Ids deleted through `DELETE /{id}`, in order.
    pub fn deletions(&self) -> Vec<String> {
        self.lock().deletions.clone()
    }

    /// Every request received: `method`, `path`, `query`, `authorization` (the header as
    /// sent), `content_type`, `body` (the raw body as lossy UTF-8).
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// Answer the next `n` requests with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut s = self.lock();
        for _ in 0..n {
            s.failures.push_back(failure.clone());
        }
    }

    /// A post already on the Page (made by a person, or by an attempt cut short), created
    /// at `at`; returns its id.
    pub fn seed_post(&self, message: &str, at: DateTime<Utc>) -> String {
        let mut s = self.lock();
        let id = format!("{PAGE_ID}_{}", s.id());
        s.posts.push(Post {
            id: id.clone(),
            message: message.to_string(),
            link: None,
            created: at,
            photos: Vec::new(),
            deleted: false,
            seeded: true,
        });
        id
    }
}

fn photo_json(p: &Photo) -> Value {
    json!({
        "id": p.id,
        "bytes_len": p.bytes_len,
        "content_type": p.content_type,
        "file_name": p.file_name,
        "caption": p.caption,
        "alt": p.alt,
        "published": p.published,
    })
}

fn reply(status: u16, body: Value) -> Response<String> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json; charset=UTF-8")
        .body(body.to_string())
        .unwrap_or_default()
}

fn graph_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Response<String> {
    let mut error = json!({
        "message": message,
        "type": if code == 190 || code == 102 { "OAuthException" } else { "GraphMethodException" },
        "code": code,
        "fbtrace_id": "AFakeTraceId42",
    });
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    reply(status, json!({ "error": error }))
}

fn handle(
    state: &Arc<Mutex<State>>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header("content-type");
    s.requests.push(json!({
        "method": method.as_str(),
        "path": path,
        "query": query,
        "authorization": header("authorization"),
        "content_type": content_type,
        "body": String::from_utf8_lossy(body),
    }));

    let query_params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let (fields, files) = if content_type.starts_with("multipart/form-data") {
        match parse_multipart(&content_type, body) {
            Some(parts) => parts,
            None => {
                return graph_error(
                    400,
                    100,
                    None,
                    "(#100) The multipart body could not be read",
                )
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        (
            form_urlencoded::parse(body).into_owned().collect(),
            HashMap::new(),
        )
    } else {
        (HashMap::new(), HashMap::new())
    };

    // The token: the Authorization header, or `access_token` in the body or the query.
    let auth = header("authorization");
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("OAuth "))
        .map(str::to_string)
        .filter(|t| !t.is_empty())
        .or_else(|| fields.get("access_token").cloned())
        .or_else(|| query_params.get("access_token").cloned());
    match token.as_deref() {
        Some(TOKEN) => {}
        Some(_) => {
            return graph_error(
                400,
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            )
        }
        None => {
            return graph_error(
                400,
                2500,
                None,
                "An active access token must be used to query information about the current user.",
            )
        }
    }

    if let Some(failure) = s.failures.pop_front() {
        return match failure {
            Failure::Graph {
                status,
                code,
                subcode,
                message,
            } => graph_error(status, code, subcode, &message),
            Failure::Throttle {
                code,
                retry_after,
                regain_minutes,
            } => {
                let mut r = graph_error(400, code, None, "(#32) Page request limit reached");
                let h = r.headers_mut();
                if let Some(secs) = retry_after {
                    h.insert("retry-after", secs.into());
                }
                if let Some(minutes) = regain_minutes {
                    let usage = json!({ PAGE_ID: [{
                        "type": "pages", "call_count": 100, "total_cputime": 10,
                        "total_time": 12, "estimated_time_to_regain_access": minutes
                    }]})
                    .to_string();
                    if let Ok(v) = usage.parse() {
                        h.insert("x-business-use-case-usage", v);
                    }
                }
                r
            }
            Failure::Http(status) => Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
                .header("content-type", "text/html")
                .body("<html><body>Sorry, something went wrong.</body></html>".to_string())
                .unwrap_or_default(),
            Failure::Raw(status, body) => Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
                .header("content-type", "application/json")
                .body(body)
                .unwrap_or_default(),
        };
    }

    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some((version, rest)) = segments.split_first() else {
        return graph_error(400, 100, None, "Unknown path components");
    };
    if !(version.starts_with('v') && version.contains('.')) {
        return graph_error(
            400,
            2500,
            None,
            "Unknown path components: the version is missing",
        );
    }
    match (method.as_str(), rest) {
        ("POST", [page, "feed"]) if *page == PAGE_ID => post_feed(&mut s, &fields),
        ("POST", [page, "photos"]) if *page == PAGE_ID => post_photo(&mut s, &fields, &files),
        ("GET", [page, "posts" | "feed"]) if *page == PAGE_ID => list_posts(&s, &query_params),
        ("DELETE", [id]) => delete(&mut s, id),
        _ => graph_error(
            400,
            100,
            Some(33),
            "Unsupported request. Object does not exist, cannot be loaded due to missing \
             permissions, or does not support this operation.",
        ),
    }
}

fn post_feed(s: &mut State, fields: &HashMap<String, String>) -> Response<String> {
    let message = fields.get("message").cloned().unwrap_or_default();
    let mut attached: Vec<(usize, String)> = Vec::new();
    for (k, v) in fields {
        if let Some(i) = k
            .strip_prefix("attached_media[")
            .and_then(|r| r.strip_suffix(']'))
        {
            let Ok(i) = i.parse::<usize>() else {
                return graph_error(400, 100, None, "(#100) attached_media must be an array");
            };
            let Some(fbid) = serde_json::from_str::<Value>(v)
                .ok()
                .and_then(|m| m["media_fbid"].as_str().map(str::to_string))
            else {
                return graph_error(400, 100, None, "(#100) attached_media needs media_fbid");
            };
            attached.push((i, fbid));
        }
    }
    attached.sort();
    let link = fields.get("link").cloned();
    if let Some(link) = &link {
        // Facebook scrapes the page; one it cannot read refuses the post.
        if !(link.starts_with("https://") || link.starts_with("http://"))
            || link.contains("unreadable.example")
        {
            return graph_error(400, 100, None, "(#100) The link is not a valid URL");
        }
        if !attached.is_empty() {
            return graph_error(
                400,
                100,
                None,
                "(#100) link and attached_media cannot be combined",
            );
        }
    }
    if message.trim().is_empty() && attached.is_empty() && link.is_none() {
        return graph_error(400, 100, None, "(#100) Missing message or attachment");
    }
    let mut photos = Vec::new();
    for (_, fbid) in &attached {
        match s.photos.iter().find(|p| &p.id == fbid && !p.published) {
            Some(p) => photos.push(p.clone()),
            None => {
                return graph_error(
                    400,
                    100,
                    None,
                    &format!("(#100) media_fbid {fbid} is not an unpublished photo of this Page"),
                )
            }
        }
    }
    if let Some(last) = s.posts.iter().rev().find(|p| !p.deleted) {
        if !message.trim().is_empty() && last.message.trim() == message.trim() {
            return graph_error(400, 506, None, "(#506) Duplicate status message");
        }
    }
    let id = format!("{PAGE_ID}_{}", s.id());
    s.posts.push(Post {
        id: id.clone(),
        message,
        link,
        created: Utc::now(),
        photos,
        deleted: false,
        seeded: false,
    });
    reply(200, json!({ "id": id }))
}

fn post_photo(
    s: &mut State,
    fields: &HashMap<String, String>,
    files: &HashMap<String, (String, String, Vec<u8>)>,
) -> Response<String> {
    let Some((file_name, content_type, bytes)) = files.get("source") else {
        return graph_error(
            400,
            324,
            None,
            "(#324) Requires upload file: send the image as the multipart part `source`",
        );
    };
    if bytes.is_empty() {
        return graph_error(400, 324, None, "(#324) The uploaded file is empty");
    }
    let published = fields.get("published").map(String::as_str) != Some("false");
    let photo_id = s.id().to_string();
    let photo = Photo {
        id: photo_id.clone(),
        bytes_len: bytes.len(),
        content_type: content_type.clone(),
        file_name: file_name.clone(),
        caption: fields
            .get("caption")
            .or_else(|| fields.get("message"))
            .cloned(),
        alt: fields.get("alt_text_custom").cloned(),
        published,
    };
    s.photos.push(photo.clone());
    if !published {
        return reply(200, json!({ "id": photo_id }));
    }
    let post_id = format!("{PAGE_ID}_{}", s.id());
    s.posts.push(Post {
        id: post_id.clone(),
        message: photo.caption.clone().unwrap_or_default(),
        link: None,
        created: Utc::now(),
        photos: vec![photo],
        deleted: false,
        seeded: false,
    });
    reply(200, json!({ "id": photo_id, "post_id": post_id }))
}

/// Newest first, like Graph; `since` is a Unix time, `after` the index to continue from.
fn list_posts(s: &State, q: &HashMap<String, String>) -> Response<String> {
    let since = q.get("since").and_then(|v| v.parse::<i64>().ok());
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let start = q
        .get("after")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let all: Vec<&Post> = s
        .posts
        .iter()
        .rev()
        .filter(|p| !p.deleted)
        .filter(|p| since.is_none_or(|t| p.created.timestamp() >= t))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|p| {
            json!({
                "id": p.id,
                "message": p.message,
                "created_time": p.created.format("%Y-%m-%dT%H:%M:%S+0000").to_string(),
            })
        })
        .collect();
    let end = start + page.len();
    let mut paging =
        json!({ "cursors": { "before": start.to_string(), "after": end.to_string() } });
    if end < all.len() {
        paging["next"] = json!(format!("https://graph.facebook.com/next?after={end}"));
    }
    reply(200, json!({ "data": page, "paging": paging }))
}

fn delete(s: &mut State, id: &str) -> Response<String> {
    let found = s.posts.iter_mut().find(|p| p.id == id && !p.deleted);
    match found {
        Some(post) => {
            post.deleted = true;
            s.deletions.push(id.to_string());
            reply(200, json!({ "success": true }))
        }
        None => graph_error(
            400,
            100,
            Some(33),
            &format!(
                "Unsupported delete request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation."
            ),
        ),
    }
}

/// Text fields, and files as (file name, content type, bytes), of a multipart body.
#[allow(clippy::type_complexity)]
fn parse_multipart(
    content_type: &str,
    body: &[u8],
) -> Option<(
    HashMap<String, String>,
    HashMap<String, (String, String, Vec<u8>)>,
)> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut fields = HashMap::new();
    let mut files = HashMap::new();
    let mut rest = body;
    // Skip the preamble up to the first delimiter.
    let first = find(rest, &delimiter)?;
    rest = &rest[first + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        rest = &rest[head_end + 4..];
        let next = find(rest, &[b"\r\n".as_slice(), &delimiter].concat())?;
        let data = &rest[..next];
        rest = &rest[next + 2 + delimiter.len()..];
        let mut name = None;
        let mut file_name = None;
        let mut part_type = String::from("text/plain");
        for line in head.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                name = attribute(line, "name");
                file_name = attribute(line, "filename");
            } else if lower.starts_with("content-type:") {
                part_type = line["content-type:".len()..].trim().to_string();
            }
        }
        let name = name?;
        match file_name {
            Some(f) => {
                files.insert(name, (f, part_type, data.to_vec()));
            }
            None => {
                fields.insert(name, String::from_utf8_lossy(data).to_string());
            }
        }
    }
    Some((fields, files))
}

fn attribute(line: &str, key: &str) -> Option<String> {
    line.split(';').find_map(|p| {
        let p = p.trim();
        p.strip_prefix(&format!("{key}=\""))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_string)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
