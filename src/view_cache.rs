//! The list of every post as last read, kept until the database changes, so that the API
//! and the metrics do not decode every record of a large store on each request.
//!
//! A change is noticed two ways: this process's writes bump a counter after they commit,
//! and another process's writes (`oshirase resolve` beside a running service) change the
//! database file's modification time or length. The file time comes from a coarse kernel
//! clock, so two writes a few milliseconds apart can leave the same time: a list read
//! while the file was that recent is only trusted for [`RECENT`], then read again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::store::{PostView, StoreError};

/// How long a list read just after the file changed is trusted.
const RECENT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    generation: u64,
    modified: Option<SystemTime>,
    len: u64,
}

struct Entry {
    stamp: Stamp,
    /// When to read again even if nothing seems to have changed.
    expires: Option<Instant>,
    posts: Arc<Vec<PostView>>,
}

pub(crate) struct ViewCache {
    file: PathBuf,
    generation: AtomicU64,
    entry: Mutex<Option<Entry>>,
}

impl ViewCache {
    pub(crate) fn new(file: PathBuf) -> ViewCache {
        ViewCache {
            file,
            generation: AtomicU64::new(0),
            entry: Mutex::new(None),
        }
    }

    /// Call after every committed write.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The cached list, or `read()`'s when the database changed. The stamp is taken
    /// before reading, so a write racing the read at worst causes one more read later.
    pub(crate) fn get(
        &self,
        read: impl FnOnce() -> Result<Vec<PostView>, StoreError>,
    ) -> Result<Arc<Vec<PostView>>, StoreError> {
        let now = Instant::now();
        let stamp = self.stamp();
        // Held while reading, so concurrent requests wait for one read instead of each
        // doing their own.
        let mut entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entry.as_ref() {
            if e.stamp == stamp && e.expires.is_none_or(|t| now < t) {
                return Ok(e.posts.clone());
            }
        }
        let posts = Arc::new(read()?);
        let recent = stamp
            .modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < RECENT * 2);
        *entry = Some(Entry {
            stamp,
            expires: recent.then(|| now + RECENT),
            posts: posts.clone(),
        });
        Ok(posts)
    }

    fn stamp(&self) -> Stamp {
        let generation = self.generation.load(Ordering::Acquire);
        let meta = std::fs::metadata(&self.file).ok();
        Stamp {
            generation,
            modified: meta.as_ref().and_then(|m| m.modified().ok()),
            len: meta.map_or(0, |m| m.len()),
        }
    }
}
