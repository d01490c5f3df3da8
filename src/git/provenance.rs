//! Provenance: which first-parent commit landed each file's current version, who proposed
//! it and, for a merge, who approved it. Sync's approval rules (four eyes, the approver
//! list of the branch before the merge) are judged on these facts.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{TimeZone, Utc};
use git2::{Commit, Oid, Sort};
use serde::{Deserialize, Serialize};

use crate::git::repo::{Repo, RepoError};
use crate::model::person::Person;

/// How the current version of a file reached the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landing {
    /// The first-parent commit of the branch that brought this version.
    pub commit: String,
    /// Who wrote the change (on the pull-request side of a merge).
    pub proposer: Person,
    /// The author of the merge commit, when the version came through a merge.
    pub approver: Option<Person>,
    /// The branch as it was before this landing, where the approver list is read from.
    pub base: Option<String>,
    /// For a single-parent commit that looks like a forge's squash or rebase merge, the
    /// pull or merge request it names (`#12`, `!34`), so a hold can say why.
    #[serde(default)]
    pub forge_merge: Option<String>,
    /// Who made `commit` and when (its committer): when the version reached the branch,
    /// which an emergency post is timed from, and for a commit without a merge the closest
    /// git comes to who pushed it (a forge's rebase or squash commits as the forge or the
    /// merger, not as the author).
    #[serde(default)]
    pub committer: Option<Person>,
}

impl Repo {
    /// Finds, for each path (from the repository root), the first-parent commit that landed
    /// its current version, walking back from `tip` once for all paths. The walk stops early
    /// once every path is found, so a sync after a merge only looks at the new commits.
    pub fn landings(
        &self,
        tip: Oid,
        paths: &HashSet<String>,
    ) -> Result<HashMap<String, Landing>, RepoError> {
        let mut remaining: HashSet<&str> = paths.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        let mut commit = self.git.find_commit(tip)?;
        while !remaining.is_empty() {
            let tree = commit.tree()?;
            let parent = commit.parents().next();
            let changed: Vec<String> = match &parent {
                None => remaining
                    .iter()
                    .filter(|p| tree.get_path(Path::new(p)).is_ok())
                    .map(|p| p.to_string())
                    .collect(),
                Some(parent) => {
                    let diff = self.git.diff_tree_to_tree(
                        Some(&parent.tree()?),
                        Some(&tree),
                        Some(&mut self.content_diff_options()),
                    )?;
                    diff.deltas()
                        .filter_map(|d| d.new_file().path().and_then(Path::to_str))
                        .filter(|p| remaining.contains(p))
                        .map(str::to_string)
                        .collect()
                }
            };
            if !changed.is_empty() {
                for (path, landing) in self.landed_by(&commit, changed)? {
                    remaining.remove(path.as_str());
                    found.insert(path, landing);
                }
            }
            match parent {
                Some(p) => commit = p,
                None => break,
            }
        }
        Ok(found)
    }

    /// A diff limited to the content directory, where every path asked about lives.
    fn content_diff_options(&self) -> git2::DiffOptions {
        let mut options = git2::DiffOptions::new();
        if !self.content_dir.is_empty() {
            options.pathspec(&self.content_dir);
        }
        options
    }

    /// Who proposed and who approved each of `paths` as landed by `commit`.
    fn landed_by(
        &self,
        commit: &Commit<'_>,
        paths: Vec<String>,
    ) -> Result<Vec<(String, Landing)>, RepoError> {
        let base = commit.parent_id(0).ok().map(|o| o.to_string());
        let committer = Some(person(&commit.committer()));
        if commit.parent_count() < 2 {
            let landing = Landing {
                commit: commit.id().to_string(),
                proposer: person(&commit.author()),
                approver: None,
                base,
                forge_merge: forge_merge_hint(commit),
                committer: committer.clone(),
            };
            return Ok(paths.into_iter().map(|p| (p, landing.clone())).collect());
        }
        let mut proposers = self.proposers(commit, &paths)?;
        let approver = person(&commit.author());
        Ok(paths
            .into_iter()
            .map(|path| {
                // A merge that itself edited the file (a conflict resolution) proposed it too.
                let proposer = proposers.remove(&path).unwrap_or_else(|| approver.clone());
                let landing = Landing {
                    forge_merge: None,
                    committer: committer.clone(),
                    commit: commit.id().to_string(),
                    proposer,
                    approver: Some(approver.clone()),
                    base: base.clone(),
                };
                (path, landing)
            })
            .collect())
    }

    /// For a merge, the author of the newest commit on the merged side that changed each
    /// path, found in one walk of that side for all paths (a merge of thousands of posts
    /// would otherwise walk it once per post).
    fn proposers(
        &self,
        merge: &Commit<'_>,
        paths: &[String],
    ) -> Result<HashMap<String, Person>, RepoError> {
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
        for parent in merge.parent_ids().skip(1) {
            walk.push(parent)?;
        }
        walk.hide(merge.parent_id(0)?)?;
        let mut pending: HashSet<&str> = paths.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        for oid in walk {
            if pending.is_empty() {
                break;
            }
            let candidate = self.git.find_commit(oid?)?;
            let changed = self.blobs_changed(&candidate, &pending)?;
            if changed.is_empty() {
                continue;
            }
            let author = person(&candidate.author());
            for path in changed {
                pending.remove(path.as_str());
                found.insert(path, author.clone());
            }
        }
        Ok(found)
    }

    /// Which of `wanted` point at another blob in `commit` than in its first parent (or
    /// exist at all, in a root commit). A change of mode alone keeps the blob, so it is not
    /// a change of the post.
    fn blobs_changed(
        &self,
        commit: &Commit<'_>,
        wanted: &HashSet<&str>,
    ) -> Result<Vec<String>, RepoError> {
        let parent_tree = match commit.parents().next() {
            Some(parent) => Some(parent.tree()?),
            None => None,
        };
        let diff = self.git.diff_tree_to_tree(
            parent_tree.as_ref(),
            Some(&commit.tree()?),
            Some(&mut self.content_diff_options()),
        )?;
        Ok(diff
            .deltas()
            .filter(|d| d.old_file().id() != d.new_file().id())
            .filter_map(|d| {
                let side = d.new_file().path().or_else(|| d.old_file().path());
                side.and_then(Path::to_str)
            })
            .filter(|p| wanted.contains(p))
            .map(str::to_string)
            .collect())
    }
}

/// The person a git signature names, with its time; e-mail addresses compare lower-case.
pub(crate) fn person(sig: &git2::Signature<'_>) -> Person {
    let at = Utc
        .timestamp_opt(sig.when().seconds(), 0)
        .single()
        .unwrap_or_default();
    Person {
        name: String::from_utf8_lossy(sig.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(sig.email_bytes()).to_lowercase(),
        at,
    }
}

/// Recognises the traces forges leave on squash and rebase merges, which carry no merge
/// commit: GitHub and Gitea end the subject with `(#12)` and GitHub commits as
/// `noreply@github.com`; GitLab adds `See merge request group/project!34`.
fn forge_merge_hint(commit: &Commit<'_>) -> Option<String> {
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let subject = message.lines().next().unwrap_or_default().trim_end();
    if let Some(open) = subject.rfind("(#") {
        let number = subject[open + 2..].strip_suffix(')')?;
        if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) {
            return Some(format!("#{number}"));
        }
    }
    for line in message.lines() {
        if let Some(rest) = line.trim().strip_prefix("See merge request ") {
            if let Some((_, number)) = rest.rsplit_once('!') {
                return Some(format!("!{number}"));
            }
        }
    }
    let committer = commit.committer();
    (committer.email().ok() == Some("noreply@github.com")).then(|| "a pull request".to_string())
}
