//! Remote repositories and forge webhooks: a bare mirror fetched over `file://` and a local
//! `git daemon`, fetch failures that keep state and recover, and webhook signatures checked
//! with GitHub's published test vector. The forges' real payloads are read in the
//! conformance tier (tests/conformance.rs).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serve_bin::ServeBin;
use common::webhooks::{headers, sign};
use common::*;
use oshirase::support::secrets::Secrets;
use oshirase::web::hooks::{decide, hmac_matches, Decision, HookDialect};

const SECRET: &str = "s3cret-for-tests";

#[test]
fn githubs_published_signature_vector_verifies() {
    let sig = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert!(hmac_matches(
        "It's a Secret to Everybody",
        b"Hello, World!",
        sig
    ));
    assert!(!hmac_matches(
        "It's a Secret to Everybody",
        b"Hello, World?",
        sig
    ));
    assert!(!hmac_matches("another secret", b"Hello, World!", sig));
    // A delivery carrying the vector is authentic; as a ping it is acknowledged and ignored.
    let h = headers(&[
        ("x-hub-signature-256", &format!("sha256={sig}")),
        ("x-github-event", "ping"),
    ]);
    assert!(matches!(
        decide(
            HookDialect::GitHub,
            Some("It's a Secret to Everybody"),
            "main",
            &h,
            b"Hello, World!"
        ),
        Decision::Ignore(_)
    ));
    // The same vector is Gitea's header, without the prefix.
    let h = headers(&[("x-gitea-signature", sig), ("x-gitea-event", "push")]);
    assert!(matches!(
        decide(
            HookDialect::Gitea,
            Some("It's a Secret to Everybody"),
            "main",
            &h,
            b"Hello, World!"
        ),
        Decision::BadRequest(_)
    ));
}

fn remote_settings(
    url: &str,
    data: &Path,
    fetch_interval: Duration,
) -> oshirase::cli::serve::ServeSettings {
    let mut s = settings(&oshirase::git::fetch::mirror_path(data), data);
    s.remote = Some(url.to_string());
    s.fetch_interval = fetch_interval;
    s.secrets = Secrets::parse("test", &format!("OSHIRASE_WEBHOOK_SECRET={SECRET}")).unwrap();
    s
}

fn post_hook(
    addr: std::net::SocketAddr,
    forge: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let mut req = ureq::post(&format!("http://{addr}/hooks/{forge}"))
        .config()
        .http_status_as_error(false)
        .build();
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send(body).unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_webhook_fetches_at_once_and_a_bad_one_does_nothing() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path.display());
    // The timer would fetch only after an hour: anything sooner is the webhook.
    let service = oshirase::cli::serve::Service::start(remote_settings(
        &url,
        data.path(),
        Duration::from_secs(3600),
    ))
    .await
    .unwrap();
    assert!(
        data.path().join("mirror.git").is_dir(),
        "a bare mirror in the data directory"
    );
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/a.md",
            &post("A", None, "portal", "ウェブフックで届いた"),
        )],
    );

    let body = br#"{"ref":"refs/heads/main","after":"0123"}"#.to_vec();
    let addr = service.addr;
    let b = body.clone();
    let status = tokio::task::spawn_blocking(move || {
        post_hook(
            addr,
            "github",
            &[
                ("x-github-event", "push"),
                ("x-hub-signature-256", "sha256=00"),
            ],
            &b,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        outbox(data.path(), "city", "portal").is_empty(),
        "a bad signature triggers nothing"
    );

    let sig = format!("sha256={}", sign(&body, SECRET));
    let status = tokio::task::spawn_blocking(move || {
        post_hook(
            addr,
            "github",
            &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
            &body,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
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
    let other = br#"{"ref":"refs/heads/feature"}"#.to_vec();
    let sig = sign(&other, SECRET);
    let status = tokio::task::spawn_blocking(move || {
        post_hook(
            addr,
            "gitea",
            &[("x-gitea-event", "push"), ("x-gitea-signature", &sig)],
            &other,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "other branches are acknowledged and ignored");
    service.shutdown().await;
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn git_daemon(base: &Path, port: u16) -> Child {
    // Run git-daemon itself: `git daemon` may leave it running as a child when killed.
    let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
    let exec_path = String::from_utf8_lossy(&exec_path.stdout)
        .trim()
        .to_string();
    Command::new(Path::new(&exec_path).join("git-daemon"))
        .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon")
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_over_git_daemon_survives_an_outage() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "一つ目"))],
    );
    let base = repo.path.parent().unwrap().to_path_buf();
    let port = free_port();
    let daemon = Daemon(git_daemon(&base, port));
    let url = format!("git://127.0.0.1:{port}/content");
    let data = tempfile::tempdir().unwrap();
    let mut started = None;
    for _ in 0..50 {
        // The daemon needs a moment to listen.
        match oshirase::cli::serve::Service::start(remote_settings(
            &url,
            data.path(),
            Duration::from_millis(500),
        ))
        .await
        {
            Ok(s) => {
                started = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let service = started.expect("serve starts against git daemon");
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

    // The network goes down: fetches fail, health says so, nothing recorded is lost.
    drop(daemon);
    repo.propose_and_merge(
        "staff/b",
        &[("posts/b.md", &post("B", None, "portal", "二つ目"))],
    );
    let health = service.health.clone();
    assert!(
        wait_for(Duration::from_secs(10), || health
            .read()
            .unwrap()
            .fetch_error
            .is_some())
        .await
    );
    let (status, body) = tokio::task::spawn_blocking({
        let addr = service.addr;
        move || get_json(addr, "/healthz")
    })
    .await
    .unwrap();
    assert_eq!(status, 503);
    assert!(
        body["fetch_error"]
            .as_str()
            .unwrap()
            .contains("git://127.0.0.1"),
        "{body}"
    );
    assert_eq!(
        delivery_state(&service, "posts/a", "portal").as_deref(),
        Some("published")
    );

    // It comes back: the next retry fetches and the new post goes out once.
    let _daemon = Daemon(git_daemon(&base, port));
    assert!(
        wait_for(Duration::from_secs(20), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 2)
        .await
    );
    assert!(
        wait_for(Duration::from_secs(5), || health
            .read()
            .unwrap()
            .fetch_error
            .is_none())
        .await
    );
    service.shutdown().await;
    assert_eq!(outbox(data.path(), "city", "portal").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_cannot_be_fetched_at_first_start_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // The token comes from the secrets, as it must (a URL with a password is refused).
    let url = format!("https://user@127.0.0.1:{port}/city/posts.git");
    let mut s = remote_settings(&url, data.path(), Duration::from_secs(60));
    s.secrets = Secrets::parse("test", "OSHIRASE_GIT_TOKEN=tok3n-value\n").unwrap();
    let err = oshirase::cli::serve::Service::start(s)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("fetching https://127.0.0.1"), "{err}");
    assert!(
        !err.contains("tok3n-value"),
        "credentials never appear: {err}"
    );
}

/// A remote that accepts connections and never answers while `hang` is set; otherwise it
/// passes each connection on to `target` (a git daemon), byte for byte.
fn hanging_proxy(target: u16, hang: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming().map_while(Result::ok) {
            if hang.load(Ordering::SeqCst) {
                held.push(client); // Open, silent, for ever.
                continue;
            }
            let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
            pipe(upstream, client);
        }
    });
    port
}

#[test]
fn a_remote_that_never_answers_is_a_failing_fetch_and_serve_listens_meanwhile() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/a.md",
            &post("A", None, "portal", "待たされたお知らせ"),
        )],
    );
    let base = repo.path.parent().unwrap().to_path_buf();
    let daemon_port = free_port();
    let _daemon = Daemon(git_daemon(&base, daemon_port));
    let hang = Arc::new(AtomicBool::new(true));
    let port = hanging_proxy(daemon_port, hang.clone());
    let data = tempfile::tempdir().unwrap();
    let url = format!("git://127.0.0.1:{port}/content");

    // A first start: nothing fetched yet, and the remote never answers. serve listens.
    let serve = ServeBin::start(
        Path::new(&url),
        data.path(),
        &["--fetch-timeout", "2s", "--fetch-interval", "1s"],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        let (status, body) = get_json(serve.addr, "/healthz");
        if body["fetch_error"].is_string() {
            assert_eq!(status, 503, "{body}");
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no failing fetch reported: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let error = health["fetch_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("git://127.0.0.1:{port}/content"))
            && error.contains("stopped after"),
        "names the remote and the time limit: {error}"
    );

    // The remote answers again: the next fetch gets the branch and the post goes out.
    hang.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while outbox(data.path(), "city", "portal").len() != 1 {
        assert!(Instant::now() < deadline, "the post never went out");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = get_json(serve.addr, "/healthz");
    assert!(body["fetch_error"].is_null(), "{body}");
    assert_eq!(status, 200, "{body}");
}
