//! The git side of syncing, driven with the git CLI: incremental syncs, renames, rewritten
//! history, a vanished branch, and identity that survives edits of `id:`.

mod common;

use std::path::Path;

use chrono::Utc;
use common::*;
use oshirase::model::records::State;
use oshirase::store::Store;
use oshirase::sync::{self, SyncOptions, SyncReport};

fn sync_once(store: &Store, repo: &Path) -> SyncReport {
    try_sync(store, repo).expect("sync")
}

fn try_sync(store: &Store, repo: &Path) -> Result<SyncReport, sync::SyncError> {
    sync::sync(
        store,
        &SyncOptions {
            repo_path: repo,
            branch: "main",
            content_dir: "",
            dry_run: false,
        },
    )
}

fn state(store: &Store, post: &str) -> Option<State> {
    store.delivery(post, "portal").unwrap().map(|d| d.state)
}

/// Marks a delivery published, as the scheduler would after the network said yes.
fn publish(store: &Store, post: &str) {
    store
        .update_delivery(post, "portal", |d| {
            d.state = State::Published;
            d.published_at = Some(Utc::now());
            Some(vec![])
        })
        .unwrap()
        .expect("delivery exists");
}

#[test]
fn a_merge_touching_one_post_parses_only_that_post() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let far = Utc::now() + chrono::Duration::days(30);
    for i in 0..60 {
        repo.write(
            &format!("posts/p{i:03}.md"),
            &post(
                &format!("お知らせ{i}"),
                Some(far),
                "portal",
                &format!("本文{i}"),
            ),
        );
    }
    repo.commit_all(CHIEF, "sixty posts");
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let cold = sync_once(&store, &repo.path);
    assert_eq!(cold.parsed, 60);
    repo.propose_and_merge(
        "staff/one",
        &[(
            "posts/p007.md",
            &post("お知らせ7", Some(far), "portal", "直した本文"),
        )],
    );
    let warm = sync_once(&store, &repo.path);
    assert_eq!(warm.parsed, 1, "only the changed file is read");
    assert_eq!(
        store
            .delivery("posts/p007", "portal")
            .unwrap()
            .unwrap()
            .text,
        "直した本文"
    );
    let again = sync_once(&store, &repo.path);
    assert_eq!(again.parsed, 0);
}

#[test]
fn a_renamed_post_keeps_its_identity_and_is_never_sent_again() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let far = Utc::now() + chrono::Duration::days(3);
    repo.propose_and_merge(
        "staff/a",
        &[
            (
                "posts/sent.md",
                &post(
                    "送信済み",
                    None,
                    "portal",
                    "もう送ったお知らせです。内容は十分に長くしておきます。",
                ),
            ),
            (
                "posts/later.md",
                &post(
                    "予定",
                    Some(far),
                    "portal",
                    "まだ送っていないお知らせです。内容は十分に長くしておきます。",
                ),
            ),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    sync_once(&store, &repo.path);
    publish(&store, "posts/sent");
    let key = store
        .delivery("posts/later", "portal")
        .unwrap()
        .unwrap()
        .key;

    repo.git(STAFF, &["checkout", "-q", "-b", "staff/move"]);
    std::fs::create_dir_all(repo.path.join("posts/2026")).unwrap();
    repo.git(STAFF, &["mv", "posts/sent.md", "posts/2026/sent.md"]);
    repo.git(STAFF, &["mv", "posts/later.md", "posts/2026/later.md"]);
    repo.git(STAFF, &["commit", "-q", "-m", "file by year"]);
    repo.git(CHIEF, &["checkout", "-q", "main"]);
    repo.git(
        CHIEF,
        &["merge", "-q", "--no-ff", "-m", "merge move", "staff/move"],
    );
    sync_once(&store, &repo.path);

    assert!(
        store.post("posts/2026/sent").unwrap().is_none(),
        "no new post for the moved file"
    );
    let sent = store.post("posts/sent").unwrap().unwrap();
    assert_eq!(sent.post.file, "posts/2026/sent.md");
    assert!(sent.post.present);
    assert_eq!(sent.deliveries[0].state, State::Published);
    let later = store.delivery("posts/later", "portal").unwrap().unwrap();
    assert_eq!(later.state, State::Scheduled);
    assert_eq!(later.key, key, "same delivery key after the move");
    // A full re-plan (the configuration changed) still knows the moved files.
    repo.propose_and_merge(
        "chief/config",
        &[("oshirase.yaml", &config(BRANCH, "3h", ""))],
    );
    sync_once(&store, &repo.path);
    assert!(store.post("posts/2026/sent").unwrap().is_none());
    assert_eq!(state(&store, "posts/sent"), Some(State::Published));
}

#[test]
fn a_force_push_never_republishes_or_forgets() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let far = Utc::now() + chrono::Duration::days(3);
    repo.propose_and_merge(
        "staff/a",
        &[
            (
                "posts/sent.md",
                &post("送信済み", None, "portal", "送ったお知らせ"),
            ),
            (
                "posts/later.md",
                &post("予定", Some(far), "portal", "予定のお知らせ"),
            ),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    sync_once(&store, &repo.path);
    publish(&store, "posts/sent");

    // Someone rewrites main: back to the first commit, then the same sent post re-added in
    // a new commit (new history, same content), and the scheduled one left out.
    let first = repo.git(CHIEF, &["rev-list", "--max-parents=0", "main"]);
    repo.git(CHIEF, &["reset", "-q", "--hard", &first]);
    repo.write(
        "posts/sent.md",
        &post("送信済み", None, "portal", "送ったお知らせ"),
    );
    repo.commit_all(CHIEF, "rewritten history");
    repo.git(CHIEF, &["reflog", "expire", "--expire=now", "--all"]);
    repo.git(CHIEF, &["gc", "-q", "--prune=now"]);
    sync_once(&store, &repo.path);

    assert_eq!(
        state(&store, "posts/sent"),
        Some(State::Published),
        "never sent again"
    );
    assert_eq!(
        state(&store, "posts/later"),
        Some(State::Cancelled),
        "gone before it was sent"
    );
    let events = store.events_for("posts/later").unwrap();
    assert!(events.iter().any(|e| e.kind == "cancelled"));
}

#[test]
fn a_vanished_branch_pauses_syncing_with_a_clear_error() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "本文"))],
    );
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    sync_once(&store, &repo.path);
    repo.git(CHIEF, &["checkout", "-q", "-b", "other"]);
    repo.git(CHIEF, &["branch", "-q", "-D", "main"]);
    let err = try_sync(&store, &repo.path).unwrap_err().to_string();
    assert!(
        err.contains("branch `main` does not exist") && err.contains("paused"),
        "{err}"
    );
    assert_eq!(
        state(&store, "posts/a"),
        Some(State::Scheduled),
        "nothing recorded is lost"
    );
    repo.git(CHIEF, &["branch", "-q", "main"]);
    sync_once(&store, &repo.path);
    assert_eq!(state(&store, "posts/a"), Some(State::Scheduled));
}

#[test]
fn changing_the_id_of_a_sent_post_does_not_send_it_again() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "本文"))],
    );
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    sync_once(&store, &repo.path);
    publish(&store, "posts/a");
    repo.propose_and_merge(
        "staff/b",
        &[(
            "posts/a.md",
            "---\nid: gomi-2026\nnetworks: [portal]\n---\n本文\n",
        )],
    );
    sync_once(&store, &repo.path);
    assert!(store.post("gomi-2026").unwrap().is_none());
    assert_eq!(state(&store, "posts/a"), Some(State::Published));
}

#[test]
fn edits_record_provenance_and_an_edit_after_publishing_is_flagged() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "最初の本文"))],
    );
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    sync_once(&store, &repo.path);
    let first_commit = store.post("posts/a").unwrap().unwrap().post.commit.unwrap();
    publish(&store, "posts/a");
    repo.propose_and_merge(
        "staff/fix",
        &[("posts/a.md", &post("A", None, "portal", "訂正した本文"))],
    );
    sync_once(&store, &repo.path);
    let v = store.post("posts/a").unwrap().unwrap();
    assert_ne!(
        v.post.commit.unwrap(),
        first_commit,
        "the landing commit of the edit"
    );
    assert!(v.post.edited_after_publish);
    assert_eq!(v.deliveries[0].state, State::Published);
    assert_eq!(
        v.deliveries[0].text, "最初の本文",
        "the record keeps what was sent"
    );
    let events = store.events_for("posts/a").unwrap();
    let edited = events
        .iter()
        .find(|e| e.kind == "edited")
        .expect("edit event");
    assert!(
        edited.detail.contains(STAFF.1) && edited.detail.contains(CHIEF.1),
        "{}",
        edited.detail
    );
    assert!(events.iter().any(|e| e.kind == "edited-after-publish"));
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Makes the loose object `oid` unreadable (its zlib stream garbled) and gives back a
/// closure that puts it back as it was.
fn garble_object(repo: &Path, oid: &str) -> impl FnOnce() {
    let file = repo.join(".git/objects").join(&oid[..2]).join(&oid[2..]);
    let original = std::fs::read(&file).expect("a loose object");
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&file, perms).unwrap();
    std::fs::write(&file, b"this is not a zlib stream").unwrap();
    move || std::fs::write(&file, original).unwrap()
}

#[test]
fn an_image_git_cannot_read_fails_the_sync_and_leaves_the_post_as_it_was() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let far = Utc::now() + chrono::Duration::days(3);
    let with_image = |body: &str| {
        post("写真つき", Some(far), "portal", body).replacen(
            "networks:",
            "images:\n  - path: ../images/a.png\n    alt: 庁舎の写真\nnetworks:",
            1,
        )
    };
    repo.write_bytes("images/a.png", PNG);
    repo.write("posts/photo.md", &with_image("はじめの本文です。"));
    repo.commit_all(CHIEF, "a post with an image");
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    sync_once(&store, &repo.path);
    assert_eq!(state(&store, "posts/photo"), Some(State::Scheduled));

    // The text changes while git cannot read the image's object.
    repo.write("posts/photo.md", &with_image("直した本文です。"));
    repo.commit_all(CHIEF, "edit the text");
    let image = repo.git(CHIEF, &["rev-parse", "HEAD:images/a.png"]);
    let restore = garble_object(&repo.path, image.trim());
    let failed = try_sync(&store, &repo.path);
    assert!(
        matches!(failed, Err(sync::SyncError::Repo(_))),
        "a read error fails the sync: {failed:?}"
    );
    let kept = store.delivery("posts/photo", "portal").unwrap().unwrap();
    assert_eq!(kept.state, State::Scheduled, "not invalid, not cancelled");
    assert_eq!(
        kept.text, "はじめの本文です。",
        "nothing of the failed sync recorded"
    );

    restore();
    sync_once(&store, &repo.path);
    let now = store.delivery("posts/photo", "portal").unwrap().unwrap();
    assert_eq!(now.state, State::Scheduled);
    assert_eq!(now.text, "直した本文です。");
}

#[test]
fn markdown_files_that_are_not_posts_are_reported_until_fixed() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let far = Utc::now() + chrono::Duration::days(3);
    repo.write("posts/empty.md", "");
    repo.write("posts/README.md", "# 投稿の書き方\n");
    repo.write(
        "posts/forgot.md",
        "title: 忘れた\nnetworks: [portal]\n---\n本文です。\n",
    );
    repo.commit_all(CHIEF, "two files that are not posts yet");
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let files = |r: &SyncReport| {
        r.not_posts
            .iter()
            .map(|p| p.file.clone())
            .collect::<Vec<_>>()
    };
    let cold = sync_once(&store, &repo.path);
    assert_eq!(files(&cold), ["posts/empty.md", "posts/forgot.md"]);

    // Nothing changed: still reported (kept in the store).
    assert_eq!(
        files(&sync_once(&store, &repo.path)),
        ["posts/empty.md", "posts/forgot.md"]
    );
    // Fixed in an incremental sync: no longer reported, and now a post.
    repo.write(
        "posts/forgot.md",
        &post("忘れた", Some(far), "portal", "本文です。"),
    );
    repo.commit_all(CHIEF, "add the dashes");
    let fixed = sync_once(&store, &repo.path);
    assert_eq!(files(&fixed), ["posts/empty.md"]);
    assert_eq!(state(&store, "posts/forgot"), Some(State::Scheduled));
    // Renamed, then removed: it follows the file, then goes.
    repo.git(CHIEF, &["mv", "posts/empty.md", "posts/blank.md"]);
    repo.commit_all(CHIEF, "rename");
    assert_eq!(files(&sync_once(&store, &repo.path)), ["posts/blank.md"]);
    repo.git(CHIEF, &["rm", "-q", "posts/blank.md"]);
    repo.commit_all(CHIEF, "remove");
    assert!(sync_once(&store, &repo.path).not_posts.is_empty());
}
