//! A pool of OS threads of its own for the slow password hash, with a bounded queue.
//!
//! PBKDF2 takes a core for a third of a second in a release build. On tokio's blocking
//! pool, which the store and the scheduler use, a few hundred wrong passwords at once would
//! take every thread and make a due post wait behind them. Here they take at most the
//! pool's own threads, and when its queue is full a check is refused at once
//! ([`PoolError::Busy`]) instead of waiting: the caller answers 503 and the client tries
//! again. A check whose requester went away before its turn is skipped.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("the sign-in checks are all busy; try again in a moment")]
    Busy,
    #[error("the sign-in check pool has stopped")]
    Stopped,
}

type Job = Box<dyn FnOnce() + Send>;

/// The pool; its threads end when it is dropped.
pub struct HashPool {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool").finish_non_exhaustive()
    }
}

impl HashPool {
    /// `threads` workers (at least one) and room for `queue` checks waiting their turn.
    pub fn new(threads: usize, queue: usize) -> Result<HashPool, std::io::Error> {
        let (jobs, waiting) = sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for i in 0..threads.max(1) {
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("oshirase-hash-{i}"))
                .spawn(move || work(&waiting))?;
        }
        Ok(HashPool { jobs })
    }

    /// Sized for this machine: half the cores (at least one, at most four), so hashing
    /// never takes every core from the scheduler and the web server, and four checks
    /// waiting per thread.
    pub fn for_this_machine() -> Result<HashPool, std::io::Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / 2).clamp(1, 4);
        HashPool::new(threads, threads * 4)
    }

    /// Runs `check` on the pool and waits for its result, or refuses at once when the
    /// queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if !done.is_closed() {
                let _ = done.send(check());
            }
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Busy,
            TrySendError::Disconnected(_) => PoolError::Stopped,
        })?;
        result.await.map_err(|_| PoolError::Stopped)
    }
}

fn work(waiting: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while taking a job, not while running it.
        let job = match waiting.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_on_its_own_threads() {
        let pool = HashPool::new(2, 2).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(String::from))
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("oshirase-hash-")));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = Arc::new(HashPool::new(1, 1).unwrap());
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        // One running (held), one waiting: the queue is full.
        let running = {
            let (pool, hold) = (pool.clone(), hold.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = hold.lock().unwrap().recv();
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 2).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        assert_eq!(pool.run(|| 3).await, Err(PoolError::Busy));
        assert!(started.elapsed() < Duration::from_millis(50));
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(()));
        assert_eq!(waiting.await.unwrap(), Ok(2));
        assert_eq!(pool.run(|| 4).await, Ok(4));
    }
}
