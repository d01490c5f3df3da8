//! The `line` network: a broadcast from a LINE Official Account to all its friends, through
//! the Messaging API (`POST /v2/bot/message/broadcast`).
//!
//! A broadcast is one request of up to five messages: the text, then one image message per
//! image. LINE takes no image uploads here; it fetches each image from a public HTTPS URL
//! when a recipient opens the message, so images are offered at
//! `<public_url>/media/<blob>` by this service (`serve --public-url`).
//!
//! Every request carries `X-Line-Retry-Key`, derived from the delivery key, so sending the
//! same delivery again is harmless: LINE accepts a key once and answers any repeat with 409.
//! The key only holds for 24 hours after the first request, which bounds both automatic
//! retries and settling after a crash. A broadcast can neither be looked up nor deleted.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    http, AdapterContext, BuildError, Endpoint, ErrorClass, NetError, Network, Published,
    Settlement,
};
use crate::model::records::DeliveryRecord;

const DEFAULT_BASE: &str = "https://api.line.me";

/// LINE remembers a retry key for 24 hours after the first request with it.
const RETRY_KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// Kept off the end of the retry key's life, for clock skew and a slow first request.
const RETRY_KEY_MARGIN: chrono::Duration = chrono::Duration::hours(1);

/// A broadcast holds at most this many messages.
const MAX_MESSAGES: usize = 5;

pub struct Line {
    base: String,
    token: String,
    public_url: Option<String>,
}

/// `<credentials>_CHANNEL_TOKEN`; `base_url` replaces https://api.line.me. A missing public
/// URL is only an error for deliveries with images, when they are sent.
pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
    let grant = ctx.grant(Endpoint::Url(DEFAULT_BASE))?;
    let token = grant.secret("CHANNEL_TOKEN")?;
    Ok(Arc::new(Line {
        base: grant.base(),
        token,
        public_url: ctx
            .public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty()),
    }))
}

#[async_trait]
impl Network for Line {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        // A repeat more than a day after the first try is no longer covered by the retry
        // key; if an earlier attempt reached LINE, sending again would broadcast twice.
        if d.attempts > 1 && !retry_key_alive(d, Utc::now()) {
            return Err(NetError::permanent(format!(
                "this delivery was first tried more than {} hours ago, beyond LINE's 24-hour \
                 retry key, so sending it again could broadcast it twice; check the LINE \
                 Official Account's sent messages and send it by hand if it is missing",
                (RETRY_KEY_LIFETIME - RETRY_KEY_MARGIN).num_hours()
            )));
        }
        let body = json!({ "messages": self.messages(d)? });
        let response = http::client()
            .post(format!("{}/v2/bot/message/broadcast", self.base))
            .bearer_auth(&self.token)
            .header("X-Line-Retry-Key", retry_key(&d.key))
            .json(&body)
            .send()
            .await
            .map_err(http::transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|e| {
            NetError::transient(format!("reading LINE's answer: {}", e.without_url()))
        })?;
        if status.is_success() {
            // The body is an empty object; anything else is odd, and asking again with
            // the same retry key is the safe way to learn whether LINE took it.
            if !matches!(serde_json::from_str::<Value>(&text), Ok(Value::Object(_))) {
                return Err(NetError::transient(format!(
                    "LINE answered {status} with an unexpected body; sending again with the \
                     same retry key will confirm it"
                )));
            }
            return Ok(Published {
                remote_id: header(&headers, "x-line-request-id"),
                remote_url: None,
            });
        }
        if status == StatusCode::CONFLICT {
            // This retry key was accepted before: the broadcast went out then.
            return Ok(Published {
                remote_id: header(&headers, "x-line-accepted-request-id")
                    .or_else(|| header(&headers, "x-line-request-id")),
                remote_url: None,
            });
        }
        let mut error = line_error(status, &headers, &text, Utc::now());
        error.message = error.message.replace(&self.token, "[token]");
        Err(error)
    }

    async fn settle(&self, d: &DeliveryRecord) -> Result<Settlement, NetError> {
        Ok(if retry_key_alive(d, Utc::now()) {
            // LINE drops a repeat of an accepted retry key, so sending again either makes
            // the broadcast or confirms the earlier one.
            Settlement::SafeToRetry
        } else {
            Settlement::Unknown(
                "LINE's 24-hour retry key has run out and a broadcast cannot be looked up; \
                 check the LINE Official Account's sent messages"
                    .into(),
            )
        })
    }

    async fn retract(&self, _: &DeliveryRecord) -> Result<(), NetError> {
        Err(NetError::permanent(
            "a LINE broadcast cannot be deleted once sent; send a correction to the \
             account's friends instead",
        ))
    }
}

impl Line {
    /// The text message (a thread's parts, one message each), then one image message per
    /// image, in the post's order.
    fn messages(&self, d: &DeliveryRecord) -> Result<Vec<Value>, NetError> {
        let mut messages = Vec::new();
        let texts = std::iter::once(&d.text).chain(&d.messages);
        for text in texts.filter(|t| !t.is_empty()) {
            messages.push(json!({ "type": "text", "text": text }));
        }
        if !d.images.is_empty() {
            let Some(public) = self.public_url.as_deref() else {
                return Err(NetError::permanent(
                    "LINE fetches images from this service's public address, and none is set; \
                     an operator must start `oshirase serve --public-url https://…` with the \
                     HTTPS address the internet reaches this service at",
                ));
            };
            if !public.starts_with("https://") {
                return Err(NetError::permanent(format!(
                    "LINE only fetches images over HTTPS, but --public-url is `{public}`; an \
                     operator must set an https:// address"
                )));
            }
            for image in &d.images {
                let Some(blob) = image.blob.as_deref().filter(|b| is_hex(b)) else {
                    return Err(NetError::permanent(format!(
                        "image {} has no recorded git blob to serve to LINE; sync it again",
                        image.path
                    )));
                };
                let url = format!("{public}/media/{blob}");
                messages.push(json!({
                    "type": "image",
                    "originalContentUrl": url,
                    "previewImageUrl": url,
                }));
            }
        }
        if messages.is_empty() {
            return Err(NetError::permanent("there is nothing to broadcast"));
        }
        if messages.len() > MAX_MESSAGES {
            return Err(NetError::permanent(format!(
                "a LINE broadcast holds at most {MAX_MESSAGES} messages (texts and images); \
                 this one would need {}",
                messages.len()
            )));
        }
        Ok(messages)
    }
}

/// Whether the retry key of `d` certainly still holds: every earlier attempt happened at or
/// after its publish time, so the key lives at least until then plus 24 hours.
fn retry_key_alive(d: &DeliveryRecord, now: DateTime<Utc>) -> bool {
    now < d.publish_at + RETRY_KEY_LIFETIME - RETRY_KEY_MARGIN
}

/// The delivery key (128 bits as 32 hex digits) written as a UUID, with the version 4 and
/// variant bits set so any UUID parser accepts it. Stable for the delivery, so every retry
/// carries the same key.
fn retry_key(key: &str) -> String {
    let mut bytes = [0u8; 16];
    match hex::decode(key) {
        Ok(decoded) if decoded.len() == 16 => bytes.copy_from_slice(&decoded),
        // Keys are always 32 hex digits; anything else still maps to one stable UUID.
        _ => bytes.copy_from_slice(&Sha256::digest(key.as_bytes())[..16]),
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[derive(Deserialize)]
struct LineErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<LineErrorDetail>,
}

#[derive(Deserialize)]
struct LineErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    property: Option<String>,
}

/// A failed broadcast: 400 and other 4xx are permanent, 401 and 403 the credentials, 429
/// and 5xx transient — except LINE's monthly message limit, a 429 that no retry within the
/// month can get past, which is permanent so staff learn at once.
fn line_error(status: StatusCode, headers: &HeaderMap, body: &str, now: DateTime<Utc>) -> NetError {
    let parsed = serde_json::from_str::<LineErrorBody>(body).ok();
    let said = match &parsed {
        Some(b) => {
            let mut s = b.message.clone().unwrap_or_default();
            let details: Vec<String> = b
                .details
                .iter()
                .map(|d| match (&d.property, &d.message) {
                    (Some(p), Some(m)) => format!("{p}: {m}"),
                    (None, Some(m)) => m.clone(),
                    (Some(p), None) => p.clone(),
                    (None, None) => String::new(),
                })
                .filter(|d| !d.is_empty())
                .collect();
            if !details.is_empty() {
                s.push_str(&format!(" ({})", details.join("; ")));
            }
            s
        }
        None => body.to_string(),
    };
    let said: String = said.trim().chars().take(500).collect();
    let monthly = status == StatusCode::TOO_MANY_REQUESTS
        && said.to_ascii_lowercase().contains("monthly limit");
    let class = match status.as_u16() {
        429 if monthly => ErrorClass::Permanent,
        408 | 429 | 500..=599 => ErrorClass::Transient,
        401 | 403 => ErrorClass::Credentials,
        _ => ErrorClass::Permanent,
    };
    let mut message = format!("LINE HTTP {status}: {said}");
    if monthly {
        message.push_str(
            "; the account's monthly message limit is used up, so the broadcast was not sent; \
             raise the plan's limit in LINE Official Account Manager or wait for next month, \
             then send it again",
        );
    } else if status == StatusCode::UNAUTHORIZED {
        message.push_str("; issue a new channel access token");
    } else if status == StatusCode::FORBIDDEN {
        message.push_str("; the channel is not allowed to broadcast (check the account's plan)");
    }
    if let Some(id) = header(headers, "x-line-request-id") {
        message.push_str(&format!(" [x-line-request-id {id}]"));
    }
    NetError {
        class,
        message,
        retry_after: if class == ErrorClass::Transient {
            http::retry_after(headers, now)
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_keys_are_stable_version_4_uuids_of_the_delivery_key() {
        let key = "0123456789abcdef0123456789abcdef";
        let uuid = retry_key(key);
        assert_eq!(uuid, "01234567-89ab-4def-8123-456789abcdef");
        assert_eq!(retry_key(key), uuid);
        assert_ne!(retry_key("fedcba9876543210fedcba9876543210"), uuid);
        let odd = retry_key("not hex");
        assert_eq!(odd.len(), 36);
        assert_eq!(&odd[14..15], "4");
    }

    #[test]
    fn classifies_line_answers() {
        let h = HeaderMap::new();
        let now = Utc::now();
        let e = line_error(
            StatusCode::BAD_REQUEST,
            &h,
            r#"{"message":"The request body has 1 error(s)","details":[{"message":"Length must be between 0 and 5000","property":"messages[0].text"}]}"#,
            now,
        );
        assert_eq!(e.class, ErrorClass::Permanent);
        assert!(e
            .message
            .contains("messages[0].text: Length must be between 0 and 5000"));
        let e = line_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            r#"{"message":"You have reached your monthly limit."}"#,
            now,
        );
        assert_eq!(e.class, ErrorClass::Permanent);
        let e = line_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            r#"{"message":"The API rate limit has been exceeded. Try again later."}"#,
            now,
        );
        assert_eq!(e.class, ErrorClass::Transient);
        assert_eq!(
            line_error(StatusCode::UNAUTHORIZED, &h, "{}", now).class,
            ErrorClass::Credentials
        );
        assert_eq!(
            line_error(StatusCode::FORBIDDEN, &h, "{}", now).class,
            ErrorClass::Credentials
        );
        assert_eq!(
            line_error(StatusCode::BAD_GATEWAY, &h, "<html>", now).class,
            ErrorClass::Transient
        );
    }
}
