//! The dashboard in a real browser: headless Chromium, driven by `tests/browser/e2e.mjs`
//! through puppeteer-core, against `serve` running in-process on a real git repository.
//!
//! Needs Debian's `chromium` and the npm packages `tests/browser/setup.sh` installs:
//!
//! ```sh
//! OSHIRASE_BROWSER_DEPS=$(tests/browser/setup.sh | tail -1) cargo test --test browser -- --ignored
//! ```
//!
//! `OSHIRASE_CHROMIUM` names another browser binary; the screenshots go to
//! `target/browser-artifacts/` (or `OSHIRASE_BROWSER_ARTIFACTS`).

mod common;
#[path = "fakes/forges.rs"]
mod fake_forges;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use common::programs::find_program;
use common::*;
use oshirase::cli::resolve::{resolve, Resolution};
use oshirase::model::event::EventKind;
use oshirase::model::records::{NewEvent, State};
use oshirase::web::auth::people::Role;
use serde_json::Value;

const CALENDAR_PNG: &[u8] =
    include_bytes!("../content-example/posts/images/gomi-nenmatsu-calendar.png");

/// What the dashboard must show as text and never run.
const XSS_TITLE: &str =
    r#"<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"#;

/// A stand-in for webhook receivers: `/reject` refuses the post (400, a permanent
/// failure) and `/locked` refuses the credentials (401, the network pauses).
fn start_receiver() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (status, text) = if request_line.contains("/locked") {
        ("401 Unauthorized", "invalid_auth")
    } else {
        ("400 Bad Request", "channel_is_archived")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn at(minutes: i64) -> Option<chrono::DateTime<Utc>> {
    Some(Utc::now() + chrono::Duration::minutes(minutes))
}

/// A post with a department, and optionally its own text for X and an image.
fn city_post(
    title: &str,
    when: Option<chrono::DateTime<Utc>>,
    networks: &str,
    department: &str,
    x_text: Option<&str>,
    image: bool,
    body: &str,
) -> String {
    let mut front = format!("---\ntitle: '{}'\n", title.replace('\'', "''"));
    if let Some(t) = when {
        front.push_str(&format!("publish_at: {}\n", rfc3339_jst(t)));
    }
    front.push_str(&format!(
        "networks: [{networks}]\ndepartment: '{}'\n",
        department.replace('\'', "''")
    ));
    if let Some(x) = x_text {
        front.push_str("text:\n  x: |-\n");
        for line in x.lines() {
            front.push_str(&format!("    {line}\n"));
        }
    }
    if image {
        front.push_str("images:\n  - path: images/gomi-calendar.png\n    alt: 年末年始のごみ収集カレンダー。12月31日から1月3日までは収集を休みます。\n");
    }
    format!("{front}---\n{body}\n")
}

fn repository(receiver: SocketAddr) -> GitRepo {
    let extra = format!(
        "      x: {{ type: x, credentials: X_CITY, base_url: \"http://{receiver}\" }}\n      \
         slack: {{ type: webhook, credentials: SLACK, base_url: \"http://{receiver}/reject\" }}\n      \
         teams: {{ type: webhook, credentials: TEAMS, base_url: \"http://{receiver}/locked\" }}\n"
    );
    let repo = GitRepo::new(&config(MERGE, "2h", &extra));
    repo.write_bytes("posts/images/gomi-calendar.png", CALENDAR_PNG);
    let long_body = "子育て支援センターでは、乳幼児とその保護者の方を対象に、季節の行事や育児相談を行っています。\n"
        .repeat(6);
    repo.propose_and_merge(
        "staff/winter",
        &[
            (
                "posts/gomi.md",
                &city_post(
                    "年末年始のごみ収集日程",
                    at(26 * 60),
                    "x, portal, news",
                    "環境部 ごみ減量推進課",
                    Some("【年末年始のごみ収集】\n12月31日～1月3日は収集を休みます。\n年始は1月4日からいつもの曜日どおりです。\n#ごみ収集"),
                    true,
                    "年末年始のごみ・資源の収集日程をお知らせします。\n\n収集休み：12月31日～1月3日\n年始の収集開始：1月4日から、いつもの曜日どおり",
                ),
            ),
            (
                "posts/jishin.md",
                "---\ntitle: '地震による避難所の開設'\nemergency: true\nnetworks: [teams, portal]\n---\n\
                 【緊急】区内で震度5強を観測しました。小中学校の避難所を開設しています。\n",
            ),
            (
                "posts/toshokan.md",
                &city_post(
                    "中央図書館の臨時休館",
                    at(27 * 60 + 30),
                    "portal, news",
                    "教育委員会 中央図書館",
                    None,
                    false,
                    "蔵書点検のため、中央図書館を臨時休館します。\n+++\n返却は返却ポストをご利用ください。",
                ),
            ),
            (
                "posts/bousai.md",
                &city_post(
                    "総合防災訓練を行います",
                    at(3 * 24 * 60),
                    "x, portal",
                    "危機管理部 災害対策課",
                    Some("【総合防災訓練】\n1月17日9時から区立第一中学校で行います。申込不要です。"),
                    false,
                    "1月17日は防災とボランティアの日です。\n日時：1月17日 9時～12時\n場所：区立第一中学校",
                ),
            ),
            (
                "posts/kenshin.md",
                &city_post(
                    "特定健診の受付を始めました",
                    None,
                    "portal, news",
                    "衛生部 健康推進課",
                    None,
                    true,
                    "40歳から74歳の国民健康保険加入者の方へ、特定健診の受付を始めました。",
                ),
            ),
            (
                "posts/xss.md",
                &city_post(
                    XSS_TITLE,
                    None,
                    "portal",
                    "<b>総務部</b> 情報政策課",
                    None,
                    false,
                    "<img src=x onerror=\"window.__pwned=2\">\n<script>window.__pwned=1</script>",
                ),
            ),
            (
                "posts/kosodate.md",
                &city_post(
                    "子育てサロンのご案内",
                    at(5 * 24 * 60),
                    "x, news",
                    "子ども家庭部 子育て支援課",
                    None,
                    false,
                    &long_body,
                ),
            ),
            (
                "posts/madoguchi.md",
                &city_post(
                    "窓口の混雑状況",
                    None,
                    "slack",
                    "区民部 戸籍住民課",
                    None,
                    false,
                    "本日は窓口が大変混み合っています。",
                ),
            ),
            (
                "posts/tenken.md",
                &city_post(
                    "体育館の設備点検",
                    None,
                    "teams",
                    "地域のちから推進部 スポーツ振興課",
                    None,
                    false,
                    "設備点検のため体育館の利用時間を変更します。",
                ),
            ),
            (
                "posts/ouen.md",
                &city_post(
                    "成人の日のつどい",
                    at(-3 * 60),
                    "portal",
                    "地域のちから推進部 生涯学習課",
                    None,
                    false,
                    "成人の日のつどいを開催します。",
                ),
            ),
            (
                "posts/douro.md",
                &city_post(
                    "道路工事による通行止め",
                    at(10 * 24 * 60),
                    "slack",
                    "都市建設部 道路整備課",
                    None,
                    false,
                    "道路工事のため、区道の一部を通行止めにします。",
                ),
            ),
            (
                "posts/koen.md",
                &city_post(
                    "公園のイルミネーション",
                    at(12 * 24 * 60),
                    "x",
                    "都市建設部 公園管理課",
                    Some("公園のイルミネーションを点灯します。"),
                    false,
                    "公園のイルミネーションを点灯します。",
                ),
            ),
        ],
    );
    // Pushed straight to the branch by its author: held for an approver's merge.
    repo.write(
        "posts/held.md",
        &city_post(
            "区民まつりのボランティア募集",
            at(6 * 60),
            "portal",
            "地域のちから推進部 地域調整課",
            None,
            false,
            "区民まつりのボランティアを募集します。",
        ),
    );
    repo.commit_all(STAFF, "add the festival post");
    repo
}

/// A program named like the shell would find it (puppeteer wants a path).
fn artifacts_dir() -> PathBuf {
    std::env::var_os("OSHIRASE_BROWSER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts")
        })
}

/// Waits until the service has done everything the fixture sets up.
async fn settled(service: &oshirase::cli::serve::Service) {
    let addr = service.addr;
    let ready = wait_for(Duration::from_secs(20), || {
        let states = [
            ("posts/kenshin", "news", "published"),
            ("posts/xss", "portal", "published"),
            ("posts/madoguchi", "slack", "failed"),
            ("posts/ouen", "portal", "missed"),
            ("posts/held", "portal", "held"),
            ("posts/kosodate", "x", "invalid"),
        ];
        let all = states
            .iter()
            .all(|(p, n, s)| delivery_state(service, p, n).as_deref() == Some(*s));
        all && !get_json(addr, "/healthz").1["paused_networks"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    })
    .await;
    assert!(ready, "the fixture's posts reached their states");
}

/// A delivery a crash left unsettled, as the scheduler records it.
fn make_unknown(service: &oshirase::cli::serve::Service, post: &str, network: &str) {
    service
        .store
        .update_delivery(post, network, |d| {
            d.state = State::Unknown;
            d.attempts = 1;
            d.last_error = Some(
                "the service stopped during the request and the network cannot be asked".into(),
            );
            Some(vec![NewEvent::service(
                post,
                EventKind::Unknown,
                Some(network),
                d.last_error.clone().unwrap_or_default(),
            )])
        })
        .expect("store")
        .expect("delivery exists");
}

/// The browser and the npm packages, from the environment `.ci/run` sets.
fn browser_tools() -> (String, String) {
    let deps = std::env::var("OSHIRASE_BROWSER_DEPS")
        .expect("OSHIRASE_BROWSER_DEPS: the directory tests/browser/setup.sh prints");
    let chromium = std::env::var("OSHIRASE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let chromium = find_program(&chromium).unwrap_or_else(|| {
        panic!("no browser `{chromium}`: install Debian's chromium or set OSHIRASE_CHROMIUM")
    });
    (deps, chromium.to_string_lossy().into_owned())
}

/// Runs `node tests/browser/<script> <base>`, handing each line it prints to `on_line`,
/// and returns how it ended and its `SUMMARY {json}`.
async fn drive(
    script: &str,
    base: &str,
    deps: &str,
    chromium: &str,
    mut on_line: impl FnMut(&str),
) -> (std::process::ExitStatus, Option<Value>) {
    let artifacts = artifacts_dir();
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut child = Command::new("node")
        .arg(format!("tests/browser/{script}"))
        .arg(base)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("OSHIRASE_BROWSER_DEPS", deps)
        .env("OSHIRASE_CHROMIUM", chromium)
        .env("OSHIRASE_BROWSER_ARTIFACTS", &artifacts)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (is /usr/bin/node installed?)");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut summary = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let line = match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                panic!("the browser test {script} took longer than 4 minutes");
            }
        };
        println!("{script}: {line}");
        if let Some(json) = line.strip_prefix("SUMMARY ") {
            summary = Some(serde_json::from_str::<Value>(json).expect("summary is JSON"));
        } else {
            on_line(&line);
        }
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    (status, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and npm packages: tests/browser/setup.sh; run by .ci/run"]
async fn the_dashboard_in_headless_chromium() {
    let (deps, chromium) = browser_tools();
    let receiver = start_receiver();
    let repo = repository(receiver);
    let data = tempfile::tempdir().unwrap();
    let mut settings = settings(&repo.path, data.path());
    // Every credential is declared with the receiver on loopback as its one allowed host.
    let declared = format!(
        "X_CITY_TYPE=x\nX_CITY_HOSTS={receiver}\nX_CITY_BEARER_TOKEN=not-a-real-token\n\
         SLACK_TYPE=webhook\nSLACK_HOSTS={receiver}\nTEAMS_TYPE=webhook\nTEAMS_HOSTS={receiver}\n"
    );
    settings.secrets = oshirase::support::secrets::Secrets::parse("test", &declared).unwrap();
    let service = oshirase::cli::serve::Service::start(settings)
        .await
        .expect("service starts");
    settled(&service).await;
    make_unknown(&service, "posts/douro", "slack");
    make_unknown(&service, "posts/koen", "x");
    resolve(
        &service.store,
        "posts/koen",
        "x",
        Resolution::Published {
            url: "https://x.com/city_example/status/1871234567890".into(),
        },
        "koho-tanaka",
    )
    .expect("resolved");
    // A remote address must only become a link when it is http(s).
    service
        .store
        .update_delivery("posts/xss", "portal", |d| {
            d.remote_url = Some("javascript:window.__pwned=3".into());
            Some(Vec::new())
        })
        .unwrap()
        .unwrap();

    let artifacts = artifacts_dir();
    let base = format!("http://{}/", service.addr);
    let (status, summary) = drive("e2e.mjs", &base, &deps, &chromium, |line| {
        if line == "READY" {
            // The dashboard is open: a post lands that falls due a few seconds later.
            repo.propose_and_merge(
                "staff/soon",
                &[(
                    "posts/soon.md",
                    &city_post(
                        "窓口受付時間延長のお知らせ",
                        Some(Utc::now() + chrono::Duration::seconds(6)),
                        "portal, news",
                        "区民部 戸籍住民課",
                        None,
                        false,
                        "3月と4月の土曜日は、窓口の受付時間を延長します。\n受付：9時～17時",
                    ),
                )],
            );
        }
    })
    .await;
    service.shutdown().await;
    assert!(
        status.success(),
        "node tests/browser/e2e.mjs failed: {status}"
    );
    let s = summary.expect("the script printed its summary");

    let failures: Vec<&str> = s["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    // Live: scheduled, then published, on the same page load.
    assert_eq!(s["live"]["scheduled"], true, "{s}");
    assert_eq!(s["live"]["published"], true, "{s}");
    assert_eq!(s["live"]["reloaded"], false, "{s}");
    // axe-core ran on every view in both languages and found nothing.
    let checked: Vec<&str> = s["axe"]["checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for view in [
        "overview",
        "attention",
        "upcoming",
        "published",
        "posts",
        "post",
    ] {
        for lang in ["ja", "en"] {
            let name = format!("{view}:{lang}");
            assert!(
                checked.contains(&name.as_str()),
                "axe ran on {name}: {checked:?}"
            );
        }
    }
    assert_eq!(
        s["axe"]["selftest"], true,
        "axe-core finds a planted violation"
    );
    assert_eq!(s["axe"]["violations"], 0, "{}", s["axe"]["details"]);
    assert_eq!(s["emergency"]["first"], "posts/jishin", "{s}");
    assert_eq!(s["xss"]["pwned"], Value::Null, "{s}");
    assert_eq!(s["xss"]["title_literal"], true, "{s}");
    assert_eq!(s["xss"]["body_literal"], true, "{s}");
    assert_eq!(s["xss"]["injected_elements"], 0, "{s}");
    assert_eq!(s["xss"]["javascript_links"], 0, "{s}");
    assert_eq!(s["lang"]["initial"], "ja", "{s}");
    assert_eq!(s["lang"]["switched"], "en", "{s}");
    assert_eq!(s["lang"]["after_reload"], "en", "{s}");
    assert_eq!(s["search"]["q"], serde_json::json!(["posts/gomi"]), "{s}");
    assert_eq!(
        s["search"]["department"],
        serde_json::json!(["posts/bousai"]),
        "{s}"
    );
    assert_eq!(
        s["search"]["dates"],
        serde_json::json!(["posts/kosodate"]),
        "{s}"
    );
    assert_eq!(
        s["search"]["state"],
        serde_json::json!(["posts/madoguchi"]),
        "{s}"
    );
    let screenshot = artifacts.join("dashboard.png");
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        screenshot.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and npm packages: tests/browser/setup.sh; run by .ci/run"]
async fn signing_in_in_headless_chromium() {
    let (deps, chromium) = browser_tools();
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/a.md",
            &post("A", None, "portal", "サインイン後に見える投稿"),
        )],
    );
    let data = tempfile::tempdir().unwrap();
    let settings = signing_in(&repo.path, data.path(), &[hanako("環境部")]);
    let service = oshirase::cli::serve::Service::start(settings)
        .await
        .expect("service starts");
    let base = format!("http://{}/", service.addr);
    let (status, summary) = drive("signin.mjs", &base, &deps, &chromium, |_| {}).await;
    service.shutdown().await;
    assert!(status.success(), "node tests/browser/signin.mjs: {status}");
    let s = summary.expect("the script printed its summary");
    assert_eq!(s["failures"], serde_json::json!([]), "{s}");
    assert_eq!(s["landed"], "/signin.html", "{s}");
    assert_eq!(s["heading_ja"], "サインイン", "{s}");
    assert_eq!(s["heading_en"], "Sign in", "{s}");
    assert_eq!(s["wrong"], "メールアドレスかパスワードが違います。", "{s}");
    assert_eq!(s["who"], "足立 花子（環境部）", "{s}");
    assert_eq!(
        s["hash"], "#/upcoming",
        "back where the browser wanted to go: {s}"
    );
    assert_eq!(
        s["cookie"],
        serde_json::json!({ "httpOnly": true, "sameSite": "Strict" }),
        "{s}"
    );
    assert_eq!(s["script_sees_cookie"], false, "{s}");
    assert_eq!(s["pwned"], Value::Null, "{s}");
    assert_eq!(s["after_sign_out"], "/signin.html", "{s}");
    assert_eq!(s["after_reopen"], "/signin.html", "{s}");
    for view in [
        "signin:ja",
        "signin:en",
        "signin-error:ja",
        "dashboard-signed-in:ja",
    ] {
        assert!(
            s["axe"]["checked"]
                .as_array()
                .unwrap()
                .contains(&Value::from(view)),
            "axe ran on {view}: {s}"
        );
    }
    assert_eq!(s["axe"]["violations"], 0, "{}", s["axe"]["details"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and npm packages: tests/browser/setup.sh; run by .ci/run"]
async fn composing_and_proposing_in_headless_chromium() {
    let (deps, chromium) = browser_tools();
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      x: { type: x, credentials: X_CITY }\n",
    ));
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    let data = tempfile::tempdir().unwrap();
    let mut settings = signing_in(&repo.path, data.path(), &[hanako("環境部 清掃課")]);
    // A forge in front of the repository, so the proposal gets its pull request.
    let forge =
        fake_forges::start(fake_forges::Kind::GitHub, "city/posts", repo.path.clone()).await;
    settings.forge_api = oshirase::git::pull_request::ForgeApi::configure(
        None,
        Some(&forge.api),
        Some("city/posts"),
        Some(fake_forges::TOKEN.to_string()),
    )
    .unwrap();
    let service = oshirase::cli::serve::Service::start(settings)
        .await
        .expect("service starts");
    let base = format!("http://{}/", service.addr);
    let (status, summary) = drive("compose.mjs", &base, &deps, &chromium, |_| {}).await;
    service.shutdown().await;
    assert!(status.success(), "node tests/browser/compose.mjs: {status}");
    let s = summary.expect("the script printed its summary");
    assert_eq!(s["failures"], serde_json::json!([]), "{s}");
    assert_eq!(s["heading"], "新しい投稿", "{s}");
    assert_eq!(s["heading_en"], "New post", "{s}");
    assert_eq!(
        s["department"], "環境部 清掃課",
        "the person's department by default: {s}"
    );
    assert_eq!(s["pwned"], Value::Null, "{s}");
    assert!(
        s["xss_preview"].as_str().unwrap_or("").contains("<script>"),
        "markup is shown as text: {s}"
    );
    assert_ne!(s["count_before"], s["count_after"], "{s}");
    // "12月29日から1月3日まで、ごみ収集はお休みです。": 24 characters, each weighing 2 but
    // the digits.
    assert!(
        s["count_after"].as_str().unwrap_or("").ends_with("/ 280"),
        "{s}"
    );
    assert!(
        s["x_text_error"].as_str().unwrap_or("").contains("280"),
        "the problem is shown under X's own text, with X's limit: {s}"
    );
    assert_eq!(
        s["after_reload"], "年末年始のごみ収集",
        "the draft survives a reload: {s}"
    );
    assert_eq!(s["images_after_reload"], 1, "{s}");
    assert_eq!(s["title_after"], "", "a proposed draft is cleared: {s}");
    let branch = s["listed"].as_str().unwrap_or("").to_string();
    assert!(branch.starts_with("proposals/"), "{s}");
    assert!(s["status"].as_str().unwrap_or("").contains(&branch), "{s}");
    assert_eq!(
        repo.git(CHIEF, &["log", "-1", "--format=%an <%ae>", &branch]),
        "足立 花子 <hanako@city.example.jp>"
    );
    let files = repo.git(CHIEF, &["diff", "--name-only", "main", &branch]);
    assert!(
        files.contains("posts/images/") && files.contains(".md"),
        "{files}"
    );
    assert_eq!(repo.git(CHIEF, &["rev-parse", "main"]), main_before);
    let opened = forge.opened();
    assert_eq!(opened.len(), 1, "one pull request");
    assert_eq!(opened[0].head, branch);
    assert_eq!(opened[0].title, "年末年始のごみ収集");
    assert_eq!(
        s["pull_request"], "https://forge.example/city/posts/pulls/1",
        "the page links to it: {s}"
    );
    for view in ["compose:ja", "compose:en"] {
        assert!(
            s["axe"]["checked"]
                .as_array()
                .unwrap()
                .contains(&Value::from(view)),
            "axe ran on {view}: {s}"
        );
    }
    assert_eq!(s["axe"]["violations"], 0, "{}", s["axe"]["details"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and npm packages: tests/browser/setup.sh; run by .ci/run"]
async fn proposing_approving_and_publishing_in_headless_chromium() {
    let (deps, chromium) = browser_tools();
    // The office's policy cautions against promising "no collection" too strongly: the
    // approver's checklist must show it before the previews.
    let policy = "policy:\n  caution: [お休み]\n";
    let repo = GitRepo::new(&format!("{}{policy}", config(MERGE, "2h", "")));
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    let data = tempfile::tempdir().unwrap();
    // The chief: an admin, and the account's approver.
    let chief = (CHIEF.1, "佐藤 一郎", "広報課", Role::Admin);
    let settings = signing_in(&repo.path, data.path(), &[hanako("環境部 清掃課"), chief]);
    let service = oshirase::cli::serve::Service::start(settings)
        .await
        .expect("service starts");
    let base = format!("http://{}/", service.addr);
    let (status, summary) = drive("approvals.mjs", &base, &deps, &chromium, |_| {}).await;
    let main_after = repo.git(CHIEF, &["log", "-1", "--format=%an <%ae>|%P", "main"]);
    service.shutdown().await;
    assert!(
        status.success(),
        "node tests/browser/approvals.mjs: {status}"
    );
    let s = summary.expect("the script printed its summary");
    assert_eq!(s["failures"], serde_json::json!([]), "{s}");
    assert_eq!(s["heading"], "承認待ち", "{s}");
    assert_eq!(s["heading_en"], "Waiting for approval", "{s}");
    assert_eq!(
        s["waiting"],
        serde_json::json!(["年末年始のごみ収集"]),
        "{s}"
    );
    let networks: Vec<&str> = s["previews"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["network"].as_str())
        .collect();
    assert!(
        networks.contains(&"portal") && networks.contains(&"news"),
        "{s}"
    );
    assert!(
        s["previews"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("ごみ収集はお休みです"),
        "{s}"
    );
    assert!(
        s["checklist"]["items"][0]
            .as_str()
            .unwrap_or("")
            .contains("お休み"),
        "the caution is on the approver's checklist: {s}"
    );
    assert_eq!(s["checklist"]["before_previews"], true, "{s}");
    // The image each network will carry, loaded from the proposal, with its alt text.
    let images = s["review_images"].as_array().expect("review images");
    assert_eq!(images.len(), 1, "{s}");
    assert_eq!(images[0]["alt"], "年末年始のごみ収集カレンダー", "{s}");
    assert!(images[0]["width"].as_u64().unwrap_or(0) > 0, "{s}");
    assert!(
        images[0]["caption"]
            .as_str()
            .unwrap_or("")
            .contains("年末年始のごみ収集カレンダー"),
        "{s}"
    );
    assert!(
        s["proposer"].as_str().unwrap_or("").contains("足立 花子"),
        "{s}"
    );
    assert_eq!(
        s["hanako_may_approve"], 0,
        "staff get no approve button: {s}"
    );
    assert_eq!(s["hanako_may_withdraw"], 1, "{s}");
    assert_eq!(s["nav_people_hidden_for_staff"], true, "{s}");
    assert!(
        s["people"]
            .as_array()
            .unwrap()
            .contains(&Value::from(CHIEF.1)),
        "{s}"
    );
    assert_eq!(
        s["late"],
        serde_json::json!(["soon"]),
        "due in a minute, an hour's usual wait: {s}"
    );
    assert_eq!(s["published_seen_by_hanako"], true, "{s}");
    assert_eq!(s["published_seen_by_chief"], true, "{s}");
    for who in ["hanako", "chief"] {
        let seen = s[format!("states_seen_by_{who}")].as_array().unwrap();
        assert_eq!(
            seen.first(),
            Some(&Value::from("scheduled")),
            "{who} saw it scheduled first: {s}"
        );
        assert_eq!(
            seen.last(),
            Some(&Value::from("published")),
            "{who} saw it published last: {s}"
        );
    }
    assert_eq!(s["published_after_due"], true, "not before its time: {s}");
    assert_eq!(s["waiting_after"], 0, "{s}");
    let (author, parents) = main_after.split_once('|').unwrap();
    assert_eq!(author, format!("佐藤 一郎 <{}>", CHIEF.1));
    assert!(
        parents.starts_with(&main_before),
        "a merge onto main: {parents}"
    );
    // The newcomer's temporary password opened only the page that replaced it.
    assert_eq!(s["password"]["landed"], "/password.html", "{s}");
    assert_eq!(s["password"]["dashboard_sends_back"], true, "{s}");
    assert!(
        s["password"]["too_short"]
            .as_str()
            .unwrap_or("")
            .contains("12"),
        "{s}"
    );
    assert_eq!(s["password"]["after"], "/", "{s}");
    assert!(
        s["password"]["who"]
            .as_str()
            .unwrap_or("")
            .contains("田中 健太"),
        "{s}"
    );
    for view in [
        "approvals:ja",
        "approvals:en",
        "people:ja",
        "people:en",
        "password:ja",
        "password:en",
    ] {
        assert!(
            s["axe"]["checked"]
                .as_array()
                .unwrap()
                .contains(&Value::from(view)),
            "axe ran on {view}: {s}"
        );
    }
    assert_eq!(s["axe"]["violations"], 0, "{}", s["axe"]["details"]);
}

/// Serve settings whose people.json holds `people`, who sign in with the password the
/// scripts type (`desk::PASSWORD`).
fn signing_in(
    repo: &std::path::Path,
    data: &std::path::Path,
    people: &[desk::Person],
) -> oshirase::cli::serve::ServeSettings {
    let people = desk::people_file(data, people);
    let mut settings = settings(repo, data);
    settings.auth = oshirase::web::auth::for_listen(
        settings.listen,
        &oshirase::support::secrets::Secrets::default(),
        Some(people),
    )
    .unwrap();
    settings
}

/// 足立 花子, staff in `department`.
fn hanako(department: &'static str) -> desk::Person {
    (
        "hanako@city.example.jp",
        "足立 花子",
        department,
        Role::Staff,
    )
}
