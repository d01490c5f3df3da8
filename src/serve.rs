//! `oshirase serve`: the store, the sync loop, the scheduler and the web server, wired.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::RepoConfig;
use crate::fetch::{FetchError, Mirror};
use crate::hooks::{HookSettings, WEBHOOK_SECRET};
use crate::networks::{Networks, Outboxes, RepoMedia};
use crate::repo::Repo;
use crate::scheduler::{self, Plan, SchedulerHandle};
use crate::secrets::Secrets;
use crate::store::{meta, Store, StoreError};
use crate::sync::{self, SyncError, SyncOptions, SyncReport};
use crate::web::{self, AppState, Health};

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The repository synced from: a local repository, or the mirror of `remote`.
    pub repo: PathBuf,
    /// The URL of a remote repository, mirrored into `repo` (see `fetch`).
    pub remote: Option<String>,
    /// How often the remote is fetched when no webhook says it moved.
    pub fetch_interval: Duration,
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
    pub auth: Option<crate::auth::DashboardAuth>,
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
    #[error("{0}")]
    Other(String),
}

/// A running service. Drop nothing: call [`Service::shutdown`] to stop it cleanly.
pub struct Service {
    pub store: Arc<Store>,
    pub addr: SocketAddr,
    pub health: Arc<RwLock<Health>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    sync_now: mpsc::Sender<()>,
}

impl Service {
    /// Opens the store, syncs once, and starts the watcher, the scheduler and the web
    /// server. Fails before serving anything when the store is held by another process, the
    /// repository cannot be read, or its configuration is unusable.
    pub async fn start(settings: ServeSettings) -> Result<Service, ServeError> {
        // Checked again here so that no caller can serve an open dashboard to the network.
        if settings.auth.is_none() && !settings.listen.ip().is_loopback() {
            return Err(ServeError::Other(
                crate::auth::AuthError::Required(settings.listen).to_string(),
            ));
        }
        let data_dir = settings.data_dir.clone();
        let store = Arc::new(
            tokio::task::spawn_blocking(move || Store::open(&data_dir))
                .await
                .map_err(|e| ServeError::Other(e.to_string()))??,
        );
        let alerts = crate::alerts::AlertTargets::from_secrets(&settings.secrets)
            .map_err(ServeError::Other)?
            .map(|targets| (targets, store.subscribe()));
        let outboxes = Arc::new(Outboxes::new(&settings.data_dir));
        let health = Arc::new(RwLock::new(Health::default()));
        // A URL with a password is refused here, before the mirror's config is written.
        let mirror = match &settings.remote {
            Some(url) => Some(Arc::new(Mirror::new(
                url,
                &settings.data_dir,
                settings.secrets.clone(),
            )?)),
            None => None,
        };
        if let Some(mirror) = &mirror {
            let m = mirror.clone();
            let fetched = tokio::task::spawn_blocking(move || m.fetch())
                .await
                .map_err(|e| ServeError::Other(e.to_string()))?;
            match fetched {
                Ok(()) => {
                    health
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .last_fetch_at = Some(Utc::now())
                }
                // A mirror fetched before still holds what was approved: carry on with it.
                Err(e)
                    if Repo::open(mirror.path(), &settings.branch, &settings.content_dir)
                        .and_then(|r| r.tip())
                        .is_ok() =>
                {
                    tracing::error!("{e}; syncing from the mirror as last fetched");
                    health
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .fetch_error = Some(e.to_string());
                }
                Err(e) => return Err(e.into()),
            }
        }

        let (config, config_commit, last_commit) = match timed_sync(&store, &settings, &health)
            .await
        {
            Ok(report) => {
                tracing::info!(
                    commit = %report.commit, files = report.files, parsed = report.parsed,
                    events = report.events, took_ms = report.took.as_millis() as u64, "initial sync"
                );
                set_health(&health, Some(&report), None);
                (report.config, report.config_commit, report.commit)
            }
            // What is already scheduled must still go out while the branch is broken, so
            // a service that synced before carries on with the configuration it last knew.
            Err(e) => match last_good_config(&store, &settings).await {
                Some((config, commit, config_commit)) => {
                    tracing::error!(
                        "sync failed: {e}; carrying on with the configuration of {commit}"
                    );
                    set_health(&health, None, Some(e.to_string()));
                    health
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .last_sync_commit = Some(commit);
                    (config, config_commit, String::new())
                }
                None => return Err(e.into()),
            },
        };
        let scheduler = SchedulerHandle::new(plan_for(
            &config,
            &config_commit,
            &outboxes,
            settings.dry_run,
            &settings.secrets,
            &settings.repo,
            settings.public_url.as_deref(),
        )?);

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: settings.listen,
                source,
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
                .and_then(crate::forge::Forge::from_remote),
            auth: settings.auth.clone(),
            hooks: HookSettings::new(
                settings.secrets.get(WEBHOOK_SECRET),
                settings.branch.clone(),
                sync_tx.clone(),
            ),
        });
        let mut web_shutdown = shutdown_rx.clone();
        let web_task = tokio::spawn(crate::http_server::serve(
            listener,
            warp::service(app),
            crate::http_server::Limits::default(),
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
            mirror,
            wake_tx: sync_tx.clone(),
            wake: sync_rx,
            shutdown: shutdown_rx.clone(),
            last_commit,
        }));
        let mut tasks = Vec::new();
        if let Some((targets, events)) = alerts {
            tasks.push(tokio::spawn(crate::alerts::run(
                store.clone(),
                events,
                targets,
                shutdown_rx.clone(),
            )));
        }
        let scheduler_task = tokio::spawn(scheduler::run(store.clone(), scheduler, shutdown_rx));
        tasks.extend([sync_task, scheduler_task, web_task]);

        Ok(Service {
            store,
            addr,
            health,
            shutdown: shutdown_tx,
            tasks,
            sync_now: sync_tx,
        })
    }

    /// Asks for a sync now (as a forge webhook will).
    pub fn request_sync(&self) {
        let _ = self.sync_now.try_send(());
    }

    /// Stops accepting work, lets deliveries in flight record their outcome, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
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
        let config = RepoConfig::parse(crate::config::CONFIG_FILE, &text).ok()?;
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
        networks: Arc::new(
            Networks::build(
                &config,
                outboxes,
                secrets,
                Arc::new(RepoMedia::new(repo.to_path_buf())),
                public_url,
            )
            .map_err(ServeError::Other)?,
        ),
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
        sync::sync(
            &store,
            &SyncOptions {
                repo_path: &settings.repo,
                branch: &settings.branch,
                content_dir: &settings.content_dir,
                dry_run: settings.dry_run,
                accept_config: &Networks::check,
            },
        )
    })
    .await
    .map_err(|e| SyncError::Config(format!("sync task failed: {e}")))?
}

fn set_health(health: &RwLock<Health>, report: Option<&SyncReport>, error: Option<String>) {
    let mut h = health.write().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = report {
        h.last_sync_commit = Some(r.commit.clone());
        h.last_sync_at = Some(Utc::now());
        h.config_commit = Some(r.config_commit.clone());
        h.config_held.clone_from(&r.config_held);
    }
    h.sync_error = error;
}

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
}

/// Syncs whenever the branch may have moved: on a file-system event in the repository's
/// refs, on request, and on a slow poll.
async fn sync_loop(mut s: SyncLoop) {
    let git_dir = Repo::open(
        &s.settings.repo,
        &s.settings.branch,
        &s.settings.content_dir,
    )
    .map(|r| r.git_dir().to_path_buf());
    // A mirror only changes when we fetch; a local repository is watched.
    let git_dir = if s.mirror.is_some() {
        Err(None)
    } else {
        git_dir.map_err(Some)
    };
    let _watcher = match git_dir {
        Ok(dir) => match crate::watch::watch_refs(&dir, s.wake_tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "cannot watch {}: {e}; polling every {:?}",
                    dir.display(),
                    s.settings.poll_interval
                );
                None
            }
        },
        Err(e) => {
            if let Some(e) = e {
                tracing::warn!("{e}");
            }
            None
        }
    };
    let mut fetch_failures = 0u32;
    loop {
        let wait = match &s.mirror {
            None => s.settings.poll_interval,
            // After a failed fetch, try again sooner: 5 s, 10 s, 20 s … up to the interval.
            Some(_) if fetch_failures > 0 => {
                Duration::from_secs(5u64 << (fetch_failures - 1).min(10))
                    .min(s.settings.fetch_interval)
            }
            Some(_) => s.settings.fetch_interval,
        };
        tokio::select! {
            _ = s.wake.recv() => {
                // A merge writes several refs in a burst; one sync after it settles is enough.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while s.wake.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(wait) => {}
            _ = s.shutdown.changed() => {}
        }
        if *s.shutdown.borrow() {
            return;
        }
        if let Some(mirror) = &s.mirror {
            let m = mirror.clone();
            let fetched = tokio::task::spawn_blocking(move || m.fetch())
                .await
                .unwrap_or_else(|e| {
                    Err(FetchError::Mirror {
                        path: PathBuf::new(),
                        message: e.to_string(),
                    })
                });
            let mut h = s.health.write().unwrap_or_else(|p| p.into_inner());
            match fetched {
                Ok(()) => {
                    fetch_failures = 0;
                    h.fetch_error = None;
                    h.last_fetch_at = Some(Utc::now());
                }
                Err(e) => {
                    fetch_failures += 1;
                    tracing::error!("{e} (attempt {fetch_failures}); recorded state is kept");
                    h.fetch_error = Some(e.to_string());
                    h.fetch_failures += 1;
                    continue;
                }
            }
        }
        if !branch_moved(&s).await {
            continue;
        }
        match timed_sync(&s.store, &s.settings, &s.health).await {
            Ok(report) => {
                tracing::info!(
                    commit = %report.commit, parsed = report.parsed, events = report.events,
                    took_ms = report.took.as_millis() as u64, "synced"
                );
                s.last_commit.clone_from(&report.commit);
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
                    }
                    Err(e) => set_health(&s.health, Some(&report), Some(e.to_string())),
                }
            }
            Err(e) => {
                tracing::error!("sync failed: {e}");
                set_health(&s.health, None, Some(e.to_string()));
                // Try again on the next poll even if the tip stays where it is.
                s.last_commit.clear();
            }
        }
    }
}

/// Whether the branch tip differs from the last synced commit (cheap: one ref lookup).
async fn branch_moved(s: &SyncLoop) -> bool {
    let settings = s.settings.clone();
    let last = s.last_commit.clone();
    tokio::task::spawn_blocking(move || {
        match Repo::open(&settings.repo, &settings.branch, &settings.content_dir)
            .and_then(|r| r.tip())
        {
            Ok(tip) => tip.to_string() != last,
            // Let the sync report the error.
            Err(_) => true,
        }
    })
    .await
    .unwrap_or(true)
}

/// The last synced commit as recorded in the store (for `status`).
pub fn last_sync(store: &Store) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok((
        store.meta(meta::LAST_SYNC_COMMIT)?,
        store.meta(meta::LAST_SYNC_AT)?,
    ))
}
