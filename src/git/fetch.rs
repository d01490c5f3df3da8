//! A bare mirror of a remote content repository, kept in the data directory.
//!
//! `--repo` may be a URL (https with a token from the secrets, ssh with a key, `file://`,
//! `git://`). oshirase fetches every branch into the mirror (force-pushes and deletions
//! included, so the mirror is exactly the remote) and syncs from it like from a local
//! repository. Credentials come from the server's secrets and never appear in errors; a
//! URL with a password in it is refused before anything is written, so the password never
//! lands in the mirror's `config` in clear.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use git2::{Cred, CredentialType, FetchOptions, RemoteCallbacks, Repository};

use crate::support::secrets::{redact_url, userinfo_end, Secrets};

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
    #[error(
        "fetching {url} was stopped after {}: the remote did not send the repository in \
         time (limit: --fetch-timeout {})",
        humantime::format_duration(*after),
        humantime::format_duration(*limit)
    )]
    TimedOut {
        url: String,
        after: Duration,
        limit: Duration,
    },
    #[error(
        "--repo {url}: the URL holds a password, which would be written in clear into the \
         mirror's git config; give the URL without it and put the token in {GIT_TOKEN} (and \
         the user name, if the forge wants one, in {GIT_USERNAME}), in the --secrets file or \
         the environment"
    )]
    PasswordInUrl { url: String },
}

/// Refuses a remote URL that carries a password (`https://user:token@host/…`,
/// `ssh://user:pw@host/…`, `user:pw@host:path`); a user name alone (`ssh://git@host/…`,
/// `git@host:o/r.git`) is fine. The message shows the URL redacted.
pub fn check_remote_url(url: &str) -> Result<(), FetchError> {
    if has_password(url) {
        return Err(FetchError::PasswordInUrl {
            url: redact_url(url),
        });
    }
    Ok(())
}

fn has_password(url: &str) -> bool {
    if url.contains("://") {
        // A well-formed URL says for itself; one the parser cannot read (a password typed
        // with a raw `/`) is judged by the `user:…@` before its host.
        if let Ok(parsed) = reqwest::Url::parse(url) {
            return parsed.password().is_some_and(|p| !p.is_empty());
        }
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        return userinfo_end(rest).is_some_and(|at| has_secret_part(&rest[..at]));
    }
    // scp-like `user:password@host:path`: a `:` both before the last `@` and after it.
    url.rfind('@')
        .is_some_and(|at| has_secret_part(&url[..at]) && url[at + 1..].contains(':'))
}

/// Whether `user:password` has a non-empty part after its first `:`.
fn has_secret_part(userinfo: &str) -> bool {
    userinfo.split_once(':').is_some_and(|(_, p)| !p.is_empty())
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
    /// The longest one fetch may take, connecting included.
    limit: Duration,
}

/// The longest libgit2 waits to connect, and for the next bytes once connected, before it
/// gives up on a remote. A whole fetch is also stopped at its own limit (see
/// [`Mirror::fetch`]): these two only make sure no read blocks a fetch past it.
///
/// # Safety
/// libgit2 keeps these in process-wide variables that are not synchronised: call this
/// before any other thread exists (`main` does, before the runtime starts).
pub unsafe fn set_socket_limits(limit: Duration) {
    let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1);
    let connect = limit.min(Duration::from_secs(15));
    let silence = limit.min(Duration::from_secs(30));
    // SAFETY: the caller guarantees no other thread runs yet (see above).
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(millis(connect));
        let _ = git2::opts::set_server_timeout_in_milliseconds(millis(silence));
    }
}

impl Mirror {
    /// A mirror of `url` in the data directory, whose fetches stop after `limit`; refused
    /// when the URL holds a password.
    pub fn new(
        url: &str,
        data_dir: &Path,
        secrets: Secrets,
        limit: Duration,
    ) -> Result<Mirror, FetchError> {
        check_remote_url(url)?;
        Ok(Mirror {
            url: url.to_string(),
            path: mirror_path(data_dir),
            secrets,
            limit,
        })
    }

    /// How long one fetch may take.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The URL, without any credentials in it, for messages.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens or creates the bare mirror with `origin` pointing at the URL.
    pub(super) fn open(&self) -> Result<Repository, FetchError> {
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

    /// Fetches every branch of the remote into the mirror, pruning deleted ones. A fetch
    /// that is still receiving when its limit passes is stopped from its progress callbacks;
    /// one that receives nothing is ended by libgit2's socket limits
    /// ([`set_socket_limits`]).
    pub fn fetch(&self) -> Result<(), FetchError> {
        let started = Instant::now();
        let deadline = started + self.limit;
        let timed_out = || FetchError::TimedOut {
            url: redact_url(&self.url),
            // Whole seconds: the message is for a person.
            after: Duration::from_secs(started.elapsed().as_secs()),
            limit: self.limit,
        };
        let repo = self.open()?;
        let fail = |message: String| FetchError::Fetch {
            url: redact_url(&self.url),
            message: scrub(&message, &self.secrets),
        };
        let mut remote = repo
            .find_remote("origin")
            .map_err(|e| fail(e.message().to_string()))?;
        let attempts = AtomicU32::new(0);
        let mut callbacks = self.answering_credentials(&attempts);
        // Returning false cancels the fetch.
        callbacks.transfer_progress(|_| Instant::now() < deadline);
        callbacks.sideband_progress(|_| Instant::now() < deadline);
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks);
        options.prune(git2::FetchPrune::On);
        options.download_tags(git2::AutotagOption::None);
        let fetched = remote.fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut options), None);
        match fetched {
            Ok(()) => Ok(()),
            Err(_) if Instant::now() >= deadline => Err(timed_out()),
            // libgit2's socket limits: connecting, or waiting for the next bytes.
            Err(e) if e.code() == git2::ErrorCode::Timeout => Err(timed_out()),
            Err(e) => Err(fail(e.message().to_string())),
        }
    }

    /// Callbacks that answer the remote's question for credentials with the configured
    /// secret, once: libgit2 asks again after a refusal, and a second ask means the
    /// secret is wrong. `attempts` counts the asks of one fetch or push.
    pub(super) fn answering_credentials<'a>(
        &'a self,
        attempts: &'a AtomicU32,
    ) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, username, allowed| {
            if attempts.fetch_add(1, Ordering::SeqCst) > 0 {
                return Err(git2::Error::from_str(
                    "the remote refused the configured credentials",
                ));
            }
            self.credentials(username, allowed)
        });
        callbacks
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

    #[test]
    fn a_password_in_the_url_is_refused_and_a_user_name_is_not() {
        for url in [
            "https://user:tok3n@git.example/o/r.git",
            "https://user:tok3n@git.example",
            "http://x-access-token:tok3n@127.0.0.1:9/o/r.git",
            "ssh://git:tok3n@git.example/o/r.git",
            "ssh://user:tok3n@git.example:2222/o/r.git",
            "https://user:tok/3n@git.example/o/r.git",
            "user:tok3n@git.example:o/r.git",
        ] {
            let e = check_remote_url(url).unwrap_err().to_string();
            assert!(
                e.contains(GIT_TOKEN) && !e.contains("tok3n") && !e.contains("3n@"),
                "{e}"
            );
        }
        for url in [
            "https://git.example/o/r.git",
            "https://git.example:8443/o/r@v2.git",
            "ssh://git@git.example/o/r.git",
            "ssh://git@git.example:2222/o/r.git",
            "git@github.com:o/r.git",
            "https://user@git.example/o/r.git",
            "https://user:@git.example/o/r.git",
            "file:///srv/posts.git",
        ] {
            assert!(check_remote_url(url).is_ok(), "{url}");
        }
    }
}
