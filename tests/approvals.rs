//! The supervisor's side of the desk against real git: proposals waiting with their
//! previews, approval as a real merge commit by the approver that sync then publishes,
//! and every refusal the issue names — staff, an approver not on the account's list, the
//! proposer, no CSRF token, a session signed out or expired, a branch moved after it was
//! reviewed, a conflict, two approvals at once. Sending back and withdrawing keep the
//! branch.
//! `proposers:` holds a post proposed by someone it does not list.

mod common;

#[path = "fakes/forges.rs"]
mod fake_forges;

use std::time::Duration;

use common::desk::*;
use common::*;
use oshirase::web::auth::people::Role;
use serde_json::{json, Value};

const HANAKO: &str = "hanako@city.example.jp";
const JIRO: &str = "jiro@city.example.jp";
const AOKI: &str = "aoki@city.example.jp";

/// Hanako and Jiro (staff), the chief (an approver of `city`), Aoki (an approver by role
/// whom the account does not list).
const PEOPLE: &[Person] = &[
    (HANAKO, "山田 花子", "環境部 清掃課", Role::Staff),
    (JIRO, "鈴木 次郎", "防災課", Role::Staff),
    (CHIEF.1, "佐藤 一郎", "広報課", Role::Approver),
    (AOKI, "青木 三郎", "広報課", Role::Approver),
];

fn draft(title: &str) -> Value {
    json!({
        "title": title,
        "networks": ["portal", "news"],
        "department": "環境部 清掃課",
        "text": { "news": "ニュース向けの本文です。" },
        "body": "12月29日から1月3日まで、ごみ収集はお休みです。",
    })
}

async fn desk_with_chief() -> (GitRepo, tempfile::TempDir, oshirase::cli::serve::Service) {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let service = start_with_people(settings(&repo.path, data.path()), PEOPLE).await;
    (repo, data, service)
}

fn propose(who: &Browser, title: &str) -> Value {
    let (status, made) = who.send("POST", "/api/proposals", &draft(title), &[]);
    assert_eq!(status, 201, "{made}");
    made
}

fn waiting(who: &Browser, query: &str) -> Vec<Value> {
    let (status, list) = who.get(&format!("/api/proposals{query}"));
    assert_eq!(status, 200, "{list}");
    list["proposals"].as_array().unwrap().clone()
}

fn approve(who: &Browser, id: &str, commit: &str) -> (u16, Value) {
    who.send(
        "POST",
        &format!("/api/proposals/{id}/approve"),
        &json!({ "commit": commit }),
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_merges_a_proposal_on_the_desk_and_sync_publishes_it() {
    let (repo, data, service) = desk_with_chief().await;
    let addr = service.addr;
    let (hanako, jiro, chief, aoki) = blocking(move || {
        (
            Browser::sign_in(addr, HANAKO),
            Browser::sign_in(addr, JIRO),
            Browser::sign_in(addr, CHIEF.1),
            Browser::sign_in(addr, AOKI),
        )
    })
    .await;
    let made = propose(&hanako, "年末年始のごみ収集");
    let commit = made["commit"].as_str().unwrap().to_string();
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);

    // Waiting, with what each network will receive, for whoever looks.
    let list = waiting(&chief, "");
    assert_eq!(list.len(), 1, "{list:?}");
    let p = &list[0];
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["author"]["email"], HANAKO);
    assert_eq!(p["department"], "環境部 清掃課");
    assert_eq!(p["accounts"], json!(["city"]));
    assert_eq!(p["approve_on"], "desk");
    assert_eq!(
        (p["may_approve"].clone(), p["why_not"].clone()),
        (json!(true), Value::Null)
    );
    let networks = &p["review"][0]["preview"]["networks"];
    let text_of = |n: &str| {
        networks
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["network"] == n)
            .map(|x| x["text"].as_str().unwrap().to_string())
    };
    assert_eq!(text_of("news").as_deref(), Some("ニュース向けの本文です。"));
    assert!(text_of("portal").unwrap().contains("ごみ収集はお休みです"));
    assert_eq!(p["review"][0]["preview"]["errors"], json!([]));
    // Aoki approves by role, but the account does not list him; staff never approve.
    let aoki_sees = &waiting(&aoki, "")[0];
    assert_eq!(aoki_sees["may_approve"], false);
    assert!(
        aoki_sees["why_not"]
            .as_str()
            .unwrap()
            .contains("not an approver of account `city`"),
        "{aoki_sees}"
    );
    assert_eq!(waiting(&hanako, "")[0]["may_approve"], false);
    // Filters by account and department.
    assert_eq!(
        waiting(&chief, "?department=%E9%98%B2%E7%81%BD%E8%AA%B2").len(),
        0
    );
    assert_eq!(waiting(&chief, "?account=city").len(), 1);
    let (status, _) = chief.get("/api/proposals?colour=red");
    assert_eq!(status, 400);

    // Every refusal leaves the publish branch where it was.
    let (status, why) = approve(&jiro, &id, &commit);
    assert_eq!(status, 403, "{why}");
    assert!(why["error"].as_str().unwrap().contains("staff"), "{why}");
    let (status, why) = approve(&aoki, &id, &commit);
    assert_eq!(status, 403, "{why}");
    assert!(
        why["error"].as_str().unwrap().contains("not an approver"),
        "{why}"
    );
    let no_csrf = request(
        addr,
        "POST",
        &format!("/api/proposals/{id}/approve"),
        &[
            ("cookie", &chief.cookie),
            ("content-type", "application/json"),
        ],
        Some(&json!({ "commit": commit })),
    );
    assert_eq!(no_csrf.0, 403, "without the CSRF token: {}", no_csrf.1);
    let (status, why) = approve(&chief, &id, "not-a-commit");
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("commit")),
        "{why}"
    );
    let (status, _) = chief.send(
        "POST",
        &format!("/api/proposals/{id}/approve"),
        &json!({ "commit": commit, "approver": HANAKO }),
        &[],
    );
    assert_eq!(
        status, 400,
        "an approver named in the body is refused, not believed"
    );
    assert_eq!(repo.git(CHIEF, &["rev-parse", "main"]), main_before);

    // Hanako rewrites the branch after the chief looked (a force-push: the commit he saw
    // is no longer on it): what he saw is not what would merge.
    let branch = made["branch"].as_str().unwrap().to_string();
    repo.git(STAFF, &["checkout", "-q", &branch]);
    repo.write("posts/extra.md", &post("もう一件", None, "portal", "追加"));
    let hanako_git = ("山田 花子", HANAKO);
    repo.git(hanako_git, &["add", "-A"]);
    repo.git(
        hanako_git,
        &["commit", "-q", "--amend", "-m", "Propose, rewritten"],
    );
    repo.git(STAFF, &["checkout", "-q", "main"]);
    let rewritten = repo.git(CHIEF, &["rev-parse", &branch]);
    assert!(
        std::process::Command::new("git")
            .args(["merge-base", "--is-ancestor", &commit, &rewritten])
            .current_dir(&repo.path)
            .status()
            .is_ok_and(|s| !s.success()),
        "the branch's history was rewritten"
    );
    let (status, why) = approve(&chief, &id, &commit);
    assert_eq!(status, 409, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .contains("changed after you saw it"),
        "{why}"
    );
    assert_eq!(
        repo.git(CHIEF, &["rev-parse", "main"]),
        main_before,
        "nothing merged"
    );

    // Looked at again, approved: two at once, and exactly one lands.
    let seen = waiting(&chief, "")[0]["commit"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(seen, commit);
    let (a, b) = {
        let (c1, c2) = (chief.clone(), chief.clone());
        let (id1, id2, s1, s2) = (id.clone(), id.clone(), seen.clone(), seen.clone());
        let one = tokio::task::spawn_blocking(move || approve(&c1, &id1, &s1));
        let two = tokio::task::spawn_blocking(move || approve(&c2, &id2, &s2));
        (one.await.unwrap(), two.await.unwrap())
    };
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 404], "{a:?} {b:?}");
    let approved = if a.0 == 200 { &a.1 } else { &b.1 };
    let merge = approved["merge"].as_str().unwrap();
    assert_eq!(repo.git(CHIEF, &["rev-parse", "main"]), merge);
    assert_eq!(
        repo.git(CHIEF, &["log", "-1", "--format=%an <%ae>|%cn|%P", "main"]),
        format!("佐藤 一郎 <{}>|oshirase|{main_before} {seen}", CHIEF.1)
    );
    assert!(
        waiting(&chief, "").is_empty(),
        "merged proposals leave the list"
    );

    // Sync judges the merge as a forge's: approved by the chief, proposed by Hanako.
    let post_id = made["file"].as_str().unwrap()[6..]
        .trim_end_matches(".md")
        .to_string();
    let post_id = format!("posts/{post_id}");
    assert!(
        wait_for(Duration::from_secs(20), || delivery_state(
            &service, &post_id, "portal"
        )
        .as_deref()
            == Some("published"))
        .await,
        "published: {:?}",
        delivery_state(&service, &post_id, "portal")
    );
    assert_eq!(
        outbox(data.path(), "city", "portal").len(),
        2,
        "both posts of the branch"
    );
    assert_eq!(outbox(data.path(), "city", "news").len(), 1);
    let events = service.store.events_for(&post_id).unwrap();
    let approved = events
        .iter()
        .find(|e| e.kind == "proposal-approved")
        .expect("the approval is in the audit log");
    assert_eq!(
        approved.actor,
        oshirase::model::records::Actor::Desk(CHIEF.1.to_string())
    );

    // The chief signs out: the same cookie approves nothing any more.
    let (status, _) = chief.send("DELETE", "/api/session", &json!({}), &[]);
    assert_eq!(status, 200);
    let (status, _) = approve(&chief, &id, &seen);
    assert!(
        status == 401 || status == 403,
        "a signed-out session: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_approves_nothing() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let limits = oshirase::web::auth::sessions::SessionLimits {
        idle: Duration::from_millis(1500),
        lifetime: Duration::from_secs(60),
    };
    let service = start_with_sessions(settings(&repo.path, data.path()), PEOPLE, limits).await;
    let addr = service.addr;
    let hanako = blocking(move || Browser::sign_in(addr, HANAKO)).await;
    let made = propose(&hanako, "年末年始のごみ収集");
    let chief = blocking(move || Browser::sign_in(addr, CHIEF.1)).await;
    let seen = &waiting(&chief, "")[0];
    let (id, commit) = (
        seen["id"].as_str().unwrap().to_string(),
        made["commit"].as_str().unwrap().to_string(),
    );
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    // The chief leaves the page open past the idle limit, then presses approve.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (status, why) = approve(&chief, &id, &commit);
    assert_eq!(status, 401, "an expired session: {why}");
    assert_eq!(
        repo.git(CHIEF, &["rev-parse", "main"]),
        main_before,
        "nothing merged"
    );
    // Signed in again, the same approval goes through.
    let chief = blocking(move || Browser::sign_in(addr, CHIEF.1)).await;
    let (status, why) = approve(&chief, &id, &commit);
    assert_eq!(status, 200, "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_branches_are_announced_once_and_say_when_they_will_be_late() {
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let jiro_git = ("鈴木 次郎", JIRO);
    let push = |branch: &str, file: &str| {
        repo.git(STAFF, &["checkout", "-q", "-b", branch, "main"]);
        repo.write(file, &post("お知らせ", None, "portal", "本文"));
        repo.git(jiro_git, &["add", "-A"]);
        repo.git(jiro_git, &["commit", "-q", "-m", "お知らせ"]);
        repo.git(STAFF, &["checkout", "-q", "main"]);
    };
    push("old/one", "posts/old-one.md");
    let data = tempfile::tempdir().unwrap();
    let service = start_with_people(settings(&repo.path, data.path()), PEOPLE).await;
    let waiting_posts = |store: &oshirase::store::Store| -> Vec<String> {
        store
            .events()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "proposal-waiting")
            .map(|e| e.post_id)
            .collect()
    };
    push("new/two", "posts/new-two.md");
    assert!(
        wait_for(Duration::from_secs(20), || !waiting_posts(&service.store)
            .is_empty())
        .await,
        "the branch pushed after the start is announced"
    );
    assert_eq!(
        waiting_posts(&service.store),
        vec!["posts/new-two".to_string()]
    );
    // Both wait for approval all the same.
    let addr = service.addr;
    let chief = blocking(move || Browser::sign_in(addr, CHIEF.1)).await;
    assert_eq!(waiting(&chief, "").len(), 2);

    // Due in 20 minutes, before an approval is likely (an hour, until the desk has seen
    // three): late. Due in three hours: not. Already past: late and past.
    let now = chrono::Utc::now();
    for (branch, file, at) in [
        (
            "soon/a",
            "posts/soon.md",
            now + chrono::Duration::minutes(20),
        ),
        (
            "later/b",
            "posts/later.md",
            now + chrono::Duration::hours(3),
        ),
        (
            "past/c",
            "posts/past.md",
            now - chrono::Duration::minutes(5),
        ),
    ] {
        repo.git(STAFF, &["checkout", "-q", "-b", branch, "main"]);
        repo.write(file, &post("お知らせ", Some(at), "portal", "本文"));
        repo.git(jiro_git, &["add", "-A"]);
        repo.git(jiro_git, &["commit", "-q", "-m", "お知らせ"]);
        repo.git(STAFF, &["checkout", "-q", "main"]);
    }
    let (status, list) = chief.get("/api/proposals");
    assert_eq!(status, 200);
    assert_eq!(list["expected_wait_minutes"], 60, "{list}");
    let flags = |branch: &str| {
        let p = list["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["branch"] == branch)
            .unwrap_or_else(|| panic!("{branch} in {list}"));
        (p["late"].clone(), p["past"].clone())
    };
    assert_eq!(flags("soon/a"), (json!(true), json!(false)));
    assert_eq!(flags("later/b"), (json!(false), json!(false)));
    assert_eq!(flags("past/c"), (json!(true), json!(true)));
    assert_eq!(
        flags("new/two"),
        (json!(false), json!(false)),
        "as soon as approved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proposer_never_approves_and_a_conflict_is_named() {
    let (repo, _data, service) = desk_with_chief().await;
    let addr = service.addr;
    let chief = blocking(move || Browser::sign_in(addr, CHIEF.1)).await;
    // The chief's own proposal: another approver must approve it.
    let own = propose(&chief, "広報課のお知らせ");
    let list = waiting(&chief, "");
    let mine = list.iter().find(|p| p["branch"] == own["branch"]).unwrap();
    assert_eq!(mine["may_approve"], false);
    let (status, why) = approve(
        &chief,
        mine["id"].as_str().unwrap(),
        own["commit"].as_str().unwrap(),
    );
    assert_eq!(status, 403, "{why}");
    assert!(
        why["error"].as_str().unwrap().contains("four eyes"),
        "{why}"
    );

    // A branch pushed with git (not from the desk) waits too, and no longer merges once
    // main changed the same file.
    repo.propose_and_merge(
        "first",
        &[("posts/madoguchi.md", &post("窓口", None, "portal", "一"))],
    );
    repo.git(
        STAFF,
        &["checkout", "-q", "-b", "feature/madoguchi", "main~1"],
    );
    repo.write("posts/madoguchi.md", &post("窓口", None, "portal", "二"));
    repo.commit_all(STAFF, "the other version");
    repo.git(STAFF, &["checkout", "-q", "main"]);
    let list = waiting(&chief, "");
    let pushed = list
        .iter()
        .find(|p| p["branch"] == "feature/madoguchi")
        .expect("a branch pushed with git is a proposal too");
    assert_eq!(pushed["id"], "~feature~madoguchi");
    assert_eq!(pushed["author"]["email"], STAFF.1);
    let main_before = repo.git(CHIEF, &["rev-parse", "main"]);
    let (status, why) = approve(
        &chief,
        "~feature~madoguchi",
        pushed["commit"].as_str().unwrap(),
    );
    assert_eq!(status, 409, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .contains("no longer merges cleanly")
            && why["error"]
                .as_str()
                .unwrap()
                .contains("posts/madoguchi.md"),
        "{why}"
    );
    assert_eq!(repo.git(CHIEF, &["rev-parse", "main"]), main_before);
    let (status, _) = chief.get("/api/proposals/~..~main");
    assert_eq!(status, 400, "not a branch name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_back_and_withdrawing_keep_the_branch_and_tell_the_proposer() {
    let (repo, _data, service) = desk_with_chief().await;
    let addr = service.addr;
    let (hanako, jiro, chief) = blocking(move || {
        (
            Browser::sign_in(addr, HANAKO),
            Browser::sign_in(addr, JIRO),
            Browser::sign_in(addr, CHIEF.1),
        )
    })
    .await;
    let first = propose(&hanako, "年末年始のごみ収集");
    let id = first["branch"].as_str().unwrap()["proposals/".len()..].to_string();
    let path = format!("/api/proposals/{id}/return");
    let (status, why) = chief.send("POST", &path, &json!({ "reason": "  " }), &[]);
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("reason")),
        "{why}"
    );
    let (status, _) = jiro.send("POST", &path, &json!({ "reason": "だめ" }), &[]);
    assert_eq!(status, 403, "staff do not send back");
    let reason = "日付を12月28日に直してください";
    let (status, back) = chief.send("POST", &path, &json!({ "reason": reason }), &[]);
    assert_eq!(status, 200, "{back}");
    let kept = back["kept"].as_str().unwrap();
    assert!(
        kept.starts_with("refs/oshirase/set-aside/proposals/"),
        "{kept}"
    );
    assert_eq!(
        repo.git(CHIEF, &["rev-parse", kept]),
        first["commit"].as_str().unwrap(),
        "nothing is lost"
    );
    assert!(!branches(&repo.path).contains(&first["branch"].as_str().unwrap().to_string()));
    assert!(waiting(&chief, "").is_empty());
    let (_, list) = hanako.get("/api/proposals");
    assert_eq!(list["returned"][0]["reason"], reason);
    assert_eq!(list["returned"][0]["by"], CHIEF.1);
    assert_eq!(list["returned"][0]["kind"], "returned");
    let (_, list) = jiro.get("/api/proposals");
    assert_eq!(list["returned"], json!([]), "only its proposer is told");
    let events = service.store.events().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "proposal-returned" && e.detail.contains(reason)),
        "the reason is in the audit log"
    );

    // Withdrawn by its proposer only.
    let second = propose(&hanako, "粗大ごみの受付");
    let id = second["branch"].as_str().unwrap()["proposals/".len()..].to_string();
    let path = format!("/api/proposals/{id}/withdraw");
    let (status, _) = jiro.send("POST", &path, &json!({}), &[]);
    assert_eq!(status, 403);
    let (status, done) = hanako.send("POST", &path, &json!({}), &[]);
    assert_eq!(status, 200, "{done}");
    assert!(waiting(&hanako, "").is_empty());
    let (status, _) = hanako.send("POST", &path, &json!({}), &[]);
    assert_eq!(status, 404, "gone from the list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_from_someone_proposers_does_not_list_is_held() {
    let config = config(MERGE, "2h", "").replace(
        "    networks:\n",
        "    proposers: [\"*@city.example.jp\"]\n    networks:\n",
    );
    let repo = GitRepo::new(&config);
    let outsider = ("Outside Writer", "writer@agency.example.com");
    repo.git(outsider, &["checkout", "-q", "-b", "outside"]);
    repo.write(
        "posts/outside.md",
        &post("外部", None, "portal", "外部からの投稿"),
    );
    repo.commit_all(outsider, "from outside");
    repo.merge_as_chief("outside");
    repo.propose_and_merge(
        "inside",
        &[(
            "posts/inside.md",
            &post("内部", None, "portal", "職員の投稿"),
        )],
    );
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    assert!(
        wait_for(Duration::from_secs(15), || {
            delivery_state(&service, "posts/outside", "portal").as_deref() == Some("held")
                && delivery_state(&service, "posts/inside", "portal").as_deref()
                    == Some("published")
        })
        .await,
        "outside {:?}, inside {:?}",
        delivery_state(&service, "posts/outside", "portal"),
        delivery_state(&service, "posts/inside", "portal")
    );
    let (_, post) = get_json(service.addr, "/api/posts/posts%2Foutside");
    assert!(
        post.to_string()
            .contains("not among the proposers of account `city`"),
        "{post}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_and_the_proposer_hear_of_each_step_by_email() {
    let (smtp_port, mails) = common::smtp::fake_smtp().await;
    let repo = GitRepo::new(&config(MERGE, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = oshirase::support::secrets::Secrets::parse(
        "test",
        &format!(
            "OSHIRASE_ALERT_SMTP_URL=smtp://127.0.0.1:{smtp_port}\n\
             OSHIRASE_ALERT_EMAIL_TO=koho@city.example.jp\n"
        ),
    )
    .unwrap();
    let service = start_with_people(s, PEOPLE).await;
    let addr = service.addr;
    let (hanako, chief) = blocking(move || {
        (
            Browser::sign_in(addr, HANAKO),
            Browser::sign_in(addr, CHIEF.1),
        )
    })
    .await;
    let to = |who: &str| format!("<{who}>");
    let mail_to = |who: String, words: &'static str| {
        let mails = mails.clone();
        move || {
            mails.lock().unwrap().iter().any(|(rcpt, data)| {
                rcpt.contains(&who) && common::smtp::decoded_body(data).contains(words)
            })
        }
    };

    let made = propose(&hanako, "年末年始のごみ収集");
    assert!(
        wait_for(
            Duration::from_secs(10),
            mail_to(to(CHIEF.1), "承認待ちの提案があります")
        )
        .await,
        "the account's approver hears it waits: {:?}",
        mails.lock().unwrap()
    );
    let id = made["branch"].as_str().unwrap()["proposals/".len()..].to_string();
    let (status, _) = approve(&chief, &id, made["commit"].as_str().unwrap());
    assert_eq!(status, 200);
    assert!(
        wait_for(
            Duration::from_secs(10),
            mail_to(to(HANAKO), "提案が承認されました")
        )
        .await,
        "the proposer hears it was approved"
    );
    assert!(
        wait_for(Duration::from_secs(20), mail_to(to(HANAKO), "送信しました")).await,
        "and that it was published"
    );
    // The office's own list hears of the desk's steps, not of every publication.
    let office: Vec<String> = mails
        .lock()
        .unwrap()
        .iter()
        .filter(|(rcpt, _)| rcpt.contains(&to("koho@city.example.jp")))
        .map(|(_, d)| common::smtp::decoded_body(d))
        .collect();
    assert!(
        office
            .iter()
            .any(|t| t.contains("承認待ちの提案があります")),
        "{office:?}"
    );
    assert!(
        !office.iter().any(|t| t.contains("送信しました")),
        "{office:?}"
    );

    let second = propose(&hanako, "粗大ごみの受付");
    let id = second["branch"].as_str().unwrap()["proposals/".len()..].to_string();
    let (status, _) = chief.send(
        "POST",
        &format!("/api/proposals/{id}/return"),
        &json!({ "reason": "写真を添えてください" }),
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        wait_for(
            Duration::from_secs(10),
            mail_to(to(HANAKO), "写真を添えてください")
        )
        .await,
        "the proposer hears why it came back"
    );

    // Hanako revises the one sent back with git: it waits anew, and the chief hears again.
    // Jiro pushes a branch of his own with git: the chief hears of it as of a desk one.
    let jiro_git = ("鈴木 次郎", JIRO);
    let branch = second["branch"].as_str().unwrap();
    let kept = repo.git(
        STAFF,
        &[
            "for-each-ref",
            "--format=%(refname)",
            &format!("refs/oshirase/set-aside/{branch}/"),
        ],
    );
    // On a detached HEAD: a branch made on the way would itself be a proposal the service
    // may see (and count) before it is gone.
    repo.git(STAFF, &["checkout", "-q", "--detach", kept.trim()]);
    repo.write(
        "posts/sodai-photo.md",
        &post("写真つき", None, "portal", "写真です"),
    );
    repo.git(("山田 花子", HANAKO), &["add", "-A"]);
    repo.git(("山田 花子", HANAKO), &["commit", "-q", "-m", "写真を追加"]);
    repo.git(STAFF, &["branch", "-f", branch, "HEAD"]);
    repo.git(STAFF, &["checkout", "-q", "main"]);
    repo.git(STAFF, &["checkout", "-q", "-b", "jiro/bousai"]);
    repo.write(
        "posts/bousai-kunren.md",
        &post("防災訓練", None, "portal", "訓練です"),
    );
    repo.git(jiro_git, &["add", "-A"]);
    repo.git(jiro_git, &["commit", "-q", "-m", "防災訓練のお知らせ"]);
    repo.git(STAFF, &["checkout", "-q", "main"]);
    let waiting_events = |store: &oshirase::store::Store| {
        store
            .events()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "proposal-waiting")
            .map(|e| (e.post_id, e.actor, e.notify))
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(Duration::from_secs(20), || {
            let events = waiting_events(&service.store);
            events.len() >= 4
                && events
                    .iter()
                    .any(|(post, _, _)| post == "posts/bousai-kunren")
        })
        .await,
        "two desk proposals, the revised one, Jiro's branch: {:?}",
        waiting_events(&service.store)
    );
    let events = waiting_events(&service.store);
    assert_eq!(events.len(), 4, "{events:?}");
    let jiros = events
        .iter()
        .find(|(post, _, _)| post == "posts/bousai-kunren")
        .expect("Jiro's branch waits");
    assert_eq!(
        jiros.1,
        oshirase::model::records::Actor::Git(JIRO.to_string())
    );
    assert_eq!(
        jiros.2,
        vec![CHIEF.1.to_string()],
        "for the account's approvers"
    );
    let mails_for_chief = || {
        mails
            .lock()
            .unwrap()
            .iter()
            .filter(|(rcpt, d)| {
                rcpt.contains(&to(CHIEF.1))
                    && common::smtp::decoded_body(d).contains("承認待ちの提案があります")
            })
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(10), || mails_for_chief() == 4).await,
        "one e-mail per waiting proposal: {}",
        mails_for_chief()
    );
    // Nothing more to say while nothing moves.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(waiting_events(&service.store).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_forge_approval_stays_there_and_a_reason_is_posted_on_the_pull_request() {
    use fake_forges::Kind;
    for kind in [Kind::GitHub, Kind::GitLab] {
        let repo = GitRepo::new(&config(MERGE, "2h", ""));
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("posts.git");
        repo.git(
            CHIEF,
            &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
        );
        let url = format!("file://{}", bare.display());
        let fake = fake_forges::start(kind, "city/koho-posts", bare.clone()).await;
        let data = tempfile::tempdir().unwrap();
        let mut s = settings(&oshirase::git::fetch::mirror_path(data.path()), data.path());
        s.remote = Some(url.clone());
        s.forge_api = oshirase::git::pull_request::ForgeApi::configure(
            Some(&url),
            Some(&fake.api),
            Some("city/koho-posts"),
            Some(fake_forges::TOKEN.to_string()),
        )
        .unwrap();
        let service = start_with_people(s, PEOPLE).await;
        let addr = service.addr;
        let (hanako, chief) = blocking(move || {
            (
                Browser::sign_in(addr, HANAKO),
                Browser::sign_in(addr, CHIEF.1),
            )
        })
        .await;
        let made = propose(&hanako, "年末年始のごみ収集");
        let p = &waiting(&chief, "")[0];
        assert_eq!(p["approve_on"], "forge", "{kind:?}");
        assert_eq!(p["may_approve"], false, "{kind:?}: the forge approves");
        assert!(
            p["url"]
                .as_str()
                .unwrap()
                .starts_with("https://forge.example/"),
            "{p}"
        );
        assert_eq!(p["review_state"]["state"], "pending", "{kind:?}: {p}");
        fake.review(1, "koho-deputy", "COMMENTED");
        fake.review(1, "koho-chief", "APPROVED");
        let p = &waiting(&chief, "")[0];
        assert_eq!(p["review_state"]["state"], "approved", "{kind:?}: {p}");
        assert_eq!(
            p["review_state"]["approved_by"],
            json!(["koho-chief"]),
            "{kind:?}"
        );
        let id = p["id"].as_str().unwrap().to_string();
        let (status, why) = approve(&chief, &id, made["commit"].as_str().unwrap());
        assert_eq!(status, 409, "{kind:?}: {why}");
        assert!(why["error"].as_str().unwrap().contains("forge"), "{why}");

        let (status, back) = chief.send(
            "POST",
            &format!("/api/proposals/{id}/return"),
            &json!({ "reason": "写真を添えてください" }),
            &[],
        );
        assert_eq!(status, 200, "{kind:?}: {back}");
        assert_eq!(back["commented"], true, "{kind:?}: {back}");
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{kind:?}");
        assert_eq!(comments[0].0, 1);
        assert!(
            comments[0].1.contains("写真を添えてください"),
            "{comments:?}"
        );
        assert!(
            waiting(&chief, "").is_empty(),
            "{kind:?}: hidden once sent back"
        );
        // The forge's branch is untouched; the mirror keeps a copy.
        let bare_branches = std::process::Command::new("git")
            .args(["for-each-ref", "--format=%(refname)"])
            .current_dir(&bare)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&bare_branches.stdout)
            .contains(made["branch"].as_str().unwrap()));
        service.shutdown().await;
    }
}

/// A bare repository on the server: staff push branches to it with git, the desk writes
/// its own there, and an approver merges both on the desk; sync publishes from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_repository_on_the_server_takes_pushed_branches_and_desk_approvals() {
    let work = GitRepo::new(&config(MERGE, "2h", ""));
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("posts.git");
    work.git(
        CHIEF,
        &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
    );
    let data = tempfile::tempdir().unwrap();
    let service = start_with_people(settings(&bare, data.path()), PEOPLE).await;
    let addr = service.addr;
    let (hanako, chief) = blocking(move || {
        (
            Browser::sign_in(addr, HANAKO),
            Browser::sign_in(addr, CHIEF.1),
        )
    })
    .await;
    // One branch pushed with git by a member of staff, one written by the desk.
    work.git(STAFF, &["checkout", "-q", "-b", "feature/madoguchi"]);
    work.write(
        "posts/madoguchi.md",
        &post("窓口のご案内", None, "portal", "窓口は9時からです。"),
    );
    work.commit_all(STAFF, "窓口のご案内");
    work.git(
        STAFF,
        &["push", "-q", bare.to_str().unwrap(), "feature/madoguchi"],
    );
    let made = propose(&hanako, "年末年始のごみ収集");
    let main_before = git(&bare, &["rev-parse", "main"]);

    let list = waiting(&chief, "");
    assert_eq!(list.len(), 2, "{list:?}");
    for p in &list {
        assert_eq!(p["approve_on"], "desk", "{p}");
        assert_eq!(p["may_approve"], true, "{p}");
        let id = p["id"].as_str().unwrap();
        let (status, approved) = approve(&chief, id, p["commit"].as_str().unwrap());
        assert_eq!(status, 200, "{approved}");
    }
    assert_eq!(
        made["branch"].as_str().map(|b| b.starts_with("proposals/")),
        Some(true)
    );
    // Two merge commits by the approver on the bare repository's publish branch.
    let merges = git(
        &bare,
        &[
            "log",
            "--merges",
            "--format=%an <%ae>",
            &format!("{main_before}..main"),
        ],
    );
    assert_eq!(
        merges,
        format!("{0} <{1}>\n{0} <{1}>", "佐藤 一郎", CHIEF.1),
        "{merges}"
    );
    let store = service.store.clone();
    assert!(
        wait_for(Duration::from_secs(15), || {
            let posts = store.posts().unwrap_or_default();
            posts.len() == 2
                && posts
                    .iter()
                    .all(|v| v.deliveries.iter().all(|d| d.state.as_str() == "published"))
        })
        .await,
        "both publish: {:?}",
        service.store.posts().unwrap()
    );
    service.shutdown().await;
}

/// The reviewer sees each image a proposed post carries, with its alternative text, read
/// from the proposal's tip: the review lists it, and its URL answers the very bytes. Nothing
/// else of the repository comes out that way: another blob, a made-up id, a closed
/// proposal are 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reviewer_sees_each_image_with_its_alternative_text() {
    use base64::Engine;
    let (repo, _data, service) = desk_with_chief().await;
    let addr = service.addr;
    let (hanako, chief) = blocking(move || {
        (
            Browser::sign_in(addr, HANAKO),
            Browser::sign_in(addr, CHIEF.1),
        )
    })
    .await;
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .unwrap();
    let alt = "年末年始のごみ収集カレンダー。12月31日から1月3日まではお休みです。";
    let mut with_image = draft("画像つきのお知らせ");
    with_image["images"] = json!([{
        "name": "gomi-calendar.png",
        "alt": alt,
        "data": base64::engine::general_purpose::STANDARD.encode(&png),
    }]);
    let (status, made) = hanako.send("POST", "/api/proposals", &with_image, &[]);
    assert_eq!(status, 201, "{made}");

    let list = waiting(&chief, "");
    let proposal = &list[0];
    let id = proposal["id"].as_str().unwrap().to_string();
    let image = &proposal["review"][0]["images"][0];
    assert_eq!(image["alt"], alt, "{proposal}");
    assert_eq!(image["mime"], "image/png", "{proposal}");
    assert_eq!(image["size"], png.len(), "{proposal}");
    let blob = image["blob"].as_str().unwrap().to_string();
    let path = format!("/api/proposals/{id}/images/{blob}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let fetch = |path: &str, cookie: &str| {
        let mut r = agent
            .get(format!("http://{addr}{path}"))
            .header("cookie", cookie)
            .call()
            .unwrap();
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        (
            r.status().as_u16(),
            kind,
            r.body_mut().read_to_vec().unwrap(),
        )
    };
    let (status, kind, bytes) = fetch(&path, &chief.cookie);
    assert_eq!((status, kind.as_deref()), (200, Some("image/png")));
    assert!(bytes == png, "the image's own bytes");
    assert_eq!(fetch(&path, "").0, 401, "not without signing in");

    // Only what the review shows: not the configuration's blob, not a made-up id.
    let config_blob = repo.git(CHIEF, &["rev-parse", "main:oshirase.yaml"]);
    for other in [
        format!("/api/proposals/{id}/images/{config_blob}"),
        format!("/api/proposals/{id}/images/{}", "0".repeat(40)),
        format!("/api/proposals/{id}/images/..%2F..%2Foshirase.yaml"),
        format!("/api/proposals/not-a-proposal/images/{blob}"),
    ] {
        assert_eq!(fetch(&other, &chief.cookie).0, 404, "{other}");
    }

    // Withdrawn, its images are no longer shown.
    let (status, _) = hanako.send(
        "POST",
        &format!("/api/proposals/{id}/withdraw"),
        &json!({}),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(
        fetch(&path, &chief.cookie).0,
        404,
        "a closed proposal shows nothing"
    );
}
