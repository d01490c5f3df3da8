//! The desk's server side. `POST /api/preview` takes a draft (the front-matter's keys plus
//! `body` and `images`), makes the file a person would write for it (`content::draft`),
//! and runs the pull-request check (`check`) on that file against the `oshirase.yaml` in
//! force, so the desk and the pull request can never disagree. It answers `{"file",
//! "errors", "warnings", "networks": [{"network","text","length","limit","parts"}]}`, paths from
//! the content directory; it writes nothing but a temporary directory it removes.

use std::convert::Infallible;

use chrono::Utc;
use serde_json::json;
use warp::http::{header, HeaderMap, StatusCode};
use warp::Filter;

use crate::check::{output, CheckOptions};
use crate::content::config::{RepoConfig, CONFIG_FILE};
use crate::content::draft::{Draft, DraftError, DraftFile};
use crate::content::i18n::Lang;
use crate::store::meta;
use crate::web::reply::{blocking, error_reply, field_error, is_json, json_reply, not_json};
use crate::web::state::AppState;

/// Largest draft accepted: four images at the largest size, in base64, and the text.
const MAX_DRAFT_BYTES: u64 = 28 * 1024 * 1024;

/// `POST /api/preview`.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "preview")
        .and(warp::post())
        .and(warp::any().map(move || state.clone()))
        .and(warp::header::headers_cloned())
        .and(warp::body::content_length_limit(MAX_DRAFT_BYTES))
        .and(warp::body::bytes())
        .and_then(preview)
}

async fn preview(
    state: AppState,
    headers: HeaderMap,
    body: warp::hyper::body::Bytes,
) -> Result<warp::reply::Response, Infallible> {
    if !is_json(&headers) {
        return Ok(not_json());
    }
    let draft: Draft = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return Ok(error_reply(
                StatusCode::BAD_REQUEST,
                format!("the draft: {e}"),
            ))
        }
    };
    let config_text = match config_in_force(&state).await {
        Ok(text) => text,
        Err(response) => return Ok(response),
    };
    let lang = lang_of(&headers);
    let answer = tokio::task::spawn_blocking(move || {
        checked(&draft, None, &config_text).map(|p| p.answer(lang))
    })
    .await;
    Ok(match answer {
        Ok(Ok(value)) => json_reply(StatusCode::OK, &value),
        Ok(Err(PreviewError::Draft(e))) => {
            field_error(StatusCode::BAD_REQUEST, &e.field, e.to_string())
        }
        Ok(Err(PreviewError::Check(e))) => {
            tracing::error!("preview: {e}");
            error_reply(StatusCode::INTERNAL_SERVER_ERROR, "the preview failed")
        }
        Err(e) => {
            tracing::error!("preview: {e}");
            error_reply(StatusCode::INTERNAL_SERVER_ERROR, "the preview failed")
        }
    })
}

/// Why a preview has no answer: the draft cannot become a file (400, the field named), or
/// the check could not run (500, logged).
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Draft(#[from] DraftError),
    #[error("{0}")]
    Check(Box<dyn std::error::Error + Send + Sync>),
}

/// The `oshirase.yaml` in force, or the answer for when there is none yet.
pub async fn config_in_force(state: &AppState) -> Result<String, warp::reply::Response> {
    match blocking(state, |s| s.meta(meta::CONFIG_IN_FORCE_TEXT)).await? {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "no oshirase.yaml is in force yet: the first sync has not finished",
        )),
    }
}

/// A draft's file and what the pull-request check says of it.
pub struct Preview {
    pub file: DraftFile,
    pub report: crate::check::CheckReport,
}

impl Preview {
    /// The preview's JSON: `{"file","errors","warnings","networks","slot"}` (`slot`: the
    /// slot a `next-slot` draft would take if merged now, else null).
    pub fn answer(&self, lang: Lang) -> serde_json::Value {
        let full = output::json(&self.report, lang);
        let networks: Vec<_> = self
            .report
            .posts
            .iter()
            .flat_map(|p| &p.networks)
            .map(|n| {
                let mut v = json!({ "network": n.network, "type": n.kind, "text": n.text, "length": n.length, "limit": n.limit, "ok": n.ok });
                if !n.parts.is_empty() {
                    v["parts"] = json!(n.parts);
                }
                v
            })
            .collect();
        json!({
            "file": self.file.path,
            "errors": self.with_fields(&full["errors"]),
            "warnings": self.with_fields(&full["warnings"]),
            "networks": networks,
            "slot": self.report.posts.first().and_then(|p| p.slot.as_ref()),
        })
    }

    /// The problems, each with the draft's `field` its line belongs to (when it belongs
    /// to one), so the desk can show it next to that field.
    fn with_fields(&self, problems: &serde_json::Value) -> serde_json::Value {
        let mut problems = problems.clone();
        if let Some(list) = problems.as_array_mut() {
            for p in list {
                let line = p["line"].as_u64().unwrap_or(0) as usize;
                if let Some(field) = field_at(&self.file.text, line) {
                    p["field"] = json!(field);
                }
            }
        }
        problems
    }
}

/// The draft field a line of the file it made belongs to: the front-matter key the line
/// is under (`text.<network>` for a network's own text), or `body` below the
/// front-matter. The file is the draft's own, laid out by `content::draft`, so its keys
/// are always at the start of a line and a network's text two spaces in.
fn field_at(text: &str, line: usize) -> Option<String> {
    if line <= 1 {
        return None; // the file as a whole, or its opening `---`
    }
    let mut current: Option<String> = None;
    for (i, l) in text.lines().enumerate().skip(1) {
        let n = i + 1;
        if l == "---" {
            return if line > n {
                Some("body".into())
            } else {
                current
            };
        }
        if !l.starts_with([' ', '-']) {
            current = l.split_once(':').map(|(k, _)| k.trim().to_string());
        } else if current
            .as_deref()
            .is_some_and(|c| c == "text" || c.starts_with("text."))
            && l.starts_with("  ")
            && !l.starts_with("   ")
        {
            if let Some((k, _)) = l.trim().split_once(':') {
                current = Some(format!("text.{}", k.trim()));
            }
        }
        if n == line {
            return current;
        }
    }
    None
}

/// The draft's file (at `path`, or a new name from today and its title) checked as a pull
/// request would be.
pub fn checked(
    draft: &Draft,
    path: Option<&str>,
    config_text: &str,
) -> Result<Preview, PreviewError> {
    let now = Utc::now();
    let file = match path {
        Some(path) => draft.to_file_at(path.to_string())?,
        None => {
            // The date in the file name is the repository's day.
            let tz = RepoConfig::parse(CONFIG_FILE, config_text)
                .ok()
                .and_then(|c| c.timezone);
            let today = tz.map_or(now.date_naive(), |tz| now.with_timezone(&tz).date_naive());
            draft.to_file(today)?
        }
    };
    let report = check_file(&file, config_text, now).map_err(PreviewError::Check)?;
    Ok(Preview { file, report })
}

/// Writes the configuration, the file and its images into a fresh directory and checks it
/// (a draft's file, or a proposal's post as it is on its branch).
pub fn check_file(
    file: &DraftFile,
    config_text: &str,
    now: chrono::DateTime<Utc>,
) -> Result<crate::check::CheckReport, Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::Builder::new()
        .prefix("oshirase-preview-")
        .tempdir()?;
    std::fs::write(dir.path().join(CONFIG_FILE), config_text)?;
    let post = dir.path().join(&file.path);
    for (path, bytes) in &file.images {
        let target = dir.path().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, bytes)?;
    }
    if let Some(parent) = post.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&post, &file.text)?;
    Ok(crate::check::check(&CheckOptions {
        content: dir.path().to_path_buf(),
        files: vec![post],
        base: None,
        now,
    })?)
}

/// Japanese when the browser puts it first, else English.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("");
    if first.trim().to_ascii_lowercase().starts_with("ja") {
        Lang::Ja
    } else {
        Lang::En
    }
}

#[cfg(test)]
mod tests {
    use super::field_at;

    #[test]
    fn a_line_of_the_file_names_the_field_it_came_from() {
        let file = "---\ntitle: A\npublish_at: 2026-12-28 19:00\nnetworks:\n- x\ntext:\n  x: |\n    short\n    two\n  portal: long\nimages:\n- path: images/a.png\n  alt: b\n---\nbody one\nbody two\n";
        let at = |n| field_at(file, n);
        assert_eq!(at(1), None);
        assert_eq!(at(2).as_deref(), Some("title"));
        assert_eq!(at(3).as_deref(), Some("publish_at"));
        assert_eq!(at(5).as_deref(), Some("networks"));
        assert_eq!(at(6).as_deref(), Some("text"));
        assert_eq!(at(8).as_deref(), Some("text.x"));
        assert_eq!(at(10).as_deref(), Some("text.portal"));
        assert_eq!(at(13).as_deref(), Some("images"));
        assert_eq!(at(15).as_deref(), Some("body"));
        assert_eq!(at(16).as_deref(), Some("body"));
    }
}
