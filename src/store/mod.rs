//! redb, the single source of truth for state.
//!
//! Every state change is one write transaction that writes the records, keeps the due-time
//! index in step, and appends its audit events; listeners hear of the events only after the
//! commit. The calls block, so async code runs them through [`blocking`].
//! May use: `support`, `content`, `model` (never a network or the web).

mod backup;
pub mod listing;
mod reads;
mod tables;
mod view_cache;
mod writes;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use redb::Database;
use tokio::sync::broadcast;

pub use self::backup::BackupReport;
pub use self::reads::Snapshot;
use self::tables::*;
pub use self::writes::{PostBatch, POST_BATCH};
use crate::model::records::Event;

pub const DB_FILE: &str = "oshirase.redb";

/// The database's page cache.
const STORE_CACHE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data directory {0} is in use by another oshirase process; stop it first or \
         give this one its own --data directory"
    )]
    AlreadyOpen(PathBuf),
    #[error(
        "the database {0} was written by an older format of redb and must be upgraded; \
         nothing was changed"
    )]
    UpgradeRequired(PathBuf),
    #[error("cannot open the database {path}: {message}; nothing was changed")]
    Open { path: PathBuf, message: String },
    #[error(
        "the database {0} is missing, but its data directory was used by an earlier run \
         (serve.lock is there): starting from an empty database could publish again what \
         already went out. Restore the database from a backup (see `oshirase backup`), or, \
         to start afresh on purpose, remove the whole data directory"
    )]
    Missing(PathBuf),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    #[error("a stored record cannot be read ({0}); the database may be from a newer oshirase")]
    Decode(#[from] serde_json::Error),
    /// The thread a store call ran on stopped before it answered.
    #[error("a store call stopped before it finished: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
db_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub struct Store {
    db: Database,
    events: broadcast::Sender<Event>,
    /// Held by `serve` for as long as the store is open: one service per data directory.
    _serve_lock: Option<std::fs::File>,
    /// Every post as last read, for the API and the metrics.
    views: crate::store::view_cache::ViewCache,
}

/// The file `serve` locks so that only one service uses a data directory.
pub const SERVE_LOCK: &str = "serve.lock";

/// Sync metadata keys.
pub mod meta {
    pub const LAST_SYNC_COMMIT: &str = "last_sync_commit";
    pub const LAST_SYNC_AT: &str = "last_sync_at";
    pub const CONFIG_HASH: &str = "config_hash";
    /// What the dashboard shows of `oshirase.yaml` as last synced (`info::RepoInfo`, JSON).
    pub const REPO_INFO: &str = "repo_info";
    /// The commit that landed the `oshirase.yaml` in force, and its text (see
    /// `config_approval`): a change on the branch replaces them only once approved.
    pub const CONFIG_IN_FORCE_COMMIT: &str = "config_in_force_commit";
    pub const CONFIG_IN_FORCE_TEXT: &str = "config_in_force_text";
    /// A `config_approval::HeldConfig` as JSON, or empty when nothing is held.
    pub const CONFIG_HELD: &str = "config_held";
    /// The Markdown files that are not posts but look meant to be, as JSON problems.
    pub const NOT_POSTS: &str = "not_posts";
    /// The sequence number of the last event the alerts have dealt with (sent, or not one
    /// to alert on); empty when no alert is configured.
    pub const ALERTS_SENT_THROUGH: &str = "alerts_sent_through";
    /// `set_aside:<branch>` → the commit a proposal branch was sent back or withdrawn at.
    pub const SET_ASIDE_PREFIX: &str = "set_aside:";
    /// `proposal_announced:<branch>` → the commit its `proposal-waiting` was recorded at.
    pub const ANNOUNCED_PREFIX: &str = "proposal_announced:";
    /// Set once the sync loop has first looked at the proposal branches (see
    /// `sync::waiting`).
    pub const PROPOSALS_WATCHED: &str = "proposals_watched";
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`. Fails clearly, never panics,
    /// when another process holds it or the file is damaged.
    /// Opens the store as the one service of this data directory: a second `serve` on the
    /// same directory is refused, while operator commands (`status`, `resolve`) may still
    /// open it beside the service ([`Store::open_beside_service`]).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let lock_path = data_dir.join(SERVE_LOCK);
        // serve.lock outlives every run; with it there and the database gone, the database
        // was lost, and a new empty one would know nothing of what went out.
        let used_before = lock_path.exists();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::DataDir {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::AlreadyOpen(data_dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::DataDir {
                    path: lock_path,
                    source,
                })
            }
        }
        let db_path = data_dir.join(DB_FILE);
        if used_before && !db_path.exists() {
            return Err(StoreError::Missing(db_path));
        }
        let mut store = Store::open_db(data_dir)?;
        store._serve_lock = Some(lock);
        Ok(store)
    }

    /// Opens the store of a data directory that a service may be using at the same time.
    pub fn open_beside_service(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_db(data_dir)
    }

    fn open_db(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        // Several processes may write (the service, and an operator's `resolve`); redb
        // lets one write transaction run at a time across them.
        let db = Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            // redb caches up to 1 GiB by default, which an idle service would keep holding
            // after its first sync; the API reads the post list kept in memory instead.
            .set_cache_size(STORE_CACHE_BYTES)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::AlreadyOpen(data_dir.to_path_buf())
                }
                redb::DatabaseError::UpgradeRequired(_) => {
                    StoreError::UpgradeRequired(path.clone())
                }
                other => StoreError::Open {
                    path: path.clone(),
                    message: other.to_string(),
                },
            })?;
        // Create every table up front so readers never meet a missing one.
        let txn = db.begin_write()?;
        txn.open_table(POSTS)?;
        txn.open_table(DELIVERIES)?;
        txn.open_table(DUE)?;
        txn.open_table(URGENT)?;
        txn.open_table(EVENTS)?;
        txn.open_multimap_table(POST_EVENTS)?;
        txn.open_table(META)?;
        txn.open_table(FILES)?;
        txn.open_table(MEDIA)?;
        txn.open_table(COUNTERS)?;
        txn.commit()?;
        let (events, _) = broadcast::channel(1024);
        Ok(Store {
            db,
            events,
            _serve_lock: None,
            views: crate::store::view_cache::ViewCache::default(),
        })
    }

    /// Events as they are committed (for the live dashboard and the demo's printout).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// A post's title for messages to people (its id when the post cannot be read), looked up
/// off the async runtime.
pub async fn title_of(store: &Arc<Store>, id: &str) -> String {
    let (store, lookup) = (store.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.post(&lookup).ok().flatten().map(|v| v.post.title))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| id.to_string())
}

/// Runs a store call off the async runtime: redb calls block.
pub async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || call(&store)).await?
}
