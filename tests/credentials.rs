//! Credentials stay where the operator put them, tried as an author with push access would,
//! against the real binary: a pushed `base_url` pointing at a capture server, a
//! `credentials:` that names someone else's variables or the server's own settings, a
//! credential of another type; and, for contrast, a declared host that is published to. A
//! capture server is a plain TCP listener on loopback that records every byte it gets: a
//! refused network must not even connect to it.

mod common;

#[path = "fakes/mastodon.rs"]
mod fake_mastodon;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// How long a refused network is watched after its post fell due.
const WATCH: Duration = Duration::from_secs(3);

/// A listener that records the bytes of every connection made to it and answers 200 `{}`.
struct Capture {
    port: u16,
    connections: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Capture {
    fn start() -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let seen = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut got = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stream.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&chunk[..n]);
                }
                seen.lock().unwrap().push(got);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                );
            }
        });
        Capture { port, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every byte received, all connections together.
    fn received(&self) -> Vec<u8> {
        self.connections.lock().unwrap().concat()
    }

    fn connection_count(&self) -> usize {
        self.connections.lock().unwrap().len()
    }
}

/// `oshirase serve` as a child process, with the address it printed.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    /// Starts serve on `repo` with the secrets file `secrets` (when not empty) and `env`
    /// added to the child's environment.
    fn start(repo: &Path, data: &Path, secrets: &str, env: &[(&str, String)]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oshirase"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--poll",
            "200ms",
            "--repo",
        ])
        .arg(repo)
        .arg("--data")
        .arg(data);
        if !secrets.is_empty() {
            let file = data.join("secrets.env");
            std::fs::write(&file, secrets).unwrap();
            cmd.arg("--secrets").arg(file);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Serve::spawn(cmd)
    }

    /// Serve on a remote URL, mirrored into `data`.
    fn start_remote(url: &str, data: &Path) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oshirase"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--repo", url, "--data"])
            .arg(data);
        Serve::spawn(cmd)
    }

    /// Runs `cmd` and waits until it says where it serves.
    fn spawn(mut cmd: Command) -> Serve {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let lines = stderr_lines(&mut child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("serve prints its address");
            if let Some(rest) = line.split("serving http://").nth(1) {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        Serve { child, addr }
    }

    fn get(&self, path: &str) -> Value {
        get_json(self.addr, path).1
    }

    /// The delivery of `post` to `network` as `GET /api/posts` shows it.
    fn delivery(&self, post: &str, network: &str) -> Option<Value> {
        let posts = self.get("/api/posts");
        let post = posts["posts"]
            .as_array()?
            .iter()
            .find(|p| p["id"] == post)?;
        post["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["network"] == network)
            .cloned()
    }

    /// Waits until the delivery has a `last_error`, and returns it.
    fn wait_for_error(&self, post: &str, network: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(e) = self
                .delivery(post, network)
                .and_then(|d| d["last_error"].as_str().map(str::to_string))
            {
                return e;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no error recorded for {post} → {network}: {:?}",
            self.delivery(post, network)
        );
    }

    /// Waits until the delivery is `published`.
    fn wait_published(&self, post: &str, network: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self
                .delivery(post, network)
                .is_some_and(|d| d["state"] == "published")
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The reason `/healthz` gives for a paused network, if it is paused.
    fn paused_reason(&self, network: &str) -> Option<String> {
        let health = self.get("/healthz");
        health["paused_networks"]
            .as_array()?
            .iter()
            .find(|p| p["network"] == network)
            .and_then(|p| p["reason"].as_str().map(str::to_string))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's standard error, line by line. It is read to the end even when nobody
/// listens any more, so the child never writes into a closed pipe.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A repository whose one post, due now, goes to `target` and to the outbox `portal`.
fn repo_with(target: &str) -> GitRepo {
    let repo = GitRepo::new(&config(BRANCH, "2h", &format!("      target: {target}\n")));
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/a.md",
            &post("お知らせ", None, "target, portal", "本日のお知らせ"),
        )],
    );
    repo
}

/// Runs serve on a repository sending `target` to the capture server, checks that the
/// capture server got nothing while the post was due and the outbox got it, and returns
/// the reason recorded on the refused delivery.
/// `CAPTURE` in `target` becomes the capture server's URL, `CAPTURE_HOST` in the secrets
/// and the environment its `127.0.0.1:<port>`.
fn refused_reason(target: &str, secrets: &str, env: &[(&str, String)]) -> String {
    let capture = Capture::start();
    let host = format!("127.0.0.1:{}", capture.port);
    let repo = repo_with(&target.replace("CAPTURE", &capture.url()));
    let data = tempfile::tempdir().unwrap();
    let secrets = secrets.replace("CAPTURE_HOST", &host);
    let env: Vec<(&str, String)> = env
        .iter()
        .map(|(k, v)| (*k, v.replace("CAPTURE_HOST", &host)))
        .collect();
    let serve = Serve::start(&repo.path, data.path(), &secrets, &env);
    let reason = serve.wait_for_error("posts/a", "target");
    assert!(
        serve.wait_published("posts/a", "portal"),
        "the other network goes on"
    );
    std::thread::sleep(WATCH);
    assert_eq!(
        capture.connection_count(),
        0,
        "{:?}",
        String::from_utf8_lossy(&capture.received())
    );
    let paused = serve
        .paused_reason("city/target")
        .expect("the network is paused");
    assert!(reason.contains(&paused), "{reason} / {paused}");
    reason
}

#[test]
fn a_pushed_base_url_to_a_capture_server_receives_nothing_and_says_why() {
    let capture = Capture::start();
    // The operator declared X_CITY for X; the repository starts without any post.
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      target: { type: x, credentials: X_CITY }\n",
    ));
    let data = tempfile::tempdir().unwrap();
    let secrets = "X_CITY_TYPE=x\nX_CITY_BEARER_TOKEN=city-x-token-4f9e\n";
    let serve = Serve::start(&repo.path, data.path(), secrets, &[]);

    // A push that moves the network to the author's server, with a post due now.
    repo.write(
        "oshirase.yaml",
        &config(
            BRANCH,
            "2h",
            &format!(
                "      target: {{ type: x, credentials: X_CITY, base_url: \"{}\" }}\n",
                capture.url()
            ),
        ),
    );
    repo.write(
        "posts/a.md",
        &post("お知らせ", None, "target, portal", "本日のお知らせ"),
    );
    repo.commit_all(STAFF, "point X elsewhere");

    let reason = serve.wait_for_error("posts/a", "target");
    assert!(serve.wait_published("posts/a", "portal"));
    std::thread::sleep(WATCH);
    assert_eq!(capture.connection_count(), 0);
    assert!(capture.received().is_empty());
    let host = format!("127.0.0.1:{}", capture.port);
    assert!(
        reason.contains(&format!("credential X_CITY may not be sent to host {host}"))
            && reason.contains("X_CITY_HOSTS or OSHIRASE_CRED_X_CITY_HOSTS"),
        "{reason}"
    );
    assert!(!reason.contains("city-x-token"), "{reason}");
    let paused = serve.paused_reason("city/target").expect("paused");
    assert!(paused.contains(&host), "{paused}");
    assert_eq!(
        serve.delivery("posts/a", "target").unwrap()["state"],
        "retrying",
        "the delivery waits"
    );
}

#[test]
fn an_instance_or_service_moved_elsewhere_receives_nothing() {
    let secrets =
        "M_CITY_TYPE=mastodon\nM_CITY_HOSTS=social.city.example\nM_CITY_ACCESS_TOKEN=m-tok-81c2\n\
                   B_CITY_TYPE=bluesky\nB_CITY_APP_PASSWORD=aaaa-bbbb-cccc-dddd\n";
    let reason = refused_reason(
        "{ type: mastodon, credentials: M_CITY, instance: \"CAPTURE\" }",
        secrets,
        &[],
    );
    assert!(
        reason.contains("credential M_CITY may not be sent to host 127.0.0.1:"),
        "{reason}"
    );
    let reason = refused_reason(
        "{ type: bluesky, credentials: B_CITY, handle: city.example, service: \"CAPTURE\" }",
        secrets,
        &[],
    );
    assert!(
        reason.contains("credential B_CITY may not be sent to host 127.0.0.1:"),
        "{reason}"
    );
}

#[test]
fn credentials_naming_another_variable_reads_nothing_and_says_the_same_either_way() {
    let target = "{ type: x, credentials: CI, base_url: \"CAPTURE\" }";
    // The CI runner's variables are in the server's environment, even ones that look like a
    // declaration; none of them is read, because none has the OSHIRASE_CRED_ prefix.
    let ci_env = [
        ("CI_ACCESS_TOKEN", "ci-runner-token-123".to_string()),
        ("CI_BEARER_TOKEN", "ci-runner-token-123".to_string()),
        ("CI_TYPE", "x".to_string()),
        ("CI_HOSTS", "CAPTURE_HOST".to_string()),
    ];
    let with_variables = refused_reason(target, "", &ci_env);
    let without_variables = refused_reason(target, "", &[]);
    assert_eq!(
        with_variables, without_variables,
        "no message tells what exists"
    );
    assert!(
        with_variables.contains("credential CI is not declared on this server")
            && with_variables.contains("OSHIRASE_CRED_CI_TYPE=x"),
        "{with_variables}"
    );
    assert!(!with_variables.contains("ci-runner-token"));
}

#[test]
fn the_servers_own_settings_cannot_be_named_as_a_credential() {
    let capture = Capture::start();
    let target = "{ type: webhook, credentials: OSHIRASE_ALERT_WEBHOOK }";
    let repo = repo_with(target);
    // `check` refuses the configuration, naming the field.
    let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["check", "--lang", "en"])
        .current_dir(&repo.path)
        .output()
        .unwrap();
    let stdout = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("accounts.city.networks.target.credentials")
            && stdout.contains("OSHIRASE_"),
        "{stdout}"
    );
    // And serve, whose alert webhook is the capture server, never posts the text there.
    let data = tempfile::tempdir().unwrap();
    let alert = format!("{}/alerts", capture.url());
    let mut child = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(&repo.path)
        .arg("--data")
        .arg(data.path())
        .env("OSHIRASE_ALERT_WEBHOOK_URL", alert)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    std::thread::sleep(WATCH);
    let _ = child.kill();
    let _ = child.wait();
    let said: Vec<String> = lines.try_iter().collect();
    assert!(
        said.iter()
            .any(|l| l.contains("networks.target.credentials")),
        "{said:?}"
    );
    assert!(
        !String::from_utf8_lossy(&capture.received()).contains("本日のお知らせ"),
        "the post's text never reaches the operators' alert channel"
    );
}

#[test]
fn a_credential_declared_for_another_type_sends_nothing() {
    let secrets =
        "FB_CITY_TYPE=facebook\nFB_CITY_HOSTS=CAPTURE_HOST\nFB_CITY_PAGE_TOKEN=EAAG-page-token\n\
                   FB_CITY_BEARER_TOKEN=EAAG-page-token\n";
    let reason = refused_reason(
        "{ type: x, credentials: FB_CITY, base_url: \"CAPTURE\" }",
        secrets,
        &[],
    );
    assert!(
        reason.contains("credential FB_CITY is declared for `facebook` networks"),
        "{reason}"
    );
    assert!(!reason.contains("EAAG"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_host_is_published_to() {
    let fake = fake_mastodon::start().await;
    let repo = repo_with(&fake.network_yaml("target"));
    let data = tempfile::tempdir().unwrap();
    // The fake's loopback address is declared as the credential's host.
    let secrets = fake.secrets();
    assert!(secrets.contains("_HOSTS=127.0.0.1:"), "{secrets}");
    let path = repo.path.clone();
    let dir = data.path().to_path_buf();
    let published = tokio::task::spawn_blocking(move || {
        let serve = Serve::start(&path, &dir, &secrets, &[]);
        serve.wait_published("posts/a", "target")
    })
    .await
    .unwrap();
    assert!(published);
    assert_eq!(fake.posts().len(), 1);
    assert_eq!(fake.posts()[0]["text"], "本日のお知らせ");
}

#[test]
fn a_declaration_in_the_environment_takes_the_fixed_prefix() {
    let receiver = Capture::start();
    let repo = repo_with("{ type: webhook, credentials: HOOK }");
    let url = format!("{}/hook", receiver.url());

    // Without the prefix, the same variables are not a credential.
    let data = tempfile::tempdir().unwrap();
    let plain = [
        ("HOOK_TYPE", "webhook".to_string()),
        ("HOOK_URL", url.clone()),
    ];
    let serve = Serve::start(&repo.path, data.path(), "", &plain);
    let reason = serve.wait_for_error("posts/a", "target");
    assert!(
        reason.contains("credential HOOK is not declared"),
        "{reason}"
    );
    std::thread::sleep(WATCH);
    assert_eq!(receiver.connection_count(), 0);
    drop(serve);

    let data = tempfile::tempdir().unwrap();
    let prefixed = [
        ("OSHIRASE_CRED_HOOK_TYPE", "webhook".to_string()),
        ("OSHIRASE_CRED_HOOK_URL", url),
    ];
    let serve = Serve::start(&repo.path, data.path(), "", &prefixed);
    assert!(serve.wait_published("posts/a", "target"));
    let body = String::from_utf8_lossy(&receiver.received()).into_owned();
    assert!(
        body.contains("POST /hook") && body.contains("本日のお知らせ"),
        "{body}"
    );
}

#[test]
fn a_git_url_with_a_password_is_refused_and_never_written() {
    let data = tempfile::tempdir().unwrap();
    // A mirror made before from the same remote, with the token in the secrets as it should be.
    let origin = GitRepo::new(&config(BRANCH, "2h", ""));
    let clean = format!("file://{}", origin.path.display());
    let first = Serve::start_remote(&clean, data.path());
    drop(first);
    let mirror_config = data.path().join("mirror.git").join("config");
    assert!(std::fs::read_to_string(&mirror_config)
        .unwrap()
        .contains(&clean));

    for url in [
        "https://koho:tok3n-9f3a@git.city.example/city/posts.git",
        "ssh://git:tok3n-9f3a@git.city.example/city/posts.git",
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oshirase"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--repo", url, "--data"])
            .arg(data.path());
        let (exited, stderr) = run_briefly(cmd, Duration::from_secs(20));
        assert!(
            exited.is_some_and(|s| !s.success()),
            "refused at start-up: {stderr}"
        );
        assert!(stderr.contains("OSHIRASE_GIT_TOKEN"), "{stderr}");
        assert!(
            stderr.contains("git.city.example/city/posts.git"),
            "{stderr}"
        );
        assert!(!stderr.contains("tok3n"), "{stderr}");
        let written = std::fs::read_to_string(&mirror_config).unwrap();
        assert!(!written.contains("tok3n"), "{written}");
        assert!(
            written.contains(&clean),
            "the mirror is left as it was: {written}"
        );
    }
}

/// Runs `cmd` for at most `within`: how it exited (`None` when it was still running and
/// had to be stopped) and what it wrote to standard error.
fn run_briefly(mut cmd: Command, within: Duration) -> (Option<std::process::ExitStatus>, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let lines = stderr_lines(&mut child);
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The reader thread ends with the pipe; give it a moment to pass the last lines on.
    std::thread::sleep(Duration::from_millis(100));
    (status, lines.try_iter().collect::<Vec<_>>().join("\n"))
}
