//! `oshirase serve`: the store, the sync loop, the scheduler and the web server, wired.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, watch};

use crate::cli::sync_loop::{
    error_text, set_health, sync_loop, timed_sync, InFlightFetch, SyncLoop,
};
use crate::cli::tasks::{Deaths, Supervisor};

use crate::content::config::RepoConfig;
use crate::delivery::alerts::AlertTargets;
use crate::delivery::scheduler::{self, Plan, SchedulerHandle};
use crate::git::fetch::{FetchError, Mirror};
use crate::git::repo::Repo;
use crate::model::records::Event;
use crate::networks::{Networks, Outboxes, RepoMedia};
use crate::store::{meta, Store, StoreError};
use crate::support::secrets::Secrets;
use crate::sync::SyncError;
use crate::web;
use crate::web::health::Health;
use crate::web::hooks::{HookSettings, WEBHOOK_SECRET};
use crate::web::proposals::DeskRepo;
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
    /// The forge API that opens the desk's pull requests (`OSHIRASE_FORGE_TOKEN`).
    pub forge_api: Option<crate::git::pull_request::ForgeApi>,
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
        let forge = settings
            .remote
            .as_deref()
            .and_then(crate::git::forge::Forge::from_remote);
        let desk = Arc::new(DeskRepo {
            repo: settings.repo.clone(),
            mirror: start.mirror.clone(),
            publish_branch: settings.branch.clone(),
            content_dir: settings.content_dir.clone(),
            forge: forge.clone(),
            forge_api: settings.forge_api.clone(),
            http: crate::networks::http::client().clone(),
            writing: tokio::sync::Mutex::new(()),
        });
        let state = AppState {
            store: store.clone(),
            health: health.clone(),
            shutdown: shutdown_rx.clone(),
            paused: scheduler.paused(),
            repo: settings.repo.clone(),
            forge,
            auth: settings.auth.clone(),
            desk: Some(desk),
            hooks: HookSettings::new(
                settings.secrets.get(WEBHOOK_SECRET),
                settings.branch.clone(),
                sync_tx.clone(),
            ),
        };
        let web_task = spawn_web(listener, state, shutdown_rx.clone());
        warm_listings(&store);

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

/// Serves the dashboard, API and hooks on `listener` until shutdown.
fn spawn_web(
    listener: tokio::net::TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(crate::web::http_server::serve(
        listener,
        warp::service(web::routes(state)),
        crate::web::http_server::Limits::default(),
        async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        },
    ))
}

/// Builds the dashboard's post listings in the background, so that the first request after
/// a start, or after a sync that changed posts, does not wait while every changed post is
/// read (about half a second for 10,000 on a cold start; later rounds read only what
/// changed).
pub fn warm_listings(store: &Arc<Store>) {
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = s.listings() {
            tracing::debug!("warming the post listings: {e}");
        }
    });
}

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

pub(super) fn plan_for(
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

/// The last synced commit as recorded in the store (for `status`).
pub fn last_sync(store: &Store) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok((
        store.meta(meta::LAST_SYNC_COMMIT)?,
        store.meta(meta::LAST_SYNC_AT)?,
    ))
}
