//! Opening a pull (or merge) request for a proposal branch through the forge's API:
//! GitHub, GitLab, or Gitea/Forgejo (Codeberg). The token is `OSHIRASE_FORGE_TOKEN`; the
//! API's address comes from the remote URL for the public forges, or from `--forge-api`
//! for a self-hosted one, whose kind is read from its path (`/api/v4` is GitLab, `/api/v1`
//! is Gitea or Forgejo, anything else GitHub, as GitHub Enterprise's `/api/v3`).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};

use crate::git::forge::{Forge, ForgeKind};

/// A GitLab project path as one URL segment: `city/posts` is `city%2Fposts`.
const PROJECT_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The secret holding the forge API token.
pub const FORGE_TOKEN: &str = "OSHIRASE_FORGE_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    GitHub,
    GitLab,
    Gitea,
}

/// Where and how to open pull requests.
#[derive(Debug, Clone)]
pub struct ForgeApi {
    pub kind: ApiKind,
    /// The API root, without a trailing `/`: `https://api.github.com`,
    /// `https://gitlab.com/api/v4`, `https://codeberg.org/api/v1`.
    pub base: String,
    /// `owner/name` (GitLab: the project's full path).
    pub project: String,
    token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeApiError {
    #[error("--forge-api {0}: give the API's https:// (or http:// for a local one) address")]
    BadBase(String),
    #[error(
        "the remote URL does not name a known forge's repository; give --forge-api and \
         --forge-project"
    )]
    NoProject,
    #[error("the forge could not be reached: {0}")]
    Unreachable(String),
    #[error("the forge answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the forge's answer has no link to the pull request")]
    NoLink,
}

/// An opened pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub url: String,
    pub number: u64,
}

impl ForgeApi {
    /// The API for a repository: `forge_api` and `project` when given, else what the remote
    /// URL's forge implies. `None` without a token (then the desk links to the forge's
    /// compare page instead).
    pub fn configure(
        remote: Option<&str>,
        forge_api: Option<&str>,
        project: Option<&str>,
        token: Option<String>,
    ) -> Result<Option<ForgeApi>, ForgeApiError> {
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let forge = remote.and_then(Forge::from_remote);
        let (kind, base) = match forge_api {
            Some(api) => {
                let api = api.trim_end_matches('/');
                if !(api.starts_with("https://") || api.starts_with("http://")) {
                    return Err(ForgeApiError::BadBase(api.to_string()));
                }
                (kind_of_api(api), api.to_string())
            }
            None => match forge.as_ref().map(|f| f.kind) {
                Some(ForgeKind::GitHub) => (ApiKind::GitHub, "https://api.github.com".into()),
                Some(ForgeKind::GitLab) => (ApiKind::GitLab, "https://gitlab.com/api/v4".into()),
                Some(ForgeKind::Codeberg) => (ApiKind::Gitea, "https://codeberg.org/api/v1".into()),
                None => return Err(ForgeApiError::NoProject),
            },
        };
        let project = match project {
            Some(p) => p.trim_matches('/').to_string(),
            None => forge
                .as_ref()
                .and_then(|f| f.web.splitn(4, '/').nth(3).map(str::to_string))
                .ok_or(ForgeApiError::NoProject)?,
        };
        if project.split('/').count() < 2 || project.split('/').any(str::is_empty) {
            return Err(ForgeApiError::NoProject);
        }
        Ok(Some(ForgeApi {
            kind,
            base,
            project,
            token: token.trim().to_string(),
        }))
    }

    /// Opens a pull request from `branch` into `base`.
    pub async fn open(
        &self,
        client: &reqwest::Client,
        branch: &str,
        base: &str,
        title: &str,
        description: &str,
    ) -> Result<PullRequest, ForgeApiError> {
        let payload = match self.kind {
            ApiKind::GitLab => json!({
                "source_branch": branch,
                "target_branch": base,
                "title": title,
                "description": description,
            }),
            ApiKind::GitHub | ApiKind::Gitea => {
                json!({"title": title, "head": branch, "base": base, "body": description})
            }
        };
        let request = self.call(client, Method::POST, "pulls", "merge_requests");
        let body = answer(request.json(&payload)).await?;
        let (url, number) = match self.kind {
            ApiKind::GitLab => (&body["web_url"], &body["iid"]),
            ApiKind::GitHub | ApiKind::Gitea => (&body["html_url"], &body["number"]),
        };
        let url = url.as_str().filter(|u| u.starts_with("http"));
        match (url, number.as_u64()) {
            (Some(url), Some(number)) => Ok(PullRequest {
                url: url.to_string(),
                number,
            }),
            _ => Err(ForgeApiError::NoLink),
        }
    }
}

impl ForgeApi {
    /// Comments on pull request `number` (GitLab: merge request `iid`).
    pub async fn comment(
        &self,
        client: &reqwest::Client,
        number: u64,
        text: &str,
    ) -> Result<(), ForgeApiError> {
        let path = format!("issues/{number}/comments");
        let request = self.call(
            client,
            Method::POST,
            &path,
            &format!("merge_requests/{number}/notes"),
        );
        answer(request.json(&json!({ "body": text }))).await?;
        Ok(())
    }

    /// Gives pull request `number` a new title and description: after a proposal takes a
    /// new commit, the preview it carries is the new one.
    pub async fn update(
        &self,
        client: &reqwest::Client,
        number: u64,
        title: &str,
        description: &str,
    ) -> Result<(), ForgeApiError> {
        let (method, payload) = match self.kind {
            ApiKind::GitLab => (
                Method::PUT,
                json!({ "title": title, "description": description }),
            ),
            ApiKind::GitHub | ApiKind::Gitea => (
                Method::PATCH,
                json!({ "title": title, "body": description }),
            ),
        };
        let path = format!("pulls/{number}");
        let request = self.call(client, method, &path, &format!("merge_requests/{number}"));
        answer(request.json(&payload)).await?;
        Ok(())
    }

    /// A request to `repo_path` below GitHub's and Gitea's `repos/{project}`, or
    /// `gitlab_path` below GitLab's `projects/{project}`, with the forge's own way of
    /// presenting the token.
    fn call(
        &self,
        client: &reqwest::Client,
        method: Method,
        repo_path: &str,
        gitlab_path: &str,
    ) -> reqwest::RequestBuilder {
        let url = match self.kind {
            ApiKind::GitLab => format!(
                "{}/projects/{}/{gitlab_path}",
                self.base,
                utf8_percent_encode(&self.project, PROJECT_SEGMENT)
            ),
            ApiKind::GitHub | ApiKind::Gitea => {
                format!("{}/repos/{}/{repo_path}", self.base, self.project)
            }
        };
        let request = client.request(method, url);
        match self.kind {
            ApiKind::GitHub => request
                .bearer_auth(&self.token)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            ApiKind::GitLab => request.header("PRIVATE-TOKEN", &self.token),
            ApiKind::Gitea => request.header("Authorization", format!("token {}", self.token)),
        }
    }
}

/// Sends `request`: the forge's JSON answer (null when it sent none), or its refusal.
async fn answer(request: reqwest::RequestBuilder) -> Result<Value, ForgeApiError> {
    let response = request
        .send()
        .await
        .map_err(|e| ForgeApiError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        return Err(ForgeApiError::Refused {
            status,
            message: refusal(&body),
        });
    }
    Ok(body)
}

/// Where a pull request's review stands on the forge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReviewState {
    /// `approved`, `changes_requested` or `pending`.
    pub state: &'static str,
    /// Who approved (forge user names).
    pub approved_by: Vec<String>,
    /// Who asked for changes, where the forge has that.
    pub changes_requested_by: Vec<String>,
}

impl ForgeApi {
    /// The review state of pull request `number`: GitHub's and Gitea's reviews (each
    /// reviewer's latest counts), GitLab's approvals.
    pub async fn review_state(
        &self,
        client: &reqwest::Client,
        number: u64,
    ) -> Result<ReviewState, ForgeApiError> {
        let path = format!("pulls/{number}/reviews");
        let request = self.call(
            client,
            Method::GET,
            &path,
            &format!("merge_requests/{number}/approvals"),
        );
        let body = answer(request).await?;
        Ok(match self.kind {
            ApiKind::GitLab => gitlab_review(&body),
            ApiKind::GitHub | ApiKind::Gitea => reviews(&body),
        })
    }
}

/// GitHub's and Gitea's reviews, oldest first: each reviewer's latest approving or
/// change-requesting review is where they stand (a comment changes nothing).
fn reviews(body: &Value) -> ReviewState {
    let mut latest: Vec<(String, bool)> = Vec::new();
    for r in body.as_array().into_iter().flatten() {
        let who = r["user"]["login"].as_str().unwrap_or("").to_string();
        let approves = match r["state"].as_str().unwrap_or("") {
            "APPROVED" => true,
            "CHANGES_REQUESTED" | "REQUEST_CHANGES" => false,
            "DISMISSED" => {
                latest.retain(|(w, _)| *w != who);
                continue;
            }
            _ => continue,
        };
        latest.retain(|(w, _)| *w != who);
        latest.push((who, approves));
    }
    let (yes, no): (Vec<_>, Vec<_>) = latest.into_iter().partition(|(_, a)| *a);
    let names = |v: Vec<(String, bool)>| v.into_iter().map(|(w, _)| w).collect::<Vec<_>>();
    let state = if !no.is_empty() {
        "changes_requested"
    } else if !yes.is_empty() {
        "approved"
    } else {
        "pending"
    };
    ReviewState {
        state,
        approved_by: names(yes),
        changes_requested_by: names(no),
    }
}

fn gitlab_review(body: &Value) -> ReviewState {
    let approved_by: Vec<String> = body["approved_by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["user"]["username"].as_str().map(str::to_string))
        .collect();
    let approved = body["approved"].as_bool().unwrap_or(false) && !approved_by.is_empty();
    ReviewState {
        state: if approved { "approved" } else { "pending" },
        approved_by,
        changes_requested_by: Vec::new(),
    }
}

fn kind_of_api(api: &str) -> ApiKind {
    if api.ends_with("/api/v4") {
        ApiKind::GitLab
    } else if api.ends_with("/api/v1") {
        ApiKind::Gitea
    } else {
        ApiKind::GitHub
    }
}

/// The forge's own words for a refusal, short.
fn refusal(body: &Value) -> String {
    let text = match &body["message"] {
        Value::String(s) => s.clone(),
        Value::Null => body["error"].as_str().unwrap_or("no message").to_string(),
        other => other.to_string(),
    };
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reviewers_latest_review_is_where_they_stand() {
        let body = json!([
            { "user": { "login": "chief" }, "state": "CHANGES_REQUESTED" },
            { "user": { "login": "deputy" }, "state": "COMMENTED" },
            { "user": { "login": "chief" }, "state": "APPROVED" },
        ]);
        let r = reviews(&body);
        assert_eq!(
            (r.state, r.approved_by.clone()),
            ("approved", vec!["chief".to_string()])
        );
        let body = json!([
            { "user": { "login": "chief" }, "state": "APPROVED" },
            { "user": { "login": "deputy" }, "state": "REQUEST_CHANGES" },
        ]);
        assert_eq!(reviews(&body).state, "changes_requested");
        let body = json!([
            { "user": { "login": "chief" }, "state": "APPROVED" },
            { "user": { "login": "chief" }, "state": "DISMISSED" },
        ]);
        assert_eq!(reviews(&body).state, "pending");
        assert_eq!(
            gitlab_review(&json!({ "approved": true, "approved_by": [] })).state,
            "pending"
        );
    }

    fn token() -> Option<String> {
        Some("t0ken".into())
    }

    #[test]
    fn the_public_forges_need_only_a_token() {
        let gh = ForgeApi::configure(Some("git@github.com:city/posts.git"), None, None, token())
            .unwrap()
            .unwrap();
        assert_eq!(
            (gh.kind, gh.base.as_str(), gh.project.as_str()),
            (ApiKind::GitHub, "https://api.github.com", "city/posts")
        );
        let gl = ForgeApi::configure(
            Some("https://gitlab.com/city/koho/posts.git"),
            None,
            None,
            token(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (gl.kind, gl.project.as_str()),
            (ApiKind::GitLab, "city/koho/posts")
        );
        let cb = ForgeApi::configure(Some("https://codeberg.org/city/posts"), None, None, token())
            .unwrap()
            .unwrap();
        assert_eq!(
            (cb.kind, cb.base.as_str()),
            (ApiKind::Gitea, "https://codeberg.org/api/v1")
        );
        assert!(
            ForgeApi::configure(Some("git@github.com:city/posts.git"), None, None, None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_self_hosted_forge_is_told_by_its_api_path() {
        let api = |base: &str| {
            ForgeApi::configure(
                Some("file:///srv/posts.git"),
                Some(base),
                Some("city/posts"),
                token(),
            )
            .unwrap()
            .unwrap()
            .kind
        };
        assert_eq!(api("https://git.city.example/api/v4/"), ApiKind::GitLab);
        assert_eq!(api("https://git.city.example/api/v1"), ApiKind::Gitea);
        assert_eq!(api("https://ghe.city.example/api/v3"), ApiKind::GitHub);
        assert!(matches!(
            ForgeApi::configure(
                Some("file:///srv/posts.git"),
                Some("https://git.city.example/api/v4"),
                None,
                token()
            ),
            Err(ForgeApiError::NoProject)
        ));
        assert!(matches!(
            ForgeApi::configure(None, Some("ftp://x"), Some("a/b"), token()),
            Err(ForgeApiError::BadBase(_))
        ));
    }
}
