//! A post file: YAML front-matter plus a Markdown body.
//!
//! [`parse`] is pure (text in, post or problems out) so most tests need no files; the
//! repository layer hands it blob contents read from git objects, `check` hands it files of
//! a pull request. Every problem carries the file and the 1-based line it is about, in
//! Japanese and English, because staff fix them from a pull-request view.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::content::brief::quote;
use crate::content::front_matter_problem::{limit_problem, yaml_problem};
use crate::content::problem::Problem;
use crate::content::render;
use crate::content::yaml_limits;

/// Post files larger than this are refused before parsing: a notice is a few kilobytes.
pub const MAX_POST_BYTES: usize = 1024 * 1024;

/// The front-matter keys staff may write: for suggestions when one is misspelt, and to
/// tell a file that starts with one but forgot its `---`.
pub(crate) const KEYS: [&str; 13] = [
    "title",
    "publish_at",
    "networks",
    "account",
    "department",
    "text",
    "thread",
    "images",
    "id",
    "retract",
    "emergency",
    "slot",
    "card",
];

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
    /// A network's thread given part by part, instead of the body's `+++` parts.
    #[serde(default)]
    thread: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    images: Vec<ImageRef>,
    id: Option<String>,
    #[serde(default)]
    retract: bool,
    #[serde(default)]
    emergency: bool,
    /// A named golden time of the account (`slots:`), instead of a time.
    slot: Option<String>,
    /// `card: false`: no link card (Bluesky's embed, Facebook's link preview).
    card: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    pub path: String,
    pub alt: Option<String>,
}

/// An image checked against the content: where it is, what it is, how big.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Path from the content directory.
    pub path: String,
    pub alt: Option<String>,
    pub mime: String,
    pub size: u64,
    /// The git blob, when read from git.
    #[serde(default)]
    pub blob: Option<String>,
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
    /// `publish_at: next-slot` (any of the account's `slots:`) or `slot: <name>`: the first
    /// free slot at or after the approval, chosen once by `serve`.
    Slot(Option<String>),
}

/// A post whose front-matter parsed; not yet checked against `oshirase.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Path shown in problems (from the repository root).
    pub file: String,
    /// Path from the content directory, which images are resolved against.
    pub path: String,
    /// `id:` or the path without `.md`.
    pub id: String,
    pub title: String,
    pub publish_at: PublishAt,
    pub networks: Vec<String>,
    pub account: Option<String>,
    pub department: Option<String>,
    pub text: BTreeMap<String, String>,
    /// `thread.<network>`: that network's parts, in order (see `content::thread`).
    pub thread: BTreeMap<String, Vec<String>>,
    pub images: Vec<ImageRef>,
    pub retract: bool,
    /// `emergency: true`: to go at once, ahead of the queue, when an approver merged it or
    /// an emergency approver pushed it (`sync::approval::emergency`).
    pub emergency: bool,
    /// A link card for the first link (`card:`, default true).
    pub card: bool,
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
    Problem::new(
        file,
        1,
        "too-large",
        format!("the file is {size} bytes; a post may be at most {MAX_POST_BYTES} bytes"),
        format!("ファイルが {size} バイトあります。投稿は {MAX_POST_BYTES} バイトまでです"),
    )
}

/// Parses one post file whose default id comes from `id_path` (its path from the content
/// directory) while problems name `file` (its path from the repository root).
pub fn parse_at(file: &str, id_path: &str, bytes: &[u8]) -> Parsed {
    let broken = |problem: Problem| Parsed::Broken {
        id: default_id(id_path),
        problems: vec![problem],
    };
    if bytes.len() > MAX_POST_BYTES {
        if !starts_with_front_matter(bytes) {
            return Parsed::NotAPost;
        }
        return broken(too_large(file, bytes.len()));
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
            return broken(Problem::new(
                file,
                line,
                "encoding",
                "the file is not valid UTF-8; save it as UTF-8".into(),
                "ファイルが UTF-8 ではありません。UTF-8 で保存し直してください".into(),
            ));
        }
    };
    // Windows editors add a byte-order mark and CRLF line ends; both mean nothing here.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    let Some((yaml, body, body_line)) = split_front_matter(&text) else {
        return if first_line(&text).trim_end() == "---" {
            broken(Problem::new(
                file,
                1,
                "front-matter",
                "the front-matter opened on line 1 never closes; add a line `---` after it".into(),
                "1行目で始まった front-matter が閉じていません。最後に `---` の行を加えてください"
                    .into(),
            ))
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
    let fm = read_front_matter(file, yaml)?;
    let lines = key_lines(yaml);
    let line_of = |key: &str| lines.get(key).copied().unwrap_or(1);
    let mut problems = Vec::new();
    let publish_at = match &fm.publish_at {
        None => PublishAt::Asap,
        Some(s) if s.trim() == NEXT_SLOT => PublishAt::Slot(None),
        Some(s) => parse_publish_at(s).unwrap_or_else(|| {
            problems.push(not_a_time(file, line_of("publish_at"), s));
            PublishAt::Asap
        }),
    };
    let publish_at = match (&fm.slot, publish_at) {
        (None, at) => at,
        (Some(name), PublishAt::Asap | PublishAt::Slot(_)) => {
            PublishAt::Slot(Some(name.trim().to_string()))
        }
        (Some(_), at) => {
            problems.push(Problem::new(
                file,
                line_of("slot"),
                "publish-at",
                "`slot:` takes the first free slot after approval; remove `publish_at` or \
                 `slot`"
                    .into(),
                "`slot:` は承認後の最初の空き枠に入ります。`publish_at` か `slot` のどちらかを消してください"
                    .into(),
            ));
            at
        }
    };
    problems.extend(network_list_problems(
        file,
        line_of("networks"),
        &fm.networks,
    ));
    if fm.id.as_deref().is_some_and(|id| !is_usable_id(id)) {
        problems.push(Problem::new(
            file,
            line_of("id"),
            "id",
            "`id` must be 1–200 characters without spaces or control characters".into(),
            "`id` は空白や制御文字を含まない1〜200文字にしてください".into(),
        ));
    }
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
        path: id_path.to_string(),
        id: fm.id.unwrap_or_else(|| default_id(id_path)),
        title,
        publish_at,
        networks: fm.networks,
        account: fm.account,
        department: fm.department,
        text: fm.text,
        thread: fm.thread,
        images: fm.images,
        retract: fm.retract,
        emergency: fm.emergency,
        card: fm.card.unwrap_or(true),
        body: body.to_string(),
        lines,
        body_line,
    })
}

/// The front-matter's keys, or the problem that stops YAML from reading them.
fn read_front_matter(file: &str, yaml: &str) -> Result<FrontMatter, Vec<Problem>> {
    // Before serde_yaml, which would spend time out of proportion to the size on some.
    yaml_limits::check(yaml, &yaml_limits::FRONT_MATTER)
        .map_err(|e| vec![limit_problem(file, &e)])?;
    if yaml.trim().is_empty() {
        return Ok(FrontMatter::default());
    }
    serde_yaml::from_str(yaml).map_err(|e| {
        // YAML lines are counted from the line after the opening `---`.
        let line = e.location().map(|l| l.line() + 1).unwrap_or(1);
        vec![yaml_problem(file, line, &e.to_string())]
    })
}

/// `publish_at: next-slot`: the first free slot of any of the account's `slots:`.
pub const NEXT_SLOT: &str = "next-slot";

fn not_a_time(file: &str, line: usize, written: &str) -> Problem {
    Problem::new(
        file,
        line,
        "publish-at",
        format!(
            "`publish_at` {} is not a time; write `2026-12-20T19:00:00+09:00`, \
             `2026-12-20 19:00` (in the repository's time zone) or `next-slot`",
            quote(written)
        ),
        format!(
            "`publish_at` {} は日時として読めません。`2026-12-20T19:00:00+09:00`、\
             `2026-12-20 19:00`（リポジトリのタイムゾーン）または `next-slot` の形で書いてください",
            quote(written)
        ),
    )
}

/// `networks:` must name at least one network, each once.
fn network_list_problems(file: &str, line: usize, networks: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if networks.is_empty() {
        problems.push(Problem::new(
            file,
            line,
            "no-networks",
            "the post names no networks; add for example `networks: [x, facebook]`".into(),
            "投稿先がありません。`networks: [x, facebook]` のように書いてください".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in networks {
        if !seen.insert(n) {
            problems.push(Problem::new(
                file,
                line,
                "duplicate-network",
                format!("network {} is listed twice", quote(n)),
                format!("投稿先 {} が2回書かれています", quote(n)),
            ));
        }
    }
    problems
}

/// An id is used in URLs and file names of the dashboard: short, no spaces or controls.
fn is_usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && !id.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Top-level key → line (1-based, within the whole file).
fn key_lines(yaml: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut top = String::new();
    for (i, line) in yaml.lines().enumerate() {
        if line.starts_with([' ', '\t']) {
            // A network's own text or thread, `  x: …` under `text:`, as `text.x`.
            let inner = line.trim_start();
            let indent = line.len() - inner.len();
            if (top == "text" || top == "thread") && indent == 2 && !inner.starts_with(['#', '-']) {
                if let Some((key, _)) = inner.split_once(':') {
                    out.entry(format!("{top}.{}", key.trim())).or_insert(i + 2);
                }
            }
            continue;
        }
        if line.starts_with(['#', '-']) {
            continue;
        }
        if let Some((key, _)) = line.split_once(':') {
            top = key.trim().to_string();
            out.entry(top.clone()).or_insert(i + 2);
        }
    }
    out
}

fn parse_publish_at(s: &str) -> Option<PublishAt> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(PublishAt::Exact(t));
    }
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(PublishAt::Local)
}

impl PublishAt {
    /// The instant this names; `None` for [`PublishAt::Asap`]. Local times need the
    /// repository's time zone; a wall-clock time that a daylight-saving change skips is an
    /// error, one that it repeats means the earlier instant. Errors are (English, Japanese).
    pub fn resolve(&self, tz: Option<Tz>) -> Result<Option<DateTime<Utc>>, (String, String)> {
        match self {
            PublishAt::Asap | PublishAt::Slot(_) => Ok(None),
            PublishAt::Exact(t) => Ok(Some(t.with_timezone(&Utc))),
            PublishAt::Local(naive) => {
                let shown = naive.format("%Y-%m-%d %H:%M");
                let Some(tz) = tz else {
                    return Err((
                        format!(
                            "`publish_at: {shown}` has no UTC offset and oshirase.yaml sets no \
                             `timezone`; add an offset such as +09:00 or set `timezone: Asia/Tokyo`"
                        ),
                        format!(
                            "`publish_at: {shown}` に時差（+09:00 など）がなく、oshirase.yaml に \
                             `timezone` もありません。時差を書き足すか `timezone: Asia/Tokyo` を設定してください"
                        ),
                    ));
                };
                match tz.from_local_datetime(naive) {
                    LocalResult::Single(t) => Ok(Some(t.with_timezone(&Utc))),
                    LocalResult::Ambiguous(early, _) => Ok(Some(early.with_timezone(&Utc))),
                    LocalResult::None => Err((
                        format!(
                            "`publish_at: {shown}` does not exist in {tz} (a daylight-saving \
                             change skips it); pick another time"
                        ),
                        format!(
                            "`publish_at: {shown}` は {tz} では夏時間の切り替えで存在しない時刻です。\
                             別の時刻にしてください"
                        ),
                    )),
                }
            }
        }
    }
}

impl Post {
    /// The line of a front-matter key, or 1 when the key is absent.
    pub fn line_of(&self, key: &str) -> usize {
        self.lines.get(key).copied().unwrap_or(1)
    }

    /// The line of `text.<network>`, or of `text:` when it is written inline.
    pub fn text_line(&self, network: &str) -> usize {
        self.nested_line("text", network)
    }

    /// The line of `thread.<network>`, or of `thread:` when it is written inline.
    pub fn thread_line(&self, network: &str) -> usize {
        self.nested_line("thread", network)
    }

    fn nested_line(&self, key: &str, network: &str) -> usize {
        self.lines
            .get(&format!("{key}.{network}"))
            .copied()
            .unwrap_or_else(|| self.line_of(key))
    }

    pub(super) fn problem(&self, key: &str, code: &str, en: String, ja: String) -> Problem {
        Problem::new(&self.file, self.line_of(key), code, en, ja)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::config::RepoConfig;
    use crate::content::source::{ContentSource, NotContent};

    struct NoFiles;
    impl ContentSource for NoFiles {
        fn stat(&self, _: &str) -> Result<crate::content::source::FileInfo, NotContent> {
            Err(NotContent::Missing)
        }
    }

    fn post(text: &str) -> Post {
        match parse("posts/a.md", text.as_bytes()) {
            Parsed::Post(p) => *p,
            other => panic!("expected a post, got {other:?}"),
        }
    }

    #[test]
    fn a_networks_own_text_has_its_own_line() {
        let p = post("---\ntitle: t\nnetworks: [x, y]\ntext:\n  x: short\n  # a note\n  y: |\n    longer\n---\nbody\n");
        assert_eq!(p.text_line("x"), 5);
        assert_eq!(p.text_line("y"), 7);
        assert_eq!(p.text_line("z"), 4, "falls back to `text:`");
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
        assert!(p
            .publish_at
            .resolve(None)
            .unwrap_err()
            .0
            .contains("timezone"));
    }

    #[test]
    fn skipped_daylight_saving_time_is_an_error() {
        let p = post("---\npublish_at: \"2026-03-08 02:30\"\nnetworks: [x]\n---\n");
        let (en, ja) = p
            .publish_at
            .resolve(Some(chrono_tz::America::New_York))
            .unwrap_err();
        assert!(en.contains("does not exist"), "{en}");
        assert!(ja.contains("存在しない"), "{ja}");
    }

    #[test]
    fn local_times_follow_daylight_saving_on_both_sides_of_a_change() {
        let at = |text: &str| {
            post(&format!(
                "---\npublish_at: \"{text}\"\nnetworks: [x]\n---\n"
            ))
            .publish_at
            .resolve(Some(chrono_tz::Europe::Berlin))
            .unwrap()
            .unwrap()
            .to_rfc3339()
        };
        // Winter time is UTC+1, summer time UTC+2 (the change was 2026-03-29 02:00).
        assert_eq!(at("2026-03-28 09:00"), "2026-03-28T08:00:00+00:00");
        assert_eq!(at("2026-03-29 09:00"), "2026-03-29T07:00:00+00:00");
        // 02:30 on 2026-10-25 happens twice; the first (still summer time) is chosen, so a
        // post never goes out an hour later than its author could have meant.
        assert_eq!(at("2026-10-25 02:30"), "2026-10-25T00:30:00+00:00");
        assert_eq!(at("2026-10-25 09:00"), "2026-10-25T08:00:00+00:00");
        // Tokyo has no daylight saving: the same wall time is always UTC+9.
        let tokyo = post("---\npublish_at: \"2026-07-01 19:00\"\nnetworks: [x]\n---\n")
            .publish_at
            .resolve(Some(chrono_tz::Asia::Tokyo))
            .unwrap()
            .unwrap();
        assert_eq!(tokyo.to_rfc3339(), "2026-07-01T10:00:00+00:00");
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
        let ps = p.resolve(&config(), &NoFiles).unwrap_err();
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
        let r = p.resolve(&config(), &NoFiles).unwrap();
        assert_eq!(r.account, "adachi");
        let x = &r.deliveries[0];
        assert_eq!(x.network, "x");
        let problem = x.problem.as_ref().expect("too long for x");
        assert_eq!(problem.code, "too-long");
        assert_eq!(problem.line, 6);
        assert_eq!(r.deliveries[1].text, "短い");
        assert!(r.deliveries[1].problem.is_none());
    }

    fn thread_config() -> RepoConfig {
        RepoConfig::parse(
            "oshirase.yaml",
            "timezone: Asia/Tokyo\naccounts:\n  adachi:\n    networks:\n      x: { type: x, credentials: X_A }\n      fb: { type: facebook, page_id: \"1\", credentials: FB }\n      line: { type: line, credentials: LINE }\n",
        )
        .unwrap()
    }

    #[test]
    fn a_body_cut_by_plus_lines_is_a_thread_counted_part_by_part() {
        let long = "あ".repeat(150);
        let p = post(&format!(
            "---\nnetworks: [x, fb, line]\n---\n一つ目\n+++\n{long}\n+++\n三つ目\n"
        ));
        let r = p.resolve(&thread_config(), &NoFiles).unwrap();
        let x = &r.deliveries[0];
        assert_eq!(x.text, "一つ目");
        let texts: Vec<_> = x.parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["一つ目", long.as_str(), "三つ目"]);
        let lengths: Vec<_> = x.parts.iter().map(|p| p.length).collect();
        assert_eq!(lengths, [6, 300, 6], "X counts each part on its own");
        let problem = x.problem.as_ref().expect("part 2 is too long for X");
        assert_eq!((problem.code.as_str(), problem.line), ("too-long", 6));
        assert!(
            problem.message.contains("part 2 of 3"),
            "{}",
            problem.message
        );
        // Facebook gets the whole text as one post; LINE a message per part.
        assert_eq!(r.deliveries[1].text, format!("一つ目\n\n{long}\n\n三つ目"));
        assert!(r.deliveries[1].parts.is_empty());
        assert_eq!(r.deliveries[2].parts.len(), 3);
        assert!(r.deliveries[2].problem.is_none());
    }

    #[test]
    fn a_networks_own_thread_and_its_mistakes() {
        let p = post("---\nnetworks: [x, fb]\nthread:\n  x: [\"その1\", \"その2\"]\n---\n本文\n");
        let r = p.resolve(&thread_config(), &NoFiles).unwrap();
        let texts: Vec<_> = r.deliveries[0]
            .parts
            .iter()
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(texts, ["その1", "その2"]);
        assert_eq!(r.deliveries[1].text, "本文", "the others keep the body");

        let both = post("---\nnetworks: [x]\ntext:\n  x: 短文\nthread:\n  x: [a, b]\n---\n本文\n");
        let ps = both.resolve(&thread_config(), &NoFiles).unwrap_err();
        assert!(
            ps.iter()
                .any(|p| p.message.contains("both `text` and `thread`")),
            "{ps:?}"
        );
        let stray = post("---\nnetworks: [x]\nthread:\n  fb: [a, b]\n---\n本文\n");
        let ps = stray.resolve(&thread_config(), &NoFiles).unwrap_err();
        assert_eq!((ps[0].code.as_str(), ps[0].line), ("text-network", 4));

        let six = post("---\nnetworks: [line]\nthread:\n  line: [a, b, c, d, e, f]\n---\n本文\n");
        let r = six.resolve(&thread_config(), &NoFiles).unwrap();
        let problem = r.deliveries[0].problem.as_ref().expect("six messages");
        assert_eq!(problem.code, "too-many-messages");

        let repeated =
            post("---\nnetworks: [x, fb]\n---\nお知らせ\n+++\n（続く）\n+++\n（続く）\n");
        let r = repeated.resolve(&thread_config(), &NoFiles).unwrap();
        let problem = r.deliveries[0]
            .problem
            .as_ref()
            .expect("X refuses a repeat");
        assert_eq!((problem.code.as_str(), problem.line), ("repeated-part", 8));
        assert!(r.deliveries[1].problem.is_none(), "Facebook gets one text");
    }
}
