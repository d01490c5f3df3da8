//! Notices new commits on a local repository as they happen.
//!
//! `notify` watches the directories git writes refs to; any change there sends one wake-up
//! on a channel (a full channel already holds one, which is all a sync needs). The sync loop
//! also polls slowly, for file systems where notifications do not arrive.

use std::path::Path;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Starts watching `git_dir`; the watcher stops when the returned value is dropped.
pub fn watch_refs(
    git_dir: &Path,
    wake: mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // Reading a ref is an event too (inotify's open and close): every sync and tip
            // check reads HEAD, so counting reads made each sync wake the next, 50 ms apart.
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            // Object writes do not move the branch; ref and packed-refs writes do.
            let relevant = event.paths.iter().any(|p| {
                let p = p.to_string_lossy();
                p.contains("refs") || p.ends_with("HEAD")
            });
            if relevant {
                let _ = wake.try_send(());
            }
        }
    })?;
    // The top level catches `packed-refs` and `HEAD`; `refs/heads` catches branch updates.
    watcher.watch(git_dir, RecursiveMode::NonRecursive)?;
    let heads = git_dir.join("refs").join("heads");
    if heads.is_dir() {
        watcher.watch(&heads, RecursiveMode::Recursive)?;
    }
    Ok(watcher)
}
