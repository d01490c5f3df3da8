//! The sync loop of `serve`: it fetches a remote, watches a local repository, syncs each
//! new tip and hands the scheduler the plan of the configuration in force, retrying with
//! backoff and reporting every failure on `/healthz`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use crate::cli::serve::{plan_for, ServeSettings};
use crate::content::brief;
use crate::delivery::scheduler::SchedulerHandle;
use crate::git::fetch::{FetchError, Mirror};
use crate::git::repo::Repo;
use crate::networks::Outboxes;
use crate::store::Store;
use crate::support::backoff::Backoff;
use crate::support::failure_log::{FailureLog, Note};
use crate::sync::{self, SyncError, SyncOptions, SyncReport};
use crate::web::health::Health;

/// A fetch running on a blocking thread. It is waited for with a limit, and one still
/// running is waited for again rather than started twice, so a hanging remote never holds
/// more than one thread.
pub(super) struct InFlightFetch {
    handle: tokio::task::JoinHandle<Result<(), FetchError>>,
    started: Instant,
}

impl InFlightFetch {
    pub(super) fn start(mirror: Arc<Mirror>) -> InFlightFetch {
        InFlightFetch {
            handle: tokio::task::spawn_blocking(move || mirror.fetch()),
            started: Instant::now(),
        }
    }

    /// Its outcome, waiting at most `wait`; `None` while it still runs.
    pub(super) async fn wait(&mut self, wait: Duration) -> Option<Result<(), FetchError>> {
        match tokio::time::timeout(wait, &mut self.handle).await {
            Err(_) => None,
            Ok(Ok(result)) => Some(result),
            Ok(Err(e)) => Some(Err(FetchError::Mirror {
                path: PathBuf::new(),
                message: format!("the fetch stopped: {e}"),
            })),
        }
    }
}

/// Syncs, and counts how long it took and whether it failed for the metrics.
pub(super) async fn timed_sync(
    store: &Arc<Store>,
    settings: &ServeSettings,
    health: &RwLock<Health>,
) -> Result<SyncReport, SyncError> {
    let started = std::time::Instant::now();
    let result = run_sync(store, settings).await;
    health
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .sync_stats
        .record(started.elapsed(), result.is_ok());
    result
}

async fn run_sync(store: &Arc<Store>, settings: &ServeSettings) -> Result<SyncReport, SyncError> {
    let store = store.clone();
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let result = sync::sync(
            &store,
            &SyncOptions {
                repo_path: &settings.repo,
                branch: &settings.branch,
                content_dir: &settings.content_dir,
                dry_run: settings.dry_run,
            },
        );
        if result
            .as_ref()
            .is_ok_and(|r| r.parsed >= crate::support::memory::RELEASE_AFTER_PARSED)
        {
            crate::support::memory::release_after_settling();
        }
        result
    })
    .await
    .map_err(SyncError::Interrupted)?
}

pub(super) fn set_health(
    health: &RwLock<Health>,
    report: Option<&SyncReport>,
    error: Option<String>,
) {
    let mut h = health.write().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = report {
        h.last_sync_commit = Some(r.commit.clone());
        h.last_sync_at = Some(Utc::now());
        h.config_commit = Some(r.config_commit.clone());
        h.config_held.clone_from(&r.config_held);
        h.sync_problems.clone_from(&r.not_posts);
    }
    h.sync_error = error;
}

/// How long after its own limit a fetch is waited for: a read blocked in libgit2 ends at
/// its socket limit, a little after the fetch's.
const FETCH_GRACE: Duration = Duration::from_secs(1);
/// The first wait after a failed sync; it doubles with each failure in a row.
const SYNC_RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two tries of a sync that keeps failing on the same commit.
const SYNC_RETRY_CAP: Duration = Duration::from_secs(5 * 60);
/// The first wait after a failed fetch; it doubles up to the fetch interval.
const FETCH_RETRY_FIRST: Duration = Duration::from_secs(5);
/// Errors kept for the log and `/healthz` are cut after this many characters.
const MAX_ERROR_CHARS: usize = 2000;
/// A reminder of a failure that goes on repeats this much of its message.
const REMINDER_CHARS: usize = 160;

pub(super) struct SyncLoop {
    pub(super) store: Arc<Store>,
    pub(super) settings: ServeSettings,
    pub(super) health: Arc<RwLock<Health>>,
    pub(super) scheduler: SchedulerHandle,
    pub(super) outboxes: Arc<Outboxes>,
    pub(super) mirror: Option<Arc<Mirror>>,
    pub(super) wake_tx: mpsc::Sender<()>,
    pub(super) wake: mpsc::Receiver<()>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) last_commit: String,
    /// A fetch still running (a first start's, or one past its limit).
    pub(super) fetching: Option<InFlightFetch>,
}

/// What the sync loop remembers from one round to the next.
struct Rounds {
    /// The tip the last sync tried, good or bad (`None`: the tip could not be read).
    tried: Option<String>,
    sync_retry: Backoff,
    sync_log: FailureLog,
    next_fetch: Instant,
    fetch_retry: Backoff,
    fetch_log: FailureLog,
    /// The fingerprint of the branches when proposals were last looked at.
    branch_heads: Option<u64>,
}

impl Rounds {
    /// Carries on from `Service::start`: a failed first sync or fetch counts as the first
    /// failure of its run (it was logged there), so the loop neither repeats its log line
    /// nor retries it at once.
    async fn new(s: &SyncLoop) -> Rounds {
        let now = Instant::now();
        let (sync_error, fetch_error, fetched) = {
            let h = s.health.read().unwrap_or_else(|p| p.into_inner());
            (h.sync_error.clone(), h.fetch_error.clone(), h.last_fetch_at)
        };
        let mut r = Rounds {
            tried: Some(s.last_commit.clone()),
            sync_retry: Backoff::new(SYNC_RETRY_FIRST, SYNC_RETRY_CAP),
            sync_log: FailureLog::new(),
            // A start that synced from the mirror without fetching fetches at once.
            next_fetch: match fetched {
                Some(_) => now + s.settings.fetch_interval,
                None => now,
            },
            fetch_retry: Backoff::new(FETCH_RETRY_FIRST, s.settings.fetch_interval),
            fetch_log: FailureLog::new(),
            branch_heads: None,
        };
        if let Some(e) = sync_error {
            r.tried = current_tip(s).await;
            r.sync_retry.failed(now);
            r.sync_log.failed(&e, Utc::now());
        }
        if let Some(e) = fetch_error {
            r.next_fetch = now + r.fetch_retry.failed(now);
            r.fetch_log.failed(&e, Utc::now());
        }
        r
    }

    /// When the loop next looks without being woken: the slow poll (or the next fetch of
    /// a mirror), or sooner when a failed sync is due to be tried again.
    fn next_look(&self, s: &SyncLoop) -> Instant {
        let poll = match &s.mirror {
            None => Instant::now() + s.settings.poll_interval,
            Some(_) => self.next_fetch,
        };
        self.sync_retry
            .retry_at()
            .map_or(poll, |retry| retry.min(poll))
    }
}

/// Syncs whenever the branch may have moved: on a file-system event in the repository's
/// refs, on request, and on a slow poll. A new tip is synced at once; a sync that failed
/// on a tip that has not moved is tried again after growing waits (see [`Backoff`]).
pub(super) async fn sync_loop(mut s: SyncLoop) {
    let _watcher = watch_repository(&s);
    let mut r = Rounds::new(&s).await;
    // Before anything moves: on a new data directory this first look only takes note of
    // the branches already there.
    look_at_proposals(&s, &mut r).await;
    loop {
        let next_look = r.next_look(&s);
        let woken = tokio::select! {
            _ = s.wake.recv() => {
                // A merge writes several refs in a burst; one sync after it settles is enough.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while s.wake.try_recv().is_ok() {}
                true
            }
            _ = tokio::time::sleep_until(next_look.into()) => false,
            _ = s.shutdown.changed() => false,
        };
        if *s.shutdown.borrow() {
            return;
        }
        let fetch_due = woken || Instant::now() >= r.next_fetch;
        if s.mirror.is_some() && fetch_due && !fetch_round(&mut s, &mut r).await {
            continue;
        }
        let tip = current_tip(&s).await;
        if tip != r.tried || r.sync_retry.is_due(Instant::now()) {
            sync_round(&mut s, &mut r, tip).await;
        }
        look_at_proposals(&s, &mut r).await;
    }
}

/// Announces proposals pushed with git (see `sync::waiting`) when any branch moved.
async fn look_at_proposals(s: &SyncLoop, r: &mut Rounds) {
    let (store, settings, seen) = (s.store.clone(), s.settings.clone(), r.branch_heads);
    let looked = tokio::task::spawn_blocking(move || {
        let repo = git2::Repository::open(&settings.repo)
            .map_err(sync::waiting::WaitingError::Branches)?;
        let heads = sync::waiting::branch_heads(&repo)?;
        if seen == Some(heads) {
            return Ok((heads, 0));
        }
        let told = sync::waiting::announce(&repo, &settings.branch, &settings.content_dir, &store)?;
        Ok::<_, sync::waiting::WaitingError>((heads, told))
    })
    .await;
    match looked {
        Ok(Ok((heads, told))) => {
            r.branch_heads = Some(heads);
            if told > 0 {
                tracing::info!(
                    proposals = told,
                    "proposals pushed with git wait for approval"
                );
            }
        }
        // Tried again at the next look; the sync itself is not affected.
        Ok(Err(e)) => tracing::warn!("looking at the proposal branches: {e}"),
        Err(e) => tracing::warn!("looking at the proposal branches: {e}"),
    }
}

/// Watches a local repository's refs (a mirror only changes when we fetch).
fn watch_repository(s: &SyncLoop) -> Option<notify::RecommendedWatcher> {
    if s.mirror.is_some() {
        return None;
    }
    let dir = match Repo::open(
        &s.settings.repo,
        &s.settings.branch,
        &s.settings.content_dir,
    ) {
        Ok(repo) => repo.git_dir().to_path_buf(),
        Err(e) => {
            tracing::warn!("{e}");
            return None;
        }
    };
    match crate::git::watch::watch_refs(&dir, s.wake_tx.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch {}: {e}; polling every {:?}",
                dir.display(),
                s.settings.poll_interval
            );
            None
        }
    }
}

/// Fetches the mirror; false when that failed or did not end within its limit (the
/// recorded state is kept, and a fetch still running is waited for next time).
async fn fetch_round(s: &mut SyncLoop, r: &mut Rounds) -> bool {
    let Some(mirror) = s.mirror.clone() else {
        return true;
    };
    let mut fetch = s
        .fetching
        .take()
        .unwrap_or_else(|| InFlightFetch::start(mirror.clone()));
    let until = fetch.started + mirror.limit() + FETCH_GRACE;
    let waited = tokio::select! {
        outcome = fetch.wait(until.saturating_duration_since(Instant::now())) => outcome,
        _ = s.shutdown.changed() => return false,
    };
    let fetched = waited.unwrap_or_else(|| {
        let after = Duration::from_secs(fetch.started.elapsed().as_secs());
        s.fetching = Some(fetch);
        Err(FetchError::TimedOut {
            url: mirror.shown_url(),
            after,
            limit: mirror.limit(),
        })
    });
    let now = Instant::now();
    let mut h = s.health.write().unwrap_or_else(|p| p.into_inner());
    match fetched {
        Ok(()) => {
            r.fetch_retry.succeeded();
            r.next_fetch = now + s.settings.fetch_interval;
            log_recovery("fetch", r.fetch_log.succeeded());
            h.fetch_error = None;
            h.last_fetch_at = Some(Utc::now());
            true
        }
        Err(e) => {
            let message = error_text(&e);
            let wait = r.fetch_retry.failed(now);
            r.next_fetch = now + wait;
            let note = r.fetch_log.failed(&message, Utc::now());
            log_failure("fetch", note, &message, wait, "recorded state is kept");
            h.fetch_error = Some(message);
            h.fetch_failures += 1;
            false
        }
    }
}

/// Syncs the branch at `tip` (as last read) and records how that went.
async fn sync_round(s: &mut SyncLoop, r: &mut Rounds, tip: Option<String>) {
    let outcome = match timed_sync(&s.store, &s.settings, &s.health).await {
        Ok(report) => {
            tracing::info!(
                commit = %report.commit, parsed = report.parsed, events = report.events,
                took_ms = report.took.as_millis() as u64, "synced"
            );
            r.tried = Some(report.commit.clone());
            if report.events > 0 {
                super::serve::warm_listings(&s.store);
            }
            match plan_for(
                &report.config,
                &report.config_commit,
                &s.outboxes,
                s.settings.dry_run,
                &s.settings.secrets,
                &s.settings.repo,
                s.settings.public_url.as_deref(),
            ) {
                Ok(plan) => {
                    set_health(&s.health, Some(&report), None);
                    s.scheduler.replace_plan(plan);
                    Ok(())
                }
                Err(e) => {
                    let message = error_text(&e);
                    set_health(&s.health, Some(&report), Some(message.clone()));
                    Err(message)
                }
            }
        }
        Err(e) => {
            let message = error_text(&e);
            set_health(&s.health, None, Some(message.clone()));
            r.tried = tip;
            Err(message)
        }
    };
    match outcome {
        Ok(()) => {
            r.sync_retry.succeeded();
            log_recovery("sync", r.sync_log.succeeded());
        }
        Err(message) => {
            let wait = r.sync_retry.failed(Instant::now());
            let note = r.sync_log.failed(&message, Utc::now());
            let after = "or at once when the branch moves";
            log_failure("sync", note, &message, wait, after);
        }
    }
}

/// An error as the log and `/healthz` keep it: bounded whatever wrote it.
pub(super) fn error_text(e: &dyn std::fmt::Display) -> String {
    brief::cap(&e.to_string(), MAX_ERROR_CHARS)
}

/// Writes what a [`FailureLog`] said to log about a failure, if anything.
fn log_failure(what: &str, note: Option<Note>, message: &str, wait: Duration, after: &str) {
    let next = humantime::format_duration(wait);
    match note {
        Some(Note::Started) => {
            tracing::error!("{what} failed: {message}; next try in {next}, {after}")
        }
        Some(Note::Changed) => {
            tracing::error!("{what} failed otherwise: {message}; next try in {next}, {after}")
        }
        Some(Note::Reminder { repeats, since }) => tracing::warn!(
            "{what} still failing, {repeats} times in a row since {}; next try in {next}: {}",
            since.format("%Y-%m-%dT%H:%M:%SZ"),
            brief::cap(message, REMINDER_CHARS)
        ),
        Some(Note::Recovered { .. }) | None => {}
    }
}

fn log_recovery(what: &str, note: Option<Note>) {
    if let Some(Note::Recovered { failures }) = note {
        tracing::info!("{what} recovered after {failures} failures");
    }
}

/// The branch tip now (cheap: one ref lookup); `None` when it cannot be read, which the
/// sync then reports.
async fn current_tip(s: &SyncLoop) -> Option<String> {
    let settings = s.settings.clone();
    tokio::task::spawn_blocking(move || {
        Repo::open(&settings.repo, &settings.branch, &settings.content_dir)
            .and_then(|r| r.tip())
            .map(|tip| tip.to_string())
            .ok()
    })
    .await
    .ok()
    .flatten()
}
