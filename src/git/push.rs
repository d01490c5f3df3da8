//! Sending a proposal branch from the mirror to the remote, with the server's git
//! credentials (the same ones fetching uses). Only `proposals/…` branches are ever pushed:
//! the publish branch moves when a supervisor merges, never from here.

use std::sync::atomic::AtomicU32;

use git2::{Oid, PushOptions};

use crate::git::fetch::{FetchError, Mirror};
use crate::git::propose::PROPOSALS_PREFIX;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("only proposal branches are pushed, not `{0}`")]
    NotAProposal(String),
    #[error("the remote refused {branch}: {why}")]
    Refused { branch: String, why: String },
    #[error("pushing to {url} failed: {message}")]
    Push { url: String, message: String },
    #[error(transparent)]
    Mirror(#[from] FetchError),
}

impl Mirror {
    /// Pushes `commit` to the remote's `refs/heads/<branch>`. The remote refuses anything
    /// but a new branch or a fast-forward of it, which is what a proposal always is.
    pub fn push_proposal(&self, branch: &str, commit: Oid) -> Result<(), PushError> {
        if !branch.starts_with(PROPOSALS_PREFIX) || branch.contains("..") {
            return Err(PushError::NotAProposal(branch.to_string()));
        }
        let repo = self.open()?;
        // libgit2 pushes from a reference: a private one, gone afterwards, so a fetch that
        // prunes the mirror's branches meanwhile cannot take it away.
        let outgoing = format!("refs/oshirase/outgoing/{branch}");
        let fail = |message: String| PushError::Push {
            url: self.shown_url(),
            message,
        };
        repo.reference(&outgoing, commit, true, "oshirase: outgoing proposal")
            .map_err(|e| fail(e.message().to_string()))?;
        let pushed = self.push_ref(&repo, &outgoing, branch);
        if let Ok(mut r) = repo.find_reference(&outgoing) {
            let _ = r.delete();
        }
        pushed
    }

    fn push_ref(
        &self,
        repo: &git2::Repository,
        outgoing: &str,
        branch: &str,
    ) -> Result<(), PushError> {
        let fail = |message: String| PushError::Push {
            url: self.shown_url(),
            message,
        };
        let mut remote = repo
            .find_remote("origin")
            .map_err(|e| fail(e.message().to_string()))?;
        let attempts = AtomicU32::new(0);
        let refused = std::sync::Mutex::new(None::<String>);
        let mut callbacks = self.answering_credentials(&attempts);
        callbacks.push_update_reference(|_name, status| {
            if let Some(why) = status {
                if let Ok(mut r) = refused.lock() {
                    *r = Some(why.to_string());
                }
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let spec = format!("{outgoing}:refs/heads/{branch}");
        remote
            .push(&[spec.as_str()], Some(&mut options))
            .map_err(|e| fail(e.message().to_string()))?;
        drop(options);
        match refused.into_inner().ok().flatten() {
            Some(why) => Err(PushError::Refused {
                branch: branch.to_string(),
                why,
            }),
            None => Ok(()),
        }
    }
}
