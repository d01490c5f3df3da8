//! Writes: every state change is one write transaction that writes the records, keeps the
//! due index in step and appends the audit events; listeners hear of the events only after
//! the commit.

use chrono::Utc;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::reads::read_deliveries;
use super::tables::*;
use super::{Store, StoreError};
use crate::model::records::{
    DeliveryRecord, Event, NewEvent, PostChange, PostRecord, PostView, State,
};

impl Store {
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

    /// Records what a person did outside any post's plan (a proposal approved or sent
    /// back, a person's account changed): the audit events and the meta entries that go
    /// with them, in one transaction.
    pub fn record(
        &self,
        events: Vec<NewEvent>,
        meta: &[(&str, &str)],
    ) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_write()?;
        let events = append_events(&txn, events)?;
        {
            let mut table = txn.open_table(META)?;
            for (k, v) in meta {
                table.insert(*k, *v)?;
            }
        }
        txn.commit()?;
        self.announce(&events);
        Ok(events)
    }

    fn announce(&self, events: &[Event]) {
        for e in events {
            // No listener is fine: the events are in the database either way.
            let _ = self.events.send(e.clone());
        }
    }
}

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
    let mut urgent = txn.open_table(URGENT)?;
    let key = (d.post_id.as_str(), d.network.as_str());
    let old: Option<DeliveryRecord> = match deliveries.get(key)? {
        Some(v) => Some(serde_json::from_slice(v.value())?),
        None => None,
    };
    if let Some(old) = old.filter(DeliveryRecord::is_due) {
        let row = (old.due_at.timestamp_millis(), key.0, key.1);
        due.remove(row)?;
        if old.emergency {
            urgent.remove(row)?;
        }
    }
    if d.is_due() {
        let row = (d.due_at.timestamp_millis(), key.0, key.1);
        due.insert(row, ())?;
        if d.emergency {
            urgent.insert(row, ())?;
        }
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
            notify: e.notify,
        };
        table.insert(seq, serde_json::to_vec(&event)?.as_slice())?;
        index.insert(event.post_id.as_str(), seq)?;
        out.push(event);
    }
    Ok(out)
}
