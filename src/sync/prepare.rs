//! Which files a sync must read, and each one parsed and checked against the configuration
//! (in parallel on a cold sync), without the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::content::config::RepoConfig;
use crate::content::post::{self, Parsed};
use crate::content::problem::Problem;
use crate::content::source::ContentSource;
use crate::git::repo::{Change, ContentFile, GitContent, Repo, RepoError};
use crate::model::records::PostView;
use crate::store::{meta, Snapshot, Store, StoreError};

use crate::sync::plan::{Candidate, Outcome};
use crate::sync::{Mode, SyncError, SyncOptions};

/// What every worker preparing posts reads from.
pub(crate) struct Source<'a> {
    pub(crate) opts: &'a SyncOptions<'a>,
    pub(crate) tip: git2::Oid,
    pub(crate) config: &'a RepoConfig,
    pub(crate) config_hash: &'a str,
}

/// Posts one worker prepares at the least: below that a thread (and the repository it
/// opens) costs more than it saves.
pub(crate) const PREPARE_CHUNK_MIN: usize = 256;

/// [`prepare`] for every file, in order, split across the machine's cores when there are
/// enough of them (a cold sync): parsing and counting text is most of a sync's work and
/// needs nothing but the blob and the configuration.
pub(crate) fn prepare_all(
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

pub(crate) fn prepare_chunk(
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
pub(crate) fn prepare(
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
/// [`not_a_post::warning`](crate::content::not_a_post::warning)), by path. Kept in the store between syncs, because an
/// incremental sync reads only the files that changed; a full one starts afresh.
pub(crate) struct NotPosts(BTreeMap<String, Problem>);

impl NotPosts {
    pub(crate) fn load(store: &Store, afresh: bool) -> Result<NotPosts, StoreError> {
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

    pub(crate) fn forget(&mut self, path: &str) {
        self.0.remove(path);
    }

    pub(crate) fn note(&mut self, warning: Option<Problem>) {
        if let Some(w) = warning {
            self.0.insert(w.file.clone(), w);
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&self.0.values().collect::<Vec<_>>()).unwrap_or_default()
    }

    pub(crate) fn into_list(self) -> Vec<Problem> {
        self.0.into_values().collect()
    }
}

/// Every Markdown file compared with the store: used on the first sync, after a change of
/// `oshirase.yaml`, and when the last synced commit is gone (a rewritten history).
pub(crate) fn full_changes(
    repo: &Repo,
    store: &Store,
    tip: git2::Oid,
    config_hash: &str,
) -> Result<(Vec<Change>, usize, Mode), SyncError> {
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
    Ok((changes, count, Mode::Full))
}

/// Which post a file is. An explicit `id:` decides; otherwise the file keeps the identity
/// it had (through renames, recorded in the store), and a new file is its path. A file
/// whose post already went out keeps that post's identity even if its `id:` changes, so a
/// changed id can never publish the same notice twice.
pub(crate) fn identity(
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

pub(crate) fn content_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

pub(crate) fn hash(parts: &[&[u8]]) -> String {
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
pub(crate) fn parse_file(repo: &Repo, file: &ContentFile) -> Result<Parsed, RepoError> {
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

pub(crate) fn candidate(
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
        asks_emergency: false,
        no_card: false,
        emergency: None,
        slot_asked: None,
        slot: None,
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
            c.asks_emergency = p.emergency;
            c.no_card = !p.card;
            match p.resolve(config, content) {
                Ok(r) => {
                    c.account = Some(r.account.clone());
                    c.publish_at = r.publish_at;
                    c.slot_asked = r.slot.clone();
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
