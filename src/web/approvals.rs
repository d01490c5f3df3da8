//! The supervisor's side of the desk: each open proposal reviewed (its posts checked as the
//! pull-request check would, who may approve it and why not), and the decisions on it —
//! `POST /api/proposals/<id>/approve` (`{"commit"}`: the tip the approver saw),
//! `/return` (`{"reason"}`) and `/withdraw` (by its proposer).
//!
//! Approving is a merge commit on the publish branch authored by the approver
//! (`git::approve`), so sync judges it exactly as a forge's merge: the rules checked here
//! (role, the account's approver list, four eyes) only spare a person a merge that sync
//! would hold. Sending back and withdrawing keep the branch under `refs/oshirase/…`.
//! Every decision is an audit event whose actor is the signed-in person.

use std::convert::Infallible;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use git2::Oid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use warp::http::{header, HeaderMap, StatusCode};
use warp::Filter;

use crate::content::config::{Approval, RepoConfig, CONFIG_FILE};
use crate::content::count::ImageType;
use crate::content::draft::DraftFile;
use crate::content::i18n::Lang;
use crate::content::post::{parse_at, ImageRef, Parsed};
use crate::content::source::resolve_relative;
use crate::git::approve::{self, ApproveError, Merge};
use crate::git::propose::{self, Author, OpenProposal};
use crate::model::event::EventKind;
use crate::model::records::{Actor, NewEvent};
use crate::web::auth::people::{PersonRecord, Role};
use crate::web::auth::SignedIn;
use crate::web::desk::{check_file, config_in_force, lang_of};
use crate::web::http_server::ClientAddr;
use crate::web::proposals::{
    find_proposal, id_of, internal, url_key, who, DeskRepo, ProposalReply,
};
use crate::web::reply::{blocking, error_reply, field_error, is_json, json_reply, not_json};
use crate::web::state::AppState;

/// Longest reason for sending a proposal back.
const MAX_REASON_CHARS: usize = 2000;
/// The meta keys of proposals sent back or withdrawn: `set_aside:<branch>` holds the
/// commit (a remote's branch stays on the forge and is hidden while it is at that commit);
/// `returned:<branch>:<commit>` the note shown to the proposer.
const SET_ASIDE_KEY: &str = crate::store::meta::SET_ASIDE_PREFIX;
const RETURNED_KEY: &str = "returned:";

type Reply = Result<warp::reply::Response, Infallible>;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_state = warp::any().map(move || state.clone());
    let person = warp::header::headers_cloned().and(warp::ext::optional::<ClientAddr>());
    let decisions = warp::path!("api" / "proposals" / String / String)
        .and(warp::post())
        .and(with_state.clone())
        .and(person)
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::bytes())
        .and_then(decide);
    let images = warp::path!("api" / "proposals" / String / "images" / String)
        .and(warp::get())
        .and(with_state)
        .and(person)
        .and_then(image);
    decisions.or(images).unify()
}

/// `GET /api/proposals/<id>/images/<blob>`: an image one of the proposal's posts names, at
/// the proposal's tip, for the reviewer. Any other blob (another file of the branch, an
/// image of another proposal, an earlier version) is 404, so this reads nothing but what the
/// review shows; and only bytes that are one of the image types the networks take are sent.
async fn image(
    id: String,
    blob: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> Reply {
    Ok(showing_image(id, blob, state, headers, peer)
        .await
        .unwrap_or_else(|refused| refused))
}

async fn showing_image(
    id: String,
    blob: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
) -> ProposalReply {
    let not_found = || {
        error_reply(
            StatusCode::NOT_FOUND,
            "no image of this proposal has this id",
        )
    };
    // A full id only: git2 would take a prefix.
    if blob.len() != 40 && blob.len() != 64 {
        return Err(not_found());
    }
    let Ok(wanted) = Oid::from_str(&blob) else {
        return Err(not_found());
    };
    let (desk, _) = crate::web::proposals::reader(&state, &headers, peer)?;
    let p = find_proposal(&state, &desk, &id).await?;
    let found = tokio::task::spawn_blocking(move || proposal_image(&desk, &p, wanted)).await;
    let (kind, bytes) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return Err(not_found()),
        Ok(Err(e)) => return Err(internal("reading the image", Some(e.to_string()))),
        Err(e) => return Err(internal("reading the image", Some(e.to_string()))),
    };
    let mut response = warp::reply::Response::new(bytes.into());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(kind.mime()),
    );
    // A blob id names its content for ever, but only signed-in readers may see it.
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    Ok(response)
}

/// The bytes of `wanted` when it is an image one of the proposal's posts names at its tip
/// and one of the types the networks take (blocking: it reads git).
fn proposal_image(
    desk: &DeskRepo,
    p: &OpenProposal,
    wanted: Oid,
) -> Result<Option<(ImageType, Vec<u8>)>, propose::ProposeError> {
    let repo = propose::open(&desk.repo)?;
    let tip = Oid::from_str(&p.commit)?;
    for file in &p.posts {
        let Some(bytes) = propose::read_file(&repo, tip, &desk.content_dir, file)? else {
            continue;
        };
        let shown = propose::repo_path(&desk.content_dir, file);
        let Parsed::Post(post) = parse_at(&shown, file, &bytes) else {
            continue;
        };
        for (path, _) in image_paths(file, &post.images) {
            if propose::file_blob(&repo, tip, &desk.content_dir, &path)? != Some(wanted) {
                continue;
            }
            let Some(bytes) = propose::read_file(&repo, tip, &desk.content_dir, &path)? else {
                continue;
            };
            return Ok(ImageType::sniff(&bytes).map(|kind| (kind, bytes)));
        }
    }
    Ok(None)
}

/// A post's images with their paths from the content directory; one whose path leaves it
/// is skipped (the check names it).
fn image_paths<'a>(
    file: &'a str,
    images: &'a [ImageRef],
) -> impl Iterator<Item = (String, &'a ImageRef)> + 'a {
    images
        .iter()
        .filter_map(move |image| Some((resolve_relative(file, &image.path).ok()?, image)))
}

/// One post of a proposal as the reviewer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PostReview {
    pub file: String,
    pub id: String,
    pub title: String,
    /// The account the post names (or the default one).
    pub account: Option<String>,
    pub department: Option<String>,
    pub publish_at: Option<DateTime<Utc>>,
    /// Its time has already passed: approved now, it goes out late or is missed.
    pub past: bool,
    /// Its time comes before an approval is likely (see [`expected_wait`]), or has passed.
    pub late: bool,
    /// The preview's answer: `{"file","errors","warnings","networks","slot"}`.
    pub preview: Value,
    pub images: Vec<ReviewImage>,
}

/// An image of a proposed post, for the reviewer to see with its alternative text: served
/// by `GET /api/proposals/<id>/images/<blob>` while the proposal is open.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewImage {
    /// From the content directory.
    pub path: String,
    pub alt: Option<String>,
    /// `None` when the file is not an image a network takes (the check says so).
    pub mime: Option<String>,
    pub size: u64,
    pub blob: String,
}

/// A proposal reviewed for one reader.
pub struct Review {
    pub posts: Vec<PostReview>,
    /// Why the reader may not approve it (`None`: they may).
    pub refusal: Option<String>,
}

/// The configuration a decision is judged by: the one in force (from the store) and the
/// publish branch's own (what sync reads as "before the merge").
pub struct Rules {
    pub in_force: Option<RepoConfig>,
    pub on_branch: Option<RepoConfig>,
    pub config_text: String,
}

/// Reads the rules for a review (blocking: it reads git).
pub fn rules(desk: &DeskRepo, config_text: String) -> Result<Rules, propose::ProposeError> {
    let repo = propose::open(&desk.repo)?;
    let on_branch = propose::tip(&repo, &desk.publish_branch)
        .ok()
        .and_then(|tip| {
            propose::read_file(&repo, tip, &desk.content_dir, CONFIG_FILE)
                .ok()
                .flatten()
        })
        .and_then(|bytes| RepoConfig::parse(CONFIG_FILE, &String::from_utf8_lossy(&bytes)).ok());
    Ok(Rules {
        in_force: RepoConfig::parse(CONFIG_FILE, &config_text).ok(),
        on_branch,
        config_text,
    })
}

/// Each post of the proposal checked as the pull-request check would (blocking).
pub fn review_posts(
    desk: &DeskRepo,
    p: &OpenProposal,
    rules: &Rules,
    lang: Lang,
    now: DateTime<Utc>,
    wait: chrono::Duration,
) -> Result<Vec<PostReview>, propose::ProposeError> {
    let repo = propose::open(&desk.repo)?;
    let tip = Oid::from_str(&p.commit)?;
    let mut out = Vec::new();
    for file in &p.posts {
        let Some(bytes) = propose::read_file(&repo, tip, &desk.content_dir, file)? else {
            continue;
        };
        let shown = propose::repo_path(&desk.content_dir, file);
        let parsed = parse_at(&shown, file, &bytes);
        let mut images = Vec::new();
        let mut shown_images = Vec::new();
        let mut account = None;
        if let Parsed::Post(post) = &parsed {
            account = post.account.clone();
            for (path, image) in image_paths(file, &post.images) {
                let blob = propose::file_blob(&repo, tip, &desk.content_dir, &path)?;
                let read = propose::read_file(&repo, tip, &desk.content_dir, &path)?;
                if let (Some(blob), Some(bytes)) = (blob, read) {
                    shown_images.push(ReviewImage {
                        path: path.clone(),
                        alt: image.alt.clone(),
                        mime: ImageType::sniff(&bytes).map(|t| t.mime().to_string()),
                        size: bytes.len() as u64,
                        blob: blob.to_string(),
                    });
                    images.push((path, bytes));
                }
            }
        }
        let draft_file = DraftFile {
            path: file.clone(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
            images,
        };
        let report = match check_file(&draft_file, &rules.config_text, now) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("reviewing {shown} on {}: {e}", p.branch);
                continue;
            }
        };
        let answer = crate::check::output::json(&report, lang);
        let first = report.posts.first();
        let account = account.or_else(|| {
            rules
                .in_force
                .as_ref()
                .and_then(|c| c.account(None).ok().map(|a| a.name.clone()))
        });
        let publish_at = first.and_then(|f| f.publish_at);
        out.push(PostReview {
            file: file.clone(),
            id: first.map_or_else(|| crate::content::post::default_id(file), |f| f.id.clone()),
            title: first.map_or_else(|| p.title.clone(), |f| f.title.clone()),
            account,
            department: first.and_then(|f| f.department.clone()),
            publish_at,
            past: publish_at.is_some_and(|t| t <= now),
            late: publish_at.is_some_and(|t| t <= now + wait),
            preview: json!({
                "file": file,
                "errors": answer["errors"],
                "warnings": answer["warnings"],
                "networks": first.map(|f| &f.networks),
                "slot": first.and_then(|f| f.slot.as_ref()),
            }),
            images: shown_images,
        });
    }
    Ok(out)
}

/// What an approver does with a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// Sending back is an approver's act by the same rules as approving, except that a
    /// post's problems are a good reason to send it back rather than a bar.
    SendBack,
}

/// Why `me` may not decide so on the proposal, or `None` when they may. The same rules
/// sync applies to the merge (`sync::approval::approval_hold`), asked before it is made.
pub fn refusal(
    me: &PersonRecord,
    p: &OpenProposal,
    posts: &[PostReview],
    rules: &Rules,
    lang: Lang,
    decision: Decision,
) -> Option<String> {
    let ja = lang == Lang::Ja;
    let email = me.email.to_lowercase();
    if me.role == Role::Staff {
        return Some(if ja {
            "承認できるのは承認者と管理者です".into()
        } else {
            "only approvers and admins approve; your role is staff".into()
        });
    }
    if p.authors.contains(&email) {
        return Some(if ja {
            "この提案にはあなたのコミットがあります。別の承認者が承認します（4つの目の原則）".into()
        } else {
            "you wrote a commit of this proposal; another approver must approve it (four eyes)"
                .into()
        });
    }
    let bars = decision == Decision::Approve;
    if let Some(post) = posts.iter().find(|p| bars && has_errors(&p.preview)) {
        return Some(if ja {
            format!("{} に問題があり、このままでは送信されません", post.file)
        } else {
            format!("{} has problems and would not be published", post.file)
        });
    }
    let Some(in_force) = &rules.in_force else {
        return Some("no oshirase.yaml is in force yet".into());
    };
    for post in posts {
        let Ok(account) = in_force.account(post.account.as_deref()) else {
            continue; // an unknown account is one of the post's errors
        };
        if let Approval::Merge { approvers } = &account.approval {
            let before = rules
                .on_branch
                .as_ref()
                .and_then(|c| c.accounts.get(&account.name))
                .is_some_and(|a| {
                    matches!(&a.approval, Approval::Merge { approvers } if approvers.contains(&email))
                });
            if !approvers.contains(&email) || !before {
                return Some(if ja {
                    format!(
                        "あなたはアカウント「{}」の承認者ではありません",
                        account.name
                    )
                } else {
                    format!("you are not an approver of account `{}`", account.name)
                });
            }
        }
    }
    None
}

fn has_errors(preview: &Value) -> bool {
    preview["errors"].as_array().is_some_and(|e| !e.is_empty())
}

/// The branches sent back or withdrawn, with the commit each was at (a remote's branch
/// stays on the forge and is hidden while it is still there).
pub fn set_aside(
    store: &crate::store::Store,
) -> Result<Vec<(String, String)>, crate::store::StoreError> {
    Ok(store
        .meta_with_prefix(SET_ASIDE_KEY)?
        .into_iter()
        .map(|(k, v)| (k[SET_ASIDE_KEY.len()..].to_string(), v))
        .collect())
}

/// A proposal sent back or withdrawn, as its proposer is told.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Returned {
    pub branch: String,
    pub commit: String,
    pub title: String,
    pub proposer: String,
    /// `returned` or `withdrawn`.
    pub kind: String,
    pub reason: String,
    pub by: String,
    pub by_name: String,
    pub at: DateTime<Utc>,
    /// Where the branch is kept.
    pub kept: String,
}

/// The notes of proposals sent back, newest first.
pub fn returned(store: &crate::store::Store) -> Result<Vec<Returned>, crate::store::StoreError> {
    let mut all: Vec<Returned> = store
        .meta_with_prefix(RETURNED_KEY)?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_str(&v).ok())
        .collect();
    all.sort_by_key(|r| std::cmp::Reverse(r.at));
    Ok(all)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    commit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    reason: String,
    #[serde(default)]
    commit: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn decide(
    id: String,
    action: String,
    state: AppState,
    headers: HeaderMap,
    peer: Option<ClientAddr>,
    body: warp::hyper::body::Bytes,
) -> Reply {
    let answer = match action.as_str() {
        "approve" => approving(id, &state, &headers, peer, &body).await,
        "return" | "withdraw" => setting_aside(id, &action, &state, &headers, peer, &body).await,
        _ => Err(error_reply(
            StatusCode::NOT_FOUND,
            "a proposal is approved, returned or withdrawn",
        )),
    };
    Ok(answer.unwrap_or_else(|refused| refused))
}

#[allow(clippy::result_large_err)] // the refusal is the reply, made once per request
fn body_of<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<T>, warp::reply::Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !is_json(headers) {
        return Err(not_json());
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, format!("the request: {e}")))
}

fn missing(field: &str, what: &str) -> warp::reply::Response {
    field_error(
        StatusCode::BAD_REQUEST,
        field,
        format!("{field}: give {what}"),
    )
}

#[allow(clippy::result_large_err)]
fn commit_of(field: &str, value: &str) -> Result<Oid, warp::reply::Response> {
    let plain = value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit());
    match Oid::from_str(value) {
        Ok(oid) if plain => Ok(oid),
        _ => Err(field_error(
            StatusCode::BAD_REQUEST,
            field,
            format!("{field}: not a full commit id"),
        )),
    }
}

/// The proposal, reviewed for the signed-in person, under the desk's lock.
async fn reviewed(
    state: &AppState,
    desk: &Arc<DeskRepo>,
    id: &str,
    signed: &SignedIn,
    lang: Lang,
) -> Result<(OpenProposal, Review, Rules), warp::reply::Response> {
    let p = find_proposal(state, desk, id).await?;
    let config_text = config_in_force(state).await?;
    let (desk, me, p2) = (desk.clone(), signed.person.clone(), p.clone());
    let done = tokio::task::spawn_blocking(move || {
        let rules = rules(&desk, config_text)?;
        let posts = review_posts(
            &desk,
            &p2,
            &rules,
            lang,
            Utc::now(),
            chrono::Duration::zero(),
        )?;
        let refusal = refusal(&me, &p2, &posts, &rules, lang, Decision::Approve);
        Ok::<_, propose::ProposeError>((Review { posts, refusal }, rules))
    })
    .await;
    match done {
        Ok(Ok((review, rules))) => Ok((p, review, rules)),
        Ok(Err(e)) => Err(internal("reviewing the proposal", Some(e.to_string()))),
        Err(e) => Err(internal("reviewing the proposal", Some(e.to_string()))),
    }
}

async fn approving(
    id: String,
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
    body: &[u8],
) -> ProposalReply {
    let (desk, signed) = who(state, headers, peer)?;
    let lang = lang_of(headers);
    let Some(asked) = body_of::<ApproveBody>(headers, body)? else {
        return Err(missing("commit", "the commit you reviewed"));
    };
    let seen = commit_of("commit", &asked.commit)?;
    if signed.person.role == Role::Staff {
        return Err(error_reply(
            StatusCode::FORBIDDEN,
            "only approvers and admins approve proposals; your role is staff",
        ));
    }
    if desk.mirror.is_some() {
        return Err(error_reply(
            StatusCode::CONFLICT,
            "this repository is the forge's: approve the pull request on the forge",
        ));
    }
    let _one_at_a_time = desk.writing.lock().await;
    let (p, review, _) = reviewed(state, &desk, &id, &signed, lang).await?;
    if let Some(why) = review.refusal {
        return Err(error_reply(StatusCode::FORBIDDEN, why));
    }
    let approver = Author {
        name: signed.person.name.clone(),
        email: signed.person.email.clone(),
    };
    let message = format!(
        "Merge {}: {}\n\nApproved on the oshirase desk by {} <{}>.\nProposed by {} <{}>.",
        p.branch, p.title, approver.name, approver.email, p.author.name, p.author.email
    );
    let branch = p.branch.clone();
    let merge = git_step(&desk, "approving", move |repo, desk| {
        approve::merge(
            repo,
            &Merge {
                branch: &branch,
                seen,
                publish_branch: &desk.publish_branch,
                approver: &approver,
                message: &message,
            },
        )
    })
    .await?;
    let events = decision_events(
        &review.posts,
        EventKind::ProposalApproved,
        &signed.person.email,
        vec![p.author.email.clone()],
        &format!(
            "{} approved {} (proposed by {}) on the desk: merge {}",
            signed.person.email,
            p.branch,
            p.author.email,
            &merge.to_string()[..8]
        ),
    );
    let waited = Utc::now() - p.updated;
    blocking(state, move |s| {
        s.record(events, &[])?;
        remember_wait(s, waited)
    })
    .await?;
    // Sync at once, as after a forge's push hook: the merge is on the branch now.
    let _ = state.hooks.sync_now.try_send(());
    tracing::info!("{} approved {} as {merge}", signed.person.email, p.branch);
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "id": id_of(&p.branch),
            "branch": p.branch,
            "merge": merge.to_string(),
            "publish_branch": desk.publish_branch,
        }),
    ))
}

async fn setting_aside(
    id: String,
    action: &str,
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<ClientAddr>,
    body: &[u8],
) -> ProposalReply {
    let (desk, signed) = who(state, headers, peer)?;
    let lang = lang_of(headers);
    let withdrawing = action == "withdraw";
    let (reason, commit) = if withdrawing {
        let b = body_of::<WithdrawBody>(headers, body)?.unwrap_or_default();
        (b.reason.unwrap_or_default(), b.commit)
    } else {
        let Some(b) = body_of::<ReturnBody>(headers, body)? else {
            return Err(missing("reason", "why it goes back"));
        };
        (b.reason, b.commit)
    };
    let reason = reason.trim().to_string();
    if !withdrawing && reason.is_empty() {
        return Err(field_error(
            StatusCode::BAD_REQUEST,
            "reason",
            "reason: say why it goes back, so its proposer can fix it",
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS
        || reason.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(field_error(
            StatusCode::BAD_REQUEST,
            "reason",
            format!("reason: at most {MAX_REASON_CHARS} characters of plain text"),
        ));
    }
    let seen = match commit.as_deref() {
        Some(c) => Some(commit_of("commit", c)?),
        None => None,
    };
    let _one_at_a_time = desk.writing.lock().await;
    let (p, review, rules) = reviewed(state, &desk, &id, &signed, lang).await?;
    let me = signed.person.email.to_lowercase();
    let mine = p.author.email.eq_ignore_ascii_case(&me);
    if withdrawing && !mine {
        return Err(error_reply(
            StatusCode::FORBIDDEN,
            format!(
                "only its proposer, {}, withdraws a proposal",
                p.author.email
            ),
        ));
    }
    if !withdrawing {
        let me = &signed.person;
        if let Some(why) = refusal(me, &p, &review.posts, &rules, lang, Decision::SendBack) {
            return Err(error_reply(StatusCode::FORBIDDEN, why));
        }
    }
    let tip = Oid::from_str(&p.commit)
        .map_err(|e| internal("reading the proposal", Some(e.to_string())))?;
    let seen = seen.unwrap_or(tip);
    let branch = p.branch.clone();
    let kept = git_step(&desk, "setting the proposal aside", move |repo, desk| {
        if desk.mirror.is_none() {
            return approve::set_aside(repo, &branch, seen);
        }
        // The branch is the forge's: keep a copy, and hide it while it is unchanged.
        if seen != tip {
            return Err(ApproveError::Changed {
                branch,
                seen: seen.to_string()[..8].to_string(),
                now: tip.to_string()[..8].to_string(),
            });
        }
        approve::keep_copy(repo, &branch, tip)
    })
    .await?;
    let note = Returned {
        branch: p.branch.clone(),
        commit: p.commit.clone(),
        title: p.title.clone(),
        proposer: p.author.email.clone(),
        kind: if withdrawing { "withdrawn" } else { "returned" }.into(),
        reason: reason.clone(),
        by: signed.person.email.clone(),
        by_name: signed.person.name.clone(),
        at: Utc::now(),
        kept: kept.clone(),
    };
    let (kind, verb) = if withdrawing {
        (EventKind::ProposalWithdrawn, "withdrew")
    } else {
        (EventKind::ProposalReturned, "sent back")
    };
    let because = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    let events = decision_events(
        &review.posts,
        kind,
        &signed.person.email,
        // The proposer hears that it came back; a withdrawal is their own act.
        if withdrawing {
            Vec::new()
        } else {
            vec![p.author.email.clone()]
        },
        &format!(
            "{} {verb} {}{because}; kept as {kept}",
            signed.person.email, p.branch
        ),
    );
    let note_key = format!("{RETURNED_KEY}{}:{}", p.branch, p.commit);
    let note_text = serde_json::to_string(&note).unwrap_or_default();
    let hide_key = format!("{SET_ASIDE_KEY}{}", p.branch);
    let commit_text = p.commit.clone();
    blocking(state, move |s| {
        s.record(
            events,
            &[(&note_key, &note_text), (&hide_key, &commit_text)],
        )
    })
    .await?;
    let commented = comment_on_request(state, &desk, &p.branch, &note, lang).await;
    tracing::info!("{} {verb} {}", signed.person.email, p.branch);
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "id": id_of(&p.branch),
            "branch": p.branch,
            "kept": kept,
            "commented": commented,
        }),
    ))
}

/// How long an approval is taken to need before anyone has approved on the desk.
const FIRST_GUESS_OF_WAIT: chrono::Duration = chrono::Duration::hours(1);
/// How many recent approvals the guess is made from.
const WAITS_KEPT: usize = 20;
/// The meta key of the recent waits, in seconds (JSON), newest last.
const WAITS_KEY: &str = "approval_waits";

/// How long a proposal here usually waits for its approval: the median of the last
/// approvals on the desk (from its last commit to the merge), or an hour until there have
/// been three.
pub fn expected_wait(
    store: &crate::store::Store,
) -> Result<chrono::Duration, crate::store::StoreError> {
    let mut waits = recent_waits(store)?;
    if waits.len() < 3 {
        return Ok(FIRST_GUESS_OF_WAIT);
    }
    waits.sort_unstable();
    Ok(chrono::Duration::seconds(waits[waits.len() / 2]))
}

fn recent_waits(store: &crate::store::Store) -> Result<Vec<i64>, crate::store::StoreError> {
    Ok(store
        .meta(WAITS_KEY)?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Adds one approval's wait to those [`expected_wait`] reads.
fn remember_wait(
    store: &crate::store::Store,
    waited: chrono::Duration,
) -> Result<(), crate::store::StoreError> {
    let mut waits = recent_waits(store)?;
    waits.push(waited.num_seconds().max(0));
    let drop = waits.len().saturating_sub(WAITS_KEPT);
    waits.drain(..drop);
    let text = serde_json::to_string(&waits).unwrap_or_else(|_| "[]".into());
    store.set_meta(&[(WAITS_KEY, &text)])
}

/// One audit event per post of the proposal for a decision a signed-in person made.
fn decision_events(
    posts: &[PostReview],
    kind: EventKind,
    by: &str,
    notify: Vec<String>,
    detail: &str,
) -> Vec<NewEvent> {
    posts
        .iter()
        .map(|post| NewEvent {
            actor: Actor::Desk(by.to_string()),
            notify: notify.clone(),
            ..NewEvent::service(&post.id, kind, None, detail.to_string())
        })
        .collect()
}

/// Runs a git step of a decision off the async runtime: a refusal (the branch moved, a
/// conflict) is told to the person as a 409, a failure of git itself goes to the log.
async fn git_step<T: Send + 'static>(
    desk: &Arc<DeskRepo>,
    what: &'static str,
    step: impl FnOnce(&git2::Repository, &DeskRepo) -> Result<T, ApproveError> + Send + 'static,
) -> Result<T, warp::reply::Response> {
    let desk = desk.clone();
    let done = tokio::task::spawn_blocking(move || {
        let repo = propose::open(&desk.repo).map_err(|e| Err(e.to_string()))?;
        step(&repo, &desk).map_err(|e| match e {
            ApproveError::Git(g) => Err(g.to_string()),
            refused => Ok(refused.to_string()),
        })
    })
    .await;
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Ok(refused))) => Err(error_reply(StatusCode::CONFLICT, refused)),
        Ok(Err(Err(failed))) => Err(internal(what, Some(failed))),
        Err(e) => Err(internal(what, Some(e.to_string()))),
    }
}

/// Posts the reason on the pull request, where a forge API is configured and the desk
/// opened one; whether it was posted.
async fn comment_on_request(
    state: &AppState,
    desk: &DeskRepo,
    branch: &str,
    note: &Returned,
    lang: Lang,
) -> bool {
    let Some(api) = &desk.forge_api else {
        return false;
    };
    let key = url_key(branch);
    let Ok(Some(url)) = blocking(state, move |s| s.meta(&key)).await else {
        return false;
    };
    let Some(number) = url.rsplit('/').next().and_then(|n| n.parse::<u64>().ok()) else {
        return false;
    };
    let text = match (lang, note.kind.as_str()) {
        (Lang::Ja, "withdrawn") => format!(
            "{} さんが提案を取り下げました。{}",
            note.by_name, note.reason
        ),
        (Lang::Ja, _) => format!("{} さんが差し戻しました：{}", note.by_name, note.reason),
        (Lang::En, "withdrawn") => {
            format!("{} withdrew this proposal. {}", note.by_name, note.reason)
        }
        (Lang::En, _) => format!("{} sent this back: {}", note.by_name, note.reason),
    };
    match api.comment(&desk.http, number, text.trim()).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("commenting on {url}: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_wait_is_the_median_of_recent_approvals_after_three() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let minutes = chrono::Duration::minutes;
        assert_eq!(expected_wait(&store).unwrap(), FIRST_GUESS_OF_WAIT);
        remember_wait(&store, minutes(10)).unwrap();
        remember_wait(&store, minutes(240)).unwrap();
        assert_eq!(
            expected_wait(&store).unwrap(),
            FIRST_GUESS_OF_WAIT,
            "two are not enough"
        );
        remember_wait(&store, minutes(30)).unwrap();
        assert_eq!(expected_wait(&store).unwrap(), minutes(30));
        // Only the last WAITS_KEPT count: a slow start is forgotten.
        for _ in 0..WAITS_KEPT {
            remember_wait(&store, minutes(5)).unwrap();
        }
        assert_eq!(expected_wait(&store).unwrap(), minutes(5));
        assert_eq!(recent_waits(&store).unwrap().len(), WAITS_KEPT);
    }
}
