//! The listing of every post as last read (`listing`), kept between requests so that the
//! API and the metrics do not decode every record of a large store each time (10,000 posts
//! take about 100 ms to read).
//!
//! Every write transaction that changes a post or a delivery also increments a counter in
//! the database (`store::WRITE_SEQ`), in any process. The list remembers the counter value
//! it is exact for. When this process writes, it names the post it changed and the counter
//! value its transaction started from: if the list was exact at that value, only that post
//! is read again on the next request. Any other difference (another process's write, such
//! as `oshirase resolve`, or two writes reported out of order) is a full read. So the list
//! a request gets is always the one a fresh read at that moment would give.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::records::PostView;
use crate::store::listing::{Listing, Names};

struct Cached {
    /// The write counter the list (with `pending` read again) is exact for.
    seq: u64,
    /// In id order, as `Store::posts` reads them.
    posts: Arc<Vec<Listing>>,
    names: Names,
    /// Posts this process changed since the list was last brought up to date.
    pending: BTreeSet<String>,
}

#[derive(Default)]
pub(crate) struct ViewCache(Mutex<Option<Cached>>);

/// The cache, locked: requests wait for one read instead of each doing their own.
pub(crate) struct Locked<'a>(MutexGuard<'a, Option<Cached>>);

impl ViewCache {
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked(self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// This process committed a write to `ids` that moved the counter from `before` to
    /// `before + 1`.
    pub(crate) fn wrote<'a>(&self, ids: impl IntoIterator<Item = &'a str>, before: u64) {
        let mut guard = self.lock();
        let Some(c) = guard.0.as_mut() else {
            return;
        };
        if c.seq == before {
            c.seq = before + 1;
            c.pending.extend(ids.into_iter().map(str::to_string));
        }
        // c.seq > before: the list was read after this write and has it already.
        // c.seq < before: a write it has not seen came in between; the counter will not
        // match on the next request, which reads everything.
    }
}

impl Locked<'_> {
    /// The posts to read again when the list is usable at counter `seq`, `None` when the
    /// whole list must be read.
    pub(crate) fn stale_posts(&mut self, seq: u64) -> Option<Vec<String>> {
        let c = self.0.as_mut().filter(|c| c.seq == seq)?;
        Some(std::mem::take(&mut c.pending).into_iter().collect())
    }

    /// Puts a post read again in its place (`None`: it is gone).
    pub(crate) fn put(&mut self, id: &str, view: Option<PostView>) {
        let Some(c) = self.0.as_mut() else {
            return;
        };
        // Copies the list only if a request still holds the old one.
        let view = view.map(|v| Listing::of(&v, &mut c.names));
        let posts = Arc::make_mut(&mut c.posts);
        match (posts.binary_search_by(|v| v.id.as_ref().cmp(id)), view) {
            (Ok(i), Some(v)) => posts[i] = v,
            (Ok(i), None) => {
                posts.remove(i);
            }
            (Err(i), Some(v)) => posts.insert(i, v),
            (Err(_), None) => {}
        }
    }

    pub(crate) fn replace(&mut self, seq: u64, posts: Vec<PostView>) {
        let mut names = Names::default();
        let posts = posts.iter().map(|v| Listing::of(v, &mut names)).collect();
        *self.0 = Some(Cached {
            seq,
            posts: Arc::new(posts),
            names,
            pending: BTreeSet::new(),
        });
    }

    pub(crate) fn shared(&self) -> Arc<Vec<Listing>> {
        self.0.as_ref().map(|c| c.posts.clone()).unwrap_or_default()
    }
}
