//! How late does a delivery go out? The time from a delivery's due time to the call of its
//! network's adapter (`called_at − due`), in two situations: one post due while the service
//! is idle (the scheduler's wake-up), and a burst of 1,000 posts due in the same second;
//! plus how long until the whole burst is recorded published.
//!
//! Run with `cargo bench --bench delivery_lag`; it prints figures, it asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;

const BURST: usize = 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().expect("temp dir");
    let service = start(&repo.path, data.path()).await;

    // 1. Ten lone posts, one every 700 ms, while nothing else happens.
    let first = Utc::now() + chrono::Duration::seconds(4);
    let lone: Vec<(String, DateTime<Utc>)> = (0..10)
        .map(|i| {
            (
                format!("lone/p{i:02}"),
                first + chrono::Duration::milliseconds(700 * i),
            )
        })
        .collect();
    // 2. A burst: BURST posts due at the same instant.
    let burst_at = first + chrono::Duration::seconds(10);
    let burst: Vec<(String, DateTime<Utc>)> = (0..BURST)
        .map(|i| (format!("burst/p{i:03}"), burst_at))
        .collect();
    for (id, at) in lone.iter().chain(&burst) {
        repo.write(&format!("{id}.md"), &post(id, Some(*at), "portal", "本文"));
    }
    repo.commit_all(CHIEF, "posts for the lag benchmark");
    service.request_sync();

    let all: Vec<&(String, DateTime<Utc>)> = lone.iter().chain(&burst).collect();
    let done = wait_for(Duration::from_secs(120), || {
        outbox(data.path(), "city", "portal").len() >= all.len()
    })
    .await;
    assert!(done, "every post went out");
    // The last outcome is recorded just after the last outbox line.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let lag = |ids: &[(String, DateTime<Utc>)]| -> Vec<i64> {
        let mut v: Vec<i64> = ids
            .iter()
            .map(|(id, _)| {
                let d = service
                    .store
                    .delivery(id, "portal")
                    .expect("store")
                    .expect("delivery");
                (d.called_at.expect("called") - d.publish_at).num_milliseconds()
            })
            .collect();
        v.sort_unstable();
        v
    };
    report("lone post, idle service", &lag(&lone));
    report(&format!("burst of {BURST} due at once"), &lag(&burst));
    let last_recorded = burst
        .iter()
        .filter_map(|(id, _)| service.store.delivery(id, "portal").ok().flatten())
        .filter_map(|d| d.published_at)
        .max()
        .expect("published");
    println!(
        "burst of {BURST}: all recorded published {} ms after their due time",
        (last_recorded - burst_at).num_milliseconds()
    );
    service.shutdown().await;
}

fn report(what: &str, sorted_ms: &[i64]) {
    let at = |q: f64| sorted_ms[((sorted_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:32} n={:4}  adapter called after its due time: p50 {:4} ms  p99 {:4} ms  max {:4} ms",
        sorted_ms.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
