//! The numbers behind BENCHMARKS.md: cold sync of 1,000 / 10,000 / 50,000 posts (time and
//! peak memory, beside the time `git cat-file --batch` needs to read the same blobs),
//! incremental sync after a merge touching one post of 10,000, the resident memory of an
//! idle `serve` holding 10,000 posts, and the binary's size.
//!
//! Run with `cargo bench --bench sync` (release build). Repositories are made with real git
//! (`git fast-import`, then a merge by a second author). It prints a table; it asserts
//! nothing. `OSHIRASE_BENCH_SIZES=1000,10000` picks other sizes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oshirase::store::Store;
use oshirase::sync::{self, SyncOptions};

const CONFIG: &str = "timezone: Asia/Tokyo\nmax_lateness: 2h\naccounts:\n  city:\n    approval: { mode: merge, approvers: [koho-chief@city.example.jp] }\n    networks:\n      x: { type: outbox }\n      facebook: { type: outbox }\n";

fn main() {
    // As `oshirase` itself does before anything else runs.
    // SAFETY: no other thread exists yet.
    unsafe { oshirase::git::repo::cache_directory_trees() };
    // A child run: one cold sync in a fresh process, so its peak memory is its own.
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child-sync") {
        let repo = PathBuf::from(&args[pos + 1]);
        let data = tempfile::tempdir().expect("temp dir");
        let store = Store::open(data.path()).expect("store");
        let started = Instant::now();
        let report = sync_report(&store, &repo);
        let p = report.phases;
        println!(
            "{} {} {} {} {} {} {}",
            started.elapsed().as_secs_f64(),
            report.parsed,
            peak_rss_kib("self"),
            p.read.as_secs_f64(),
            p.parse.as_secs_f64(),
            p.provenance.as_secs_f64(),
            p.write.as_secs_f64(),
        );
        return;
    }
    let sizes: Vec<usize> = std::env::var("OSHIRASE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 50_000]);
    let exe = std::env::current_exe().expect("bench binary");
    let oshirase = Some(PathBuf::from(env!("CARGO_BIN_EXE_oshirase")));

    println!("| measure | posts | result |");
    println!("| --- | ---: | --- |");
    let mut ten_k: Option<(tempfile::TempDir, PathBuf)> = None;
    for &n in &sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = dir.path().join("content");
        let made = Instant::now();
        make_repo(&repo, n, 0);
        let made = made.elapsed();
        cold_sync_row(
            &exe,
            &repo,
            n,
            &format!("cold sync (repo made in {:.1} s)", made.as_secs_f64()),
        );
        if let Some(bin) = &oshirase {
            // Where the time goes: `check` parses and validates the same posts from the
            // work tree, without git history (provenance) or the database.
            let started = Instant::now();
            let _ = Command::new(bin)
                .current_dir(&repo)
                .args(["check", "--format", "json"])
                .output();
            println!(
                "| of which parsing and validating (`oshirase check` of the same posts) | {n} | {:.3} s |",
                started.elapsed().as_secs_f64()
            );
        }
        // The same posts landed as a real office lands them: through merged pull
        // requests, so provenance has a history to walk and merges to look behind.
        let merged = dir.path().join("merged");
        let merges = n.div_ceil(100);
        make_repo(&merged, n, merges);
        cold_sync_row(
            &exe,
            &merged,
            n,
            &format!("cold sync, posts landed by {merges} merged pull requests"),
        );
        if n == 10_000 {
            ten_k = Some((dir, repo));
        }
    }

    if let Some((_dir, repo)) = &ten_k {
        // Incremental: a merge by the supervisor touching one post.
        let data = tempfile::tempdir().expect("temp dir");
        let store = Store::open(data.path()).expect("store");
        sync_once(&store, repo);
        let mut times = Vec::new();
        for round in 0..5 {
            edit_one_post_and_merge(repo, round);
            let started = Instant::now();
            sync_once(&store, repo);
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "| incremental sync after a merge touching 1 post | 10000 | median {:.1} ms, max {:.1} ms (5 merges) |",
            ms(times[2]),
            ms(times[4])
        );
        drop(store);

        if let Some(bin) = &oshirase {
            let rss = idle_serve_rss(bin, repo);
            println!("| idle `serve` resident memory after syncing | 10000 | {rss} |");
        }
    }
    if let Some(bin) = &oshirase {
        let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
        println!(
            "| binary size (`{}`) | – | {:.1} MiB |",
            bin.display(),
            size as f64 / 1048576.0
        );
    }
}

/// One cold sync in a child process beside git's read of the same blobs, and its split.
fn cold_sync_row(exe: &Path, repo: &Path, n: usize, label: &str) {
    let git = git_read_all_blobs(repo);
    let out = Command::new(exe)
        .arg("--child-sync")
        .arg(repo)
        .output()
        .expect("child sync");
    let line = String::from_utf8_lossy(&out.stdout);
    let mut parts = line.split_whitespace();
    let secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    let parsed = parts.next().unwrap_or("?").to_string();
    let peak: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let split: Vec<f64> = parts.filter_map(|s| s.parse().ok()).collect();
    println!(
        "| {label} | {n} | {secs:.3} s, {parsed} posts parsed, peak RSS {} MiB; git cat-file --batch of the same blobs {:.3} s → {:.1}× git |",
        peak / 1024,
        git.as_secs_f64(),
        secs / git.as_secs_f64()
    );
    if let [read, parse, provenance, write] = split[..] {
        println!(
            "| of which read {read:.3} s, parse {parse:.3} s, provenance {provenance:.3} s, write {write:.3} s | {n} | |"
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sync_once(store: &Store, repo: &Path) -> usize {
    sync_report(store, repo).parsed
}

fn sync_report(store: &Store, repo: &Path) -> sync::SyncReport {
    sync::sync(
        store,
        &SyncOptions {
            repo_path: repo,
            branch: "main",
            content_dir: "",
            dry_run: false,
        },
    )
    .expect("sync")
}

/// VmHWM of a process (`self` or a pid), in KiB.
fn peak_rss_kib(pid: &str) -> u64 {
    proc_status(pid, "VmHWM:")
}

fn proc_status(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn post_text(i: usize, edit: usize) -> String {
    let day = i % 28 + 1;
    format!(
        "---\ntitle: お知らせ {i}\npublish_at: 2099-03-{day:02}T{:02}:00:00+09:00\nnetworks: [x, facebook]\ndepartment: 総務部 第{}課\n---\n区からのお知らせです（{i}、版 {edit}）。\n詳しくは https://www.city.example.jp/news/{i}.html をご覧ください。\n\n#お知らせ\n",
        i % 24,
        i % 120
    )
}

/// A repository of `n` posts made with git fast-import: with `merges` 0, in one commit by
/// the supervisor; otherwise in that many pull requests of a staff member (two commits each)
/// that the supervisor merged with a merge commit.
fn make_repo(repo: &Path, n: usize, merges: usize) {
    std::fs::create_dir_all(repo).expect("mkdir");
    git(repo, &["init", "-q", "-b", "main"]);
    let mut child = Command::new("git")
        .current_dir(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    {
        let mut w = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
        let blob = |w: &mut dyn Write, mark: usize, data: &[u8]| {
            writeln!(w, "blob\nmark :{mark}\ndata {}", data.len()).expect("write");
            w.write_all(data).expect("write");
            writeln!(w).expect("write");
        };
        blob(&mut w, 1, CONFIG.as_bytes());
        for i in 0..n {
            blob(&mut w, i + 2, post_text(i, 0).as_bytes());
        }
        let files = |w: &mut dyn Write, range: std::ops::Range<usize>| {
            for i in range {
                writeln!(w, "M 100644 :{} posts/{:03}/p{i:05}.md", i + 2, i / 500).expect("write");
            }
        };
        let chief = "広報課長 <koho-chief@city.example.jp>";
        let staff = "足立 花子 <hanako@city.example.jp>";
        let first = n + 2;
        writeln!(
            w,
            "commit refs/heads/main\nmark :{first}\nauthor {chief} 1764000000 +0900\ncommitter {chief} 1764000000 +0900\ndata 9\nthe posts\nM 100644 :1 oshirase.yaml"
        )
        .expect("write");
        if merges == 0 {
            files(&mut w, 0..n);
        }
        writeln!(w).expect("write");
        let per = n.div_ceil(merges.max(1));
        let mut main = first;
        for k in 0..merges {
            let range = (k * per).min(n)..((k + 1) * per).min(n);
            let half = range.start + range.len() / 2;
            let at = 1764000000 + 60 * k;
            // Two commits on the staff branch, then the supervisor's merge commit.
            let (one, two, merge) = (main + 1, main + 2, main + 3);
            for (mark, from, part) in [(one, main, range.start..half), (two, one, half..range.end)]
            {
                writeln!(
                    w,
                    "commit refs/heads/staff/{k}\nmark :{mark}\nauthor {staff} {at} +0900\ncommitter {staff} {at} +0900\ndata 7\npropose\nfrom :{from}"
                )
                .expect("write");
                files(&mut w, part);
                writeln!(w).expect("write");
            }
            writeln!(
                w,
                "commit refs/heads/main\nmark :{merge}\nauthor {chief} {} +0900\ncommitter {chief} {} +0900\ndata 5\nmerge\nfrom :{main}\nmerge :{two}",
                at + 30,
                at + 30
            )
            .expect("write");
            files(&mut w, range);
            writeln!(w).expect("write");
            main = merge;
        }
    }
    assert!(child.wait().expect("fast-import").success());
    git(repo, &["checkout", "-q", "main"]);
}

/// A staff member edits one post on a branch; the supervisor merges it with --no-ff.
fn edit_one_post_and_merge(repo: &Path, round: usize) {
    let branch = format!("staff/edit-{round}");
    git(repo, &["checkout", "-q", "-b", &branch]);
    let i = 4242 + round;
    std::fs::write(
        repo.join(format!("posts/{:03}/p{i:05}.md", i / 500)),
        post_text(i, round + 1),
    )
    .expect("write");
    let staff = [
        "-c",
        "user.name=足立 花子",
        "-c",
        "user.email=hanako@city.example.jp",
    ];
    let chief = [
        "-c",
        "user.name=広報課長",
        "-c",
        "user.email=koho-chief@city.example.jp",
    ];
    git(
        repo,
        &[&staff[..], &["commit", "-qam", "edit one post"]].concat(),
    );
    git(repo, &["checkout", "-q", "main"]);
    git(
        repo,
        &[
            &chief[..],
            &["merge", "-q", "--no-ff", "-m", "merge", &branch],
        ]
        .concat(),
    );
}

/// Time for `git cat-file --batch` to read every blob of the posts.
fn git_read_all_blobs(repo: &Path) -> Duration {
    let listing = git(repo, &["ls-tree", "-r", "HEAD"]);
    let ids: String = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(|id| format!("{id}\n"))
        .collect();
    let started = Instant::now();
    let mut child = Command::new("git")
        .current_dir(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cat-file");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ids.as_bytes())
        .expect("write");
    assert!(child.wait().expect("cat-file").success());
    started.elapsed()
}

/// How long the service is left idle before its memory is read (issue 13, item 10).
const IDLE: Duration = Duration::from_secs(60);

/// Starts the real binary on the repository, waits for its first sync, leaves it idle for a
/// minute and reads its resident memory; then reads the dashboard's counts and a page and
/// the metrics (which keep every post's listing in memory), and reads it again a minute on.
fn idle_serve_rss(bin: &Path, repo: &Path) -> String {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(repo)
        .arg("--data")
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let pid = child.id().to_string();
    // It says "oshirase: serving http://127.0.0.1:PORT/" on standard error among its logs,
    // which are drained for as long as it runs so that it never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("oshirase: serving ") {
                let _ = tx.send(url.trim_end_matches('/').to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve says where it listens");
    let db = data.path().join(oshirase::store::DB_FILE);
    // The first sync is done when the store holds every post; poll its status command.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let out = Command::new(bin)
            .args(["status", "--format", "json", "--data"])
            .arg(data.path())
            .output();
        let done = out
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| {
                v["deliveries_by_state"]
                    .as_object()
                    .map(|m| m.values().filter_map(|n| n.as_u64()).sum::<u64>())
            })
            .is_some_and(|n| n >= 20_000);
        if done || Instant::now() > deadline {
            break;
        }
    }
    std::thread::sleep(IDLE);
    let idle = proc_status(&pid, "VmRSS:");
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    for path in [
        "/api/summary",
        "/api/posts?view=upcoming&limit=100",
        "/metrics",
    ] {
        let read = agent
            .get(format!("{base}{path}"))
            .call()
            .map(|r| r.into_body().read_to_vec().map(|b| b.len()));
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            eprintln!("GET {base}{path} failed: {read:?}");
        }
    }
    std::thread::sleep(IDLE);
    let with_dashboard = proc_status(&pid, "VmRSS:");
    let hwm = proc_status(&pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    let db_size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    format!(
        "{} MiB resident after a minute idle, {} MiB a minute after the dashboard and \
         /metrics were read (peak {} MiB during the first sync); database {:.1} MiB",
        idle / 1024,
        with_dashboard / 1024,
        hwm / 1024,
        db_size as f64 / 1048576.0
    )
}
