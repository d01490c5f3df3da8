//! Merge-to-publish latency: how long an immediate post (no `publish_at`) takes from the
//! moment the branch moves to the moment its network is called.
//!
//! A real `Service` watches a content repository; a supervisor merges a staff member's pull
//! request with the git CLI (`git merge --no-ff`), 20 times. The network is `type: webhook`
//! pointed at a receiver in this process, which notes when each request arrives. Two ways
//! in are measured:
//!
//! - a local repository: from the start of `git merge` (so the merge itself is included)
//!   to the request, through the file-system watch of the refs;
//! - a remote repository over `file://` with the fetch timer set to an hour: from the signed
//!   `POST /hooks/github` to the request, through the webhook and a fetch.
//!
//! Run with `cargo bench --bench merge_latency`. It prints p50/p99/max; it asserts nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use oshirase::cli::serve::{ServeSettings, Service};
use oshirase::support::secrets::Secrets;
use sha2::Sha256;

const MERGES: usize = 20;
const SECRET: &str = "bench-webhook-secret";
const CHIEF: [&str; 4] = [
    "-c",
    "user.name=広報課長",
    "-c",
    "user.email=koho-chief@city.example.jp",
];
const STAFF: [&str; 4] = [
    "-c",
    "user.name=足立 花子",
    "-c",
    "user.email=hanako@city.example.jp",
];
const CONFIG: &str = "timezone: Asia/Tokyo\nmax_lateness: 2h\naccounts:\n  city:\n    approval: { mode: merge, approvers: [koho-chief@city.example.jp] }\n    networks:\n      hook: { type: webhook, credentials: HOOK }\n";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = Receiver::start();
    println!("| way in | merges | p50 | p99 | max |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let local = runtime.block_on(local_merges(&receiver));
    print_row(
        "local repository: `git merge` → watch of the refs → adapter call",
        local,
    );
    let hook = runtime.block_on(webhook_merges(&receiver));
    print_row(
        "remote over `file://`: `POST /hooks/github` → fetch → adapter call",
        hook,
    );
}

fn print_row(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "| {what} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
        times.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(at(1.0))
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Merges into a repository the service watches directly.
async fn local_merges(receiver: &Receiver) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = content_repo(dir.path());
    let data = dir.path().join("data");
    let service = Service::start(settings(&repo, &data, None, receiver.port))
        .await
        .expect("service starts");
    let mut times = Vec::new();
    for round in 0..MERGES {
        spacing().await;
        let id = format!("posts/local-{round:02}");
        let started = Instant::now();
        let repo = repo.clone();
        tokio::task::spawn_blocking(move || propose_and_merge(&repo, round, "local"))
            .await
            .expect("merge");
        times.push(receiver.wait_for(&id, started).await);
    }
    service.shutdown().await;
    times
}

/// Merges into a repository the service mirrors; each is announced by a signed webhook.
async fn webhook_merges(receiver: &Receiver) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = content_repo(dir.path());
    let data = dir.path().join("data");
    let mirror = oshirase::git::fetch::mirror_path(&data);
    let url = format!("file://{}", repo.display());
    let service = Service::start(settings(&mirror, &data, Some(url), receiver.port))
        .await
        .expect("service starts");
    let mut times = Vec::new();
    for round in 0..MERGES {
        spacing().await;
        let id = format!("posts/hook-{round:02}");
        let repo_path = repo.clone();
        tokio::task::spawn_blocking(move || propose_and_merge(&repo_path, round, "hook"))
            .await
            .expect("merge");
        let started = Instant::now();
        let addr = service.addr;
        let status = tokio::task::spawn_blocking(move || push_hook(addr, round))
            .await
            .expect("hook");
        assert_eq!(status, 202, "the webhook is accepted");
        times.push(receiver.wait_for(&id, started).await);
    }
    service.shutdown().await;
    times
}

/// A webhook network takes one post a second (its default budget); merges closer together
/// than that would measure the budget's wait, not the way to the network.
async fn spacing() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn settings(repo: &Path, data: &Path, remote: Option<String>, receiver_port: u16) -> ServeSettings {
    let secrets = format!(
        "HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{receiver_port}/hook\nOSHIRASE_WEBHOOK_SECRET={SECRET}\n"
    );
    ServeSettings {
        repo: repo.to_path_buf(),
        remote,
        // The timer and the poll would find a merge only after this long: anything sooner
        // is the watch or the webhook.
        fetch_interval: Duration::from_secs(3600),
        fetch_timeout: Duration::from_secs(60),
        secrets: Secrets::parse("bench", &secrets).expect("secrets"),
        branch: "main".into(),
        content_dir: String::new(),
        data_dir: data.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        dry_run: false,
        poll_interval: Duration::from_secs(3600),
        public_url: None,
        auth: None,
        forge_api: None,
    }
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository with the configuration, committed by the supervisor.
fn content_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("content");
    std::fs::create_dir_all(repo.join("posts")).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("oshirase.yaml"), CONFIG).expect("write");
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &[&CHIEF[..], &["commit", "-qm", "configuration"]].concat(),
    );
    repo
}

/// A staff member proposes one immediate post on a branch; the supervisor merges it.
fn propose_and_merge(repo: &Path, round: usize, prefix: &str) {
    let branch = format!("staff/{prefix}-{round}");
    git(repo, &["checkout", "-q", "-b", &branch]);
    let text = format!(
        "---\ntitle: お知らせ {round}\nnetworks: [hook]\n---\n本日の窓口は17時までです（{round}）。\n"
    );
    std::fs::write(
        repo.join(format!("posts/{prefix}-{round:02}.md")),
        text.as_bytes(),
    )
    .expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &[&STAFF[..], &["commit", "-qm", "a notice"]].concat());
    git(repo, &["checkout", "-q", "main"]);
    git(
        repo,
        &[
            &CHIEF[..],
            &["merge", "-q", "--no-ff", "-m", "merge a notice", &branch],
        ]
        .concat(),
    );
}

/// A GitHub push delivery for `main`, signed as GitHub signs it.
fn push_hook(addr: SocketAddr, round: usize) -> u16 {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let request = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: bench-{}-{round}\r\nX-Hub-Signature-256: sha256={signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        std::process::id(),
        body.len()
    );
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.write_all(request.as_bytes()).expect("send");
    sock.write_all(body).expect("send");
    let mut status_line = String::new();
    BufReader::new(sock)
        .read_line(&mut status_line)
        .expect("answer");
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A webhook network's far end: notes when each post's first request arrived.
struct Receiver {
    port: u16,
    seen: Arc<(Mutex<HashMap<String, Instant>>, Condvar)>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new((Mutex::new(HashMap::new()), Condvar::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || serve_one(sock, &log));
            }
        });
        Receiver { port, seen }
    }

    /// The time from `started` until the request for `post_id` arrived.
    async fn wait_for(&self, post_id: &str, started: Instant) -> Duration {
        let seen = self.seen.clone();
        let id = post_id.to_string();
        tokio::task::spawn_blocking(move || {
            let (lock, ready) = &*seen;
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut map = lock.lock().expect("lock");
            loop {
                if let Some(at) = map.get(&id) {
                    return at.duration_since(started);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "{id} was not delivered within a minute");
                map = ready.wait_timeout(map, left).expect("lock").0;
            }
        })
        .await
        .expect("wait")
    }
}

/// Reads one request (the headers and a body of Content-Length bytes) and answers 200.
fn serve_one(sock: TcpStream, log: &(Mutex<HashMap<String, Instant>>, Condvar)) {
    let mut reader = BufReader::new(sock);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let arrived = Instant::now();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(id) = body["oshirase"]["post_id"].as_str() {
        let (lock, ready) = log;
        lock.lock()
            .expect("lock")
            .entry(id.to_string())
            .or_insert(arrived);
        ready.notify_all();
    }
    let mut sock = reader.into_inner();
    let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}
