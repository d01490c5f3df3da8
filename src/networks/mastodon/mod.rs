//! The `mastodon` network: statuses on one account of a Mastodon instance.
//!
//! A status is created with `POST /api/v1/statuses` and the delivery key as its
//! `Idempotency-Key`, which the instance remembers for about an hour: a repeat with the same
//! key within that hour returns the status it already made instead of a second one. Images
//! go up first through `POST /api/v2/media`, which may hand back a 202 while the instance
//! is still converting the file; a status cannot carry an unprocessed attachment, so the
//! adapter waits for it (briefly, then gives up as a transient failure).
//!
//! Settling after a crash leans on the same key: within the hour, sending again is safe.
//! Later, the account's recent statuses are searched for the delivery's text.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    http, media, AdapterContext, BuildError, Endpoint, ErrorClass, MediaSource, NetError, Network,
    Published, Settlement,
};
use crate::content::config::NetworkSettings;
use crate::content::post::Image;
use crate::model::records::DeliveryRecord;

/// Mastodon attaches at most four images to a status.
mod html;
use html::{html_to_text, normalise};

const MAX_IMAGES: usize = 4;
/// The instance keeps an `Idempotency-Key` for up to an hour after it created the status.
/// Sending again is only trusted well inside that: the margin covers clock skew and the
/// time the retry may still wait in the scheduler (posting budget, a paused network).
const SAFE_RETRY_WITHIN: chrono::Duration = chrono::Duration::minutes(45);
/// Clocks of this server and the instance may disagree a little; a status the instance
/// dates slightly before our attempt is still ours.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// `GET /api/v1/accounts/:id/statuses` returns at most 40 statuses a page.
const PAGE_SIZE: usize = 40;
/// How far back settle looks before giving up and asking a person: 5 pages, 200 statuses.
const MAX_PAGES: usize = 5;

/// How long to wait for the instance to finish processing an uploaded image.
#[derive(Debug, Clone, Copy)]
struct PollSchedule {
    first_delay: Duration,
    max_delay: Duration,
    budget: Duration,
}

/// Images normally finish within a second or two; a big one on a busy instance may take
/// longer, and past half a minute the next scheduled attempt is the better place to wait.
const PROCESSING: PollSchedule = PollSchedule {
    first_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(4),
    budget: Duration::from_secs(30),
};

pub struct Mastodon {
    /// The instance's address (or `base_url`), without a trailing slash.
    base: String,
    /// `Bearer <token>`, marked sensitive so it is never shown in debug output.
    auth: HeaderValue,
    visibility: &'static str,
    media: Arc<dyn MediaSource>,
    processing: PollSchedule,
}

/// Reads `instance` (or `base_url`), `visibility` and `<credentials>_ACCESS_TOKEN`.
pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
    let NetworkSettings::Mastodon {
        instance,
        visibility,
    } = &ctx.net.settings
    else {
        return Err(ctx.wrong_settings());
    };
    let grant = ctx.grant(Endpoint::Url(instance))?;
    let base = grant.base();
    let visibility = visibility.as_str();
    let token = grant.secret("ACCESS_TOKEN")?;
    let name = grant.secret_name("ACCESS_TOKEN");
    if token.trim().is_empty() {
        return Err(ctx.bad_secret(format!("the secret {name} is empty")));
    }
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
        ctx.bad_secret(format!(
            "the secret {name} holds characters that cannot be sent in an HTTP header"
        ))
    })?;
    auth.set_sensitive(true);
    Ok(Arc::new(Mastodon {
        base,
        auth,
        visibility,
        media: ctx.media.clone(),
        processing: PROCESSING,
    }))
}

#[derive(Serialize)]
struct NewStatus<'a> {
    status: &'a str,
    visibility: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media_ids: Vec<String>,
    /// A thread's later part replies to the part before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_reply_to_id: Option<&'a str>,
}

/// What publishing needs of the created status. Only these two fields are read, so a
/// server that differs from Mastodon elsewhere cannot fail a post that was made.
#[derive(Deserialize)]
struct Created {
    id: String,
    /// Null for statuses of other servers; ours always have one, but a missing URL is no
    /// reason to fail a post that exists.
    #[serde(default)]
    url: Option<String>,
}

/// A status of the account's list, as settling compares it.
#[derive(Deserialize)]
struct Listed {
    id: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    content: String,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct MediaAttachment {
    id: String,
    /// Null while the instance is still processing the file.
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Account {
    id: String,
}

/// Mastodon's error body: `{"error": "..."}`, with `error_description` from its OAuth layer.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl Mastodon {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Uploads one image with its alt text and returns the attachment id once the
    /// instance has finished processing it.
    async fn upload(&self, image: &Image) -> Result<String, NetError> {
        let part = media::form_part(&self.media, image).await?;
        let mut form = reqwest::multipart::Form::new().part("file", part);
        if let Some(alt) = image.alt.as_deref().filter(|a| !a.trim().is_empty()) {
            form = form.text("description", alt.to_string());
        }
        let response = http::client()
            .post(self.url("/api/v2/media"))
            .header(AUTHORIZATION, self.auth.clone())
            .multipart(form)
            .send()
            .await
            .map_err(transport("uploading an image"))?;
        let attachment: MediaAttachment = read(response, "uploading an image").await?;
        // 200 with a URL: processed already (Mastodon 4 does small images synchronously).
        // 202, or a URL still null: processing goes on in the background.
        if attachment.url.is_some() {
            return Ok(attachment.id);
        }
        let path = format!("/api/v1/media/{}", segment(&attachment.id));
        let waited = poll_until_ready(self.processing, || self.media_ready(&path)).await?;
        if !waited {
            return Err(NetError::transient(format!(
                "Mastodon was still processing image {} after {} s; trying again later",
                image.path,
                self.processing.budget.as_secs()
            )));
        }
        Ok(attachment.id)
    }

    /// Whether an uploaded attachment is ready: 206 while processing, 200 with a URL once
    /// done.
    async fn media_ready(&self, path: &str) -> Result<bool, NetError> {
        let response = http::client()
            .get(self.url(path))
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(transport("checking an uploaded image"))?;
        if response.status() == StatusCode::PARTIAL_CONTENT {
            return Ok(false);
        }
        let attachment: MediaAttachment = read(response, "checking an uploaded image").await?;
        Ok(attachment.url.is_some())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        doing: &str,
    ) -> Result<T, NetError> {
        let response = http::client()
            .get(self.url(path))
            .query(query)
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(transport(doing))?;
        read(response, doing).await
    }

    /// Looks for the delivery's text among the account's statuses made since `since`.
    async fn find_status(&self, text: &str, since: DateTime<Utc>) -> Result<Settlement, NetError> {
        let me: Account = self
            .get(
                "/api/v1/accounts/verify_credentials",
                &[],
                "finding the account",
            )
            .await?;
        let path = format!("/api/v1/accounts/{}/statuses", segment(&me.id));
        let wanted = normalise(text);
        let limit = PAGE_SIZE.to_string();
        let mut max_id: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", limit.as_str()), ("exclude_reblogs", "true")];
            if let Some(id) = &max_id {
                query.push(("max_id", id));
            }
            let page: Vec<Listed> = self
                .get(&path, &query, "reading the account's statuses")
                .await?;
            for status in &page {
                if status.created_at >= since && normalise(&html_to_text(&status.content)) == wanted
                {
                    return Ok(Settlement::Published(Published {
                        remote_id: Some(status.id.clone()),
                        remote_url: status.url.clone(),
                    }));
                }
            }
            // Newest first: once a page reaches back before the attempt, or the list ends,
            // nothing older can be ours.
            match page.last() {
                Some(oldest) if oldest.created_at >= since && page.len() >= PAGE_SIZE => {
                    max_id = Some(oldest.id.clone())
                }
                _ => return Ok(Settlement::SafeToRetry),
            }
        }
        Ok(Settlement::Unknown(format!(
            "the account made more than {} statuses since the attempt, too many to search \
             for this text",
            MAX_PAGES * PAGE_SIZE
        )))
    }
}

#[async_trait]
impl Network for Mastodon {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        if d.images.len() > MAX_IMAGES {
            return Err(NetError::permanent(format!(
                "Mastodon takes at most {MAX_IMAGES} images per post; this one has {}",
                d.images.len()
            )));
        }
        let mut media_ids = Vec::with_capacity(d.images.len());
        for image in &d.images {
            media_ids.push(self.upload(image).await?);
        }
        let body = NewStatus {
            status: &d.text,
            visibility: self.visibility,
            media_ids,
            in_reply_to_id: d.reply_to.as_ref().map(|to| to.parent.id.as_str()),
        };
        let response = http::client()
            .post(self.url("/api/v1/statuses"))
            .header(AUTHORIZATION, self.auth.clone())
            .header("Idempotency-Key", &d.key)
            .json(&body)
            .send()
            .await
            .map_err(transport("posting the status"))?;
        let status: Created = read(response, "posting the status").await?;
        Ok(Published {
            remote_id: Some(status.id),
            remote_url: status.url,
        })
    }

    async fn settle(&self, d: &DeliveryRecord) -> Result<Settlement, NetError> {
        // The earliest moment an attempt of this delivery could have created the status.
        // A publishing delivery's due_at is when its latest attempt was let through; with
        // one attempt that is the one. After retries an earlier attempt (a timeout that did
        // go through) may hold the key, and all of them came after the publish time.
        let earliest = if d.attempts <= 1 {
            d.due_at
        } else {
            d.publish_at.min(d.due_at)
        };
        if Utc::now() - earliest < SAFE_RETRY_WITHIN {
            return Ok(Settlement::SafeToRetry);
        }
        self.find_status(&d.text, earliest - CLOCK_SKEW).await
    }

    async fn retract(&self, d: &DeliveryRecord) -> Result<(), NetError> {
        let Some(id) = d.remote_id.as_deref() else {
            return Err(NetError::permanent(
                "no Mastodon status id was recorded for this delivery; delete the post on \
                 the instance by hand",
            ));
        };
        // delete_media: a retracted image (often the reason for retracting) goes at once
        // instead of lingering for a day; servers before 4.4 ignore the parameter.
        let response = http::client()
            .delete(self.url(&format!("/api/v1/statuses/{}", segment(id))))
            .query(&[("delete_media", "true")])
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(transport("deleting the status"))?;
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Err(error(
            status,
            &headers,
            &body,
            "deleting the status",
            Utc::now(),
        ))
    }
}

/// Waits with growing delays until `ready` says yes (`Ok(true)`), or answers `Ok(false)`
/// once the schedule's time is spent. Errors end the wait at once.
async fn poll_until_ready<F, Fut>(schedule: PollSchedule, mut ready: F) -> Result<bool, NetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, NetError>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = schedule.first_delay;
    loop {
        tokio::time::sleep(delay).await;
        if ready().await? {
            return Ok(true);
        }
        if started.elapsed() + delay > schedule.budget {
            return Ok(false);
        }
        delay = (delay * 2).min(schedule.max_delay);
    }
}

/// A successful response parsed as `T`, or the failure as a [`NetError`].
async fn read<T: DeserializeOwned>(response: Response, doing: &str) -> Result<T, NetError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport(doing))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(error(status, &headers, &text, doing, Utc::now()));
    }
    // A success we cannot read may still have done its work; for a status the same key
    // makes the retry return it, so this is worth another attempt rather than a failure.
    serde_json::from_slice(&body).map_err(|e| {
        NetError::transient(format!(
            "{doing}: Mastodon answered HTTP {status} with a body that is not the expected \
             JSON ({e})"
        ))
    })
}

/// A request that got no (complete) answer, saying what it was for.
fn transport(doing: &str) -> impl FnOnce(reqwest::Error) -> NetError + '_ {
    move |e| {
        let mut e = http::transport(e);
        e.message = format!("{doing}: {}", e.message);
        e
    }
}

/// Classifies a failed response the way Mastodon means it, keeping its `error` text.
fn error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    doing: &str,
    now: DateTime<Utc>,
) -> NetError {
    let mut e = http::classify(status, headers, body);
    let said = serde_json::from_str::<ErrorBody>(body).ok().map(|b| {
        let text = match b.error_description {
            Some(more) if !more.is_empty() && more != b.error => format!("{} ({more})", b.error),
            _ => b.error,
        };
        text.chars().take(300).collect::<String>()
    });
    if let Some(said) = &said {
        e.message = format!("{doing}: Mastodon answered HTTP {status}: {said}");
    } else {
        e.message = format!("{doing}: {}", e.message);
    }
    let said = said.unwrap_or_default();
    match status.as_u16() {
        // 403 is both "the token may not do this" and "this account may not post": the
        // first needs an operator (a new token, a reinstated account); a refused action is
        // about this post only.
        403 if said.contains("This action is not allowed") => e.class = ErrorClass::Permanent,
        // A token without a user (an app-only token) cannot post: the credentials are wrong.
        422 if said.contains("requires an authenticated user") => e.class = ErrorClass::Credentials,
        // An attachment still processing when the status was made; it will be ready.
        422 if said.contains("not finished processing") => e.class = ErrorClass::Transient,
        429 => {
            if let Some(wait) = rate_limit_reset(headers, now) {
                e.retry_after = Some(wait);
            }
        }
        _ => {}
    }
    e
}

/// Mastodon's `X-RateLimit-Reset` is an ISO 8601 time (`2026-01-05T10:25:00.019685Z`), not
/// the epoch seconds other networks send under a similar name.
fn rate_limit_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get("x-ratelimit-reset")?.to_str().ok()?.trim();
    let at = DateTime::parse_from_rfc3339(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// One path segment, escaped: ids come from the instance's answers.
fn segment(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn reads_the_iso_rate_limit_reset() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        let at = (now + chrono::Duration::seconds(90))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&at).unwrap());
        let wait = rate_limit_reset(&h, now).unwrap();
        assert!(wait > Duration::from_secs(89) && wait <= Duration::from_secs(90));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000000"));
        assert_eq!(rate_limit_reset(&h, now), None);
    }

    #[test]
    fn classifies_mastodon_errors() {
        let h = HeaderMap::new();
        let now = Utc::now();
        let e = |code: u16, body: &str| {
            error(
                StatusCode::from_u16(code).unwrap(),
                &h,
                body,
                "posting",
                now,
            )
        };
        let scope = e(
            403,
            r#"{"error":"This action is outside the authorized scopes"}"#,
        );
        assert_eq!(scope.class, ErrorClass::Credentials);
        assert!(scope.message.contains("outside the authorized scopes"));
        assert_eq!(
            e(403, r#"{"error":"Your login is currently disabled"}"#).class,
            ErrorClass::Credentials
        );
        assert_eq!(
            e(403, r#"{"error":"This action is not allowed"}"#).class,
            ErrorClass::Permanent
        );
        let long = e(
            422,
            r#"{"error":"Validation failed: Text character limit of 500 exceeded"}"#,
        );
        assert_eq!(long.class, ErrorClass::Permanent);
        assert_eq!(
            long.message,
            "posting: Mastodon answered HTTP 422 Unprocessable Entity: Validation failed: \
             Text character limit of 500 exceeded"
        );
        assert_eq!(
            e(
                422,
                r#"{"error":"This method requires an authenticated user"}"#
            )
            .class,
            ErrorClass::Credentials
        );
        assert_eq!(
            e(502, "<html>bad gateway</html>").class,
            ErrorClass::Transient
        );
        assert!(e(502, "<html>bad gateway</html>")
            .message
            .contains("bad gateway"));
    }

    #[tokio::test]
    async fn gives_up_waiting_for_processing_within_the_budget() {
        let schedule = PollSchedule {
            first_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(8),
            budget: Duration::from_millis(40),
        };
        let calls = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let ready = poll_until_ready(schedule, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(false)
        })
        .await
        .unwrap();
        assert!(!ready);
        assert!(calls.load(Ordering::SeqCst) >= 3);
        assert!(started.elapsed() < Duration::from_secs(2));

        let calls = AtomicUsize::new(0);
        let ready = poll_until_ready(schedule, || async {
            Ok(calls.fetch_add(1, Ordering::SeqCst) >= 2)
        })
        .await
        .unwrap();
        assert!(ready);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let failed = poll_until_ready(schedule, || async {
            Err(NetError::permanent("Record not found"))
        })
        .await;
        assert_eq!(failed.unwrap_err().class, ErrorClass::Permanent);
    }
}
