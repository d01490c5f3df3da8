//! A post file: YAML front-matter plus a Markdown body.
//!
//! [`parse`] is pure (text in, post or problems out) so most tests need no files; the
//! repository layer hands it blob contents read from git objects. Every problem carries the
//! file and the 1-based line it is about, because staff fix them from a pull-request view.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::config::{NetworkConfig, RepoConfig};
use crate::render;

/// Post files larger than this are refused before parsing: a notice is a few kilobytes.
pub const MAX_POST_BYTES: usize = 1024 * 1024;

/// One thing wrong with a post, pinned to a line of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// A stable machine-readable code (`yaml`, `unknown-key`, `publish-at`, …).
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The front-matter exactly as staff write it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Option<String>,
    publish_at: Option<String>,
    #[serde(default)]
    networks: Vec<String>,
    account: Option<String>,
    department: Option<String>,
    #[serde(default)]
    text: BTreeMap<String, String>,
    #[serde(default)]
    images: Vec<ImageRef>,
    id: Option<String>,
    #[serde(default)]
    retract: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    pub path: String,
    pub alt: Option<String>,
}

/// When a post should go out, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishAt {
    /// Omitted: as soon as it is approved.
    Asap,
    /// An RFC 3339 time with its offset.
    Exact(DateTime<FixedOffset>),
    /// A wall-clock time in the repository's time zone (`2026-12-20 19:00`).
    Local(NaiveDateTime),
}

/// A post whose front-matter parsed; not yet checked against `oshirase.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub file: String,
    /// `id:` or the path without `.md`.
    pub id: String,
    pub title: String,
    pub publish_at: PublishAt,
    pub networks: Vec<String>,
    pub account: Option<String>,
    pub department: Option<String>,
    pub text: BTreeMap<String, String>,
    pub images: Vec<ImageRef>,
    pub retract: bool,
    pub body: String,
    /// Line numbers of front-matter keys, so later checks can point at them.
    lines: BTreeMap<String, usize>,
    /// The line on which the Markdown body starts.
    pub body_line: usize,
}

/// What parsing a Markdown file found.
#[derive(Debug)]
pub enum Parsed {
    /// No front-matter: an ordinary Markdown file (a README), not a post.
    NotAPost,
    Post(Box<Post>),
    /// A post that cannot be used; `id` is derived from the path so it can still be shown.
    Broken {
        id: String,
        problems: Vec<Problem>,
    },
}

/// The id a post gets when it sets none: its path without `.md`.
pub fn default_id(file: &str) -> String {
    file.strip_suffix(".md").unwrap_or(file).to_string()
}

/// Parses one post file. `file` is the path shown in problems and the base of its id.
pub fn parse(file: &str, bytes: &[u8]) -> Parsed {
    parse_at(file, file, bytes)
}

/// The problem for a file over [`MAX_POST_BYTES`].
pub fn too_large(file: &str, size: usize) -> Problem {
    Problem {
        file: file.to_string(),
        line: 1,
        code: "too-large".into(),
        message: format!("the file is {size} bytes; a post may be at most {MAX_POST_BYTES} bytes"),
    }
}

/// Parses one post file whose default id comes from `id_path` (its path from the content
/// directory) while problems name `file` (its path from the repository root).
pub fn parse_at(file: &str, id_path: &str, bytes: &[u8]) -> Parsed {
    let broken = |line: usize, code: &str, message: String| Parsed::Broken {
        id: default_id(id_path),
        problems: vec![Problem {
            file: file.to_string(),
            line,
            code: code.to_string(),
            message,
        }],
    };
    if bytes.len() > MAX_POST_BYTES {
        if !starts_with_front_matter(bytes) {
            return Parsed::NotAPost;
        }
        return Parsed::Broken {
            id: default_id(id_path),
            problems: vec![too_large(file, bytes.len())],
        };
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            if !starts_with_front_matter(bytes) {
                return Parsed::NotAPost;
            }
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return broken(
                line,
                "encoding",
                "the file is not valid UTF-8; save it as UTF-8".into(),
            );
        }
    };
    // Windows editors add a byte-order mark and CRLF line ends; both mean nothing here.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    let Some((yaml, body, body_line)) = split_front_matter(&text) else {
        return if text.starts_with("---") && first_line(&text).trim_end() == "---" {
            broken(
                1,
                "front-matter",
                "the front-matter opened on line 1 never closes; add a line `---` after it".into(),
            )
        } else {
            Parsed::NotAPost
        };
    };
    match parse_front_matter(file, id_path, yaml, body, body_line) {
        Ok(post) => Parsed::Post(Box::new(post)),
        Err(problems) => Parsed::Broken {
            id: default_id(id_path),
            problems,
        },
    }
}

/// Whether the bytes open a front-matter block (after an optional byte-order mark).
pub fn starts_with_front_matter(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    b.starts_with(b"---\n") || b.starts_with(b"---\r\n")
}

fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or("")
}

/// Splits `---\n<yaml>\n---\n<body>`; returns the YAML, the body and the body's first line.
fn split_front_matter(text: &str) -> Option<(&str, &str, usize)> {
    let rest = text.strip_prefix("---")?;
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix('\n')?;
    let yaml_start = text.len() - rest.len();
    let mut offset = yaml_start;
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare == "..." {
            let yaml = &text[yaml_start..offset];
            let body = &text[offset + line.len()..];
            // Line 1 is the opening `---`, the YAML starts on line 2, this is line i + 2.
            return Some((yaml, body, i + 3));
        }
        offset += line.len();
    }
    None
}

fn parse_front_matter(
    file: &str,
    id_path: &str,
    yaml: &str,
    body: &str,
    body_line: usize,
) -> Result<Post, Vec<Problem>> {
    let problem = |line: usize, code: &str, message: String| Problem {
        file: file.to_string(),
        line,
        code: code.to_string(),
        message,
    };
    let fm: FrontMatter = if yaml.trim().is_empty() {
        FrontMatter::default()
    } else {
        serde_yaml::from_str(yaml).map_err(|e| {
            // YAML lines are counted from the line after the opening `---`.
            let line = e.location().map(|l| l.line() + 1).unwrap_or(1);
            let message = e.to_string();
            let code = if message.contains("unknown field") {
                "unknown-key"
            } else {
                "yaml"
            };
            vec![problem(line, code, describe_yaml_error(&message))]
        })?
    };
    let lines = key_lines(yaml);
    let line_of = |key: &str| lines.get(key).copied().unwrap_or(1);
    let mut problems = Vec::new();

    let publish_at = match &fm.publish_at {
        None => PublishAt::Asap,
        Some(s) => match parse_publish_at(s) {
            Ok(p) => p,
            Err(message) => {
                problems.push(problem(line_of("publish_at"), "publish-at", message));
                PublishAt::Asap
            }
        },
    };
    if fm.networks.is_empty() {
        problems.push(problem(
            line_of("networks"),
            "no-networks",
            "the post names no networks; add for example `networks: [x, facebook]`".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in &fm.networks {
        if !seen.insert(n) {
            problems.push(problem(
                line_of("networks"),
                "duplicate-network",
                format!("network `{n}` is listed twice"),
            ));
        }
    }
    let id = match &fm.id {
        Some(id) => {
            let ok = !id.is_empty()
                && id.len() <= 200
                && !id.chars().any(|c| c.is_control() || c.is_whitespace());
            if !ok {
                problems.push(problem(
                    line_of("id"),
                    "id",
                    "`id` must be 1–200 characters without spaces or control characters".into(),
                ));
            }
            id.clone()
        }
        None => default_id(id_path),
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let title = fm
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| render::first_heading(body))
        .unwrap_or_else(|| file.rsplit('/').next().unwrap_or(file).to_string());
    Ok(Post {
        file: file.to_string(),
        id,
        title,
        publish_at,
        networks: fm.networks,
        account: fm.account,
        department: fm.department,
        text: fm.text,
        images: fm.images,
        retract: fm.retract,
        body: body.to_string(),
        lines,
        body_line,
    })
}

/// serde_yaml's messages end with "at line L column C", which we already report as the
/// problem's line; a typo in a key also lists the accepted keys, which helps staff.
fn describe_yaml_error(message: &str) -> String {
    let trimmed = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    format!("front-matter: {trimmed}")
}

/// Top-level key → line (1-based, within the whole file).
fn key_lines(yaml: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (i, line) in yaml.lines().enumerate() {
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        if let Some((key, _)) = line.split_once(':') {
            out.entry(key.trim().to_string()).or_insert(i + 2);
        }
    }
    out
}

fn parse_publish_at(s: &str) -> Result<PublishAt, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(PublishAt::Exact(t));
    }
    for format in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(PublishAt::Local(t));
        }
    }
    Err(format!(
        "`publish_at: {s}` is not a time; write `2026-12-20T19:00:00+09:00` \
         or `2026-12-20 19:00` (in the repository's time zone)"
    ))
}

impl PublishAt {
    /// The instant this names; `None` for [`PublishAt::Asap`]. Local times need the
    /// repository's time zone; a wall-clock time that a daylight-saving change skips is an
    /// error, one that it repeats means the earlier instant.
    pub fn resolve(&self, tz: Option<Tz>) -> Result<Option<DateTime<Utc>>, String> {
        match self {
            PublishAt::Asap => Ok(None),
            PublishAt::Exact(t) => Ok(Some(t.with_timezone(&Utc))),
            PublishAt::Local(naive) => {
                let Some(tz) = tz else {
                    return Err(format!(
                        "`publish_at: {}` has no UTC offset and oshirase.yaml sets no \
                         `timezone`; add an offset such as +09:00 or set `timezone: Asia/Tokyo`",
                        naive.format("%Y-%m-%d %H:%M")
                    ));
                };
                match tz.from_local_datetime(naive) {
                    LocalResult::Single(t) => Ok(Some(t.with_timezone(&Utc))),
                    LocalResult::Ambiguous(early, _) => Ok(Some(early.with_timezone(&Utc))),
                    LocalResult::None => Err(format!(
                        "`publish_at: {}` does not exist in {tz} (a daylight-saving change \
                         skips it); pick another time",
                        naive.format("%Y-%m-%d %H:%M")
                    )),
                }
            }
        }
    }
}

/// A post checked against the repository configuration: the account it belongs to, when
/// it is due, and the exact text each network receives.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPost {
    pub post: Post,
    pub account: String,
    pub publish_at: Option<DateTime<Utc>>,
    pub deliveries: Vec<PlannedDelivery>,
}

/// One network's share of a post.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDelivery {
    pub network: String,
    pub text: String,
    /// Why this network cannot take the post; nothing is sent when set.
    pub problem: Option<Problem>,
}

impl Post {
    /// The line of a front-matter key, or 1 when the key is absent.
    pub fn line_of(&self, key: &str) -> usize {
        self.lines.get(key).copied().unwrap_or(1)
    }

    fn problem(&self, key: &str, code: &str, message: String) -> Problem {
        Problem {
            file: self.file.clone(),
            line: self.line_of(key),
            code: code.to_string(),
            message,
        }
    }

    /// Checks the post against `oshirase.yaml`. Problems with the post as a whole (unknown
    /// account or network, an unusable time) are returned as errors; a text that does not
    /// fit one network only marks that network's delivery.
    pub fn resolve(self, config: &RepoConfig) -> Result<ResolvedPost, Vec<Problem>> {
        let mut problems = Vec::new();
        let account = match config.account(self.account.as_deref()) {
            Ok(a) => Some(a),
            Err(message) => {
                problems.push(self.problem("account", "unknown-account", message));
                None
            }
        };
        let publish_at = match self.publish_at.resolve(config.timezone) {
            Ok(t) => t,
            Err(message) => {
                problems.push(self.problem("publish_at", "publish-at", message));
                None
            }
        };
        for key in self.text.keys() {
            if !self.networks.contains(key) {
                problems.push(self.problem(
                    "text",
                    "text-network",
                    format!("`text.{key}` is given but `{key}` is not in this post's networks"),
                ));
            }
        }
        let mut deliveries = Vec::new();
        if let Some(account) = account {
            for name in &self.networks {
                match account.networks.get(name) {
                    None => problems.push(self.problem(
                        "networks",
                        "unknown-network",
                        format!(
                            "account `{}` has no network `{name}`; oshirase.yaml defines: {}",
                            account.name,
                            account.networks.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )),
                    Some(net) => deliveries.push(self.plan_network(net)),
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let account = account.map(|a| a.name.clone()).unwrap_or_default();
        Ok(ResolvedPost {
            post: self,
            account,
            publish_at,
            deliveries,
        })
    }

    fn plan_network(&self, net: &NetworkConfig) -> PlannedDelivery {
        let (text, from_override) = match self.text.get(&net.name) {
            Some(t) => (t.trim_end().to_string(), true),
            None => (render::plain_text(&self.body), false),
        };
        let limit = render::limit(net);
        let length = render::length(net.kind, &text);
        let problem = if text.trim().is_empty() {
            Some(self.problem(
                "text",
                "empty-text",
                format!("the text for `{}` is empty", net.name),
            ))
        } else if length > limit {
            let (key, hint) = if from_override {
                ("text", format!("shorten `text.{}`", net.name))
            } else {
                ("networks", format!("add a shorter `text.{}`", net.name))
            };
            let mut p = self.problem(
                key,
                "too-long",
                format!(
                    "the text for `{}` is {length} long; its limit is {limit}: {hint}",
                    net.name
                ),
            );
            if !from_override {
                p.line = self.body_line;
            }
            Some(p)
        } else {
            None
        };
        PlannedDelivery {
            network: net.name.clone(),
            text,
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(text: &str) -> Post {
        match parse("posts/a.md", text.as_bytes()) {
            Parsed::Post(p) => *p,
            other => panic!("expected a post, got {other:?}"),
        }
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse("posts/a.md", text.as_bytes()) {
            Parsed::Broken { problems, .. } => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn parses_front_matter_and_body() {
        let p = post(
            "---\ntitle: ごみ\npublish_at: 2026-12-20T19:00:00+09:00\nnetworks: [x, facebook]\n---\n本文\n",
        );
        assert_eq!(p.id, "posts/a");
        assert_eq!(p.title, "ごみ");
        assert_eq!(p.networks, vec!["x", "facebook"]);
        assert_eq!(p.body, "本文\n");
        assert_eq!(p.body_line, 6);
        let t = p.publish_at.resolve(None).unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-20T10:00:00+00:00");
    }

    #[test]
    fn local_time_uses_the_repository_zone_and_needs_one() {
        let p = post("---\npublish_at: \"2026-12-20 19:00\"\nnetworks: [x]\n---\n");
        let t = p
            .publish_at
            .resolve(Some(chrono_tz::Asia::Tokyo))
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-20T10:00:00+00:00");
        assert!(p.publish_at.resolve(None).unwrap_err().contains("timezone"));
    }

    #[test]
    fn skipped_daylight_saving_time_is_an_error() {
        let p = post("---\npublish_at: \"2026-03-08 02:30\"\nnetworks: [x]\n---\n");
        let e = p
            .publish_at
            .resolve(Some(chrono_tz::America::New_York))
            .unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn unknown_key_names_its_line() {
        let ps =
            problems("---\ntitle: t\npublish-at: 2026-12-20T19:00:00+09:00\nnetworks: [x]\n---\n");
        assert_eq!(ps[0].line, 3);
        assert_eq!(ps[0].code, "unknown-key");
        assert!(ps[0].message.contains("publish-at"), "{}", ps[0].message);
    }

    #[test]
    fn broken_yaml_names_its_line() {
        let ps = problems("---\ntitle: t\nnetworks: [x\n---\n");
        assert_eq!(ps[0].code, "yaml");
        assert!(ps[0].line >= 3, "{:?}", ps[0]);
    }

    #[test]
    fn bad_time_names_the_publish_at_line() {
        let ps = problems("---\nnetworks: [x]\npublish_at: 2026-13-45 25:00\n---\n");
        assert_eq!(ps[0].line, 3);
        assert_eq!(ps[0].code, "publish-at");
    }

    #[test]
    fn files_without_front_matter_are_not_posts() {
        assert!(matches!(parse("README.md", b"# Hello\n"), Parsed::NotAPost));
        assert!(matches!(parse("x.md", b""), Parsed::NotAPost));
    }

    #[test]
    fn unclosed_front_matter_is_an_error() {
        let ps = problems("---\ntitle: t\nnetworks: [x]\n");
        assert_eq!(ps[0].code, "front-matter");
    }

    #[test]
    fn bom_and_crlf_are_accepted() {
        let p = post("\u{feff}---\r\ntitle: t\r\nnetworks: [x]\r\n---\r\n一行目\r\n二行目\r\n");
        assert_eq!(p.title, "t");
        assert_eq!(p.body, "一行目\n二行目\n");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let ps = problems("---\ntitle: \u{0}\n---\n").len();
        assert_eq!(ps, 1);
        let mut bytes = b"---\nnetworks: [x]\ntitle: ".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\n---\n");
        match parse("a.md", &bytes) {
            Parsed::Broken { problems, .. } => {
                assert_eq!(problems[0].code, "encoding");
                assert_eq!(problems[0].line, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut yaml = String::from("---\nnetworks: [x]\ntitle: t\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let mut prev = 'a';
        for c in 'b'..='j' {
            yaml.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = c;
        }
        yaml.push_str("---\n");
        assert!(!problems(&yaml).is_empty());
    }

    #[test]
    fn oversized_files_are_refused() {
        let mut text = String::from("---\nnetworks: [x]\n---\n");
        text.push_str(&"あ".repeat(MAX_POST_BYTES));
        assert_eq!(problems(&text)[0].code, "too-large");
    }

    #[test]
    fn title_defaults_to_first_heading_then_file_name() {
        assert_eq!(
            post("---\nnetworks: [x]\n---\n# 見出し\n本文\n").title,
            "見出し"
        );
        assert_eq!(post("---\nnetworks: [x]\n---\n本文\n").title, "a.md");
    }

    fn config() -> RepoConfig {
        RepoConfig::parse(
            "oshirase.yaml",
            "timezone: Asia/Tokyo\naccounts:\n  adachi:\n    networks:\n      x: { type: x, credentials: X_A }\n      portal: { type: outbox }\n",
        )
        .unwrap()
    }

    #[test]
    fn resolve_checks_networks_against_the_config() {
        let p = post("---\nnetworks: [x, instagram]\n---\n本文\n");
        let ps = p.resolve(&config()).unwrap_err();
        assert_eq!(ps[0].code, "unknown-network");
        assert_eq!(ps[0].line, 2);
        assert!(ps[0].message.contains("instagram"));
    }

    #[test]
    fn resolve_uses_per_network_text_and_flags_long_text() {
        let long = "あ".repeat(200);
        let p = post(&format!(
            "---\nnetworks: [x, portal]\ntext:\n  portal: 短い\n---\n{long}\n"
        ));
        let r = p.resolve(&config()).unwrap();
        assert_eq!(r.account, "adachi");
        let x = &r.deliveries[0];
        assert_eq!(x.network, "x");
        let problem = x.problem.as_ref().expect("too long for x");
        assert_eq!(problem.code, "too-long");
        assert_eq!(problem.line, 6);
        assert_eq!(r.deliveries[1].text, "短い");
        assert!(r.deliveries[1].problem.is_none());
    }
}
