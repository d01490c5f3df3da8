//! HTTP: the dashboard (embedded from `web/`), the JSON API, live events and health.
//!
//! Every request is untrusted: query values are validated and a bad one is a 400 naming
//! the parameter; post content is only ever sent as JSON and rendered by the dashboard with
//! `textContent`, and every response carries headers that forbid inline script and framing.
//! May use: `support`, `content`, `model`, `git`, `store`, `sync`, and of `delivery` only
//! `pausing` (the web reads which networks are paused; it never publishes).

pub mod api;
pub mod approvals;
pub mod assets;
pub mod auth;
pub mod desk;
pub mod edits;
pub mod health;
pub mod hook_deliveries;
pub mod hooks;
pub mod http_server;
pub mod json;
pub mod login_guard;
pub mod media;
pub mod metrics;
pub mod password;
pub mod post_list;
pub mod proposals;
pub mod reply;
pub mod session;
pub mod sse;
pub mod state;
pub mod users;

use std::convert::Infallible;

use warp::http::header;
use warp::{Filter, Reply};

use crate::web::api::{info, list_posts, one_post, summary};
use crate::web::assets::asset;
use crate::web::health::healthz;
use crate::web::media::media;
use crate::web::reply::handle_rejection;
use crate::web::sse::event_stream;
use crate::web::state::AppState;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// All routes, with security headers on every response.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let posts = warp::path!("api" / "posts")
        .and(warp::get())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(with_state.clone())
        .and_then(list_posts);
    let post = warp::path("api")
        .and(warp::path("posts"))
        .and(warp::path::tail())
        .and(warp::get())
        .and(with_state.clone())
        .and_then(one_post);
    let summary = warp::path!("api" / "summary")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(summary);
    let info = warp::path!("api" / "info")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(info);
    let events = warp::path!("api" / "events")
        .and(warp::get())
        .and(with_state.clone())
        .and(warp::header::headers_cloned())
        .map(event_stream);
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_state.clone())
        .and(crate::web::auth::authenticated(state.auth.clone()))
        .map(healthz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(crate::web::metrics::reply);
    let media = warp::path!("media" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and_then(media);
    let states = warp::path!("js" / "delivery-states.js")
        .and(warp::get())
        .map(crate::web::assets::delivery_states);
    let assets = warp::get().and(warp::path::tail()).map(asset);
    let hooks = crate::web::hooks::routes(state.hooks.clone());
    let session = crate::web::session::routes(state.auth.clone());
    let desk = crate::web::desk::routes(state.clone());
    let proposals = crate::web::proposals::routes(state.clone());
    let approvals = crate::web::approvals::routes(state.clone());
    let users = crate::web::users::routes(state.clone());
    let password = crate::web::password::routes(state.clone());
    let app = hooks
        .or(session)
        .or(password)
        .or(desk)
        .or(approvals)
        .or(users)
        .or(proposals)
        .or(posts)
        .or(post)
        .or(summary)
        .or(info)
        .or(events)
        .or(health)
        .or(metrics)
        .or(media)
        .or(states)
        .or(assets);
    // Every route needs the dashboard credentials unless `auth` lists it as open.
    crate::web::auth::guard(state.auth.clone())
        .and(app)
        .recover(crate::web::auth::challenge)
        .recover(handle_rejection)
        .with(warp::reply::with::header(
            header::CONTENT_SECURITY_POLICY,
            CSP,
        ))
        .with(warp::reply::with::header(
            header::X_CONTENT_TYPE_OPTIONS,
            "nosniff",
        ))
        .with(warp::reply::with::header(header::X_FRAME_OPTIONS, "DENY"))
        .with(warp::reply::with::header(
            header::REFERRER_POLICY,
            "no-referrer",
        ))
}
