//! How fast does the API answer on a large store? 10,000 posts with 2–3 deliveries each and
//! 50,000 audit events, written through the `Store` API into a temporary directory, served
//! by the real routes over loopback HTTP. Prints median, p95 and worst of each request, the
//! size of its answer, and what a request costs right after a write (when the cached list
//! of posts is read again).
//!
//! Run with `cargo bench --bench api_posts`; it prints figures, it asserts nothing.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use oshirase::delivery::{DeliveryRecord, NewEvent, PostChange, PostRecord, State};
use oshirase::hooks::HookSettings;
use oshirase::repo::Person;
use oshirase::store::Store;
use oshirase::web::{self, AppState, Health};

const POSTS: usize = 10_000;
const EVENTS_PER_POST: usize = 5;
const RUNS: usize = 50;

const DEPARTMENTS: [&str; 6] = [
    "環境部 ごみ減量推進課",
    "福祉部 高齢福祉課",
    "危機管理部 災害対策課",
    "地域のちから推進部 観光交流課",
    "衛生部 保健予防課",
    "教育委員会 学務課",
];
const TOPICS: [&str; 6] = [
    "年末年始のごみ収集日程",
    "高齢者インフルエンザ予防接種",
    "防災訓練のお知らせ",
    "花火大会の交通規制",
    "熱中症にご注意ください",
    "小学校の入学説明会",
];

fn at(days: i64, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, hour, 0, 0).unwrap() + chrono::Duration::days(days)
}

/// One post as sync would write it: its record, 2–3 deliveries and five events.
fn change(i: usize) -> PostChange {
    let id = format!("posts/{:04}/{:02}-{}", 2025 + i / 5000, i % 12 + 1, i);
    let topic = TOPICS[i % TOPICS.len()];
    let publish_at = at((i % 730) as i64, (i % 12) as u32 + 8);
    let person = |name: &str, email: &str| Person {
        name: name.into(),
        email: email.into(),
        at: publish_at - chrono::Duration::days(2),
    };
    let post = PostRecord {
        id: id.clone(),
        title: format!("{topic}（第{i}報）"),
        file: format!("{id}.md"),
        account: Some(
            if i.is_multiple_of(4) {
                "kuyakusho"
            } else {
                "adachi"
            }
            .into(),
        ),
        department: Some(DEPARTMENTS[i % DEPARTMENTS.len()].into()),
        publish_at: Some(publish_at),
        proposer: Some(person("山田 花子", "yamada@city.example.jp")),
        approver: Some(person("佐藤 一郎", "koho-chief@city.example.jp")),
        commit: Some(format!("{:040x}", i * 7919)),
        blob: format!("{:040x}", i * 104_729),
        config_hash: "c0ffee".into(),
        errors: vec![],
        present: true,
        edited_after_publish: false,
    };
    let body = format!(
        "{topic}についてお知らせします。\n日時：{}\n場所：区役所本庁舎\n詳しくは https://www.city.example.jp/news/{i}.html をご覧ください。",
        publish_at.format("%Y年%m月%d日 %H時")
    );
    let networks: &[&str] = if i.is_multiple_of(3) {
        &["x", "facebook", "mastodon"]
    } else {
        &["x", "facebook"]
    };
    // Most are long published; a few need a person; the last ones are still to come.
    let state = match i {
        _ if i >= POSTS - 800 => State::Scheduled,
        _ if i.is_multiple_of(97) => State::Failed,
        _ if i.is_multiple_of(89) => State::Held,
        _ if i.is_multiple_of(83) => State::Unknown,
        _ => State::Published,
    };
    let account = post.account.clone().unwrap();
    let deliveries: Vec<DeliveryRecord> = networks
        .iter()
        .map(|n| {
            let published = state == State::Published;
            DeliveryRecord {
                post_id: id.clone(),
                network: n.to_string(),
                account: account.clone(),
                state,
                key: DeliveryRecord::key_for(&account, n, &id),
                due_at: publish_at,
                publish_at,
                text: if *n == "facebook" {
                    format!("{body}\n\n{}", "お問い合わせは担当課まで。".repeat(8))
                } else {
                    body.clone()
                },
                images: vec![],
                attempts: u32::from(state != State::Scheduled && state != State::Held),
                remote_id: published.then(|| format!("{}", 1_800_000_000_000u64 + i as u64)),
                remote_url: published.then(|| format!("https://{n}.example/adachi/{i}")),
                last_error: (state == State::Failed).then(|| "403: duplicate content".into()),
                last_error_facts: None,
                published_at: published.then(|| publish_at + chrono::Duration::seconds(2)),
                next_attempt_at: None,
                called_at: None,
                count: None,
                retract_pending: false,
            }
        })
        .collect();
    let mut events = vec![
        NewEvent::service(
            &id,
            "landed",
            None,
            format!("merged in {}", post.commit.as_deref().unwrap_or("")),
        ),
        NewEvent::service(&id, "scheduled", None, publish_at.to_rfc3339()),
    ];
    for n in networks.iter().cycle().take(EVENTS_PER_POST - 2) {
        events.push(NewEvent::service(
            &id,
            "publishing",
            Some(n),
            "attempt 1".into(),
        ));
    }
    PostChange {
        post,
        deliveries,
        events,
    }
}

fn fill(store: &Store) {
    for i in 0..POSTS {
        let c = change(i);
        let id = c.post.id.clone();
        store.apply_post(&id, move |_| Some(c)).expect("write");
    }
}

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
    // tmpfs when there is one: the fill commits 10,000 transactions, each synced to disk.
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
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

    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (sync_tx, _sync_rx) = tokio::sync::mpsc::channel(1);
    let routes = web::routes(AppState {
        store: store.clone(),
        health: Arc::new(RwLock::new(Health::default())),
        shutdown: stop_rx,
        hooks: HookSettings::new(None, "main".into(), sync_tx),
        paused: Default::default(),
        repo: dir.path().to_path_buf(),
        forge: None,
        auth: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(warp::serve(routes).incoming(listener).run());

    let store_for_writes = store.clone();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let base = format!("http://{addr}");
        let cases = [
            ("GET /api/posts (all 10,000)", "/api/posts".to_string()),
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
