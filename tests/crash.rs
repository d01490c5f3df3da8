//! Exactly once through crashes: `serve` is killed with SIGKILL at random moments while
//! 200 posts fall due, restarted each time, and in the end every delivery reached its
//! outbox exactly once (the outbox is idempotent by delivery key, like Mastodon or LINE).

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use rand::Rng;

const POSTS: usize = 200;
const KILLS: usize = 20;

fn serve(repo: &std::path::Path, data: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
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
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    // Spread the due times over the first few seconds of the kills.
    let start = Utc::now() + chrono::Duration::seconds(2);
    for i in 0..POSTS {
        let at = start + chrono::Duration::milliseconds((i as i64 * 4000) / POSTS as i64);
        repo.write(
            &format!("posts/p{i:03}.md"),
            &post(
                &format!("お知らせ{i}"),
                Some(at),
                "portal, news",
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
        let mut child = serve(&repo.path, data.path());
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        if keys(data.path()).len() > before {
            killed_with_work_in_flight += 1;
        }
    }
    // A last, undisturbed run finishes the work.
    let mut child = serve(&repo.path, data.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys(data.path()).len() < POSTS * 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
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

    let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["status", "--format", "json", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["deliveries_by_state"]["published"],
        POSTS * 2,
        "{}",
        v["deliveries_by_state"]
    );
    eprintln!(
        "{KILLS} kills, {killed_with_work_in_flight} while publishing; {} deliveries, none twice",
        POSTS * 2
    );
}
