//! Exactly once through crashes: `serve` is killed with SIGKILL at random moments while
//! 200 posts fall due, restarted each time, and in the end every delivery reached its
//! outboxes exactly once (an outbox is idempotent by delivery key, like Mastodon or LINE),
//! and no post ever reached the webhook twice (a webhook cannot be asked what it got, so a
//! delivery cut short there ends `unknown` for a person, never sent again).

mod common;

#[path = "fakes/mastodon.rs"]
mod fake_mastodon;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use rand::Rng;

const POSTS: usize = 200;
const KILLS: usize = 20;

/// A webhook receiver that survives the service's deaths: counts each delivery key it got
/// a whole request for, and answers after a short pause so that kills land mid-request.
fn webhook_receiver() -> (u16, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(HashMap::new()));
    let log = got.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(sock.try_clone().unwrap());
                let (mut key, mut len) = (String::new(), 0usize);
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
                        match k.to_ascii_lowercase().as_str() {
                            "x-oshirase-delivery" => key = v.trim().to_string(),
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                *log.lock().unwrap().entry(key).or_insert(0) += 1;
                std::thread::sleep(Duration::from_millis(15));
                let mut sock = sock;
                let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            });
        }
    });
    (port, got)
}

fn serve(repo: &std::path::Path, data: &std::path::Path, hook: u16) -> Child {
    serve_with(repo, data, hook, "")
}

/// `serve` with more credentials, as `KEY=value` lines (given as `OSHIRASE_CRED_KEY`).
fn serve_with(repo: &std::path::Path, data: &std::path::Path, hook: u16, secrets: &str) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oshirase"));
    for (key, value) in secrets.lines().filter_map(|l| l.split_once('=')) {
        command.env(format!("OSHIRASE_CRED_{key}"), value);
    }
    command
        .env("OSHIRASE_CRED_HOOK_TYPE", "webhook")
        .env(
            "OSHIRASE_CRED_HOOK_URL",
            format!("http://127.0.0.1:{hook}/hook"),
        )
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--repo")
        .arg(repo)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts")
}

fn keys(data: &std::path::Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for network in ["portal", "news"] {
        for line in outbox(data, "city", network) {
            *counts
                .entry(line["key"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn sigkill_at_random_points_never_loses_or_repeats_a_delivery() {
    let (hook, webhook_got) = webhook_receiver();
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      hook: { type: webhook, credentials: HOOK, rate: { requests: 1000, per: 1s } }\n",
    ));
    // Spread the due times over the first few seconds of the kills.
    let start = Utc::now() + chrono::Duration::seconds(2);
    for i in 0..POSTS {
        let at = start + chrono::Duration::milliseconds((i as i64 * 4000) / POSTS as i64);
        repo.write(
            &format!("posts/p{i:03}.md"),
            &post(
                &format!("お知らせ{i}"),
                Some(at),
                "portal, news, hook",
                &format!("本文 {i}"),
            ),
        );
    }
    repo.commit_all(CHIEF, "two hundred posts");
    let data = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut killed_with_work_in_flight = 0;
    for _ in 0..KILLS {
        let before = keys(data.path()).len();
        let mut child = serve(&repo.path, data.path(), hook);
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        if keys(data.path()).len() > before {
            killed_with_work_in_flight += 1;
        }
    }
    // A last, undisturbed run finishes the work: nothing left to send or settle.
    let mut child = serve(&repo.path, data.path(), hook);
    let deadline = Instant::now() + Duration::from_secs(90);
    let settled = |v: &serde_json::Value| {
        let by = &v["deliveries_by_state"];
        let n = |s: &str| by[s].as_u64().unwrap_or(0) as usize;
        n("published") + n("unknown") == POSTS * 3
    };
    while !settled(&status(data.path())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let counts = keys(data.path());
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "delivered twice: {doubled:?}");
    assert_eq!(counts.len(), POSTS * 2, "every delivery arrived");
    assert!(
        killed_with_work_in_flight > 0,
        "some kills hit a run that was publishing"
    );

    // The webhook: never twice; what is `published` arrived once, what is `unknown` at most once.
    let got = webhook_got.lock().unwrap().clone();
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "the webhook got a post twice: {twice:?}");
    let store = oshirase::store::Store::open(data.path()).unwrap();
    let published: Vec<_> = store
        .deliveries_in(oshirase::model::records::State::Published)
        .unwrap()
        .into_iter()
        .filter(|d| d.network == "hook")
        .collect();
    let unknown: Vec<_> = store
        .deliveries_in(oshirase::model::records::State::Unknown)
        .unwrap();
    assert!(
        unknown.iter().all(|d| d.network == "hook"),
        "only the webhook can be unsure"
    );
    for d in &published {
        assert_eq!(got.get(&d.key), Some(&1), "{} arrived once", d.post_id);
    }
    assert_eq!(
        published.len() + unknown.len(),
        POSTS,
        "every webhook delivery ended"
    );
    drop(store);

    let v = status(data.path());
    assert_eq!(
        v["deliveries_by_state"]["published"],
        POSTS * 2 + published.len(),
        "{}",
        v["deliveries_by_state"]
    );
    eprintln!(
        "{KILLS} kills, {killed_with_work_in_flight} while publishing; {} outbox deliveries once \
         each; webhook: {} published, {} unknown ({} of those arrived), none twice",
        POSTS * 2,
        published.len(),
        unknown.len(),
        unknown.iter().filter(|d| got.contains_key(&d.key)).count()
    );
}

const THREADS: usize = 50;

/// Threads a killed run left with some parts out and some not.
fn threads_half_way(data: &std::path::Path) -> usize {
    use oshirase::model::records::State;
    let store = oshirase::store::Store::open(data).unwrap();
    [State::Publishing, State::Retrying]
        .into_iter()
        .flat_map(|s| store.deliveries_in(s).unwrap())
        .filter(|d| (1..d.part_count()).contains(&d.first_unpublished()))
        .count()
}

/// The text of part `k` (1-based) of thread `i`.
fn part_text(i: usize, k: usize) -> String {
    format!("お知らせ{i} その{k}")
}

#[test]
fn sigkill_while_threads_fall_due_sends_every_part_once_and_in_order() {
    // The fake Mastodon lives in this process, so it outlives every killed `serve`.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mastodon = runtime.block_on(fake_mastodon::start());
    let (hook, _) = webhook_receiver();
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        &format!("      toot: {}\n", mastodon.network_yaml("toot")),
    ));
    let start = Utc::now() + chrono::Duration::seconds(2);
    for i in 0..THREADS {
        let at = start + chrono::Duration::milliseconds((i as i64 * 4000) / THREADS as i64);
        let body = (1..=3)
            .map(|k| part_text(i, k))
            .collect::<Vec<_>>()
            .join("\n+++\n");
        repo.write(
            &format!("posts/t{i:02}.md"),
            &post(
                &format!("スレッド{i}"),
                Some(at),
                "portal, news, toot",
                &body,
            ),
        );
    }
    repo.commit_all(CHIEF, "fifty threads");
    let data = tempfile::tempdir().unwrap();
    let secrets = mastodon.secrets();
    let mut rng = rand::rng();
    let mut killed_mid_thread = 0;
    for _ in 0..KILLS {
        let mut child = serve_with(&repo.path, data.path(), hook, &secrets);
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        killed_mid_thread += threads_half_way(data.path());
    }
    let mut child = serve_with(&repo.path, data.path(), hook, &secrets);
    let deadline = Instant::now() + Duration::from_secs(90);
    let settled = |v: &serde_json::Value| {
        let n = |s: &str| v["deliveries_by_state"][s].as_u64().unwrap_or(0) as usize;
        n("published") == THREADS * 3
    };
    while !settled(&status(data.path())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let v = status(data.path());
    assert!(
        settled(&v),
        "every thread published: {}",
        v["deliveries_by_state"]
    );
    assert!(killed_mid_thread > 0, "some kills cut a thread half-way");

    // The outboxes: every part once, each after and answering the part before it.
    for network in ["portal", "news"] {
        let lines = outbox(data.path(), "city", network);
        assert_eq!(lines.len(), THREADS * 3, "{network}: every part, once");
        let mut seen = std::collections::HashMap::new();
        for (at, line) in lines.iter().enumerate() {
            let key = line["key"].as_str().unwrap().to_string();
            assert!(
                seen.insert(key, at).is_none(),
                "{network}: a part twice: {line}"
            );
        }
        for line in &lines {
            let text = line["text"].as_str().unwrap();
            let k: usize = text.rsplit("その").next().unwrap().parse().unwrap();
            match line["reply_to"].as_str() {
                None => assert_eq!(k, 1, "{network}: {text} replies to nothing"),
                Some(parent) => {
                    let parent_at = seen[parent];
                    let parent_text = lines[parent_at]["text"].as_str().unwrap();
                    assert_eq!(
                        parent_text,
                        text.replace(&format!("その{k}"), &format!("その{}", k - 1))
                    );
                    assert!(
                        parent_at < seen[line["key"].as_str().unwrap()],
                        "{network}: {text} after its parent"
                    );
                }
            }
        }
    }

    // Mastodon: every part once, replying to the part before it.
    let statuses = mastodon.posts();
    assert_eq!(statuses.len(), THREADS * 3, "Mastodon got every part once");
    let by_text: std::collections::HashMap<String, &serde_json::Value> = statuses
        .iter()
        .map(|s| (s["text"].as_str().unwrap().to_string(), s))
        .collect();
    assert_eq!(by_text.len(), THREADS * 3, "no part twice on Mastodon");
    for i in 0..THREADS {
        assert!(by_text[&part_text(i, 1)]["in_reply_to_id"].is_null());
        for k in 2..=3 {
            let parent = &by_text[&part_text(i, k - 1)]["id"];
            assert_eq!(
                &by_text[&part_text(i, k)]["in_reply_to_id"],
                parent,
                "thread {i} part {k}"
            );
        }
    }
    eprintln!(
        "{KILLS} kills left {killed_mid_thread} threads half-way; {} parts on each outbox and \
         on Mastodon, each once and in order",
        THREADS * 3
    );
    drop(runtime);
}

fn status(data: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["status", "--format", "json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}
