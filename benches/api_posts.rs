//! How fast does the API answer on a large store? 10,000 posts with 2–3 deliveries each and
//! 50,000 audit events, written through the `Store` API into a temporary directory, served
//! by the real routes over loopback HTTP. Prints median, p95 and worst of each request, the
//! size of its answer, and what a request costs right after a write (when the cached list
//! of posts is read again).
//!
//! Run with `cargo bench --bench api_posts`; it prints figures, it asserts nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/office.rs"]
mod office;

use office::{fill, POSTS};
use oshirase::store::Store;

const RUNS: usize = 50;

struct Figures {
    median: Duration,
    p95: Duration,
    worst: Duration,
    bytes: usize,
}

fn get(agent: &ureq::Agent, url: &str) -> (Duration, usize) {
    let started = Instant::now();
    let resp = agent.get(url).call().expect("request");
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    let body = resp
        .into_body()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("body");
    (started.elapsed(), body.len())
}

fn measure(agent: &ureq::Agent, url: &str, mut before_each: impl FnMut()) -> Figures {
    let mut times = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    get(agent, url); // warm the connection
    for _ in 0..RUNS {
        before_each();
        let (t, b) = get(agent, url);
        times.push(t);
        bytes = b;
    }
    times.sort();
    Figures {
        median: times[RUNS / 2],
        p95: times[RUNS * 95 / 100],
        worst: times[RUNS - 1],
        bytes,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = office::temp_dir();
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let started = Instant::now();
    let s = store.clone();
    tokio::task::spawn_blocking(move || fill(&s))
        .await
        .expect("fill");
    let events = store.events().expect("events").len();
    println!(
        "filled {POSTS} posts, {} deliveries, {events} events in {:.1} s ({})",
        store
            .posts()
            .expect("posts")
            .iter()
            .map(|v| v.deliveries.len())
            .sum::<usize>(),
        started.elapsed().as_secs_f64(),
        dir.path().display()
    );

    let addr = office::serve(store.clone(), dir.path()).await;

    let store_for_writes = store.clone();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let base = format!("http://{addr}");
        let cases = [
            ("GET /api/posts (all 10,000)", "/api/posts".to_string()),
            (
                "?view=upcoming&limit=100 (a dashboard page)",
                "/api/posts?view=upcoming&limit=100".into(),
            ),
            (
                "?view=attention&limit=50",
                "/api/posts?view=attention&limit=50".into(),
            ),
            ("GET /api/summary", "/api/summary".into()),
            ("?state=failed", "/api/posts?state=failed".into()),
            ("?state=published", "/api/posts?state=published".into()),
            ("?network=mastodon", "/api/posts?network=mastodon".into()),
            (
                "?q=防災 (text search)",
                "/api/posts?q=%E9%98%B2%E7%81%BD".into(),
            ),
            (
                "?q=該当なし (no match: the scan alone)",
                "/api/posts?q=%E8%A9%B2%E5%BD%93%E3%81%AA%E3%81%97".into(),
            ),
            (
                "?from=2026-01-01&to=2026-01-31",
                "/api/posts?from=2026-01-01&to=2026-01-31".into(),
            ),
            (
                "?state=published&network=x&q=花火&from&to",
                "/api/posts?state=published&network=x&q=%E8%8A%B1%E7%81%AB&from=2025-07-01&to=2025-12-31"
                    .into(),
            ),
            (
                "GET /api/posts/{id}",
                "/api/posts/posts%2F2025%2F06-5".into(),
            ),
            ("GET /metrics", "/metrics".into()),
        ];
        println!(
            "\n{:<46} {:>10} {:>10} {:>10} {:>12}",
            "request", "median", "p95", "worst", "answer"
        );
        for (name, path) in &cases {
            let f = measure(&agent, &format!("{base}{path}"), || {});
            println!(
                "{name:<46} {:>10} {:>10} {:>10} {:>9} kB",
                ms(f.median),
                ms(f.p95),
                ms(f.worst),
                f.bytes / 1000
            );
        }
        // Right after a write the list is read from the database again.
        let mut n = 0u32;
        let f = measure(
            &agent,
            &format!("{base}/api/posts?state=failed"),
            || {
                n += 1;
                store_for_writes
                    .update_delivery("posts/2025/01-0", "x", |d| {
                        d.attempts = n;
                        Some(vec![])
                    })
                    .expect("write");
            },
        );
        println!(
            "{:<46} {:>10} {:>10} {:>10} {:>9} kB",
            "?state=failed, each right after a write",
            ms(f.median),
            ms(f.p95),
            ms(f.worst),
            f.bytes / 1000
        );
    })
    .await
    .expect("requests");
}
