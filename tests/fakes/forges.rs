//! Fake GitHub, GitLab and Gitea APIs for opening a pull (merge) request, in-process on
//! 127.0.0.1. Each checks what the real API checks: its own authentication header (401
//! otherwise), the JSON body's shape (422 or 400 on a missing or mistyped field), that the
//! project exists (404), that the head branch exists in the git repository it fronts and
//! the base branch too (422), and that no open request already has the same head (422 on
//! GitHub, 409 on GitLab and Gitea). It answers 201 with the fields the documented API
//! answers (`html_url` and `number`; GitLab `web_url` and `iid`).
//!
//! Include it with `#[path = "fakes/forges.rs"] mod fake_forges;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::Filter;

pub const TOKEN: &str = "forge-fake-token-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
    Gitea,
}

#[derive(Debug, Clone)]
pub struct Opened {
    pub title: String,
    pub head: String,
    pub base: String,
    pub description: String,
}

struct State {
    kind: Kind,
    project: String,
    repo: PathBuf,
    opened: Vec<Opened>,
    /// Comments on pull requests: (number, text).
    comments: Vec<(u64, String)>,
    /// Reviews given on the forge: (number, user, state as the forge spells it).
    reviews: Vec<(u64, String, String)>,
    /// Title and description changes made to opened pull requests.
    edits: usize,
    requests: usize,
}

pub struct Fake {
    /// The API root to give `--forge-api`.
    pub api: String,
    state: Arc<Mutex<State>>,
}

/// A fake forge of `kind` whose project `project` (owner/name) is the git repository `repo`.
pub async fn start(kind: Kind, project: &str, repo: PathBuf) -> Fake {
    let state = Arc::new(Mutex::new(State {
        kind,
        project: project.to_string(),
        repo,
        opened: Vec::new(),
        comments: Vec::new(),
        reviews: Vec::new(),
        edits: 0,
        requests: 0,
    }));
    let shared = state.clone();
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |method: Method, path: warp::path::FullPath, headers: HeaderMap, body: Bytes| {
                handle(&shared, &method, path.as_str(), &headers, &body)
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake forge");
    let addr = listener.local_addr().expect("fake address");
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    let root = match kind {
        Kind::GitHub => "/api/v3",
        Kind::GitLab => "/api/v4",
        Kind::Gitea => "/api/v1",
    };
    Fake {
        api: format!("http://{addr}{root}"),
        state,
    }
}

impl Fake {
    pub fn opened(&self) -> Vec<Opened> {
        self.state.lock().unwrap().opened.clone()
    }

    pub fn comments(&self) -> Vec<(u64, String)> {
        self.state.lock().unwrap().comments.clone()
    }

    /// A reviewer's review on the forge (`APPROVED`, `CHANGES_REQUESTED`, …).
    pub fn review(&self, number: u64, user: &str, state: &str) {
        let mut s = self.state.lock().unwrap();
        s.reviews
            .push((number, user.to_string(), state.to_string()));
    }

    pub fn edits(&self) -> usize {
        self.state.lock().unwrap().edits
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}

fn answer(status: u16, body: Value) -> Response<String> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(body.to_string())
        .unwrap()
}

fn branch_exists(repo: &PathBuf, branch: &str) -> bool {
    Command::new("git")
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("refs/heads/{branch}"))
        .current_dir(repo)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn handle(
    state: &Arc<Mutex<State>>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (expected_path, authorised) = match s.kind {
        Kind::GitHub => (
            format!("/api/v3/repos/{}/pulls", s.project),
            header("authorization") == format!("Bearer {TOKEN}")
                && header("accept") == "application/vnd.github+json",
        ),
        Kind::GitLab => (
            format!(
                "/api/v4/projects/{}/merge_requests",
                s.project.replace('/', "%2F")
            ),
            header("private-token") == TOKEN,
        ),
        Kind::Gitea => (
            format!("/api/v1/repos/{}/pulls", s.project),
            header("authorization") == format!("token {TOKEN}"),
        ),
    };
    if !authorised {
        return answer(401, json!({ "message": "Bad credentials" }));
    }
    if method == Method::GET {
        if let Some(number) = reviews_of(&s, path) {
            return reviews(&s, number);
        }
    }
    if method == Method::POST {
        if let Some(number) = comment_on(&s, path) {
            return comment(&mut s, number, headers, body);
        }
    }
    let edits = match s.kind {
        Kind::GitLab => Method::PUT,
        _ => Method::PATCH,
    };
    if *method == edits {
        if let Some(number) = pull_request_of(&s, path, &expected_path) {
            return edit(&mut s, number, body);
        }
    }
    if method != Method::POST || path != expected_path {
        return answer(404, json!({ "message": "Not Found" }));
    }
    if !header("content-type").starts_with("application/json") {
        return answer(415, json!({ "message": "Unsupported Media Type" }));
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return answer(400, json!({ "message": "Problems parsing JSON" }));
    };
    let (head, base, desc) = match s.kind {
        Kind::GitLab => ("source_branch", "target_branch", "description"),
        _ => ("head", "base", "body"),
    };
    let text = |k: &str| v[k].as_str().map(str::to_string);
    let (Some(title), Some(head), Some(base)) = (text("title"), text(head), text(base)) else {
        return answer(
            422,
            json!({ "message": "Validation Failed", "errors": ["title, head and base are required"] }),
        );
    };
    if title.trim().is_empty() {
        return answer(422, json!({ "message": "Validation Failed: title" }));
    }
    if !branch_exists(&s.repo, &head) || !branch_exists(&s.repo, &base) {
        return answer(
            422,
            json!({ "message": "Validation Failed: head or base does not exist" }),
        );
    }
    if s.opened.iter().any(|o| o.head == head) {
        let status = if s.kind == Kind::GitHub { 422 } else { 409 };
        return answer(
            status,
            json!({ "message": format!("A pull request already exists for {head}") }),
        );
    }
    s.opened.push(Opened {
        title,
        head,
        base,
        description: text(desc).unwrap_or_default(),
    });
    let number = s.opened.len() as u64;
    let web = format!("https://forge.example/{}", s.project);
    match s.kind {
        Kind::GitLab => answer(
            201,
            json!({ "iid": number, "id": 1000 + number, "web_url": format!("{web}/-/merge_requests/{number}") }),
        ),
        _ => answer(
            201,
            json!({ "number": number, "id": 1000 + number, "html_url": format!("{web}/pulls/{number}") }),
        ),
    }
}

/// The pull request `{list}/{n}` names (`…/pulls/3`, `…/merge_requests/3`).
fn pull_request_of(s: &State, path: &str, list: &str) -> Option<u64> {
    let number: u64 = path.strip_prefix(list)?.strip_prefix('/')?.parse().ok()?;
    (number >= 1 && number as usize <= s.opened.len()).then_some(number)
}

/// A new title and description, as GitHub's and Gitea's PATCH and GitLab's PUT take them.
fn edit(s: &mut State, number: u64, body: &[u8]) -> Response<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return answer(400, json!({ "message": "Problems parsing JSON" }));
    };
    let key = if s.kind == Kind::GitLab {
        "description"
    } else {
        "body"
    };
    let pr = &mut s.opened[number as usize - 1];
    if let Some(title) = v["title"].as_str() {
        if title.trim().is_empty() {
            return answer(422, json!({ "message": "Validation Failed: title" }));
        }
        pr.title = title.to_string();
    }
    if let Some(text) = v[key].as_str() {
        pr.description = text.to_string();
    }
    s.edits += 1;
    answer(200, json!({ "number": number }))
}

/// The pull request a comment path names: GitHub's and Gitea's
/// `/repos/{p}/issues/{n}/comments`, GitLab's `/projects/{id}/merge_requests/{iid}/notes`.
fn comment_on(s: &State, path: &str) -> Option<u64> {
    let (prefix, suffix) = match s.kind {
        Kind::GitHub => (format!("/api/v3/repos/{}/issues/", s.project), "/comments"),
        Kind::Gitea => (format!("/api/v1/repos/{}/issues/", s.project), "/comments"),
        Kind::GitLab => (
            format!(
                "/api/v4/projects/{}/merge_requests/",
                s.project.replace('/', "%2F")
            ),
            "/notes",
        ),
    };
    path.strip_prefix(&prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

fn comment(s: &mut State, number: u64, headers: &HeaderMap, body: &[u8]) -> Response<String> {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return answer(415, json!({ "message": "Unsupported Media Type" }));
    }
    if number == 0 || number as usize > s.opened.len() {
        return answer(404, json!({ "message": "Not Found" }));
    }
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["body"].as_str().map(str::to_string))
        .filter(|t| !t.trim().is_empty());
    let Some(text) = text else {
        return answer(
            422,
            json!({ "message": "Validation Failed: body is required" }),
        );
    };
    s.comments.push((number, text));
    answer(201, json!({ "id": 5000 + s.comments.len() }))
}

/// The pull request a reviews path names: GitHub's and Gitea's
/// `/repos/{p}/pulls/{n}/reviews`, GitLab's `/projects/{id}/merge_requests/{iid}/approvals`.
fn reviews_of(s: &State, path: &str) -> Option<u64> {
    let (prefix, suffix) = match s.kind {
        Kind::GitHub => (format!("/api/v3/repos/{}/pulls/", s.project), "/reviews"),
        Kind::Gitea => (format!("/api/v1/repos/{}/pulls/", s.project), "/reviews"),
        Kind::GitLab => (
            format!(
                "/api/v4/projects/{}/merge_requests/",
                s.project.replace('/', "%2F")
            ),
            "/approvals",
        ),
    };
    path.strip_prefix(&prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

fn reviews(s: &State, number: u64) -> Response<String> {
    if number == 0 || number as usize > s.opened.len() {
        return answer(404, json!({ "message": "Not Found" }));
    }
    let given: Vec<&(u64, String, String)> =
        s.reviews.iter().filter(|(n, _, _)| *n == number).collect();
    match s.kind {
        Kind::GitLab => {
            let by: Vec<Value> = given
                .iter()
                .filter(|(_, _, st)| st == "APPROVED")
                .map(|(_, u, _)| json!({ "user": { "username": u } }))
                .collect();
            answer(200, json!({ "approved": !by.is_empty(), "approved_by": by }))
        }
        _ => answer(
            200,
            Value::Array(
                given
                    .iter()
                    .enumerate()
                    .map(|(i, (_, u, st))| json!({ "id": i + 1, "user": { "login": u }, "state": st }))
                    .collect(),
            ),
        ),
    }
}
