//! `oshirase demo` tells the whole story: merged posts fall due and reach the outboxes, a
//! later merge is picked up live, and a post pushed without review is held.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oshirase::demo::{self, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_publishes_to_outboxes_and_prints_each_publication() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let options = DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        dir: Some(dir.path().to_path_buf()),
        step: Duration::from_millis(700),
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
    assert_eq!(keys.len(), 5, "{portal}");
}
