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
