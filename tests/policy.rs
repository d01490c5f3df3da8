//! `policy:` as a pull request's check sees it: the office's words in every width and kana,
//! shortened and outside links, required fields, and the duplicate guard against posts
//! already out and within one change — in every output format.

use std::path::Path;
use std::process::{Command, Output};

use chrono::{Duration, Utc};
use serde_json::Value;

const CONFIG: &str = "\
timezone: Asia/Tokyo
policy:
  forbidden: [サンプル]
  caution: [日本一]
  link_domains: [city.example.jp]
  require: [department]
accounts:
  city:
    networks:
      x: { type: x, credentials: X_CITY }
      facebook: { type: facebook, page_id: \"1\", credentials: FB_CITY }
";

const NOTICE: &str = "12月29日から1月3日まで、ごみの収集はお休みです。\n詳しくは https://www.city.example.jp/gomi をご覧ください。";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oshirase.yaml"), CONFIG).unwrap();
    std::fs::create_dir_all(dir.path().join("posts")).unwrap();
    dir
}

/// A post to both networks, due `at` (Tokyo time, `%Y-%m-%d %H:%M`).
fn post(dir: &Path, name: &str, at: &str, body: &str) {
    let text = format!(
        "---\ntitle: {name}\ndepartment: 環境部\npublish_at: {at}\nnetworks: [x, facebook]\n---\n{body}\n"
    );
    std::fs::write(dir.join("posts").join(format!("{name}.md")), text).unwrap();
}

fn tokyo(offset: Duration) -> String {
    let tz = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    (Utc::now() + offset)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn oshirase(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(args)
        .current_dir(dir)
        .env("LANG", "C")
        .output()
        .unwrap()
}

fn check(dir: &Path, files: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", "--format", "json", "--lang", "en"];
    args.extend_from_slice(files);
    let out = oshirase(dir, &args);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

/// (file, line, code) of each finding under `key` whose code starts with `policy-`.
fn findings(v: &Value, key: &str) -> Vec<(String, u64, String)> {
    let mut out: Vec<_> = v[key]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"].as_str().unwrap().starts_with("policy-"))
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn message<'a>(v: &'a Value, key: &str, code: &str, file: &str) -> &'a str {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == code && e["file"] == file)
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no {code} for {file}: {v}"))
}

#[test]
fn the_offices_words_links_and_fields_are_checked_in_every_format() {
    let dir = repo();
    let soon = tokyo(Duration::days(2));
    post(dir.path(), "half", &soon, "本日はｻﾝﾌﾟﾙを配ります");
    post(dir.path(), "hira", &soon, "一行目です\nさんぷるを配ります");
    post(
        dir.path(),
        "claim",
        &soon,
        "区の公園は日本一です http://www.city.example.jp/park",
    );
    post(dir.path(), "short", &soon, "詳しくは bit.ly/3xYz へ");
    post(
        dir.path(),
        "outside",
        &soon,
        "詳しくは https://example.com/a へ",
    );
    std::fs::write(
        dir.path().join("posts/nodept.md"),
        format!("---\ntitle: t\npublish_at: {soon}\nnetworks: [x]\n---\n窓口のご案内\n"),
    )
    .unwrap();
    let (code, v) = check(dir.path(), &[]);
    assert_eq!(code, 1, "{v}");
    let s = |f: &str, l: u64, c: &str| (format!("posts/{f}.md"), l, c.to_string());
    assert_eq!(
        findings(&v, "errors"),
        [
            s("half", 7, "policy-forbidden"),
            s("hira", 8, "policy-forbidden"),
            s("nodept", 1, "policy-required"),
            s("short", 7, "policy-shortener"),
        ]
    );
    assert_eq!(
        findings(&v, "warnings"),
        [
            s("claim", 7, "policy-caution"),
            s("claim", 7, "policy-http"),
            s("outside", 7, "policy-link-domain"),
        ]
    );
    // Each names the word as written and as listed.
    let half = message(&v, "errors", "policy-forbidden", "posts/half.md");
    assert!(
        half.contains("`ｻﾝﾌﾟﾙ`") && half.contains("`サンプル`"),
        "{half}"
    );
    // The pull request's annotations and sticky comment carry them.
    let github = oshirase(dir.path(), &["check", "--format", "github", "--lang", "en"]);
    let github = String::from_utf8_lossy(&github.stdout);
    assert!(
        github.contains("::error file=posts/half.md,line=7") && github.contains("policy-forbidden"),
        "{github}"
    );
    let md = oshirase(
        dir.path(),
        &["check", "--format", "markdown", "--lang", "ja"],
    );
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("ｻﾝﾌﾟﾙ") && md.contains("言い換えて"), "{md}");
    // The approver's checklist: the policy findings come first, then the previews.
    let checklist = md.find("### 方針の確認事項").expect("a checklist");
    let first_preview = md.find("<details>").expect("previews");
    let last_finding = md.rfind("`posts/half.md:7`").expect("the finding");
    assert!(
        checklist < last_finding && last_finding < first_preview,
        "{md}"
    );
    let section = &md[checklist
        ..md[checklist + 1..]
            .find("\n#")
            .map_or(md.len(), |i| i + checklist + 1)];
    assert!(section.contains("❌ `posts/half.md:7`"), "{section}");
    assert!(!section.contains("<details>"), "{section}");
}

#[test]
fn a_repeat_of_a_recent_post_or_of_another_in_the_change_is_an_error_for_x_only() {
    let dir = repo();
    post(dir.path(), "last-week", &tokyo(-Duration::days(5)), NOTICE);
    post(
        dir.path(),
        "last-year",
        &tokyo(-Duration::days(300)),
        "昨年のお知らせ",
    );
    // The same notice again, with other spacing and punctuation and a changed date.
    let again = NOTICE
        .replace("29日", "30日")
        .replace('、', " ")
        .replace('。', "！");
    post(dir.path(), "again", &tokyo(Duration::days(1)), &again);
    post(
        dir.path(),
        "old-repeat",
        &tokyo(Duration::days(1)),
        "昨年のお知らせ!",
    );
    let (code, v) = check(dir.path(), &["posts/again.md", "posts/old-repeat.md"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        findings(&v, "errors"),
        [(
            "posts/again.md".to_string(),
            7,
            "policy-duplicate".to_string()
        )],
        "X: an error; a post 300 days ago is outside the 30-day window"
    );
    assert_eq!(
        findings(&v, "warnings"),
        [(
            "posts/again.md".to_string(),
            7,
            "policy-duplicate".to_string()
        )],
        "Facebook: a warning"
    );
    let m = message(&v, "errors", "policy-duplicate", "posts/again.md");
    assert!(
        m.contains("posts/last-week.md (published ") && m.contains("`x`"),
        "{m}"
    );

    // Two posts of one change that say the same thing.
    let dir = repo();
    post(dir.path(), "a", &tokyo(Duration::days(1)), NOTICE);
    post(
        dir.path(),
        "b",
        &tokyo(Duration::days(2)),
        &NOTICE.replace("1月3日", "1月4日"),
    );
    let (_, v) = check(dir.path(), &[]);
    let errors = findings(&v, "errors");
    assert_eq!(errors.len(), 2, "{v}");
    let m = message(&v, "errors", "policy-duplicate", "posts/a.md");
    assert!(m.contains("posts/b.md (in this change)"), "{m}");

    // `duplicates: false` turns the guard off; the plain identical-text warning is back.
    let off = CONFIG.replace(
        "require: [department]",
        "require: [department]\n  duplicates: false",
    );
    std::fs::write(dir.path().join("oshirase.yaml"), off).unwrap();
    post(dir.path(), "b", &tokyo(Duration::days(2)), NOTICE);
    let (code, v) = check(dir.path(), &[]);
    assert_eq!(code, 0, "{v}");
    assert!(findings(&v, "warnings").is_empty(), "{v}");
    assert!(v["warnings"].to_string().contains("duplicate-text"), "{v}");
}

// ---- serve: the guard against what the store knows went out ----

mod common;

use common::{outbox, settings, wait_for, GitRepo};

const SERVE_CONFIG: &str = "\
timezone: Asia/Tokyo
accounts:
  city:
    approval: { mode: branch }
    policy: { duplicates: 30d }
    networks:
      x: { type: x, credentials: X_CITY }
      portal: { type: outbox }
";

async fn rehearsal(repo: &GitRepo, data: &Path) -> oshirase::cli::serve::Service {
    let mut s = settings(&repo.path, data);
    s.dry_run = true;
    oshirase::cli::serve::Service::start(s)
        .await
        .expect("service starts")
}

fn notice(title: &str, at: Option<chrono::DateTime<Utc>>, body: &str) -> String {
    common::post(title, at, "x, portal", body)
}

/// (state, last error) of a delivery.
fn delivery(service: &oshirase::cli::serve::Service, post: &str, net: &str) -> (String, String) {
    let d = service
        .store
        .delivery(post, net)
        .unwrap()
        .expect("delivery");
    (
        d.state.as_str().to_string(),
        d.last_error.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_on_x_a_repeat_of_what_it_published_and_says_which_post() {
    let repo = GitRepo::new(SERVE_CONFIG);
    let data = tempfile::tempdir().unwrap();
    repo.propose_and_merge(
        "staff/a",
        &[("posts/gomi.md", &notice("年末年始", None, NOTICE))],
    );
    let service = rehearsal(&repo, data.path()).await;
    let out = || outbox(data.path(), "city", "x").len();
    assert!(wait_for(std::time::Duration::from_secs(10), || out() == 1).await);

    // A hurried second push of the same notice: other spacing, a full stop fewer, another
    // date. On X it would be the repeat that gets the account suspended.
    let again = NOTICE
        .replace("29日", "28日")
        .replace("、", " ")
        .replace('。', "");
    repo.propose_and_merge(
        "staff/b",
        &[(
            "posts/gomi-again.md",
            &notice("年末年始（再）", None, &again),
        )],
    );
    service.request_sync();
    let portal = || outbox(data.path(), "city", "portal").len();
    assert!(wait_for(std::time::Duration::from_secs(10), || portal() == 2).await);
    let (state, why) = delivery(&service, "posts/gomi-again", "x");
    assert_eq!(state, "invalid", "{why}");
    assert!(
        why.contains("policy-duplicate") || why.contains("posts/gomi"),
        "{why}"
    );
    assert!(
        why.contains("`posts/gomi`") && why.contains("published"),
        "{why}"
    );
    assert!(
        why.contains("posts/gomi-again.md:5"),
        "names the file and the body's line: {why}"
    );
    assert_eq!(out(), 1, "X received the notice once");
    // A different notice is not a repeat.
    let other = "1月4日から、ごみの収集は通常どおりです。燃やすごみは月曜と木曜です。";
    repo.propose_and_merge(
        "staff/c",
        &[("posts/gomi-normal.md", &notice("通常収集", None, other))],
    );
    service.request_sync();
    assert!(wait_for(std::time::Duration::from_secs(10), || out() == 2).await);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_repeats_merged_at_once_one_is_scheduled_and_it_stays_so_after_a_restart() {
    let repo = GitRepo::new(SERVE_CONFIG);
    let data = tempfile::tempdir().unwrap();
    let soon = Utc::now() + Duration::hours(2);
    let later = Utc::now() + Duration::hours(3);
    let again = NOTICE.replace("1月3日", "1月4日");
    repo.propose_and_merge(
        "staff/both",
        &[
            ("posts/a.md", &notice("A", Some(soon), NOTICE)),
            ("posts/b.md", &notice("B", Some(later), &again)),
        ],
    );
    let states = |service: &oshirase::cli::serve::Service| {
        let a = delivery(service, "posts/a", "x");
        let b = delivery(service, "posts/b", "x");
        let portals = (
            delivery(service, "posts/a", "portal").0,
            delivery(service, "posts/b", "portal").0,
        );
        (a, b, portals)
    };
    let service = rehearsal(&repo, data.path()).await;
    let synced = || {
        service
            .store
            .delivery("posts/b", "portal")
            .ok()
            .flatten()
            .is_some()
    };
    assert!(wait_for(std::time::Duration::from_secs(10), synced).await);
    let first = states(&service);
    let ((a, _), (b, why), portals) = &first;
    let mut xs = [a.as_str(), b.as_str()];
    xs.sort();
    assert_eq!(xs, ["invalid", "scheduled"], "{first:?}");
    let (repeat, kept) = if a == "invalid" {
        ("posts/a", "posts/b")
    } else {
        ("posts/b", "posts/a")
    };
    let why = if a == "invalid" { &first.0 .1 } else { why };
    assert!(
        why.contains(&format!("`{kept}`")) && why.contains("due"),
        "{repeat}: {why}"
    );
    assert_eq!(portals, &("scheduled".to_string(), "scheduled".to_string()));
    service.shutdown().await;

    // A restart re-reads the branch: the same one is the repeat, never both or neither.
    let service = rehearsal(&repo, data.path()).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(states(&service), first);
    service.shutdown().await;
}
