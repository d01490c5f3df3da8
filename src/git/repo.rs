//! The content repository, read through git objects only.
//!
//! Files come from the tree of the branch tip, never from a work tree, so what oshirase
//! publishes is exactly what was merged (no symlink or uncommitted-file tricks). Who
//! landed, proposed and approved each file is read from the history in `provenance.rs`.

use std::io::Read;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};

use crate::content::config::CONFIG_FILE;
use crate::content::post::MAX_POST_BYTES;
use crate::content::source::{ContentSource, FileInfo, NotContent, HEAD_BYTES};
use crate::git::provenance::person;
pub use crate::git::provenance::Landing;
use crate::model::person::Person;

/// The largest blob oshirase loads into memory (images for networks stay far below it).
const MAX_BLOB_LOAD: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("cannot open the git repository at {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("branch `{branch}` does not exist in {path}; syncing is paused until it does")]
    NoBranch { branch: String, path: PathBuf },
    #[error("content directory `{0}` does not exist on the branch")]
    NoContentDir(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// The largest tree object libgit2 keeps in its cache once read (its default is 4 KiB).
/// A folder of 500 posts is a tree of about 20 KiB; uncached, every diff and path lookup
/// of a sync reads, inflates and hashes it again, which made finding provenance in a
/// cold sync slower than parsing every post.
const TREE_CACHE_LIMIT: usize = 4 * 1024 * 1024;

/// Lets libgit2 cache trees as large as a folder of thousands of posts (see
/// [`TREE_CACHE_LIMIT`]). The cache belongs to each open repository and goes with it.
///
/// # Safety
/// libgit2 keeps this limit in a process-wide variable that is not synchronised: call this
/// before any other thread exists (`main` does, first of all).
pub unsafe fn cache_directory_trees() {
    // SAFETY: the caller guarantees no other thread runs yet (see above). Failing leaves
    // the default, which is only slower.
    unsafe {
        let _ = git2::opts::set_cache_object_limit(ObjectType::Tree, TREE_CACHE_LIMIT);
    }
}

/// A difference between the last synced tip and the new one.
#[derive(Debug)]
pub enum Change {
    /// A Markdown file added or changed; `renamed_from` when git saw it move.
    Upsert {
        file: ContentFile,
        renamed_from: Option<String>,
    },
    Delete {
        path: String,
    },
}

/// One Markdown file of the content directory at a commit.
#[derive(Debug, Clone)]
pub struct ContentFile {
    /// Path from the repository root, as staff see it in a pull request.
    pub path: String,
    /// Path from the content directory, the base of a post's default id.
    pub id_path: String,
    pub blob: String,
    /// The file's bytes; `None` when it was too large to read.
    pub bytes: Option<Vec<u8>>,
    pub size: usize,
}

pub struct Repo {
    pub(super) git: Repository,
    path: PathBuf,
    branch: String,
    /// Content directory inside the repository, without leading or trailing slashes; empty
    /// for the root.
    pub(super) content_dir: String,
}

impl Repo {
    pub fn open(path: &Path, branch: &str, content_dir: &str) -> Result<Repo, RepoError> {
        let git = Repository::open_ext(
            path,
            git2::RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&std::ffi::OsStr>(),
        )
        .map_err(|e| RepoError::Open {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        Ok(Repo {
            git,
            path: path.to_path_buf(),
            branch: branch.to_string(),
            content_dir: normalise_dir(content_dir),
        })
    }

    /// The directory git keeps its refs in (`.git` of a work tree, or the bare repository).
    pub fn git_dir(&self) -> &Path {
        self.git.path()
    }

    pub fn content_dir(&self) -> &str {
        &self.content_dir
    }

    /// The commit the branch points at now.
    pub fn tip(&self) -> Result<Oid, RepoError> {
        let name = format!("refs/heads/{}", self.branch);
        let reference = self.git.find_reference(&name).map_err(|e| {
            if e.code() == git2::ErrorCode::NotFound {
                RepoError::NoBranch {
                    branch: self.branch.clone(),
                    path: self.path.clone(),
                }
            } else {
                RepoError::Git(e)
            }
        })?;
        Ok(reference.peel_to_commit()?.id())
    }

    fn content_tree(&self, commit: Oid) -> Result<Option<Tree<'_>>, RepoError> {
        let tree = self.git.find_commit(commit)?.tree()?;
        if self.content_dir.is_empty() {
            return Ok(Some(tree));
        }
        match tree.get_path(Path::new(&self.content_dir)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                Ok(Some(self.git.find_tree(entry.id())?))
            }
            Ok(_) => Ok(None),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn repo_path(&self, id_path: &str) -> String {
        if self.content_dir.is_empty() {
            id_path.to_string()
        } else {
            format!("{}/{}", self.content_dir, id_path)
        }
    }

    /// The text of `oshirase.yaml` at the content root of `commit`, if there is one.
    pub fn config_text(&self, commit: Oid) -> Result<Option<String>, RepoError> {
        let Some(tree) = self.content_tree(commit)? else {
            return Ok(None);
        };
        let Some(entry) = tree.get_name(CONFIG_FILE) else {
            return Ok(None);
        };
        if entry.filemode() != i32::from(git2::FileMode::Blob)
            && entry.filemode() != i32::from(git2::FileMode::BlobExecutable)
        {
            return Ok(None);
        }
        let blob = self.git.find_blob(entry.id())?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    }

    /// Every `*.md` file under the content directory at `commit`, with its bytes. Symlinks
    /// and submodules are skipped: only regular blobs are content.
    pub fn markdown_files(&self, commit: Oid) -> Result<Vec<ContentFile>, RepoError> {
        let Some(tree) = self.content_tree(commit)? else {
            return Err(RepoError::NoContentDir(self.content_dir.clone()));
        };
        let mut found = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            let regular = entry.filemode() == i32::from(git2::FileMode::Blob)
                || entry.filemode() == i32::from(git2::FileMode::BlobExecutable);
            if regular {
                match entry.name() {
                    Ok(name) if name.ends_with(".md") => {
                        found.push((format!("{dir}{name}"), entry.id()));
                    }
                    Ok(_) => {}
                    // `check` reports it to the author; here it can only be skipped.
                    Err(_) => tracing::warn!(
                        "skipping {dir}{}: the file name is not UTF-8",
                        String::from_utf8_lossy(entry.name_bytes())
                    ),
                }
            }
            git2::TreeWalkResult::Ok
        })?;
        found
            .into_iter()
            .map(|(id_path, oid)| self.content_file(&id_path, oid))
            .collect()
    }

    /// The Markdown files that differ between `from` and `to`, with renames found by git's
    /// similarity detection. `None` when only a full comparison can tell: `from` is gone,
    /// or something other than Markdown changed (an image a post refers to).
    pub fn changes_between(&self, from: &str, to: Oid) -> Result<Option<Vec<Change>>, RepoError> {
        let Ok(from) = Oid::from_str(from) else {
            return Ok(None);
        };
        // After a rewrite and a garbage collection the old commit, or objects under it, may
        // be gone; then only a full comparison can tell what changed.
        let Ok(Some(old)) = self.content_tree(from) else {
            return Ok(None);
        };
        let Some(new) = self.content_tree(to)? else {
            return Ok(None);
        };
        let Ok(mut diff) = self.git.diff_tree_to_tree(Some(&old), Some(&new), None) else {
            return Ok(None);
        };
        if diff
            .find_similar(Some(git2::DiffFindOptions::new().renames(true)))
            .is_err()
        {
            return Ok(None);
        }
        let mut changes = Vec::new();
        for delta in diff.deltas() {
            let path = |f: git2::DiffFile<'_>| f.path().and_then(Path::to_str).map(str::to_string);
            let (old_path, new_path) = (path(delta.old_file()), path(delta.new_file()));
            let is_md = |p: &Option<String>| p.as_deref().is_some_and(|p| p.ends_with(".md"));
            if !is_md(&old_path) && !is_md(&new_path) {
                if new_path.as_deref() == Some(CONFIG_FILE) {
                    continue; // Its changes are seen through the configuration's hash.
                }
                return Ok(None);
            }
            let regular = |f: git2::DiffFile<'_>| {
                f.mode() == git2::FileMode::Blob || f.mode() == git2::FileMode::BlobExecutable
            };
            match delta.status() {
                git2::Delta::Deleted => {
                    if let Some(p) = old_path.filter(|p| p.ends_with(".md")) {
                        changes.push(Change::Delete {
                            path: self.repo_path(&p),
                        });
                    }
                }
                _ => {
                    let renamed_from = (delta.status() == git2::Delta::Renamed)
                        .then(|| old_path.clone())
                        .flatten()
                        .filter(|p| p.ends_with(".md"))
                        .map(|p| self.repo_path(&p));
                    match new_path.filter(|p| p.ends_with(".md") && regular(delta.new_file())) {
                        Some(p) => {
                            let file = self.content_file(&p, delta.new_file().id())?;
                            changes.push(Change::Upsert { file, renamed_from });
                        }
                        // No longer a Markdown file (renamed away or a symlink now).
                        None => {
                            if let Some(old) = old_path.filter(|p| p.ends_with(".md")) {
                                changes.push(Change::Delete {
                                    path: self.repo_path(&old),
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(Some(changes))
    }

    fn content_file(&self, id_path: &str, oid: Oid) -> Result<ContentFile, RepoError> {
        let (size, _) = self.git.odb()?.read_header(oid)?;
        // A huge file is not read into memory: parsing refuses it by size anyway.
        let bytes = if size <= MAX_POST_BYTES {
            Some(self.git.find_blob(oid)?.content().to_vec())
        } else {
            None
        };
        Ok(ContentFile {
            path: self.repo_path(id_path),
            id_path: id_path.to_string(),
            blob: oid.to_string(),
            bytes,
            size,
        })
    }

    /// Reads the first bytes of a blob, to tell a huge post from a huge plain Markdown file.
    pub fn blob_prefix(&self, blob: &str, len: usize) -> Result<Vec<u8>, RepoError> {
        Ok(self.blob_head(Oid::from_str(blob)?, len)?.1)
    }

    /// The size of a blob and its first `len` bytes. Streaming works for loose objects
    /// only (libgit2 cannot stream from a pack), so a packed blob is loaded whole unless it
    /// is larger than any file oshirase would use ([`MAX_BLOB_LOAD`]): then the head is
    /// empty, which reads as neither a post nor an image.
    fn blob_head(&self, oid: Oid, len: usize) -> Result<(usize, Vec<u8>), git2::Error> {
        let odb = self.git.odb()?;
        let (size, _) = odb.read_header(oid)?;
        let mut head = Vec::with_capacity(len);
        if let Ok((reader, _, _)) = odb.reader(oid) {
            reader
                .take(len as u64)
                .read_to_end(&mut head)
                .map_err(|e| git2::Error::from_str(&e.to_string()))?;
        } else if size <= MAX_BLOB_LOAD {
            let blob = self.git.find_blob(oid)?;
            head.extend_from_slice(&blob.content()[..len.min(size)]);
        }
        // Larger than any file oshirase would use: left unread, with no head at all.
        Ok((size, head))
    }

    /// Author and summary of a commit, for the audit trail.
    pub fn describe(&self, commit: &str) -> Option<(Person, String)> {
        let oid = Oid::from_str(commit).ok()?;
        let c = self.git.find_commit(oid).ok()?;
        let summary = String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned();
        let author = person(&c.author());
        Some((author, summary))
    }
}

/// The content directory at one commit, as a [`ContentSource`] for image checks.
///
/// A failed read is not the author's fault, so it is also kept here: the sync that planned
/// with this source must fail and be retried ([`GitContent::take_read_failure`]) rather than
/// record the post as broken.
pub struct GitContent<'r> {
    repo: &'r Repo,
    tree: Option<Tree<'r>>,
    read_failure: std::cell::RefCell<Option<git2::Error>>,
}

impl Repo {
    pub fn content_at(&self, commit: Oid) -> Result<GitContent<'_>, RepoError> {
        Ok(GitContent {
            repo: self,
            tree: self.content_tree(commit)?,
            read_failure: std::cell::RefCell::new(None),
        })
    }
}

impl GitContent<'_> {
    /// The first read that failed since this source was made (or last asked), if one did.
    pub fn take_read_failure(&self) -> Option<RepoError> {
        self.read_failure.borrow_mut().take().map(RepoError::Git)
    }

    fn failed(&self, e: git2::Error) -> NotContent {
        let message = e.message().to_string();
        self.read_failure.borrow_mut().get_or_insert(e);
        NotContent::Unreadable(message)
    }
}

impl ContentSource for GitContent<'_> {
    fn stat(&self, path: &str) -> Result<FileInfo, NotContent> {
        let tree = self.tree.as_ref().ok_or(NotContent::Missing)?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Err(NotContent::Missing),
            Err(e) => return Err(self.failed(e)),
        };
        let regular = entry.filemode() == i32::from(git2::FileMode::Blob)
            || entry.filemode() == i32::from(git2::FileMode::BlobExecutable);
        if !regular {
            return Err(NotContent::NotARegularFile);
        }
        let (size, head) = self
            .repo
            .blob_head(entry.id(), HEAD_BYTES)
            .map_err(|e| self.failed(e))?;
        Ok(FileInfo {
            size: size as u64,
            head,
            blob: Some(entry.id().to_string()),
        })
    }
}

fn normalise_dir(dir: &str) -> String {
    dir.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}
