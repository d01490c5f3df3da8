//! The branch tip compared with the store, turned into state changes.
//!
//! [`sync`] reads the repository and decides which files need parsing; [`plan_post`] and
//! [`plan_removal`] are pure and decide, against the post as it is committed at that
//! moment, what changes: new post → scheduled (or held, or invalid); edited before it went
//! out → rescheduled; removed before it went out → cancelled; edited after it went out →
//! flagged, never sent again.

pub mod config_approval;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::content::config::{Approval, RepoConfig, CONFIG_FILE};
use crate::content::info::RepoInfo;
use crate::content::post::{self, Parsed, PlannedDelivery, Problem};
use crate::content::source::ContentSource;
use crate::git::repo::{Change, ContentFile, GitContent, Landing, Repo, RepoError};
use crate::model::event::EventKind;
use crate::model::facts::{Facts, Hold};
use crate::model::records::PostView;
use crate::model::records::{
    Actor, DeliveryRecord, NewEvent, PostChange, PostRecord, State, TextCount,
};
use crate::store::{meta, Snapshot, Store, StoreError, POST_BATCH};
use config_approval::HeldConfig;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
}

/// What the caller of a sync fixes for every sync.
pub struct SyncOptions<'a> {
    pub repo_path: &'a Path,
    pub branch: &'a str,
    pub content_dir: &'a str,
    /// Replace every network with an outbox (`serve --dry-run`, the demo).
    pub dry_run: bool,
    /// A last check of the configuration by the caller (for example, that every network
    /// type can be served); an error stops the sync before anything is written.
    pub accept_config: &'a (dyn Fn(&RepoConfig) -> Result<(), String> + Sync),
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

/// One post file as this sync sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub file: String,
    /// The file's path from the content directory (its default id without `.md`).
    pub id_path: String,
    pub blob: String,
    pub config_hash: String,
    pub title: String,
    pub account: Option<String>,
    pub department: Option<String>,
    pub publish_at: Option<DateTime<Utc>>,
    pub landing: Option<Landing>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The post can go out; `hold` says why it must wait for approval, if it must.
    /// `retract` asks, once approved, to delete it from every network it went to.
    Ready {
        deliveries: Vec<PlannedDelivery>,
        images: Vec<post::Image>,
        hold: Option<Hold>,
        retract: bool,
    },
    /// The post as a whole is unusable.
    Broken { problems: Vec<Problem> },
}

/// Brings the store in line with the branch tip.
pub fn sync(store: &Store, opts: &SyncOptions<'_>) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let repo = Repo::open(opts.repo_path, opts.branch, opts.content_dir)?;
    let tip = repo.tip()?;
    let in_force = config_in_force(store, &repo, tip, opts.branch)?;
    let config = in_force.config.clone();
    // What the dashboard shows of the configuration: as written, before a dry run.
    let repo_info = RepoInfo::from_config(&config, opts.dry_run).to_json();
    let config = if opts.dry_run {
        config.into_dry_run()
    } else {
        config
    };
    (opts.accept_config)(&config).map_err(SyncError::Config)?;
    let config_hash = hash(&[in_force.text.as_bytes(), &[u8::from(opts.dry_run)]]);

    let last = store.meta(meta::LAST_SYNC_COMMIT)?;
    let same_config = store.meta(meta::CONFIG_HASH)?.as_deref() == Some(config_hash.as_str());
    let (changes, files_seen, mode) = match last.as_deref().filter(|_| same_config) {
        Some(last) if last == tip.to_string() => (Vec::new(), 0, "unchanged"),
        Some(last) => match repo.changes_between(last, tip)? {
            Some(changes) => (changes, 0, "incremental"),
            None => full_changes(&repo, store, tip, &config_hash)?,
        },
        None => full_changes(&repo, store, tip, &config_hash)?,
    };

    let gone: HashSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Delete { path } => Some(path.as_str()),
            Change::Upsert { renamed_from, .. } => renamed_from.as_deref(),
        })
        .collect();
    let mut phases = SyncPhases {
        read: started.elapsed(),
        ..SyncPhases::default()
    };
    let phase = Instant::now();
    let files: Vec<&ContentFile> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert { file, .. } => Some(file),
            Change::Delete { .. } => None,
        })
        .collect();
    let source = Source {
        opts,
        tip,
        config: &config,
        config_hash: &config_hash,
    };
    let mut prepared = prepare_all(&repo, &source, &files)?.into_iter();
    phases.parse = phase.elapsed();
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    let mut not_posts = NotPosts::load(store, mode == "full")?;
    for c in &changes {
        match c {
            Change::Upsert { file, renamed_from } => {
                not_posts.forget(&file.path);
                if let Some(old) = renamed_from {
                    not_posts.forget(old);
                }
                if let Some(candidate) = prepared.next().flatten() {
                    upserts.push((file, renamed_from.as_deref(), candidate));
                    continue;
                }
                if let Some(bytes) = &file.bytes {
                    not_posts.note(post::not_a_post_warning(&file.path, bytes));
                }
                if let Some(old) = renamed_from {
                    // Renamed into something that is no longer a post: the old post is gone.
                    deletes.push(old.as_str());
                } else {
                    // A post whose front-matter was removed stops being one.
                    deletes.push(file.path.as_str());
                }
            }
            Change::Delete { path } => {
                not_posts.forget(path);
                deletes.push(path.as_str());
            }
        }
    }
    let phase = Instant::now();
    let paths: HashSet<String> = upserts.iter().map(|(f, _, _)| f.path.clone()).collect();
    let landings = repo.landings(tip, &paths)?;
    phases.provenance = phase.elapsed();
    let phase = Instant::now();
    let mut base_configs = BaseConfigs::default();

    let now = Utc::now();
    let mut events = 0;
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    // Thousands of posts in a cold sync: written in shared transactions, not one each.
    let mut batch = store.post_batch();
    // Looked up in what the last batch committed, as separate reads would: every post
    // this sync wrote is in `seen_ids` and never looked up again.
    let mut committed = store.snapshot()?;
    let mut applied = 0;
    for (file, renamed_from, mut candidate) in upserts {
        candidate.landing = landings.get(&file.path).cloned();
        candidate.id = identity(&committed, &candidate, renamed_from)?;
        let owner = match seen_ids.get(&candidate.id) {
            Some(other) => Some(other.clone()),
            None => committed
                .post(&candidate.id)?
                .filter(|v| {
                    v.post.present
                        && v.post.file != file.path
                        && !gone.contains(v.post.file.as_str())
                })
                .map(|v| v.post.file),
        };
        if let Some(other) = owner {
            let problem = Problem::new(
                &file.path,
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
            // The second file cannot take over the first one's record.
            candidate.id = post::default_id(&file.path);
            if seen_ids.contains_key(&candidate.id) {
                continue;
            }
            candidate.outcome = Outcome::Broken {
                problems: vec![problem],
            };
        }
        if matches!(candidate.outcome, Outcome::Ready { hold: None, .. }) {
            let reason = approval_hold(&repo, &config, &candidate, &mut base_configs);
            if let Outcome::Ready { hold, .. } = &mut candidate.outcome {
                *hold = reason;
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

    let commit = tip.to_string();
    for path in deletes {
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
                    .and_then(|v| plan_removal(Some(v), &commit))
            })?
            .len();
    }
    let held_json = match &in_force.held {
        Some(held) => serde_json::to_string(held).unwrap_or_default(),
        None => String::new(),
    };
    store.set_meta(&[
        (meta::LAST_SYNC_COMMIT, &commit),
        (meta::LAST_SYNC_AT, &Utc::now().to_rfc3339()),
        (meta::CONFIG_HASH, &config_hash),
        (meta::REPO_INFO, &repo_info),
        (meta::CONFIG_IN_FORCE_COMMIT, &in_force.commit),
        (meta::CONFIG_IN_FORCE_TEXT, &in_force.text),
        (meta::CONFIG_HELD, &held_json),
        (meta::NOT_POSTS, &not_posts.to_json()),
    ])?;
    phases.write = phase.elapsed();
    tracing::debug!(mode, changes = changes.len(), ?phases, "sync planned");
    Ok(SyncReport {
        commit,
        config,
        config_commit: in_force.commit,
        config_held: in_force.held,
        files: files_seen,
        parsed: paths.len(),
        events,
        not_posts: not_posts.into_list(),
        took: started.elapsed(),
        phases,
    })
}

/// What every worker preparing posts reads from.
struct Source<'a> {
    opts: &'a SyncOptions<'a>,
    tip: git2::Oid,
    config: &'a RepoConfig,
    config_hash: &'a str,
}

/// Posts one worker prepares at the least: below that a thread (and the repository it
/// opens) costs more than it saves.
const PREPARE_CHUNK_MIN: usize = 256;

/// [`prepare`] for every file, in order, split across the machine's cores when there are
/// enough of them (a cold sync): parsing and counting text is most of a sync's work and
/// needs nothing but the blob and the configuration.
fn prepare_all(
    repo: &Repo,
    source: &Source<'_>,
    files: &[&ContentFile],
) -> Result<Vec<Option<Candidate>>, SyncError> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = cores.min(files.len() / PREPARE_CHUNK_MIN).max(1);
    let mut chunks = files.chunks(files.len().div_ceil(workers).max(1));
    let first = chunks.next().unwrap_or_default();
    std::thread::scope(|scope| {
        // git2's repository is not shared between threads: each worker opens its own.
        let others: Vec<_> = chunks
            .map(|part| {
                scope.spawn(move || {
                    let opts = source.opts;
                    let repo = Repo::open(opts.repo_path, opts.branch, opts.content_dir)?;
                    prepare_chunk(&repo, source, part)
                })
            })
            .collect();
        let mut out = prepare_chunk(repo, source, first)?;
        for worker in others {
            match worker.join() {
                Ok(part) => out.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

fn prepare_chunk(
    repo: &Repo,
    source: &Source<'_>,
    files: &[&ContentFile],
) -> Result<Vec<Option<Candidate>>, SyncError> {
    let content = repo.content_at(source.tip)?;
    files
        .iter()
        .map(|file| prepare(repo, &content, source, file))
        .collect()
}

/// One file parsed and checked against the configuration, without its provenance (found
/// later for all posts at once); `None` when it is not a post.
fn prepare(
    repo: &Repo,
    content: &GitContent<'_>,
    source: &Source<'_>,
    file: &ContentFile,
) -> Result<Option<Candidate>, SyncError> {
    let parsed = parse_file(repo, file)?;
    if matches!(parsed, Parsed::NotAPost) {
        return Ok(None);
    }
    let candidate = candidate(file, parsed, source.config, content, source.config_hash);
    // An image git could not read is not the author's mistake: nothing is recorded and the
    // sync is tried again, so the post is not called broken (or cancelled) for it.
    if let Some(e) = content.take_read_failure() {
        return Err(e.into());
    }
    Ok(Some(candidate))
}

/// The Markdown files among the posts that are not posts but look meant to be (see
/// [`post::not_a_post_warning`]), by path. Kept in the store between syncs, because an
/// incremental sync reads only the files that changed; a full one starts afresh.
struct NotPosts(BTreeMap<String, Problem>);

impl NotPosts {
    fn load(store: &Store, afresh: bool) -> Result<NotPosts, StoreError> {
        if afresh {
            return Ok(NotPosts(BTreeMap::new()));
        }
        let kept = store.meta(meta::NOT_POSTS)?.unwrap_or_default();
        // Unreadable (written by another version): the next full sync finds them again.
        let list: Vec<Problem> = serde_json::from_str(&kept).unwrap_or_default();
        Ok(NotPosts(
            list.into_iter().map(|p| (p.file.clone(), p)).collect(),
        ))
    }

    fn forget(&mut self, path: &str) {
        self.0.remove(path);
    }

    fn note(&mut self, warning: Option<Problem>) {
        if let Some(w) = warning {
            self.0.insert(w.file.clone(), w);
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(&self.0.values().collect::<Vec<_>>()).unwrap_or_default()
    }

    fn into_list(self) -> Vec<Problem> {
        self.0.into_values().collect()
    }
}

/// The configuration a sync plans with, and the unapproved one it did not take, if any.
struct InForce {
    config: RepoConfig,
    text: String,
    commit: String,
    held: Option<HeldConfig>,
}

/// Decides which `oshirase.yaml` is in force at `tip` (see `config_approval`): the tip's
/// when it is the one in force or an approved change of it, else the one in force stays.
/// The first sync of a data directory takes the tip's: there is nothing approved before it.
fn config_in_force(
    store: &Store,
    repo: &Repo,
    tip: git2::Oid,
    branch: &str,
) -> Result<InForce, SyncError> {
    let config_file = content_path(repo.content_dir(), CONFIG_FILE);
    let text = repo.config_text(tip)?.ok_or_else(|| {
        SyncError::Config(format!(
            "{config_file} is missing on branch `{branch}`; nothing was changed"
        ))
    })?;
    let proposed = RepoConfig::parse(&config_file, &text)
        .map_err(|e| SyncError::Config(format!("{e}; nothing was changed")))?;
    let stored_text = store.meta(meta::CONFIG_IN_FORCE_TEXT)?;
    let stored_commit = store
        .meta(meta::CONFIG_IN_FORCE_COMMIT)?
        .unwrap_or_default();
    let landing = || -> Result<Option<Landing>, SyncError> {
        let paths = HashSet::from([config_file.clone()]);
        Ok(repo.landings(tip, &paths)?.remove(&config_file))
    };
    let take_proposed = |landing: Option<Landing>| InForce {
        config: proposed.clone(),
        text: text.clone(),
        commit: landing.map_or_else(|| tip.to_string(), |l| l.commit),
        held: None,
    };
    let Some(stored_text) = stored_text.filter(|t| !t.is_empty()) else {
        return Ok(take_proposed(landing()?));
    };
    if stored_text == text {
        return Ok(InForce {
            config: proposed,
            text,
            commit: stored_commit,
            held: None,
        });
    }
    let current = RepoConfig::parse(&config_file, &stored_text).map_err(|e| {
        SyncError::Config(format!(
            "the configuration in force (commit {}) no longer reads: {e}",
            short(&stored_commit)
        ))
    })?;
    let landing = landing()?;
    match config_approval::judge(&current, &proposed, landing.as_ref()) {
        Ok(()) => Ok(take_proposed(landing)),
        Err(reason) => {
            let held = HeldConfig {
                commit: landing
                    .as_ref()
                    .map_or_else(|| tip.to_string(), |l| l.commit.clone()),
                pushed_by: landing
                    .as_ref()
                    .map(|l| l.proposer.to_string())
                    .unwrap_or_default(),
                merged_by: landing
                    .as_ref()
                    .and_then(|l| l.approver.as_ref().map(ToString::to_string)),
                reason,
                changes: config_approval::diff(&current, &proposed)
                    .into_iter()
                    .map(|c| c.what)
                    .collect(),
                in_force: stored_commit.clone(),
            };
            tracing::warn!(
                commit = %held.commit, pushed_by = %held.pushed_by,
                "oshirase.yaml changed without approval; the configuration in force stays: {}",
                held.reason
            );
            Ok(InForce {
                config: current,
                text: stored_text,
                commit: stored_commit,
                held: Some(held),
            })
        }
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(8)]
}

/// Every Markdown file compared with the store: used on the first sync, after a change of
/// `oshirase.yaml`, and when the last synced commit is gone (a rewritten history).
fn full_changes(
    repo: &Repo,
    store: &Store,
    tip: git2::Oid,
    config_hash: &str,
) -> Result<(Vec<Change>, usize, &'static str), SyncError> {
    let files = repo.markdown_files(tip)?;
    let stored: HashMap<String, PostView> = store
        .posts()?
        .into_iter()
        .filter(|v| v.post.present)
        .map(|v| (v.post.file.clone(), v))
        .collect();
    let on_branch: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut changes: Vec<Change> = stored
        .keys()
        .filter(|path| !on_branch.contains(path.as_str()))
        .map(|path| Change::Delete { path: path.clone() })
        .collect();
    let count = files.len();
    for file in files {
        let unchanged = stored
            .get(&file.path)
            .is_some_and(|v| v.post.blob == file.blob && v.post.config_hash == config_hash);
        if !unchanged {
            changes.push(Change::Upsert {
                file,
                renamed_from: None,
            });
        }
    }
    Ok((changes, count, "full"))
}

/// Which post a file is. An explicit `id:` decides; otherwise the file keeps the identity
/// it had (through renames, recorded in the store), and a new file is its path. A file
/// whose post already went out keeps that post's identity even if its `id:` changes, so a
/// changed id can never publish the same notice twice.
fn identity(
    store: &Snapshot,
    c: &Candidate,
    renamed_from: Option<&str>,
) -> Result<String, SyncError> {
    let previous = match renamed_from {
        Some(old) => store.file_owner(old)?,
        None => store.file_owner(&c.file)?,
    };
    let Some(previous) = previous else {
        return Ok(c.id.clone());
    };
    if previous == c.id {
        return Ok(previous);
    }
    let explicit = c.id != post::default_id(&c.id_path);
    if !explicit {
        return Ok(previous);
    }
    let sent = store
        .post(&previous)?
        .is_some_and(|v| v.deliveries.iter().any(|d| !d.state.is_unsent()));
    Ok(if sent { previous } else { c.id.clone() })
}

fn content_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses one file. A blob git fails to read is an error, never "not a post": that would
/// make an existing post look removed and cancel it.
fn parse_file(repo: &Repo, file: &ContentFile) -> Result<Parsed, RepoError> {
    let Some(bytes) = &file.bytes else {
        // Too large to read whole: only a file that opens a front-matter is a post.
        let prefix = repo.blob_prefix(&file.blob, 8)?;
        return Ok(if post::starts_with_front_matter(&prefix) {
            Parsed::Broken {
                id: post::default_id(&file.id_path),
                problems: vec![post::too_large(&file.path, file.size)],
            }
        } else {
            Parsed::NotAPost
        });
    };
    Ok(post::parse_at(&file.path, &file.id_path, bytes))
}

fn candidate(
    file: &ContentFile,
    parsed: Parsed,
    config: &RepoConfig,
    content: &dyn ContentSource,
    config_hash: &str,
) -> Candidate {
    let base = |id: String| Candidate {
        id,
        file: file.path.clone(),
        id_path: file.id_path.clone(),
        blob: file.blob.clone(),
        config_hash: config_hash.to_string(),
        title: file
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&file.path)
            .to_string(),
        account: None,
        department: None,
        publish_at: None,
        landing: None,
        outcome: Outcome::Broken { problems: vec![] },
    };
    match parsed {
        Parsed::NotAPost => unreachable!("filtered out before planning"),
        Parsed::Broken { id, problems } => Candidate {
            outcome: Outcome::Broken { problems },
            ..base(id)
        },
        Parsed::Post(p) => {
            let mut c = base(p.id.clone());
            c.title = p.title.clone();
            c.department = p.department.clone();
            c.account = p.account.clone();
            match p.resolve(config, content) {
                Ok(r) => {
                    c.account = Some(r.account.clone());
                    c.publish_at = r.publish_at;
                    c.outcome = Outcome::Ready {
                        deliveries: r.deliveries,
                        images: r.images.clone(),
                        hold: None,
                        retract: r.post.retract,
                    };
                }
                Err(problems) => c.outcome = Outcome::Broken { problems },
            }
            c
        }
    }
}

/// Approver lists as they were on the branch before each landing, parsed once each.
#[derive(Default)]
struct BaseConfigs(BTreeMap<String, Result<RepoConfig, String>>);

/// Why a post must wait for approval under its account's rule, or `None` when it may go.
fn approval_hold(
    repo: &Repo,
    config: &RepoConfig,
    c: &Candidate,
    bases: &mut BaseConfigs,
) -> Option<Hold> {
    let account = config.account(c.account.as_deref()).ok()?;
    let Approval::Merge {
        approvers: in_force,
    } = &account.approval
    else {
        return None;
    };
    let Some(landing) = &c.landing else {
        return Some(Hold::NoLanding);
    };
    let commit = landing.commit[..landing.commit.len().min(8)].to_string();
    let Some(approver) = &landing.approver else {
        let by = landing.proposer.to_string();
        return Some(match &landing.forge_merge {
            Some(request) => Hold::ForgeSquash {
                commit,
                by,
                request: request.clone(),
            },
            None => Hold::Direct { commit, by },
        });
    };
    let Some(base) = &landing.base else {
        return Some(Hold::NoBase);
    };
    let base_config = bases.0.entry(base.clone()).or_insert_with(|| {
        let oid = git2::Oid::from_str(base).map_err(|e| e.to_string())?;
        let text = repo
            .config_text(oid)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{CONFIG_FILE} did not exist before the merge"))?;
        RepoConfig::parse(CONFIG_FILE, &text).map_err(|e| e.to_string())
    });
    let approvers = match base_config {
        Err(e) => {
            return Some(Hold::BaseUnreadable {
                commit,
                error: e.clone(),
            })
        }
        Ok(base_config) => match base_config.accounts.get(&account.name).map(|a| &a.approval) {
            Some(Approval::Merge { approvers }) => approvers.clone(),
            // The account was new or in branch mode before: nobody was an approver yet.
            _ => Vec::new(),
        },
    };
    // Listed before the merge (a pull request cannot approve itself by editing the list)
    // and in the configuration in force (an unapproved push cannot add approvers either).
    let by = approver.to_string();
    if !approvers.contains(&approver.email) || !in_force.contains(&approver.email) {
        let account = account.name.clone();
        return Some(Hold::NotApprover {
            commit,
            by,
            account,
        });
    }
    if approver.email == landing.proposer.email {
        return Some(Hold::OwnMerge { commit, by });
    }
    None
}

/// The actor to credit for a landing: the approver when there was one.
fn git_actor(landing: Option<&Landing>) -> Actor {
    match landing {
        Some(l) => Actor::Git(l.approver.as_ref().unwrap_or(&l.proposer).to_string()),
        None => Actor::Service,
    }
}

/// Who brought `file` to the branch, as the `landed`, `edited` and `restored` events
/// record it.
fn landing_facts(file: &str, landing: Option<&Landing>, back_on_branch: bool) -> Facts {
    Facts::Landing {
        file: file.to_string(),
        commit: landing.map(|l| l.commit[..l.commit.len().min(8)].to_string()),
        proposer: landing.map(|l| l.proposer.to_string()),
        approver: landing.and_then(|l| l.approver.as_ref().map(ToString::to_string)),
        back_on_branch,
    }
}

/// Plans one post file against its record as committed now.
pub fn plan_post(
    current: Option<&PostView>,
    c: &Candidate,
    now: DateTime<Utc>,
) -> Option<PostChange> {
    let content_changed =
        current.is_none_or(|v| v.post.blob != c.blob || !v.post.present || v.post.file != c.file);
    let errors = match &c.outcome {
        Outcome::Broken { problems } => problems.clone(),
        Outcome::Ready { .. } => Vec::new(),
    };
    let mut post = PostRecord {
        id: c.id.clone(),
        title: c.title.clone(),
        file: c.file.clone(),
        account: c.account.clone(),
        department: c.department.clone(),
        publish_at: c.publish_at,
        proposer: c.landing.as_ref().map(|l| l.proposer.clone()),
        approver: c.landing.as_ref().and_then(|l| l.approver.clone()),
        commit: c.landing.as_ref().map(|l| l.commit.clone()),
        blob: c.blob.clone(),
        config_hash: c.config_hash.clone(),
        errors,
        present: true,
        edited_after_publish: current.is_some_and(|v| v.post.edited_after_publish),
    };
    if !content_changed {
        // Same file, new configuration: the provenance found now is only as good as before.
        if let Some(v) = current {
            post.proposer.clone_from(&v.post.proposer);
            post.approver.clone_from(&v.post.approver);
            post.commit.clone_from(&v.post.commit);
        }
    }
    let actor = git_actor(c.landing.as_ref());
    let mut events = Vec::new();
    let post_event = |kind: EventKind, detail: String| NewEvent {
        post_id: c.id.clone(),
        kind,
        network: None,
        detail,
        actor: actor.clone(),
        facts: None,
    };
    let landing = |kind, back_on_branch| {
        let facts = landing_facts(&c.file, c.landing.as_ref(), back_on_branch);
        NewEvent {
            facts: Some(facts.clone()),
            ..post_event(kind, facts.stored())
        }
    };
    match current {
        None => events.push(landing(EventKind::Landed, false)),
        Some(v) if content_changed && !v.post.present => {
            events.push(landing(EventKind::Restored, true))
        }
        Some(_) if content_changed => events.push(landing(EventKind::Edited, false)),
        Some(_) => {}
    }
    if let Outcome::Broken { problems } = &c.outcome {
        if content_changed || current.is_some_and(|v| v.post.errors != *problems) {
            let detail = problems
                .iter()
                .map(Problem::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            events.push(post_event(EventKind::Invalid, detail));
        }
    }

    let existing: BTreeMap<&str, &DeliveryRecord> = current
        .map(|v| {
            v.deliveries
                .iter()
                .map(|d| (d.network.as_str(), d))
                .collect()
        })
        .unwrap_or_default();
    let mut deliveries = Vec::new();
    let mut wanted = HashSet::new();
    match &c.outcome {
        Outcome::Ready {
            retract: true,
            hold,
            ..
        } => {
            for d in existing.values() {
                wanted.insert(d.network.as_str());
            }
            let (changed, retract_events) =
                plan_retract(&existing, hold.as_ref(), content_changed, &actor, now);
            deliveries.extend(changed);
            events.extend(retract_events);
        }
        Outcome::Ready {
            deliveries: planned,
            images,
            hold,
            ..
        } => {
            for p in planned {
                wanted.insert(p.network.as_str());
                let (state, reason, facts) = match (&p.problem, hold) {
                    (Some(problem), _) => {
                        let facts = Facts::Invalid {
                            problem: problem.clone(),
                        };
                        (State::Invalid, Some(facts.stored()), Some(facts))
                    }
                    (None, Some(hold)) => {
                        let facts = Facts::Held { hold: hold.clone() };
                        (State::Held, Some(facts.stored()), Some(facts))
                    }
                    (None, None) => (State::Scheduled, None, None),
                };
                let account = c.account.clone().unwrap_or_default();
                let old = existing.get(p.network.as_str()).copied();
                let publish_at = match (c.publish_at, old) {
                    (Some(t), _) => t,
                    // As soon as approved: keep the time it was first approved, unless it
                    // is only being approved now.
                    (None, Some(o)) if o.state == State::Scheduled && !content_changed => {
                        o.publish_at
                    }
                    (None, _) => now,
                };
                let desired = DeliveryRecord {
                    state,
                    images: images.clone(),
                    last_error: reason,
                    last_error_facts: facts,
                    count: Some(TextCount {
                        length: p.length,
                        limit: p.limit,
                    }),
                    ..DeliveryRecord::new(&account, &p.network, &c.id, &p.text, publish_at)
                };
                if let Some(change) = plan_delivery(old, desired, content_changed, &actor) {
                    if change.1.kind == EventKind::EditedAfterPublish {
                        post.edited_after_publish = true;
                    }
                    events.push(change.1);
                    if let Some(d) = change.0 {
                        deliveries.push(d);
                    }
                }
            }
        }
        Outcome::Broken { problems } => {
            // Nothing unsent may go out in a version nobody can read; the networks named
            // before stay listed, as invalid, so the dashboard shows what is blocked.
            let facts = problems
                .first()
                .map(|p| Facts::Invalid { problem: p.clone() });
            for d in existing.values() {
                wanted.insert(d.network.as_str());
                if d.state.is_unsent()
                    && d.state != State::Invalid
                    && (content_changed || d.state != State::Cancelled)
                {
                    let mut d = (*d).clone();
                    d.state = State::Invalid;
                    match &facts {
                        Some(f) => d.set_error_facts(f.clone()),
                        None => d.set_error(None),
                    }
                    events.push(NewEvent {
                        post_id: c.id.clone(),
                        kind: EventKind::Invalid,
                        network: Some(d.network.clone()),
                        detail: facts.as_ref().map(Facts::stored).unwrap_or_default(),
                        actor: actor.clone(),
                        facts: facts.clone(),
                    });
                    deliveries.push(d);
                }
            }
        }
    }
    for d in existing
        .values()
        .filter(|d| !wanted.contains(d.network.as_str()))
    {
        if d.state.is_unsent() && d.state != State::Cancelled && d.state != State::Missed {
            let mut d = (*d).clone();
            d.state = State::Cancelled;
            d.set_error(Some("the network was removed from the post".into()));
            events.push(NewEvent {
                post_id: c.id.clone(),
                kind: EventKind::Cancelled,
                network: Some(d.network.clone()),
                detail: Facts::NetworkRemoved.stored(),
                actor: actor.clone(),
                facts: Some(Facts::NetworkRemoved),
            });
            deliveries.push(d);
        }
    }
    let post_changed = current.is_none_or(|v| v.post != post);
    if !post_changed && deliveries.is_empty() && events.is_empty() {
        return None;
    }
    Some(PostChange {
        post,
        deliveries,
        events,
    })
}

/// An approved `retract: true`: what went out is queued for deletion, what did not is
/// cancelled. A retract still waiting for approval changes nothing but says why.
fn plan_retract(
    existing: &BTreeMap<&str, &DeliveryRecord>,
    hold: Option<&Hold>,
    content_changed: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> (Vec<DeliveryRecord>, Vec<NewEvent>) {
    let mut changed = Vec::new();
    let mut events = Vec::new();
    let event = |d: &DeliveryRecord, kind: EventKind, facts: Facts| NewEvent {
        post_id: d.post_id.clone(),
        kind,
        network: Some(d.network.clone()),
        detail: facts.stored(),
        actor: actor.clone(),
        facts: Some(facts),
    };
    if let Some(hold) = hold {
        if content_changed {
            if let Some(d) = existing.values().next() {
                let facts = Facts::RetractHeld { hold: hold.clone() };
                let mut e = event(d, EventKind::RetractHeld, facts);
                e.network = None;
                events.push(e);
            }
        }
        return (changed, events);
    }
    for d in existing.values() {
        match d.state {
            State::Published if !d.retract_pending => {
                let mut d = (*d).clone();
                d.retract_pending = true;
                d.retract_since = Some(now);
                d.due_at = now;
                d.next_attempt_at = Some(now);
                events.push(event(
                    &d,
                    EventKind::RetractRequested,
                    Facts::RetractRequested,
                ));
                changed.push(d);
            }
            s if (s.is_unsent() || s == State::Retrying)
                && s != State::Cancelled
                && s != State::Missed =>
            {
                let mut d = (*d).clone();
                d.state = State::Cancelled;
                d.set_error_facts(Facts::RetractedBeforeSent);
                events.push(event(&d, EventKind::Cancelled, Facts::RetractedBeforeSent));
                changed.push(d);
            }
            _ => {}
        }
    }
    (changed, events)
}

/// Decides one delivery: `Some((record to write, event))`, or `None` when it stays as it is.
fn plan_delivery(
    old: Option<&DeliveryRecord>,
    desired: DeliveryRecord,
    content_changed: bool,
    actor: &Actor,
) -> Option<(Option<DeliveryRecord>, NewEvent)> {
    let (post_id, network) = (desired.post_id.clone(), desired.network.clone());
    let event = |kind: EventKind, (detail, facts): (String, Option<Facts>)| NewEvent {
        post_id: post_id.clone(),
        kind,
        network: Some(network.clone()),
        detail,
        actor: actor.clone(),
        facts,
    };
    let describe = |d: &DeliveryRecord| match d.state {
        State::Scheduled => {
            let facts = Facts::Due { at: d.due_at };
            (facts.stored(), Some(facts))
        }
        _ => (
            d.last_error.clone().unwrap_or_default(),
            d.last_error_facts.clone(),
        ),
    };
    let Some(old) = old else {
        let e = event(desired.state.event_kind(), describe(&desired));
        return Some((Some(desired), e));
    };
    if !old.state.is_unsent() {
        // Sent or in flight: never sent again. An edit is recorded for a person to see.
        let edited = content_changed && (old.text != desired.text || old.images != desired.images);
        return edited.then(|| {
            (
                None,
                event(EventKind::EditedAfterPublish, {
                    let facts = Facts::EditedAfterPublish {
                        state: old.state.to_string(),
                    };
                    (facts.stored(), Some(facts))
                }),
            )
        });
    }
    if !content_changed && matches!(old.state, State::Missed | State::Cancelled) {
        // Only a new version can revive a missed or cancelled delivery.
        return None;
    }
    let mut next = desired;
    next.attempts = old.attempts;
    next.remote_id.clone_from(&old.remote_id);
    next.remote_url.clone_from(&old.remote_url);
    let same = old.state == next.state
        && old.text == next.text
        && old.images == next.images
        && old.due_at == next.due_at
        && old.last_error == next.last_error;
    if same {
        return None;
    }
    let kind = match next.state {
        State::Scheduled if old.state == State::Scheduled => EventKind::Rescheduled,
        s => s.event_kind(),
    };
    let e = event(kind, describe(&next));
    Some((Some(next), e))
}

/// A post whose file left the branch: what was not sent is cancelled.
pub fn plan_removal(current: Option<&PostView>, commit: &str) -> Option<PostChange> {
    let v = current?;
    if !v.post.present {
        return None;
    }
    let mut post = v.post.clone();
    post.present = false;
    let removed = Facts::FileRemoved {
        file: post.file.clone(),
        commit: commit[..commit.len().min(8)].to_string(),
    };
    let mut events = vec![NewEvent::stating(
        &post.id,
        EventKind::Removed,
        None,
        removed,
    )];
    let mut deliveries = Vec::new();
    for d in &v.deliveries {
        if matches!(
            d.state,
            State::Scheduled | State::Held | State::Invalid | State::Retrying
        ) {
            let mut d = d.clone();
            d.state = State::Cancelled;
            d.set_error(Some(
                "the post was removed from the branch before it was sent".into(),
            ));
            events.push(NewEvent::stating(
                &post.id,
                EventKind::Cancelled,
                Some(&d.network),
                Facts::Removed,
            ));
            deliveries.push(d);
        }
    }
    Some(PostChange {
        post,
        deliveries,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::person::Person;

    fn person(email: &str) -> Person {
        Person {
            name: email.split('@').next().unwrap_or_default().into(),
            email: email.into(),
            at: Utc::now(),
        }
    }

    fn candidate(blob: &str, text: &str, publish_at: Option<DateTime<Utc>>) -> Candidate {
        Candidate {
            id: "posts/a".into(),
            file: "posts/a.md".into(),
            id_path: "posts/a.md".into(),
            blob: blob.into(),
            config_hash: "c".into(),
            title: "t".into(),
            account: Some("adachi".into()),
            department: None,
            publish_at,
            landing: Some(Landing {
                commit: "0123456789abcdef".into(),
                proposer: person("staff@city.example.jp"),
                approver: Some(person("chief@city.example.jp")),
                base: None,
                forge_merge: None,
            }),
            outcome: Outcome::Ready {
                deliveries: vec![PlannedDelivery {
                    network: "portal".into(),
                    text: text.into(),
                    kind: crate::content::config::NetworkKind::Outbox,
                    length: 2,
                    limit: 100,
                    problem: None,
                }],
                images: vec![],
                hold: None,
                retract: false,
            },
        }
    }

    fn apply(current: Option<PostView>, change: &PostChange) -> PostView {
        let mut deliveries: BTreeMap<String, DeliveryRecord> = current
            .map(|v| {
                v.deliveries
                    .into_iter()
                    .map(|d| (d.network.clone(), d))
                    .collect()
            })
            .unwrap_or_default();
        for d in &change.deliveries {
            deliveries.insert(d.network.clone(), d.clone());
        }
        PostView {
            post: change.post.clone(),
            deliveries: deliveries.into_values().collect(),
        }
    }

    #[test]
    fn a_new_post_is_scheduled_at_its_time_with_provenance() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let change = plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap();
        assert_eq!(change.deliveries[0].state, State::Scheduled);
        assert_eq!(change.deliveries[0].due_at, at);
        assert_eq!(change.events[0].kind, "landed");
        assert!(change.events[0].detail.contains("approved by chief"));
        assert_eq!(
            change.post.approver.as_ref().unwrap().email,
            "chief@city.example.jp"
        );
    }

    #[test]
    fn an_unchanged_post_plans_nothing() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let c = candidate("b1", "本文", Some(at));
        let v = apply(None, &plan_post(None, &c, Utc::now()).unwrap());
        assert!(plan_post(Some(&v), &c, Utc::now()).is_none());
    }

    #[test]
    fn an_edit_before_publishing_reschedules() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        let later = at + chrono::Duration::hours(1);
        let change = plan_post(
            Some(&v),
            &candidate("b2", "新しい本文", Some(later)),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(change.deliveries[0].due_at, later);
        assert_eq!(change.deliveries[0].text, "新しい本文");
        assert!(change
            .events
            .iter()
            .any(|e| e.kind == EventKind::Rescheduled));
    }

    #[test]
    fn an_edit_after_publishing_is_flagged_not_resent() {
        let at = Utc::now() - chrono::Duration::minutes(1);
        let mut v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        v.deliveries[0].state = State::Published;
        let change = plan_post(Some(&v), &candidate("b2", "訂正", Some(at)), Utc::now()).unwrap();
        assert!(change.deliveries.is_empty());
        assert!(change.post.edited_after_publish);
        assert!(change
            .events
            .iter()
            .any(|e| e.kind == EventKind::EditedAfterPublish));
    }

    #[test]
    fn a_broken_edit_invalidates_what_was_not_sent() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        let mut broken = candidate("b2", "", None);
        broken.outcome = Outcome::Broken {
            problems: vec![Problem::new(
                "posts/a.md",
                3,
                "yaml",
                "bad".into(),
                "だめ".into(),
            )],
        };
        let change = plan_post(Some(&v), &broken, Utc::now()).unwrap();
        assert_eq!(change.deliveries[0].state, State::Invalid);
        assert_eq!(change.post.errors.len(), 1);
    }

    #[test]
    fn removal_cancels_only_what_was_not_sent() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let mut v = apply(
            None,
            &plan_post(None, &candidate("b1", "本文", Some(at)), Utc::now()).unwrap(),
        );
        let mut published = v.deliveries[0].clone();
        published.network = "x".into();
        published.state = State::Published;
        v.deliveries.push(published);
        let change = plan_removal(Some(&v), "abcdef0123").unwrap();
        assert!(!change.post.present);
        assert_eq!(change.deliveries.len(), 1);
        assert_eq!(change.deliveries[0].network, "portal");
        assert_eq!(change.deliveries[0].state, State::Cancelled);
    }

    #[test]
    fn a_held_post_is_released_by_a_later_approval() {
        let at = Utc::now() + chrono::Duration::hours(1);
        let mut held = candidate("b1", "本文", Some(at));
        if let Outcome::Ready { hold, .. } = &mut held.outcome {
            *hold = Some(Hold::Direct {
                commit: "0123abcd".into(),
                by: "staff".into(),
            });
        }
        let v = apply(None, &plan_post(None, &held, Utc::now()).unwrap());
        assert_eq!(v.deliveries[0].state, State::Held);
        let change = plan_post(Some(&v), &candidate("b1", "本文", Some(at)), Utc::now()).unwrap();
        assert_eq!(change.deliveries[0].state, State::Scheduled);
    }
}
