//! `GET /media/<blob>`: an image that went out with a delivery, for networks that fetch
//! images by URL.

use std::convert::Infallible;

use warp::http::{header, StatusCode};
use warp::Reply;

use crate::git::blob::{read_blob, BlobError};
use crate::web::reply::error_reply;
use crate::web::state::AppState;

/// `GET /media/<blob>`: an image that went out with a delivery, for networks that fetch
/// images by URL. Any other blob id (a draft, the configuration) is 404, so this never
/// becomes a way to read the repository.
pub async fn media(blob: String, state: AppState) -> Result<warp::reply::Response, Infallible> {
    let not_found = || warp::reply::with_status("not found", StatusCode::NOT_FOUND).into_response();
    let unavailable = || {
        let mut r = error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "the image cannot be read now",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        r
    };
    if !(blob.len() == 40 || blob.len() == 64) || !blob.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(not_found());
    }
    let found = tokio::task::spawn_blocking(move || {
        let Some(mime) = state.store.published_media(&blob).ok().flatten() else {
            return Ok(None);
        };
        match read_blob(&state.repo, &blob) {
            Ok(bytes) => Ok(Some((mime, bytes))),
            Err(BlobError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await;
    let (mime, bytes) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return Ok(not_found()),
        // The network fetching it will try again; the image is still there.
        Ok(Err(e)) => {
            tracing::warn!("GET /media: {e}");
            return Ok(unavailable());
        }
        Err(e) => {
            tracing::warn!("GET /media: the read stopped: {e}");
            return Ok(unavailable());
        }
    };
    let mut response = warp::reply::Response::new(bytes.into());
    let headers = response.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // A blob id names its content for ever.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
