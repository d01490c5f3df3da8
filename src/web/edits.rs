//! A post already on the publish branch — written by hand, or merged from the desk — opened
//! in the desk: `GET /api/drafts/{id}` answers its draft, read from the branch's tip, and
//! `POST /api/proposals?edit={id}` proposes the change as any proposal, on a branch of its
//! own (`proposals/<date>-edit-<name>`) that changes the post's own file, so the post keeps
//! its id and its history.

use std::convert::Infallible;

use chrono::NaiveDate;
use serde_json::json;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

use crate::content::draft::DraftFile;
use crate::git::propose::{self, PROPOSALS_PREFIX};
use crate::web::api::percent_decode;
use crate::web::http_server::ClientAddr;
use crate::web::proposals::{draft_at, reader, DeskRepo, ProposalReply};
use crate::web::reply::{blocking, error_reply, json_reply};
use crate::web::state::AppState;

/// The post a proposal changes.
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub id: String,
    /// Its file, from the content directory.
    pub file: String,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "drafts" / String)
        .and(warp::get())
        .and(warp::any().map(move || state.clone()))
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and_then(open)
}

async fn open(
    id: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> Result<warp::reply::Response, Infallible> {
    Ok(opening(id, state, headers, peer)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn opening(
    id: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> ProposalReply {
    let (desk, _) = reader(&state, &headers, peer)?;
    let edit = find(&state, &desk, &percent_decode(&id)).await?;
    let read = {
        let (desk, file) = (desk.clone(), edit.file.clone());
        tokio::task::spawn_blocking(move || {
            let repo = propose::open(&desk.repo)?;
            let tip = propose::tip(&repo, &desk.publish_branch)?;
            Ok::<_, crate::web::proposals::DraftAtError>((
                tip.to_string(),
                draft_at(&desk, &tip.to_string(), &file)?,
            ))
        })
        .await
    };
    match read {
        Ok(Ok((commit, draft))) => Ok(json_reply(
            StatusCode::OK,
            &json!({
                "id": edit.id,
                "file": edit.file,
                "branch": desk.publish_branch,
                "commit": commit,
                "draft": draft,
            }),
        )),
        Ok(Err(e)) => Err(crate::web::proposals::draft_refusal(e)),
        Err(e) => Err(crate::web::proposals::internal(
            "reading the post",
            Some(e.to_string()),
        )),
    }
}

/// The post `id` on the publish branch, as the last sync saw it.
pub(crate) async fn find(
    state: &AppState,
    desk: &DeskRepo,
    id: &str,
) -> Result<Edit, warp::reply::Response> {
    let lookup = id.to_string();
    let found = blocking(state, move |s| s.post(&lookup)).await?;
    let Some(view) = found.filter(|v| v.post.present) else {
        return Err(error_reply(
            StatusCode::NOT_FOUND,
            format!("no post with id `{id}` is on the publish branch"),
        ));
    };
    // The store keeps paths from the content directory; a prefix is taken off if present.
    let dir = desk.content_dir.trim_matches('/');
    let file = match dir {
        "" => view.post.file.clone(),
        dir => view
            .post
            .file
            .strip_prefix(&format!("{dir}/"))
            .unwrap_or(&view.post.file)
            .to_string(),
    };
    Ok(Edit {
        id: view.post.id,
        file,
    })
}

/// `?edit={id}` on `POST /api/proposals`, the only parameter it takes.
pub(crate) async fn target(
    state: &AppState,
    desk: &DeskRepo,
    query: &[(String, String)],
) -> Result<Option<Edit>, warp::reply::Response> {
    let mut edit = None;
    for (key, value) in query {
        match key.as_str() {
            "edit" if edit.is_none() => edit = Some(value.clone()),
            _ => {
                return Err(error_reply(
                    StatusCode::BAD_REQUEST,
                    format!("`{key}`: POST /api/proposals takes only `edit` (a post id), once"),
                ))
            }
        }
    }
    match edit {
        None => Ok(None),
        Some(id) => find(state, desk, &id).await.map(Some),
    }
}

/// `proposals/<today>-edit-<the file's name>`.
pub(crate) fn branch_for(file: &DraftFile, today: NaiveDate) -> String {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    let name = name.strip_suffix(".md").unwrap_or(name);
    // A hand-written file may be named in Japanese or with spaces: a branch name is not.
    let plain: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let plain = plain.trim_matches('-');
    let plain = if plain.is_empty() { "post" } else { plain };
    format!(
        "{PROPOSALS_PREFIX}{}-edit-{plain}",
        today.format("%Y-%m-%d")
    )
}
