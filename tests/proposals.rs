//! The desk's proposals against real git: `POST /api/proposals` writes one commit, authored
//! by the signed-in person and committed by oshirase, on a new branch `proposals/…` of a
//! local repository, or pushes it to a bare remote over `file://` or a local git daemon; a
//! configured forge API (fake GitHub, GitLab and Gitea) gets the pull request. The publish
//! branch never moves; bad input writes nothing; a proposal reopens and takes a new commit.

mod common;

#[path = "fakes/forges.rs"]
mod fake_forges;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::desk::*;
use common::*;
use oshirase::web::auth::people::Role;
use serde_json::{json, Value};

const CALENDAR_PNG: &[u8] =
    include_bytes!("../content-example/posts/images/gomi-nenmatsu-calendar.png");
const X_NETWORK: &str = "      x: { type: x, credentials: X_CITY }\n";
const HANAKO: &str = "hanako@city.example.jp";
const JIRO: &str = "jiro@city.example.jp";

/// Hanako (staff, 清掃課) and Jiro (staff, 防災課).
const PEOPLE: &[Person] = &[
    (HANAKO, "山田 花子", "環境部 清掃課", Role::Staff),
    (JIRO, "鈴木 次郎", "防災課", Role::Staff),
];

async fn start(settings: oshirase::cli::serve::ServeSettings) -> oshirase::cli::serve::Service {
    start_with_people(settings, PEOPLE).await
}

fn draft() -> Value {
    json!({
        "title": "年末年始のごみ収集 Gomi",
        "networks": ["x", "portal"],
        "department": "環境部 清掃課",
        "publish_at": "2026-12-28 19:00",
        "text": { "portal": "ポータル向けの長い本文です。" },
        "body": "12月29日から1月3日まで、ごみ収集はお休みです。 #ごみ\n詳しくは www.city.example.jp/gomi へ",
        "images": [{
            "name": "calendar.png",
            "alt": "年末年始の収集日カレンダー",
            "data": base64::engine::general_purpose::STANDARD.encode(CALENDAR_PNG),
        }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_is_one_commit_by_the_signed_in_person_on_a_branch_of_its_own() {
    let repo = GitRepo::new(&config(BRANCH, "2h", X_NETWORK));
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    let data = tempfile::tempdir().unwrap();
    let service = start(settings(&repo.path, data.path())).await;
    let addr = service.addr;
    let hanako = blocking(move || Browser::sign_in(addr, HANAKO)).await;

    let (status, preview) = hanako.send("POST", "/api/preview", &draft(), &[]);
    assert_eq!(status, 200, "{preview}");
    let (status, made) = hanako.send("POST", "/api/proposals", &draft(), &[]);
    assert_eq!(status, 201, "{made}");
    let branch = made["branch"].as_str().unwrap().to_string();
    let file = made["file"].as_str().unwrap().to_string();
    assert_eq!(file, preview["file"].as_str().unwrap());
    assert_eq!(
        branch,
        format!("proposals/{}", file[6..].trim_end_matches(".md"))
    );
    // A local repository without a known forge: no link.
    assert_eq!(made["url"], Value::Null);

    let p = &repo.path;
    assert_eq!(
        git(p, &["rev-parse", "main"]),
        main_before,
        "the publish branch never moves"
    );
    assert_eq!(
        git(p, &["rev-parse", &branch]),
        made["commit"].as_str().unwrap()
    );
    assert_eq!(
        git(p, &["rev-parse", &format!("{branch}^")]),
        main_before,
        "one commit on main"
    );
    assert_eq!(
        git(p, &["log", "-1", "--format=%an <%ae>", &branch]),
        format!("山田 花子 <{HANAKO}>")
    );
    assert_eq!(
        git(p, &["log", "-1", "--format=%cn <%ce>", &branch]),
        "oshirase <oshirase@localhost>"
    );
    let files = git(p, &["diff", "--name-only", "main", &branch]);
    assert_eq!(files, format!("{file}\nposts/images/calendar.png"));
    let written = git(p, &["show", &format!("{branch}:{file}")]);
    let d: oshirase::content::draft::Draft = serde_json::from_value(draft()).unwrap();
    let today = chrono::NaiveDate::parse_from_str(&file[6..16], "%Y-%m-%d").unwrap();
    assert_eq!(
        format!("{written}\n"),
        d.to_file(today).unwrap().text,
        "the file a person would write"
    );
    let image = Command::new("git")
        .args(["show", &format!("{branch}:posts/images/calendar.png")])
        .current_dir(p)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(image, CALENDAR_PNG);

    // Listed as Hanako's; Jiro sees it too, as not his.
    let (status, list) = hanako.get("/api/proposals");
    assert_eq!(status, 200, "{list}");
    let mine = &list["proposals"][0];
    assert_eq!(mine["branch"], branch.as_str());
    assert_eq!(mine["commit"], made["commit"]);
    assert_eq!(
        mine["author"],
        json!({ "name": "山田 花子", "email": HANAKO })
    );
    assert_eq!(mine["posts"], json!([file]));
    assert_eq!(mine["title"], "年末年始のごみ収集 Gomi");
    assert_eq!(mine["mine"], true);
    let jiro = blocking(move || Browser::sign_in(addr, JIRO)).await;
    let (_, theirs) = jiro.get("/api/proposals");
    assert_eq!(theirs["proposals"][0]["mine"], false);

    // Reopened, it is the draft that was sent, images and all.
    let id = mine["id"].as_str().unwrap().to_string();
    let (status, opened) = hanako.get(&format!("/api/proposals/{id}"));
    assert_eq!(status, 200, "{opened}");
    let mut sent = draft();
    sent["images"][0]["data"] =
        json!(base64::engine::general_purpose::STANDARD.encode(CALENDAR_PNG));
    for key in ["title", "networks", "department", "publish_at", "images"] {
        assert_eq!(opened["draft"][key], sent[key], "{key}");
    }
    let trimmed = |v: &Value| v.as_str().unwrap().trim_end().to_string();
    assert_eq!(trimmed(&opened["draft"]["body"]), trimmed(&sent["body"]));
    assert_eq!(
        trimmed(&opened["draft"]["text"]["portal"]),
        trimmed(&sent["text"]["portal"])
    );
    // Proposed again as it opened, it is the very same file: nothing lost either way.
    let reopened: oshirase::content::draft::Draft =
        serde_json::from_value(opened["draft"].clone()).unwrap();
    assert_eq!(
        reopened.to_file_at(file.clone()).unwrap().text,
        format!("{written}\n")
    );

    // Jiro cannot change Hanako's proposal; she can, from the commit she opened.
    let mut edited = opened["draft"].clone();
    edited["body"] = json!("12月29日から1月3日まで、ごみ収集はお休みです。");
    let path = format!("/api/proposals/{id}");
    let (status, refused) = jiro.send("PUT", &path, &edited, &[]);
    assert_eq!(
        (status, refused["field"].as_str()),
        (403, Some("branch")),
        "{refused}"
    );
    let first = made["commit"].as_str().unwrap().to_string();
    let (status, updated) = hanako.send("PUT", &path, &edited, &[("if-match", &first)]);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["file"], file.as_str(), "the file and its id stay");
    assert_eq!(git(p, &["rev-parse", &format!("{branch}^")]), first);
    assert!(git(p, &["show", &format!("{branch}:{file}")]).ends_with("ごみ収集はお休みです。"));
    // A second tab still holding the first commit is refused, not silently overwritten.
    let (status, stale) = hanako.send("PUT", &path, &edited, &[("if-match", &first)]);
    assert_eq!(
        (status, stale["field"].as_str()),
        (409, Some("commit")),
        "{stale}"
    );

    // Merged by the chief, it is no longer open, and serve plans the texts it previewed.
    repo.git(CHIEF, &["merge", "--no-ff", "-q", "-m", "承認", &branch]);
    service.request_sync();
    let id_post = file.trim_end_matches(".md").to_string();
    let store = service.store.clone();
    let idp = id_post.clone();
    assert!(
        wait_for(Duration::from_secs(10), || store
            .delivery(&idp, "x")
            .ok()
            .flatten()
            .is_some())
        .await
    );
    let x = service.store.delivery(&id_post, "x").unwrap().unwrap();
    assert!(x.text.starts_with("12月29日から1月3日まで"), "{}", x.text);
    let (_, after) = hanako.get("/api/proposals");
    assert_eq!(after["proposals"], json!([]));
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proposals_are_refused_with_the_field_named_and_write_nothing() {
    let repo = GitRepo::new(&config(BRANCH, "2h", X_NETWORK));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "既存"))],
    );
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    let data = tempfile::tempdir().unwrap();
    let service = start(settings(&repo.path, data.path())).await;
    let addr = service.addr;
    let hanako = blocking(move || Browser::sign_in(addr, HANAKO)).await;
    let refs_before = branches(&repo.path);

    let field = |status: u16, body: &Value| (status, body["field"].as_str().map(str::to_string));
    let with = |key: &str, value: Value| {
        let mut d = draft();
        d[key] = value;
        d
    };
    // A forged author is an unknown field, never a commit in someone else's name.
    let (s, b) = hanako.send(
        "POST",
        "/api/proposals",
        &with("author", json!("Sato <koho-chief@city.example.jp>")),
        &[],
    );
    assert_eq!(s, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("author"), "{b}");
    // Ids that would make a path.
    for id in ["../../etc/passwd", "/abs", "a\u{0}b", "posts/../x", "CON/"] {
        let (s, b) = hanako.send("POST", "/api/proposals", &with("id", json!(id)), &[]);
        assert_eq!(field(s, &b), (400, Some("id".into())), "{id}: {b}");
    }
    // An image that is not an image, or a name that is a path.
    let mut fake = draft();
    fake["images"][0]["data"] =
        json!(base64::engine::general_purpose::STANDARD.encode(b"#!/bin/sh\nrm -rf /\n"));
    let (s, b) = hanako.send("POST", "/api/proposals", &fake, &[]);
    assert_eq!(s, 422, "{b}");
    assert!(b["errors"].to_string().contains("calendar.png"), "{b}");
    let mut path_name = draft();
    path_name["images"][0]["name"] = json!("../../oshirase.yaml.png");
    let (s, b) = hanako.send("POST", "/api/proposals", &path_name, &[]);
    assert_eq!(field(s, &b), (400, Some("images[0].name".into())), "{b}");
    // Too large an image, decoded.
    let mut big = draft();
    big["images"][0]["data"] =
        json!(base64::engine::general_purpose::STANDARD.encode(vec![0u8; 6 * 1024 * 1024]));
    let (s, b) = hanako.send("POST", "/api/proposals", &big, &[]);
    assert_eq!(field(s, &b), (400, Some("images[0].data".into())), "{b}");
    // Over X's limit: the check's error, and no branch.
    let (s, b) = hanako.send(
        "POST",
        "/api/proposals",
        &with("body", json!("あ".repeat(200))),
        &[],
    );
    assert_eq!(s, 422, "{b}");
    assert!(
        b["networks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["network"] == "x" && n["ok"] == false),
        "{b}"
    );
    // The problem names the draft's field it belongs to, for the desk to show it there.
    assert!(
        b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "body"),
        "{b}"
    );
    // An id another post already has.
    let (s, b) = hanako.send("POST", "/api/proposals", &with("id", json!("posts/a")), &[]);
    assert_eq!(field(s, &b), (409, Some("id".into())), "{b}");
    assert_eq!(
        branches(&repo.path),
        refs_before,
        "nothing of them was written"
    );

    // Without the CSRF token, signed out, or as a script with no person: refused.
    let body = draft();
    let (s, _, _) = request(
        addr,
        "POST",
        "/api/proposals",
        &[
            ("cookie", &hanako.cookie),
            ("content-type", "application/json"),
        ],
        Some(&body),
    );
    assert_eq!(s, 403);
    let (s, _, _) = request(
        addr,
        "POST",
        "/api/proposals",
        &[("content-type", "application/json")],
        Some(&body),
    );
    assert!(s == 401 || s == 403, "{s}");
    let (s, _, _) = request(
        addr,
        "POST",
        "/api/proposals",
        &[
            ("cookie", &hanako.cookie),
            ("x-csrf-token", &hanako.csrf),
            ("content-type", "text/plain"),
        ],
        Some(&body),
    );
    assert_eq!(s, 415);
    assert_eq!(branches(&repo.path), refs_before);

    // The same draft twice: the second finds its branch taken.
    let (s, b) = hanako.send("POST", "/api/proposals", &draft(), &[]);
    assert_eq!(s, 201, "{b}");
    let (s, b) = hanako.send("POST", "/api/proposals", &draft(), &[]);
    assert_eq!(field(s, &b), (409, Some("title".into())), "{b}");
    assert_eq!(
        repo.git(CHIEF, &["rev-parse", "main"]),
        main_before,
        "the publish branch never moved"
    );
    // Unknown and malformed ids.
    let (s, _) = hanako.get("/api/proposals/no-such-thing");
    assert_eq!(s, 404);
    let (s, _) = hanako.get("/api/proposals/..%2F..%2Fmain");
    assert!(s == 400 || s == 404, "{s}");
    service.shutdown().await;
}

/// A bare repository `remote.git` (main with the configuration) made from `repo`.
fn bare_from(repo: &GitRepo, dir: &Path, name: &str) -> std::path::PathBuf {
    let bare = dir.join(name);
    let out = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&repo.path)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    bare
}

async fn propose_to_remote(
    url: &str,
    bare: &Path,
    forge: Option<oshirase::git::pull_request::ForgeApi>,
) -> Value {
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&oshirase::git::fetch::mirror_path(data.path()), data.path());
    s.remote = Some(url.to_string());
    s.forge_api = forge;
    let main_before = git(bare, &["rev-parse", "main"]);
    let service = start(s).await;
    let addr = service.addr;
    let hanako = blocking(move || Browser::sign_in(addr, HANAKO)).await;
    let (status, made) = hanako.send("POST", "/api/proposals", &draft(), &[]);
    assert_eq!(status, 201, "{made}");
    let branch = made["branch"].as_str().unwrap();
    assert_eq!(
        git(bare, &["rev-parse", branch]),
        made["commit"].as_str().unwrap(),
        "pushed"
    );
    assert_eq!(
        git(bare, &["log", "-1", "--format=%ae %ce", branch]),
        format!("{HANAKO} oshirase@localhost")
    );
    assert_eq!(
        git(bare, &["rev-parse", "main"]),
        main_before,
        "the publish branch never moves"
    );
    let (_, list) = hanako.get("/api/proposals");
    assert_eq!(list["proposals"][0]["branch"], branch);
    // Reopened and changed: the new commit reaches the remote too.
    let id = list["proposals"][0]["id"].as_str().unwrap().to_string();
    let (_, opened) = hanako.get(&format!("/api/proposals/{id}"));
    let mut edited = opened["draft"].clone();
    edited["title"] = json!("年末年始のごみ収集（訂正）");
    edited["body"] = json!(format!(
        "{}\n1月4日からは通常どおりです。",
        edited["body"].as_str().unwrap().trim_end()
    ));
    let (status, updated) = hanako.send("PUT", &format!("/api/proposals/{id}"), &edited, &[]);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        git(bare, &["rev-parse", branch]),
        updated["commit"].as_str().unwrap()
    );
    assert_eq!(updated["url"], made["url"]);
    service.shutdown().await;
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_gets_the_branch_pushed_over_file_and_a_git_daemon() {
    let repo = GitRepo::new(&config(BRANCH, "2h", X_NETWORK));
    let dir = tempfile::tempdir().unwrap();
    let bare = bare_from(&repo, dir.path(), "remote.git");
    propose_to_remote(&format!("file://{}", bare.display()), &bare, None).await;

    let daemon_bare = bare_from(&repo, dir.path(), "daemon.git");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exec_path = git(dir.path(), &["--exec-path"]);
    let mut daemon = Command::new(Path::new(&exec_path).join("git-daemon"))
        .args([
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            "--enable=receive-pack",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", dir.path().display()))
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "git daemon listens");
        std::thread::sleep(Duration::from_millis(50));
    }
    propose_to_remote(
        &format!("git://127.0.0.1:{port}/daemon.git"),
        &daemon_bare,
        None,
    )
    .await;
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_forge_opens_the_pull_request_with_the_preview_in_it() {
    use fake_forges::Kind;
    for kind in [Kind::GitHub, Kind::GitLab, Kind::Gitea] {
        let repo = GitRepo::new(&config(BRANCH, "2h", X_NETWORK));
        let dir = tempfile::tempdir().unwrap();
        let bare = bare_from(&repo, dir.path(), "posts.git");
        let fake = fake_forges::start(kind, "city/koho-posts", bare.clone()).await;
        let api = oshirase::git::pull_request::ForgeApi::configure(
            Some(&format!("file://{}", bare.display())),
            Some(&fake.api),
            Some("city/koho-posts"),
            Some(fake_forges::TOKEN.to_string()),
        )
        .unwrap();
        let made = propose_to_remote(&format!("file://{}", bare.display()), &bare, api).await;
        let opened = fake.opened();
        assert_eq!(
            opened.len(),
            1,
            "{kind:?}: one pull request, not one per commit"
        );
        let pr = &opened[0];
        // The proposal was changed after it was opened: the pull request says so.
        assert_eq!(fake.edits(), 1, "{kind:?}");
        assert_eq!(pr.title, "年末年始のごみ収集（訂正）");
        assert!(
            pr.description.contains("1月4日からは通常どおりです"),
            "{kind:?}: the description previews the new commit: {}",
            pr.description
        );
        assert_eq!(
            (pr.head.as_str(), pr.base.as_str()),
            (made["branch"].as_str().unwrap(), "main")
        );
        assert!(
            pr.description.contains("### x (") && pr.description.contains("ごみ収集はお休みです"),
            "{}",
            pr.description
        );
        let url = made["url"].as_str().unwrap();
        assert!(
            url.starts_with("https://forge.example/city/koho-posts/"),
            "{kind:?}: {url}"
        );

        // A refused token: the branch is still pushed, the answer says why there is no
        // pull request and links nowhere wrong.
        let wrong = oshirase::git::pull_request::ForgeApi::configure(
            None,
            Some(&fake.api),
            Some("city/koho-posts"),
            Some("not-the-token".to_string()),
        )
        .unwrap()
        .unwrap();
        let refused = wrong
            .open(&reqwest_client(), "proposals/x", "main", "t", "d")
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("401"), "{refused}");
    }
}

fn reqwest_client() -> reqwest::Client {
    oshirase::networks::http::init().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_post_opens_in_the_desk_without_loss_and_its_change_is_proposed() {
    let repo = GitRepo::new(&config(BRANCH, "2h", X_NETWORK));
    // Written by hand: in a sub-folder, with an id, a time with an offset and seconds, a
    // text for X, an image named from its own folder, and Markdown in the body.
    let hand_written = "\
---
title: 年末年始のごみ収集
id: gomi/nenmatsu-2026
publish_at: 2026-12-28T19:00:30+09:00
networks: [x, portal]
department: 環境部 清掃課
text:
  x: |
    年末年始はごみ収集をお休みします #足立区
images:
  - path: ../images/cal.png
    alt: 収集日のカレンダー
---
12月29日から1月3日まで、**ごみ収集**はお休みです。

- 燃やすごみ: 1月4日から
- 詳しくは [区のページ](https://www.city.example.jp/gomi) へ
";
    repo.write_bytes("posts/images/cal.png", CALENDAR_PNG);
    repo.propose_and_merge("hand-written", &[("posts/2026/gomi.md", hand_written)]);
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    let data = tempfile::tempdir().unwrap();
    let service = start(settings(&repo.path, data.path())).await;
    let addr = service.addr;
    let x_before = service
        .store
        .delivery("gomi/nenmatsu-2026", "x")
        .unwrap()
        .expect("synced")
        .text;
    let hanako = blocking(move || Browser::sign_in(addr, HANAKO)).await;

    let (status, opened) = hanako.get("/api/drafts/gomi%2Fnenmatsu-2026");
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["file"], "posts/2026/gomi.md");
    assert_eq!(opened["commit"], main_before.as_str());
    let d = &opened["draft"];
    assert_eq!(d["id"], "gomi/nenmatsu-2026");
    assert_eq!(d["publish_at"], "2026-12-28T19:00:30+09:00");
    assert_eq!(d["networks"], json!(["x", "portal"]));
    assert_eq!(d["department"], "環境部 清掃課");
    assert_eq!(d["text"]["x"], "年末年始はごみ収集をお休みします #足立区\n");
    assert_eq!(d["images"][0]["name"], "cal.png");
    assert_eq!(d["images"][0]["alt"], "収集日のカレンダー");
    assert_eq!(
        d["images"][0]["data"],
        base64::engine::general_purpose::STANDARD.encode(CALENDAR_PNG)
    );
    assert!(
        d["body"]
            .as_str()
            .unwrap()
            .contains("[区のページ](https://www.city.example.jp/gomi)"),
        "{d}"
    );

    // Proposed as it opened: the post's own file changes, and every network gets what it
    // got before.
    let (status, made) = hanako.send(
        "POST",
        "/api/proposals?edit=gomi%2Fnenmatsu-2026",
        &opened["draft"],
        &[],
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["file"], "posts/2026/gomi.md");
    let branch = made["branch"].as_str().unwrap().to_string();
    assert!(
        branch.starts_with("proposals/") && branch.ends_with("-edit-gomi"),
        "{branch}"
    );
    let p = &repo.path;
    assert_eq!(git(p, &["rev-parse", "main"]), main_before);
    assert_eq!(
        git(p, &["log", "-1", "--format=%an <%ae>|%s", &branch]),
        format!("山田 花子 <{HANAKO}>|Propose a change: 年末年始のごみ収集")
    );
    let changed = git(p, &["diff", "--name-only", "main", &branch]);
    assert!(
        changed.is_empty() || changed == "posts/2026/gomi.md",
        "only the post's own file: {changed}"
    );

    // Changed on the desk, and merged: the same post, with the new department.
    let mut edited = opened["draft"].clone();
    edited["department"] = json!("環境部 ごみ減量推進課");
    let (status, again) = hanako.send(
        "POST",
        "/api/proposals?edit=gomi%2Fnenmatsu-2026",
        &edited,
        &[],
    );
    assert_eq!(
        (status, again["field"].as_str()),
        (409, Some("title")),
        "the same day's edit branch is taken: {again}"
    );
    repo.git(CHIEF, &["branch", "-q", "-D", &branch]);
    let (status, made) = hanako.send(
        "POST",
        "/api/proposals?edit=gomi%2Fnenmatsu-2026",
        &edited,
        &[],
    );
    assert_eq!(status, 201, "{made}");
    repo.git(CHIEF, &["merge", "--no-ff", "-q", "-m", "承認", &branch]);
    service.request_sync();
    let store = service.store.clone();
    assert!(
        wait_for(Duration::from_secs(10), || store
            .post("gomi/nenmatsu-2026")
            .ok()
            .flatten()
            .is_some_and(
                |v| v.post.department.as_deref() == Some("環境部 ごみ減量推進課")
            ))
        .await
    );
    let x_after = service
        .store
        .delivery("gomi/nenmatsu-2026", "x")
        .unwrap()
        .unwrap()
        .text;
    assert_eq!(
        x_after, x_before,
        "nothing lost on the way through the desk"
    );
    assert_eq!(service.store.posts().unwrap().len(), 1, "no second post");

    // Bad requests: an unknown post, an unknown parameter.
    let (status, _) = hanako.get("/api/drafts/posts%2Fnone");
    assert_eq!(status, 404);
    let (status, refused) = hanako.send("POST", "/api/proposals?edit=posts%2Fnone", &edited, &[]);
    assert_eq!(status, 404, "{refused}");
    let (status, refused) = hanako.send("POST", "/api/proposals?author=x", &edited, &[]);
    assert_eq!(status, 400, "{refused}");
    service.shutdown().await;
}
