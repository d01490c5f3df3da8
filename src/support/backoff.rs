//! Growing waits between tries of something that keeps failing.
//!
//! A sync that fails on a broken `oshirase.yaml` fails the same way until someone commits a
//! fix, so trying again at once only burns a core and writes the log full. After each
//! failure the wait doubles from `first` up to `cap`; a success starts over.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            failures: 0,
            retry_at: None,
        }
    }

    /// Records a failure at `now`; returns how long to wait before the next try.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(31);
        let wait = self.first.saturating_mul(1 << doublings).min(self.cap);
        self.retry_at = Some(now + wait);
        wait
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next try is due; `None` while nothing is failing.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether something failed and its next try is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_a_success_starts_over() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        let now = Instant::now();
        assert!(!b.is_due(now), "nothing failed, nothing to retry");
        let waits: Vec<u64> = (0..12).map(|_| b.failed(now).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.failures(), 12);
        assert!(!b.is_due(now + Duration::from_secs(299)));
        assert!(b.is_due(now + Duration::from_secs(300)));
        b.succeeded();
        assert_eq!(b.retry_at(), None);
        assert_eq!(b.failed(now), Duration::from_secs(1));
    }

    #[test]
    fn a_very_long_run_of_failures_does_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..100 {
            assert!(b.failed(now) <= Duration::from_secs(60));
        }
    }
}
