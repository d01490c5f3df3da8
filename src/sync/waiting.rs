//! Proposals pushed with git wait for approval as the desk's do: the account's approvers
//! hear of each once.
//!
//! The desk records `proposal-waiting` when it writes a branch; a branch pushed with git
//! (or through a forge) has nobody to say so, so the sync loop looks at the branches
//! whenever they move. Each proposal is announced once, at the commit it was first seen
//! at, and again only after it was sent back or withdrawn and then changed (it waits
//! anew). The first look of a data directory announces nothing: the branches already
//! there when oshirase is installed are old news, not a burst of e-mails.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use git2::{BranchType, Oid, Repository};

use crate::content::config::{Approval, RepoConfig, CONFIG_FILE};
use crate::content::post::{parse_at, Parsed};
use crate::git::propose::{self, OpenProposal, ProposeError};
use crate::model::event::EventKind;
use crate::model::records::{Actor, NewEvent};
use crate::store::{meta, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum WaitingError {
    #[error("reading the proposal branches: {0}")]
    Git(#[from] ProposeError),
    #[error("reading the proposal branches: {0}")]
    Branches(#[from] git2::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fingerprint of every local branch and where it points: the branches are looked at
/// again only when it changes.
pub fn branch_heads(repo: &Repository) -> Result<u64, WaitingError> {
    let mut heads: Vec<(String, Oid)> = Vec::new();
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        if let (Ok(Some(name)), Some(oid)) = (branch.name(), branch.get().target()) {
            heads.push((name.to_string(), oid));
        }
    }
    heads.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    heads.hash(&mut h);
    Ok(h.finish())
}

/// Records `proposal-waiting` for every open proposal not announced yet; answers how many.
pub fn announce(
    repo: &Repository,
    publish_branch: &str,
    content_dir: &str,
    store: &Store,
) -> Result<usize, WaitingError> {
    let open = propose::open_proposals(repo, publish_branch, content_dir)?;
    let announced: HashMap<String, String> = prefixed(store, meta::ANNOUNCED_PREFIX)?;
    let aside: HashMap<String, String> = prefixed(store, meta::SET_ASIDE_PREFIX)?;
    if store.meta(meta::PROPOSALS_WATCHED)?.is_none() {
        let mut pairs: Vec<(String, String)> = open
            .iter()
            .map(|p| (announced_key(&p.branch), p.commit.clone()))
            .collect();
        pairs.push((meta::PROPOSALS_WATCHED.to_string(), "1".to_string()));
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        store.set_meta(&pairs)?;
        return Ok(0);
    }
    let config = store
        .meta(meta::CONFIG_IN_FORCE_TEXT)?
        .and_then(|text| RepoConfig::parse(CONFIG_FILE, &text).ok());
    let mut told = 0;
    for p in &open {
        let set_aside_here = aside.get(&p.branch) == Some(&p.commit);
        let waits_anew = match announced.get(&p.branch) {
            None => true,
            // Sent back (or withdrawn) at the commit announced, then changed.
            Some(at) => aside.get(&p.branch) == Some(at) && *at != p.commit,
        };
        if set_aside_here || !waits_anew {
            continue;
        }
        let event = waiting_event(repo, content_dir, p, config.as_ref());
        let key = announced_key(&p.branch);
        store.record(vec![event], &[(key.as_str(), p.commit.as_str())])?;
        told += 1;
    }
    Ok(told)
}

/// The meta key that remembers at which commit a branch was announced. The desk writes it
/// too when it proposes, so its own branches are not announced twice.
pub fn announced_key(branch: &str) -> String {
    format!("{}{branch}", meta::ANNOUNCED_PREFIX)
}

fn prefixed(store: &Store, prefix: &str) -> Result<HashMap<String, String>, StoreError> {
    Ok(store
        .meta_with_prefix(prefix)?
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v))
        .collect())
}

/// One event for the proposal, on its first post, for the approvers of every account its
/// posts name (none of whom wrote it).
fn waiting_event(
    repo: &Repository,
    content_dir: &str,
    p: &OpenProposal,
    config: Option<&RepoConfig>,
) -> NewEvent {
    let tip = Oid::from_str(&p.commit).ok();
    let mut first_id = None;
    let mut notify = BTreeSet::new();
    for file in &p.posts {
        let bytes = tip.and_then(|t| {
            propose::read_file(repo, t, content_dir, file)
                .ok()
                .flatten()
        });
        let post = match bytes.as_deref().map(|b| parse_at(file, file, b)) {
            Some(Parsed::Post(post)) => post,
            _ => continue,
        };
        first_id.get_or_insert_with(|| post.id.clone());
        let approvers = config
            .and_then(|c| c.account(post.account.as_deref()).ok())
            .map(|a| match &a.approval {
                Approval::Merge { approvers } => approvers.clone(),
                Approval::Branch => Vec::new(),
            })
            .unwrap_or_default();
        notify.extend(
            approvers
                .into_iter()
                .filter(|a| !p.authors.contains(&a.to_lowercase())),
        );
    }
    let post_id = first_id
        .or_else(|| p.posts.first().map(|f| crate::content::post::default_id(f)))
        .unwrap_or_default();
    NewEvent {
        actor: Actor::Git(p.author.email.clone()),
        notify: notify.into_iter().collect(),
        ..NewEvent::service(
            &post_id,
            EventKind::ProposalWaiting,
            None,
            format!(
                "{} pushed {} on {} for approval",
                p.author.email,
                p.posts.join(", "),
                p.branch
            ),
        )
    }
}
