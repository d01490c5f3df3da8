//! The desk's proposals: `POST /api/proposals` turns a draft into a commit on a new branch
//! `proposals/<date>-<slug>` (pushed to the remote, and a pull request opened where a forge
//! API is configured); `GET /api/proposals` lists the open ones; `GET` and `PUT
//! /api/proposals/<id>` reopen one's draft and add a commit to its branch.
//!
//! The author of every commit is the signed-in person, from the session: a draft has no
//! author field, and one sent anyway is refused as an unknown field. The file is checked
//! exactly as the preview and the pull-request check do, and a draft with errors writes
//! nothing.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use git2::Oid;
use serde_json::{json, Value};
use warp::http::{header, HeaderMap, StatusCode};
use warp::Filter;

use crate::content::config::{Approval, RepoConfig, CONFIG_FILE};
use crate::content::draft::{Draft, DraftFile};
use crate::content::i18n::Lang;
use crate::content::post::{parse_at, Parsed};
use crate::content::source::resolve_relative;
use crate::git::fetch::Mirror;
use crate::git::forge::Forge;
use crate::git::propose::{self, Author, OpenProposal, ProposalCommit, ProposeError};
use crate::git::pull_request::ForgeApi;
use crate::git::push::PushError;
use crate::model::event::EventKind;
use crate::model::records::{Actor, NewEvent};
use crate::web::approvals;
use crate::web::auth::SignedIn;
use crate::web::desk::{checked, config_in_force, lang_of, Preview, PreviewError};
use crate::web::edits;
use crate::web::http_server::ClientAddr;
use crate::web::reply::{blocking, error_reply, field_error, is_json, json_reply, not_json};
use crate::web::state::AppState;

/// Largest draft accepted (as for the preview).
const MAX_DRAFT_BYTES: u64 = 28 * 1024 * 1024;

/// Where proposals are written.
pub struct DeskRepo {
    /// The local repository, or the mirror of the remote.
    pub repo: PathBuf,
    /// The remote's mirror, which proposal branches are pushed from.
    pub mirror: Option<Arc<Mirror>>,
    pub publish_branch: String,
    pub content_dir: String,
    /// The forge the remote is on, for compare links when no API is configured.
    pub forge: Option<Forge>,
    pub forge_api: Option<ForgeApi>,
    /// The process's one HTTP client (with its time limits), for the forge API.
    pub http: reqwest::Client,
    /// One proposal written at a time: two at once could both see a branch name free.
    pub writing: tokio::sync::Mutex<()>,
}

/// The meta key of a proposal's pull-request link.
pub(crate) fn url_key(branch: &str) -> String {
    format!("proposal_url:{branch}")
}

type Reply = Result<warp::reply::Response, Infallible>;

/// A handler's answer, or its refusal (also an answer).
pub(crate) type ProposalReply = Result<warp::reply::Response, warp::reply::Response>;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let state_for_drafts = state.clone();
    let with_state = warp::any().map(move || state.clone());
    let person = warp::header::headers_cloned().and(warp::ext::optional::<ClientAddr>());
    let list = warp::path!("api" / "proposals")
        .and(warp::get())
        .and(with_state.clone())
        .and(person)
        .and(warp::query::<Vec<(String, String)>>())
        .and_then(list);
    let create = warp::path!("api" / "proposals")
        .and(warp::post())
        .and(with_state.clone())
        .and(person)
        .and(warp::query::<Vec<(String, String)>>())
        .and(warp::body::content_length_limit(MAX_DRAFT_BYTES))
        .and(warp::body::bytes())
        .and_then(create);
    let open = warp::path!("api" / "proposals" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(person)
        .and_then(open);
    let update = warp::path!("api" / "proposals" / String)
        .and(warp::put())
        .and(with_state)
        .and(person)
        .and(warp::body::content_length_limit(MAX_DRAFT_BYTES))
        .and(warp::body::bytes())
        .and_then(update);
    let drafts = crate::web::edits::routes(state_for_drafts);
    list.or(create)
        .unify()
        .or(open)
        .unify()
        .or(update)
        .unify()
        .or(drafts)
        .unify()
}

/// The desk's repository and whoever is signed in (none for a script's token).
// The refusal is the reply itself, made at most once per request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn reader(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
) -> Result<(Arc<DeskRepo>, Option<SignedIn>), warp::reply::Response> {
    let Some(desk) = state.desk.clone() else {
        return Err(error_reply(
            StatusCode::NOT_FOUND,
            "this server does not take proposals",
        ));
    };
    let signed = state
        .auth
        .as_ref()
        .and_then(|a| a.signed_in(headers, peer.map(|p| p.0.ip())));
    Ok((desk, signed))
}

/// What writing a proposal needs: the desk's repository and a signed-in person, whose
/// name and address the commit carries.
#[allow(clippy::result_large_err)] // as for `reader`
pub(crate) fn who(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
) -> Result<(Arc<DeskRepo>, SignedIn), warp::reply::Response> {
    match reader(state, headers, peer)? {
        (desk, Some(s)) => Ok((desk, s)),
        (_, None) => Err(error_reply(
            StatusCode::FORBIDDEN,
            "proposals are made by a person: sign in on the dashboard",
        )),
    }
}

async fn list(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    query: Vec<(String, String)>,
) -> Reply {
    Ok(listing(state, headers, peer, query)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn listing(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    query: Vec<(String, String)>,
) -> ProposalReply {
    let (desk, signed) = reader(&state, &headers, peer)?;
    let mut wanted_account = None;
    let mut wanted_department = None;
    for (key, value) in query {
        match key.as_str() {
            "account" => wanted_account = Some(value),
            "department" => wanted_department = Some(value),
            _ => {
                return Err(field_error(
                    StatusCode::BAD_REQUEST,
                    &key,
                    format!("`{key}` is not a parameter; use account or department"),
                ))
            }
        }
    }
    let proposals = open_proposals(&state, &desk).await?;
    let keys: Vec<String> = proposals.iter().map(|p| url_key(&p.branch)).collect();
    let urls = blocking(&state, move |s| {
        keys.iter()
            .map(|k| s.meta(k))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let lang = lang_of(&headers);
    let wait = blocking(&state, approvals::expected_wait).await?;
    let reviews = match config_in_force(&state).await {
        Ok(config_text) => {
            let (desk, list, me) = (
                desk.clone(),
                proposals.clone(),
                signed.as_ref().map(|s| s.person.clone()),
            );
            let done = tokio::task::spawn_blocking(move || {
                let rules = approvals::rules(&desk, config_text)?;
                let now = chrono::Utc::now();
                list.iter()
                    .map(|p| {
                        let posts = approvals::review_posts(&desk, p, &rules, lang, now, wait)?;
                        let refusal = me.as_ref().map(|me| {
                            let approve = approvals::Decision::Approve;
                            approvals::refusal(me, p, &posts, &rules, lang, approve)
                        });
                        Ok((posts, refusal))
                    })
                    .collect::<Result<Vec<_>, ProposeError>>()
            })
            .await;
            match done {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(internal("reviewing proposals", Some(e.to_string()))),
                Err(e) => return Err(internal("reviewing proposals", Some(e.to_string()))),
            }
        }
        // Before the first sync: the list without reviews.
        Err(_) => proposals.iter().map(|_| (Vec::new(), None)).collect(),
    };
    let me = signed.as_ref().map(|s| s.person.email.as_str());
    let mut items: Vec<(bool, Value)> = Vec::new();
    for ((p, url), (posts, refusal)) in proposals.iter().zip(urls).zip(reviews) {
        let matches = |wanted: &Option<String>, of: fn(&approvals::PostReview) -> Option<&str>| {
            wanted
                .as_deref()
                .is_none_or(|w| posts.iter().any(|post| of(post) == Some(w)))
        };
        if !matches(&wanted_account, |p| p.account.as_deref())
            || !matches(&wanted_department, |p| p.department.as_deref())
        {
            continue;
        }
        let mut item = described(&desk, p, url, me);
        let may_approve = refusal.as_ref().is_some_and(Option::is_none);
        item["department"] = json!(posts.iter().find_map(|p| p.department.clone()));
        item["accounts"] = json!(posts
            .iter()
            .filter_map(|p| p.account.clone())
            .collect::<std::collections::BTreeSet<_>>());
        item["due"] = json!(posts.iter().filter_map(|p| p.publish_at).min());
        item["late"] = json!(posts.iter().any(|p| p.late));
        item["past"] = json!(posts.iter().any(|p| p.past));
        item["review"] = json!(posts);
        item["approve_on"] = json!(if desk.mirror.is_some() {
            "forge"
        } else {
            "desk"
        });
        item["may_approve"] = json!(may_approve && desk.mirror.is_none());
        item["why_not"] = json!(refusal.flatten());
        item["review_state"] = json!(review_state(&desk, item["url"].as_str()).await);
        items.push((may_approve, item));
    }
    // What the reader may approve first, then the longest waiting.
    items.sort_by(|(a, x), (b, y)| {
        b.cmp(a)
            .then(x["updated"].as_str().cmp(&y["updated"].as_str()))
    });
    let returned = match me {
        Some(me) => blocking(&state, approvals::returned)
            .await?
            .into_iter()
            .filter(|r| r.proposer.eq_ignore_ascii_case(me))
            .take(20)
            .collect(),
        None => Vec::new(),
    };
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "proposals": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "returned": returned,
            // What `late` is judged by: approvals here usually take this long.
            "expected_wait_minutes": wait.num_minutes(),
        }),
    ))
}

/// The pull request's review state on the forge, when a forge API is configured and the
/// link is one of its pull requests (`None` otherwise, or when the forge cannot say).
async fn review_state(
    desk: &DeskRepo,
    url: Option<&str>,
) -> Option<crate::git::pull_request::ReviewState> {
    let api = desk.forge_api.as_ref()?;
    let number = url?.rsplit('/').next()?.parse::<u64>().ok()?;
    match api.review_state(&desk.http, number).await {
        Ok(state) => Some(state),
        Err(e) => {
            tracing::warn!("the review state of pull request {number}: {e}");
            None
        }
    }
}

fn described(desk: &DeskRepo, p: &OpenProposal, url: Option<String>, me: Option<&str>) -> Value {
    json!({
        "id": id_of(&p.branch),
        "branch": p.branch,
        "commit": p.commit,
        "author": { "name": p.author.name, "email": p.author.email },
        "title": p.title,
        "posts": p.posts,
        "url": url.or_else(|| compare_url(desk, &p.branch)),
        "updated": p.updated,
        "mine": is_mine(p, me),
    })
}

fn is_mine(p: &OpenProposal, me: Option<&str>) -> bool {
    me.is_some_and(|me| p.author.email.eq_ignore_ascii_case(me))
}

/// A proposal's id, one URL segment: a desk branch without `proposals/`
/// (`2026-12-20-gomi`); any other branch as `~` and its name with `~` for `/`
/// (`~feature~gomi` for `feature/gomi`), which is unambiguous as git refuses `~` in a
/// branch name.
pub(crate) fn id_of(branch: &str) -> String {
    match branch.strip_prefix(propose::PROPOSALS_PREFIX) {
        Some(rest) if is_plain(rest) => rest.to_string(),
        _ => format!("~{}", branch.replace('/', "~")),
    }
}

fn is_plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The branch of an id from a URL, refused unless it is a branch name git allows.
fn branch_of(id: &str) -> Option<String> {
    if is_plain(id) {
        return Some(format!("{}{id}", propose::PROPOSALS_PREFIX));
    }
    let name = id.strip_prefix('~')?.replace('~', "/");
    let fine = name.len() <= 200
        && !name.contains("..")
        && git2::Reference::is_valid_name(&format!("refs/heads/{name}"));
    fine.then_some(name)
}

fn compare_url(desk: &DeskRepo, branch: &str) -> Option<String> {
    desk.forge
        .as_ref()
        .map(|f| f.compare_url(&desk.publish_branch, branch))
}

pub(crate) fn internal(what: &str, why: Option<String>) -> warp::reply::Response {
    tracing::error!("{what}: {}", why.unwrap_or_default());
    error_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} failed; the server log says why"),
    )
}

#[allow(clippy::result_large_err)] // as for `who`
fn parse_draft(headers: &HeaderMap, body: &[u8]) -> Result<Draft, warp::reply::Response> {
    if !is_json(headers) {
        return Err(not_json());
    }
    serde_json::from_slice(body)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, format!("the draft: {e}")))
}

/// The draft checked; a draft with errors is answered with them (422) and writes nothing.
async fn checked_draft(
    state: &AppState,
    headers: &HeaderMap,
    draft: Draft,
    path: Option<String>,
) -> Result<(Draft, Preview), warp::reply::Response> {
    let config_text = config_in_force(state).await?;
    let lang = lang_of(headers);
    let answer = tokio::task::spawn_blocking(move || {
        checked(&draft, path.as_deref(), &config_text).map(|p| (draft, p))
    })
    .await;
    match answer {
        Ok(Ok((draft, preview))) if preview.report.errors.is_empty() => Ok((draft, preview)),
        Ok(Ok((_, preview))) => {
            let mut answer = preview.answer(lang);
            answer["error"] = json!(match lang {
                Lang::Ja => "投稿に問題があります。直してから提案してください",
                Lang::En => "the post has problems; fix them before proposing",
            });
            Err(json_reply(StatusCode::UNPROCESSABLE_ENTITY, &answer))
        }
        Ok(Err(PreviewError::Draft(e))) => Err(field_error(
            StatusCode::BAD_REQUEST,
            &e.field,
            e.to_string(),
        )),
        Ok(Err(e)) => Err(internal("checking the draft", Some(e.to_string()))),
        Err(e) => Err(internal("checking the draft", Some(e.to_string()))),
    }
}

/// Refuses a post id another post already has (a clash `check` cannot see, as it reads
/// the draft alone).
async fn id_is_free(state: &AppState, preview: &Preview) -> Result<(), warp::reply::Response> {
    let Some(post) = preview.report.posts.first() else {
        return Ok(());
    };
    let id = post.id.clone();
    let taken = blocking(state, move |s| s.post(&id)).await?;
    match taken {
        Some(other) => Err(field_error(
            StatusCode::CONFLICT,
            "id",
            format!(
                "the id {} is already used by {}; change the title or the id",
                post.id, other.post.file
            ),
        )),
        None => Ok(()),
    }
}

async fn create(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    query: Vec<(String, String)>,
    body: warp::hyper::body::Bytes,
) -> Reply {
    Ok(proposing(state, headers, peer, query, body)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn proposing(
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    query: Vec<(String, String)>,
    body: warp::hyper::body::Bytes,
) -> Result<warp::reply::Response, warp::reply::Response> {
    let (desk, signed) = who(&state, &headers, peer)?;
    let edit = edits::target(&state, &desk, &query).await?;
    let draft = parse_draft(&headers, &body)?;
    let path = edit.as_ref().map(|e| e.file.clone());
    let (draft, preview) = checked_draft(&state, &headers, draft, path).await?;
    // A change to a post keeps its id, which that post of course already has.
    let same_post = |e: &edits::Edit| preview.report.posts.first().is_some_and(|p| p.id == e.id);
    if !edit.as_ref().is_some_and(same_post) {
        id_is_free(&state, &preview).await?;
    }
    let branch = match &edit {
        None => branch_for(&preview.file),
        Some(_) => edits::branch_for(&preview.file, chrono::Utc::now().date_naive()),
    };
    let _one_at_a_time = desk.writing.lock().await;
    // Claimed before the branch exists: the sync loop, seeing it appear, leaves the
    // announcement to the desk (`waiting` below).
    let key = crate::sync::waiting::announced_key(&branch);
    blocking(&state, move |s| s.set_meta(&[(&key, "desk")])).await?;
    let commit = write(
        &desk,
        &branch,
        &preview.file,
        &signed,
        &draft,
        None,
        edit.is_some(),
    )
    .await?;
    let lang = lang_of(&headers);
    let (url, pr_error) = match &desk.forge_api {
        Some(api) => {
            let description = description(&draft, &preview, lang);
            let opened = api
                .open(
                    &desk.http,
                    &branch,
                    &desk.publish_branch,
                    draft.title.trim(),
                    &description,
                )
                .await;
            match opened {
                Ok(pr) => (Some(pr.url), None),
                Err(e) => {
                    tracing::warn!("opening the pull request for {branch}: {e}");
                    (compare_url(&desk, &branch), Some(e.to_string()))
                }
            }
        }
        None => (compare_url(&desk, &branch), None),
    };
    if let (Some(url), None) = (&url, &pr_error) {
        let (key, value) = (url_key(&branch), url.clone());
        blocking(&state, move |s| s.set_meta(&[(&key, &value)])).await?;
    }
    waiting(
        &state,
        &signed,
        &draft,
        &preview,
        &branch,
        &commit.to_string(),
    )
    .await?;
    tracing::info!(
        "{} proposed {} on {branch}",
        signed.person.email,
        preview.file.path
    );
    let mut answer = json!({
        "branch": branch,
        "commit": commit.to_string(),
        "file": preview.file.path,
        "url": url,
    });
    if let Some(e) = pr_error {
        answer["pull_request_error"] = json!(e);
    }
    Ok(json_reply(StatusCode::CREATED, &answer))
}

/// Records that the proposal waits, for the account's approvers (whom the alerts tell).
async fn waiting(
    state: &AppState,
    signed: &SignedIn,
    draft: &Draft,
    preview: &Preview,
    branch: &str,
    commit: &str,
) -> Result<(), warp::reply::Response> {
    let Some(post) = preview.report.posts.first() else {
        return Ok(());
    };
    let config_text = config_in_force(state).await?;
    let approvers = RepoConfig::parse(CONFIG_FILE, &config_text)
        .ok()
        .and_then(|c| {
            c.account(draft.account.as_deref())
                .ok()
                .map(|a| match &a.approval {
                    Approval::Merge { approvers } => approvers.clone(),
                    Approval::Branch => Vec::new(),
                })
        })
        .unwrap_or_default();
    let event = NewEvent {
        actor: Actor::Desk(signed.person.email.clone()),
        notify: approvers
            .into_iter()
            .filter(|a| !a.eq_ignore_ascii_case(&signed.person.email))
            .collect(),
        ..NewEvent::service(
            &post.id,
            EventKind::ProposalWaiting,
            None,
            format!(
                "{} proposed {} on {branch} on the desk",
                signed.person.email, post.file
            ),
        )
    };
    // Remembered as announced, so the sync loop's look at the branches does not say it
    // again.
    let key = crate::sync::waiting::announced_key(branch);
    let commit = commit.to_string();
    blocking(state, move |s| s.record(vec![event], &[(&key, &commit)])).await?;
    Ok(())
}

/// The number at the end of a pull request's address (`…/pulls/12`, `…/merge_requests/12`).
fn pr_number(url: &str) -> Option<u64> {
    url.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

/// `proposals/<the file's name without .md>`: the date and slug.
fn branch_for(file: &DraftFile) -> String {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    format!(
        "{}{}",
        propose::PROPOSALS_PREFIX,
        name.strip_suffix(".md").unwrap_or(name)
    )
}

/// Writes the commit (and pushes it, for a remote) off the async runtime.
async fn write(
    desk: &Arc<DeskRepo>,
    branch: &str,
    file: &DraftFile,
    signed: &SignedIn,
    draft: &Draft,
    on_top_of: Option<Oid>,
    edits: bool,
) -> Result<Oid, warp::reply::Response> {
    let mut files = vec![(file.path.clone(), file.text.clone().into_bytes())];
    files.extend(file.images.iter().cloned());
    let author = Author {
        name: signed.person.name.clone(),
        email: signed.person.email.clone(),
    };
    let message = match on_top_of {
        None if edits => format!(
            "Propose a change: {}\n\nWritten on the oshirase desk.",
            draft.title.trim()
        ),
        None => format!(
            "Propose: {}\n\nWritten on the oshirase desk.",
            draft.title.trim()
        ),
        Some(_) => format!("Update proposal: {}", draft.title.trim()),
    };
    let (desk, branch) = (desk.clone(), branch.to_string());
    let done = tokio::task::spawn_blocking(move || {
        write_blocking(&desk, &branch, &files, &author, &message, on_top_of, edits)
    })
    .await;
    match done {
        Ok(Ok(commit)) => Ok(commit),
        Ok(Err(e)) => Err(write_refusal(e)),
        Err(e) => Err(internal("writing the proposal", Some(e.to_string()))),
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Propose(#[from] ProposeError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Fetch(#[from] crate::git::fetch::FetchError),
}

fn write_blocking(
    desk: &DeskRepo,
    branch: &str,
    files: &[(String, Vec<u8>)],
    author: &Author,
    message: &str,
    on_top_of: Option<Oid>,
    edits: bool,
) -> Result<Oid, WriteError> {
    // A remote: the mirror is brought up to date first, so a branch made elsewhere since
    // the last fetch is seen as taken.
    if let Some(mirror) = &desk.mirror {
        mirror.fetch()?;
    }
    let repo = propose::open(&desk.repo)?;
    let before = propose::tip(&repo, branch).ok();
    let commit = propose::write(
        &repo,
        &ProposalCommit {
            branch,
            publish_branch: &desk.publish_branch,
            content_dir: &desk.content_dir,
            files,
            author,
            message,
            on_top_of,
            edits,
        },
    )?;
    if let Some(mirror) = &desk.mirror {
        if let Err(e) = mirror.push_proposal(branch, commit) {
            // The mirror shows the remote: put the branch back as it was there.
            let name = format!("refs/heads/{branch}");
            match before {
                Some(old) => {
                    let _ = repo.reference(&name, old, true, "oshirase: push refused");
                }
                None => {
                    if let Ok(mut r) = repo.find_reference(&name) {
                        let _ = r.delete();
                    }
                }
            }
            return Err(e.into());
        }
    }
    Ok(commit)
}

fn write_refusal(e: WriteError) -> warp::reply::Response {
    match &e {
        WriteError::Propose(ProposeError::BranchExists(_))
        | WriteError::Propose(ProposeError::FileExists { .. }) => {
            field_error(StatusCode::CONFLICT, "title", e.to_string())
        }
        WriteError::Propose(ProposeError::Moved { .. }) => {
            field_error(StatusCode::CONFLICT, "commit", e.to_string())
        }
        WriteError::Propose(ProposeError::NoBranch(_)) => {
            error_reply(StatusCode::NOT_FOUND, e.to_string())
        }
        WriteError::Propose(ProposeError::OutsidePosts(_)) => {
            field_error(StatusCode::BAD_REQUEST, "images", e.to_string())
        }
        WriteError::Push(PushError::Refused { .. }) => {
            field_error(StatusCode::CONFLICT, "title", e.to_string())
        }
        WriteError::Push(_) | WriteError::Fetch(_) => {
            tracing::error!("proposal: {e}");
            error_reply(StatusCode::BAD_GATEWAY, e.to_string())
        }
        WriteError::Propose(_) => internal("writing the proposal", Some(e.to_string())),
    }
}

/// The pull request's description: the file, and what each network will receive.
fn description(draft: &Draft, preview: &Preview, lang: Lang) -> String {
    let (heading, by) = match lang {
        Lang::Ja => ("各ネットワークに送られる本文", "oshirase のデスクで作成"),
        Lang::En => (
            "What each network will receive",
            "Written on the oshirase desk",
        ),
    };
    let mut out = format!("`{}` — {by}\n\n## {heading}\n", preview.file.path);
    for post in &preview.report.posts {
        for n in &post.networks {
            out.push_str(&format!(
                "\n### {} ({} / {})\n\n",
                n.network, n.length, n.limit
            ));
            for line in n.text.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
        if !post.images.is_empty() {
            out.push_str(&format!("\n{} image(s)\n", post.images.len()));
        }
    }
    if draft
        .publish_at
        .as_deref()
        .is_none_or(|a| a.trim().is_empty())
    {
        out.push_str(match lang {
            Lang::Ja => "\n承認され次第送信します。\n",
            Lang::En => "\nGoes out as soon as it is approved.\n",
        });
    }
    out
}

/// Every open proposal, without those sent back or withdrawn (a remote's branch stays on
/// the forge, hidden while it is at the commit that was set aside).
async fn open_proposals(
    state: &AppState,
    desk: &Arc<DeskRepo>,
) -> Result<Vec<OpenProposal>, warp::reply::Response> {
    let found = {
        let desk = desk.clone();
        tokio::task::spawn_blocking(move || {
            let repo = propose::open(&desk.repo)?;
            propose::open_proposals(&repo, &desk.publish_branch, &desk.content_dir)
        })
        .await
    };
    let all = match found {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(internal("listing proposals", Some(e.to_string()))),
        Err(e) => return Err(internal("listing proposals", Some(e.to_string()))),
    };
    let aside = blocking(state, crate::web::approvals::set_aside).await?;
    Ok(all
        .into_iter()
        .filter(|p| !aside.iter().any(|(b, c)| *b == p.branch && *c == p.commit))
        .collect())
}

/// The open proposal of an id, or the answer for why there is none.
pub(crate) async fn find_proposal(
    state: &AppState,
    desk: &Arc<DeskRepo>,
    id: &str,
) -> Result<OpenProposal, warp::reply::Response> {
    let Some(branch) = branch_of(id) else {
        return Err(field_error(
            StatusCode::BAD_REQUEST,
            "id",
            "not a proposal's id",
        ));
    };
    open_proposals(state, desk)
        .await?
        .into_iter()
        .find(|p| p.branch == branch)
        .ok_or_else(|| {
            error_reply(
                StatusCode::NOT_FOUND,
                "no open proposal has this id (it may have been merged, sent back or withdrawn)",
            )
        })
}

async fn open(id: String, state: AppState, headers: HeaderMap, peer: Option<ClientAddr>) -> Reply {
    Ok(opening(id, state, headers, peer)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn opening(
    id: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> Result<warp::reply::Response, warp::reply::Response> {
    let (desk, signed) = reader(&state, &headers, peer)?;
    let p = find_proposal(&state, &desk, &id).await?;
    let Some(file) = p.posts.first().cloned() else {
        return Err(error_reply(
            StatusCode::NOT_FOUND,
            "this proposal holds no post",
        ));
    };
    let read = {
        let (desk, commit, file) = (desk.clone(), p.commit.clone(), file.clone());
        tokio::task::spawn_blocking(move || draft_at(&desk, &commit, &file)).await
    };
    match read {
        Ok(Ok(draft)) => Ok(json_reply(
            StatusCode::OK,
            &json!({
                "id": id_of(&p.branch),
                "branch": p.branch,
                "commit": p.commit,
                "file": file,
                "mine": is_mine(&p, signed.as_ref().map(|s| s.person.email.as_str())),
                "draft": draft,
            }),
        )),
        Ok(Err(e)) => Ok(draft_refusal(e)),
        Err(e) => Ok(internal("reading the proposal", Some(e.to_string()))),
    }
}

/// Why a post file cannot open in the desk, naming the field (or the file).
pub(crate) fn draft_refusal(e: DraftAtError) -> warp::reply::Response {
    let field = match &e {
        DraftAtError::Draft(e) => e.field.clone(),
        _ => "file".to_string(),
    };
    field_error(StatusCode::UNPROCESSABLE_ENTITY, &field, e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DraftAtError {
    #[error(transparent)]
    Git(#[from] ProposeError),
    #[error("{0} is not on the branch")]
    Missing(String),
    #[error("{0} does not parse as a post; fix it in the repository")]
    Broken(String),
    #[error(transparent)]
    Draft(#[from] crate::content::draft::DraftError),
}

/// A post file on a branch as the desk's draft, images read from the same commit.
pub(crate) fn draft_at(desk: &DeskRepo, commit: &str, file: &str) -> Result<Draft, DraftAtError> {
    let repo = propose::open(&desk.repo)?;
    let oid = Oid::from_str(commit).map_err(ProposeError::from)?;
    let bytes = propose::read_file(&repo, oid, &desk.content_dir, file)?
        .ok_or_else(|| DraftAtError::Missing(file.to_string()))?;
    let shown = propose::repo_path(&desk.content_dir, file);
    let Parsed::Post(post) = parse_at(&shown, file, &bytes) else {
        return Err(DraftAtError::Broken(shown));
    };
    let mut images = Vec::new();
    for image in &post.images {
        let path = resolve_relative(file, &image.path)
            .map_err(|_| DraftAtError::Missing(image.path.clone()))?;
        let bytes = propose::read_file(&repo, oid, &desk.content_dir, &path)?
            .ok_or_else(|| DraftAtError::Missing(path.clone()))?;
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        images.push((name, image.alt.clone().unwrap_or_default(), bytes));
    }
    Ok(Draft::from_post(&post, images)?)
}

async fn update(
    id: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Reply {
    Ok(updating(id, state, headers, peer, body)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn updating(
    id: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Result<warp::reply::Response, warp::reply::Response> {
    let (desk, signed) = who(&state, &headers, peer)?;
    let draft = parse_draft(&headers, &body)?;
    let _one_at_a_time = desk.writing.lock().await;
    let p = find_proposal(&state, &desk, &id).await?;
    if !p.author.email.eq_ignore_ascii_case(&signed.person.email) {
        return Err(field_error(
            StatusCode::FORBIDDEN,
            "branch",
            format!(
                "{} is {}'s proposal; only they can change it",
                p.branch, p.author.name
            ),
        ));
    }
    // `If-Match: <commit>`: the tip the browser's draft was opened from.
    let expected = match headers.get(header::IF_MATCH).map(|v| v.to_str()) {
        None => p.commit.clone(),
        Some(Ok(v)) => v.trim().trim_matches('"').to_string(),
        Some(Err(_)) => {
            return Err(field_error(
                StatusCode::BAD_REQUEST,
                "If-Match",
                "not a commit",
            ))
        }
    };
    let Ok(expected) = Oid::from_str(&expected) else {
        return Err(field_error(
            StatusCode::BAD_REQUEST,
            "If-Match",
            "not a commit",
        ));
    };
    let Some(file) = p.posts.first().cloned() else {
        return Err(error_reply(
            StatusCode::NOT_FOUND,
            "this proposal holds no post",
        ));
    };
    let (draft, preview) = checked_draft(&state, &headers, draft, Some(file)).await?;
    let commit = write(
        &desk,
        &p.branch,
        &preview.file,
        &signed,
        &draft,
        Some(expected),
        false,
    )
    .await?;
    let key = url_key(&p.branch);
    let stored = blocking(&state, move |s| s.meta(&key)).await?;
    if let (Some(api), Some(number)) = (&desk.forge_api, stored.as_deref().and_then(pr_number)) {
        // The new commit is on the pull request already; its description is brought up
        // to date so the reviewer reads the preview of what is there now.
        let description = description(&draft, &preview, lang_of(&headers));
        let title = draft.title.trim();
        if let Err(e) = api.update(&desk.http, number, title, &description).await {
            tracing::warn!("updating the pull request of {}: {e}", p.branch);
        }
    }
    let url = stored.or_else(|| compare_url(&desk, &p.branch));
    tracing::info!("{} updated {}", signed.person.email, p.branch);
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "branch": p.branch,
            "commit": commit.to_string(),
            "file": preview.file.path,
            "url": url,
        }),
    ))
}
