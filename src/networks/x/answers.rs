//! What X's answers say: its own words from an error body, whether a refusal is the
//! duplicate-content rule, and how long a 429 asks us to wait.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// Part of what X answers (403) to a second post with the same text as a recent one:
/// "You are not allowed to create a Tweet with duplicate content."
const DUPLICATE: &str = "duplicate content";

/// X's error bodies: RFC 7807 problem details (`title`, `detail`), sometimes with an
/// `errors` list whose `message` or `detail` says what exactly was wrong.
#[derive(Deserialize, Default)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<ProblemItem>,
}

#[derive(Deserialize)]
struct ProblemItem {
    message: Option<String>,
    detail: Option<String>,
}

/// Part of what X answers (403) to a reply it does not allow. Since 2026-02-23 the
/// self-serve tiers (Free, Basic, Pro, pay-per-use) may reply through the API only where
/// the replied-to post's author mentioned or quoted the replying account; Enterprise and
/// public-utility apps are not limited.
const REPLY_REFUSED: &str = "Reply to this conversation is not allowed";

pub(super) fn is_duplicate(said: &str) -> bool {
    said.contains(DUPLICATE)
}

/// Part of what X answers (403) to a reply to a post that is gone.
const REPLY_TARGET_GONE: &str = "reply to a Tweet that is deleted or not visible";

pub(super) fn is_reply_refused(said: &str) -> bool {
    said.contains(REPLY_REFUSED) || said.contains(REPLY_TARGET_GONE)
}

/// X's own words from an error body: the specific `errors[].message`s when there are any,
/// else `detail`, else `title`, else the body itself (cut short).
pub(super) fn problem_message(body: &str) -> String {
    let problem: Problem = serde_json::from_str(body).unwrap_or_default();
    let items: Vec<String> = problem
        .errors
        .iter()
        .filter_map(|e| e.message.clone().or_else(|| e.detail.clone()))
        .collect();
    let said = if !items.is_empty() {
        items.join("; ")
    } else if let Some(d) = problem.detail.or(problem.title) {
        d
    } else {
        body.trim().to_string()
    };
    said.chars().take(300).collect()
}

/// How long a 429 asks us to wait. X sends a 15-minute window (`x-rate-limit-*`) and, for
/// posting, 24-hour caps per user and per app (`x-user-limit-24hour-*`,
/// `x-app-limit-24hour-*`); whichever is used up decides, the latest reset winning.
pub(super) fn rate_limit_wait(
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let mut latest: Option<i64> = None;
    for prefix in ["x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"] {
        let spent = text(&format!("{prefix}-remaining")) == Some("0");
        let reset = text(&format!("{prefix}-reset")).and_then(|r| r.parse::<i64>().ok());
        if let (true, Some(reset)) = (spent, reset) {
            latest = Some(latest.map_or(reset, |l| l.max(reset)));
        }
    }
    let at = DateTime::from_timestamp(latest?, 0)?;
    Some((at - now).to_std().unwrap_or(std::time::Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_x_error_bodies() {
        let dup = r#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#;
        assert_eq!(
            problem_message(dup),
            "You are not allowed to create a Tweet with duplicate content."
        );
        let invalid = r#"{"errors":[{"message":"Your Tweet text is too long."}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#;
        assert_eq!(problem_message(invalid), "Your Tweet text is too long.");
        assert_eq!(
            problem_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn a_spent_daily_cap_outweighs_the_window() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        let soon = (now.timestamp() + 60).to_string();
        let later = (now.timestamp() + 3600).to_string();
        h.insert("x-rate-limit-remaining", "5".parse().unwrap());
        h.insert("x-rate-limit-reset", soon.parse().unwrap());
        h.insert("x-user-limit-24hour-remaining", "0".parse().unwrap());
        h.insert("x-user-limit-24hour-reset", later.parse().unwrap());
        let wait = rate_limit_wait(&h, now).unwrap();
        assert!(wait.as_secs() >= 3599 && wait.as_secs() <= 3600, "{wait:?}");
        assert_eq!(rate_limit_wait(&HeaderMap::new(), now), None);
    }
}
