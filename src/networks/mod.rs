//! Network adapters: one file per network type behind the [`Network`] trait.
//!
//! The scheduler only ever talks to this trait. An adapter publishes a delivery, and after a
//! crash settles a delivery that was left `publishing`: did the earlier attempt go through?
//! An adapter gets its credential only through [`AdapterContext::grant`], which checks the
//! server's declaration of it (see [`credentials`]).
//! May use: `support`, `content`, `model`, `git` (never the store or the web).

mod bluesky;
pub mod card;
pub mod credentials;
mod facebook;
pub mod http;
mod line;
mod mastodon;
pub mod media;
mod oauth1;
mod outbox;
mod webhook;
mod x;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::content::config::{NetworkConfig, NetworkKind, RepoConfig};
use crate::model::records::DeliveryRecord;
use crate::support::secrets::Secrets;
use credentials::{Credential, CredentialError, Refusing};

pub use credentials::{Endpoint, Grant};
pub use media::{MediaSource, MemoryMedia, RepoMedia};
pub use outbox::OutboxFile;

/// What a network said about a published delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
}

/// The answer to "did the attempt that was cut short go through?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// It did; here is what the network knows of it.
    Published(Published),
    /// It did not, or sending again with the same key cannot make a second post.
    SafeToRetry,
    /// Nobody can tell without a person looking; never sent again automatically.
    Unknown(String),
}

/// How the delivery engine should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying later: 5xx, 408, 429, timeouts, connection errors.
    Transient,
    /// Retrying cannot help: a rejected post, a duplicate, a policy block.
    Permanent,
    /// The network refused the credentials; deliveries wait for an operator.
    Credentials,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NetError {
    pub class: ErrorClass,
    pub message: String,
    /// How long the network asked us to wait (Retry-After, rate-limit reset).
    pub retry_after: Option<Duration>,
}

impl NetError {
    pub fn transient(message: impl Into<String>) -> NetError {
        NetError {
            class: ErrorClass::Transient,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> NetError {
        NetError {
            class: ErrorClass::Permanent,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn credentials(message: impl Into<String>) -> NetError {
        NetError {
            class: ErrorClass::Credentials,
            message: message.into(),
            retry_after: None,
        }
    }
}

#[async_trait]
pub trait Network: Send + Sync {
    /// Sends the delivery, using `delivery.key` as its idempotency key where the network
    /// has one.
    async fn publish(&self, delivery: &DeliveryRecord) -> Result<Published, NetError>;

    /// Settles a delivery found `publishing` after a restart.
    async fn settle(&self, delivery: &DeliveryRecord) -> Result<Settlement, NetError>;

    /// Deletes a published delivery (an approved `retract: true`). Deleting what is already
    /// gone succeeds, so an interrupted retract can simply be repeated.
    async fn retract(&self, delivery: &DeliveryRecord) -> Result<(), NetError>;
}

/// Why the adapter of one configured network could not be built; its deliveries wait
/// with this reason while the other networks go on.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{place}: {source}")]
    Credential {
        place: String,
        source: CredentialError,
    },
    /// A secret that is set but unusable, or a set of secrets that does not add up.
    #[error("{place}: {problem}")]
    Secret { place: String, problem: String },
    /// An adapter handed another type's settings: a wiring mistake here, not in the file.
    #[error("{place}: a `{kind}` network was given to another type's adapter")]
    WrongSettings { place: String, kind: NetworkKind },
    #[error("{place}: an outbox is built by `Outboxes`, not as an adapter")]
    Outbox { place: String },
}

impl BuildError {
    pub fn credential(place: &str, source: CredentialError) -> BuildError {
        BuildError::Credential {
            place: place.to_string(),
            source,
        }
    }
}

/// The adapters for every (account, network) of the current configuration.
#[derive(Default)]
pub struct Networks {
    adapters: HashMap<(String, String), Arc<dyn Network>>,
}

impl Networks {
    /// Builds every adapter. A network that cannot be built (its credential undeclared,
    /// declared for another type, or not allowed to the host the configuration names; a
    /// secret missing) gets an adapter that refuses every call with the reason, so its
    /// deliveries wait for the operator while the other networks go on.
    pub fn build(
        config: &RepoConfig,
        outboxes: &Outboxes,
        secrets: &Secrets,
        media: Arc<dyn MediaSource>,
        public_url: Option<&str>,
    ) -> Networks {
        let mut adapters: HashMap<(String, String), Arc<dyn Network>> = HashMap::new();
        for account in config.accounts.values() {
            for net in account.networks.values() {
                let ctx = AdapterContext {
                    account: &account.name,
                    net,
                    secrets,
                    media: media.clone(),
                    public_url: public_url.map(str::to_string),
                };
                let adapter: Arc<dyn Network> = match net.kind() {
                    NetworkKind::Outbox => outboxes.file(&account.name, &net.name),
                    _ => Self::adapter(&ctx).unwrap_or_else(|e| {
                        let reason =
                            format!("{e} (to rehearse without credentials, run `serve --dry-run`)");
                        tracing::warn!("{reason}; this network sends nothing");
                        Arc::new(Refusing::new(reason))
                    }),
                };
                adapters.insert((account.name.clone(), net.name.clone()), adapter);
            }
        }
        Networks { adapters }
    }

    /// One adapter, built from a configured network: what tests of a single adapter use.
    pub fn adapter(ctx: &AdapterContext) -> Result<Arc<dyn Network>, BuildError> {
        match ctx.net.kind() {
            NetworkKind::X => x::build(ctx),
            NetworkKind::Facebook => facebook::build(ctx),
            NetworkKind::Mastodon => mastodon::build(ctx),
            NetworkKind::Bluesky => bluesky::build(ctx),
            NetworkKind::Line => line::build(ctx),
            NetworkKind::Webhook => webhook::build(ctx),
            NetworkKind::Outbox => Err(BuildError::Outbox { place: ctx.field() }),
        }
    }

    pub fn get(&self, account: &str, network: &str) -> Option<Arc<dyn Network>> {
        self.adapters
            .get(&(account.to_string(), network.to_string()))
            .cloned()
    }
}

/// What an adapter is built from: its configuration, the server's secrets, and where to
/// read images.
pub struct AdapterContext<'a> {
    pub account: &'a str,
    pub net: &'a NetworkConfig,
    pub secrets: &'a Secrets,
    pub media: Arc<dyn MediaSource>,
    /// The address the world reaches this service at (`serve --public-url`), for networks
    /// that fetch images by URL instead of taking an upload (LINE). Images are served at
    /// `<public_url>/media/<blob>`.
    pub public_url: Option<String>,
}

impl AdapterContext<'_> {
    /// The network's credential, granted for the address the adapter will send to:
    /// `base_url` when the configuration redirects the network, else `default`. Refused,
    /// with a message for the operator, when the server has not declared the credential
    /// for this network type or does not allow that address's host for it.
    pub fn grant(&self, default: Endpoint) -> Result<Grant<'_>, BuildError> {
        let place = self.field();
        let name = self.net.credentials.as_deref().unwrap_or_default();
        let credential = Credential::declared(self.secrets, name, self.net.kind())
            .map_err(|e| BuildError::credential(&place, e))?;
        let endpoint = match (&self.net.base_url, default) {
            (Some(base), _) => base.clone(),
            (None, Endpoint::Url(url)) => url.to_string(),
            (None, Endpoint::Field(field)) => credential
                .field(field)
                .ok_or_else(|| BuildError::credential(&place, credential.missing(field)))?,
        };
        credential
            .check_target(&endpoint)
            .map_err(|e| BuildError::credential(&place, e))?;
        Ok(Grant {
            credential,
            endpoint,
            place,
        })
    }

    /// An adapter handed another type's settings: a wiring mistake here, not in the file.
    pub fn wrong_settings(&self) -> BuildError {
        BuildError::WrongSettings {
            place: self.field(),
            kind: self.net.kind(),
        }
    }

    /// A secret that is set but cannot be used as it is.
    pub fn bad_secret(&self, problem: String) -> BuildError {
        BuildError::Secret {
            place: self.field(),
            problem,
        }
    }

    /// `accounts.<account>.networks.<network>`, for messages.
    pub fn field(&self) -> String {
        format!("accounts.{}.networks.{}", self.account, self.net.name)
    }
}

/// Outbox files by path, shared across configuration reloads so that one file always has
/// one writer that knows which keys it holds.
pub struct Outboxes {
    dir: PathBuf,
    files: Mutex<HashMap<PathBuf, Arc<OutboxFile>>>,
}

impl Outboxes {
    pub fn new(data_dir: &Path) -> Outboxes {
        Outboxes {
            dir: data_dir.join("outbox"),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// `<data>/outbox/<account>/<network>.jsonl`; names are validated by the config.
    pub fn path(&self, account: &str, network: &str) -> PathBuf {
        self.dir.join(account).join(format!("{network}.jsonl"))
    }

    pub fn file(&self, account: &str, network: &str) -> Arc<OutboxFile> {
        let path = self.path(account, network);
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files
            .entry(path.clone())
            .or_insert_with(|| Arc::new(OutboxFile::new(path)))
            .clone()
    }
}
