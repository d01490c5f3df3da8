//! `GET /api/events`: the audit log as it is written, as server-sent events.

use std::convert::Infallible;

use futures_util::StreamExt;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use warp::Reply;

use crate::web::json::event_json;
use crate::web::state::AppState;

/// How often a stream opened with a session checks that the session is still open.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The stream, until the service stops or, for a stream opened with a session, until that
/// session ends (signed out, expired, its person disabled or their password reset): the
/// audit log is not read on by someone no longer let in.
pub fn event_stream(state: AppState, headers: warp::http::HeaderMap) -> impl Reply {
    let mut shutdown = state.shutdown.clone();
    let auth = state.auth.clone();
    let ended = async move {
        let session_over = async {
            // Only a stream its session let in ends with it (a script's token has none;
            // a stale cookie beside valid credentials is not what let it in).
            let watched = auth.filter(|a| a.session_still_open(&headers) == Some(true));
            let Some(auth) = watched else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(SESSION_CHECK).await;
                if auth.session_still_open(&headers) != Some(true) {
                    return;
                }
            }
        };
        let stopping = async {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = session_over => {}
            () = stopping => {}
        }
    };
    let stream = BroadcastStream::new(state.store.subscribe())
        // A listener that falls behind misses events but keeps its connection, and is told
        // so: the dashboard then reads its views again instead of the posts named.
        .map(|e| {
            let data = match e {
                Ok(e) => event_json(&e),
                Err(_lagged) => json!({ "resync": true }),
            };
            Ok::<_, Infallible>(
                warp::sse::Event::default()
                    .event("message")
                    .data(data.to_string()),
            )
        })
        .take_until(Box::pin(ended));
    // The comment every 15 s keeps bytes moving, so the server's stall limit
    // (`http_server`, 60 s) never cuts a live stream however long it stays open.
    warp::sse::reply(
        warp::sse::keep_alive()
            .interval(std::time::Duration::from_secs(15))
            .stream(stream),
    )
}
