//! A bare mirror of a remote content repository, kept in the data directory.
//!
//! `--repo` may be a URL (https with a token from the secrets, ssh with a key, `file://`,
//! `git://`). oshirase fetches every branch into the mirror (force-pushes and deletions
//! included, so the mirror is exactly the remote) and syncs from it like from a local
//! repository. Credentials come from the server's secrets and never appear in errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use git2::{Cred, CredentialType, FetchOptions, RemoteCallbacks, Repository};

use crate::secrets::{redact_url, Secrets};

/// Secret names for fetching (see the README).
pub const GIT_TOKEN: &str = "OSHIRASE_GIT_TOKEN";
pub const GIT_USERNAME: &str = "OSHIRASE_GIT_USERNAME";
pub const GIT_SSH_KEY: &str = "OSHIRASE_GIT_SSH_KEY";
pub const GIT_SSH_PASSPHRASE: &str = "OSHIRASE_GIT_SSH_PASSPHRASE";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot prepare the mirror {path}: {message}")]
    Mirror { path: PathBuf, message: String },
    #[error("fetching {url} failed: {message}")]
    Fetch { url: String, message: String },
}

/// Whether `--repo` names a remote rather than a local path.
pub fn is_remote(repo: &str) -> bool {
    repo.contains("://") || (repo.contains('@') && repo.contains(':') && !Path::new(repo).exists())
}

/// Where the mirror of the remote lives inside the data directory.
pub fn mirror_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mirror.git")
}

pub struct Mirror {
    url: String,
    path: PathBuf,
    secrets: Secrets,
}

impl Mirror {
    pub fn new(url: &str, data_dir: &Path, secrets: Secrets) -> Mirror {
        Mirror {
            url: url.to_string(),
            path: mirror_path(data_dir),
            secrets,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens or creates the bare mirror with `origin` pointing at the URL.
    fn open(&self) -> Result<Repository, FetchError> {
        let err = |e: git2::Error| FetchError::Mirror {
            path: self.path.clone(),
            message: e.message().to_string(),
        };
        let repo = match Repository::open_bare(&self.path) {
            Ok(r) => r,
            Err(_) => Repository::init_bare(&self.path).map_err(err)?,
        };
        match repo.find_remote("origin") {
            Ok(remote) if remote.url().ok() == Some(self.url.as_str()) => {}
            Ok(_) => repo.remote_set_url("origin", &self.url).map_err(err)?,
            Err(_) => {
                repo.remote("origin", &self.url).map_err(err)?;
            }
        }
        Ok(repo)
    }

    /// Fetches every branch of the remote into the mirror, pruning deleted ones.
    pub fn fetch(&self) -> Result<(), FetchError> {
        let repo = self.open()?;
        let fail = |message: String| FetchError::Fetch {
            url: redact_url(&self.url),
            message: scrub(&message, &self.secrets),
        };
        let mut remote = repo
            .find_remote("origin")
            .map_err(|e| fail(e.message().to_string()))?;
        let attempts = AtomicU32::new(0);
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, username, allowed| {
            // libgit2 asks again after a refusal; a second ask means the secret is wrong.
            if attempts.fetch_add(1, Ordering::SeqCst) > 0 {
                return Err(git2::Error::from_str(
                    "the remote refused the configured credentials",
                ));
            }
            self.credentials(username, allowed)
        });
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks);
        options.prune(git2::FetchPrune::On);
        options.download_tags(git2::AutotagOption::None);
        remote
            .fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut options), None)
            .map_err(|e| fail(e.message().to_string()))
    }

    fn credentials(
        &self,
        username: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        if allowed.contains(CredentialType::SSH_KEY) {
            if let Some(key) = self.secrets.get(GIT_SSH_KEY) {
                let passphrase = self.secrets.get(GIT_SSH_PASSPHRASE);
                return Cred::ssh_key(
                    username.unwrap_or("git"),
                    None,
                    Path::new(&key),
                    passphrase.as_deref(),
                );
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(token) = self.secrets.get(GIT_TOKEN) {
                let user = self
                    .secrets
                    .get(GIT_USERNAME)
                    .or_else(|| username.map(str::to_string))
                    .unwrap_or_else(|| "x-access-token".into());
                return Cred::userpass_plaintext(&user, &token);
            }
        }
        Err(git2::Error::from_str(&format!(
            "the remote asks for credentials; set {GIT_TOKEN} (https) or {GIT_SSH_KEY} (ssh) \
             in the environment or the --secrets file"
        )))
    }
}

/// Removes any configured secret value from a message, in case a library echoes one.
fn scrub(message: &str, secrets: &Secrets) -> String {
    let mut out = message.to_string();
    for name in [GIT_TOKEN, GIT_SSH_PASSPHRASE] {
        if let Some(v) = secrets.get(name).filter(|v| v.len() >= 4) {
            out = out.replace(&v, "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_or_local() {
        assert!(is_remote("https://github.com/city/posts.git"));
        assert!(is_remote("file:///srv/posts.git"));
        assert!(is_remote("git@github.com:city/posts.git"));
        assert!(!is_remote("/srv/posts"));
        assert!(!is_remote("./posts"));
    }
}
