//! A damaged or missing database must never make `serve` start from nothing and publish
//! everything again: it refuses to start and says what to do. And a backup taken while the
//! service runs restores to a store that knows everything that went out.

mod common;

use std::time::Duration;

use common::*;

/// A data directory whose store says one post went out to the outbox.
async fn published_once() -> (GitRepo, tempfile::TempDir) {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("お知らせ", None, "portal", "一度だけ"))],
    );
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(10), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 1)
        .await
    );
    service.shutdown().await;
    (repo, data)
}

async fn start_error(repo: &GitRepo, data: &std::path::Path) -> String {
    match oshirase::cli::serve::Service::start(settings(&repo.path, data)).await {
        Ok(service) => {
            // It started: it must at least not publish again.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let lines = outbox(data, "city", "portal").len();
            service.shutdown().await;
            panic!("started on a damaged store ({lines} outbox lines)");
        }
        Err(e) => e.to_string(),
    }
}

fn db(data: &std::path::Path) -> std::path::PathBuf {
    data.join(oshirase::store::DB_FILE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_database_is_refused_and_nothing_is_sent_again() {
    let (repo, data) = published_once().await;
    let len = std::fs::metadata(db(data.path())).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(db(data.path()))
        .unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let e = start_error(&repo, data.path()).await;
    assert!(e.contains("oshirase.redb"), "{e}");
    assert_eq!(outbox(data.path(), "city", "portal").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_overwritten_with_garbage_is_refused() {
    let (repo, data) = published_once().await;
    let mut bytes = std::fs::read(db(data.path())).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b = 0xA5;
    }
    std::fs::write(db(data.path()), &bytes).unwrap();
    let e = start_error(&repo, data.path()).await;
    assert!(e.contains("oshirase.redb"), "{e}");
    assert_eq!(outbox(data.path(), "city", "portal").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_in_a_used_data_directory_is_refused() {
    let (repo, data) = published_once().await;
    std::fs::remove_file(db(data.path())).unwrap();
    let e = start_error(&repo, data.path()).await;
    assert!(
        e.contains("oshirase.redb") && e.contains("backup"),
        "says what is missing and what to do: {e}"
    );
    assert_eq!(outbox(data.path(), "city", "portal").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_what_went_out() {
    let (repo, data) = published_once().await;
    let service = start(&repo.path, data.path()).await;
    let backup = data.path().join("backup.redb");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["backup", "--data"])
        .arg(data.path())
        .arg("--to")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("1 posts, 1 deliveries"), "{said}");
    service.shutdown().await;

    // Disaster: the database is lost. Restore the backup into a fresh directory.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&backup, db(restored.path())).unwrap();
    let outbox_dir = restored.path().join("outbox").join("city");
    std::fs::create_dir_all(&outbox_dir).unwrap();
    let service = start(&repo.path, restored.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d = service
        .store
        .delivery("posts/a", "portal")
        .unwrap()
        .unwrap();
    assert_eq!(d.state.as_str(), "published");
    assert!(
        outbox(restored.path(), "city", "portal").is_empty(),
        "the restored store knows it went out: nothing is sent again"
    );
    service.shutdown().await;

    // A backup never overwrites.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["backup", "--data"])
        .arg(data.path())
        .arg("--to")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}
