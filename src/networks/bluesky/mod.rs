//! The `bluesky` network: posts to an AT Protocol PDS (bsky.social or a self-hosted one)
//! with the account's handle and an app password.
//!
//! Exactly once comes from the record key. A post's key is not chosen by the PDS: it is a
//! TID derived from the delivery key and publish time ([`record_key`]), so every attempt of
//! one delivery writes the same `at://<did>/app.bsky.feed.post/<rkey>`. A second
//! `createRecord` with that key cannot make a second post; the reference PDS answers it with
//! HTTP 500, so after any 5xx the adapter asks `getRecord` whether the post is already there.
//!
//! A session (access + refresh token) is created once and kept: `createSession` is limited
//! to 30 logins per 5 minutes, so an expired access token is refreshed, and only when that
//! fails is the app password used again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::{
    http, media, AdapterContext, BuildError, Endpoint, ErrorClass, NetError, Network, Published,
    Settlement,
};
use crate::content::config::NetworkSettings;
use crate::content::count;
use crate::model::records::DeliveryRecord;
use crate::networks::card::CardReader;

mod tid;
pub(crate) use tid::record_key;

/// The PDS of accounts made on bsky.app, used when the configuration names no `service`.
const DEFAULT_SERVICE: &str = "https://bsky.social";
const POST: &str = "app.bsky.feed.post";
/// `app.bsky.embed.images` holds at most this many images.
const MAX_IMAGES: usize = 4;

pub struct Bluesky {
    /// The PDS's address, without a trailing slash.
    service: String,
    handle: String,
    password: String,
    media: Arc<dyn media::MediaSource>,
    session: Mutex<Option<Session>>,
    /// Reads the first link's page for its card.
    cards: CardReader,
}

/// What `createSession` and `refreshSession` answer (more fields are ignored). Deliberately
/// not `Debug`: it holds the tokens.
#[derive(Clone, Deserialize)]
struct Session {
    #[serde(rename = "accessJwt")]
    access: String,
    #[serde(rename = "refreshJwt")]
    refresh: String,
    did: String,
}

/// An XRPC error body: `{"error": "InvalidRequest", "message": "..."}`.
#[derive(Deserialize, Default)]
struct XrpcError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Created {
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Uploaded {
    blob: Value,
}

#[derive(Deserialize)]
struct FoundRecord {
    uri: String,
    /// The record version's content hash, which a reply's strong references name.
    #[serde(default)]
    cid: Option<String>,
    #[serde(default)]
    value: Value,
}

/// One HTTP answer, read whole so it can be classified after the connection is gone.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn error(&self) -> XrpcError {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// `service` (or `base_url`, which overrides it for tests and gateways), `handle`, and the
/// secret `<credentials>_APP_PASSWORD`.
pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
    let NetworkSettings::Bluesky { handle, service } = &ctx.net.settings else {
        return Err(ctx.wrong_settings());
    };
    let grant = ctx.grant(Endpoint::Url(service.as_deref().unwrap_or(DEFAULT_SERVICE)))?;
    let service = grant.base();
    let handle = handle.clone();
    let password = grant.secret("APP_PASSWORD")?;
    Ok(Arc::new(Bluesky {
        service,
        handle,
        password,
        media: ctx.media.clone(),
        session: Mutex::new(None),
        cards: CardReader::from_secrets(ctx.secrets),
    }))
}

impl Bluesky {
    fn xrpc(&self, nsid: &str) -> String {
        format!("{}/xrpc/{nsid}", self.service)
    }

    /// The kept session, logging in first when there is none.
    async fn session(&self) -> Result<Session, NetError> {
        let mut kept = self.session.lock().await;
        if let Some(s) = kept.as_ref() {
            return Ok(s.clone());
        }
        let s = self.create_session().await?;
        *kept = Some(s.clone());
        Ok(s)
    }

    /// A new session after `stale` (an access token) was refused: refreshed with the
    /// refresh token, or a fresh login when that fails. When another request already
    /// renewed the session meanwhile, its result is used as it is.
    async fn renew(&self, stale: &str) -> Result<Session, NetError> {
        let mut kept = self.session.lock().await;
        let refreshed = match kept.as_ref() {
            Some(s) if s.access != stale => return Ok(s.clone()),
            Some(s) => match self.refresh_session(&s.refresh).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::info!(handle = %self.handle, "bluesky: refresh failed, logging in again: {e}");
                    None
                }
            },
            None => None,
        };
        let s = match refreshed {
            Some(s) => s,
            None => {
                // Forget the refused session first, so a failed login is not retried with it.
                *kept = None;
                self.create_session().await?
            }
        };
        *kept = Some(s.clone());
        Ok(s)
    }

    async fn create_session(&self) -> Result<Session, NetError> {
        let nsid = "com.atproto.server.createSession";
        let answer = send(
            http::client()
                .post(self.xrpc(nsid))
                .json(&json!({ "identifier": self.handle, "password": self.password })),
        )
        .await?;
        if !answer.status.is_success() {
            let mut e = xrpc_error(nsid, &answer);
            // Any refusal of the login but a rate limit is for an operator to fix: a wrong
            // or revoked app password, a handle that does not exist, a suspended account.
            if answer.status.is_client_error() && answer.status != StatusCode::TOO_MANY_REQUESTS {
                e.class = ErrorClass::Credentials;
                e.message = format!(
                    "Bluesky refused to log in as {} with the app password: {}",
                    self.handle, e.message
                );
            }
            return Err(e);
        }
        tracing::info!(handle = %self.handle, "bluesky: logged in");
        parse_session(nsid, &answer)
    }

    async fn refresh_session(&self, refresh: &str) -> Result<Session, NetError> {
        let nsid = "com.atproto.server.refreshSession";
        let answer = send(http::client().post(self.xrpc(nsid)).bearer_auth(refresh)).await?;
        if !answer.status.is_success() {
            return Err(xrpc_error(nsid, &answer));
        }
        tracing::info!(handle = %self.handle, "bluesky: session refreshed");
        parse_session(nsid, &answer)
    }

    /// Sends a request built by `make` with the session's access token; when the token has
    /// expired or is refused, renews the session and sends once more. The answer is returned
    /// whatever its status, with the session it was sent with.
    async fn authed<F>(&self, make: F) -> Result<(Answer, Session), NetError>
    where
        F: Fn(&Session) -> RequestBuilder,
    {
        let session = self.session().await?;
        let answer = send(make(&session).bearer_auth(&session.access)).await?;
        if !token_refused(&answer) {
            return Ok((answer, session));
        }
        let session = self.renew(&session.access).await?;
        let answer = send(make(&session).bearer_auth(&session.access)).await?;
        Ok((answer, session))
    }

    async fn upload_blob(&self, bytes: Vec<u8>, mime: &str) -> Result<Value, NetError> {
        let nsid = "com.atproto.repo.uploadBlob";
        let url = self.xrpc(nsid);
        let (answer, _) = self
            .authed(|_| {
                http::client()
                    .post(&url)
                    .header(CONTENT_TYPE, mime)
                    .body(bytes.clone())
            })
            .await?;
        if !answer.status.is_success() {
            return Err(xrpc_error(nsid, &answer));
        }
        match serde_json::from_str::<Uploaded>(&answer.body) {
            Ok(Uploaded { blob }) if blob.is_object() => Ok(blob),
            _ => Err(NetError::transient(format!(
                "Bluesky {nsid}: the answer holds no blob reference"
            ))),
        }
    }

    /// The post at `rkey` in the account's repository, `None` when there is none.
    async fn get_record(&self, rkey: &str) -> Result<Option<(FoundRecord, Session)>, NetError> {
        let nsid = "com.atproto.repo.getRecord";
        let url = self.xrpc(nsid);
        let (answer, session) = self
            .authed(|s| {
                http::client().get(&url).query(&[
                    ("repo", s.did.as_str()),
                    ("collection", POST),
                    ("rkey", rkey),
                ])
            })
            .await?;
        if answer.status.is_success() {
            return match serde_json::from_str::<FoundRecord>(&answer.body) {
                Ok(found) => Ok(Some((found, session))),
                Err(e) => Err(NetError::transient(format!(
                    "Bluesky {nsid}: unexpected answer: {e}"
                ))),
            };
        }
        if answer.status.is_client_error() && answer.error().error == "RecordNotFound" {
            return Ok(None);
        }
        Err(xrpc_error(nsid, &answer))
    }

    /// A `com.atproto.repo.strongRef` (uri and cid) to one of the account's posts, which
    /// a thread's reply names as its root and parent.
    async fn strong_ref(&self, uri: &str) -> Result<Value, NetError> {
        // A part an operator recorded by hand holds the rkey from its bsky.app address.
        let bare = (!uri.is_empty() && uri.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| uri.to_string());
        let rkey = parse_post_uri(uri).map(|(_, rkey)| rkey).or(bare).ok_or_else(|| {
            NetError::permanent(format!(
                "Bluesky: the thread's earlier part is recorded as {uri}, which is not a post's address"
            ))
        })?;
        let gone = || {
            NetError::permanent(format!(
                "Bluesky: the thread's earlier part {uri} is gone, so the next part has nothing to reply to"
            ))
        };
        let (found, _) = self.get_record(&rkey).await?.ok_or_else(gone)?;
        let cid = found.cid.ok_or_else(gone)?;
        Ok(json!({ "uri": found.uri, "cid": cid }))
    }

    fn published(&self, uri: String, rkey: &str) -> Published {
        Published {
            remote_id: Some(uri),
            remote_url: Some(format!(
                "https://bsky.app/profile/{}/post/{rkey}",
                self.handle
            )),
        }
    }

    /// After a failed `createRecord` that may have gone through (or that failed because an
    /// earlier attempt did): the post, when it is at `rkey` with our text.
    async fn already_there(
        &self,
        d: &DeliveryRecord,
        rkey: &str,
    ) -> Option<Result<Published, NetError>> {
        let (found, _) = self.get_record(rkey).await.ok()??;
        if found.value.get("text").and_then(Value::as_str) == Some(d.text.as_str()) {
            return Some(Ok(self.published(found.uri, rkey)));
        }
        // Someone else's record holds our key; sending again can never succeed.
        Some(Err(NetError::permanent(format!(
            "Bluesky: the record key {rkey} already holds a different post ({}); \
             check the account and publish this post by hand",
            found.uri
        ))))
    }
}

#[async_trait]
impl Network for Bluesky {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        if d.images.len() > MAX_IMAGES {
            return Err(NetError::permanent(format!(
                "Bluesky takes at most {MAX_IMAGES} images in a post; this one has {}",
                d.images.len()
            )));
        }
        let rkey = record_key(&d.key, d.publish_at);
        let mut images = Vec::new();
        for image in &d.images {
            let bytes = media::load(&self.media, image).await?;
            let blob = self.upload_blob(bytes, &image.mime).await?;
            images.push(json!({ "image": blob, "alt": image.alt.as_deref().unwrap_or("") }));
        }
        let mut record = post_record(&d.text, Utc::now(), &images);
        if let Some(to) = &d.reply_to {
            record["reply"] = json!({
                "root": self.strong_ref(&to.root.id).await?,
                "parent": self.strong_ref(&to.parent.id).await?,
            });
        }
        if images.is_empty() && !d.no_card {
            if let Some(card) = self.card(&d.text).await {
                record["embed"] = card;
            }
        }
        let nsid = "com.atproto.repo.createRecord";
        let url = self.xrpc(nsid);
        // Without an answer (a timeout, a cut connection) the error is transient: the next
        // attempt writes the same key, so it cannot double the post.
        let (answer, session) = self
            .authed(|s| {
                http::client().post(&url).json(&json!({
                    "repo": s.did,
                    "collection": POST,
                    "rkey": rkey,
                    "record": record,
                }))
            })
            .await?;
        if answer.status.is_success() {
            let uri = serde_json::from_str::<Created>(&answer.body)
                .ok()
                .and_then(|c| c.uri)
                .unwrap_or_else(|| format!("at://{}/{POST}/{rkey}", session.did));
            return Ok(self.published(uri, &rkey));
        }
        let error = xrpc_error(nsid, &answer);
        // The reference PDS answers a record key that is taken with a 500 (another server
        // might say 409), and any 5xx may hide a write that went through: look before
        // calling it a failure.
        if answer.status.is_server_error() || answer.status == StatusCode::CONFLICT {
            if let Some(outcome) = self.already_there(d, &rkey).await {
                return outcome;
            }
        }
        Err(error)
    }

    async fn settle(&self, d: &DeliveryRecord) -> Result<Settlement, NetError> {
        let rkey = record_key(&d.key, d.publish_at);
        match self.get_record(&rkey).await? {
            Some((found, _)) => {
                if found.value.get("text").and_then(Value::as_str) == Some(d.text.as_str()) {
                    Ok(Settlement::Published(self.published(found.uri, &rkey)))
                } else {
                    Ok(Settlement::Unknown(format!(
                        "the record key {rkey} holds a post with other text ({})",
                        found.uri
                    )))
                }
            }
            // Not there; a resend writes the same key, so it can never make a second post.
            None => Ok(Settlement::SafeToRetry),
        }
    }

    async fn retract(&self, d: &DeliveryRecord) -> Result<(), NetError> {
        let (repo, rkey) = match d.remote_id.as_deref().and_then(parse_post_uri) {
            Some((repo, rkey)) => (Some(repo), rkey),
            None => (None, record_key(&d.key, d.publish_at)),
        };
        if let Some(repo) = repo {
            let did = self.session().await?.did;
            if repo != did && repo != self.handle {
                return Err(NetError::permanent(format!(
                    "Bluesky: {} was posted by {repo}, not by {} ({did}); delete it from \
                     that account",
                    d.remote_id.as_deref().unwrap_or_default(),
                    self.handle,
                )));
            }
        }
        let nsid = "com.atproto.repo.deleteRecord";
        let url = self.xrpc(nsid);
        let (answer, _) = self
            .authed(|s| {
                http::client().post(&url).json(&json!({
                    "repo": s.did,
                    "collection": POST,
                    "rkey": rkey,
                }))
            })
            .await?;
        // deleteRecord "ensures the record doesn't exist": deleting what is gone succeeds.
        if answer.status.is_success() || answer.error().error == "RecordNotFound" {
            return Ok(());
        }
        Err(xrpc_error(nsid, &answer))
    }
}

impl Bluesky {
    /// The `app.bsky.embed.external` card of the text's first link, or `None` (no link, or
    /// its page could not be read: the link facet stays, and the post goes out anyway).
    async fn card(&self, text: &str) -> Option<Value> {
        let uri = count::first_link(text)?;
        let card = match self.cards.read(&uri).await {
            Ok(card) => card,
            Err(e) => {
                tracing::info!("no link card for {uri}: {e}");
                return None;
            }
        };
        let mut external = json!({
            "uri": card.uri,
            "title": card.title,
            "description": card.description,
        });
        if let Some((bytes, mime)) = card.thumb {
            match self.upload_blob(bytes, &mime).await {
                Ok(blob) => external["thumb"] = blob,
                Err(e) => tracing::info!(
                    "link card for {uri}: its picture was not taken: {}",
                    e.message
                ),
            }
        }
        Some(json!({ "$type": "app.bsky.embed.external", "external": external }))
    }
}

/// The `app.bsky.feed.post` record: text, link and tag facets (UTF-8 byte offsets), and the
/// images.
fn post_record(text: &str, now: DateTime<Utc>, images: &[Value]) -> Value {
    let mut record = json!({
        "$type": POST,
        "text": text,
        "createdAt": now.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    let facets: Vec<Value> = count::bluesky_facets(text)
        .iter()
        .map(count::Facet::to_json)
        .collect();
    if !facets.is_empty() {
        record["facets"] = Value::Array(facets);
    }
    if !images.is_empty() {
        record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": images });
    }
    record
}

async fn send(request: RequestBuilder) -> Result<Answer, NetError> {
    let response = request.send().await.map_err(http::transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(http::transport)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn parse_session(nsid: &str, answer: &Answer) -> Result<Session, NetError> {
    serde_json::from_str(&answer.body).map_err(|e| {
        // serde's message names the missing field, never a value.
        NetError::transient(format!("Bluesky {nsid}: unexpected answer: {e}"))
    })
}

/// The access token was refused: expired (400 `ExpiredToken`), or not accepted (401).
fn token_refused(answer: &Answer) -> bool {
    match answer.status {
        StatusCode::UNAUTHORIZED => true,
        StatusCode::BAD_REQUEST => {
            matches!(
                answer.error().error.as_str(),
                "ExpiredToken" | "InvalidToken"
            )
        }
        _ => false,
    }
}

/// A failed XRPC call as a [`NetError`]: 429, 408 and 5xx are transient (with the wait from
/// `ratelimit-reset`), a refused token is the credentials, other 4xx are permanent. The
/// PDS's own error name and message are kept: they tell staff what to fix.
fn xrpc_error(nsid: &str, answer: &Answer) -> NetError {
    let status = answer.status;
    let parsed = answer.error();
    let class = match status.as_u16() {
        408 | 429 | 500..=599 => ErrorClass::Transient,
        401 | 403 => ErrorClass::Credentials,
        _ if matches!(parsed.error.as_str(), "ExpiredToken" | "InvalidToken") => {
            ErrorClass::Credentials
        }
        _ => ErrorClass::Permanent,
    };
    let detail = if parsed.error.is_empty() && parsed.message.is_empty() {
        answer.body.chars().take(300).collect::<String>()
    } else if parsed.message.is_empty() {
        parsed.error
    } else {
        let message: String = parsed.message.chars().take(300).collect();
        format!("{}: {message}", parsed.error)
    };
    NetError {
        class,
        message: format!("Bluesky {nsid}: HTTP {status}: {}", detail.trim()),
        retry_after: ratelimit_reset(&answer.headers, Utc::now())
            .or_else(|| http::retry_after(&answer.headers, Utc::now())),
    }
}

/// `ratelimit-reset`: when the PDS's window resets, in epoch seconds.
fn ratelimit_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let reset = headers
        .get("ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()?;
    let at = DateTime::from_timestamp(reset, 0)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// `at://<repo>/app.bsky.feed.post/<rkey>` → (repo, rkey).
fn parse_post_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("at://")?;
    let mut parts = rest.split('/');
    let (repo, collection, rkey) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || collection != POST || repo.is_empty() || rkey.is_empty() {
        return None;
    }
    Some((repo.to_string(), rkey.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_post_uris() {
        assert_eq!(
            parse_post_uri("at://did:plc:abc/app.bsky.feed.post/3l25zusnsfctk"),
            Some(("did:plc:abc".into(), "3l25zusnsfctk".into()))
        );
        assert_eq!(
            parse_post_uri("at://did:plc:abc/app.bsky.feed.like/3l2"),
            None
        );
        assert_eq!(parse_post_uri("https://bsky.app/profile/x/post/3l2"), None);
    }

    #[test]
    fn the_record_has_facets_and_images_only_when_there_are_some() {
        let now = Utc::now();
        let plain = post_record("こんにちは", now, &[]);
        assert_eq!(plain["$type"], POST);
        assert!(plain.get("facets").is_none() && plain.get("embed").is_none());
        let text = "詳しくは https://www.city.example.jp/a へ";
        let r = post_record(text, now, &[json!({ "image": {}, "alt": "" })]);
        let start = r["facets"][0]["index"]["byteStart"].as_u64().unwrap() as usize;
        let end = r["facets"][0]["index"]["byteEnd"].as_u64().unwrap() as usize;
        assert_eq!(&text[start..end], "https://www.city.example.jp/a");
        assert_eq!(r["embed"]["$type"], "app.bsky.embed.images");
        let tagged = post_record("#足立区 の防災訓練", now, &[]);
        assert_eq!(
            tagged["facets"][0]["features"][0]["$type"],
            "app.bsky.richtext.facet#tag"
        );
        assert_eq!(tagged["facets"][0]["features"][0]["tag"], "足立区");
        assert_eq!(tagged["facets"][0]["index"]["byteEnd"], 10);
    }

    #[test]
    fn reads_ratelimit_reset_as_epoch_seconds() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        h.insert(
            "ratelimit-reset",
            (now.timestamp() + 40).to_string().parse().unwrap(),
        );
        let wait = ratelimit_reset(&h, now).unwrap();
        assert!(wait <= Duration::from_secs(40) && wait >= Duration::from_secs(39));
    }
}
