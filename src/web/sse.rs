//! `GET /api/events`: the audit log as it is written, as server-sent events.

use std::convert::Infallible;

use futures_util::StreamExt;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use warp::Reply;

use crate::web::json::event_json;
use crate::web::state::AppState;

pub fn event_stream(state: AppState) -> impl Reply {
    let mut shutdown = state.shutdown.clone();
    let ended = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
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
