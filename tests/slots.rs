//! Golden-time slots: `publish_at: next-slot` and `slot:` take the first free slot of the
//! account at or after the merge, each post its own, and keep it across a restart and
//! later syncs; `check` shows the slot a post would take if merged now. (Weekends and
//! public holidays are in `src/content/slots.rs`'s tests, on fixed dates.)

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use common::{post, settings, wait_for, GitRepo};
use oshirase::content::config::RepoConfig;
use serde_json::Value;

const CONFIG: &str = "\
timezone: Asia/Tokyo
max_lateness: 2h
accounts:
  city:
    approval: { mode: merge, approvers: [koho-chief@city.example.jp] }
    slots:
      - { name: noon, at: \"12:15\", days: weekdays, holidays: skip }
      - { name: evening, at: \"19:00\" }
    networks:
      portal: { type: outbox }
      news: { type: outbox }
";

fn slot_post(title: &str, slot: &str, body: &str) -> String {
    format!("---\ntitle: {title}\n{slot}\nnetworks: [portal]\ndepartment: 広報課\n---\n{body}\n")
}

/// Each post's chosen slot and its delivery's time.
fn chosen(service: &oshirase::cli::serve::Service, ids: &[&str]) -> Vec<(String, DateTime<Utc>)> {
    ids.iter()
        .map(|id| {
            let v = service.store.post(id).unwrap().expect("post");
            let slot = v.post.slot.clone().expect("a slot was taken");
            assert_eq!(
                v.deliveries[0].publish_at, slot.at,
                "{id}: the delivery is due at its slot"
            );
            (slot.name, slot.at)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_post_takes_its_own_slot_and_keeps_it_across_a_restart() {
    let repo = GitRepo::new(CONFIG);
    let ids = ["posts/a", "posts/b", "posts/c", "posts/d"];
    repo.propose_and_merge(
        "staff/slots",
        &[
            (
                "posts/a.md",
                &slot_post("一", "publish_at: next-slot", "一つ目のお知らせです。"),
            ),
            (
                "posts/b.md",
                &slot_post("二", "publish_at: next-slot", "二つ目のお知らせです。"),
            ),
            (
                "posts/c.md",
                &slot_post("三", "publish_at: next-slot", "三つ目のお知らせです。"),
            ),
            (
                "posts/d.md",
                &slot_post("夕方", "slot: evening", "夕方の枠のお知らせです。"),
            ),
        ],
    );
    let merged_at: DateTime<Utc> = {
        let secs: i64 = repo
            .git(common::CHIEF, &["log", "-1", "--format=%ct"])
            .parse()
            .unwrap();
        DateTime::from_timestamp(secs, 0).unwrap()
    };
    let data = tempfile::tempdir().unwrap();
    let service = oshirase::cli::serve::Service::start(settings(&repo.path, data.path()))
        .await
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || ids.iter().all(|id| service
            .store
            .post(id)
            .ok()
            .flatten()
            .is_some_and(|v| v.post.slot.is_some())))
        .await
    );
    let first = chosen(&service, &ids);

    // Every time is a slot's, at or after the merge, and no two posts share one.
    let tz = chrono_tz::Asia::Tokyo;
    for (name, at) in &first {
        let local = at.with_timezone(&tz);
        let hm = (local.hour(), local.minute());
        assert!(
            (name == "noon" && hm == (12, 15)) || (name == "evening" && hm == (19, 0)),
            "{name} at {local}"
        );
        assert!(
            *at >= merged_at,
            "{at} is not before the merge at {merged_at}"
        );
    }
    let distinct: HashSet<_> = first.iter().collect();
    assert_eq!(distinct.len(), first.len(), "one post per slot: {first:?}");
    assert_eq!(first[3].0, "evening", "`slot: evening` takes an evening");
    // The files are planned in order, so the first takes the first slot after the merge.
    let config = RepoConfig::parse("oshirase.yaml", CONFIG).unwrap();
    let slots = &config.accounts["city"].slots;
    let expected =
        oshirase::content::slots::first_free(slots, None, merged_at, tz, |_, _| 0).unwrap();
    assert_eq!(first[0], expected);
    let mut soonest = first[..3].to_vec();
    soonest.sort_by_key(|(_, at)| *at);
    let taken: Vec<_> = oshirase::content::slots::occurrences(slots, None, merged_at, tz)
        .filter(|(s, t)| !(s.name == "evening" && *t == first[3].1))
        .take(3)
        .map(|(s, t)| (s.name.clone(), t))
        .collect();
    assert_eq!(soonest, taken, "the three soonest free slots");

    // An unrelated merge and a restart change nothing.
    repo.propose_and_merge(
        "staff/other",
        &[(
            "posts/other.md",
            &post("別件", None, "portal", "別件のお知らせです。"),
        )],
    );
    service.request_sync();
    assert!(
        wait_for(Duration::from_secs(10), || service
            .store
            .post("posts/other")
            .ok()
            .flatten()
            .is_some())
        .await
    );
    assert_eq!(chosen(&service, &ids), first);
    service.shutdown().await;
    let again = oshirase::cli::serve::Service::start(settings(&repo.path, data.path()))
        .await
        .unwrap();
    again.request_sync();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        chosen(&again, &ids),
        first,
        "the same slots after a restart"
    );

    // The API shows the slot, and the desk's preview the one a draft would take.
    let (status, body) = common::get_json(again.addr, "/api/posts/posts%2Fd");
    assert_eq!(status, 200);
    assert_eq!(body["slot"]["name"], "evening");
    let (_, info) = common::get_json(again.addr, "/api/info");
    assert_eq!(
        info["accounts"][0]["slots"],
        serde_json::json!(["noon", "evening"])
    );
    let addr = again.addr;
    let preview = tokio::task::spawn_blocking(move || {
        let draft = serde_json::json!({
            "title": "夕方のお知らせ", "networks": ["portal"], "department": "広報課",
            "publish_at": "next-slot", "body": "夕方に出すお知らせです。",
        });
        ureq::post(&format!("http://{addr}/api/preview"))
            .header("content-type", "application/json")
            .send(draft.to_string().as_bytes())
            .unwrap()
            .into_body()
            .read_json::<Value>()
            .unwrap()
    })
    .await
    .unwrap();
    let name = preview["slot"]["name"].as_str().unwrap_or_default();
    assert!(name == "noon" || name == "evening", "{preview}");
    again.shutdown().await;
}

fn check(dir: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["check", "--format", "json", "--lang", "en"])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn check_shows_the_slot_a_post_would_take_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oshirase.yaml"), CONFIG).unwrap();
    std::fs::create_dir_all(dir.path().join("posts")).unwrap();
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join("posts").join(name), text).unwrap();
    write(
        "a.md",
        &slot_post("一", "publish_at: next-slot", "一つ目です。"),
    );
    write(
        "b.md",
        &slot_post("二", "publish_at: next-slot", "二つ目です。"),
    );
    let (code, v) = check(dir.path());
    assert_eq!(code, 0, "{v}");
    let slots: Vec<(String, String)> = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["slot"]["name"].as_str().unwrap().to_string(),
                p["slot"]["at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(slots.len(), 2);
    assert_ne!(
        slots[0], slots[1],
        "the second is shown the slot after the first"
    );

    let human = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["check", "--lang", "en"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("the next free slot after merge")
            && text.contains("at the time of this check"),
        "{text}"
    );

    write("c.md", &slot_post("三", "slot: midnight", "三つ目です。"));
    write(
        "d.md",
        &slot_post(
            "四",
            "slot: evening\npublish_at: 2026-12-24 19:00",
            "四つ目です。",
        ),
    );
    let (code, v) = check(dir.path());
    assert_eq!(code, 1);
    let errors: Vec<(String, String)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        errors.iter().any(|(f, m)| f.ends_with("c.md")
            && m.contains("`midnight`")
            && m.contains("noon, evening")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(f, m)| f.ends_with("d.md") && m.contains("`slot:`")),
        "{errors:?}"
    );
}
