//! The `oshirase` binary as an operator runs it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn oshirase() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
}

#[test]
fn a_data_directory_held_by_another_serve_gets_a_clear_error() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let repo_arg = repo.path.to_str().unwrap();
    let mut first = oshirase()
        .args([
            "serve",
            "--repo",
            repo_arg,
            "--data",
            data_arg,
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first one holds the database.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !data.path().join("oshirase.redb").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let second = oshirase()
        .args([
            "serve",
            "--repo",
            repo_arg,
            "--data",
            data_arg,
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let _ = first.kill();
    let _ = first.wait();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another oshirase process"),
        "{stderr}"
    );
    assert!(stderr.contains(data_arg), "names the directory: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_options_read_from_the_environment_and_sigterm_stops_cleanly() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "環境変数で起動"))],
    );
    let data = tempfile::tempdir().unwrap();
    let mut child = oshirase()
        .arg("serve")
        .env("OSHIRASE_REPO", &repo.path)
        .env("OSHIRASE_DATA", data.path())
        .env("OSHIRASE_LISTEN", "127.0.0.1:0")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox(data.path(), "city", "portal").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(outbox(data.path(), "city", "portal").len(), 1);
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve stops within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    // `status` reads what serve left behind.
    let out = oshirase()
        .args([
            "status",
            "--data",
            data.path().to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deliveries_by_state"]["published"], 1);
    assert!(v["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "published"));
}

#[test]
fn status_on_a_directory_without_data_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let out = oshirase()
        .args(["status", "--data", empty.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no oshirase database"));
    assert!(
        !empty.path().join("oshirase.redb").exists(),
        "status creates nothing"
    );
}

#[test]
fn serve_refuses_a_missing_repository_and_a_public_listen_address() {
    let data = tempfile::tempdir().unwrap();
    let out = oshirase()
        .args([
            "serve",
            "--repo",
            "/nonexistent/repo",
            "--data",
            data.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/repo"));
    let out = oshirase()
        .args(["serve", "--repo", ".", "--listen", "0.0.0.0:8080"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication"));
}

#[test]
fn serve_takes_a_repository_url_and_a_secrets_file() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "URL から"))],
    );
    let data = tempfile::tempdir().unwrap();
    let secrets = data.path().join("secrets.env");
    std::fs::write(&secrets, "# server secrets\nOSHIRASE_WEBHOOK_SECRET=abc\n").unwrap();
    let url = format!("file://{}", repo.path.display());
    let mut child = oshirase()
        .args([
            "serve",
            "--repo",
            &url,
            "--listen",
            "127.0.0.1:0",
            "--secrets",
            secrets.to_str().unwrap(),
        ])
        .arg("--data")
        .arg(data.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox(data.path(), "city", "portal").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(outbox(data.path(), "city", "portal").len(), 1);
    assert!(data.path().join("mirror.git").is_dir());

    std::fs::write(
        &secrets,
        "OSHIRASE_WEBHOOK_SECRET=abc\nthis line has no name\n",
    )
    .unwrap();
    let out = oshirase()
        .args([
            "serve",
            "--repo",
            &url,
            "--listen",
            "127.0.0.1:0",
            "--secrets",
            secrets.to_str().unwrap(),
        ])
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("secrets.env:2") && !stderr.contains("this line"),
        "{stderr}"
    );
}

#[test]
fn resolve_settles_an_unknown_delivery_beside_a_running_serve() {
    use oshirase::model::records::State;
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let far = chrono::Utc::now() + chrono::Duration::hours(3);
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", Some(far), "portal, news", "本文"))],
    );
    let data = tempfile::tempdir().unwrap();
    // Make an `unknown` delivery as a crash against a non-idempotent network would leave it.
    {
        let store = oshirase::store::Store::open(data.path()).unwrap();
        oshirase::sync::sync(
            &store,
            &oshirase::sync::SyncOptions {
                repo_path: &repo.path,
                branch: "main",
                content_dir: "",
                dry_run: false,
            },
        )
        .unwrap();
        for network in ["portal", "news"] {
            store
                .update_delivery("posts/a", network, |d| {
                    d.state = State::Unknown;
                    d.attempts = 1;
                    Some(vec![])
                })
                .unwrap();
        }
    }
    let data_arg = data.path().to_str().unwrap();
    let mut serve = oshirase()
        .args([
            "serve",
            "--repo",
            repo.path.to_str().unwrap(),
            "--data",
            data_arg,
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));

    let out = oshirase()
        .args([
            "resolve",
            "posts/a",
            "portal",
            "--published",
            "https://portal.example/news/1",
            "--data",
            data_arg,
            "--by",
            "kanri-taro",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Twice is refused: it is no longer unknown.
    let again = oshirase()
        .args([
            "resolve",
            "posts/a",
            "portal",
            "--not-published",
            "--data",
            data_arg,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is `published`, not `unknown`"));
    // Not published: the running service sends it again (it looks at least once a minute).
    let out = oshirase()
        .args([
            "resolve",
            "posts/a",
            "news",
            "--not-published",
            "--data",
            data_arg,
            "--by",
            "kanri-taro",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = oshirase()
        .args(["resolve", "posts/a", "news", "--data", data_arg])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "one of --published or --not-published is required"
    );

    let status = oshirase()
        .args(["status", "--data", data_arg, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "status works beside serve: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let resolved: Vec<&serde_json::Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "resolved")
        .collect();
    assert_eq!(resolved.len(), 2);
    assert_eq!(resolved[0]["actor"]["type"], "operator");
    assert_eq!(resolved[0]["actor"]["name"], "kanri-taro");
    let post = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "posts/a")
        .unwrap();
    let portal = post["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["network"] == "portal")
        .unwrap();
    assert_eq!(portal["state"], "published");
    assert_eq!(portal["remote_url"], "https://portal.example/news/1");
    let _ = serve.kill();
    let _ = serve.wait();
}
