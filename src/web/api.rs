//! The JSON API the dashboard and scripts read: `/api/posts`, `/api/posts/{id}`,
//! `/api/summary`, `/api/info`.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use chrono::Utc;

use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::content::info::RepoInfo;
use crate::model::records::{PostView, State};
use crate::store::meta;
use crate::web::json::{event_json, forge_links, post_json};
use crate::web::post_list::{self, Query};
use crate::web::reply::{blocking, error_reply, json_reply};
use crate::web::state::AppState;

pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub async fn list_posts(
    query: String,
    state: AppState,
) -> Result<warp::reply::Response, Infallible> {
    let query = match Query::parse(&query) {
        Ok(q) => q,
        Err(e) => return Ok(error_reply(StatusCode::BAD_REQUEST, e.to_string())),
    };
    let found = blocking(&state, move |s| {
        let listings = s.listings()?;
        // A text search reads the whole posts (texts are not kept in memory); every other
        // list is decided on the listings alone.
        let hits: Option<HashSet<String>> = if query.filters().searches_text() {
            Some(
                s.posts()?
                    .into_iter()
                    .filter(|v| query.filters().text_matches(v))
                    .map(|v| v.post.id)
                    .collect(),
            )
        } else {
            None
        };
        let page = post_list::page(&listings, &query, hits.as_ref());
        // The page's posts, whole, from one snapshot of the store (a post removed since
        // the listing was read is left out).
        let mut cursors: HashMap<&str, String> = page
            .posts
            .iter()
            .map(|(l, c)| (&*l.id, c.clone()))
            .collect();
        let views = s
            .snapshot()?
            .posts_by_id(page.posts.iter().map(|(l, _)| &*l.id))?;
        let posts: Vec<(PostView, String)> = views
            .into_iter()
            .map(|v| {
                let cursor = cursors.remove(v.post.id.as_str()).unwrap_or_default();
                (v, cursor)
            })
            .collect();
        Ok((posts, page.total, page.next_cursor))
    })
    .await;
    let (posts, total, next_cursor) = match found {
        Ok(found) => found,
        Err(r) => return Ok(r),
    };
    let list: Vec<Value> = posts
        .iter()
        .map(|(v, cursor)| {
            let mut json = post_json(v);
            json["cursor"] = Value::String(cursor.clone());
            json
        })
        .collect();
    // Moved into the body, not copied as `json!` would (a third of the time for 10,000).
    let body = Value::Object(serde_json::Map::from_iter([
        ("posts".to_string(), Value::Array(list)),
        ("total".to_string(), Value::from(total)),
        (
            "next_cursor".to_string(),
            next_cursor.map_or(Value::Null, Value::String),
        ),
    ]));
    Ok(json_reply(StatusCode::OK, &body))
}

/// `GET /api/summary`: the counts the dashboard shows, so it never needs every post.
pub async fn summary(state: AppState) -> Result<warp::reply::Response, Infallible> {
    let found = blocking(&state, |s| Ok((s.listings()?, s.meta(meta::REPO_INFO)?))).await;
    let (posts, stored) = match found {
        Ok(found) => found,
        Err(r) => return Ok(r),
    };
    let tz = stored
        .as_deref()
        .and_then(RepoInfo::from_json)
        .and_then(|r| r.timezone)
        .and_then(|name| name.parse().ok());
    let summary = post_list::summary(&posts, tz, Utc::now());
    let mut body = json!(summary);
    if !summary.emergencies.is_empty() {
        // Few, and the banner names them: read their titles and who let them through.
        let ids = summary.emergencies.clone();
        let found = blocking(&state, move |s| {
            let mut out = Vec::new();
            for id in &ids {
                if let Some(v) = s.post(id)? {
                    out.push(emergency_note(&v));
                }
            }
            Ok(out)
        })
        .await;
        match found {
            Ok(notes) => body["emergencies"] = Value::Array(notes),
            Err(r) => return Ok(r),
        }
    }
    Ok(json_reply(StatusCode::OK, &body))
}

/// An emergency post on its way, as the dashboard's banner shows it.
fn emergency_note(v: &PostView) -> Value {
    let e = v.post.emergency.as_ref();
    let out = v
        .deliveries
        .iter()
        .filter(|d| d.state == State::Published)
        .count();
    json!({
        "id": v.post.id,
        "title": v.post.title,
        "by": e.map(|e| e.by.to_string()),
        "via": e.map(|e| e.via),
        "networks": v.deliveries.len(),
        "published": out,
    })
}

pub async fn one_post(
    tail: warp::path::Tail,
    state: AppState,
) -> Result<warp::reply::Response, Infallible> {
    // Ids contain `/`, so the dashboard sends them encoded; plain slashes work too.
    let id = percent_decode(tail.as_str());
    if id.is_empty() {
        return Ok(error_reply(StatusCode::NOT_FOUND, "not found"));
    }
    let lookup = id.clone();
    let found = blocking(&state, move |s| {
        Ok(match s.post(&lookup)? {
            Some(v) => Some((v, s.events_for(&lookup)?)),
            None => None,
        })
    })
    .await;
    Ok(match found {
        Err(r) => r,
        Ok(None) => error_reply(StatusCode::NOT_FOUND, format!("no post with id `{id}`")),
        Ok(Some((v, events))) => {
            let mut body = post_json(&v);
            body["events"] = events.iter().map(event_json).collect();
            body["links"] =
                forge_links(state.forge.as_ref(), v.post.commit.as_deref(), &v.post.file);
            json_reply(StatusCode::OK, &body)
        }
    })
}

/// `GET /api/info`: the configuration as last synced (timezone, accounts, networks,
/// approvers), the branch, and the forge; what the dashboard needs besides the posts.
pub async fn info(state: AppState) -> Result<warp::reply::Response, Infallible> {
    let stored = match blocking(&state, |s| s.meta(meta::REPO_INFO)).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let repo = stored.as_deref().and_then(RepoInfo::from_json);
    let forge = state
        .forge
        .as_ref()
        .map(|f| json!({ "forge": f.kind.as_str(), "repository": f.web }));
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "timezone": repo.as_ref().and_then(|r| r.timezone.clone()),
            "dry_run": repo.as_ref().is_some_and(|r| r.dry_run),
            "max_lateness_secs": repo.as_ref().map(|r| r.max_lateness_secs),
            "accounts": repo.map(|r| r.accounts).unwrap_or_default(),
            "branch": state.hooks.branch,
            "forge": forge,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_survives_garbage() {
        assert_eq!(percent_decode("posts%2Fa"), "posts/a");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%E3%81"), "\u{fffd}");
    }
}
