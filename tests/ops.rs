//! Operations: the Prometheus metrics after real publishing and a failed sync, JSON logs
//! from the real binary, SIGTERM waiting for a delivery in flight, and the API seeing what
//! another process (`oshirase resolve`) wrote.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

fn oshirase() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
}

/// One sample: metric name and its labels, sorted.
type Key = (String, BTreeMap<String, String>);

/// Parses the Prometheus text format strictly enough to catch mistakes: every sample
/// belongs to a family declared by `# HELP` and `# TYPE` before it, label values are
/// quoted with escapes, and values are numbers.
fn parse_metrics(text: &str) -> BTreeMap<Key, f64> {
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = HashSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "HELP before TYPE for {name}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                declared.insert(name.into(), kind.into()).is_none(),
                "{name} declared twice"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value: {line}"),
        };
        let mut labels = BTreeMap::new();
        let value = if let Some(mut rest) = rest.strip_prefix('{') {
            loop {
                let (k, after) = rest.split_once("=\"").expect("label=\"");
                let mut v = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect("closing quote") {
                        (_, '\\') => match chars.next().unwrap().1 {
                            'n' => v.push('\n'),
                            c => v.push(c),
                        },
                        (i, '"') => break i,
                        (_, c) => v.push(c),
                    }
                };
                labels.insert(k.to_string(), v);
                rest = &after[end + 1..];
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                } else {
                    break rest.strip_prefix('}').expect("closing brace");
                }
            }
        } else {
            rest
        };
        let value = value.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| declared.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(declared.contains_key(family), "{name} has no TYPE");
        assert!(
            samples.insert((name.to_string(), labels), value).is_none(),
            "duplicate sample {line}"
        );
    }
    samples
}

fn metric(samples: &BTreeMap<Key, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples.get(&(name.to_string(), labels)).copied()
}

fn scrape(addr: SocketAddr) -> (String, BTreeMap<Key, f64>) {
    let resp = ureq::get(&format!("http://{addr}/metrics")).call().unwrap();
    let kind = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let text = resp.into_body().read_to_string().unwrap();
    (kind, parse_metrics(&text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_deliveries_lag_syncs_and_failures() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let later = chrono::Utc::now() + chrono::Duration::hours(3);
    repo.propose_and_merge(
        "staff/a",
        &[
            ("posts/now.md", &post("今", None, "portal", "すぐに")),
            (
                "posts/later.md",
                &post("後で", Some(later), "portal, news", "三時間後"),
            ),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    assert!(
        reaches(
            &service,
            "posts/now",
            "portal",
            "published",
            Duration::from_secs(10)
        )
        .await
    );
    let addr = service.addr;
    let (kind, m) = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .unwrap();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let d = |state: &str, network: &str| {
        metric(
            &m,
            "oshirase_deliveries",
            &[("state", state), ("network", network), ("account", "city")],
        )
    };
    assert_eq!(d("published", "portal"), Some(1.0));
    assert_eq!(d("scheduled", "portal"), Some(1.0));
    assert_eq!(d("scheduled", "news"), Some(1.0));
    assert_eq!(d("failed", "news"), Some(0.0), "zeros are written too");
    assert_eq!(d("published", "news"), Some(0.0));
    assert_eq!(
        metric(&m, "oshirase_publish_lag_seconds_count", &[]),
        Some(1.0)
    );
    let lag = metric(&m, "oshirase_publish_lag_seconds_sum", &[]).unwrap();
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
    assert_eq!(
        metric(&m, "oshirase_publish_lag_seconds_bucket", &[("le", "60")]),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, "oshirase_publish_lag_seconds_bucket", &[("le", "+Inf")]),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, "oshirase_sync_duration_seconds_count", &[]),
        Some(1.0)
    );
    assert!(metric(&m, "oshirase_last_sync_duration_seconds", &[]).unwrap() > 0.0);
    assert_eq!(metric(&m, "oshirase_sync_failures_total", &[]), Some(0.0));
    assert_eq!(metric(&m, "oshirase_fetch_failures_total", &[]), Some(0.0));
    assert_eq!(metric(&m, "oshirase_paused_networks", &[]), Some(0.0));
    let last = metric(&m, "oshirase_last_sync_timestamp_seconds", &[]).unwrap();
    assert!(
        (chrono::Utc::now().timestamp() as f64 - last).abs() < 60.0,
        "{last}"
    );

    // A configuration with a typo makes the next sync fail, and it is counted.
    repo.write("oshirase.yaml", "timezone: Asia/Tokyo\ntime_zone: oops\n");
    repo.commit_all(CHIEF, "break the configuration");
    service.request_sync();
    let failed = wait_for(Duration::from_secs(10), || {
        let (_, m) = scrape(addr);
        metric(&m, "oshirase_sync_failures_total", &[]) == Some(1.0)
    });
    assert!(failed.await, "the failed sync is counted");
    let (_, m) = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .unwrap();
    assert_eq!(
        metric(&m, "oshirase_sync_duration_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(
        metric(&m, "oshirase_last_sync_timestamp_seconds", &[]),
        Some(last),
        "the last good sync stays the last good sync"
    );
    service.shutdown().await;
}

/// Collects the child's standard error lines in the background.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "exits within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn log_format_json_writes_one_json_object_a_line() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "ログ"))],
    );
    let data = tempfile::tempdir().unwrap();
    let mut child = oshirase()
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--repo")
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen
        .iter()
        .any(|v: &serde_json::Value| v["fields"]["message"] == "initial sync")
        || !seen.iter().any(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("serving http://"))
        })
    {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("serve logs its start");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        seen.push(v);
    }
    let sync = seen
        .iter()
        .find(|v| v["fields"]["message"] == "initial sync")
        .unwrap();
    assert_eq!(sync["level"], "INFO");
    assert_eq!(sync["target"], "oshirase::cli::serve");
    assert_eq!(
        sync["fields"]["commit"].as_str().unwrap(),
        repo.git(CHIEF, &["rev-parse", "main"])
    );
    assert!(sync["fields"]["took_ms"].is_u64());
    assert!(chrono::DateTime::parse_from_rfc3339(sync["timestamp"].as_str().unwrap()).is_ok());
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    // Everything after the start is JSON as well, to the last line.
    let rest: Vec<String> = lines.try_iter().collect();
    for line in &rest {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(rest.iter().any(|l| l.contains("stopping")), "{rest:?}");

    // The environment variable chooses it too, and a wrong value is a usage error.
    let out = oshirase()
        .args(["serve", "--repo", "/nonexistent", "--listen", "127.0.0.1:0"])
        .env("OSHIRASE_LOG_FORMAT", "json")
        .arg("--data")
        .arg(data.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent"),
        "{last}"
    );
    let out = oshirase()
        .args(["serve", "--repo", ".", "--log-format", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A webhook receiver that reports each request as it arrives and answers only when told.
fn held_receiver() -> (u16, mpsc::Receiver<String>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((sock, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).unwrap();
        let _ = arrived_tx.send(String::from_utf8_lossy(&body).into_owned());
        let _ = release_rx.recv();
        let mut sock = sock;
        let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    (port, arrived, release)
}

#[test]
fn sigterm_lets_a_delivery_in_flight_finish_and_records_it() {
    let (port, arrived, release) = held_receiver();
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      hook: { type: webhook, credentials: HOOK }\n",
    ));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/slow.md", &post("遅い", None, "hook", "ゆっくり届く"))],
    );
    let data = tempfile::tempdir().unwrap();
    let mut child = oshirase()
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .env("OSHIRASE_CRED_HOOK_TYPE", "webhook")
        .env(
            "OSHIRASE_CRED_HOOK_URL",
            format!("http://127.0.0.1:{port}/hook"),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let body = arrived
        .recv_timeout(Duration::from_secs(20))
        .expect("the delivery reaches the receiver");
    assert!(body.contains("ゆっくり届く"), "{body}");

    sigterm(&child);
    let stopping = Instant::now() + Duration::from_secs(10);
    while !lines
        .recv_timeout(stopping.saturating_duration_since(Instant::now()))
        .expect("serve says it is stopping")
        .contains("stopping")
    {}
    // The request is still held: the process must wait for it rather than exit.
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "serve exited with a delivery in flight"
    );
    release.send(()).unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");

    let out = oshirase()
        .args(["status", "--format", "json", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let post = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "posts/slow")
        .unwrap()
        .clone();
    assert_eq!(post["deliveries"][0]["state"], "published", "{post}");
    assert_eq!(
        v["deliveries_by_state"]["publishing"],
        serde_json::Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_sees_what_another_process_wrote() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let later = chrono::Utc::now() + chrono::Duration::hours(3);
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", Some(later), "portal", "本文"))],
    );
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    // Make the delivery `unknown` in this process, then read the list so it is cached.
    service
        .store
        .update_delivery("posts/a", "portal", |d| {
            d.state = oshirase::model::records::State::Unknown;
            d.attempts = 1;
            Some(vec![])
        })
        .unwrap();
    let addr = service.addr;
    let state = move || {
        let (_, v) = get_json(addr, "/api/posts");
        v["posts"][0]["deliveries"][0]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(tokio::task::spawn_blocking(state).await.unwrap(), "unknown");
    let out = oshirase()
        .args([
            "resolve",
            "posts/a",
            "portal",
            "--published",
            "https://portal.example/1",
            "--data",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tokio::task::spawn_blocking(state).await.unwrap(),
        "published",
        "the cached list noticed the other process's write at once"
    );
    service.shutdown().await;
}

#[test]
fn the_kept_post_list_is_always_what_a_fresh_read_gives() {
    use oshirase::model::event::EventKind;
    use oshirase::model::records::{NewEvent, State};
    let data = tempfile::tempdir().unwrap();
    let store = oshirase::store::Store::open(data.path()).unwrap();
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let later = chrono::Utc::now() + chrono::Duration::hours(3);
    repo.propose_and_merge(
        "staff/a",
        &[
            ("posts/b.md", &post("B", Some(later), "portal, news", "二")),
            ("posts/d.md", &post("D", Some(later), "portal", "四")),
        ],
    );
    let sync = |store: &oshirase::store::Store| {
        oshirase::sync::sync(
            store,
            &oshirase::sync::SyncOptions {
                repo_path: &repo.path,
                branch: "main",
                content_dir: "",
                dry_run: false,
            },
        )
        .unwrap();
    };
    let same = |store: &oshirase::store::Store| {
        let mut names = oshirase::store::listing::Names::default();
        let fresh: Vec<_> = store
            .posts()
            .unwrap()
            .iter()
            .map(|v| oshirase::store::listing::Listing::of(v, &mut names))
            .collect();
        let kept = store.listings().unwrap().to_vec();
        assert_eq!(kept, fresh);
        kept.len()
    };
    assert_eq!(same(&store), 0);
    sync(&store);
    assert_eq!(same(&store), 2);
    // A delivery changes while a request still holds the old list.
    let held = store.listings().unwrap();
    store
        .update_delivery("posts/b", "news", |d| {
            d.state = State::Failed;
            Some(vec![NewEvent::service(
                "posts/b",
                EventKind::Failed,
                Some("news"),
                "x".into(),
            )])
        })
        .unwrap();
    assert_eq!(same(&store), 2);
    assert_eq!(held[0].deliveries[0].state, State::Scheduled, "untouched");
    // New posts land before, between and after the kept ones.
    repo.propose_and_merge(
        "staff/b",
        &[
            ("posts/a.md", &post("A", Some(later), "portal", "一")),
            ("posts/c.md", &post("C", Some(later), "news", "三")),
            ("posts/e.md", &post("E", None, "portal", "五")),
        ],
    );
    sync(&store);
    assert_eq!(same(&store), 5);
    repo.remove_and_merge("staff/c", "posts/c.md");
    sync(&store);
    assert_eq!(same(&store), 5);
}
