//! Four eyes that hold for the configuration itself, tried as an attacker with push access
//! would, through the real binary: a direct push that switches merge mode off, a new
//! account that borrows a merge-mode account's credentials, and an approver added by an
//! unapproved push. Each stays without effect until an approver merges it.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serve_bin::ServeBin;
use common::*;
use serde_json::Value;

const OTHER: (&str, &str) = ("Suzuki Jiro", "suzuki@city.example.jp");

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(check(), "timed out waiting for {what}");
}

fn health(s: &ServeBin) -> Value {
    get_json(s.addr, "/healthz").1
}

fn delivery(s: &ServeBin, post: &str, network: &str) -> Value {
    let (_, body) = get_json(s.addr, &format!("/api/posts/{}", post.replace('/', "%2F")));
    body["deliveries"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["network"] == network).cloned())
        .unwrap_or(Value::Null)
}

fn state(s: &ServeBin, post: &str, network: &str) -> String {
    delivery(s, post, network)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A staff member commits straight onto `main`, as someone with push access can.
fn push_directly(repo: &GitRepo, who: (&str, &str), files: &[(&str, &str)], message: &str) {
    repo.git(who, &["checkout", "-q", "main"]);
    for (path, content) in files {
        repo.write(path, content);
    }
    repo.commit_all(who, message);
}

#[test]
fn a_direct_push_switching_merge_mode_off_is_held_until_an_approver_merges_the_config() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    push_directly(
        &repo,
        STAFF,
        &[("posts/a.md", &post("A", None, "portal", "承認なしの投稿"))],
        "post without review",
    );
    let data = tempfile::tempdir().unwrap();
    let s = ServeBin::start(&repo.path, data.path(), &[], &[]);
    wait_until("post a held", Duration::from_secs(20), || {
        state(&s, "posts/a", "portal") == "held"
    });

    // The attack: the same person turns four eyes off and adds a post.
    push_directly(
        &repo,
        STAFF,
        &[
            ("oshirase.yaml", &config(BRANCH, "2h", "")),
            ("posts/b.md", &post("B", None, "portal", "もう一つ")),
        ],
        "approval: branch",
    );
    wait_until("the config change held", Duration::from_secs(20), || {
        !health(&s)["config_held"].is_null()
    });
    wait_until("post b known", Duration::from_secs(20), || {
        !state(&s, "posts/b", "portal").is_empty()
    });
    let held = health(&s)["config_held"].clone();
    assert!(
        held["pushed_by"]
            .as_str()
            .unwrap()
            .contains("yamada@city.example.jp"),
        "{held}"
    );
    assert!(
        held["reason"].as_str().unwrap().contains("directly"),
        "{held}"
    );
    let changes = held["changes"].to_string();
    assert!(
        changes.contains("approval") && changes.contains("branch"),
        "{changes}"
    );
    let metrics = ureq::get(&format!("http://{}/metrics", s.addr))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(metrics.contains("\noshirase_config_held 1\n"), "{metrics}");
    let initial = repo.git(CHIEF, &["rev-list", "--max-parents=0", "main"]);
    assert_eq!(held["in_force"], initial.as_str(), "{held}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state(&s, "posts/a", "portal"), "held");
    assert_eq!(state(&s, "posts/b", "portal"), "held");
    assert!(
        outbox(data.path(), "city", "portal").is_empty(),
        "nothing went out"
    );

    // An approver merges a change of the configuration: now it is in force.
    repo.propose_and_merge(
        "staff/lateness",
        &[("oshirase.yaml", &config(BRANCH, "3h", ""))],
    );
    let merge = repo.git(CHIEF, &["rev-parse", "main"]);
    wait_until("both posts published", Duration::from_secs(20), || {
        outbox(data.path(), "city", "portal").len() == 2
    });
    let h = health(&s);
    assert!(h["config_held"].is_null(), "{h}");
    assert_eq!(h["config_commit"], merge.as_str());
    let (_, a) = get_json(s.addr, "/api/posts/posts%2Fa");
    let published = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "published")
        .cloned()
        .unwrap();
    assert!(
        published["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("configuration {}", &merge[..8])),
        "the audit trail names the configuration: {published}"
    );
}

/// A local server that counts every connection made to it and reads what is sent.
fn capture_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut buf);
        }
    });
    (port, hits)
}

#[test]
fn a_new_account_borrowing_a_merge_accounts_credentials_is_held_and_sends_nothing() {
    let (port, hits) = capture_server();
    let hook = "      hook: { type: webhook, credentials: HOOK }\n";
    let base = config(MERGE, "2h", hook);
    let repo = GitRepo::new(&base);
    let data = tempfile::tempdir().unwrap();
    let secrets = data.path().join("secrets.env");
    std::fs::write(
        &secrets,
        format!("HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{port}/hook\n"),
    )
    .unwrap();
    let s = ServeBin::start(
        &repo.path,
        data.path(),
        &["--secrets", secrets.to_str().unwrap()],
        &[],
    );
    wait_until("first sync", Duration::from_secs(20), || {
        !health(&s)["last_sync_commit"].is_null()
    });

    // The attack: a second account in branch mode (the default) with the same credentials.
    let side = format!("  side:\n    networks:\n{hook}");
    let side_post = "---\ntitle: side\naccount: side\nnetworks: [hook]\n---\n勝手な投稿\n";
    push_directly(
        &repo,
        STAFF,
        &[
            ("oshirase.yaml", &format!("{base}{side}")),
            ("posts/side.md", side_post),
        ],
        "a side account",
    );
    wait_until("the config change held", Duration::from_secs(20), || {
        !health(&s)["config_held"].is_null()
    });
    let held = health(&s)["config_held"].to_string();
    assert!(held.contains("new account `side`"), "{held}");
    assert!(held.contains("credentials HOOK"), "{held}");
    // Judged by the configuration in force, the post names an account that does not exist.
    wait_until("the side post is refused", Duration::from_secs(20), || {
        let (_, p) = get_json(s.addr, "/api/posts/posts%2Fside");
        p["errors"].to_string().contains("side")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the webhook"
    );
}

#[test]
fn an_approver_added_by_an_unapproved_push_cannot_approve_posts() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let s = ServeBin::start(&repo.path, data.path(), &[], &[]);
    wait_until("first sync", Duration::from_secs(20), || {
        !health(&s)["last_sync_commit"].is_null()
    });
    // Staff add a colleague as approver without review...
    let widened = config(
        "{ mode: merge, approvers: [koho-chief@city.example.jp, suzuki@city.example.jp] }",
        "2h",
        "",
    );
    push_directly(
        &repo,
        STAFF,
        &[("oshirase.yaml", &widened)],
        "add an approver",
    );
    wait_until("the config change held", Duration::from_secs(20), || {
        !health(&s)["config_held"].is_null()
    });
    // ...and the colleague merges a staff post.
    repo.git(STAFF, &["checkout", "-q", "-b", "staff/c"]);
    repo.write("posts/c.md", &post("C", None, "portal", "同僚の承認"));
    repo.commit_all(STAFF, "propose c");
    repo.git(OTHER, &["checkout", "-q", "main"]);
    repo.git(
        OTHER,
        &["merge", "-q", "--no-ff", "-m", "Merge staff/c", "staff/c"],
    );
    wait_until("post c held", Duration::from_secs(20), || {
        state(&s, "posts/c", "portal") == "held"
    });
    let reason = delivery(&s, "posts/c", "portal")["last_error"].to_string();
    assert!(reason.contains("configuration in force"), "{reason}");
    assert!(outbox(data.path(), "city", "portal").is_empty());
}
