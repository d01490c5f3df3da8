//! The few ways a handler answers: JSON, an error as JSON, a refused route, a store read
//! off the async runtime.

use std::convert::Infallible;

use serde_json::{json, Value};
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::store::{Store, StoreError};
use crate::web::state::AppState;

pub fn json_reply(status: StatusCode, body: &Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

pub fn error_reply(status: StatusCode, message: impl Into<String>) -> warp::reply::Response {
    json_reply(status, &json!({ "error": message.into() }))
}

/// An error that names the field (or parameter) it is about, for a form to point at.
pub fn field_error(
    status: StatusCode,
    field: &str,
    message: impl Into<String>,
) -> warp::reply::Response {
    json_reply(status, &json!({ "error": message.into(), "field": field }))
}

/// 429 after repeated wrong passwords, with `Retry-After` in whole seconds rounded up (a
/// client waiting what it is told is let through): "too many {what}; try again in N s".
pub fn too_many(what: &str, wait: std::time::Duration) -> warp::reply::Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut r = error_reply(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many {what}; try again in {secs} s"),
    );
    r.headers_mut().insert(
        warp::http::header::RETRY_AFTER,
        warp::http::HeaderValue::from(secs),
    );
    r
}

pub async fn handle_rejection(r: Rejection) -> Result<warp::reply::Response, Infallible> {
    // Checked before "method not allowed": the other routes' method rejections would
    // otherwise hide why a POST to a hook was refused.
    Ok(if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        error_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        )
    } else if r.is_not_found() {
        error_reply(StatusCode::NOT_FOUND, "not found")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        error_reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else {
        error_reply(StatusCode::BAD_REQUEST, "bad request")
    })
}

pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, warp::reply::Response> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("store: {e}");
            Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the database could not be read",
            ))
        }
        Err(e) => {
            tracing::error!("store task: {e}");
            Err(error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}

/// Whether a request says its body is JSON. Every route that takes a body demands it: a
/// form on another site can send `text/plain` that happens to parse as JSON, but not
/// `application/json` without the browser asking this server first, which it never allows.
pub fn is_json(headers: &warp::http::HeaderMap) -> bool {
    headers
        .get(warp::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The answer to a body that is not `application/json`.
pub fn not_json() -> warp::reply::Response {
    error_reply(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type: send the body as application/json",
    )
}
