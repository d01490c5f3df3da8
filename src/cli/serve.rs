//! `oshirase serve`: the store, the sync loop, the scheduler and the web server, wired.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, watch};

use crate::cli::tasks::{Deaths, Supervisor};

use crate::content::brief;
use crate::content::config::RepoConfig;
use crate::delivery::alerts::AlertTargets;
use crate::delivery::scheduler::{self, Plan, SchedulerHandle};
use crate::git::fetch::{FetchError, Mirror};
use crate::git::repo::Repo;
use crate::model::records::Event;
use crate::networks::{Networks, Outboxes, RepoMedia};
use crate::store::{meta, Store, StoreError};
use crate::support::backoff::Backoff;
use crate::support::failure_log::{FailureLog, Note};
use crate::support::secrets::Secrets;
use crate::sync::{self, SyncError, SyncOptions, SyncReport};
use crate::web;
use crate::web::health::Health;
use crate::web::hooks::{HookSettings, WEBHOOK_SECRET};
use crate::web::state::AppState;

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The repository synced from: a local repository, or the mirror of `remote`.
    pub repo: PathBuf,
    /// The URL of a remote repository, mirrored into `repo` (see `fetch`).
    pub remote: Option<String>,
    /// How often the remote is fetched when no webhook says it moved.
    pub fetch_interval: Duration,
    /// The longest one fetch of the remote may take (`--fetch-timeout`).
    pub fetch_timeout: Duration,
    pub secrets: Secrets,
    pub branch: String,
    pub content_dir: String,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub dry_run: bool,
    /// The slow poll behind the file-system watch.
    pub poll_interval: Duration,
    /// The address the world reaches this service at, without a trailing slash: networks
    /// that fetch images by URL (LINE, webhooks) get `<public_url>/media/<blob>`.
    pub public_url: Option<String>,
    /// Who may use the dashboard, API and metrics (`None`: open, loopback only); see `auth`.
    pub auth: Option<crate::web::auth::DashboardAuth>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    HttpClient(#[from] crate::networks::http::ClientError),
    #[error(transparent)]
    Auth(#[from] crate::web::auth::AuthError),
    #[error(transparent)]
    Alerts(#[from] crate::delivery::alerts::AlertConfigError),
    #[error("a start-up step stopped before it finished: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running service. Drop nothing: call [`Service::shutdown`] to stop it cleanly.
pub struct Service {
    pub store: Arc<Store>,
    pub addr: SocketAddr,
    pub health: Arc<RwLock<Health>>,
    shutdown: watch::Sender<bool>,
    tasks: Supervisor,
    deaths: Deaths,
    sync_now: mpsc::Sender<()>,
}

impl Service {
    /// Opens the store, syncs once, and starts the watcher, the scheduler and the web
    /// server. Fails before serving anything when the store is held by another process, the
    /// repository cannot be read, or its configuration is unusable.
    pub async fn start(settings: ServeSettings) -> Result<Service, ServeError> {
        // Checked again here so that no caller can serve an open dashboard to the network.
        if settings.auth.is_none() && !settings.listen.ip().is_loopback() {
            return Err(crate::web::auth::AuthError::Required(settings.listen).into());
        }
        // Before the store is opened: without its time limits nothing may be sent.
        crate::networks::http::init()?;
        let data_dir = settings.data_dir.clone();
        let store = Arc::new(tokio::task::spawn_blocking(move || Store::open(&data_dir)).await??);
        let alerts = alerts_for(&store, &settings).await?;
        let outboxes = Arc::new(Outboxes::new(&settings.data_dir));
        let health = Arc::new(RwLock::new(Health::default()));
        let start = catch_up(&store, &settings, &health, &outboxes).await?;
        let scheduler = SchedulerHandle::new(start.plan);

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let listener = crate::web::http_server::bind(settings.listen).map_err(|source| {
            ServeError::Listen {
                addr: settings.listen,
                source,
            }
        })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Listen {
            addr: settings.listen,
            source,
        })?;
        let (sync_tx, sync_rx) = mpsc::channel(1);
        let app = web::routes(AppState {
            store: store.clone(),
            health: health.clone(),
            shutdown: shutdown_rx.clone(),
            paused: scheduler.paused(),
            repo: settings.repo.clone(),
            forge: settings
                .remote
                .as_deref()
                .and_then(crate::git::forge::Forge::from_remote),
            auth: settings.auth.clone(),
            hooks: HookSettings::new(
                settings.secrets.get(WEBHOOK_SECRET),
                settings.branch.clone(),
                sync_tx.clone(),
            ),
        });
        let mut web_shutdown = shutdown_rx.clone();
        let web_task = tokio::spawn(crate::web::http_server::serve(
            listener,
            warp::service(app),
            crate::web::http_server::Limits::default(),
            async move {
                let _ = web_shutdown.wait_for(|stop| *stop).await;
            },
        ));

        let sync_task = tokio::spawn(sync_loop(SyncLoop {
            store: store.clone(),
            settings: settings.clone(),
            health: health.clone(),
            scheduler: scheduler.clone(),
            outboxes,
            mirror: start.mirror,
            wake_tx: sync_tx.clone(),
            wake: sync_rx,
            shutdown: shutdown_rx.clone(),
            last_commit: start.last_commit,
            fetching: start.fetching,
        }));
        let mut tasks = Supervisor::new(health.clone(), shutdown_rx.clone());
        if let Some((targets, events)) = alerts {
            let alerts =
                crate::delivery::alerts::run(store.clone(), events, targets, shutdown_rx.clone());
            tasks.watch("the alerts", tokio::spawn(alerts));
        }
        let scheduler_task = tokio::spawn(scheduler::run(store.clone(), scheduler, shutdown_rx));
        tasks.watch("the sync loop", sync_task);
        tasks.watch("the scheduler", scheduler_task);
        tasks.watch("the web server", web_task);

        Ok(Service {
            store,
            addr,
            health,
            shutdown: shutdown_tx,
            deaths: tasks.deaths(),
            tasks,
            sync_now: sync_tx,
        })
    }

    /// Asks for a sync now (as a forge webhook will).
    pub fn request_sync(&self) {
        let _ = self.sync_now.try_send(());
    }

    /// Resolves, with the reason, when a background task has died: the service no longer
    /// does its job, and its caller should shut it down and exit with an error.
    pub async fn failed(&self) -> String {
        self.deaths.clone().first().await
    }

    /// Stops accepting work, lets deliveries in flight record their outcome, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.tasks.join().await;
    }
}

/// How long a first start waits for its first fetch before it serves without one. A wrong
/// URL or refused credentials answer well within it and stop start-up with the reason.
const FIRST_FETCH_WAIT: Duration = Duration::from_secs(5);
/// How long after its own limit a fetch is waited for: a read blocked in libgit2 ends at
/// its socket limit, a little after the fetch's.
const FETCH_GRACE: Duration = Duration::from_secs(1);

/// The alert targets with a subscription to the store, or `None` when none is configured.
/// Where alerts start is set before the first sync, so that what it finds is announced too.
async fn alerts_for(
    store: &Arc<Store>,
    settings: &ServeSettings,
) -> Result<Option<(AlertTargets, broadcast::Receiver<Event>)>, ServeError> {
    let targets = AlertTargets::from_secrets(&settings.secrets)?;
    let configured = targets.is_some();
    let s = store.clone();
    tokio::task::spawn_blocking(move || crate::delivery::alerts::prepare(&s, configured)).await??;
    Ok(targets.map(|targets| (targets, store.subscribe())))
}

/// Where a start begins: the mirror (for a remote), a fetch still running, the first
/// sync's plan and the commit it synced.
struct Start {
    mirror: Option<Arc<Mirror>>,
    fetching: Option<InFlightFetch>,
    plan: Plan,
    last_commit: String,
}

/// Fetches (for a remote without the branch yet) and syncs once, so that the scheduler
/// starts with the plan of the configuration in force.
async fn catch_up(
    store: &Arc<Store>,
    settings: &ServeSettings,
    health: &Arc<RwLock<Health>>,
    outboxes: &Outboxes,
) -> Result<Start, ServeError> {
    // A URL with a password is refused here, before the mirror's config is written.
    let mirror = match &settings.remote {
        Some(url) => Some(Arc::new(Mirror::new(
            url,
            &settings.data_dir,
            settings.secrets.clone(),
            settings.fetch_timeout,
        )?)),
        None => None,
    };
    let mut fetching = None;
    let mut ready = true;
    if let Some(mirror) = &mirror {
        if !has_tip(mirror, settings).await {
            fetching = first_fetch(mirror, health).await?;
            ready = has_tip(mirror, settings).await;
        }
    }
    // Nothing to read before a first fetch ends: no configuration, nothing sent.
    if !ready {
        return Ok(Start {
            mirror,
            fetching,
            plan: Plan::empty(),
            last_commit: String::new(),
        });
    }
    let (config, config_commit, last_commit) = initial_sync(store, settings, health).await?;
    let plan = plan_for(
        &config,
        &config_commit,
        outboxes,
        settings.dry_run,
        &settings.secrets,
        &settings.repo,
        settings.public_url.as_deref(),
    )?;
    Ok(Start {
        mirror,
        fetching,
        plan,
        last_commit,
    })
}

/// Whether the mirror holds the branch, so that there is something to sync before a fetch.
async fn has_tip(mirror: &Mirror, settings: &ServeSettings) -> bool {
    let path = mirror.path().to_path_buf();
    let (branch, content_dir) = (settings.branch.clone(), settings.content_dir.clone());
    tokio::task::spawn_blocking(move || {
        Repo::open(&path, &branch, &content_dir)
            .and_then(|r| r.tip())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The fetch of a first start, which has nothing to sync without it. One that fails within
/// [`FIRST_FETCH_WAIT`] stops start-up with its reason (a wrong URL, refused credentials).
/// A remote that does not answer in time does not: serve listens and reports the failing
/// fetch, and a fetch still running is handed to the sync loop (`Some`).
async fn first_fetch(
    mirror: &Arc<Mirror>,
    health: &RwLock<Health>,
) -> Result<Option<InFlightFetch>, ServeError> {
    let mut fetch = InFlightFetch::start(mirror.clone());
    let outcome = fetch.wait(FIRST_FETCH_WAIT).await;
    let mut h = health.write().unwrap_or_else(|p| p.into_inner());
    match outcome {
        None => {
            tracing::warn!(
                "the first fetch of {} is still running after {}s; serving meanwhile",
                mirror.shown_url(),
                FIRST_FETCH_WAIT.as_secs()
            );
            Ok(Some(fetch))
        }
        Some(Ok(())) => {
            h.last_fetch_at = Some(Utc::now());
            Ok(None)
        }
        Some(Err(e @ FetchError::TimedOut { .. })) => {
            let e = error_text(&e);
            tracing::error!("{e}; serving meanwhile, the fetch is tried again");
            h.fetch_error = Some(e);
            h.fetch_failures += 1;
            Ok(None)
        }
        Some(Err(e)) => Err(e.into()),
    }
}

/// The first sync of a start: the configuration in force, the commit that landed it, and
/// the commit synced. What is already scheduled must still go out while the branch is
/// broken, so a service that synced before carries on with the configuration it last knew.
async fn initial_sync(
    store: &Arc<Store>,
    settings: &ServeSettings,
    health: &RwLock<Health>,
) -> Result<(RepoConfig, String, String), ServeError> {
    let e = match timed_sync(store, settings, health).await {
        Ok(report) => {
            tracing::info!(
                commit = %report.commit, files = report.files, parsed = report.parsed,
                events = report.events, took_ms = report.took.as_millis() as u64, "initial sync"
            );
            set_health(health, Some(&report), None);
            return Ok((report.config, report.config_commit, report.commit));
        }
        Err(e) => e,
    };
    let Some((config, commit, config_commit)) = last_good_config(store, settings).await else {
        return Err(e.into());
    };
    let e = error_text(&e);
    tracing::error!("sync failed: {e}; carrying on with the configuration of {commit}");
    set_health(health, None, Some(e));
    health
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .last_sync_commit = Some(commit);
    Ok((config, config_commit, String::new()))
}

/// A fetch running on a blocking thread. It is waited for with a limit, and one still
/// running is waited for again rather than started twice, so a hanging remote never holds
/// more than one thread.
struct InFlightFetch {
    handle: tokio::task::JoinHandle<Result<(), FetchError>>,
    started: Instant,
}

impl InFlightFetch {
    fn start(mirror: Arc<Mirror>) -> InFlightFetch {
        InFlightFetch {
            handle: tokio::task::spawn_blocking(move || mirror.fetch()),
            started: Instant::now(),
        }
    }

    /// Its outcome, waiting at most `wait`; `None` while it still runs.
    async fn wait(&mut self, wait: Duration) -> Option<Result<(), FetchError>> {
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

/// The configuration in force when this data directory last synced, if it can be read, and
/// the commits of that sync and of that configuration.
async fn last_good_config(
    store: &Arc<Store>,
    settings: &ServeSettings,
) -> Option<(RepoConfig, String, String)> {
    let store = store.clone();
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let commit = store.meta(meta::LAST_SYNC_COMMIT).ok()??;
        let in_force = store
            .meta(meta::CONFIG_IN_FORCE_TEXT)
            .ok()
            .flatten()
            .filter(|t| !t.is_empty());
        let (text, config_commit) = match in_force {
            Some(text) => (
                text,
                store
                    .meta(meta::CONFIG_IN_FORCE_COMMIT)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            ),
            // A data directory from before configurations were approved.
            None => {
                let repo =
                    Repo::open(&settings.repo, &settings.branch, &settings.content_dir).ok()?;
                let oid = git2::Oid::from_str(&commit).ok()?;
                (repo.config_text(oid).ok()??, commit.clone())
            }
        };
        let config = RepoConfig::parse(crate::content::config::CONFIG_FILE, &text).ok()?;
        Some((config, commit, config_commit))
    })
    .await
    .ok()?
}

fn plan_for(
    config: &RepoConfig,
    config_commit: &str,
    outboxes: &Outboxes,
    dry_run: bool,
    secrets: &Secrets,
    repo: &std::path::Path,
    public_url: Option<&str>,
) -> Result<Plan, ServeError> {
    let config = if dry_run {
        config.clone().into_dry_run()
    } else {
        config.clone()
    };
    // Rates come from the configuration as written, so a dry run paces like the real thing.
    let rates = config
        .accounts
        .values()
        .flat_map(|a| {
            a.networks
                .values()
                .map(move |n| ((a.name.clone(), n.name.clone()), n.rate))
        })
        .filter_map(|(k, r)| r.map(|r| (k, r)))
        .collect();
    Ok(Plan {
        networks: Arc::new(Networks::build(
            &config,
            outboxes,
            secrets,
            Arc::new(RepoMedia::new(repo.to_path_buf())),
            public_url,
        )),
        max_lateness: config.max_lateness,
        retry_for: config.retry_for,
        rates,
        config_commit: config_commit.to_string(),
    })
}

/// Syncs, and counts how long it took and whether it failed for the metrics.
async fn timed_sync(
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

fn set_health(health: &RwLock<Health>, report: Option<&SyncReport>, error: Option<String>) {
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

struct SyncLoop {
    store: Arc<Store>,
    settings: ServeSettings,
    health: Arc<RwLock<Health>>,
    scheduler: SchedulerHandle,
    outboxes: Arc<Outboxes>,
    mirror: Option<Arc<Mirror>>,
    wake_tx: mpsc::Sender<()>,
    wake: mpsc::Receiver<()>,
    shutdown: watch::Receiver<bool>,
    last_commit: String,
    /// A fetch still running (a first start's, or one past its limit).
    fetching: Option<InFlightFetch>,
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
async fn sync_loop(mut s: SyncLoop) {
    let _watcher = watch_repository(&s);
    let mut r = Rounds::new(&s).await;
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
        if tip == r.tried && !r.sync_retry.is_due(Instant::now()) {
            continue;
        }
        sync_round(&mut s, &mut r, tip).await;
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
fn error_text(e: &dyn std::fmt::Display) -> String {
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

/// The last synced commit as recorded in the store (for `status`).
pub fn last_sync(store: &Store) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok((
        store.meta(meta::LAST_SYNC_COMMIT)?,
        store.meta(meta::LAST_SYNC_AT)?,
    ))
}
