//! Hostile content repositories: what staff (or an intruder with push rights) could put on
//! the branch. `check` and `serve` must survive all of it with clear errors that name the
//! file, keep memory bounded, and go on publishing the good posts.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const BULK: usize = 3000;

/// A repository holding one good post and every kind of trouble we know of.
fn hostile_repo() -> GitRepo {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.write(
        "posts/good.md",
        &post("良い投稿", None, "portal", "ふつうのお知らせ"),
    );
    // A billion-laughs alias bomb in the front-matter.
    let mut bomb = String::from("---\ntitle: &a \"lol\"\n");
    let mut prev = "a".to_string();
    for level in 0..9 {
        let name = format!("l{level}");
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("x{level}: &{name} [{refs}]\n"));
        prev = name;
    }
    bomb.push_str("networks: [portal]\n---\nboom\n");
    repo.write("posts/bomb.md", &bomb);
    // Deep nesting.
    let deep = format!(
        "---\ntitle: {}{}\nnetworks: [portal]\n---\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    repo.write("posts/deep.md", &deep);
    // A huge post: 20 MB of body.
    let mut huge = String::from("---\ntitle: huge\nnetworks: [portal]\n---\n");
    huge.push_str(&"あ".repeat(7 * 1024 * 1024));
    repo.write("posts/huge.md", &huge);
    // Image paths that try to leave the content directory, or are absolute.
    repo.write(
        "posts/escape.md",
        "---\ntitle: escape\nnetworks: [portal]\nimages:\n  - { path: ../../../../etc/passwd, alt: x }\n---\n本文\n",
    );
    repo.write(
        "posts/absolute.md",
        "---\ntitle: abs\nnetworks: [portal]\nimages:\n  - { path: /etc/passwd, alt: x }\n---\n本文\n",
    );
    // A symlink post and a symlink image pointing out of the repository.
    std::os::unix::fs::symlink("/etc/passwd", repo.path.join("posts/passwd.md")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", repo.path.join("posts/host.png")).unwrap();
    repo.write(
        "posts/linked-image.md",
        "---\ntitle: linked\nnetworks: [portal]\nimages:\n  - { path: host.png, alt: x }\n---\n本文\n",
    );
    // A file name that is not UTF-8.
    let name = std::ffi::OsStr::from_bytes(b"posts/bad-\xff\xfe-name.md");
    std::fs::write(
        repo.path.join(name),
        "---\ntitle: bytes\nnetworks: [portal]\n---\nx\n",
    )
    .unwrap();
    // Thousands of files in one commit (valid, but not due: far in the future).
    for i in 0..BULK {
        repo.write(
            &format!("posts/bulk/p{i:04}.md"),
            &format!("---\ntitle: bulk {i}\npublish_at: 2099-01-01T09:00:00+09:00\nnetworks: [portal]\n---\n本文 {i}\n"),
        );
    }
    repo.commit_all(CHIEF, "everything at once");
    // A submodule (a gitlink entry in the tree).
    let sub = GitRepo::new("timezone: Asia/Tokyo\n");
    repo.git(
        CHIEF,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.path.to_str().unwrap(),
            "posts/sub",
        ],
    );
    repo.commit_all(CHIEF, "a submodule");
    repo
}

#[test]
fn check_survives_a_hostile_repository_with_bounded_memory() {
    let repo = hostile_repo();
    let started = Instant::now();
    // 1 GiB of address space is plenty for check; a bomb that expanded would exceed it.
    let out = Command::new("bash")
        .current_dir(&repo.path)
        .arg("-c")
        .arg(format!(
            "ulimit -v 1048576; exec {} check --format json",
            env!("CARGO_BIN_EXE_oshirase")
        ))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = v["errors"].as_array().unwrap();
    let files: Vec<&str> = errors.iter().filter_map(|e| e["file"].as_str()).collect();
    for bad in [
        "posts/bomb.md",
        "posts/deep.md",
        "posts/huge.md",
        "posts/escape.md",
        "posts/absolute.md",
        "posts/linked-image.md",
    ] {
        assert!(files.contains(&bad), "{bad} has an error: {errors:?}");
    }
    assert!(!files.contains(&"posts/good.md"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e["code"] == "file-name"),
        "a non-UTF-8 file name is reported: {errors:?}"
    );
    let posts = v["posts"].as_array().unwrap();
    assert!(
        posts.len() > BULK,
        "the bulk posts are all read: {}",
        posts.len()
    );
    for e in errors {
        let message = e["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty() && message.len() < 2000, "{e}");
        assert!(
            !message.contains("root:"),
            "no file outside the repository leaks: {e}"
        );
    }
    eprintln!(
        "check: {} files, {} errors, {took:?}",
        v["files"],
        errors.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_survives_a_hostile_repository_and_publishes_the_good_post() {
    let repo = hostile_repo();
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(60), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 1)
        .await,
        "the good post went out"
    );
    let line = &outbox(data.path(), "city", "portal")[0];
    assert_eq!(line["post_id"], "posts/good");
    let state = |id: &str| {
        service
            .store
            .post(id)
            .unwrap()
            .map(|v| oshirase::model::records::post_state(&v.post, &v.deliveries).as_str())
    };
    for bad in [
        "posts/bomb",
        "posts/deep",
        "posts/huge",
        "posts/escape",
        "posts/linked-image",
    ] {
        assert_eq!(state(bad), Some("invalid"), "{bad}");
    }
    assert_eq!(state("posts/bulk/p0042"), Some("scheduled"));
    assert_eq!(state("posts/passwd"), None, "a symlink is not content");
    let (code, health) = get_json(service.addr, "/healthz");
    assert_eq!(code, 200, "{health}");
    eprintln!("serve: synced and published in {:?}", started.elapsed());
    service.shutdown().await;
}
