//! The `facebook` network: posts to a Facebook Page through the Graph API.
//!
//! Text goes to `/{page-id}/feed` as `message`. One image is uploaded to `/{page-id}/photos`
//! as a published photo with the text as its caption. Several images are uploaded
//! unpublished first and then attached to one `/feed` post (`attached_media`). Alt text
//! travels as `alt_text_custom`, which the Graph API documents for photo uploads.
//!
//! URLs in the text are left to Facebook, which links them and previews the first one on its
//! own; sending `link` as well would make the post fail outright whenever Facebook cannot
//! scrape the page (error 1609005).
//!
//! The Graph API has no idempotency key, so a delivery cut short by a crash is settled by
//! reading the Page's recent posts for one whose message is the delivery's text. The same
//! look-up turns a "duplicate post" refusal (506) after a timed-out attempt into the post
//! that attempt actually made.
//!
//! The Page token is sent in the `Authorization` header only, never in a URL, so it cannot
//! end up in a proxy log or in an error message that quotes a URL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;

use super::{
    http, media, AdapterContext, BuildError, Endpoint, ErrorClass, MediaSource, NetError, Network,
    Published, Settlement,
};
use crate::content::config::NetworkSettings;
use crate::content::post::Image;
use crate::model::records::DeliveryRecord;

/// The Graph API version every request names. Meta keeps a version for about two years
/// after its release; v25.0 (February 2026) is documented as available until July 2028.
pub const GRAPH_VERSION: &str = "v25.0";

const DEFAULT_BASE: &str = "https://graph.facebook.com";

/// How far before a delivery's own time the settle look-up starts, for clock skew between
/// this server and Facebook.
const LOOKUP_MARGIN: chrono::Duration = chrono::Duration::minutes(15);

/// Posts per page of the look-up, and pages read at most; a city office posts a handful a
/// day, so 500 posts since the delivery's time means the look-up cannot be trusted.
const LOOKUP_PAGE_SIZE: u32 = 100;
const LOOKUP_MAX_PAGES: usize = 5;

/// Page, post and photo ids are digits and underscores; anything else is escaped so an id
/// can never reach another path.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-');

pub struct Facebook {
    base: String,
    page_id: String,
    token: String,
    media: Arc<dyn MediaSource>,
}

/// `<credentials>_PAGE_TOKEN` and `page_id`; `base_url` replaces https://graph.facebook.com.
pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
    let grant = ctx.grant(Endpoint::Url(DEFAULT_BASE))?;
    let token = grant.secret("PAGE_TOKEN")?;
    let NetworkSettings::Facebook { page_id } = &ctx.net.settings else {
        return Err(ctx.wrong_settings());
    };
    Ok(Arc::new(Facebook {
        base: grant.base(),
        page_id: page_id.clone(),
        token,
        media: ctx.media.clone(),
    }))
}

#[async_trait]
impl Network for Facebook {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        let outcome = match d.images.as_slice() {
            [] => {
                match card_link(d) {
                    None => self.post_feed(&d.text, &[], None).await,
                    // A link Facebook cannot read is refused with the whole post (nothing was
                    // published): the post then goes out without its preview.
                    Some(link) => match self.post_feed(&d.text, &[], Some(&link)).await {
                        Err(e) if e.code == Some(INVALID_PARAMETER) => {
                            tracing::info!("Facebook refused the link {link} ({}); posting without its preview", e.error.message);
                            self.post_feed(&d.text, &[], None).await
                        }
                        other => other,
                    },
                }
            }
            [image] => self.post_photo(&d.text, image).await,
            images => {
                let mut ids = Vec::with_capacity(images.len());
                for image in images {
                    ids.push(self.upload_unpublished(image).await?);
                }
                self.post_feed(&d.text, &ids, None).await
            }
        };
        match outcome {
            Err(e) if e.code == Some(DUPLICATE_POST) => {
                // An earlier attempt that timed out may have posted this very text; if the
                // Page has it, that post is this delivery.
                match self.find(d).await {
                    Ok(Lookup::Found(p)) => Ok(p),
                    _ => Err(e.error),
                }
            }
            other => other.map_err(|e| e.error),
        }
    }

    async fn settle(&self, d: &DeliveryRecord) -> Result<Settlement, NetError> {
        Ok(match self.find(d).await? {
            Lookup::Found(p) => Settlement::Published(p),
            Lookup::NotFound => Settlement::SafeToRetry,
            Lookup::Inconclusive(why) => Settlement::Unknown(why),
        })
    }

    async fn retract(&self, d: &DeliveryRecord) -> Result<(), NetError> {
        let Some(id) = d.remote_id.as_deref() else {
            return Err(NetError::permanent(
                "no Facebook post id was recorded for this delivery; delete the post on the \
                 Page by hand",
            ));
        };
        let request = http::client().delete(self.url(&[id]));
        match self.send::<Deleted>(request).await {
            Ok(Deleted {
                success: Some(false),
            }) => Err(NetError::transient(format!(
                "Facebook did not confirm deleting post {id}"
            ))),
            Ok(_) => Ok(()),
            // "Object does not exist": already deleted, by us or by a person on the Page.
            Err(e) if e.code == Some(100) && e.subcode == Some(33) => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

/// Graph error codes this adapter acts on.
const DUPLICATE_POST: i64 = 506;
/// Graph API error 100: a parameter it refuses (such as a `link` it cannot read).
const INVALID_PARAMETER: i64 = 100;

/// A failed Graph call, with the codes kept for the callers that branch on them.
struct GraphFailure {
    error: NetError,
    code: Option<i64>,
    subcode: Option<i64>,
}

impl From<NetError> for GraphFailure {
    fn from(error: NetError) -> GraphFailure {
        GraphFailure {
            error,
            code: None,
            subcode: None,
        }
    }
}

#[derive(Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    post_id: Option<String>,
}

#[derive(Deserialize)]
struct Deleted {
    #[serde(default)]
    success: Option<bool>,
}

#[derive(Deserialize)]
struct PostList {
    #[serde(default)]
    data: Vec<PagePost>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct PagePost {
    id: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

enum Lookup {
    Found(Published),
    NotFound,
    Inconclusive(String),
}

impl Facebook {
    fn url(&self, segments: &[&str]) -> String {
        let mut url = format!("{}/{GRAPH_VERSION}", self.base);
        for s in segments {
            url.push('/');
            url.extend(utf8_percent_encode(s, PATH_SEGMENT));
        }
        url
    }

    fn published(id: String) -> Published {
        Published {
            remote_url: Some(format!("https://www.facebook.com/{id}")),
            remote_id: Some(id),
        }
    }

    async fn post_feed(
        &self,
        text: &str,
        photo_ids: &[String],
        link: Option<&str>,
    ) -> Result<Published, GraphFailure> {
        let mut form: Vec<(String, String)> = vec![("message".into(), text.to_string())];
        if let Some(link) = link {
            // Facebook reads the page itself and shows its preview.
            form.push(("link".into(), link.to_string()));
        }
        for (i, id) in photo_ids.iter().enumerate() {
            form.push((
                format!("attached_media[{i}]"),
                serde_json::json!({ "media_fbid": id }).to_string(),
            ));
        }
        let request = http::client()
            .post(self.url(&[&self.page_id, "feed"]))
            .form(&form);
        let created: Created = self.send(request).await?;
        Ok(Self::published(created.id))
    }

    /// One published photo whose caption is the text: the post a person makes by adding a
    /// photo to a status.
    async fn post_photo(&self, text: &str, image: &Image) -> Result<Published, GraphFailure> {
        let created = self.upload(image, Some(text), true).await?;
        // The photo's post is what appears on the Page and what a retract deletes.
        Ok(Self::published(created.post_id.unwrap_or(created.id)))
    }

    async fn upload_unpublished(&self, image: &Image) -> Result<String, NetError> {
        match self.upload(image, None, false).await {
            Ok(created) => Ok(created.id),
            Err(e) => Err(e.error),
        }
    }

    async fn upload(
        &self,
        image: &Image,
        caption: Option<&str>,
        published: bool,
    ) -> Result<Created, GraphFailure> {
        let part = media::form_part(&self.media, image).await?;
        let mut form = reqwest::multipart::Form::new()
            .part("source", part)
            .text("published", published.to_string());
        if let Some(caption) = caption.filter(|c| !c.is_empty()) {
            form = form.text("caption", caption.to_string());
        }
        if let Some(alt) = image.alt.as_deref().filter(|a| !a.trim().is_empty()) {
            form = form.text("alt_text_custom", alt.to_string());
        }
        let request = http::client()
            .post(self.url(&[&self.page_id, "photos"]))
            .multipart(form);
        self.send(request).await
    }

    /// The Page's own posts since shortly before the delivery was first due, looked through
    /// for one whose message is the delivery's text.
    async fn find(&self, d: &DeliveryRecord) -> Result<Lookup, NetError> {
        let since: DateTime<Utc> = d.publish_at.min(d.due_at) - LOOKUP_MARGIN;
        let wanted = normalise(&d.text);
        let mut after: Option<String> = None;
        for _ in 0..LOOKUP_MAX_PAGES {
            let mut query: Vec<(&str, String)> = vec![
                ("fields", "id,message,created_time".into()),
                ("since", since.timestamp().to_string()),
                ("limit", LOOKUP_PAGE_SIZE.to_string()),
            ];
            if let Some(cursor) = &after {
                query.push(("after", cursor.clone()));
            }
            let request = http::client()
                .get(self.url(&[&self.page_id, "posts"]))
                .query(&query);
            let list: PostList = self.send(request).await.map_err(|e| e.error)?;
            if let Some(post) = list
                .data
                .into_iter()
                .find(|p| p.message.as_deref().map(normalise).as_deref() == Some(wanted.as_str()))
            {
                return Ok(Lookup::Found(Self::published(post.id)));
            }
            let paging = list.paging.unwrap_or(Paging {
                cursors: None,
                next: None,
            });
            match (paging.next, paging.cursors.and_then(|c| c.after)) {
                (Some(_), Some(cursor)) => after = Some(cursor),
                _ => return Ok(Lookup::NotFound),
            }
        }
        Ok(Lookup::Inconclusive(format!(
            "the Page has more than {} posts since {}, too many to look through",
            LOOKUP_PAGE_SIZE as usize * LOOKUP_MAX_PAGES,
            since.to_rfc3339()
        )))
    }

    /// Sends with the Page token and reads a JSON success into `T`, or the Graph error.
    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, GraphFailure> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(http::transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| {
            NetError::transient(format!("reading Facebook's answer: {}", e.without_url()))
        })?;
        if status.is_success() {
            return serde_json::from_str(&body).map_err(|e| {
                GraphFailure::from(NetError::permanent(format!(
                    "Facebook answered {status} with something that is not the expected JSON \
                     ({e}); the post may or may not exist, check the Page"
                )))
            });
        }
        let mut failure = graph_error(status, &headers, &body, Utc::now());
        // Graph messages do not echo the token, but never let one through if they did.
        failure.error.message = failure.error.message.replace(&self.token, "[token]");
        Err(failure)
    }
}

/// Facebook stores messages with their line ends normalised and the ends trimmed.
fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n").trim().to_string()
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_user_msg: Option<String>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

/// Turns a failed Graph response into a [`NetError`], by the Graph error code where there
/// is one (Facebook answers most errors with a plain 400) and by the HTTP status otherwise.
fn graph_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: DateTime<Utc>,
) -> GraphFailure {
    let Ok(GraphErrorBody { error: e }) = serde_json::from_str::<GraphErrorBody>(body) else {
        let mut error = http::classify(status, headers, body);
        error.message = format!("Facebook {}", error.message);
        return error.into();
    };
    let by_status = match status.as_u16() {
        408 | 429 | 500..=599 => ErrorClass::Transient,
        401 | 403 => ErrorClass::Credentials,
        _ => ErrorClass::Permanent,
    };
    let class = match e.code {
        // 190: the token expired, was revoked or is not a token; 102: the session behind it
        // is gone; 10 and 200-299: the app or token lacks a permission; 3: the app lacks a
        // capability. Each needs an operator, not another attempt.
        Some(190 | 102 | 10 | 3 | 200..=299) => ErrorClass::Credentials,
        // Throttling of the app (4), the user (17), the Page (32, 80001), the app's
        // capacity (341) or a specific call (613): wait and try again.
        Some(4 | 17 | 32 | 341 | 613 | 80001) => ErrorClass::Transient,
        // Unknown (1) and service (2) errors are passing outages.
        Some(1 | 2) => ErrorClass::Transient,
        // 368: blocked as abusive or against policy; 506: the same text was just posted.
        // A person has to look; sending again unchanged cannot help.
        Some(368 | DUPLICATE_POST) => ErrorClass::Permanent,
        _ if e.is_transient == Some(true) => ErrorClass::Transient,
        _ => by_status,
    };
    let mut message = String::from("Facebook");
    match (e.code, e.error_subcode) {
        (Some(c), Some(s)) => message.push_str(&format!(" error {c}/{s}")),
        (Some(c), None) => message.push_str(&format!(" error {c}")),
        _ => message.push_str(&format!(" HTTP {status}")),
    }
    if let Some(kind) = e.kind.as_deref().filter(|k| !k.is_empty()) {
        message.push_str(&format!(" ({kind})"));
    }
    message.push_str(": ");
    let text: String = e
        .message
        .as_deref()
        .unwrap_or("no message")
        .chars()
        .take(300)
        .collect();
    message.push_str(text.trim());
    if let Some(user) = e.error_user_msg.as_deref().filter(|m| !m.trim().is_empty()) {
        let user: String = user.chars().take(300).collect();
        message.push_str(&format!(" — {}", user.trim()));
    }
    if class == ErrorClass::Credentials {
        message.push_str("; renew the Page access token or its permissions");
    }
    if let Some(trace) = e.fbtrace_id.as_deref().filter(|t| !t.is_empty()) {
        message.push_str(&format!(" [fbtrace_id {trace}]"));
    }
    let retry_after = if class == ErrorClass::Transient {
        let asked = http::retry_after(headers, now);
        let regain = regain_access(headers);
        asked.max(regain)
    } else {
        None
    };
    GraphFailure {
        error: NetError {
            class,
            message,
            retry_after,
        },
        code: e.code,
        subcode: e.error_subcode,
    }
}

/// The longest `estimated_time_to_regain_access` (minutes) in the usage headers Facebook
/// sends with throttling errors: `X-Business-Use-Case-Usage` (Page tokens) maps business
/// ids to lists of usage objects; `X-App-Usage` and `X-Page-Usage` are single objects.
fn regain_access(headers: &HeaderMap) -> Option<Duration> {
    fn minutes(v: &serde_json::Value) -> Option<u64> {
        let m = v.get("estimated_time_to_regain_access")?;
        m.as_u64()
            .or_else(|| m.as_f64().map(|f| f.max(0.0).ceil() as u64))
    }
    let parse = |name: &str| -> Option<serde_json::Value> {
        let text = headers.get(name)?.to_str().ok()?;
        serde_json::from_str(text).ok()
    };
    let mut longest: Option<u64> = None;
    let mut note = |m: Option<u64>| {
        if let Some(m) = m {
            longest = Some(longest.map_or(m, |l| l.max(m)));
        }
    };
    if let Some(serde_json::Value::Object(ids)) = parse("x-business-use-case-usage") {
        for entries in ids.values() {
            if let Some(list) = entries.as_array() {
                for entry in list {
                    note(minutes(entry));
                }
            }
        }
    }
    for name in ["x-app-usage", "x-page-usage"] {
        if let Some(v) = parse(name) {
            note(minutes(&v));
        }
    }
    longest
        .filter(|m| *m > 0)
        .map(|m| Duration::from_secs(m.saturating_mul(60)))
}

/// The link Facebook previews: the text's first, unless the post said `card: false` (a
/// post with pictures shows those instead).
fn card_link(d: &DeliveryRecord) -> Option<String> {
    if d.no_card {
        return None;
    }
    crate::content::count::first_link(&d.text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn err(status: u16, body: &str) -> GraphFailure {
        graph_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body,
            Utc::now(),
        )
    }

    fn body(code: i64, subcode: Option<i64>) -> String {
        serde_json::json!({"error": {
            "message": "(#x) something", "type": "OAuthException", "code": code,
            "error_subcode": subcode, "fbtrace_id": "AbC123"
        }})
        .to_string()
    }

    #[test]
    fn classifies_graph_codes_not_statuses() {
        assert_eq!(
            err(400, &body(190, Some(463))).error.class,
            ErrorClass::Credentials
        );
        assert_eq!(
            err(400, &body(102, None)).error.class,
            ErrorClass::Credentials
        );
        assert_eq!(
            err(403, &body(200, None)).error.class,
            ErrorClass::Credentials
        );
        assert_eq!(
            err(400, &body(10, None)).error.class,
            ErrorClass::Credentials
        );
        for code in [4, 17, 32, 341, 613, 80001, 1, 2] {
            assert_eq!(
                err(400, &body(code, None)).error.class,
                ErrorClass::Transient,
                "{code}"
            );
        }
        assert_eq!(
            err(400, &body(368, None)).error.class,
            ErrorClass::Permanent
        );
        assert_eq!(
            err(400, &body(506, None)).error.class,
            ErrorClass::Permanent
        );
        assert_eq!(
            err(400, &body(100, None)).error.class,
            ErrorClass::Permanent
        );
        assert_eq!(
            err(500, &body(100, None)).error.class,
            ErrorClass::Transient
        );
        assert_eq!(
            err(503, "<html>down</html>").error.class,
            ErrorClass::Transient
        );
        let e = err(400, &body(506, Some(1)));
        assert_eq!((e.code, e.subcode), (Some(506), Some(1)));
        assert!(e.error.message.contains("error 506/1"));
        assert!(e.error.message.contains("fbtrace_id AbC123"));
        assert!(e.error.message.contains("something"));
    }

    #[test]
    fn reads_the_longest_regain_time_from_usage_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"123":[{"type":"pages","call_count":100,"total_cputime":3,"total_time":4,"estimated_time_to_regain_access":7}],"456":[{"type":"pages","estimated_time_to_regain_access":2}]}"#,
            ),
        );
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":100,"total_time":5,"total_cputime":5}"#),
        );
        assert_eq!(regain_access(&h), Some(Duration::from_secs(7 * 60)));
        h.insert("retry-after", HeaderValue::from_static("30"));
        let e = graph_error(StatusCode::BAD_REQUEST, &h, &body(32, None), Utc::now());
        assert_eq!(e.error.retry_after, Some(Duration::from_secs(7 * 60)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("30"));
        let e = graph_error(StatusCode::BAD_REQUEST, &h, &body(4, None), Utc::now());
        assert_eq!(e.error.retry_after, Some(Duration::from_secs(30)));
        assert_eq!(regain_access(&HeaderMap::new()), None);
    }

    #[test]
    fn escapes_ids_in_paths() {
        let fb = Facebook {
            base: "https://graph.example".into(),
            page_id: "12/../34".into(),
            token: "t".into(),
            media: Arc::new(crate::networks::MemoryMedia::new()),
        };
        assert_eq!(
            fb.url(&["123_456"]),
            format!("https://graph.example/{GRAPH_VERSION}/123_456")
        );
        assert!(!fb.url(&[&fb.page_id, "feed"]).contains("/../"));
    }
}
