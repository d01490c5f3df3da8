//! The HTTP interface as DESIGN.md fixes it: the JSON API, health, the embedded dashboard
//! with its security headers, and live events.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use chrono::Utc;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_posts_post_and_health_answer_as_designed() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let far = Utc::now() + chrono::Duration::hours(2);
    repo.propose_and_merge(
        "staff/a",
        &[
            (
                "posts/gomi.md",
                &post(
                    "ごみ収集の変更",
                    Some(far),
                    "portal, news",
                    "年末年始のごみ収集",
                ),
            ),
            (
                "posts/now.md",
                &post("すぐのお知らせ", None, "portal", "本日のお知らせ"),
            ),
        ],
    );
    let service = start(&repo.path, data.path()).await;
    assert!(
        reaches(
            &service,
            "posts/now",
            "portal",
            "published",
            Duration::from_secs(5)
        )
        .await
    );
    let addr = service.addr;
    let body = tokio::task::spawn_blocking(move || get_json(addr, "/api/posts"))
        .await
        .unwrap();
    assert_eq!(body.0, 200);
    let posts = body.1["posts"].as_array().unwrap().clone();
    assert_eq!(posts.len(), 2);
    let gomi = posts.iter().find(|p| p["id"] == "posts/gomi").unwrap();
    for key in [
        "id",
        "title",
        "file",
        "account",
        "department",
        "publish_at",
        "proposer",
        "approver",
        "commit",
        "state",
        "deliveries",
    ] {
        assert!(gomi.get(key).is_some(), "post has `{key}`");
    }
    assert_eq!(gomi["state"], "scheduled");
    assert_eq!(gomi["file"], "posts/gomi.md");
    assert_eq!(gomi["account"], "city");
    assert!(gomi["proposer"].as_str().unwrap().contains(STAFF.1));
    assert!(gomi["approver"].as_str().unwrap().contains(CHIEF.1));
    assert_eq!(gomi["commit"].as_str().unwrap().len(), 40);
    let d = &gomi["deliveries"][0];
    for key in [
        "network",
        "state",
        "attempts",
        "remote_id",
        "remote_url",
        "last_error",
        "published_at",
        "next_attempt_at",
    ] {
        assert!(d.get(key).is_some(), "delivery has `{key}`");
    }
    let t = chrono::DateTime::parse_from_rfc3339(gomi["publish_at"].as_str().unwrap()).unwrap();
    assert_eq!(t.timestamp(), far.timestamp());

    let (status, filtered) = tokio::task::spawn_blocking(move || {
        get_json(addr, "/api/posts?state=published&q=%E6%9C%AC%E6%97%A5")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let ids: Vec<&str> = filtered["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["posts/now"]);
    let (status, bad) =
        tokio::task::spawn_blocking(move || get_json(addr, "/api/posts?state=sent"))
            .await
            .unwrap();
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().starts_with("state:"));

    let (status, one) =
        tokio::task::spawn_blocking(move || get_json(addr, "/api/posts/posts%2Fnow"))
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert_eq!(one["state"], "published");
    let kinds: Vec<&str> = one["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["landed", "scheduled", "publishing", "published"]);
    for e in one["events"].as_array().unwrap() {
        for key in ["at", "kind", "network", "detail"] {
            assert!(e.get(key).is_some(), "event has `{key}`");
        }
    }
    let (status, _) = tokio::task::spawn_blocking(move || get_json(addr, "/api/posts/posts/nope"))
        .await
        .unwrap();
    assert_eq!(status, 404);

    let (status, health) = tokio::task::spawn_blocking(move || get_json(addr, "/healthz"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(
        health["last_sync_commit"].as_str().unwrap(),
        repo.git(CHIEF, &["rev-parse", "main"])
    );
    assert!(health["last_sync_at"].is_string());
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_embedded_and_served_with_security_headers() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    let url = format!("http://{}/", service.addr);
    let (csp, nosniff, frame, html) = tokio::task::spawn_blocking(move || {
        let resp = ureq::get(&url).call().unwrap();
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let (csp, nosniff, frame) = (
            h("content-security-policy"),
            h("x-content-type-options"),
            h("x-frame-options"),
        );
        (
            csp,
            nosniff,
            frame,
            resp.into_body().read_to_string().unwrap(),
        )
    })
    .await
    .unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(nosniff, "nosniff");
    assert_eq!(frame, "DENY");
    assert!(
        html.contains("id=\"view-body\"") && html.contains("js/main.js"),
        "the dashboard page"
    );
    // Every ES module of the dashboard, as the browser fetches it: served as JavaScript
    // (a module script of any other type is refused), and rendering staff-written text
    // with textContent only.
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let modules = js_files(&web);
    assert!(modules.len() > 5, "the dashboard's modules: {modules:?}");
    let addr = service.addr;
    let served = tokio::task::spawn_blocking(move || {
        modules
            .into_iter()
            .map(|path| {
                let mut reply = ureq::get(&format!("http://{addr}/{path}")).call().unwrap();
                let kind = reply.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let body = reply.body_mut().read_to_string().unwrap();
                (path, kind, body)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(served.iter().any(|(_, _, js)| js.contains("api/posts")));
    for (path, kind, js) in &served {
        assert!(kind.starts_with("text/javascript"), "{path}: {kind}");
        for sink in [
            ".innerHTML",
            ".outerHTML",
            "insertAdjacentHTML(",
            "document.write(",
        ] {
            assert!(!js.contains(sink), "{path} uses {sink}");
        }
    }
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_live_as_server_sent_events() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    let addr = service.addr;
    let reader = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut lines = BufReader::new(stream).lines();
        let mut seen = Vec::new();
        while let Some(Ok(line)) = lines.next() {
            if let Some(data) = line.strip_prefix("data:") {
                let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
                let kind = v["kind"].as_str().unwrap().to_string();
                seen.push(kind.clone());
                if kind == "published" {
                    break;
                }
            }
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    repo.propose_and_merge(
        "staff/live",
        &[("posts/live.md", &post("ライブ", None, "portal", "今すぐ"))],
    );
    let seen = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert!(
        seen.contains(&"landed".to_string()) && seen.contains(&"published".to_string()),
        "{seen:?}"
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_api_gives_timezone_networks_counts_and_department_filter() {
    let repo = GitRepo::new(&config(
        MERGE,
        "2h",
        "      x: { type: x, credentials: X_CITY }\n",
    ));
    let data = tempfile::tempdir().unwrap();
    let far = Utc::now() + chrono::Duration::hours(5);
    let with_department = |title: &str, department: &str, networks: &str, body: &str| {
        post(title, Some(far), networks, body).replacen(
            "networks:",
            &format!("department: {department}\nnetworks:"),
            1,
        )
    };
    repo.propose_and_merge(
        "staff/api",
        &[
            (
                "posts/gomi.md",
                &with_department("ごみ", "環境部", "portal, x", "年末年始の\nごみ収集"),
            ),
            (
                "posts/bousai.md",
                &with_department("防災", "危機管理部", "portal", "防災訓練"),
            ),
        ],
    );
    let mut settings = settings(&repo.path, data.path());
    settings.secrets =
        oshirase::support::secrets::Secrets::parse("t", "X_CITY_TYPE=x\nX_CITY_BEARER_TOKEN=x\n")
            .unwrap();
    let service = oshirase::cli::serve::Service::start(settings)
        .await
        .unwrap();
    let addr = service.addr;

    let (status, info) = tokio::task::spawn_blocking(move || get_json(addr, "/api/info"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(info["timezone"], "Asia/Tokyo");
    assert_eq!(info["branch"], "main");
    assert_eq!(info["dry_run"], false);
    assert_eq!(info["max_lateness_secs"], 7200);
    assert_eq!(info["forge"], serde_json::Value::Null, "a local repository");
    let city = &info["accounts"][0];
    assert_eq!(city["name"], "city");
    assert_eq!(city["approval"]["mode"], "merge");
    assert_eq!(city["approval"]["approvers"][0], CHIEF.1);
    let networks: Vec<(String, String, u64)> = city["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["type"].as_str().unwrap().to_string(),
                n["limit"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        networks,
        [
            ("news".to_string(), "outbox".to_string(), 63_206),
            ("portal".to_string(), "outbox".to_string(), 63_206),
            ("x".to_string(), "x".to_string(), 280),
        ]
    );
    assert!(
        !info.to_string().contains("X_CITY"),
        "no credential names: {info}"
    );

    let (status, found) = tokio::task::spawn_blocking(move || {
        get_json(addr, "/api/posts?department=%E7%92%B0%E5%A2%83%E9%83%A8")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let posts = found["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 1, "{found}");
    assert_eq!(posts[0]["id"], "posts/gomi");
    let x = posts[0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["network"] == "x")
        .unwrap();
    assert_eq!(x["text"], "年末年始の\nごみ収集", "line breaks kept");
    assert_eq!(
        x["length"], 19,
        "X counts CJK characters twice, the line break once"
    );
    assert_eq!(x["limit"], 280);
    assert_eq!(x["images"], serde_json::json!([]));

    let (status, one) =
        tokio::task::spawn_blocking(move || get_json(addr, "/api/posts/posts%2Fgomi"))
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert_eq!(one["links"], serde_json::Value::Null, "no forge, no links");
    assert!(one["events"][0]["actor"].is_object(), "{}", one["events"]);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_come_with_machine_readable_facts_beside_their_wording() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let long_ago = Utc::now() - chrono::Duration::hours(3);
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/old.md",
            &post(
                "過ぎたお知らせ",
                Some(long_ago),
                "portal",
                "三時間前のお知らせ",
            ),
        )],
    );
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(10), || delivery_state(
            &service,
            "posts/old",
            "portal"
        )
        .as_deref()
            == Some("missed"))
        .await
    );
    let addr = service.addr;
    let (status, body) =
        tokio::task::spawn_blocking(move || get_json(addr, "/api/posts/posts%2Fold"))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let missed = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "missed")
        .expect("a missed event")
        .clone();
    // The audit log's English, as before, and the facts beside it.
    assert!(missed["detail"]
        .as_str()
        .unwrap()
        .contains("beyond max_lateness 2h"));
    let facts = &missed["facts"];
    assert_eq!(facts["code"], "missed", "{missed}");
    assert_eq!(facts["max_lateness_secs"], 7200);
    assert!(
        facts["late_secs"].as_u64().unwrap() >= 3 * 3600 - 60,
        "{facts}"
    );
    let due_at: chrono::DateTime<Utc> = facts["due_at"].as_str().unwrap().parse().unwrap();
    assert!((due_at - long_ago).num_seconds().abs() <= 1, "{facts}");
    let delivery = &body["deliveries"][0];
    assert_eq!(delivery["last_error_facts"], *facts, "{delivery}");
    service.shutdown().await;
}

/// The dashboard never downloads every post (issue 13, item 9): each view is a page with a
/// total and a cursor, a changed post can be asked for alone, and the counts come apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_come_a_page_at_a_time_per_view_with_counts_apart() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let soon = Utc::now() + chrono::Duration::hours(1);
    let mut files: Vec<(String, String)> = (0..7)
        .map(|i| {
            let at = soon + chrono::Duration::hours(i * 10);
            (
                format!("posts/later-{i}.md"),
                post(&format!("予定 {i}"), Some(at), "portal, news", "いずれ"),
            )
        })
        .collect();
    files.push((
        "posts/now.md".into(),
        post("すぐ", None, "portal", "本日のお知らせ"),
    ));
    files.push((
        "posts/broken.md".into(),
        "---\ntitle: 壊れた\npublish_at: someday\nnetworks: [portal]\n---\n本文\n".into(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    repo.propose_and_merge("staff/many", &refs);
    let service = start(&repo.path, data.path()).await;
    assert!(
        reaches(
            &service,
            "posts/now",
            "portal",
            "published",
            Duration::from_secs(5)
        )
        .await
    );
    let addr = service.addr;
    let get = move |path: String| {
        let (status, body) = get_json(addr, &path);
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    tokio::task::spawn_blocking(move || {
        // Upcoming, three at a time: every page but the last has a cursor, and the pages
        // together are the whole view in due order.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                None => "/api/posts?view=upcoming&limit=3".to_string(),
                Some(c) => format!(
                    "/api/posts?view=upcoming&limit=3&cursor={}",
                    percent_encoding::utf8_percent_encode(c, percent_encoding::NON_ALPHANUMERIC)
                ),
            };
            let body = get(path);
            assert_eq!(body["total"], 7);
            assert!(body["posts"].as_array().unwrap().len() <= 3);
            seen.extend(ids(&body));
            pages += 1;
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let expected: Vec<String> = (0..7).map(|i| format!("posts/later-{i}")).collect();
        assert_eq!(seen, expected);

        // Attention and published are views of their own; the whole list keeps its order.
        assert_eq!(
            ids(&get("/api/posts?view=attention&limit=10".into())),
            ["posts/broken"]
        );
        let published = get("/api/posts?view=published&network=portal&limit=10".into());
        assert_eq!(ids(&published), ["posts/now"]);
        assert_eq!(published["next_cursor"], serde_json::Value::Null);
        let all = get("/api/posts".into());
        assert_eq!(all["total"], 9);
        assert_eq!(ids(&all).len(), 9);

        // One post asked for by id: it comes with its cursor, and the total is still the
        // view's, so a dashboard can place it without reading the rest.
        let one = get("/api/posts?view=upcoming&limit=3&id=posts/later-5&id=posts/now".into());
        assert_eq!(ids(&one), ["posts/later-5"]);
        assert_eq!(one["total"], 7);
        let cursor = one["posts"][0]["cursor"].as_str().unwrap();
        let page2 = get("/api/posts?view=upcoming&limit=3".into());
        let last = page2["next_cursor"].as_str().unwrap();
        assert!(cursor > last, "later-5 sorts after the first page");

        let summary = get("/api/summary".into());
        assert_eq!(summary["posts"], 9);
        assert_eq!(summary["attention"], 1, "{summary}");
        assert_eq!(summary["upcoming"], 7);
        assert_eq!(summary["upcoming_24h"], 3, "{summary}");
        assert_eq!(summary["published_today"], 1);
        assert_eq!(summary["published"]["portal"], 1);
        assert_eq!(summary["networks"], serde_json::json!(["news", "portal"]));

        // A bad page is refused with the parameter named.
        for (bad, field) in [
            ("limit=0", "limit"),
            ("view=soon", "view"),
            ("cursor=x", "cursor"),
        ] {
            let (status, body) = get_json(addr, &format!("/api/posts?{bad}"));
            assert_eq!(status, 400, "{bad}");
            assert!(
                body["error"].as_str().unwrap().starts_with(field),
                "{bad}: {body}"
            );
        }
    })
    .await
    .unwrap();
}

/// The `.js` files below `dir`, as paths relative to it with `/` between folders.
fn js_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "js") {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}
