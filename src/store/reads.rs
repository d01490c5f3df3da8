//! Reads: one read transaction each, or several under one [`Snapshot`].

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use redb::{ReadableDatabase, ReadableTable};

use super::tables::*;
use super::{Store, StoreError};
use crate::model::records::{DeliveryRecord, Event, PostRecord, PostView, State};

impl Store {
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

    /// Every meta entry whose key starts with `prefix`, in key order.
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(META)?;
        let mut out = Vec::new();
        for entry in table.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    /// The earliest time the scheduler has something to do.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(DUE)?;
        let first = due.first()?.map(|(k, _)| from_millis(k.value().0));
        Ok(first)
    }

    /// Deliveries due at or before `now`: emergency posts' first, then the others, each
    /// earliest first.
    pub fn due(&self, now: DateTime<Utc>) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db.begin_read()?;
        let urgent = txn.open_table(URGENT)?;
        let mut out = due_rows(&urgent, now)?;
        let due = txn.open_table(DUE)?;
        if out.is_empty() {
            return due_rows(&due, now);
        }
        let first: HashSet<(String, String)> = out.iter().cloned().collect();
        out.extend(
            due_rows(&due, now)?
                .into_iter()
                .filter(|row| !first.contains(row)),
        );
        Ok(out)
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

/// Every post with its deliveries in one read transaction, in id order.
pub(super) fn posts_in(txn: &redb::ReadTransaction) -> Result<Vec<PostView>, StoreError> {
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

pub(super) fn read_deliveries(
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

pub(super) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The (post, network) rows of a due-time index due at or before `now`, earliest first.
fn due_rows(
    table: &redb::ReadOnlyTable<(i64, &str, &str), ()>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    let last = (now.timestamp_millis(), "\u{10ffff}", "");
    for entry in table.range::<(i64, &str, &str)>(..=last)? {
        let (k, _) = entry?;
        let (at, post, network) = k.value();
        if at > now.timestamp_millis() {
            break;
        }
        out.push((post.to_string(), network.to_string()));
    }
    Ok(out)
}
