//! The `x` network: X API v2.
//!
//! A post is `POST /2/tweets` with `{"text", "media": {"media_ids"}}`; each image is first
//! uploaded with `POST /2/media/upload` (multipart, `media_category=tweet_image`) and given
//! its alt text with `POST /2/media/metadata`. A retract is `DELETE /2/tweets/{id}`.
//!
//! Requests are signed with OAuth 1.0a user context (HMAC-SHA1) when the four
//! `<C>_CONSUMER_KEY/_CONSUMER_SECRET/_ACCESS_TOKEN/_ACCESS_SECRET` secrets are set, or carry
//! an OAuth 2.0 user token `<C>_BEARER_TOKEN`.
//!
//! X has no idempotency key. What keeps a retry from becoming a second post is X's own
//! refusal of duplicate text, and, after a crash, a look at the account's recent posts for
//! one with the delivery's text.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OnceCell;

use super::media::{self, MediaSource};
use super::oauth1;
use super::{
    http, AdapterContext, BuildError, Endpoint, ErrorClass, NetError, Network, Published,
    Settlement,
};
use crate::content::config::NetworkSettings;
use crate::model::records::DeliveryRecord;

mod answers;
use answers::{is_duplicate, is_reply_refused, problem_message, rate_limit_wait};

const DEFAULT_BASE: &str = "https://api.x.com";

/// X attaches at most four images to a post.
const MAX_IMAGES: usize = 4;
/// X refuses alt text longer than this many characters.
const MAX_ALT_CHARS: usize = 1000;

/// How far before the delivery's due time a settling lookup starts: an earlier attempt
/// (a retry's predecessor) or a clock a little off must still fall inside the window.
const SETTLE_MARGIN_MINUTES: i64 = 10;
/// Pages of 100 posts a settling lookup reads before it gives up and asks a person.
const SETTLE_MAX_PAGES: usize = 5;

enum Auth {
    OAuth1(oauth1::Keys),
    /// An OAuth 2.0 user access token (Authorization Code with PKCE).
    Bearer(String),
}

pub struct X {
    base: String,
    auth: Auth,
    media: Arc<dyn MediaSource>,
    handle: Option<String>,
    /// `credentials: NAME` names the secrets; messages about refused credentials name them.
    secrets_hint: String,
    /// The account's user id, asked once (`GET /2/users/me`) when a lookup first needs it.
    user_id: OnceCell<String>,
}

/// OAuth 1.0a when any of its four secrets is set (then all four must be), else the OAuth
/// 2.0 `BEARER_TOKEN`; a missing secret is an error naming it.
pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
    const OAUTH1: [&str; 4] = [
        "CONSUMER_KEY",
        "CONSUMER_SECRET",
        "ACCESS_TOKEN",
        "ACCESS_SECRET",
    ];
    let grant = ctx.grant(Endpoint::Url(DEFAULT_BASE))?;
    let any_oauth1 = OAUTH1.iter().any(|f| grant.optional_secret(f).is_some());
    let (auth, secrets_hint) = if any_oauth1 {
        let keys = oauth1::Keys {
            consumer_key: grant.secret("CONSUMER_KEY")?,
            consumer_secret: grant.secret("CONSUMER_SECRET")?,
            token: grant.secret("ACCESS_TOKEN")?,
            token_secret: grant.secret("ACCESS_SECRET")?,
        };
        let hint = format!(
            "{}_{{CONSUMER_KEY,CONSUMER_SECRET,ACCESS_TOKEN,ACCESS_SECRET}}",
            grant.credential.name()
        );
        (Auth::OAuth1(keys), hint)
    } else if let Some(token) = grant.optional_secret("BEARER_TOKEN") {
        (Auth::Bearer(token), grant.secret_name("BEARER_TOKEN"))
    } else {
        let missing = grant.credential.missing("CONSUMER_KEY");
        return Err(ctx.bad_secret(format!(
            "{missing}; set {}, {}, {} and {} (OAuth 1.0a), or {} (an OAuth 2.0 user token)",
            grant.secret_name("CONSUMER_KEY"),
            grant.secret_name("CONSUMER_SECRET"),
            grant.secret_name("ACCESS_TOKEN"),
            grant.secret_name("ACCESS_SECRET"),
            grant.secret_name("BEARER_TOKEN"),
        )));
    };
    let NetworkSettings::X { handle } = &ctx.net.settings else {
        return Err(ctx.wrong_settings());
    };
    let handle = handle.clone();
    let base = grant.base();
    Ok(Arc::new(X {
        base,
        auth,
        media: ctx.media.clone(),
        handle,
        secrets_hint,
        user_id: OnceCell::new(),
    }))
}

/// What a request carries besides its URL. Neither JSON nor multipart bodies take part in
/// the OAuth 1.0a signature.
enum Body {
    None,
    Json(serde_json::Value),
    Multipart(reqwest::multipart::Form),
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct MediaUploaded {
    data: Option<IdOnly>,
    /// The v1.1-style field, in case a gateway answers in that shape.
    media_id_string: Option<String>,
}

#[derive(Deserialize)]
struct Deleted {
    deleted: bool,
}

#[derive(Deserialize)]
struct Timeline {
    #[serde(default)]
    data: Vec<TimelinePost>,
    #[serde(default)]
    meta: TimelineMeta,
}

#[derive(Deserialize)]
struct TimelinePost {
    id: String,
    text: String,
}

#[derive(Deserialize, Default)]
struct TimelineMeta {
    next_token: Option<String>,
}

/// What a look at the account's recent posts found.
enum Lookup {
    Found(Published),
    NotFound,
    /// Could not tell, for the reason given.
    Inconclusive(String),
}

impl X {
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, NetError> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| NetError::permanent(format!("X: cannot form a request URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    fn authorization(&self, method: &Method, url: &Url) -> String {
        match &self.auth {
            Auth::OAuth1(keys) => oauth1::header(
                keys,
                method.as_str(),
                url,
                &[],
                &oauth1::nonce(),
                Utc::now().timestamp(),
            ),
            Auth::Bearer(token) => format!("Bearer {token}"),
        }
    }

    /// Sends one request and returns X's status, headers and body, whatever the status.
    async fn exchange(
        &self,
        method: Method,
        url: Url,
        body: Body,
    ) -> Result<(StatusCode, HeaderMap, String), NetError> {
        let auth = self.authorization(&method, &url);
        let mut request = http::client()
            .request(method, url)
            .header(AUTHORIZATION, auth);
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Multipart(form) => request.multipart(form),
        };
        let response = request.send().await.map_err(http::transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(http::transport)?;
        Ok((status, headers, text))
    }

    /// Sends one request; a non-2xx answer becomes X's error, a 2xx gives its body.
    async fn send(&self, method: Method, url: Url, body: Body) -> Result<String, NetError> {
        let (status, headers, text) = self.exchange(method, url, body).await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(self.error(status, &headers, &text))
        }
    }

    /// Turns X's failure into a [`NetError`], keeping X's own words.
    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &str) -> NetError {
        let said = problem_message(body);
        let mut e = http::classify(status, headers, body);
        e.message = format!("X answered HTTP {}: {said}", status.as_u16());
        match status.as_u16() {
            // X refuses a second post with the same text as a recent one. Sending it again
            // cannot help, and the credentials are fine.
            403 if is_duplicate(&said) => e.class = ErrorClass::Permanent,
            // A reply X does not allow (a thread's next part): the thread stops there.
            403 if is_reply_refused(&said) => {
                e.class = ErrorClass::Permanent;
                e.message = format!(
                    "{}; X let this account post but not reply through the API (its tier \
                     may limit replies): post the rest of the thread on X by hand",
                    e.message
                );
            }
            401 | 403 => {
                e.class = ErrorClass::Credentials;
                e.message = format!(
                    "{}; check the app's permissions (Read and write) and the secrets {}",
                    e.message, self.secrets_hint
                );
            }
            // X's pay-per-use plans answer 402 when the account has no credits left: every
            // post would fail until someone tops it up, which is what a pause is for.
            402 => e.class = ErrorClass::Credentials,
            429 => e.retry_after = rate_limit_wait(headers, Utc::now()).or(e.retry_after),
            _ => {}
        }
        e
    }

    fn published(&self, id: String) -> Published {
        let url = match &self.handle {
            Some(h) => format!("https://x.com/{h}/status/{id}"),
            None => format!("https://x.com/i/web/status/{id}"),
        };
        Published {
            remote_id: Some(id),
            remote_url: Some(url),
        }
    }

    /// Uploads one image and sets its alt text; returns X's media id.
    async fn upload(&self, image: &crate::content::post::Image) -> Result<String, NetError> {
        let alt = image
            .alt
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        if let Some(alt) = alt {
            if alt.chars().count() > MAX_ALT_CHARS {
                return Err(NetError::permanent(format!(
                    "X: the alt text of {} is longer than X's {MAX_ALT_CHARS} characters",
                    image.path
                )));
            }
        }
        let part = media::form_part(&self.media, image).await?;
        let form = reqwest::multipart::Form::new()
            .part("media", part)
            .text("media_category", "tweet_image");
        let url = self.url("/2/media/upload", &[])?;
        let body = self.send(Method::POST, url, Body::Multipart(form)).await?;
        let uploaded: MediaUploaded = serde_json::from_str(&body).map_err(|e| {
            NetError::transient(format!("X: the media upload answer could not be read: {e}"))
        })?;
        let id = uploaded
            .data
            .map(|d| d.id)
            .or(uploaded.media_id_string)
            .ok_or_else(|| NetError::transient("X: the media upload answer has no media id"))?;
        if let Some(alt) = alt {
            let url = self.url("/2/media/metadata", &[])?;
            let body = json!({ "id": id, "metadata": { "alt_text": { "text": alt } } });
            self.send(Method::POST, url, Body::Json(body)).await?;
        }
        Ok(id)
    }

    async fn user_id(&self) -> Result<String, NetError> {
        self.user_id
            .get_or_try_init(|| async {
                let url = self.url("/2/users/me", &[])?;
                let body = self.send(Method::GET, url, Body::None).await?;
                let me: Data<IdOnly> = serde_json::from_str(&body).map_err(|e| {
                    NetError::transient(format!("X: the users/me answer could not be read: {e}"))
                })?;
                Ok(me.data.id)
            })
            .await
            .cloned()
    }

    /// Looks through the account's posts since a little before the delivery could first have
    /// been sent for one with the delivery's text, as X shows it.
    async fn lookup(&self, d: &DeliveryRecord) -> Result<Lookup, NetError> {
        let wanted = normalize(&d.text);
        if wanted.is_empty() {
            return Ok(Lookup::Inconclusive(
                "the post has no text (apart from links) to recognise it by on X".into(),
            ));
        }
        let user = self.user_id().await?;
        if !user.chars().all(|c| c.is_ascii_digit()) || user.is_empty() {
            return Err(NetError::transient("X: users/me gave an unusable user id"));
        }
        let start = lookup_start(d, Utc::now()).to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut token: Option<String> = None;
        for _ in 0..SETTLE_MAX_PAGES {
            // A thread's later parts are replies (to the account's own posts).
            let exclude = match d.reply_to {
                None => "retweets,replies",
                Some(_) => "retweets",
            };
            let mut query = vec![
                ("start_time", start.as_str()),
                ("max_results", "100"),
                ("exclude", exclude),
            ];
            if let Some(t) = &token {
                query.push(("pagination_token", t.as_str()));
            }
            let url = self.url(&format!("/2/users/{user}/tweets"), &query)?;
            let body = self.send(Method::GET, url, Body::None).await?;
            let page: Timeline = serde_json::from_str(&body).map_err(|e| {
                NetError::transient(format!("X: the timeline answer could not be read: {e}"))
            })?;
            if let Some(post) = page.data.into_iter().find(|p| normalize(&p.text) == wanted) {
                return Ok(Lookup::Found(self.published(post.id)));
            }
            match page.meta.next_token {
                Some(next) => token = Some(next),
                None => return Ok(Lookup::NotFound),
            }
        }
        Ok(Lookup::Inconclusive(format!(
            "more than {} posts were made since {start}; X could not be searched to the end",
            SETTLE_MAX_PAGES * 100
        )))
    }
}

/// The earliest time an attempt of `d` could have been sent, less a margin, and never in the
/// future (X refuses a `start_time` after now).
fn lookup_start(d: &DeliveryRecord, now: DateTime<Utc>) -> DateTime<Utc> {
    let margin = ChronoDuration::minutes(SETTLE_MARGIN_MINUTES);
    (d.publish_at.min(d.due_at) - margin).min(now - ChronoDuration::seconds(30))
}

/// A text as it can be compared with what X shows: X replaces every link with a t.co link
/// (and appends one for attached media), escapes `&`, `<` and `>`, and may change spacing
/// around links; so links are dropped, entities unescaped and whitespace collapsed.
fn normalize(text: &str) -> String {
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut urls = crate::content::count::urls(&text);
    // Longest first, so that a link that is a prefix of another does not leave a tail.
    urls.sort_by_key(|u| std::cmp::Reverse(u.len()));
    let mut text = text;
    for url in urls {
        text = text.replace(&url, " ");
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The post id of a published delivery: `remote_id`, or the last part of a status URL
/// recorded by `oshirase resolve --published`.
fn post_id(d: &DeliveryRecord) -> Option<String> {
    let id = d.remote_id.clone().or_else(|| {
        let url = d.remote_url.as_deref()?;
        let (_, tail) = url.split_once("/status/")?;
        Some(tail.split(['/', '?', '#']).next()?.to_string())
    })?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then_some(id)
}

#[async_trait]
impl Network for X {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        if d.images.len() > MAX_IMAGES {
            return Err(NetError::permanent(format!(
                "X takes at most {MAX_IMAGES} images in a post; this one has {}",
                d.images.len()
            )));
        }
        let mut media_ids = Vec::with_capacity(d.images.len());
        for image in &d.images {
            media_ids.push(self.upload(image).await?);
        }
        let mut body = json!({ "text": d.text });
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
        }
        if let Some(to) = &d.reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": to.parent.id });
        }
        let url = self.url("/2/tweets", &[])?;
        let (status, headers, answer) = self.exchange(Method::POST, url, Body::Json(body)).await?;
        if status.is_success() {
            // The post exists once X said 2xx; an unreadable answer is retried, and the
            // retry meets the duplicate check below, which finds the post.
            let created: Data<IdOnly> = serde_json::from_str(&answer).map_err(|e| {
                NetError::transient(format!(
                    "X accepted the post but its answer could not be read: {e}"
                ))
            })?;
            return Ok(self.published(created.data.id));
        }
        let e = self.error(status, &headers, &answer);
        if status != StatusCode::FORBIDDEN || !is_duplicate(&answer) || d.attempts <= 1 {
            return Err(e);
        }
        // A retry refused as a duplicate most likely repeats an earlier attempt that went
        // through without our hearing back (a timeout, a crash): find that post.
        match self.lookup(d).await {
            Ok(Lookup::Found(p)) => Ok(p),
            Ok(_) => Err(e),
            Err(l) if l.class == ErrorClass::Transient => Err(l),
            Err(l) => Err(NetError::permanent(format!(
                "{}; whether an earlier attempt published it could not be checked: {}",
                e.message, l.message
            ))),
        }
    }

    async fn settle(&self, d: &DeliveryRecord) -> Result<Settlement, NetError> {
        Ok(match self.lookup(d).await? {
            Lookup::Found(p) => Settlement::Published(p),
            Lookup::NotFound => Settlement::SafeToRetry,
            Lookup::Inconclusive(why) => Settlement::Unknown(why),
        })
    }

    async fn retract(&self, d: &DeliveryRecord) -> Result<(), NetError> {
        let id = post_id(d).ok_or_else(|| {
            NetError::permanent("X: the delivery records no post id to delete; delete it on X")
        })?;
        let url = self.url(&format!("/2/tweets/{id}"), &[])?;
        let (status, headers, answer) = self.exchange(Method::DELETE, url, Body::None).await?;
        if status == StatusCode::NOT_FOUND {
            // Already gone (deleted on X, or by an earlier attempt of this retract).
            return Ok(());
        }
        if !status.is_success() {
            return Err(self.error(status, &headers, &answer));
        }
        let done: Data<Deleted> = serde_json::from_str(&answer).map_err(|e| {
            NetError::transient(format!("X: the delete answer could not be read: {e}"))
        })?;
        if !done.data.deleted {
            // X deleted nothing: the post was already gone.
            tracing::info!("X post {id} was already deleted");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::records::State;

    #[test]
    fn normalizes_text_as_x_shows_it() {
        let ours = "年末年始のごみ収集 & 日程\n詳しくは https://www.city.adachi.tokyo.jp/gomi/ をご覧ください";
        let theirs = "年末年始のごみ収集 &amp; 日程\n詳しくは https://t.co/AbCdEf1234 をご覧ください https://t.co/media5678";
        assert_eq!(normalize(ours), normalize(theirs));
        assert_ne!(normalize(ours), normalize("年末年始のごみ収集 & 日程"));
        assert_eq!(normalize("  https://example.jp/  "), "");
    }

    fn delivery() -> DeliveryRecord {
        let at = DateTime::parse_from_rfc3339("2026-12-20T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        DeliveryRecord {
            state: State::Publishing,
            due_at: at + ChronoDuration::minutes(30),
            attempts: 1,
            ..DeliveryRecord::new("a", "x", "p", "t", at)
        }
    }

    #[test]
    fn lookup_starts_before_the_first_possible_attempt() {
        let d = delivery();
        let later = d.due_at + ChronoDuration::hours(1);
        assert_eq!(
            lookup_start(&d, later),
            d.publish_at - ChronoDuration::minutes(10)
        );
        // Never in the future, even for a delivery due later than now.
        let early = d.publish_at - ChronoDuration::hours(1);
        assert!(lookup_start(&d, early) < early);
    }

    #[test]
    fn post_ids_come_from_the_record_or_its_url() {
        let mut d = delivery();
        assert_eq!(post_id(&d), None);
        d.remote_url = Some("https://x.com/adachi/status/1870000000000000001?s=20".into());
        assert_eq!(post_id(&d).as_deref(), Some("1870000000000000001"));
        d.remote_id = Some("../users".into());
        assert_eq!(post_id(&d), None);
    }
}
