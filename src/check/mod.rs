//! `oshirase check` and `oshirase preview`: a content repository validated the way `serve`
//! will see it, before a supervisor merges it.
//!
//! It reads the checked-out files of a pull request (not git objects: the pull request is
//! not merged yet), parses every post, resolves it against `oshirase.yaml` exactly as
//! `serve` does, and reports problems with file and line plus what each network would
//! receive. [`output`] turns the report into human, GitHub, JSON or Markdown text. The
//! desk's live preview (`POST /api/preview`) runs the same check on the file it would
//! write, which is why this is a folder of its own below `web` and not part of `cli`.
//! May use: `support`, `content`, `model`, `git`.

pub mod output;

mod files;
mod repeats;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use self::files::find_content_dir;
use self::files::Found;
use crate::content::config::{NetworkKind, RepoConfig, CONFIG_FILE};
use crate::content::count::{self, Facet};
use crate::content::not_a_post;
use crate::content::post::{self, Image, Parsed, MAX_POST_BYTES};
use crate::content::problem::Problem;
use crate::content::resolve::{PlannedDelivery, ResolvedPost};
use crate::content::source::FsSource;

/// A mistake in how `check` was called (exit code 2), as opposed to a problem in a post.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}: no such directory")]
    NoContentDir(PathBuf),
    #[error("{0}: no such file")]
    NoFile(PathBuf),
    #[error("{0} is outside the content directory {1}")]
    Outside(PathBuf, PathBuf),
    #[error("--base {0}: {1}")]
    Base(String, String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The content directory (where `oshirase.yaml` lives).
    pub content: PathBuf,
    /// Only these files' problems are reported (all posts are still read, for duplicates).
    pub files: Vec<PathBuf>,
    /// A git revision: posts changed since it count as new for the warnings about them.
    pub base: Option<String>,
    pub now: DateTime<Utc>,
}

/// What each network would receive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkPreview {
    pub network: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub length: usize,
    pub limit: usize,
    pub ok: bool,
    /// Bluesky's link and tag facets (UTF-8 byte offsets), so a reviewer sees links and
    /// hashtags will work.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<Facet>,
    /// A thread's parts in order (the first is `text`), each with its own count against
    /// `limit`; empty for a post of one part.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartPreview>,
}

/// One part of a thread as its network would receive it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartPreview {
    pub text: String,
    pub length: usize,
    pub line: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PostPreview {
    pub id: String,
    pub file: String,
    pub title: String,
    pub publish_at: Option<DateTime<Utc>>,
    /// For `publish_at: next-slot` or `slot:`: the slot it would take if merged now (the
    /// first free one at the time of this check, counting the other slot posts checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<SlotPreview>,
    pub department: Option<String>,
    pub images: Vec<Image>,
    pub networks: Vec<NetworkPreview>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotPreview {
    pub name: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Markdown files looked at.
    pub files: usize,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub posts: Vec<PostPreview>,
    pub timezone: Option<Tz>,
}

impl CheckReport {
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.errors.is_empty())
    }
}

/// Where `check` looks and what it reports on: paths are kept relative to the content
/// directory and shown relative to the repository root.
struct Scope {
    content: PathBuf,
    /// The content directory inside the repository's work tree (`""` at its root).
    prefix: String,
    /// The files named on the command line; `None` means all.
    selected: Option<BTreeSet<String>>,
    /// The files changed since `--base`, when given.
    changed: Option<BTreeSet<String>>,
}

impl Scope {
    fn new(opts: &CheckOptions) -> Result<Scope, UsageError> {
        let content = opts
            .content
            .canonicalize()
            .map_err(|_| UsageError::NoContentDir(opts.content.clone()))?;
        if !content.is_dir() {
            return Err(UsageError::NoContentDir(opts.content.clone()));
        }
        let git = git2::Repository::discover(&content).ok();
        let prefix = git
            .as_ref()
            .and_then(|r| r.workdir())
            .and_then(|w| w.canonicalize().ok())
            .and_then(|w| content.strip_prefix(w).ok().map(Path::to_path_buf))
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let selected = if opts.files.is_empty() {
            None
        } else {
            let paths = opts.files.iter().map(|f| files::relative_to(&content, f));
            Some(paths.collect::<Result<_, _>>()?)
        };
        let changed = match &opts.base {
            Some(base) => Some(files::changed_since(git.as_ref(), base, &prefix)?),
            None => None,
        };
        Ok(Scope {
            content,
            prefix,
            selected,
            changed,
        })
    }

    /// A content path as staff and GitHub annotations see it: from the repository root.
    fn shown(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    fn is_selected(&self, path: &str) -> bool {
        self.selected.as_ref().is_none_or(|s| s.contains(path))
    }

    /// Named on the command line or changed since `--base`: the warnings about a post
    /// being new (its time already past) apply.
    fn is_new(&self, path: &str) -> bool {
        self.selected.as_ref().is_some_and(|s| s.contains(path))
            || self.changed.as_ref().is_some_and(|c| c.contains(path))
    }

    /// Compared by the duplicate guard as part of the change: named or changed, or, when
    /// `check` looks at the whole repository, not yet out.
    fn is_reviewed(&self, path: &str, at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        if self.selected.is_some() || self.changed.is_some() {
            self.is_new(path)
        } else {
            at.is_none_or(|t| t > now)
        }
    }

    /// With `--base` the preview shows what the pull request changes, so a year of old
    /// posts does not bury it (errors are still reported for all).
    fn is_previewed(&self, path: &str) -> bool {
        self.is_selected(path) && self.changed.as_ref().is_none_or(|c| c.contains(path))
    }
}

pub fn check(opts: &CheckOptions) -> Result<CheckReport, UsageError> {
    let scope = Scope::new(opts)?;
    let shown = |path: &str| scope.shown(path);
    let mut tally = Tally::default();
    let config = read_config(&scope, &mut tally);
    let mut found = Vec::new();
    files::walk(&scope.content, "", &mut found, &shown)
        .map_err(|e| UsageError::Io(scope.content.clone(), e))?;
    let source = FsSource::new(&scope.content);
    for f in &found {
        if let Some(post) = tally.parse(f) {
            if let Some(config) = &config {
                tally.resolve(f, post, config, &source, &scope, opts.now);
            }
        }
    }
    tally.find_repeats(&shown);
    let zone = config.as_ref().and_then(|c| c.timezone);
    let (errors, warnings) = repeats::find(&tally.sent, opts.now, zone);
    tally.problems.extend(errors);
    tally.warnings.extend(warnings);
    Ok(CheckReport {
        files: found.iter().filter(|f| scope.is_selected(&f.path)).count(),
        timezone: config.as_ref().and_then(|c| c.timezone),
        ..tally.into_report(&scope)
    })
}

/// `oshirase.yaml`, or `None` with its problem noted.
fn read_config(scope: &Scope, tally: &mut Tally) -> Option<RepoConfig> {
    let shown = scope.shown(CONFIG_FILE);
    let problem = match std::fs::read_to_string(scope.content.join(CONFIG_FILE)) {
        Ok(text) => match RepoConfig::parse(&shown, &text) {
            Ok(config) => return Some(config),
            Err(e) => Problem::new(
                &shown,
                e.line.unwrap_or(1),
                "config",
                e.message.clone(),
                format!("oshirase.yaml の設定に誤りがあります: {}", e.message),
            ),
        },
        Err(_) => Problem::new(
            &shown,
            1,
            "config",
            format!("{CONFIG_FILE} is missing from the content directory"),
            format!("コンテンツのディレクトリに {CONFIG_FILE} がありません"),
        ),
    };
    tally.config_problem = Some(problem);
    None
}

/// What `check` has found so far, each problem with the content path it belongs to (so
/// that only the selected files' problems are reported at the end).
#[derive(Default)]
struct Tally {
    /// (network, text) → files, to warn of repeated texts.
    texts: BTreeMap<(String, String), Vec<String>>,
    /// post id → files, to refuse a shared id.
    ids: BTreeMap<String, Vec<String>>,
    problems: Vec<(String, Problem)>,
    warnings: Vec<(String, Problem)>,
    posts: Vec<PostPreview>,
    /// The texts of the posts whose account guards against repeats.
    sent: Vec<repeats::Sent>,
    /// Reported whatever files are selected: without a configuration no post is checked.
    config_problem: Option<Problem>,
    /// (account, slot, instant in ms) → slot posts of this check given it.
    slots: HashMap<(String, String, i64), u32>,
}

impl Tally {
    /// The post a file holds, if it is one that parses; its problems are noted otherwise.
    fn parse(&mut self, f: &Found) -> Option<post::Post> {
        if f.bad_name {
            self.problems
                .push((f.path.clone(), bad_name_problem(&f.shown)));
            return None;
        }
        let parsed = if f.size > MAX_POST_BYTES as u64 {
            if post::starts_with_front_matter(&f.bytes) {
                Parsed::Broken {
                    id: post::default_id(&f.path),
                    problems: vec![post::too_large(&f.shown, f.size as usize)],
                }
            } else {
                Parsed::NotAPost
            }
        } else {
            post::parse_at(&f.shown, &f.path, &f.bytes)
        };
        match parsed {
            Parsed::NotAPost => {
                if let Some(w) = not_a_post::warning(&f.shown, &f.bytes) {
                    self.warnings.push((f.path.clone(), w));
                }
                None
            }
            Parsed::Broken { id, problems } => {
                self.ids.entry(id).or_default().push(f.path.clone());
                let path = &f.path;
                self.problems
                    .extend(problems.into_iter().map(|p| (path.clone(), p)));
                None
            }
            Parsed::Post(post) => {
                self.ids
                    .entry(post.id.clone())
                    .or_default()
                    .push(f.path.clone());
                Some(*post)
            }
        }
    }

    /// Checks a parsed post against the configuration and keeps its preview.
    fn resolve(
        &mut self,
        f: &Found,
        post: post::Post,
        config: &RepoConfig,
        source: &FsSource,
        scope: &Scope,
        now: DateTime<Utc>,
    ) {
        let path = &f.path;
        let resolved = match post.resolve(config, source) {
            Ok(r) => r,
            Err(problems) => {
                self.problems
                    .extend(problems.into_iter().map(|p| (path.clone(), p)));
                return;
            }
        };
        let warnings = resolved.warnings.iter().cloned();
        self.warnings.extend(warnings.map(|p| (path.clone(), p)));
        if let Some(at) = resolved.publish_at {
            if at < now && scope.is_new(path) {
                let warning = past_warning(&resolved.post, at, config);
                self.warnings.push((path.clone(), warning));
            }
        }
        let account = config.accounts.get(&resolved.account);
        let window = account.and_then(|a| a.policy.as_ref()?.duplicates);
        for d in &resolved.deliveries {
            if let Some(p) = &d.problem {
                self.problems.push((path.clone(), p.clone()));
            }
            match window {
                Some(window) => {
                    let line = match resolved.post.text.contains_key(&d.network) {
                        true => resolved.post.text_line(&d.network),
                        false => resolved.post.body_line,
                    };
                    let sent = repeats::Sent {
                        path: path.clone(),
                        shown: f.shown.clone(),
                        line,
                        account: resolved.account.clone(),
                        network: d.network.clone(),
                        kind: d.kind,
                        at: resolved.publish_at,
                        reviewed: scope.is_reviewed(path, resolved.publish_at, now),
                        window,
                        skeleton: String::new(),
                    };
                    self.sent.push(sent.text(&d.text));
                }
                // Without the guard, the same text twice is still worth a warning.
                None => {
                    let key = (d.network.clone(), d.text.clone());
                    self.texts.entry(key).or_default().push(path.clone());
                }
            }
        }
        let slot = self.next_slot(&resolved, config, now);
        if scope.is_previewed(path) {
            self.posts.push(PostPreview {
                id: resolved.post.id.clone(),
                file: f.shown.clone(),
                title: resolved.post.title.clone(),
                publish_at: resolved.publish_at,
                slot,
                department: resolved.post.department.clone(),
                images: resolved.images.clone(),
                networks: resolved.deliveries.iter().map(network_preview).collect(),
            });
        }
    }

    /// The slot a slot post would take if merged now, given to it here so the next slot
    /// post of the check is shown the one after.
    fn next_slot(
        &mut self,
        resolved: &ResolvedPost,
        config: &RepoConfig,
        now: DateTime<Utc>,
    ) -> Option<SlotPreview> {
        let asked = resolved.slot.as_ref()?;
        let account = config.accounts.get(&resolved.account)?;
        let tz = config.timezone?;
        let (name, at) = crate::content::slots::first_free(
            &account.slots,
            asked.as_deref(),
            now,
            tz,
            |s, t| {
                let key = (account.name.clone(), s.to_string(), t.timestamp_millis());
                self.slots.get(&key).copied().unwrap_or(0)
            },
        )?;
        let key = (account.name.clone(), name.clone(), at.timestamp_millis());
        *self.slots.entry(key).or_default() += 1;
        Some(SlotPreview { name, at })
    }

    /// Ids used by two files are errors; the same text twice for a network, a warning.
    fn find_repeats(&mut self, shown: &dyn Fn(&str) -> String) {
        for (id, paths) in &self.ids {
            for (path, others) in shared_by(paths, shown) {
                self.problems.push((
                    path.clone(),
                    Problem::new(
                        &shown(&path),
                        1,
                        "duplicate-id",
                        format!("post id `{id}` is also used by {others}; give each post its own `id:`"),
                        format!("投稿 ID `{id}` は {others} でも使われています。それぞれに別の `id:` を付けてください"),
                    ),
                ));
            }
        }
        for ((network, _), paths) in &self.texts {
            for (path, others) in shared_by(paths, shown) {
                self.warnings.push((
                    path.clone(),
                    Problem::new(
                        &shown(&path),
                        1,
                        "duplicate-text",
                        format!("the text for `{network}` is identical to {others}; networks reject or hide repeated posts"),
                        format!("`{network}` に送る本文が {others} と同じです。同じ内容の投稿は拒否されたり表示されなかったりします"),
                    ),
                ));
            }
        }
    }

    /// The selected files' problems, in file and line order, and the previews by time.
    fn into_report(self, scope: &Scope) -> CheckReport {
        let selected = |list: Vec<(String, Problem)>, first: Option<Problem>| {
            let chosen = list.into_iter().filter(|(path, _)| scope.is_selected(path));
            let mut list: Vec<Problem> = first.into_iter().chain(chosen.map(|(_, p)| p)).collect();
            list.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            list
        };
        let mut posts = self.posts;
        posts.sort_by(|a, b| a.publish_at.cmp(&b.publish_at).then(a.file.cmp(&b.file)));
        CheckReport {
            files: 0,
            errors: selected(self.problems, self.config_problem),
            warnings: selected(self.warnings, None),
            posts,
            timezone: None,
        }
    }
}

fn network_preview(d: &PlannedDelivery) -> NetworkPreview {
    let facets = if d.kind == NetworkKind::Bluesky {
        count::bluesky_facets(&d.text)
    } else {
        Vec::new()
    };
    NetworkPreview {
        network: d.network.clone(),
        kind: d.kind.as_str().to_string(),
        text: d.text.clone(),
        length: d.length,
        limit: d.limit,
        ok: d.problem.is_none(),
        facets,
        parts: d
            .parts
            .iter()
            .map(|p| PartPreview {
                text: p.text.clone(),
                length: p.length,
                line: p.line,
            })
            .collect(),
    }
}

fn bad_name_problem(shown: &str) -> Problem {
    Problem::new(
        shown,
        1,
        "file-name",
        "the file name is not valid UTF-8, so it cannot be a post (oshirase skips it); \
         rename it with plain characters"
            .to_string(),
        "ファイル名が UTF-8 ではないため投稿として扱えません（読み飛ばされます）。\
         名前を付け直してください"
            .to_string(),
    )
}

/// For files sharing something (an id, a text): each file with the others, as shown.
fn shared_by(paths: &[String], shown: &dyn Fn(&str) -> String) -> Vec<(String, String)> {
    if paths.len() < 2 {
        return Vec::new();
    }
    paths
        .iter()
        .map(|path| {
            let others: Vec<String> = paths
                .iter()
                .filter(|p| *p != path)
                .map(|p| shown(p))
                .collect();
            (path.clone(), others.join(", "))
        })
        .collect()
}

fn past_warning(post: &post::Post, at: DateTime<Utc>, config: &RepoConfig) -> Problem {
    let lateness = humantime::format_duration(config.max_lateness);
    Problem::new(
        &post.file,
        post.line_of("publish_at"),
        "past",
        format!(
            "publish_at ({}) is already past: merged now, it goes out at once if within \
             max_lateness ({lateness}), otherwise it is missed and never sent",
            at.to_rfc3339()
        ),
        format!(
            "publish_at（{}）はすでに過ぎています。今マージすると、遅れが max_lateness（{lateness}）\
             以内ならすぐに送信され、それより遅ければ送信されません（missed）",
            at.to_rfc3339()
        ),
    )
}
