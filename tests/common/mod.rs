//! Shared fixtures: real git repositories made with the git CLI, a service started
//! in-process on a free port, and readers for what it wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use oshirase::cli::serve::{ServeSettings, Service};
use serde_json::Value;

pub const STAFF: (&str, &str) = ("Yamada Hanako", "yamada@city.example.jp");
pub const CHIEF: (&str, &str) = ("Sato Ichiro", "koho-chief@city.example.jp");

/// A content repository on disk, driven with the git CLI as people would.
pub struct GitRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl GitRepo {
    pub fn new(config: &str) -> GitRepo {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("content");
        std::fs::create_dir_all(&path).expect("mkdir");
        let repo = GitRepo { _dir: dir, path };
        repo.git(CHIEF, &["init", "-q", "-b", "main"]);
        repo.write("oshirase.yaml", config);
        repo.commit_all(CHIEF, "set up the repository");
        repo
    }

    /// Runs git as `who` (author and committer), failing the test on error.
    pub fn git(&self, who: (&str, &str), args: &[&str]) -> String {
        self.run_git(who, None, args)
    }

    /// As [`GitRepo::git`], with author and committer dates set to `date` (RFC 3339): a
    /// commit made at another time.
    pub fn git_dated(&self, who: (&str, &str), date: &str, args: &[&str]) -> String {
        self.run_git(who, Some(date), args)
    }

    fn run_git(&self, who: (&str, &str), date: Option<&str>, args: &[&str]) -> String {
        let mut command = Command::new("git");
        if let Some(date) = date {
            command
                .env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date);
        }
        let out = command
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args)
            .current_dir(&self.path)
            .env("GIT_AUTHOR_NAME", who.0)
            .env("GIT_AUTHOR_EMAIL", who.1)
            .env("GIT_COMMITTER_NAME", who.0)
            .env("GIT_COMMITTER_EMAIL", who.1)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path.parent().unwrap_or(&self.path))
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    pub fn write_bytes(&self, rel: &str, content: &[u8]) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    pub fn commit_all(&self, who: (&str, &str), message: &str) {
        self.git(who, &["add", "-A"]);
        self.git(who, &["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// A staff member proposes `files` on a branch; the supervisor merges it with --no-ff.
    pub fn propose_and_merge(&self, branch: &str, files: &[(&str, &str)]) {
        self.git(STAFF, &["checkout", "-q", "-b", branch]);
        for (path, content) in files {
            self.write(path, content);
        }
        self.commit_all(STAFF, &format!("propose {branch}"));
        self.merge_as_chief(branch);
    }

    /// The supervisor merges `branch` into main with a merge commit (--no-ff).
    pub fn merge_as_chief(&self, branch: &str) {
        self.git(CHIEF, &["checkout", "-q", "main"]);
        let message = format!("Merge {branch}");
        self.git(CHIEF, &["merge", "-q", "--no-ff", "-m", &message, branch]);
    }

    pub fn remove_and_merge(&self, branch: &str, path: &str) {
        self.git(STAFF, &["checkout", "-q", "-b", branch]);
        self.git(STAFF, &["rm", "-q", path]);
        self.git(STAFF, &["commit", "-q", "-m", &format!("withdraw {path}")]);
        self.merge_as_chief(branch);
    }
}

/// An `oshirase.yaml` with one account `city`, networks `portal` and `news` (both outbox),
/// plus any extra network lines.
pub fn config(approval: &str, max_lateness: &str, extra_networks: &str) -> String {
    format!(
        "timezone: Asia/Tokyo\nmax_lateness: {max_lateness}\naccounts:\n  city:\n    approval: {approval}\n    networks:\n      portal: {{ type: outbox }}\n      news: {{ type: outbox }}\n{extra_networks}"
    )
}

pub mod desk;
pub mod programs;
pub mod serve_bin;
pub mod smtp;
pub mod webhooks;

pub const MERGE: &str = "{ mode: merge, approvers: [koho-chief@city.example.jp] }";
pub const BRANCH: &str = "{ mode: branch }";

pub fn rfc3339_jst(t: DateTime<Utc>) -> String {
    let jst = FixedOffset::east_opt(9 * 3600).expect("offset");
    t.with_timezone(&jst)
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// A post file due at `at` (or as soon as approved) to `networks`.
pub fn post(title: &str, at: Option<DateTime<Utc>>, networks: &str, body: &str) -> String {
    let at = at
        .map(|t| format!("publish_at: {}\n", rfc3339_jst(t)))
        .unwrap_or_default();
    format!("---\ntitle: {title}\n{at}networks: [{networks}]\n---\n{body}\n")
}

pub fn settings(repo: &Path, data: &Path) -> ServeSettings {
    ServeSettings {
        repo: repo.to_path_buf(),
        remote: None,
        fetch_interval: Duration::from_secs(60),
        fetch_timeout: Duration::from_secs(60),
        secrets: oshirase::support::secrets::Secrets::default(),
        branch: "main".into(),
        content_dir: String::new(),
        data_dir: data.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        dry_run: false,
        poll_interval: Duration::from_secs(30),
        public_url: None,
        auth: None,
        forge_api: None,
    }
}

pub async fn start(repo: &Path, data: &Path) -> Service {
    Service::start(settings(repo, data))
        .await
        .expect("service starts")
}

/// The lines of an outbox file (none when it does not exist).
pub fn outbox(data: &Path, account: &str, network: &str) -> Vec<Value> {
    let path = data
        .join("outbox")
        .join(account)
        .join(format!("{network}.jsonl"));
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub fn get_json(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let url = format!("http://{addr}{path}");
    let resp = ureq::get(&url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.into_body().read_json().unwrap_or(Value::Null);
    (status, body)
}

/// Polls `check` every 20 ms until it is true or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// The state of one delivery through the store.
pub fn delivery_state(service: &Service, post: &str, network: &str) -> Option<String> {
    service
        .store
        .delivery(post, network)
        .ok()
        .flatten()
        .map(|d| d.state.as_str().to_string())
}

/// Whether the delivery of `post` to `network` reaches `state` within `timeout`.
pub async fn reaches(
    service: &Service,
    post: &str,
    network: &str,
    state: &str,
    timeout: Duration,
) -> bool {
    wait_for(timeout, || {
        delivery_state(service, post, network).as_deref() == Some(state)
    })
    .await
}

/// Reads `serving http://ADDR/` from the child's standard error and returns the port.
pub fn serving_port(child: &mut std::process::Child) -> u16 {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("serving http://").nth(1) {
                let port = rest
                    .trim_end_matches('/')
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok());
                let _ = tx.send(port);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    rx.recv_timeout(deadline - Instant::now())
        .expect("serve says where it listens")
        .expect("a port")
}
