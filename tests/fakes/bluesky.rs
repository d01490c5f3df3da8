//! A fake Bluesky PDS: the XRPC methods the adapter uses, answering the way the reference
//! PDS does (checked against `@atproto/dev-env` 0.6.7, see tests/bluesky_pds.rs).
//!
//! It checks logins (401 `AuthenticationRequired`), bearer tokens (400 `InvalidToken`,
//! 400 `ExpiredToken` once told to expire the access token), the record's shape against the
//! `app.bsky.feed.post` lexicon (400 `InvalidRequest`, with the PDS's wording), and answers a
//! repeated record key with HTTP 500 `InternalServerError` as the real PDS does. It records
//! every accepted post, blob and deletion, and counts calls per method.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use unicode_segmentation::UnicodeSegmentation;
use warp::http::{HeaderMap, Response, StatusCode};
use warp::Filter;

pub const HANDLE: &str = "koho.test";
pub const DID: &str = "did:plc:fakekohotest0000000000aa";
pub const APP_PASSWORD: &str = "abcd-efgh-ijkl-mnop";
pub const CREDENTIALS: &str = "BSKY_TEST";
const POST: &str = "app.bsky.feed.post";

/// How the next `createRecord` calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 before anything is written.
    Unavailable,
    /// 429 with `ratelimit-*` headers; the window resets this many seconds from now.
    RateLimited { reset_in: i64 },
    /// The record is written, then the answer is a 503 (a response lost after the commit).
    CommitThenUnavailable,
}

#[derive(Default)]
struct State {
    access: String,
    refresh: String,
    access_expired: bool,
    refresh_revoked: bool,
    tokens_issued: u64,
    /// Every token ever handed out, so tests can check none leaks into a message.
    issued: Vec<String>,
    blobs: HashMap<String, (Vec<u8>, String)>,
    /// The repository: rkey → (record, cid).
    records: BTreeMap<String, (Value, String)>,
    /// Accepted posts in order, as `posts()` shows them.
    posts: Vec<Value>,
    deleted: Vec<String>,
    faults: VecDeque<Fault>,
    calls: HashMap<String, usize>,
}

pub struct Fake {
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(State::default()));
    let shared = state.clone();
    let routes = warp::path!("xrpc" / String)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::body::bytes())
        .map(
            move |nsid: String,
                  method: warp::http::Method,
                  headers: HeaderMap,
                  query: String,
                  body: warp::hyper::body::Bytes| {
                let mut s = shared.lock().unwrap();
                *s.calls.entry(nsid.clone()).or_default() += 1;
                let query: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
                handle(&mut s, &nsid, method.as_str(), &headers, &query, &body)
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Fake {
        base_url: format!("http://{addr}"),
        state,
    }
}

impl Fake {
    /// The `Secrets` file lines for [`Fake::network_yaml`]'s credentials.
    pub fn secrets(&self) -> String {
        format!(
            "{}{CREDENTIALS}_APP_PASSWORD={APP_PASSWORD}\n",
            self.declaration()
        )
    }

    /// The server's declaration of the credential alone: its type, and the fake's address
    /// on loopback as its one allowed host.
    pub fn declaration(&self) -> String {
        let host = self.base_url.trim_start_matches("http://");
        format!("{CREDENTIALS}_TYPE=bluesky\n{CREDENTIALS}_HOSTS={host}\n")
    }

    pub fn network_yaml(&self, _name: &str) -> String {
        format!(
            "{{ type: bluesky, handle: {HANDLE}, credentials: {CREDENTIALS}, base_url: {} }}",
            self.base_url
        )
    }

    /// Accepted posts in order: `text`, `images` ([{alt, bytes_len, mime}]), `rkey`, `uri`,
    /// `repo` and the whole `record` as it arrived.
    pub fn posts(&self) -> Vec<Value> {
        self.state.lock().unwrap().posts.clone()
    }

    /// The record keys of the posts in the repository now.
    pub fn records(&self) -> Vec<String> {
        self.state.lock().unwrap().records.keys().cloned().collect()
    }

    /// Record keys that `deleteRecord` removed.
    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }

    /// How many times an XRPC method was called.
    pub fn calls(&self, nsid: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(nsid)
            .copied()
            .unwrap_or(0)
    }

    /// Every access and refresh token the fake handed out.
    pub fn tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }

    /// The current access token answers 400 `ExpiredToken` from now on.
    pub fn expire_access_token(&self) {
        self.state.lock().unwrap().access_expired = true;
    }

    /// The current refresh token is refused too, so only a new login helps.
    pub fn revoke_refresh_token(&self) {
        self.state.lock().unwrap().refresh_revoked = true;
    }

    /// The next `n` calls of `createRecord` fail with `fault`.
    pub fn fail_next_creates(&self, n: usize, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.faults.push_back(fault);
        }
    }

    /// Puts a post at `rkey` behind the adapter's back (someone else's record).
    pub fn put_record(&self, rkey: &str, text: &str) {
        let record =
            json!({ "$type": POST, "text": text, "createdAt": "2026-01-01T00:00:00.000Z" });
        let cid = cid_of(record.to_string().as_bytes(), "bafyrei");
        self.state
            .lock()
            .unwrap()
            .records
            .insert(rkey.to_string(), (record, cid));
    }
}

fn cid_of(bytes: &[u8], prefix: &str) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// An answer before it becomes an HTTP response (small, so it can be an `Err`).
struct Reply {
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn into_response(self) -> Response<String> {
        let mut r = Response::builder()
            .status(self.status)
            .header("content-type", "application/json; charset=utf-8");
        for (name, value) in self.headers {
            r = r.header(name, value);
        }
        r.body(self.body.to_string()).unwrap()
    }
}

fn reply(status: StatusCode, body: Value) -> Reply {
    Reply {
        status,
        body,
        headers: vec![],
    }
}

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Reply {
    reply(status, json!({ "error": error, "message": message }))
}

fn invalid(message: &str) -> Reply {
    xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn issue_tokens(s: &mut State) -> Value {
    s.tokens_issued += 1;
    s.access = format!("fake-access-{}-{}", s.tokens_issued, rand_hex());
    s.refresh = format!("fake-refresh-{}-{}", s.tokens_issued, rand_hex());
    s.access_expired = false;
    s.refresh_revoked = false;
    s.issued.push(s.access.clone());
    s.issued.push(s.refresh.clone());
    json!({
        "accessJwt": s.access,
        "refreshJwt": s.refresh,
        "handle": HANDLE,
        "did": DID,
        "active": true,
    })
}

fn rand_hex() -> String {
    (0..8)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// The reference PDS's answers to a missing, unknown or expired access token.
fn check_access(s: &State, headers: &HeaderMap) -> Result<(), Reply> {
    match bearer(headers) {
        None => Err(xrpc_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Authentication Required",
        )),
        Some(t) if t == s.access && s.access_expired => Err(xrpc_error(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "Token has expired",
        )),
        Some(t) if t == s.access => Ok(()),
        Some(_) => Err(xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "Token could not be verified",
        )),
    }
}

fn json_body(body: &[u8]) -> Result<Value, Reply> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| invalid("Request body must be a JSON object"))
}

fn need_str<'a>(v: &'a Value, key: &str) -> Result<&'a str, Reply> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("Input must have the property \"{key}\"")))
}

fn handle(
    s: &mut State,
    nsid: &str,
    method: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response<String> {
    let outcome = match (method, nsid) {
        ("POST", "com.atproto.server.createSession") => create_session(s, body),
        ("POST", "com.atproto.server.refreshSession") => refresh_session(s, headers),
        ("POST", "com.atproto.repo.uploadBlob") => upload_blob(s, headers, body),
        ("POST", "com.atproto.repo.createRecord") => create_record(s, headers, body),
        ("POST", "com.atproto.repo.deleteRecord") => delete_record(s, headers, body),
        ("GET", "com.atproto.repo.getRecord") => get_record(s, query),
        ("GET", "com.atproto.repo.listRecords") => Ok(list_records(s)),
        _ => Err(xrpc_error(
            StatusCode::NOT_IMPLEMENTED,
            "MethodNotImplemented",
            "Method Not Implemented",
        )),
    };
    outcome.unwrap_or_else(|e| e).into_response()
}

fn create_session(s: &mut State, body: &[u8]) -> Result<Reply, Reply> {
    let v = json_body(body)?;
    let identifier = need_str(&v, "identifier")?;
    let password = need_str(&v, "password")?;
    if !(identifier == HANDLE || identifier == DID) || password != APP_PASSWORD {
        return Err(xrpc_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Invalid identifier or password",
        ));
    }
    Ok(reply(StatusCode::OK, issue_tokens(s)))
}

fn refresh_session(s: &mut State, headers: &HeaderMap) -> Result<Reply, Reply> {
    match bearer(headers) {
        Some(t) if t == s.refresh && !s.refresh_revoked => {
            Ok(reply(StatusCode::OK, issue_tokens(s)))
        }
        Some(t) if t == s.refresh => Err(xrpc_error(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "Token has been revoked",
        )),
        _ => Err(xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "Token could not be verified",
        )),
    }
}

fn upload_blob(s: &mut State, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    check_access(s, headers)?;
    let mime = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if mime.is_empty() {
        return Err(invalid(
            "Request encoding (Content-Type) required but not provided",
        ));
    }
    let link = cid_of(body, "bafkrei");
    let size = body.len();
    s.blobs.insert(link.clone(), (body.to_vec(), mime.clone()));
    Ok(reply(
        StatusCode::OK,
        json!({ "blob": { "$type": "blob", "ref": { "$link": link }, "mimeType": mime, "size": size } }),
    ))
}

/// Whether `rkey` is a TID: 13 characters of the sortable base32 alphabet, the first
/// among its first 16.
fn is_tid(rkey: &str) -> bool {
    const ALPHABET: &str = "234567abcdefghijklmnopqrstuvwxyz";
    rkey.len() == 13
        && ALPHABET[..16].contains(&rkey[..1])
        && rkey.chars().all(|c| ALPHABET.contains(c))
}

/// What the lexicon of `app.bsky.feed.post` (and of its facets and image embeds) demands.
fn validate_post(s: &State, record: &Value) -> Result<(), String> {
    let bad = |m: &str| format!("Invalid app.bsky.feed.post record: {m}");
    if record.get("$type").and_then(Value::as_str) != Some(POST) {
        return Err("Invalid $type: must be app.bsky.feed.post".into());
    }
    let text = record
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Record must have the property \"text\""))?;
    let graphemes = text.graphemes(true).count();
    if graphemes > 300 {
        return Err(bad(&format!(
            "grapheme too big (maximum 300, got {graphemes}) at $.record.text"
        )));
    }
    if text.len() > 3000 {
        return Err(bad("string too long (maximum 3000) at $.record.text"));
    }
    let created = record
        .get("createdAt")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Record must have the property \"createdAt\""))?;
    if chrono::DateTime::parse_from_rfc3339(created).is_err() {
        return Err(bad("Record/createdAt must be an valid atproto datetime"));
    }
    if let Some(facets) = record.get("facets") {
        for f in facets
            .as_array()
            .ok_or_else(|| bad("facets must be an array"))?
        {
            let start = f["index"]["byteStart"].as_u64();
            let end = f["index"]["byteEnd"].as_u64();
            let (Some(start), Some(end)) = (start, end) else {
                return Err(bad("facet index must have byteStart and byteEnd"));
            };
            let (start, end) = (start as usize, end as usize);
            if start >= end
                || end > text.len()
                || !text.is_char_boundary(start)
                || !text.is_char_boundary(end)
            {
                return Err(bad("facet index is outside the text"));
            }
            let features = f["features"]
                .as_array()
                .ok_or_else(|| bad("facet must have features"))?;
            for feature in features {
                match feature["$type"].as_str() {
                    Some("app.bsky.richtext.facet#link")
                        if feature["uri"].as_str().is_some_and(|u| u.contains("://")) => {}
                    Some("app.bsky.richtext.facet#mention" | "app.bsky.richtext.facet#tag") => {}
                    _ => {
                        return Err(bad(
                            "facet feature must be a link with a uri, a mention or a tag",
                        ))
                    }
                }
            }
        }
    }
    if let Some(embed) = record.get("embed") {
        if embed["$type"] == "app.bsky.embed.external" {
            return validate_external(s, &embed["external"]);
        }
        if embed["$type"] != "app.bsky.embed.images" {
            return Err(bad(
                "this fake takes only app.bsky.embed.images and app.bsky.embed.external",
            ));
        }
        let images = embed["images"]
            .as_array()
            .ok_or_else(|| bad("embed must have images"))?;
        if images.len() > 4 {
            return Err(bad(
                "Record/embed/images must not have more than 4 elements",
            ));
        }
        for image in images {
            if image["alt"].as_str().is_none() {
                return Err(bad("Record/embed/images/0 must have the property \"alt\""));
            }
            let link = image["image"]["ref"]["$link"].as_str().unwrap_or("");
            if image["image"]["$type"] != "blob" || !s.blobs.contains_key(link) {
                return Err(format!("Could not find blob: {link}"));
            }
        }
    }
    if let Some(reply) = record.get("reply") {
        // app.bsky.feed.post#replyRef: root and parent, each a com.atproto.repo.strongRef.
        for side in ["root", "parent"] {
            let r = &reply[side];
            let uri = r["uri"].as_str().unwrap_or("");
            let cid = r["cid"].as_str().unwrap_or("");
            if !uri.starts_with("at://") || cid.is_empty() {
                return Err(bad(&format!(
                    "Record/reply/{side} must be a strongRef with an at:// uri and a cid"
                )));
            }
        }
    }
    if let Some(langs) = record.get("langs") {
        if langs.as_array().is_none_or(|l| l.len() > 3) {
            return Err(bad("langs must be an array of at most 3"));
        }
    }
    Ok(())
}

/// `app.bsky.embed.external#external`: `uri` (a URI), `title` and `description` (strings),
/// and an optional `thumb` blob of an image of at most 1,000,000 bytes that was uploaded.
fn validate_external(s: &State, external: &Value) -> Result<(), String> {
    let bad = |m: &str| format!("Invalid app.bsky.feed.post record: {m}");
    let uri = external["uri"]
        .as_str()
        .ok_or_else(|| bad("Record/embed/external must have the property \"uri\""))?;
    if !uri.contains(':') || uri.chars().any(char::is_whitespace) {
        return Err(bad("Record/embed/external/uri must be a uri"));
    }
    for key in ["title", "description"] {
        if external[key].as_str().is_none() {
            return Err(bad(&format!(
                "Record/embed/external must have the property \"{key}\""
            )));
        }
    }
    if let Some(thumb) = external.get("thumb") {
        let link = thumb["ref"]["$link"].as_str().unwrap_or("");
        let Some((bytes, mime)) = s.blobs.get(link) else {
            return Err(format!("Could not find blob: {link}"));
        };
        if thumb["$type"] != "blob" || !mime.starts_with("image/") {
            return Err(bad("Record/embed/external/thumb must be an image blob"));
        }
        if bytes.len() > 1_000_000 {
            return Err(bad("Record/embed/external/thumb is too big"));
        }
    }
    Ok(())
}

fn create_record(s: &mut State, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    check_access(s, headers)?;
    let fault = s.faults.pop_front();
    match fault {
        Some(Fault::Unavailable) => {
            return Err(xrpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "InternalServerError",
                "Service Unavailable",
            ))
        }
        Some(Fault::RateLimited { reset_in }) => {
            let reset = chrono::Utc::now().timestamp() + reset_in;
            let mut r = xrpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimitExceeded",
                "Rate Limit Exceeded",
            );
            r.headers = vec![
                ("ratelimit-limit", "5000".into()),
                ("ratelimit-remaining", "0".into()),
                ("ratelimit-reset", reset.to_string()),
                ("ratelimit-policy", "5000;w=3600".into()),
            ];
            return Err(r);
        }
        _ => {}
    }
    let v = json_body(body)?;
    let repo = need_str(&v, "repo")?;
    let collection = need_str(&v, "collection")?;
    if repo != DID && repo != HANDLE {
        return Err(invalid("Invalid repo"));
    }
    if collection != POST {
        return Err(invalid(&format!("this fake takes only {POST}")));
    }
    let Some(record) = v.get("record").filter(|r| r.is_object()) else {
        return Err(invalid("Input must have the property \"record\""));
    };
    let rkey = match v.get("rkey") {
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(invalid("rkey must be a string")),
        None => return Err(invalid("this fake wants the client's rkey")),
    };
    if !is_tid(&rkey) {
        return Err(invalid(&format!(
            "Invalid record key for {POST}: Invalid TID string (got \"{rkey}\") at $"
        )));
    }
    validate_post(s, record).map_err(|m| invalid(&m))?;
    if s.records.contains_key(&rkey) {
        // What the reference PDS answers to a record key that is taken.
        return Err(xrpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal Server Error",
        ));
    }
    let cid = cid_of(record.to_string().as_bytes(), "bafyrei");
    let uri = format!("at://{DID}/{POST}/{rkey}");
    let images: Vec<Value> = record["embed"]["images"]
        .as_array()
        .map(|images| {
            images
                .iter()
                .map(|i| {
                    let link = i["image"]["ref"]["$link"].as_str().unwrap_or("");
                    let (bytes, mime) = s.blobs.get(link).cloned().unwrap_or_default();
                    json!({ "alt": i["alt"], "bytes_len": bytes.len(), "mime": mime, "sha256": hex::encode(Sha256::digest(&bytes)) })
                })
                .collect()
        })
        .unwrap_or_default();
    s.posts.push(json!({
        "text": record["text"],
        "images": images,
        "rkey": rkey,
        "uri": uri,
        "repo": repo,
        "record": record,
        "cid": cid,
    }));
    s.records.insert(rkey, (record.clone(), cid.clone()));
    if fault == Some(Fault::CommitThenUnavailable) {
        return Err(xrpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "InternalServerError",
            "Service Unavailable",
        ));
    }
    Ok(reply(
        StatusCode::OK,
        json!({ "uri": uri, "cid": cid, "commit": { "cid": cid, "rev": "3n36hmkzx5k2h" }, "validationStatus": "valid" }),
    ))
}

fn get_record(s: &State, query: &HashMap<String, String>) -> Result<Reply, Reply> {
    let (Some(repo), Some(collection), Some(rkey)) = (
        query.get("repo"),
        query.get("collection"),
        query.get("rkey"),
    ) else {
        return Err(invalid(
            "Params must have the properties \"repo\", \"collection\" and \"rkey\"",
        ));
    };
    let uri = format!("at://{repo}/{collection}/{rkey}");
    match s.records.get(rkey) {
        Some((record, cid)) if (repo == DID || repo == HANDLE) && collection == POST => Ok(reply(
            StatusCode::OK,
            json!({ "uri": format!("at://{DID}/{POST}/{rkey}"), "cid": cid, "value": record }),
        )),
        _ => Err(xrpc_error(
            StatusCode::BAD_REQUEST,
            "RecordNotFound",
            &format!("Could not locate record: {uri}"),
        )),
    }
}

fn list_records(s: &State) -> Reply {
    let records: Vec<Value> = s
        .records
        .iter()
        .rev()
        .map(|(rkey, (record, cid))| {
            json!({ "uri": format!("at://{DID}/{POST}/{rkey}"), "cid": cid, "value": record })
        })
        .collect();
    reply(StatusCode::OK, json!({ "records": records }))
}

fn delete_record(s: &mut State, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    check_access(s, headers)?;
    let v = json_body(body)?;
    let repo = need_str(&v, "repo")?;
    let collection = need_str(&v, "collection")?;
    let rkey = need_str(&v, "rkey")?.to_string();
    if repo != DID && repo != HANDLE {
        return Err(invalid("Invalid repo"));
    }
    // Deleting a record that is not there succeeds, as on the reference PDS.
    if collection == POST && s.records.remove(&rkey).is_some() {
        s.deleted.push(rkey);
    }
    Ok(reply(StatusCode::OK, json!({})))
}
