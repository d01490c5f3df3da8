//! A supervisor's decision on a proposal, when oshirase holds the repository: approving it
//! is a real merge commit on the publish branch authored by the approver (so a sync judges
//! it exactly as a merge made on a forge), and sending it back or withdrawing it moves the
//! branch under `refs/oshirase/set-aside/…`, so nothing is lost.
//!
//! Whether the person may approve is decided by the caller (the web layer knows who is
//! signed in and the approver lists); this file only makes the commit and moves the refs,
//! each move compare-and-swap, so two approvals at once cannot both land.

use git2::{Oid, Repository, Signature};

use crate::git::propose::{Author, COMMITTER_EMAIL, COMMITTER_NAME};

/// Where a branch that was sent back or withdrawn is kept.
pub const SET_ASIDE_PREFIX: &str = "refs/oshirase/set-aside/";

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("there is no branch {0}")]
    NoBranch(String),
    #[error("the publish branch `{0}` does not exist")]
    NoPublishBranch(String),
    #[error(
        "{branch} changed after you saw it (it is now at {now}, you saw {seen}); \
         look at it again before approving"
    )]
    Changed {
        branch: String,
        seen: String,
        now: String,
    },
    #[error("{0} is already merged into the publish branch")]
    AlreadyMerged(String),
    #[error(
        "{branch} no longer merges cleanly into the publish branch: {} changed on both; \
         its proposer must bring it up to date",
        paths.join(", ")
    )]
    Conflict { branch: String, paths: Vec<String> },
    #[error("the publish branch moved while this approval was written; try again")]
    Raced,
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// One approval to write.
pub struct Merge<'a> {
    pub branch: &'a str,
    /// The tip the approver saw: what is merged must be what was previewed.
    pub seen: Oid,
    pub publish_branch: &'a str,
    pub approver: &'a Author,
    pub message: &'a str,
}

/// Merges the branch into the publish branch with a merge commit authored by the approver
/// (committer oshirase); returns the merge commit.
pub fn merge(repo: &Repository, m: &Merge<'_>) -> Result<Oid, ApproveError> {
    let tip = branch_tip(repo, m.branch)?;
    if tip != m.seen {
        return Err(ApproveError::Changed {
            branch: m.branch.to_string(),
            seen: short(m.seen),
            now: short(tip),
        });
    }
    let publish_ref = format!("refs/heads/{}", m.publish_branch);
    let publish = repo
        .find_reference(&publish_ref)
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(|| ApproveError::NoPublishBranch(m.publish_branch.to_string()))?;
    if publish == tip || repo.graph_descendant_of(publish, tip)? {
        return Err(ApproveError::AlreadyMerged(m.branch.to_string()));
    }
    let ours = repo.find_commit(publish)?;
    let theirs = repo.find_commit(tip)?;
    let mut index = repo.merge_commits(&ours, &theirs, None)?;
    if index.has_conflicts() {
        let mut paths: Vec<String> = index
            .conflicts()?
            .filter_map(Result::ok)
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        return Err(ApproveError::Conflict {
            branch: m.branch.to_string(),
            paths,
        });
    }
    let tree = repo.find_tree(index.write_tree_to(repo)?)?;
    let now = git2::Time::new(chrono::Utc::now().timestamp(), 0);
    let author = Signature::new(&m.approver.name, &m.approver.email, &now)?;
    let committer = Signature::new(COMMITTER_NAME, COMMITTER_EMAIL, &now)?;
    let merge = repo.commit(
        None,
        &author,
        &committer,
        m.message,
        &tree,
        &[&ours, &theirs],
    )?;
    let log = format!("oshirase: {} approved {}", m.approver.email, m.branch);
    repo.reference_matching(&publish_ref, merge, true, publish, &log)
        .map_err(|e| match e.code() {
            git2::ErrorCode::Modified => ApproveError::Raced,
            _ => ApproveError::Git(e),
        })?;
    Ok(merge)
}

/// Moves a branch that is still at `seen` under [`SET_ASIDE_PREFIX`] (the ref name keeps
/// the branch and the commit, so a branch set aside twice keeps both); returns that name.
pub fn set_aside(repo: &Repository, branch: &str, seen: Oid) -> Result<String, ApproveError> {
    let tip = branch_tip(repo, branch)?;
    if tip != seen {
        return Err(ApproveError::Changed {
            branch: branch.to_string(),
            seen: short(seen),
            now: short(tip),
        });
    }
    let kept = kept_name(branch, tip);
    repo.reference(&kept, tip, true, "oshirase: set aside")?;
    let mut head = repo.find_reference(&format!("refs/heads/{branch}"))?;
    if head.target() != Some(tip) {
        return Err(ApproveError::Raced);
    }
    head.delete()?;
    Ok(kept)
}

/// The name a branch set aside at `tip` is kept under.
pub fn kept_name(branch: &str, tip: Oid) -> String {
    format!("{SET_ASIDE_PREFIX}{branch}/{}", short(tip))
}

/// Keeps a copy of a branch's tip under [`SET_ASIDE_PREFIX`] without touching the branch
/// (for a remote's mirror, where the branch belongs to the forge).
pub fn keep_copy(repo: &Repository, branch: &str, tip: Oid) -> Result<String, ApproveError> {
    let kept = kept_name(branch, tip);
    repo.reference(&kept, tip, true, "oshirase: set aside")?;
    Ok(kept)
}

fn branch_tip(repo: &Repository, branch: &str) -> Result<Oid, ApproveError> {
    repo.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(|| ApproveError::NoBranch(branch.to_string()))
}

fn short(oid: Oid) -> String {
    oid.to_string()[..8].to_string()
}
