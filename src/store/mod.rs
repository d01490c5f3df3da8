//! redb, the single source of truth for state.
//!
//! Every state change is one write transaction that writes the records, keeps the due-time
//! index in step, and appends its audit events; listeners hear of the events only after the
//! commit. The calls block, so async code runs them through `spawn_blocking`.

pub mod listing;
mod view_cache;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};
use tokio::sync::broadcast;

use crate::model::records::{
    DeliveryRecord, Event, NewEvent, PostChange, PostRecord, PostView, State,
};

/// Post id → `PostRecord` (JSON).
const POSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("posts_v1");
/// (post id, network) → `DeliveryRecord` (JSON).
const DELIVERIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("deliveries_v1");
/// (due time in ms, post id, network) for every delivery the scheduler must act on, so the
/// next wake-up is one lookup instead of a scan.
const DUE: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("due_v1");
/// Sequence number → `Event` (JSON); append-only.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events_v1");
/// Post id → its events' sequence numbers.
const POST_EVENTS: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("post_events_v1");
/// File path on the branch → the id of the post it is, so a sync that only looks at changed
/// files knows which post each one is (and a renamed file keeps its post).
const FILES: TableDefinition<&str, &str> = TableDefinition::new("files_v1");
/// Git blob id → MIME type of every image that has gone out (or started to) with a
/// delivery: what `GET /media/<blob>` may serve to networks that fetch images by URL.
/// Rows are never removed, so a published image stays reachable.
const MEDIA: TableDefinition<&str, &str> = TableDefinition::new("media_v1");
/// Sync metadata (`last_sync_commit`, `last_sync_at`, …).
const META: TableDefinition<&str, &str> = TableDefinition::new("meta_v1");
/// [`WRITE_SEQ`] → how many transactions changed a post or delivery, from any process, so
/// that a kept list of posts knows whether it is still exact (see `view_cache`).
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters_v1");
const WRITE_SEQ: &str = "post_writes";

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
    Db(String),
    #[error("a stored record cannot be read ({0}); the database may be from a newer oshirase")]
    Decode(String),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
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

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Decode(e.to_string())
    }
}

pub struct Store {
    db: Database,
    events: broadcast::Sender<Event>,
    /// Held by `serve` for as long as the store is open: one service per data directory.
    _serve_lock: Option<std::fs::File>,
    /// Every post as last read, for the API and the metrics.
    views: crate::store::view_cache::ViewCache,
}

/// What a backup copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    pub posts: usize,
    pub deliveries: usize,
    pub events: usize,
    /// Index and metadata rows.
    pub other_rows: usize,
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

    /// Writes a consistent copy of the whole database to `dest` (a new file), from one read
    /// transaction, so it can run while the service writes. Restoring is putting the copy
    /// back as `<data>/oshirase.redb` while no service runs.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        if dest.exists() {
            return Err(StoreError::Open {
                path: dest.to_path_buf(),
                message: "the backup file exists already; choose a new name".into(),
            });
        }
        let open_err = |e: redb::DatabaseError| StoreError::Open {
            path: dest.to_path_buf(),
            message: e.to_string(),
        };
        let copy = Database::create(dest).map_err(open_err)?;
        let read = self.db.begin_read()?;
        let write = copy.begin_write()?;
        let mut report = BackupReport::default();
        {
            macro_rules! copy_table {
                ($def:expr, $count:expr) => {{
                    let from = read.open_table($def)?;
                    let mut to = write.open_table($def)?;
                    for row in from.iter()? {
                        let (k, v) = row?;
                        to.insert(k.value(), v.value())?;
                        $count += 1;
                    }
                }};
            }
            let mut rows = 0usize;
            copy_table!(POSTS, report.posts);
            copy_table!(DELIVERIES, report.deliveries);
            copy_table!(DUE, rows);
            copy_table!(EVENTS, report.events);
            copy_table!(FILES, rows);
            copy_table!(MEDIA, rows);
            copy_table!(META, rows);
            copy_table!(COUNTERS, rows);
            let from = read.open_multimap_table(POST_EVENTS)?;
            let mut to = write.open_multimap_table(POST_EVENTS)?;
            for row in from.iter()? {
                let (k, values) = row?;
                for v in values {
                    to.insert(k.value(), v?.value())?;
                    rows += 1;
                }
            }
            report.other_rows = rows;
        }
        write.commit()?;
        Ok(report)
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

    // ---- reads ------------------------------------------------------------------------

    pub fn post(&self, id: &str) -> Result<Option<PostView>, StoreError> {
        self.snapshot()?.post(id)
    }

    /// The store as committed now, for many lookups in a row: each read transaction takes
    /// a file lock (several processes may use the store), which a sync of thousands of
    /// posts should not pay twice a post.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
        })
    }

    /// Every post with its deliveries, in id order.
    pub fn posts(&self) -> Result<Vec<PostView>, StoreError> {
        posts_in(&self.db.begin_read()?)
    }

    /// The listing of every post (`listing`), in id order, shared and kept between calls:
    /// only what changed since the last call is read (see `view_cache`).
    pub fn listings(
        &self,
    ) -> Result<std::sync::Arc<Vec<crate::store::listing::Listing>>, StoreError> {
        let mut cache = self.views.lock();
        let txn = self.db.begin_read()?;
        let seq = txn
            .open_table(COUNTERS)?
            .get(WRITE_SEQ)?
            .map_or(0, |v| v.value());
        match cache.stale_posts(seq) {
            Some(ids) => {
                if !ids.is_empty() {
                    let posts = txn.open_table(POSTS)?;
                    let deliveries = txn.open_table(DELIVERIES)?;
                    for id in ids {
                        let view = match posts.get(id.as_str())? {
                            Some(v) => Some(PostView {
                                post: serde_json::from_slice(v.value())?,
                                deliveries: read_deliveries(&deliveries, &id)?,
                            }),
                            None => None,
                        };
                        cache.put(&id, view);
                    }
                }
            }
            None => {
                let posts = posts_in(&txn)?;
                let many = posts.len() >= crate::support::memory::RELEASE_AFTER_PARSED;
                cache.replace(seq, posts);
                // Every post was read whole to make the listings; give that back.
                if many {
                    crate::support::memory::release_after_settling();
                }
            }
        }
        Ok(cache.shared())
    }

    pub fn delivery(
        &self,
        post_id: &str,
        network: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let value = table.get((post_id, network))?;
        Ok(match value {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Deliveries in one state (a scan; used at start-up and by `status`).
    pub fn deliveries_in(&self, state: State) -> Result<Vec<DeliveryRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            let d: DeliveryRecord = serde_json::from_slice(v.value())?;
            if d.state == state {
                out.push(d);
            }
        }
        Ok(out)
    }

    pub fn events_for(&self, post_id: &str) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_multimap_table(POST_EVENTS)?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for seq in index.get(post_id)? {
            if let Some(v) = events.get(seq?.value())? {
                out.push(serde_json::from_slice(v.value())?);
            }
        }
        Ok(out)
    }

    /// Up to `limit` events with a sequence number above `after`, oldest first.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in events.range(after.saturating_add(1)..)?.take(limit) {
            out.push(serde_json::from_slice(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The sequence number of the newest event (0 before the first).
    pub fn last_event_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let last = events.last()?.map_or(0, |(k, _)| k.value());
        Ok(last)
    }

    /// All events, oldest first (the export of the audit log).
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in events.iter()? {
            out.push(serde_json::from_slice(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The id of the post that the file at `path` is, if it is one.
    pub fn file_owner(&self, path: &str) -> Result<Option<String>, StoreError> {
        self.snapshot()?.file_owner(path)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(META)?;
        Ok(table.get(key)?.map(|v| v.value().to_string()))
    }

    /// The earliest time the scheduler has something to do.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(DUE)?;
        let first = due.first()?.map(|(k, _)| from_millis(k.value().0));
        Ok(first)
    }

    /// Deliveries due at or before `now`, earliest first.
    pub fn due(&self, now: DateTime<Utc>) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(DUE)?;
        let mut out = Vec::new();
        for entry in
            due.range::<(i64, &str, &str)>(..=(now.timestamp_millis(), "\u{10ffff}", ""))?
        {
            let (k, _) = entry?;
            let (at, post, network) = k.value();
            if at > now.timestamp_millis() {
                break;
            }
            out.push((post.to_string(), network.to_string()));
        }
        Ok(out)
    }

    // ---- writes -----------------------------------------------------------------------

    /// Plans and writes one post in one transaction. `plan` sees the post as committed now
    /// (not as it was when the caller last looked, since the scheduler may have moved a
    /// delivery since) and returns what to write, or `None` when nothing changes.
    pub fn apply_post<F>(&self, id: &str, plan: F) -> Result<Vec<Event>, StoreError>
    where
        F: FnOnce(Option<&PostView>) -> Option<PostChange>,
    {
        let txn = self.db.begin_write()?;
        let events = apply_post_in(&txn, id, plan)?;
        if events.is_none() {
            txn.abort()?;
            return Ok(Vec::new());
        }
        let (events, changed) = events.unwrap_or_default();
        let before = bump_write_seq(&txn)?;
        txn.commit()?;
        self.views.wrote(changed.iter().map(String::as_str), before);
        self.announce(&events);
        Ok(events)
    }

    /// A batch of [`Store::apply_post`]s sharing write transactions, for a sync that
    /// writes thousands of posts: one commit (and fsync) per [`POST_BATCH`] posts instead
    /// of one per post. Nothing is visible to readers until the batch commits.
    pub fn post_batch(&self) -> PostBatch<'_> {
        PostBatch {
            store: self,
            txn: None,
            events: Vec::new(),
            changed: Vec::new(),
            applied: 0,
        }
    }

    /// Changes one delivery inside one transaction. `change` sees the committed record and
    /// returns the events describing what it changed, or `None` to leave it untouched; this
    /// is how the scheduler records intent before a request and the outcome after it.
    pub fn update_delivery<F>(
        &self,
        post_id: &str,
        network: &str,
        change: F,
    ) -> Result<Option<(DeliveryRecord, Vec<Event>)>, StoreError>
    where
        F: FnOnce(&mut DeliveryRecord) -> Option<Vec<NewEvent>>,
    {
        let txn = self.db.begin_write()?;
        let current: Option<DeliveryRecord> = {
            let table = txn.open_table(DELIVERIES)?;
            let value = table.get((post_id, network))?;
            match value {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            }
        };
        let Some(mut record) = current else {
            txn.abort()?;
            return Ok(None);
        };
        let Some(events) = change(&mut record) else {
            txn.abort()?;
            return Ok(None);
        };
        put_delivery(&txn, &record)?;
        note_media(&txn, &record)?;
        let events = append_events(&txn, events)?;
        let before = bump_write_seq(&txn)?;
        txn.commit()?;
        self.views.wrote([post_id], before);
        self.announce(&events);
        Ok(Some((record, events)))
    }

    /// [`Store::update_delivery`] for many deliveries in one transaction: the scheduler
    /// commits the intent for a whole burst of due deliveries at once, so the last of them
    /// is not kept waiting behind hundreds of commits. Returns the deliveries `change`
    /// changed, in order.
    pub fn update_deliveries<F>(
        &self,
        keys: &[(String, String)],
        mut change: F,
    ) -> Result<Vec<DeliveryRecord>, StoreError>
    where
        F: FnMut(&mut DeliveryRecord) -> Option<Vec<NewEvent>>,
    {
        let txn = self.db.begin_write()?;
        let mut changed = Vec::new();
        let mut all_events = Vec::new();
        for (post_id, network) in keys {
            let current: Option<DeliveryRecord> = {
                let table = txn.open_table(DELIVERIES)?;
                let value = table.get((post_id.as_str(), network.as_str()))?;
                match value {
                    Some(v) => Some(serde_json::from_slice(v.value())?),
                    None => None,
                }
            };
            let Some(mut record) = current else { continue };
            let Some(events) = change(&mut record) else {
                continue;
            };
            put_delivery(&txn, &record)?;
            note_media(&txn, &record)?;
            all_events.extend(events);
            changed.push(record);
        }
        if changed.is_empty() {
            txn.abort()?;
            return Ok(changed);
        }
        let events = append_events(&txn, all_events)?;
        let before = bump_write_seq(&txn)?;
        txn.commit()?;
        self.views
            .wrote(changed.iter().map(|d| d.post_id.as_str()), before);
        self.announce(&events);
        Ok(changed)
    }

    /// The MIME type of an image that went out with a delivery, `None` for any other blob.
    pub fn published_media(&self, blob: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEDIA)?;
        Ok(table.get(blob)?.map(|v| v.value().to_string()))
    }

    pub fn set_meta(&self, pairs: &[(&str, &str)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(META)?;
            for (k, v) in pairs {
                table.insert(*k, *v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn announce(&self, events: &[Event]) {
        for e in events {
            // No listener is fine: the events are in the database either way.
            let _ = self.events.send(e.clone());
        }
    }
}

/// See [`Store::snapshot`]; it sees nothing committed after it was taken.
pub struct Snapshot {
    txn: redb::ReadTransaction,
}

impl Snapshot {
    /// A post with its deliveries, as [`Store::post`].
    pub fn post(&self, id: &str) -> Result<Option<PostView>, StoreError> {
        let posts = self.txn.open_table(POSTS)?;
        let Some(value) = posts.get(id)? else {
            return Ok(None);
        };
        let post: PostRecord = serde_json::from_slice(value.value())?;
        let deliveries = read_deliveries(&self.txn.open_table(DELIVERIES)?, id)?;
        Ok(Some(PostView { post, deliveries }))
    }

    /// Many posts by id, in the order asked (missing ones left out), opening each table
    /// once: a page of the dashboard's lists.
    pub fn posts_by_id<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<PostView>, StoreError> {
        let posts = self.txn.open_table(POSTS)?;
        let deliveries = self.txn.open_table(DELIVERIES)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(value) = posts.get(id)? {
                out.push(PostView {
                    post: serde_json::from_slice(value.value())?,
                    deliveries: read_deliveries(&deliveries, id)?,
                });
            }
        }
        Ok(out)
    }

    /// The post a file is, as [`Store::file_owner`].
    pub fn file_owner(&self, path: &str) -> Result<Option<String>, StoreError> {
        let table = self.txn.open_table(FILES)?;
        Ok(table.get(path)?.map(|v| v.value().to_string()))
    }
}

/// A post's title for messages to people (its id when the post cannot be read), looked up
/// off the async runtime.
pub async fn title_of(store: &std::sync::Arc<Store>, id: &str) -> String {
    let (store, lookup) = (store.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.post(&lookup).ok().flatten().map(|v| v.post.title))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| id.to_string())
}

/// Every post with its deliveries in one read transaction, in id order.
fn posts_in(txn: &redb::ReadTransaction) -> Result<Vec<PostView>, StoreError> {
    let posts = txn.open_table(POSTS)?;
    let deliveries = txn.open_table(DELIVERIES)?;
    let mut all_deliveries = deliveries.iter()?.peekable();
    let mut out = Vec::new();
    for entry in posts.iter()? {
        let (key, value) = entry?;
        let post: PostRecord = serde_json::from_slice(value.value())?;
        // Both tables are ordered by post id, so one merge pass pairs them.
        let mut mine = Vec::new();
        while let Some(Ok((k, _))) = all_deliveries.peek() {
            let owner = k.value().0;
            if owner < key.value() {
                all_deliveries.next();
            } else if owner == key.value() {
                if let Some(Ok((_, v))) = all_deliveries.next() {
                    mine.push(serde_json::from_slice(v.value())?);
                }
            } else {
                break;
            }
        }
        out.push(PostView {
            post,
            deliveries: mine,
        });
    }
    Ok(out)
}

fn read_deliveries(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    post_id: &str,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let mut out = Vec::new();
    for entry in table.range::<(&str, &str)>((post_id, "")..)? {
        let (k, v) = entry?;
        if k.value().0 != post_id {
            break;
        }
        out.push(serde_json::from_slice(v.value())?);
    }
    Ok(out)
}

/// Writes a delivery and moves its entry in the due index to match its new state.
/// Posts written per transaction by a [`PostBatch`].
pub const POST_BATCH: usize = 512;

/// See [`Store::post_batch`].
pub struct PostBatch<'a> {
    store: &'a Store,
    txn: Option<WriteTransaction>,
    events: Vec<Event>,
    /// Posts changed in the open transaction, for the post list kept between requests.
    changed: Vec<String>,
    applied: usize,
}

impl PostBatch<'_> {
    /// Plans and writes one post in the batch's transaction; returns how many events it
    /// recorded.
    pub fn apply_post<F>(&mut self, id: &str, plan: F) -> Result<usize, StoreError>
    where
        F: FnOnce(Option<&PostView>) -> Option<PostChange>,
    {
        let txn = match self.txn.take() {
            Some(t) => t,
            None => self.store.db.begin_write()?,
        };
        let (events, changed) = apply_post_in(&txn, id, plan)?.unwrap_or_default();
        let n = events.len();
        self.events.extend(events);
        self.changed.extend(changed);
        self.txn = Some(txn);
        self.applied += 1;
        if self.applied.is_multiple_of(POST_BATCH) {
            self.flush()?;
        }
        Ok(n)
    }

    /// Commits what the batch holds and announces its events.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(txn) = self.txn.take() {
            let before = bump_write_seq(&txn)?;
            txn.commit()?;
            let changed = std::mem::take(&mut self.changed);
            self.store
                .views
                .wrote(changed.iter().map(String::as_str), before);
            let events = std::mem::take(&mut self.events);
            self.store.announce(&events);
        }
        Ok(())
    }
}

/// What one planned post wrote: its events, and the ids of the posts it changed.
type Applied = (Vec<Event>, Vec<String>);

/// The body of [`Store::apply_post`] inside `txn`: `None` when the plan changes nothing.
fn apply_post_in<F>(
    txn: &WriteTransaction,
    id: &str,
    plan: F,
) -> Result<Option<Applied>, StoreError>
where
    F: FnOnce(Option<&PostView>) -> Option<PostChange>,
{
    let current = {
        let posts = txn.open_table(POSTS)?;
        let value = posts.get(id)?;
        match value {
            Some(v) => {
                let post: PostRecord = serde_json::from_slice(v.value())?;
                let deliveries = read_deliveries(&txn.open_table(DELIVERIES)?, id)?;
                Some(PostView { post, deliveries })
            }
            None => None,
        }
    };
    let Some(change) = plan(current.as_ref()) else {
        return Ok(None);
    };
    {
        let mut posts = txn.open_table(POSTS)?;
        let post = &change.post;
        posts.insert(post.id.as_str(), serde_json::to_vec(post)?.as_slice())?;
        let mut files = txn.open_table(FILES)?;
        if let Some(old) = &current {
            let moved = old.post.file != post.file || !post.present;
            let owned = files
                .get(old.post.file.as_str())?
                .is_some_and(|v| v.value() == id);
            if moved && owned {
                files.remove(old.post.file.as_str())?;
            }
        }
        if post.present {
            files.insert(post.file.as_str(), id)?;
        }
    }
    for d in &change.deliveries {
        put_delivery(txn, d)?;
    }
    let events = append_events(txn, change.events)?;
    let mut changed = vec![id.to_string(), change.post.id.clone()];
    changed.extend(change.deliveries.iter().map(|d| d.post_id.clone()));
    changed.dedup();
    Ok(Some((events, changed)))
}

/// From the moment a delivery starts publishing, a network may fetch its images by URL.
fn note_media(txn: &WriteTransaction, d: &DeliveryRecord) -> Result<(), StoreError> {
    if d.state != State::Publishing {
        return Ok(());
    }
    let mut media = txn.open_table(MEDIA)?;
    for image in &d.images {
        if let Some(blob) = &image.blob {
            media.insert(blob.as_str(), image.mime.as_str())?;
        }
    }
    Ok(())
}

fn put_delivery(txn: &WriteTransaction, d: &DeliveryRecord) -> Result<(), StoreError> {
    let mut deliveries = txn.open_table(DELIVERIES)?;
    let mut due = txn.open_table(DUE)?;
    let key = (d.post_id.as_str(), d.network.as_str());
    let old: Option<DeliveryRecord> = match deliveries.get(key)? {
        Some(v) => Some(serde_json::from_slice(v.value())?),
        None => None,
    };
    if let Some(old) = old.filter(DeliveryRecord::is_due) {
        due.remove((old.due_at.timestamp_millis(), key.0, key.1))?;
    }
    if d.is_due() {
        due.insert((d.due_at.timestamp_millis(), key.0, key.1), ())?;
    }
    deliveries.insert(key, serde_json::to_vec(d)?.as_slice())?;
    Ok(())
}

/// Counts a transaction that changes posts or deliveries; returns the count before it.
fn bump_write_seq(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut counters = txn.open_table(COUNTERS)?;
    let before = counters.get(WRITE_SEQ)?.map_or(0, |v| v.value());
    counters.insert(WRITE_SEQ, before + 1)?;
    Ok(before)
}

fn append_events(txn: &WriteTransaction, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
    let mut table = txn.open_table(EVENTS)?;
    let mut index = txn.open_multimap_table(POST_EVENTS)?;
    let first = match table.last()? {
        Some((k, _)) => k.value() + 1,
        None => 1,
    };
    let now = Utc::now();
    let mut out = Vec::with_capacity(events.len());
    for (seq, e) in (first..).zip(events) {
        let event = Event {
            seq,
            at: now,
            post_id: e.post_id,
            kind: e.kind,
            network: e.network,
            detail: e.detail,
            actor: e.actor,
            facts: e.facts,
        };
        table.insert(seq, serde_json::to_vec(&event)?.as_slice())?;
        index.insert(event.post_id.as_str(), seq)?;
        out.push(event);
    }
    Ok(out)
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
