//! `oshirase demo` tells the whole story: merged posts fall due and reach the outboxes, an
//! emergency pushed by the crisis-management section overtakes the queue, a later merge is
//! picked up live, a post pushed without review is held, and a staff
//! member proposes on the desk a post the supervisor approves there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oshirase::cli::demo::{self, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_publishes_to_outboxes_and_prints_each_publication() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let options = DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        dir: Some(dir.path().to_path_buf()),
        step: Duration::from_millis(700),
        log: None,
    };
    demo::run(
        options,
        move |l| sink.lock().unwrap().push(l),
        tokio::time::sleep(Duration::from_secs(8)),
    )
    .await
    .unwrap();
    let lines = lines.lock().unwrap().clone();
    let text = lines.join("\n");
    assert!(
        lines[0].starts_with("oshirase demo: dashboard at http://127.0.0.1:"),
        "{text}"
    );
    // The example was written for one winter; moved to today, none of it is missed.
    assert!(
        lines.iter().all(|l| !l.starts_with("missed")),
        "no example post is missed because its date has passed:\n{text}"
    );
    let published = lines.iter().filter(|l| l.starts_with("published")).count();
    // The immediate post, three due soon and the live merge: five posts, 2–3 networks each.
    assert!(published >= 12, "{published} publications:\n{text}");
    assert!(
        text.contains("水道管工事"),
        "the live merge is picked up:\n{text}"
    );
    assert!(
        text.contains("held") && text.contains("directly"),
        "the direct push is held:\n{text}"
    );
    // The emergency push goes out at once, ahead of posts scheduled before it was pushed.
    let first = |words: &str| {
        lines
            .iter()
            .position(|l| l.starts_with("published") && l.contains(words))
    };
    let emergency = lines
        .iter()
        .position(|l| l.starts_with("EMERGENCY") && l.contains("kiki-kanri@city.example.jp"));
    assert!(emergency.is_some(), "the emergency is announced:\n{text}");
    assert!(
        text.contains("goes first:") && text.contains("scheduled deliveries wait behind it"),
        "{text}"
    );
    let (quake, flu) = (first("地震による避難所の開設"), first("インフルエンザ"));
    assert!(
        matches!((quake, flu), (Some(q), Some(f)) if q < f),
        "the emergency is published before the notice scheduled before it was pushed:\n{text}"
    );
    let desk_line = |start: &str, words: &str| {
        lines
            .iter()
            .any(|l| l.starts_with(start) && l.contains(words))
    };
    assert!(
        desk_line("proposed", "yamada@demo.city.example.jp proposed"),
        "the staff member proposes on the desk:\n{text}"
    );
    assert!(
        desk_line("approved", "koho-deputy@city.example.jp approved"),
        "the supervisor approves on the desk:\n{text}"
    );
    assert!(
        desk_line("published", "年末年始の窓口のご案内"),
        "and the approved post goes out:\n{text}"
    );

    // Both people's passwords are printed at start, and each is the one that signs in.
    let people = oshirase::web::auth::people::PeopleFile::open(&dir.path().join("data")).unwrap();
    let mut roles = Vec::new();
    for line in lines
        .iter()
        .filter(|l| l.trim_start().starts_with("sign in ("))
    {
        let rest = line.trim_start().trim_start_matches("sign in (");
        let (role, rest) = rest.split_once("): ").unwrap();
        let (email, password) = rest.split_once("  password: ").unwrap();
        assert_eq!(password.len(), 16, "{line}");
        let (found, _) = people.check(email, password.as_bytes());
        assert!(found.is_some(), "the printed password signs {email} in");
        assert!(people.check(email, b"not-it").0.is_none());
        roles.push(role.to_string());
    }
    roles.sort();
    // The supervisor is an admin, and the account's approver.
    assert_eq!(
        roles,
        ["admin", "staff"],
        "a staff and a supervisor account:\n{text}"
    );

    let portal =
        std::fs::read_to_string(dir.path().join("data/outbox/adachi/portal.jsonl")).unwrap();
    let keys: Vec<String> = portal
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "no key twice");
    assert_eq!(
        keys.len(),
        7,
        "five posts from git, the emergency, one from the desk: {portal}"
    );
}

#[test]
fn the_demo_prints_its_story_and_keeps_the_service_log_in_a_file_it_names() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["demo", "--listen", "127.0.0.1:0", "--step", "1s", "--dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !lines.iter().any(|l: &String| l.starts_with("published")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        lines.push(
            rx.recv_timeout(left)
                .expect("the story goes on within a minute"),
        );
        // A browser opens the live stream and goes away.
        if let Some(addr) = lines[0].strip_prefix("oshirase demo: dashboard at http://") {
            if lines.len() == 1 {
                let addr = addr.trim_end_matches('/').to_string();
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                write!(s, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
                let mut head = [0u8; 64];
                let _ = s.read(&mut head);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        lines.push(line);
    }
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let story = lines.join("\n");
    let log_file = dir.path().join("oshirase.log");
    assert!(
        story.contains(&format!("the service's log: {}", log_file.display())),
        "the story names the log: {story}"
    );
    for line in lines.iter().map(String::as_str).chain(stderr.lines()) {
        assert!(
            !line.contains(" INFO ") && !line.contains("ERROR"),
            "only the story is printed: {line}"
        );
    }
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        log.contains("initial sync"),
        "the service logs to the file: {log}"
    );
    assert!(
        !log.contains("ERROR"),
        "a browser going away is no error: {log}"
    );
}
