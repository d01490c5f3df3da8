//! What a bad repository can cost, tried through the real binary: a sync that fails must
//! back off and log once, a giant value must not fill the log or `/healthz`, and YAML
//! built to be slow or to multiply (deep nesting, aliases) must be refused at once.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `oshirase serve` as a child process, its stderr kept in a file.
struct Served {
    child: Child,
    log: PathBuf,
    addr: String,
    _data: tempfile::TempDir,
}

impl Served {
    fn start(repo: &Path) -> Served {
        Served::start_with(repo.as_os_str(), tempfile::tempdir().unwrap(), &[])
    }

    /// Serves `repo` (a path or URL) with `data` as the data directory and `extra` flags;
    /// each start writes a new `stderr.log` there.
    fn start_with(repo: &std::ffi::OsStr, data: tempfile::TempDir, extra: &[&str]) -> Served {
        let log = data.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_oshirase"))
            .args(["serve", "--listen", "127.0.0.1:0", "--poll", "30s"])
            .args(extra)
            .arg("--repo")
            .arg(repo)
            .arg("--data")
            .arg(data.path().join("data"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut served = Served {
            child,
            log,
            addr: String::new(),
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while served.addr.is_empty() && Instant::now() < deadline {
            if let Some(rest) = served.log_text().split("serving http://").nth(1) {
                served.addr = rest.split('/').next().unwrap_or_default().to_string();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !served.addr.is_empty(),
            "serve started: {}",
            served.log_text()
        );
        served
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// The status and raw body of a GET.
    fn get(&self, path: &str) -> (u16, String) {
        let resp = ureq::get(&format!("http://{}{path}", self.addr))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .expect("request");
        let status = resp.status().as_u16();
        let mut body = String::new();
        resp.into_body()
            .into_reader()
            .read_to_string(&mut body)
            .expect("body");
        (status, body)
    }

    /// Failed syncs so far, as `/metrics` counts them.
    fn sync_failures(&self) -> u64 {
        let (_, metrics) = self.get("/metrics");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("oshirase_sync_failures_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("a failure count in {metrics}"))
    }

    fn wait_for_health(&self, status: u16, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            if self.get("/healthz").0 == status {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Served {
    /// Stops the process and hands back its data directory.
    fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let empty = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self._data, empty)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// A repository that serves, with one account `city` and a post.
fn good_repo() -> GitRepo {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    repo.write("posts/a.md", &post("お知らせ", None, "portal", "本文"));
    repo.commit_all(CHIEF, "a post");
    repo
}

fn with_timezone(value: &str) -> String {
    config(BRANCH, "2h", "").replace("Asia/Tokyo", value)
}

#[test]
fn a_failing_sync_backs_off_logs_once_and_a_fixing_commit_is_synced_at_once() {
    let repo = good_repo();
    let served = Served::start(&repo.path);
    assert!(served
        .wait_for_health(200, Duration::from_secs(30))
        .is_some());
    repo.write("oshirase.yaml", &with_timezone("Asia/Tokio"));
    repo.commit_all(STAFF, "a misspelt time zone");

    std::thread::sleep(Duration::from_secs(10));
    let failures = served.sync_failures();
    let log = served.log_text();
    eprintln!(
        "bad timezone, 10 s: {failures} sync attempts failed, {} `sync failed` lines, {} log bytes",
        count(&log, "sync failed"),
        log.len()
    );
    // Tries at 0, 1, 3 and 7 s (the unchanged code tried every 50 ms: about 180 times).
    assert!((1..=6).contains(&failures), "{failures} failed syncs");
    assert_eq!(count(&log, "sync failed"), 1, "{log}");
    assert!(count(&log, "sync still failing") <= 3, "{log}");
    let (status, health) = served.get("/healthz");
    assert_eq!(status, 503, "{health}");
    assert!(
        health.contains("`Asia/Tokio` is not an IANA time zone"),
        "{health}"
    );

    repo.write("oshirase.yaml", &config(BRANCH, "2h", ""));
    repo.commit_all(STAFF, "the time zone fixed");
    let took = served
        .wait_for_health(200, Duration::from_secs(3))
        .expect("the fixing commit is synced without waiting for the next retry");
    eprintln!("fixed after {took:?}");
    assert!(
        wait_until(Duration::from_secs(5), || served
            .log_text()
            .contains("sync recovered after")),
        "{}",
        served.log_text()
    );
}

#[test]
fn a_service_restarted_on_a_broken_config_logs_it_once_and_backs_off() {
    let repo = good_repo();
    let served = Served::start(&repo.path);
    assert!(served
        .wait_for_health(200, Duration::from_secs(30))
        .is_some());
    let data = served.stop();
    repo.write("oshirase.yaml", &with_timezone("Asia/Tokio"));
    repo.commit_all(STAFF, "a misspelt time zone");

    // The first sync fails in start-up; the service carries on with the last good config.
    let served = Served::start_with(repo.path.as_os_str(), data, &[]);
    std::thread::sleep(Duration::from_secs(5));
    let log = served.log_text();
    let failures = served.sync_failures();
    eprintln!("restarted on a bad config, 5 s: {failures} failed syncs");
    assert_eq!(count(&log, "sync failed"), 1, "{log}");
    assert!((1..=4).contains(&failures), "{failures} failed syncs");
    assert_eq!(served.get("/healthz").0, 503);
}

#[test]
fn a_fetch_that_keeps_failing_is_logged_once_with_reminders_and_its_recovery() {
    let repo = good_repo();
    let url = format!("file://{}", repo.path.display());
    let data = tempfile::tempdir().unwrap();
    let served = Served::start_with(url.as_ref(), data, &["--fetch-interval", "1s"]);
    assert!(served
        .wait_for_health(200, Duration::from_secs(30))
        .is_some());
    let moved = repo.path.with_extension("away");
    std::fs::rename(&repo.path, &moved).unwrap();
    std::thread::sleep(Duration::from_secs(9));
    let log = served.log_text();
    let (_, metrics) = served.get("/metrics");
    eprintln!(
        "remote gone, 9 s: {} `fetch failed`, {} reminders; {}",
        count(&log, "fetch failed"),
        count(&log, "fetch still failing"),
        metrics
            .lines()
            .find(|l| l.starts_with("oshirase_fetch_failures_total"))
            .unwrap_or("no fetch failure count")
    );
    assert_eq!(count(&log, "fetch failed"), 1, "{log}");
    assert!(count(&log, "fetch still failing") >= 1, "{log}");
    assert!(count(&log, "fetch still failing") <= 3, "{log}");
    assert_eq!(served.get("/healthz").0, 503);
    std::fs::rename(&moved, &repo.path).unwrap();
    assert!(served
        .wait_for_health(200, Duration::from_secs(5))
        .is_some());
    assert!(
        wait_until(Duration::from_secs(5), || served
            .log_text()
            .contains("fetch recovered after")),
        "{}",
        served.log_text()
    );
}

#[test]
fn a_giant_value_is_quoted_briefly_and_the_log_stays_small() {
    let repo = good_repo();
    let served = Served::start(&repo.path);
    assert!(served
        .wait_for_health(200, Duration::from_secs(30))
        .is_some());

    // Under the size limit: the value is read, and quoted as a prefix with its length.
    let before = served.log_bytes();
    repo.write("oshirase.yaml", &with_timezone(&"A".repeat(200 * 1024)));
    repo.commit_all(STAFF, "a 200 KB time zone");
    std::thread::sleep(Duration::from_secs(5));
    let (status, health) = served.get("/healthz");
    let logged = served.log_bytes() - before;
    eprintln!(
        "200 KB timezone, 5 s: {logged} log bytes, /healthz {} bytes",
        health.len()
    );
    assert_eq!(status, 503);
    assert!(health.contains("(204,800 characters)"), "{health}");
    assert!(health.len() < 2_000, "{} bytes", health.len());
    assert!(logged < 10_000, "{logged} bytes logged");

    // Over the size limit: refused by its size, before anything reads it.
    let before = served.log_bytes();
    repo.write(
        "oshirase.yaml",
        &with_timezone(&"A".repeat(10 * 1024 * 1024)),
    );
    repo.commit_all(STAFF, "a 10 MB time zone");
    std::thread::sleep(Duration::from_secs(10));
    let (_, health) = served.get("/healthz");
    let logged = served.log_bytes() - before;
    eprintln!(
        "10 MB timezone, 10 s: {logged} log bytes, /healthz {} bytes",
        health.len()
    );
    assert!(health.contains("at most 262,144"), "{health}");
    assert!(health.len() < 2_000, "{} bytes", health.len());
    // The unchanged code wrote 10 MB per try: 1.1 GB in 25 s.
    assert!(logged < 10_000, "{logged} bytes logged");
}

#[test]
fn deep_or_aliased_yaml_in_the_config_is_refused_by_serve_at_once() {
    let repo = good_repo();
    let served = Served::start(&repo.path);
    assert!(served
        .wait_for_health(200, Duration::from_secs(30))
        .is_some());
    for (what, text, limit) in [
        ("deep", deep_config(100_000), "deeper than 32 levels"),
        ("aliased", aliased_config(), "more than 10,000 nodes"),
    ] {
        repo.write("oshirase.yaml", &text);
        repo.commit_all(STAFF, what);
        let took = served
            .wait_for_health(503, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{what}: refused"));
        let (_, health) = served.get("/healthz");
        eprintln!("{what} config refused by serve within {took:?}");
        assert!(health.contains("oshirase.yaml:"), "{health}");
        assert!(health.contains(limit), "{health}");
        repo.write("oshirase.yaml", &config(BRANCH, "2h", ""));
        repo.commit_all(STAFF, "fixed");
        assert!(served
            .wait_for_health(200, Duration::from_secs(5))
            .is_some());
    }
}

#[test]
fn check_refuses_deep_and_aliased_yaml_at_once_naming_the_file_and_the_limit() {
    let post_bomb = format!(
        "---\ntitle: t\nnetworks: [portal]\ntext: {}---\nx\n",
        laughs()
    );
    let cases = [
        (
            "oshirase.yaml",
            deep_config(100_000),
            None,
            "deeper than 32 levels",
        ),
        (
            "oshirase.yaml",
            aliased_config(),
            None,
            "more than 10,000 nodes",
        ),
        (
            "posts/deep.md",
            config(BRANCH, "2h", ""),
            Some(format!(
                "---\ntitle: {}{}\nnetworks: [portal]\n---\nx\n",
                "[".repeat(30_000),
                "]".repeat(30_000)
            )),
            "deeper than 32 levels",
        ),
        (
            "posts/huge.md",
            config(BRANCH, "2h", ""),
            Some(format!(
                "---\ntitle: {}{}\nnetworks: [portal]\n---\nx\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )),
            "at most 65,536 bytes",
        ),
        (
            "posts/bomb.md",
            config(BRANCH, "2h", ""),
            Some(post_bomb),
            "more than 10,000 values",
        ),
    ];
    for (file, config_text, post_text, limit) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("oshirase.yaml"), &config_text).unwrap();
        if let Some(text) = &post_text {
            std::fs::create_dir_all(dir.path().join("posts")).unwrap();
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
            .arg("check")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let took = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("check {file} ({limit}): {took:?}");
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(&format!("{file}:")), "{file}: {stdout}");
        assert!(stdout.contains(limit), "{file}: {stdout}");
        assert!(stdout.len() < 2_000, "{file}: {} bytes", stdout.len());
        // The unchanged code took over 2 minutes on 100,000 levels (a debug build).
        assert!(took < Duration::from_secs(2), "{file}: {took:?}");
    }
}

#[test]
fn a_200_kb_office_config_is_read_in_bounded_time() {
    let text = office_config(200 * 1024);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oshirase.yaml"), &text).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    eprintln!("check, {} bytes of config: {took:?}", text.len());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// `oshirase.yaml` with `levels` nested flow sequences under an unknown key.
fn deep_config(levels: usize) -> String {
    format!(
        "{}x: {}{}\n",
        config(BRANCH, "2h", ""),
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

/// 300 networks written once and used by 300 accounts: 90,000 networks from 13 KB, which
/// the unchanged code accepted.
fn aliased_config() -> String {
    let nets: Vec<String> = (0..300)
        .map(|i| format!("n{i}: {{type: outbox}}"))
        .collect();
    let mut text = format!(
        "timezone: Asia/Tokyo\naccounts:\n  a0:\n    networks: &n {{{}}}\n",
        nets.join(", ")
    );
    for i in 1..300 {
        text.push_str(&format!("  a{i}: {{networks: *n}}\n"));
    }
    text
}

/// A billion-laughs mapping, as the value of the key it follows.
fn laughs() -> String {
    let mut text = String::from("\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..9 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        text.push_str(&format!("  l{level}: &l{level} [{refs}]\n"));
    }
    text
}

/// A real-looking configuration of about `size` bytes: many wards, each with its approvers
/// and three networks.
fn office_config(size: usize) -> String {
    let mut text = String::from("timezone: Asia/Tokyo\nmax_lateness: 2h\naccounts:\n");
    let mut ward = 0;
    while text.len() < size {
        text.push_str(&format!(
            "  ward{ward:04}:\n    approval: {{ mode: merge, approvers: [chief{ward}@city.example.jp, deputy{ward}@city.example.jp] }}\n    networks:\n      portal: {{ type: outbox }}\n      news: {{ type: outbox }}\n      archive: {{ type: outbox, rate: {{ requests: 10, per: 1m }} }}\n"
        ));
        ward += 1;
    }
    text
}

fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}
