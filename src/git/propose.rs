//! Writing a proposal: the desk's post file (and its images) as one commit on a branch of
//! its own, `proposals/<date>-<slug>`, started from the publish branch.
//!
//! The commit's author is the signed-in person and its committer is oshirase, so the
//! history says who wrote the post and what wrote the commit. The publish branch is only
//! ever read here: a proposal reaches it when a supervisor merges it. Everything is done
//! through git objects in the repository (a local one, or the data directory's mirror of a
//! remote, from which `push.rs` sends the branch), never through a work tree.

use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{BranchType, FileMode, Oid, Repository, Signature, Sort};

use crate::content::draft::POSTS_DIR;
use crate::content::post::{parse_at, Parsed};

/// Every proposal branch starts with this.
pub const PROPOSALS_PREFIX: &str = "proposals/";

/// The committer of every proposal commit.
pub const COMMITTER_NAME: &str = "oshirase";
pub const COMMITTER_EMAIL: &str = "oshirase@localhost";

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("the branch {0} already exists; change the title or the id")]
    BranchExists(String),
    #[error("there is no proposal branch {0}")]
    NoBranch(String),
    #[error("{path} already exists on the publish branch; change the title or the id")]
    FileExists { path: String },
    #[error("the branch {branch} moved while this was written; reload it and try again")]
    Moved { branch: String },
    #[error("`{0}` is not a path inside the posts folder")]
    OutsidePosts(String),
    #[error("the publish branch `{0}` does not exist yet")]
    NoPublishBranch(String),
    #[error("cannot open the repository at {path}: {message}")]
    Open { path: String, message: String },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// Who wrote the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// One commit to write.
pub struct ProposalCommit<'a> {
    /// `proposals/<date>-<slug>`.
    pub branch: &'a str,
    /// The publish branch, which a new proposal starts from.
    pub publish_branch: &'a str,
    /// The content directory inside the repository ("" for its root).
    pub content_dir: &'a str,
    /// Files by path from the content directory: the post first, then its images.
    pub files: &'a [(String, Vec<u8>)],
    pub author: &'a Author,
    pub message: &'a str,
    /// `None` starts a new branch; `Some(tip)` adds a commit to a branch that must still
    /// be at `tip` (so two tabs cannot overwrite each other's work unseen).
    pub on_top_of: Option<Oid>,
    /// The post file is a change to one already on the publish branch (a post opened in
    /// the desk), not a new post whose path must be free.
    pub edits: bool,
}

pub fn open(path: &Path) -> Result<Repository, ProposeError> {
    Repository::open(path).map_err(|e| ProposeError::Open {
        path: path.display().to_string(),
        message: e.message().to_string(),
    })
}

/// The path from the repository root of a path from the content directory.
pub fn repo_path(content_dir: &str, path: &str) -> String {
    let dir = content_dir.trim_matches('/');
    if dir.is_empty() {
        path.to_string()
    } else {
        format!("{dir}/{path}")
    }
}

/// Refuses anything but a plain path below the posts folder. The draft already makes only
/// such paths; this is the last guard before bytes go into a tree.
fn inside_posts(path: &str) -> Result<(), ProposeError> {
    let plain = path.starts_with(&format!("{POSTS_DIR}/"))
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && !path.contains(['\0', '\\']);
    if plain {
        Ok(())
    } else {
        Err(ProposeError::OutsidePosts(path.to_string()))
    }
}

/// Writes the commit and points the branch at it; returns the commit.
pub fn write(repo: &Repository, p: &ProposalCommit<'_>) -> Result<Oid, ProposeError> {
    for (path, _) in p.files {
        inside_posts(path)?;
    }
    let ref_name = format!("refs/heads/{}", p.branch);
    let existing = repo.find_reference(&ref_name).ok().and_then(|r| r.target());
    let parent = match (p.on_top_of, existing) {
        (None, Some(_)) => return Err(ProposeError::BranchExists(p.branch.to_string())),
        (None, None) => {
            let publish = repo
                .find_branch(p.publish_branch, BranchType::Local)
                .map_err(|_| ProposeError::NoPublishBranch(p.publish_branch.to_string()))?;
            let tip = publish.get().peel_to_commit()?;
            if let Some((post, _)) = p.files.first().filter(|_| !p.edits) {
                let on_publish = repo_path(p.content_dir, post);
                if tip.tree()?.get_path(Path::new(&on_publish)).is_ok() {
                    return Err(ProposeError::FileExists { path: on_publish });
                }
            }
            tip
        }
        (Some(_), None) => return Err(ProposeError::NoBranch(p.branch.to_string())),
        (Some(expected), Some(now)) if expected != now => {
            return Err(ProposeError::Moved {
                branch: p.branch.to_string(),
            })
        }
        (Some(_), Some(now)) => repo.find_commit(now)?,
    };
    let mut update = TreeUpdateBuilder::new();
    for (path, bytes) in p.files {
        let blob = repo.blob(bytes)?;
        update.upsert(repo_path(p.content_dir, path), blob, FileMode::Blob);
    }
    let tree = repo.find_tree(update.create_updated(repo, &parent.tree()?)?)?;
    let now = git2::Time::new(chrono::Utc::now().timestamp(), 0);
    let author = Signature::new(&p.author.name, &p.author.email, &now)?;
    let committer = Signature::new(COMMITTER_NAME, COMMITTER_EMAIL, &now)?;
    let commit = repo.commit(None, &author, &committer, p.message, &tree, &[&parent])?;
    // The reference moves only if it is still where this started (or still absent).
    let log = format!("oshirase: proposal by {}", p.author.email);
    let moved = match existing {
        None => repo.reference(&ref_name, commit, false, &log),
        Some(old) => repo.reference_matching(&ref_name, commit, true, old, &log),
    };
    moved.map_err(|e| match e.code() {
        git2::ErrorCode::Exists => ProposeError::BranchExists(p.branch.to_string()),
        git2::ErrorCode::Modified => ProposeError::Moved {
            branch: p.branch.to_string(),
        },
        _ => ProposeError::Git(e),
    })?;
    Ok(commit)
}

/// An open proposal: a branch that adds or changes posts and is not yet merged into the
/// publish branch, whether the desk wrote it (`proposals/…`) or someone pushed it with git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenProposal {
    pub branch: String,
    pub commit: String,
    /// The author of its first commit: the person who proposed it.
    pub author: Author,
    /// Everyone who wrote a commit of it (lower-cased addresses): none of them may
    /// approve it, as sync's four-eyes rule would hold such a merge.
    pub authors: Vec<String>,
    /// The title of its first post, for lists.
    pub title: String,
    /// Post files it adds or changes, from the content directory.
    pub posts: Vec<String>,
    pub updated: chrono::DateTime<chrono::Utc>,
}

/// Every open proposal, newest first.
pub fn open_proposals(
    repo: &Repository,
    publish_branch: &str,
    content_dir: &str,
) -> Result<Vec<OpenProposal>, ProposeError> {
    let publish = repo
        .find_branch(publish_branch, BranchType::Local)
        .ok()
        .and_then(|b| b.get().target());
    let mut out = Vec::new();
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        let Some(name) = branch.name().ok().flatten().map(str::to_string) else {
            continue;
        };
        if name == publish_branch {
            continue;
        }
        let Some(tip) = branch.get().target() else {
            continue;
        };
        if let Some(p) = proposal_at(repo, &name, tip, publish, content_dir)? {
            out.push(p);
        }
    }
    out.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.branch.cmp(&b.branch)));
    Ok(out)
}

/// One branch as a proposal; `None` once the publish branch holds its tip (merged).
fn proposal_at(
    repo: &Repository,
    branch: &str,
    tip: Oid,
    publish: Option<Oid>,
    content_dir: &str,
) -> Result<Option<OpenProposal>, ProposeError> {
    let base = match publish {
        Some(p) if p == tip || repo.graph_descendant_of(p, tip)? => return Ok(None),
        Some(p) => repo.merge_base(p, tip).ok(),
        None => None,
    };
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(tip)?;
    if let Some(p) = publish {
        walk.hide(p)?;
    }
    let mut authors = Vec::new();
    let mut first = None;
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let email = commit.author().email().unwrap_or("").to_lowercase();
        if !authors.contains(&email) {
            authors.push(email);
        }
        first.get_or_insert(commit);
    }
    let Some(first) = first else {
        return Ok(None);
    };
    let tip_commit = repo.find_commit(tip)?;
    let base_tree = match base {
        Some(b) => Some(repo.find_commit(b)?.tree()?),
        None => None,
    };
    let diff = repo.diff_tree_to_tree(base_tree.as_ref(), Some(&tip_commit.tree()?), None)?;
    let prefix = repo_path(content_dir, &format!("{POSTS_DIR}/"));
    let mut posts = Vec::new();
    for delta in diff.deltas() {
        let Some(path) = delta.new_file().path().and_then(Path::to_str) else {
            continue;
        };
        if delta.status() == git2::Delta::Deleted {
            continue;
        }
        if let Some(rest) = path.strip_prefix(&prefix) {
            if rest.ends_with(".md") && !rest.starts_with("images/") {
                posts.push(format!("{POSTS_DIR}/{rest}"));
            }
        }
    }
    if posts.is_empty() {
        return Ok(None); // a branch of other work, not a proposal
    }
    let title = posts
        .first()
        .and_then(|p| read_file(repo, tip, content_dir, p).ok().flatten())
        .and_then(|bytes| match parse_at(branch, branch, &bytes) {
            Parsed::Post(post) => Some(post.title),
            _ => None,
        })
        .unwrap_or_default();
    let who = first.author();
    Ok(Some(OpenProposal {
        branch: branch.to_string(),
        commit: tip.to_string(),
        author: Author {
            name: who.name().unwrap_or("").to_string(),
            email: who.email().unwrap_or("").to_string(),
        },
        authors,
        title,
        posts,
        updated: chrono::DateTime::from_timestamp(tip_commit.time().seconds(), 0)
            .unwrap_or_default(),
    }))
}

/// The bytes of a file (path from the content directory) at a commit; `None` if absent.
pub fn read_file(
    repo: &Repository,
    commit: Oid,
    content_dir: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, ProposeError> {
    let tree = repo.find_commit(commit)?.tree()?;
    let Ok(entry) = tree.get_path(Path::new(&repo_path(content_dir, path))) else {
        return Ok(None);
    };
    match entry.to_object(repo)?.into_blob() {
        Ok(blob) => Ok(Some(blob.content().to_vec())),
        Err(_) => Ok(None),
    }
}

/// The blob id of a file at a commit, without reading it; `None` when there is no such file.
pub fn file_blob(
    repo: &Repository,
    commit: Oid,
    content_dir: &str,
    path: &str,
) -> Result<Option<Oid>, ProposeError> {
    let tree = repo.find_commit(commit)?.tree()?;
    Ok(tree
        .get_path(Path::new(&repo_path(content_dir, path)))
        .ok()
        .filter(|e| e.kind() == Some(git2::ObjectType::Blob))
        .map(|e| e.id()))
}

/// The tip of a proposal branch.
pub fn tip(repo: &Repository, branch: &str) -> Result<Oid, ProposeError> {
    repo.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(|| ProposeError::NoBranch(branch.to_string()))
}
