//! Approval: which `oshirase.yaml` is in force, and why a post must wait for an approver
//! under its account's rule.

use std::collections::{BTreeMap, HashSet};

use crate::content::config::{Approval, ConfigError, RepoConfig, CONFIG_FILE};
use crate::git::repo::{Landing, Repo, RepoError};
use crate::model::facts::Hold;
use crate::store::{meta, Store};
use crate::sync::config_approval::{self, HeldConfig};

use crate::model::records::{Emergency, EmergencyRoute};
use crate::sync::plan::{Candidate, EmergencyGrant, Outcome};
use crate::sync::prepare::content_path;
use crate::sync::SyncError;

/// The configuration a sync plans with, and the unapproved one it did not take, if any.
pub(crate) struct InForce {
    pub(crate) config: RepoConfig,
    pub(crate) text: String,
    pub(crate) commit: String,
    pub(crate) held: Option<HeldConfig>,
}

/// Decides which `oshirase.yaml` is in force at `tip` (see `config_approval`): the tip's
/// when it is the one in force or an approved change of it, else the one in force stays.
/// The first sync of a data directory takes the tip's: there is nothing approved before it.
pub(crate) fn config_in_force(
    store: &Store,
    repo: &Repo,
    tip: git2::Oid,
    branch: &str,
) -> Result<InForce, SyncError> {
    let config_file = content_path(repo.content_dir(), CONFIG_FILE);
    let text = repo.config_text(tip)?.ok_or_else(|| SyncError::NoConfig {
        file: config_file.clone(),
        branch: branch.to_string(),
    })?;
    let proposed = RepoConfig::parse(&config_file, &text).map_err(SyncError::BadConfig)?;
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
    let current = RepoConfig::parse(&config_file, &stored_text).map_err(|source| {
        SyncError::StoredConfig {
            commit: short(&stored_commit).to_string(),
            source,
        }
    })?;
    let landing = landing()?;
    match config_approval::judge(&current, &proposed, landing.as_ref()) {
        Ok(()) => Ok(take_proposed(landing)),
        Err(refusal) => {
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
                reason: refusal.to_string(),
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

pub(crate) fn short(commit: &str) -> &str {
    &commit[..commit.len().min(8)]
}

/// Approver lists as they were on the branch before each landing, parsed once each.
#[derive(Default)]
pub(crate) struct BaseConfigs(BTreeMap<String, Result<RepoConfig, BaseConfigError>>);

/// Why the configuration before a merge cannot be read; the post is held with it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BaseConfigError {
    #[error("`{0}` is not a commit id")]
    Commit(String),
    #[error(transparent)]
    Read(#[from] RepoError),
    #[error("{CONFIG_FILE} did not exist before the merge")]
    Missing,
    #[error(transparent)]
    Parse(#[from] ConfigError),
}

fn read_base_config(repo: &Repo, base: &str) -> Result<RepoConfig, BaseConfigError> {
    let oid = git2::Oid::from_str(base).map_err(|_| BaseConfigError::Commit(base.to_string()))?;
    let text = repo.config_text(oid)?.ok_or(BaseConfigError::Missing)?;
    Ok(RepoConfig::parse(CONFIG_FILE, &text)?)
}

/// Why a post must wait for approval under its account's rule, or `None` when it may go.
pub(crate) fn approval_hold(
    repo: &Repo,
    config: &RepoConfig,
    c: &Candidate,
    bases: &mut BaseConfigs,
) -> Option<Hold> {
    let account = config.account(c.account.as_deref()).ok()?;
    if let Some(hold) = proposer_hold(account, c) {
        return Some(hold);
    }
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
    let base_config = bases
        .0
        .entry(base.clone())
        .or_insert_with(|| read_base_config(repo, base));
    let approvers = match base_config {
        Err(e) => {
            return Some(Hold::BaseUnreadable {
                commit,
                error: e.to_string(),
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

/// A post proposed by someone the account's `proposers:` (in the configuration in force)
/// does not list waits, whoever merged it.
fn proposer_hold(account: &crate::content::config::Account, c: &Candidate) -> Option<Hold> {
    account.proposers.as_ref()?;
    let Some(landing) = &c.landing else {
        return Some(Hold::NoLanding);
    };
    if account.may_propose(&landing.proposer.email) {
        return None;
    }
    Some(Hold::NotProposer {
        commit: landing.commit[..landing.commit.len().min(8)].to_string(),
        by: landing.proposer.to_string(),
        account: account.name.clone(),
    })
}

/// Whether an `emergency: true` post may go at once, given `normal`, the hold its account's
/// approval rule gives it. It may when one of the account's approvers merged it (`normal`
/// is then `None`), or when one of its emergency approvers merged or pushed it, even
/// straight to the branch at 3 a.m.; anyone else's emergency is held, with the reason.
/// A post let through gets `c.emergency` and is timed from when its commit was made (not
/// from `publish_at`), so a later cold sync finds it long past and does not send it again
/// (nor alerts anyone of it). A commit without a merge counts as an emergency approver's
/// push only when they both wrote and committed it and no forge merged it: a forge's rebase
/// keeps the author of whoever opened the pull request, so the author alone proves nothing.
/// An emergency never lets a retraction through: deleting posts is not urgent in that way.
pub(crate) fn emergency(
    config: &RepoConfig,
    c: &mut Candidate,
    normal: Option<Hold>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Hold> {
    if !c.asks_emergency || matches!(c.outcome, Outcome::Ready { retract: true, .. }) {
        return normal;
    }
    let Ok(account) = config.account(c.account.as_deref()) else {
        return normal;
    };
    let Some(landing) = &c.landing else {
        return Some(Hold::NoLanding);
    };
    let (actor, via) = match &landing.approver {
        Some(merger) => (merger, EmergencyRoute::Merge),
        None => (&landing.proposer, EmergencyRoute::DirectPush),
    };
    let merged_by_approver = normal.is_none()
        && via == EmergencyRoute::Merge
        && matches!(account.approval, Approval::Merge { .. });
    let pushed_by_themselves = via == EmergencyRoute::Merge
        || (landing.forge_merge.is_none()
            && landing
                .committer
                .as_ref()
                .is_some_and(|c| c.email == actor.email));
    let commit = short(&landing.commit).to_string();
    let emergency_approver = account.is_emergency_approver(&actor.email) && pushed_by_themselves;
    if !merged_by_approver && !emergency_approver {
        return Some(Hold::Emergency {
            commit,
            by: actor.to_string(),
            account: account.name.clone(),
        });
    }
    let mut notify: Vec<String> = account.approvers().to_vec();
    for person in &account.emergency_approvers {
        if !notify.contains(person) {
            notify.push(person.clone());
        }
    }
    let landed_at = landing
        .committer
        .as_ref()
        .map_or(actor.at, |c| c.at)
        .min(now);
    // Found long after it went out (a new data directory): recorded, but it is `missed`,
    // and nobody is told it is going out now.
    let news = now - landed_at
        <= chrono::Duration::from_std(config.max_lateness).unwrap_or(chrono::Duration::MAX);
    c.publish_at = Some(landed_at);
    c.emergency = Some(EmergencyGrant {
        record: Emergency {
            by: actor.clone(),
            commit,
            via,
        },
        notify,
        news,
    });
    None
}
