//! How late does a delivery go out? Time from a delivery's due time to its publication
//! (the outbox write, a fraction of a millisecond, comes right after the adapter call), in
//! three situations: one post due while the service is idle (the scheduler's wake-up), a
//! burst of posts due at the same instant, and posts due while others are being published.
//!
//! Run with `cargo bench --bench delivery_lag`; it prints figures, it asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;

const BURST: usize = 500;

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

    let lag = |ids: &[(String, DateTime<Utc>)]| -> Vec<i64> {
        let mut v: Vec<i64> = ids
            .iter()
            .map(|(id, _)| {
                let d = service
                    .store
                    .delivery(id, "portal")
                    .expect("store")
                    .expect("delivery");
                (d.published_at.expect("published") - d.publish_at).num_milliseconds()
            })
            .collect();
        v.sort_unstable();
        v
    };
    report("lone post, idle service", &lag(&lone));
    report(&format!("burst of {BURST} due at once"), &lag(&burst));
    service.shutdown().await;
}

fn report(what: &str, sorted_ms: &[i64]) {
    let at = |q: f64| sorted_ms[((sorted_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:32} n={:4}  p50 {:5} ms  p95 {:5} ms  max {:5} ms",
        sorted_ms.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}
