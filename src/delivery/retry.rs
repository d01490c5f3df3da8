//! One retry policy for publishing and retracting: how long to wait after a failure that
//! may pass, and when to stop trying so that a person hears of it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::networks::NetError;

/// A safety net under `retry_for`: a network that keeps answering "try again at once"
/// cannot make a delivery loop forever.
pub const MAX_ATTEMPTS: u32 = 100;
/// The shortest wait between attempts, whatever a network's Retry-After says.
pub const MIN_RETRY_WAIT: Duration = Duration::from_secs(1);

/// How long a delivery keeps trying after a failure that may pass (`retry_for` of
/// `oshirase.yaml`), counted from when its work began: the post's publish time for a
/// publish, the approval of `retract: true` for a retract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retry_for: Duration,
}

impl RetryPolicy {
    /// When to try again after `e`, with `attempts` made since `since`: the network's hint,
    /// else the backoff; `None` once that would fall beyond `retry_for` (a notice retried
    /// for ever is worse than one a person knows has failed).
    pub fn next_attempt(
        &self,
        attempts: u32,
        since: DateTime<Utc>,
        e: &NetError,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if attempts >= MAX_ATTEMPTS {
            return None;
        }
        let at = now + chrono::Duration::from_std(self.wait(attempts, e)).ok()?;
        (at <= self.deadline(since)).then_some(at)
    }

    /// How long to wait before the next try after `e`.
    pub fn wait(&self, attempts: u32, e: &NetError) -> Duration {
        e.retry_after
            .unwrap_or_else(|| backoff(attempts))
            .max(MIN_RETRY_WAIT)
    }

    /// The last moment work begun at `since` may still be tried.
    pub fn deadline(&self, since: DateTime<Utc>) -> DateTime<Utc> {
        since + chrono::Duration::from_std(self.retry_for).unwrap_or_default()
    }
}

/// Exponential backoff with jitter: about 15 s, 30 s, 1 min, … capped at 30 min.
pub fn backoff(attempt: u32) -> Duration {
    let base = 15u64
        .saturating_mul(1 << attempt.saturating_sub(1).min(7))
        .min(1800);
    let jitter = rand::rng().random_range(0..=base / 4);
    Duration::from_secs(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_the_deadline_measured_from_when_the_work_began() {
        let now = Utc::now();
        let since = now - chrono::Duration::minutes(50);
        let hint = |s| NetError {
            retry_after: Some(Duration::from_secs(s)),
            ..NetError::transient("busy")
        };
        let policy = RetryPolicy {
            retry_for: Duration::from_secs(3600),
        };
        // 50 min after its time, a 5 min wait still fits in an hour; a 15 min wait does not.
        assert_eq!(
            policy.next_attempt(3, since, &hint(300), now),
            Some(now + chrono::Duration::seconds(300))
        );
        assert_eq!(policy.next_attempt(3, since, &hint(900), now), None);
        // "Try again at once" is floored, so a network cannot make a tight loop.
        assert_eq!(
            policy.next_attempt(3, since, &hint(0), now),
            Some(now + chrono::Duration::seconds(1))
        );
        assert_eq!(
            policy.next_attempt(MAX_ATTEMPTS, since, &hint(1), now),
            None
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(15) && backoff(1) <= Duration::from_secs(19));
        assert!(backoff(3) >= Duration::from_secs(60));
        assert!(backoff(30) <= Duration::from_secs(1800 + 450));
    }
}
