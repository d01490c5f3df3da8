//! Disaster posts: `emergency: true` pushed straight to the branch by the crisis-management
//! section goes out at once, ahead of a queue of scheduled posts and within the network's
//! budget; the same from anyone else is held with the reason; every approver is alerted;
//! and the duplicate guard still stops a hurried repeat on X.

mod common;

use std::time::Duration;

use common::{outbox, post, settings, wait_for, GitRepo, CHIEF, STAFF};
use serde_json::Value;

/// The crisis-management section's duty officer: an emergency approver, not an approver.
const KIKI: (&str, &str) = ("Suzuki Kiki", "kiki-kanri@city.example.jp");

/// One account in `mode: merge`; X (an outbox in a rehearsal) may take ten posts a second.
const CONFIG: &str = "\
timezone: Asia/Tokyo
max_lateness: 2h
accounts:
  city:
    approval: { mode: merge, approvers: [koho-chief@city.example.jp] }
    emergency: { approvers: [Kiki-Kanri@city.example.jp] }
    policy: { duplicates: 30d }
    networks:
      x: { type: x, credentials: X_CITY, rate: { requests: 10, per: 1s } }
      portal: { type: outbox }
";

const QUAKE: &str = "【緊急】震度6弱の地震が発生しました。区内の避難所を開設しています。\
    最新情報は https://www.city.example.jp/bousai をご覧ください。";

fn emergency_post(title: &str, body: &str) -> String {
    format!("---\ntitle: {title}\nemergency: true\nnetworks: [x, portal]\n---\n{body}\n")
}

async fn rehearsal(
    repo: &GitRepo,
    data: &std::path::Path,
    secrets: &str,
) -> oshirase::cli::serve::Service {
    let mut s = settings(&repo.path, data);
    s.dry_run = true;
    s.secrets = oshirase::support::secrets::Secrets::parse("test", secrets).unwrap();
    oshirase::cli::serve::Service::start(s)
        .await
        .expect("service starts")
}

fn delivery(service: &oshirase::cli::serve::Service, id: &str, net: &str) -> (String, String) {
    let d = service.store.delivery(id, net).unwrap().expect("delivery");
    (
        d.state.as_str().to_string(),
        d.last_error.unwrap_or_default(),
    )
}

/// Whether the sync planned the post's X delivery within a few seconds.
async fn planned(service: &oshirase::cli::serve::Service, id: &str) -> bool {
    wait_for(Duration::from_secs(10), || {
        service.store.delivery(id, "x").ok().flatten().is_some()
    })
    .await
}

fn texts(data: &std::path::Path) -> Vec<String> {
    outbox(data, "city", "x")
        .iter()
        .map(|line| line["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_push_by_the_crisis_section_overtakes_two_hundred_queued_posts() {
    let (smtp_port, mails) = common::smtp::fake_smtp().await;
    // Two hundred notices that differ only in a number are near-duplicates to the guard;
    // the queue here is about order, so this account has no `duplicates:`.
    let repo = GitRepo::new(&CONFIG.replace("    policy: { duplicates: 30d }\n", ""));
    let queue: Vec<(String, String)> = (0..200)
        .map(|i| {
            let body = format!("お知らせ第{i}号：区民センターの催しのご案内（{i}）です。");
            (
                format!("posts/queue-{i:03}.md"),
                post(&format!("お知らせ{i}"), None, "x", &body),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = queue
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    repo.propose_and_merge("staff/queue", &files);
    let data = tempfile::tempdir().unwrap();
    let service = rehearsal(
        &repo,
        data.path(),
        &format!(
            "OSHIRASE_ALERT_SMTP_URL=smtp://127.0.0.1:{smtp_port}\n\
             OSHIRASE_ALERT_EMAIL_TO=koho@city.example.jp\n"
        ),
    )
    .await;
    // The queue is draining at X's budget when the earthquake strikes.
    assert!(wait_for(Duration::from_secs(20), || texts(data.path()).len() >= 15).await);

    repo.write("posts/quake.md", &emergency_post("地震発生", QUAKE));
    repo.commit_all(KIKI, "緊急: 地震発生");
    service.request_sync();
    let out = |data: &std::path::Path| texts(data).iter().position(|t| t.contains("震度6弱"));
    assert!(
        wait_for(Duration::from_secs(20), || out(data.path()).is_some()).await,
        "the emergency post went out"
    );
    let position = out(data.path()).unwrap_or(usize::MAX);
    assert!(
        position < 50,
        "published at once, not behind the queue: {position} posts went before it"
    );
    // On every network it names (the portal's outbox may still be writing).
    assert!(
        common::reaches(
            &service,
            "posts/quake",
            "portal",
            "published",
            Duration::from_secs(10)
        )
        .await,
        "{:?}",
        delivery(&service, "posts/quake", "portal")
    );

    // Recorded as an emergency, with who pushed it and how.
    let post = service.store.post("posts/quake").unwrap().expect("post");
    let emergency = post.post.emergency.expect("recorded as an emergency");
    assert_eq!(emergency.by.email, "kiki-kanri@city.example.jp");
    assert_eq!(
        emergency.via,
        oshirase::model::records::EmergencyRoute::DirectPush
    );
    let events = service.store.events_for("posts/quake").unwrap();
    let event = events
        .iter()
        .find(|e| e.kind == "emergency")
        .expect("an emergency event");
    assert!(
        event.detail.contains("kiki-kanri@city.example.jp") && event.detail.contains("direct push"),
        "{}",
        event.detail
    );

    // Every approver is told, and the office's channel too.
    let mailed = |who: &'static str| {
        let mails = mails.clone();
        move || {
            mails.lock().unwrap().iter().any(|(rcpt, data)| {
                rcpt.iter().any(|r| r.contains(who))
                    && common::smtp::decoded_body(data).contains("地震発生")
            })
        }
    };
    for who in [
        "koho-chief@city.example.jp",
        "kiki-kanri@city.example.jp",
        "koho@city.example.jp",
    ] {
        assert!(
            wait_for(Duration::from_secs(10), mailed(who)).await,
            "{who} was alerted"
        );
    }
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_from_anyone_else_is_held_and_an_approvers_merge_lets_it_through() {
    let repo = GitRepo::new(CONFIG);
    repo.write("posts/rumour.md", &emergency_post("未確認", QUAKE));
    repo.commit_all(STAFF, "緊急（未承認）");
    let data = tempfile::tempdir().unwrap();
    let service = rehearsal(&repo, data.path(), "").await;
    assert!(planned(&service, "posts/rumour").await);
    let (state, why) = delivery(&service, "posts/rumour", "x");
    assert_eq!(state, "held", "{why}");
    assert!(
        why.contains("emergency")
            && why.contains("yamada@city.example.jp")
            && why.contains("accounts.city.emergency.approvers"),
        "{why}"
    );
    assert!(service
        .store
        .post("posts/rumour")
        .unwrap()
        .unwrap()
        .post
        .emergency
        .is_none());

    // Nor can a push make its author an emergency approver: that change needs approval.
    repo.write(
        "oshirase.yaml",
        &CONFIG.replace(
            "[Kiki-Kanri@city.example.jp]",
            "[Kiki-Kanri@city.example.jp, yamada@city.example.jp]",
        ),
    );
    repo.write(
        "posts/rumour2.md",
        &emergency_post("未確認2", "【緊急】未確認の情報です。"),
    );
    repo.commit_all(STAFF, "自分を緊急承認者に");
    service.request_sync();
    assert!(planned(&service, "posts/rumour2").await);
    assert_eq!(delivery(&service, "posts/rumour2", "x").0, "held");

    // A commit that only names the crisis section as its author (as a forge's rebase of
    // someone's pull request would) is not their push.
    repo.write(
        "posts/borrowed.md",
        &emergency_post("なりすまし", "【緊急】借りた名前の投稿です。"),
    );
    repo.git(STAFF, &["add", "-A"]);
    let author = format!("--author={} <{}>", KIKI.0, KIKI.1);
    repo.git(
        STAFF,
        &["commit", "-q", &author, "-m", "緊急（作者だけ危機管理）"],
    );
    service.request_sync();
    assert!(planned(&service, "posts/borrowed").await);
    let (state, why) = delivery(&service, "posts/borrowed", "x");
    assert_eq!(state, "held", "{why}");
    assert!(why.contains("emergency"), "{why}");

    // Through a pull request merged by an approver, an emergency goes at once too.
    let flood = "【緊急】大雨による避難指示を発令しました。荒川沿いの方は避難してください。";
    repo.propose_and_merge(
        "staff/flood",
        &[("posts/flood.md", &emergency_post("避難指示", flood))],
    );
    service.request_sync();
    assert!(
        wait_for(Duration::from_secs(10), || texts(data.path())
            .iter()
            .any(|t| t.contains("避難指示")))
        .await
    );
    let flood_post = service.store.post("posts/flood").unwrap().unwrap();
    let emergency = flood_post.post.emergency.expect("an emergency");
    assert_eq!(emergency.by.email, CHIEF.1);
    assert_eq!(
        emergency.via,
        oshirase::model::records::EmergencyRoute::Merge
    );
    assert_eq!(delivery(&service, "posts/rumour", "x").0, "held");

    // The API says so, for the dashboard's banner.
    let (status, body) = common::get_json(service.addr, "/api/posts/posts%2Fflood");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["emergency"]["by"],
        Value::from(format!("{} <{}>", CHIEF.0, CHIEF.1))
    );
    // An emergency approver's push does not let a retraction through without approval.
    repo.write(
        "posts/flood.md",
        &emergency_post("避難指示", flood)
            .replace("emergency: true\n", "emergency: true\nretract: true\n"),
    );
    repo.commit_all(KIKI, "緊急の取り消し");
    service.request_sync();
    assert!(
        wait_for(Duration::from_secs(10), || {
            service
                .store
                .events_for("posts/flood")
                .unwrap()
                .iter()
                .any(|e| e.kind == "retract-held")
        })
        .await
    );
    let d = service.store.delivery("posts/flood", "x").unwrap().unwrap();
    assert!(
        d.state.as_str() == "published" && !d.retract_pending,
        "{d:?}"
    );

    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hurried_repeat_of_an_emergency_on_x_is_refused_naming_the_first() {
    let repo = GitRepo::new(CONFIG);
    let data = tempfile::tempdir().unwrap();
    repo.write("posts/quake.md", &emergency_post("地震発生", QUAKE));
    repo.commit_all(KIKI, "緊急: 地震発生");
    let service = rehearsal(&repo, data.path(), "").await;
    assert!(wait_for(Duration::from_secs(10), || texts(data.path()).len() == 1).await);

    let again = QUAKE.replace('。', "。 ");
    repo.write(
        "posts/quake-again.md",
        &emergency_post("地震発生（再）", &again),
    );
    repo.commit_all(KIKI, "緊急: 地震発生（再）");
    service.request_sync();
    let portal = || outbox(data.path(), "city", "portal").len();
    assert!(wait_for(Duration::from_secs(10), || portal() == 2).await);
    let (state, why) = delivery(&service, "posts/quake-again", "x");
    assert_eq!(state, "invalid", "{why}");
    assert!(
        why.contains("`posts/quake`"),
        "names the earlier post: {why}"
    );
    assert_eq!(texts(data.path()).len(), 1, "X received it once");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_emergency_found_by_a_cold_sync_is_missed_and_alerts_nobody() {
    let repo = GitRepo::new(CONFIG);
    repo.write("posts/old-quake.md", &emergency_post("去年の地震", QUAKE));
    repo.git(KIKI, &["add", "-A"]);
    // Pushed three hours ago, longer ago than max_lateness (2h).
    let then = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    repo.git_dated(KIKI, &then, &["commit", "-q", "-m", "緊急: 去年の地震"]);
    let data = tempfile::tempdir().unwrap();
    let service = rehearsal(&repo, data.path(), "").await;
    assert!(
        wait_for(Duration::from_secs(10), || {
            service
                .store
                .delivery("posts/old-quake", "x")
                .ok()
                .flatten()
                .is_some_and(|d| d.state.as_str() == "missed")
        })
        .await,
        "{:?}",
        service.store.delivery("posts/old-quake", "x")
    );
    assert!(texts(data.path()).is_empty(), "not sent again");
    let post = service.store.post("posts/old-quake").unwrap().unwrap();
    assert!(
        post.post.emergency.is_some(),
        "still recorded as an emergency"
    );
    let events = service.store.events_for("posts/old-quake").unwrap();
    assert!(
        events.iter().all(|e| e.kind != "emergency"),
        "no emergency event, so no alert: {:?}",
        events.iter().map(|e| e.kind).collect::<Vec<_>>()
    );
    service.shutdown().await;
}
