//! The branch tip compared with the store, turned into state changes.
//!
//! [`sync`] reads the repository and decides which files need parsing; [`plan_post`] and
//! [`plan_removal`] are pure and decide, against the post as it is committed at that
//! moment, what changes: new post → scheduled (or held, or invalid); edited before it went
//! out → rescheduled; removed before it went out → cancelled; edited after it went out →
//! flagged, never sent again.
//! May use: `support`, `content`, `model`, `git`, `store`.

mod approval;
pub mod config_approval;
pub mod plan;
mod prepare;
mod repeats;
mod slots;
pub mod waiting;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::content::config::{ConfigError, RepoConfig};
use crate::content::info::RepoInfo;
use crate::content::not_a_post;
use crate::content::post;
use crate::content::problem::Problem;
use crate::git::repo::{Change, ContentFile, Landing, Repo, RepoError};
use crate::store::{meta, Snapshot, Store, StoreError, POST_BATCH};
use config_approval::HeldConfig;

use crate::sync::approval::{approval_hold, config_in_force, BaseConfigs, InForce};
use crate::sync::plan::{plan_post, plan_removal, Candidate, Outcome};
use crate::sync::prepare::{full_changes, hash, identity, prepare_all, NotPosts, Source};
use crate::sync::repeats::SentTexts;
use crate::sync::slots::SlotBook;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file} is missing on branch `{branch}`; nothing was changed")]
    NoConfig { file: String, branch: String },
    #[error("{0}; nothing was changed")]
    BadConfig(#[source] ConfigError),
    /// The text kept as in force fails to parse (a newer rule than when it was accepted).
    #[error("the configuration in force (commit {commit}) no longer reads: {source}")]
    StoredConfig { commit: String, source: ConfigError },
    #[error("the sync's thread stopped before it finished: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
}

/// What the caller of a sync fixes for every sync.
pub struct SyncOptions<'a> {
    pub repo_path: &'a Path,
    pub branch: &'a str,
    pub content_dir: &'a str,
    /// Replace every network with an outbox (`serve --dry-run`, the demo).
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub struct SyncReport {
    pub commit: String,
    /// The configuration in force (after a dry run's swap of networks for outboxes).
    pub config: RepoConfig,
    /// The commit that landed the configuration in force.
    pub config_commit: String,
    /// A newer `oshirase.yaml` on the branch that is not approved yet.
    pub config_held: Option<HeldConfig>,
    pub files: usize,
    pub parsed: usize,
    pub events: usize,
    /// Markdown files that are not posts but look meant to be, each with why.
    pub not_posts: Vec<Problem>,
    pub took: Duration,
    /// Where `took` went.
    pub phases: SyncPhases,
}

/// Where a sync's time went, printed by the sync benchmark.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncPhases {
    /// Reading the configuration, the tree and the blobs that changed.
    pub read: Duration,
    /// Parsing the posts and checking them against the configuration.
    pub parse: Duration,
    /// Finding in the history how each post landed.
    pub provenance: Duration,
    /// Planning against the store and writing it.
    pub write: Duration,
}

/// How a sync found what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The tip is the commit synced last, under the same configuration.
    Unchanged,
    /// The diff from the commit synced last.
    Incremental,
    /// Every file compared with the store (first sync, new configuration, rewritten history).
    Full,
}

/// The configuration this sync plans with, as decided before any post is read.
struct Configured {
    in_force: InForce,
    /// After a dry run's swap of networks for outboxes.
    config: RepoConfig,
    /// What the dashboard shows of it: as written, before a dry run.
    repo_info: String,
    /// Posts planned under another configuration are planned again.
    hash: String,
}

/// A post file to plan, with where it was before a rename.
type Upsert<'c> = (&'c ContentFile, Option<&'c str>, Candidate);

/// Brings the store in line with the branch tip.
pub fn sync(store: &Store, opts: &SyncOptions<'_>) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let repo = Repo::open(opts.repo_path, opts.branch, opts.content_dir)?;
    let tip = repo.tip()?;
    let configured = configure(store, &repo, tip, opts)?;
    let (changes, files_seen, mode) = changes_since(store, &repo, tip, &configured.hash)?;
    let mut phases = SyncPhases {
        read: started.elapsed(),
        ..SyncPhases::default()
    };

    let phase = Instant::now();
    let source = Source {
        opts,
        tip,
        config: &configured.config,
        config_hash: &configured.hash,
    };
    let prepared = prepare_all(&repo, &source, &upserted_files(&changes))?;
    phases.parse = phase.elapsed();
    let mut not_posts = NotPosts::load(store, mode == Mode::Full)?;
    let (upserts, deletes) = sort_changes(&changes, prepared, &mut not_posts);

    let phase = Instant::now();
    let paths: HashSet<String> = upserts.iter().map(|(f, _, _)| f.path.clone()).collect();
    let landings = repo.landings(tip, &paths)?;
    phases.provenance = phase.elapsed();

    let phase = Instant::now();
    let gone = gone_paths(&changes);
    let (mut events, seen_ids) =
        write_upserts(store, &repo, &configured.config, upserts, &landings, &gone)?;
    let commit = tip.to_string();
    events += write_removals(store, &deletes, &seen_ids, &commit)?;
    record_sync(store, &commit, &configured, &not_posts)?;
    phases.write = phase.elapsed();
    tracing::debug!(?mode, changes = changes.len(), ?phases, "sync planned");
    Ok(SyncReport {
        commit,
        config: configured.config,
        config_commit: configured.in_force.commit,
        config_held: configured.in_force.held,
        files: files_seen,
        parsed: paths.len(),
        events,
        not_posts: not_posts.into_list(),
        took: started.elapsed(),
        phases,
    })
}

/// The configuration in force at `tip`, accepted by the caller, and its hash.
fn configure(
    store: &Store,
    repo: &Repo,
    tip: git2::Oid,
    opts: &SyncOptions<'_>,
) -> Result<Configured, SyncError> {
    let in_force = config_in_force(store, repo, tip, opts.branch)?;
    let config = in_force.config.clone();
    let repo_info = RepoInfo::from_config(&config, opts.dry_run).to_json();
    let config = if opts.dry_run {
        config.into_dry_run()
    } else {
        config
    };
    let hash = hash(&[in_force.text.as_bytes(), &[u8::from(opts.dry_run)]]);
    Ok(Configured {
        in_force,
        config,
        repo_info,
        hash,
    })
}

/// What changed since the last sync, how many files were looked at, and how it was found.
fn changes_since(
    store: &Store,
    repo: &Repo,
    tip: git2::Oid,
    config_hash: &str,
) -> Result<(Vec<Change>, usize, Mode), SyncError> {
    let last = store.meta(meta::LAST_SYNC_COMMIT)?;
    let same_config = store.meta(meta::CONFIG_HASH)?.as_deref() == Some(config_hash);
    Ok(match last.as_deref().filter(|_| same_config) {
        Some(last) if last == tip.to_string() => (Vec::new(), 0, Mode::Unchanged),
        Some(last) => match repo.changes_between(last, tip)? {
            Some(changes) => (changes, 0, Mode::Incremental),
            None => full_changes(repo, store, tip, config_hash)?,
        },
        None => full_changes(repo, store, tip, config_hash)?,
    })
}

fn upserted_files(changes: &[Change]) -> Vec<&ContentFile> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert { file, .. } => Some(file),
            Change::Delete { .. } => None,
        })
        .collect()
}

/// Paths that left the branch in this sync (deleted, or renamed away from).
fn gone_paths(changes: &[Change]) -> HashSet<&str> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Delete { path } => Some(path.as_str()),
            Change::Upsert { renamed_from, .. } => renamed_from.as_deref(),
        })
        .collect()
}

/// The changes as posts to plan and paths whose post is gone; files that are not posts
/// (any more) are noted in `not_posts` when they look meant to be.
fn sort_changes<'c>(
    changes: &'c [Change],
    prepared: Vec<Option<Candidate>>,
    not_posts: &mut NotPosts,
) -> (Vec<Upsert<'c>>, Vec<&'c str>) {
    let mut prepared = prepared.into_iter();
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for c in changes {
        let (file, renamed_from) = match c {
            Change::Upsert { file, renamed_from } => (file, renamed_from.as_deref()),
            Change::Delete { path } => {
                not_posts.forget(path);
                deletes.push(path.as_str());
                continue;
            }
        };
        not_posts.forget(&file.path);
        if let Some(old) = renamed_from {
            not_posts.forget(old);
        }
        if let Some(candidate) = prepared.next().flatten() {
            upserts.push((file, renamed_from, candidate));
            continue;
        }
        if let Some(bytes) = &file.bytes {
            not_posts.note(not_a_post::warning(&file.path, bytes));
        }
        // Renamed into something that is no longer a post, the old post is gone; a post
        // whose front-matter was removed stops being one.
        deletes.push(renamed_from.unwrap_or(file.path.as_str()));
    }
    (upserts, deletes)
}

/// Plans and writes every post file, in shared transactions (thousands of posts in a cold
/// sync are not one commit each); returns the events written and which file took each id.
fn write_upserts(
    store: &Store,
    repo: &Repo,
    config: &RepoConfig,
    upserts: Vec<Upsert<'_>>,
    landings: &HashMap<String, Landing>,
    gone: &HashSet<&str>,
) -> Result<(usize, HashMap<String, String>), SyncError> {
    let now = Utc::now();
    let mut events = 0;
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    let mut base_configs = BaseConfigs::default();
    let mut batch = store.post_batch();
    // Looked up in what the last batch committed, as separate reads would: every post
    // this sync wrote is in `seen_ids` and never looked up again.
    let mut committed = store.snapshot()?;
    let mut applied = 0;
    let mut sent = match upserts.is_empty() {
        true => None,
        false => SentTexts::load(store, config)?,
    };
    let mut slots = match upserts.iter().any(|(_, _, c)| c.slot_asked.is_some()) {
        true => SlotBook::load(store, config)?,
        false => None,
    };
    for (file, renamed_from, mut candidate) in upserts {
        candidate.landing = landings.get(&file.path).cloned();
        candidate.id = identity(&committed, &candidate, renamed_from)?;
        if !claim_id(&committed, &mut candidate, &seen_ids, gone)? {
            continue;
        }
        if matches!(candidate.outcome, Outcome::Ready { hold: None, .. }) {
            let reason = approval_hold(repo, config, &candidate, &mut base_configs);
            let reason = approval::emergency(config, &mut candidate, reason, now);
            if let Outcome::Ready { hold, .. } = &mut candidate.outcome {
                *hold = reason;
            }
        }
        if sent.is_some() || slots.is_some() {
            let current = committed.post(&candidate.id)?;
            if let Some(slots) = slots.as_mut() {
                slots.place(config, &mut candidate, current.as_ref(), now);
            }
            if let Some(sent) = sent.as_mut() {
                sent.guard(config, &mut candidate, current.as_ref(), now);
            }
        }
        seen_ids.insert(candidate.id.clone(), file.path.clone());
        let id = candidate.id.clone();
        events += batch.apply_post(&id, |current| plan_post(current, &candidate, now))?;
        applied += 1;
        if applied % POST_BATCH == 0 {
            // The batch just committed; later posts see it as they would have.
            committed = store.snapshot()?;
        }
    }
    batch.flush()?;
    Ok((events, seen_ids))
}

/// Makes sure the candidate's id is its own: an id another file holds (in the store, or
/// earlier in this sync) makes this post broken under its path's id instead, since the
/// second file cannot take over the first one's record. `false` when even that id is
/// taken in this sync, and the file is skipped.
fn claim_id(
    committed: &Snapshot,
    candidate: &mut Candidate,
    seen_ids: &HashMap<String, String>,
    gone: &HashSet<&str>,
) -> Result<bool, SyncError> {
    let owner = match seen_ids.get(&candidate.id) {
        Some(other) => Some(other.clone()),
        None => committed
            .post(&candidate.id)?
            .filter(|v| {
                v.post.present
                    && v.post.file != candidate.file
                    && !gone.contains(v.post.file.as_str())
            })
            .map(|v| v.post.file),
    };
    let Some(other) = owner else {
        return Ok(true);
    };
    let problem = Problem::new(
        &candidate.file,
        1,
        "duplicate-id",
        format!(
            "post id `{}` is already used by {other}; give this post its own `id:`",
            candidate.id
        ),
        format!(
            "投稿 ID `{}` は {other} ですでに使われています。この投稿に別の `id:` を付けてください",
            candidate.id
        ),
    );
    candidate.id = post::default_id(&candidate.file);
    if seen_ids.contains_key(&candidate.id) {
        return Ok(false);
    }
    candidate.outcome = Outcome::Broken {
        problems: vec![problem],
    };
    Ok(true)
}

/// Removes the posts of the files that left the branch; returns the events written.
fn write_removals(
    store: &Store,
    deletes: &[&str],
    seen_ids: &HashMap<String, String>,
    commit: &str,
) -> Result<usize, SyncError> {
    let mut events = 0;
    for &path in deletes {
        let Some(id) = store.file_owner(path)? else {
            continue;
        };
        // Another file took the id over in this sync (an `id:` moved between files).
        if seen_ids.contains_key(&id) {
            continue;
        }
        events += store
            .apply_post(&id, |current| {
                current
                    .filter(|v| v.post.file == path)
                    .and_then(|v| plan_removal(Some(v), commit))
            })?
            .len();
    }
    Ok(events)
}

/// What the next sync and the dashboard read of this one.
fn record_sync(
    store: &Store,
    commit: &str,
    configured: &Configured,
    not_posts: &NotPosts,
) -> Result<(), SyncError> {
    let in_force = &configured.in_force;
    let held_json = match &in_force.held {
        Some(held) => serde_json::to_string(held).unwrap_or_default(),
        None => String::new(),
    };
    store.set_meta(&[
        (meta::LAST_SYNC_COMMIT, commit),
        (meta::LAST_SYNC_AT, &Utc::now().to_rfc3339()),
        (meta::CONFIG_HASH, &configured.hash),
        (meta::REPO_INFO, &configured.repo_info),
        (meta::CONFIG_IN_FORCE_COMMIT, &in_force.commit),
        (meta::CONFIG_IN_FORCE_TEXT, &in_force.text),
        (meta::CONFIG_HELD, &held_json),
        (meta::NOT_POSTS, &not_posts.to_json()),
    ])?;
    Ok(())
}
