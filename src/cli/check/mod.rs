//! `oshirase check` and `oshirase preview`: a content repository validated the way `serve`
//! will see it, before a supervisor merges it.
//!
//! It reads the checked-out files of a pull request (not git objects: the pull request is
//! not merged yet), parses every post, resolves it against `oshirase.yaml` exactly as
//! `serve` does, and reports problems with file and line plus what each network would
//! receive. [`output`] turns the report into human, GitHub, JSON or Markdown text.

pub mod output;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::content::config::{RepoConfig, CONFIG_FILE};
use crate::content::count::Facet;
use crate::content::post::{self, Image, Parsed, Problem, MAX_POST_BYTES};
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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PostPreview {
    pub id: String,
    pub file: String,
    pub title: String,
    pub publish_at: Option<DateTime<Utc>>,
    pub department: Option<String>,
    pub images: Vec<Image>,
    pub networks: Vec<NetworkPreview>,
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

/// One Markdown file found under the content directory.
struct Found {
    /// From the content directory.
    path: String,
    /// From the repository root (what GitHub annotations and staff see).
    shown: String,
    bytes: Vec<u8>,
    size: u64,
    /// The name is not UTF-8: git forges cannot show it and `serve` skips it.
    bad_name: bool,
}

pub fn check(opts: &CheckOptions) -> Result<CheckReport, UsageError> {
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
    let shown = |path: &str| {
        if prefix.is_empty() {
            path.to_string()
        } else {
            format!("{prefix}/{path}")
        }
    };

    let selected: Option<BTreeSet<String>> = if opts.files.is_empty() {
        None
    } else {
        Some(
            opts.files
                .iter()
                .map(|f| relative_to(&content, f))
                .collect::<Result<_, _>>()?,
        )
    };
    let changed = match &opts.base {
        Some(base) => Some(changed_since(git.as_ref(), base, &prefix)?),
        None => None,
    };

    let mut report = CheckReport {
        files: 0,
        errors: Vec::new(),
        warnings: Vec::new(),
        posts: Vec::new(),
        timezone: None,
    };
    let config_shown = shown(CONFIG_FILE);
    let config = match std::fs::read_to_string(content.join(CONFIG_FILE)) {
        Ok(text) => match RepoConfig::parse(&config_shown, &text) {
            Ok(c) => Some(c),
            Err(e) => {
                report.errors.push(Problem::new(
                    &config_shown,
                    e.line.unwrap_or(1),
                    "config",
                    e.message.clone(),
                    format!("oshirase.yaml の設定に誤りがあります: {}", e.message),
                ));
                None
            }
        },
        Err(_) => {
            report.errors.push(Problem::new(
                &config_shown,
                1,
                "config",
                format!("{CONFIG_FILE} is missing from the content directory"),
                format!("コンテンツのディレクトリに {CONFIG_FILE} がありません"),
            ));
            None
        }
    };
    report.timezone = config.as_ref().and_then(|c| c.timezone);

    let mut found = Vec::new();
    walk(&content, "", &mut found, &shown).map_err(|e| UsageError::Io(content.clone(), e))?;
    report.files = match &selected {
        Some(s) => found.iter().filter(|f| s.contains(&f.path)).count(),
        None => found.len(),
    };
    let is_selected = |path: &str| selected.as_ref().is_none_or(|s| s.contains(path));
    let is_new = |path: &str| {
        selected.as_ref().is_some_and(|s| s.contains(path))
            || changed.as_ref().is_some_and(|c| c.contains(path))
    };
    let files = FsSource::new(&content);

    // (network, text) → files, and id → files, across every post.
    let mut texts: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for f in &found {
        if f.bad_name {
            problems.push((
                f.path.clone(),
                Problem::new(
                    &f.shown,
                    1,
                    "file-name",
                    "the file name is not valid UTF-8, so it cannot be a post (oshirase skips \
                     it); rename it with plain characters"
                        .to_string(),
                    "ファイル名が UTF-8 ではないため投稿として扱えません（読み飛ばされます）。\
                     名前を付け直してください"
                        .to_string(),
                ),
            ));
            continue;
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
        let post = match parsed {
            Parsed::NotAPost => {
                if let Some(w) = post::not_a_post_warning(&f.shown, &f.bytes) {
                    warnings.push((f.path.clone(), w));
                }
                continue;
            }
            Parsed::Broken { id, problems: ps } => {
                ids.entry(id).or_default().push(f.path.clone());
                problems.extend(ps.into_iter().map(|p| (f.path.clone(), p)));
                continue;
            }
            Parsed::Post(p) => *p,
        };
        ids.entry(post.id.clone()).or_default().push(f.path.clone());
        let Some(config) = &config else {
            continue;
        };
        let title = post.title.clone();
        let department = post.department.clone();
        let id = post.id.clone();
        match post.resolve(config, &files) {
            Err(ps) => problems.extend(ps.into_iter().map(|p| (f.path.clone(), p))),
            Ok(r) => {
                warnings.extend(r.warnings.iter().cloned().map(|p| (f.path.clone(), p)));
                if let Some(at) = r.publish_at {
                    if at < opts.now && is_new(&f.path) {
                        warnings.push((f.path.clone(), past_warning(&r.post, at, config)));
                    }
                }
                let mut networks = Vec::new();
                for d in &r.deliveries {
                    if let Some(p) = &d.problem {
                        problems.push((f.path.clone(), p.clone()));
                    }
                    texts
                        .entry((d.network.clone(), d.text.clone()))
                        .or_default()
                        .push(f.path.clone());
                    let facets = if d.kind == crate::content::config::NetworkKind::Bluesky {
                        crate::content::count::bluesky_facets(&d.text)
                    } else {
                        Vec::new()
                    };
                    networks.push(NetworkPreview {
                        network: d.network.clone(),
                        kind: d.kind.as_str().to_string(),
                        text: d.text.clone(),
                        length: d.length,
                        limit: d.limit,
                        ok: d.problem.is_none(),
                        facets,
                    });
                }
                // With --base the preview shows what the pull request changes, so a year
                // of old posts does not bury it (errors are still reported for all).
                let previewed =
                    is_selected(&f.path) && changed.as_ref().is_none_or(|c| c.contains(&f.path));
                if previewed {
                    report.posts.push(PostPreview {
                        id,
                        file: f.shown.clone(),
                        title,
                        publish_at: r.publish_at,
                        department,
                        images: r.images.clone(),
                        networks,
                    });
                }
            }
        }
    }
    for (id, paths) in &ids {
        for (path, others) in shared_by(paths, &shown) {
            problems.push((
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
    for ((network, _), paths) in &texts {
        for (path, others) in shared_by(paths, &shown) {
            warnings.push((
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
    report.errors.extend(
        problems
            .into_iter()
            .filter(|(p, _)| is_selected(p))
            .map(|(_, p)| p),
    );
    report.warnings.extend(
        warnings
            .into_iter()
            .filter(|(p, _)| is_selected(p))
            .map(|(_, p)| p),
    );
    report
        .errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    report
        .warnings
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    report
        .posts
        .sort_by(|a, b| a.publish_at.cmp(&b.publish_at).then(a.file.cmp(&b.file)));
    Ok(report)
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

/// The path of `file` (as given on the command line) inside `content`.
fn relative_to(content: &Path, file: &Path) -> Result<String, UsageError> {
    let full = file
        .canonicalize()
        .map_err(|_| UsageError::NoFile(file.to_path_buf()))?;
    let rel = full
        .strip_prefix(content)
        .map_err(|_| UsageError::Outside(file.to_path_buf(), content.to_path_buf()))?;
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

/// Content-relative paths that differ between the merge base of `base` and HEAD and the
/// files on disk (committed or not).
fn changed_since(
    git: Option<&git2::Repository>,
    base: &str,
    prefix: &str,
) -> Result<BTreeSet<String>, UsageError> {
    let err = |m: String| UsageError::Base(base.to_string(), m);
    let git = git.ok_or_else(|| err("the content directory is not in a git repository".into()))?;
    let base_commit = git
        .revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| err(e.message().to_string()))?;
    let head = git
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| err(e.message().to_string()))?;
    let merge_base = git
        .merge_base(base_commit.id(), head.id())
        .and_then(|o| git.find_commit(o))
        .map_err(|e| err(e.message().to_string()))?;
    let tree = merge_base
        .tree()
        .map_err(|e| err(e.message().to_string()))?;
    let diff = git
        .diff_tree_to_workdir_with_index(Some(&tree), None)
        .map_err(|e| err(e.message().to_string()))?;
    let strip = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok(diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .filter_map(|p| p.strip_prefix(&strip).map(str::to_string))
        .collect())
}

/// Finds `*.md` files, skipping hidden folders and anything that is not a regular file
/// (a symlink could point outside the repository).
fn walk(
    dir: &Path,
    rel: &str,
    out: &mut Vec<Found>,
    shown: &dyn Fn(&str) -> String,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            let lossy = name.to_string_lossy();
            if lossy.ends_with(".md") && entry.file_type()?.is_file() {
                let path = if rel.is_empty() {
                    lossy.into_owned()
                } else {
                    format!("{rel}/{lossy}")
                };
                out.push(Found {
                    shown: shown(&path),
                    path,
                    bytes: Vec::new(),
                    size: 0,
                    bad_name: true,
                });
            }
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &path, out, shown)?;
        } else if kind.is_file() && name.ends_with(".md") {
            let size = entry.metadata()?.len();
            let mut bytes = Vec::new();
            std::fs::File::open(entry.path())?
                .take(MAX_POST_BYTES as u64 + 1)
                .read_to_end(&mut bytes)?;
            out.push(Found {
                shown: shown(&path),
                path,
                bytes,
                size,
                bad_name: false,
            });
        }
    }
    Ok(())
}

/// The content directory holding `file`: the nearest folder upwards with an `oshirase.yaml`.
pub fn find_content_dir(file: &Path) -> Option<PathBuf> {
    let full = file.canonicalize().ok()?;
    full.ancestors()
        .skip(1)
        .find(|d| d.join(CONFIG_FILE).is_file())
        .map(Path::to_path_buf)
}
