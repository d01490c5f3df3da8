//! Dashboard authentication: every dashboard, API, event and metrics route refuses a request
//! without the right credentials, accepts the shared token (bearer, or as any basic user's
//! password) and the configured users, and leaves the forge webhooks, `/healthz` (status
//! only) and published media reachable; `serve` will not open a dashboard to the network
//! without credentials.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::*;
use oshirase::support::secrets::Secrets;
use oshirase::web::auth::DashboardAuth;

const TOKEN: &str = "s3cret-dashboard-token-0123";
const HOOK_SECRET: &str = "gitlab-hook-token";

struct Answer {
    status: u16,
    challenge: Option<String>,
    csp: Option<String>,
    body: String,
}

fn call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{addr}{path}");
    let response = if method == "POST" {
        let mut req = agent.post(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send(br#"{"ref":"refs/heads/main"}"#.as_slice())
    } else {
        let mut req = agent.get(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.call()
    }
    .expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (challenge, csp) = (
        header("www-authenticate"),
        header("content-security-policy"),
    );
    Answer {
        status: response.status().as_u16(),
        challenge,
        csp,
        body: response.into_body().read_to_string().unwrap_or_default(),
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_needs_credentials_and_the_hooks_keep_their_own() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "認証の向こう"))],
    );
    let data = tempfile::tempdir().unwrap();
    // Beside koho, one user per route below: a name is locked after a few wrong passwords
    // (`login_guard`), so each route is tried with a wrong password for a name of its own.
    let users = std::iter::once("koho".to_string())
        .chain((0..7).map(|i| format!("koho{i}")))
        .map(|name| oshirase::web::auth::hash_password(&name, "kaigi-shitsu 3F", 1_000).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse("test", &format!("OSHIRASE_WEBHOOK_SECRET={HOOK_SECRET}")).unwrap();
    s.auth = DashboardAuth::new(Some(TOKEN), Some(&users)).unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service, "posts/a", "portal"
        )
        .as_deref()
            == Some("published"))
        .await
    );
    let addr = service.addr;
    tokio::task::spawn_blocking(move || {
        let bearer = format!("Bearer {TOKEN}");
        let token_as_password = basic("anyone", TOKEN);
        let user = basic("koho", "kaigi-shitsu 3F");
        let wrong = |i: usize| {
            [
                format!("Bearer {TOKEN}x"),
                basic(&format!("koho{i}"), "kaigi-shitsu 4F"),
                basic(&format!("nobody{i}"), "kaigi-shitsu 3F"),
                format!("Basic {TOKEN}"),
                "Digest x".to_string(),
            ]
        };
        for (i, path) in [
            "/",
            "/js/main.js",
            "/api/posts",
            "/api/posts?state=published",
            "/api/posts/posts%2Fa",
            "/metrics",
            "/no/such/page",
        ]
        .into_iter()
        .enumerate()
        {
            let none = call(addr, "GET", path, &[]);
            assert_eq!(none.status, 401, "{path} without credentials");
            assert_eq!(
                none.challenge.as_deref(),
                Some(r#"Basic realm="oshirase""#),
                "{path}"
            );
            assert!(
                none.csp.is_some_and(|c| c.contains("frame-ancestors 'none'")),
                "security headers on the 401 too"
            );
            assert!(!none.body.contains("認証の向こう"), "{path} leaks nothing");
            for w in &wrong(i) {
                let a = call(addr, "GET", path, &[("authorization", w)]);
                assert_eq!(a.status, 401, "{path} with {w}");
            }
            if path == "/no/such/page" {
                continue;
            }
            for good in [&bearer, &token_as_password, &user] {
                let a = call(addr, "GET", path, &[("authorization", good)]);
                assert_eq!(a.status, 200, "{path} with good credentials");
            }
        }
        let list = call(addr, "GET", "/api/posts", &[("authorization", &user)]);
        assert!(list.body.contains("認証の向こう"));

        // The live event stream, as a browser with remembered basic credentials opens it.
        use std::io::{Read, Write};
        for (credentials, expect) in [(None, "401"), (Some(&token_as_password), "200")] {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let auth_line = credentials
                .map(|c| format!("Authorization: {c}\r\n"))
                .unwrap_or_default();
            write!(
                stream,
                "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{auth_line}\r\n"
            )
            .unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap();
            assert_eq!(&head[9..12], expect.as_bytes(), "/api/events");
        }

        // The forge webhooks answer without dashboard credentials, with their own check.
        let hook = call(
            addr,
            "POST",
            "/hooks/gitlab",
            &[
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", HOOK_SECRET),
            ],
        );
        assert_eq!(hook.status, 202, "{}", hook.body);
        let bad_hook = call(
            addr,
            "POST",
            "/hooks/gitlab",
            &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "nope")],
        );
        assert_eq!(bad_hook.status, 401);
        assert!(
            bad_hook.challenge.is_none() && bad_hook.body.contains("signature"),
            "refused by the webhook's own check: {}",
            bad_hook.body
        );
        let dashboard_credentials_do_not_sign_hooks = call(
            addr,
            "POST",
            "/hooks/gitlab",
            &[("x-gitlab-event", "Push Hook"), ("authorization", &bearer)],
        );
        assert_eq!(dashboard_credentials_do_not_sign_hooks.status, 401);

        // Health: the status for probes, the details only for those who logged in.
        let probe = call(addr, "GET", "/healthz", &[]);
        assert_eq!(probe.status, 200);
        let v: serde_json::Value = serde_json::from_str(&probe.body).unwrap();
        assert_eq!(v, serde_json::json!({ "status": "ok" }));
        let full = call(addr, "GET", "/healthz", &[("authorization", &bearer)]);
        let v: serde_json::Value = serde_json::from_str(&full.body).unwrap();
        assert!(v["last_sync_commit"].is_string(), "{v}");
        // Media for networks that fetch by URL: no dashboard login, and only published
        // images (this one is not).
        let media = call(addr, "GET", &format!("/media/{}", "0".repeat(40)), &[]);
        assert_eq!(media.status, 404);
    })
    .await
    .unwrap();
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_an_open_dashboard_on_a_public_address() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.listen = "0.0.0.0:0".parse().unwrap();
    let err = match oshirase::cli::serve::Service::start(s).await {
        Ok(_) => panic!("an open dashboard on 0.0.0.0 started"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("OSHIRASE_DASHBOARD_TOKEN"), "{err}");
}

fn oshirase() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
}

#[test]
fn serve_on_all_addresses_needs_credentials_and_starts_with_them() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let out = oshirase()
        .args(["serve", "--listen", "0.0.0.0:0", "--repo"])
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .env_remove("OSHIRASE_DASHBOARD_TOKEN")
        .env_remove("OSHIRASE_DASHBOARD_USERS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OSHIRASE_DASHBOARD_TOKEN")
            && stderr.contains("OSHIRASE_DASHBOARD_USERS")
            && stderr.contains("0.0.0.0"),
        "{stderr}"
    );
    assert!(
        !data.path().join("oshirase.redb").exists(),
        "refused before touching the data"
    );

    let short = oshirase()
        .args(["serve", "--listen", "0.0.0.0:0", "--repo"])
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .env("OSHIRASE_DASHBOARD_TOKEN", "abc")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than 16"));

    // With a users entry from `hash-password` in the secrets file, it starts.
    let mut hasher = oshirase()
        .args(["hash-password", "koho", "--iterations", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        hasher
            .stdin
            .take()
            .unwrap()
            .write_all(b"kaigi-shitsu 3F\n")
            .unwrap();
    }
    let hashed = hasher.wait_with_output().unwrap();
    assert!(hashed.status.success());
    let entry = String::from_utf8(hashed.stdout).unwrap().trim().to_string();
    assert!(
        entry.starts_with("koho:pbkdf2-sha256:1000:") && !entry.contains("kaigi"),
        "{entry}"
    );
    let secrets = data.path().join("secrets.env");
    std::fs::write(&secrets, format!("OSHIRASE_DASHBOARD_USERS={entry}\n")).unwrap();
    let mut child = oshirase()
        .args(["serve", "--listen", "0.0.0.0:0", "--repo"])
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .arg("--secrets")
        .arg(&secrets)
        .env_remove("OSHIRASE_DASHBOARD_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = serving_port(&mut child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(call(addr, "GET", "/api/posts", &[]).status, 401);
    let ok = call(
        addr,
        "GET",
        "/api/posts",
        &[("authorization", &basic("koho", "kaigi-shitsu 3F"))],
    );
    assert_eq!(ok.status, 200);
    let _ = child.kill();
    let _ = child.wait();
}
