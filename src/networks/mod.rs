//! Network adapters: one file per network type behind the [`Network`] trait.
//!
//! The scheduler only ever talks to this trait. An adapter publishes a delivery, and after a
//! crash settles a delivery that was left `publishing`: did the earlier attempt go through?

pub mod http;
mod outbox;
mod webhook;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{NetworkConfig, NetworkKind, RepoConfig};
use crate::delivery::DeliveryRecord;
use crate::secrets::Secrets;

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

/// The adapters for every (account, network) of the current configuration.
#[derive(Default)]
pub struct Networks {
    adapters: HashMap<(String, String), Arc<dyn Network>>,
}

impl Networks {
    /// Fails with a message naming the network when a configured type cannot be served, so
    /// a sync can refuse the configuration before anything is scheduled against it.
    pub fn check(config: &RepoConfig) -> Result<(), String> {
        for account in config.accounts.values() {
            for net in account.networks.values() {
                if !matches!(net.kind, NetworkKind::Outbox | NetworkKind::Webhook) {
                    return Err(format!(
                        "accounts.{}.networks.{}: this version of oshirase cannot publish to \
                         `{}` yet; run `serve --dry-run` to rehearse with outboxes instead",
                        account.name, net.name, net.kind
                    ));
                }
            }
        }
        Ok(())
    }

    /// Builds every adapter, reading its secrets; a missing secret is an error that names
    /// the variable (never its value).
    pub fn build(
        config: &RepoConfig,
        outboxes: &Outboxes,
        secrets: &Secrets,
    ) -> Result<Networks, String> {
        Self::check(config)?;
        let mut adapters: HashMap<(String, String), Arc<dyn Network>> = HashMap::new();
        for account in config.accounts.values() {
            for net in account.networks.values() {
                let adapter: Arc<dyn Network> = match net.kind {
                    NetworkKind::Webhook => {
                        let url = secret(net, "URL", secrets, &account.name)?;
                        let url = match &net.base_url {
                            // `base_url` redirects the network (tests, gateways).
                            Some(base) => base.clone(),
                            None => url,
                        };
                        Arc::new(webhook::Webhook::new(url))
                    }
                    _ => outboxes.file(&account.name, &net.name),
                };
                adapters.insert((account.name.clone(), net.name.clone()), adapter);
            }
        }
        Ok(Networks { adapters })
    }

    pub fn get(&self, account: &str, network: &str) -> Option<Arc<dyn Network>> {
        self.adapters
            .get(&(account.to_string(), network.to_string()))
            .cloned()
    }
}

/// The secret `<credentials>_<field>` of a network.
fn secret(
    net: &NetworkConfig,
    field: &str,
    secrets: &Secrets,
    account: &str,
) -> Result<String, String> {
    let prefix = net.credentials.as_deref().unwrap_or_default();
    let name = format!("{prefix}_{field}");
    secrets.get(&name).ok_or_else(|| {
        format!(
            "accounts.{account}.networks.{}: the secret {name} is not set in the environment \
             or the --secrets file",
            net.name
        )
    })
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
