//! A merged post travels from git to the outbox: on time, exactly once, across restarts,
//! and the plan follows the branch (removal cancels, overdue is missed, bad posts are
//! invalid without stopping the others).

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_post_is_published_once_at_its_time() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let due = Utc::now() + chrono::Duration::seconds(5);
    repo.propose_and_merge(
        "staff/gomi",
        &[(
            "posts/gomi.md",
            &post(
                "ごみ収集",
                Some(due),
                "portal, news",
                "日時：12月20日\n場所：区役所\n\n#足立区",
            ),
        )],
    );
    let service = start(&repo.path, data.path()).await;
    assert_eq!(
        delivery_state(&service, "posts/gomi", "portal").as_deref(),
        Some("scheduled")
    );
    assert!(
        outbox(data.path(), "city", "portal").is_empty(),
        "nothing before its time"
    );

    let published = wait_for(Duration::from_secs(15), || {
        outbox(data.path(), "city", "portal").len() == 1
    })
    .await;
    assert!(published, "published to the outbox");
    let line = &outbox(data.path(), "city", "portal")[0];
    let at = chrono::DateTime::parse_from_rfc3339(line["at"].as_str().unwrap()).unwrap();
    let lag = (at.with_timezone(&Utc) - due).num_milliseconds();
    assert!(
        (0..1000).contains(&lag),
        "published {lag} ms after its time"
    );
    assert_eq!(line["text"], "日時：12月20日\n場所：区役所\n\n#足立区");
    assert_eq!(line["post_id"], "posts/gomi");
    assert_eq!(line["account"], "city");
    assert_eq!(line["network"], "portal");

    assert!(
        wait_for(Duration::from_secs(5), || outbox(
            data.path(),
            "city",
            "news"
        )
        .len()
            == 1)
        .await
    );
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service,
            "posts/gomi",
            "news"
        )
        .as_deref()
            == Some("published"))
        .await
    );
    // The record carries provenance: proposed by staff, approved by the supervisor.
    let view = service.store.post("posts/gomi").unwrap().unwrap();
    assert_eq!(view.post.proposer.unwrap().email, STAFF.1);
    assert_eq!(view.post.approver.unwrap().email, CHIEF.1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        outbox(data.path(), "city", "portal").len(),
        1,
        "never twice"
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_loses_nor_repeats() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let soon = Utc::now() + chrono::Duration::seconds(2);
    let later = Utc::now() + chrono::Duration::seconds(6);
    repo.propose_and_merge(
        "staff/two",
        &[
            (
                "posts/soon.md",
                &post("すぐ", Some(soon), "portal", "一つ目"),
            ),
            (
                "posts/later.md",
                &post("あとで", Some(later), "portal", "二つ目"),
            ),
        ],
    );
    let first = start(&repo.path, data.path()).await;
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
    first.shutdown().await;

    // While stopped, nothing is sent; after the restart the scheduled post still goes out
    // and the published one is not repeated.
    let second = start(&repo.path, data.path()).await;
    assert_eq!(
        delivery_state(&second, "posts/soon", "portal").as_deref(),
        Some("published")
    );
    assert_eq!(
        delivery_state(&second, "posts/later", "portal").as_deref(),
        Some("scheduled")
    );
    assert!(
        wait_for(Duration::from_secs(10), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 2)
        .await
    );
    second.shutdown().await;

    let third = start(&repo.path, data.path()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = outbox(data.path(), "city", "portal");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["text"], "一つ目");
    assert_eq!(lines[1]["text"], "二つ目");
    third.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_merges_are_picked_up_while_running_and_removal_cancels() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;

    let far = Utc::now() + chrono::Duration::hours(3);
    repo.propose_and_merge(
        "staff/event",
        &[(
            "posts/event.md",
            &post("行事", Some(far), "portal", "区民まつり"),
        )],
    );
    // The poll interval is 30 s, so this can only be the file-system watch.
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service,
            "posts/event",
            "portal"
        )
        .as_deref()
            == Some("scheduled"))
        .await,
        "the new merge is seen within seconds"
    );

    repo.remove_and_merge("staff/withdraw", "posts/event.md");
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service,
            "posts/event",
            "portal"
        )
        .as_deref()
            == Some("cancelled"))
        .await
    );
    let events = service.store.events_for("posts/event").unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"landed") && kinds.contains(&"removed") && kinds.contains(&"cancelled"),
        "{kinds:?}"
    );
    service.shutdown().await;
    assert!(outbox(data.path(), "city", "portal").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_post_beyond_max_lateness_is_missed() {
    let repo = GitRepo::new(&config(BRANCH, "1h", ""));
    let data = tempfile::tempdir().unwrap();
    let long_ago = Utc::now() - chrono::Duration::hours(3);
    let recently = Utc::now() - chrono::Duration::minutes(10);
    repo.propose_and_merge(
        "staff/old",
        &[
            (
                "posts/old.md",
                &post("古い", Some(long_ago), "portal", "三時間前"),
            ),
            (
                "posts/recent.md",
                &post("少し前", Some(recently), "portal", "十分前"),
            ),
        ],
    );
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service,
            "posts/old",
            "portal"
        )
        .as_deref()
            == Some("missed"))
        .await
    );
    // Late within max_lateness still goes out.
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service,
            "posts/recent",
            "portal"
        )
        .as_deref()
            == Some("published"))
        .await
    );
    let d = service
        .store
        .delivery("posts/old", "portal")
        .unwrap()
        .unwrap();
    assert!(d.last_error.unwrap().contains("max_lateness"));
    let lines = outbox(data.path(), "city", "portal");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["post_id"], "posts/recent");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_posts_are_invalid_with_file_and_line_and_the_rest_publish() {
    // No timezone: a publish_at without an offset cannot be placed in time.
    let config =
        "max_lateness: 2h\naccounts:\n  city:\n    networks:\n      portal: { type: outbox }\n";
    let repo = GitRepo::new(config);
    let data = tempfile::tempdir().unwrap();
    repo.propose_and_merge(
        "staff/mixed",
        &[
            ("posts/good.md", &post("良い", None, "portal", "問題なし")),
            ("posts/yaml.md", "---\ntitle: 壊れた\nnetworks: [portal\n---\n本文\n"),
            ("posts/typo.md", "---\ntitle: 誤字\npublish-at: 2026-12-20T19:00:00+09:00\nnetworks: [portal]\n---\n本文\n"),
            ("posts/offset.md", "---\ntitle: 時差なし\nnetworks: [portal]\npublish_at: \"2026-12-20 19:00\"\n---\n本文\n"),
            ("posts/network.md", "---\ntitle: 知らない先\nnetworks: [portal, instagram]\n---\n本文\n"),
            ("posts/date.md", "---\ntitle: 日付\nnetworks: [portal]\npublish_at: 2026-02-30T19:00:00+09:00\n---\n本文\n"),
            ("README.md", "# 説明\nfront-matter がないので投稿ではありません\n"),
        ],
    );
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(5), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 1)
        .await
    );
    assert_eq!(
        outbox(data.path(), "city", "portal")[0]["post_id"],
        "posts/good"
    );

    let (status, body) = get_json(service.addr, "/api/posts?state=invalid");
    assert_eq!(status, 200);
    let posts = body["posts"].as_array().unwrap();
    let problem = |id: &str| -> (String, u64, String) {
        let p = posts
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("{id} listed: {body}"));
        assert_eq!(p["state"], "invalid");
        let e = &p["errors"][0];
        (
            e["file"].as_str().unwrap().into(),
            e["line"].as_u64().unwrap(),
            e["message"].as_str().unwrap().into(),
        )
    };
    let (file, line, _) = problem("posts/yaml");
    assert_eq!((file.as_str(), line), ("posts/yaml.md", 4));
    let (_, line, message) = problem("posts/typo");
    assert_eq!(line, 3);
    assert!(message.contains("publish-at"), "{message}");
    let (_, line, message) = problem("posts/offset");
    assert_eq!(line, 4);
    assert!(message.contains("timezone"), "{message}");
    let (_, line, message) = problem("posts/network");
    assert_eq!(line, 3);
    assert!(message.contains("instagram"), "{message}");
    let (_, line, _) = problem("posts/date");
    assert_eq!(line, 4);
    assert_eq!(posts.len(), 5, "README.md is not a post: {body}");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixing_a_broken_post_schedules_it() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let far = Utc::now() + chrono::Duration::hours(5);
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", Some(far), "portal", "本文"))],
    );
    let service = start(&repo.path, data.path()).await;
    assert_eq!(
        delivery_state(&service, "posts/a", "portal").as_deref(),
        Some("scheduled")
    );

    // A broken edit blocks the unsent delivery rather than sending the old version.
    repo.propose_and_merge(
        "staff/b",
        &[("posts/a.md", "---\ntitle: A\nnetworks: [portal\n---\n")],
    );
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service, "posts/a", "portal"
        )
        .as_deref()
            == Some("invalid"))
        .await
    );
    repo.propose_and_merge(
        "staff/c",
        &[("posts/a.md", &post("A", Some(far), "portal", "直した本文"))],
    );
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service, "posts/a", "portal"
        )
        .as_deref()
            == Some("scheduled"))
        .await
    );
    let d = service
        .store
        .delivery("posts/a", "portal")
        .unwrap()
        .unwrap();
    assert_eq!(d.text, "直した本文");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_come_from_git_objects_not_the_work_tree() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/a.md",
            &post("A", None, "portal", "コミットされた本文"),
        )],
    );
    // Uncommitted edits and files in the work tree are not what was approved.
    repo.write("posts/a.md", &post("A", None, "portal", "未コミットの本文"));
    repo.write("posts/draft.md", &post("下書き", None, "portal", "下書き"));
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(5), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 1)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = outbox(data.path(), "city", "portal");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["text"], "コミットされた本文");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_push_in_merge_mode_is_held_with_the_reason() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    repo.write(
        "posts/direct.md",
        &post("直接", None, "portal", "レビューなし"),
    );
    repo.commit_all(STAFF, "push straight to main");
    // The supervisor merging their own change is not four eyes either.
    repo.git(CHIEF, &["checkout", "-q", "-b", "chief/own"]);
    repo.write(
        "posts/own.md",
        &post("自分で", None, "portal", "自分で承認"),
    );
    repo.commit_all(CHIEF, "chief's own post");
    repo.git(CHIEF, &["checkout", "-q", "main"]);
    repo.git(
        CHIEF,
        &["merge", "-q", "--no-ff", "-m", "merge own", "chief/own"],
    );
    let service = start(&repo.path, data.path()).await;
    let direct = service
        .store
        .delivery("posts/direct", "portal")
        .unwrap()
        .unwrap();
    assert_eq!(direct.state.as_str(), "held");
    assert!(direct.last_error.unwrap().contains("directly"));
    let own = service
        .store
        .delivery("posts/own", "portal")
        .unwrap()
        .unwrap();
    assert_eq!(own.state.as_str(), "held");
    assert!(own.last_error.unwrap().contains("also proposed"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(outbox(data.path(), "city", "portal").is_empty());
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_swaps_every_network_for_an_outbox() {
    let extra = "      x: { type: x, credentials: X_CITY }\n";
    let repo = GitRepo::new(&config(BRANCH, "2h", extra));
    let data = tempfile::tempdir().unwrap();
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "x, portal", "短いお知らせ"))],
    );
    // Without X's credential and without --dry-run, X sends nothing: its delivery waits
    // with a reason naming what is missing and how to rehearse instead.
    let service = oshirase::cli::serve::Service::start(settings(&repo.path, data.path()))
        .await
        .unwrap();
    let refused = || {
        service
            .store
            .delivery("posts/a", "x")
            .unwrap()
            .and_then(|d| d.last_error)
    };
    assert!(wait_for(Duration::from_secs(5), || refused().is_some()).await);
    let message = refused().unwrap_or_default();
    assert!(
        message.contains("networks.x")
            && message.contains("X_CITY_")
            && message.contains("--dry-run"),
        "{message}"
    );
    service.shutdown().await;

    // The rehearsal starts from a fresh store: the real run above parked X's delivery.
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.dry_run = true;
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || outbox(data.path(), "city", "x")
            .len()
            == 1)
        .await
    );
    assert_eq!(outbox(data.path(), "city", "x")[0]["text"], "短いお知らせ");
    // A rehearsal still holds each network to its own limits: 300 characters are too many
    // for X even though its stand-in is an outbox.
    repo.propose_and_merge(
        "staff/b",
        &[("posts/long.md", &post("B", None, "x", &"長".repeat(300)))],
    );
    service.request_sync();
    assert!(
        wait_for(Duration::from_secs(10), || delivery_state(
            &service,
            "posts/long",
            "x"
        )
        .as_deref()
            == Some("invalid"))
        .await,
        "{:?}",
        service.store.delivery("posts/long", "x").unwrap()
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_read_from_git_and_unsafe_paths_make_the_post_invalid() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let png: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    std::fs::create_dir_all(repo.path.join("posts/images")).unwrap();
    std::fs::write(repo.path.join("posts/images/map.png"), png).unwrap();
    repo.propose_and_merge(
        "staff/img",
        &[
            ("posts/map.md", "---\nnetworks: [portal]\nimages:\n  - { path: images/map.png, alt: 地図 }\n---\n会場の地図\n"),
            ("posts/escape.md", "---\nnetworks: [news]\nimages:\n  - { path: ../../../etc/passwd, alt: x }\n---\n外を指す\n"),
        ],
    );
    // A file only in the work tree is not content.
    std::fs::write(repo.path.join("posts/images/uncommitted.png"), png).unwrap();
    repo.write(
        "posts/untracked-image.md",
        "---\nnetworks: [news]\nimages:\n  - { path: images/uncommitted.png, alt: x }\n---\nb\n",
    );
    repo.commit_all(STAFF, "wip");
    repo.git(
        STAFF,
        &["rm", "-q", "--cached", "posts/images/uncommitted.png"],
    );
    repo.git(STAFF, &["commit", "-q", "-m", "drop image"]);
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(5), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 1)
        .await
    );
    let image = &outbox(data.path(), "city", "portal")[0]["images"][0];
    assert_eq!(image["path"], "posts/images/map.png");
    assert_eq!(image["type"], "image/png");
    assert_eq!(image["alt"], "地図");
    assert_eq!(image["bytes"], png.len());
    let escape = service.store.post("posts/escape").unwrap().unwrap();
    assert_eq!(escape.post.errors[0].code, "image-path");
    let missing = service
        .store
        .post("posts/untracked-image")
        .unwrap()
        .unwrap();
    assert_eq!(missing.post.errors[0].code, "image-missing");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(outbox(data.path(), "city", "news").is_empty());
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forge_squash_merge_in_merge_mode_is_held_with_a_helpful_reason() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    // What GitHub's "Squash and merge" leaves: one commit, authored by the proposer,
    // committed by GitHub, its subject ending in the pull request number.
    repo.write(
        "posts/squashed.md",
        &post("スカッシュ", None, "portal", "本文"),
    );
    repo.git(STAFF, &["add", "-A"]);
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            "お知らせを追加 (#42)",
        ])
        .current_dir(&repo.path)
        .env("GIT_AUTHOR_NAME", STAFF.0)
        .env("GIT_AUTHOR_EMAIL", STAFF.1)
        .env("GIT_COMMITTER_NAME", "GitHub")
        .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
        .output()
        .unwrap();
    assert!(out.status.success());
    let service = start(&repo.path, data.path()).await;
    let d = service
        .store
        .delivery("posts/squashed", "portal")
        .unwrap()
        .unwrap();
    assert_eq!(d.state.as_str(), "held");
    let reason = d.last_error.unwrap();
    assert!(
        reason.contains("squash or rebase merge of #42") && reason.contains("mode: branch"),
        "{reason}"
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_retract_deletes_what_went_out_and_an_unapproved_one_does_nothing() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let far = Utc::now() + chrono::Duration::hours(5);
    repo.propose_and_merge(
        "staff/a",
        &[
            (
                "posts/wrong.md",
                &post("誤り", None, "portal, news", "誤った日付のお知らせ"),
            ),
            (
                "posts/later.md",
                &post("予定", Some(far), "portal", "まだ送らない"),
            ),
        ],
    );
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(5), || outbox(
            data.path(),
            "city",
            "news"
        )
        .len()
            == 1)
        .await
    );
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service,
            "posts/wrong",
            "portal"
        )
        .as_deref()
            == Some("published"))
        .await
    );

    // Pushed straight to main, a retract is not approved: nothing is deleted.
    repo.write(
        "posts/wrong.md",
        "---\ntitle: 誤り\nnetworks: [portal, news]\nretract: true\n---\n誤った日付のお知らせ\n",
    );
    repo.commit_all(STAFF, "retract without review");
    assert!(
        wait_for(Duration::from_secs(5), || {
            service
                .store
                .events_for("posts/wrong")
                .unwrap()
                .iter()
                .any(|e| e.kind == "retract-held")
        })
        .await
    );
    assert_eq!(
        delivery_state(&service, "posts/wrong", "portal").as_deref(),
        Some("published")
    );

    // Through a merge by an approver it deletes from every network and cancels the rest.
    repo.propose_and_merge("staff/retract", &[
        ("posts/wrong.md", "---\ntitle: 誤り\nnetworks: [portal, news]\nretract: true\n---\n誤った日付のお知らせです\n"),
        ("posts/later.md", "---\ntitle: 予定\nnetworks: [portal]\nretract: true\n---\nまだ送らない\n"),
    ]);
    for network in ["portal", "news"] {
        assert!(
            wait_for(Duration::from_secs(5), || delivery_state(
                &service,
                "posts/wrong",
                network
            )
            .as_deref()
                == Some("retracted"))
            .await,
            "{network} retracted"
        );
        let lines = outbox(data.path(), "city", network);
        let retraction = lines
            .iter()
            .find(|l| l.get("retracts").is_some())
            .expect("a retraction line");
        assert_eq!(retraction["retracts"], lines[0]["key"]);
    }
    assert_eq!(
        delivery_state(&service, "posts/later", "portal").as_deref(),
        Some("cancelled")
    );
    let events = service.store.events_for("posts/wrong").unwrap();
    let requested = events
        .iter()
        .find(|e| e.kind == "retract-requested")
        .unwrap();
    assert_eq!(
        requested.actor,
        oshirase::model::records::Actor::Git(format!("{} <{}>", CHIEF.0, CHIEF.1))
    );
    service.shutdown().await;

    // A restart repeats nothing.
    let again = start(&repo.path, data.path()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        outbox(data.path(), "city", "portal").len(),
        2,
        "one post, one retraction"
    );
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_spread_over_the_networks_budget_not_rejected() {
    let extra = "      paced: { type: outbox, rate: { requests: 2, per: 2s } }\n";
    let repo = GitRepo::new(&config(BRANCH, "2h", extra));
    let files: Vec<(String, String)> = (0..6)
        .map(|i| {
            (
                format!("posts/p{i}.md"),
                post(&format!("P{i}"), None, "paced", &format!("本文{i}")),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.propose_and_merge("staff/burst", &refs);
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(15), || outbox(
            data.path(),
            "city",
            "paced"
        )
        .len()
            == 6)
        .await
    );
    let mut times: Vec<chrono::DateTime<Utc>> = outbox(data.path(), "city", "paced")
        .iter()
        .map(|l| {
            chrono::DateTime::parse_from_rfc3339(l["at"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        })
        .collect();
    times.sort();
    let since = |i: usize| (times[i] - times[0]).num_milliseconds();
    // Two at once (the burst), then one a second: 2 per 2 s.
    assert!(since(1) < 500, "{times:?}");
    assert!(since(2) >= 800, "the third waits for the budget: {times:?}");
    assert!(since(5) >= 3_500, "six take about four seconds: {times:?}");
    for i in 0..6 {
        let id = format!("posts/p{i}");
        assert!(
            wait_for(Duration::from_secs(5), || delivery_state(
                &service, &id, "paced"
            )
            .as_deref()
                == Some("published"))
            .await
        );
        let d = service.store.delivery(&id, "paced").unwrap().unwrap();
        assert_eq!(d.attempts, 1, "waiting for the budget is not an attempt");
    }
    service.shutdown().await;
}
