//! The `webhook` network: a JSON POST of the text to an intranet portal, a chat room or
//! anything else that takes one (Slack and Teams read `text`, Discord reads `content`).
//! Images travel as links (`oshirase.images[].url`, served at `serve --public-url`), with
//! their alt text; without a public URL the receiver gets their path and alt text only.
//!
//! A plain webhook has no way to ask "did you get this?", so a delivery cut short by a
//! crash is `unknown` for a person to check, never sent blindly again. The delivery key
//! travels in `X-Oshirase-Delivery` for receivers that want to drop repeats themselves.

use async_trait::async_trait;
use serde_json::json;

use std::sync::Arc;

use super::{http, AdapterContext, BuildError, Endpoint, NetError, Network, Published, Settlement};
use crate::model::records::DeliveryRecord;

pub struct Webhook {
    url: String,
    public_url: Option<String>,
}

/// `<credentials>_URL`, or `base_url` when the configuration redirects it (to a host the
/// server allows for the credential: by default only the host of `<credentials>_URL`).
pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
    let grant = ctx.grant(Endpoint::Field("URL"))?;
    Ok(Arc::new(Webhook {
        url: grant.endpoint,
        public_url: ctx.public_url.clone(),
    }))
}

#[async_trait]
impl Network for Webhook {
    async fn publish(&self, d: &DeliveryRecord) -> Result<Published, NetError> {
        let images: Vec<_> = d
            .images
            .iter()
            .map(|i| {
                let url = match (&self.public_url, &i.blob) {
                    (Some(base), Some(blob)) => Some(format!("{base}/media/{blob}")),
                    _ => None,
                };
                json!({ "path": i.path, "alt": i.alt, "type": i.mime, "url": url })
            })
            .collect();
        let body = json!({
            "text": d.text,
            "content": d.text,
            "oshirase": {
                "key": d.key, "post_id": d.post_id, "account": d.account, "network": d.network,
                "images": images,
            },
        });
        let response = http::client()
            .post(&self.url)
            .header("X-Oshirase-Delivery", &d.key)
            .json(&body)
            .send()
            .await
            .map_err(http::transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(Published::default());
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Err(http::classify(status, &headers, &text))
    }

    async fn settle(&self, _: &DeliveryRecord) -> Result<Settlement, NetError> {
        Ok(Settlement::Unknown(
            "a webhook cannot be asked whether it received the post".into(),
        ))
    }

    async fn retract(&self, _: &DeliveryRecord) -> Result<(), NetError> {
        Err(NetError::permanent(
            "a webhook message cannot be deleted by oshirase; remove it where it was posted",
        ))
    }
}
