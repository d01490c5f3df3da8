//! The service's background tasks, watched: the sync loop, the scheduler, the alerts and
//! the web server each do a job nothing else does, so one that ends before shutdown was
//! asked for (it panicked, or returned) leaves a service that looks alive but no longer
//! publishes. The watcher logs why, marks `/healthz` unhealthy and tells `serve`, which
//! exits with an error so systemd or Kubernetes restart it.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};

use crate::web::health::Health;

/// Starts tasks under watch and tells when the first of them died.
pub struct Supervisor {
    health: Arc<RwLock<Health>>,
    shutdown: watch::Receiver<bool>,
    died_tx: watch::Sender<Option<String>>,
    died_rx: watch::Receiver<Option<String>>,
    watchers: Vec<JoinHandle<()>>,
}

impl Supervisor {
    /// `shutdown` turns true when the service is asked to stop: tasks that end after it
    /// did so on purpose.
    pub fn new(health: Arc<RwLock<Health>>, shutdown: watch::Receiver<bool>) -> Supervisor {
        let (died_tx, died_rx) = watch::channel(None);
        Supervisor {
            health,
            shutdown,
            died_tx,
            died_rx,
            watchers: Vec::new(),
        }
    }

    /// Watches `task`, named for the log and `/healthz` ("the scheduler").
    pub fn watch(&mut self, name: &'static str, task: JoinHandle<()>) {
        let health = self.health.clone();
        let shutdown = self.shutdown.clone();
        let died = self.died_tx.clone();
        self.watchers.push(tokio::spawn(async move {
            let outcome = task.await;
            if *shutdown.borrow() {
                return;
            }
            let why = death(name, outcome);
            tracing::error!("{why}; oshirase cannot do its job without it and stops");
            health
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .task_failed
                .get_or_insert_with(|| why.clone());
            died.send_if_modified(|first| {
                let is_first = first.is_none();
                if is_first {
                    *first = Some(why);
                }
                is_first
            });
        }));
    }

    /// A handle that resolves when a watched task has died.
    pub fn deaths(&self) -> Deaths {
        Deaths(self.died_rx.clone())
    }

    /// Waits for every watched task to end (after shutdown was asked for).
    pub async fn join(self) {
        for watcher in self.watchers {
            let _ = watcher.await;
        }
    }
}

/// Resolves with the reason when one of the watched tasks died.
#[derive(Clone)]
pub struct Deaths(watch::Receiver<Option<String>>);

impl Deaths {
    /// The first task's death, waited for. Never resolves while every task lives.
    pub async fn first(&mut self) -> String {
        match self.0.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            // The supervisor is gone, so no task can be reported dead any more.
            Err(_) => std::future::pending().await,
        }
    }
}

fn death(name: &str, outcome: Result<(), JoinError>) -> String {
    match outcome {
        Ok(()) => format!("{name} stopped unexpectedly"),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            format!("{name} panicked: {message}")
        }
        Err(e) => format!("{name} was cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn supervisor() -> (Supervisor, Arc<RwLock<Health>>, watch::Sender<bool>) {
        let health = Arc::new(RwLock::new(Health::default()));
        let (stop_tx, stop_rx) = watch::channel(false);
        (Supervisor::new(health.clone(), stop_rx), health, stop_tx)
    }

    #[tokio::test]
    async fn a_task_that_panics_is_reported_with_its_name_and_message() {
        let (mut s, health, _stop) = supervisor();
        s.watch("the alerts", tokio::spawn(std::future::pending()));
        s.watch(
            "the scheduler",
            tokio::spawn(async { panic!("the store is gone") }),
        );
        let why = tokio::time::timeout(Duration::from_secs(5), s.deaths().first())
            .await
            .expect("reported");
        assert_eq!(why, "the scheduler panicked: the store is gone");
        let failed = health.read().unwrap().task_failed.clone();
        assert_eq!(failed.as_deref(), Some(why.as_str()));
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_a_death_too() {
        let (mut s, health, _stop) = supervisor();
        s.watch("the sync loop", tokio::spawn(async {}));
        let why = tokio::time::timeout(Duration::from_secs(5), s.deaths().first())
            .await
            .expect("reported");
        assert_eq!(why, "the sync loop stopped unexpectedly");
        assert!(health.read().unwrap().task_failed.is_some());
    }

    #[tokio::test]
    async fn tasks_that_end_after_shutdown_are_not_deaths() {
        let (mut s, health, stop) = supervisor();
        let mut rx = stop.subscribe();
        s.watch(
            "the web server",
            tokio::spawn(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }),
        );
        let mut deaths = s.deaths();
        stop.send(true).unwrap();
        s.join().await;
        assert!(health.read().unwrap().task_failed.is_none());
        let waited = tokio::time::timeout(Duration::from_millis(100), deaths.first()).await;
        assert!(waited.is_err(), "no death was reported");
    }
}
