//! The people page's API against a running server: only admins manage people; a new person
//! and a reset get a temporary password shown once; disabling ends a person's sessions at
//! once; an admin cannot lock themselves out; the April CSV import shows its changes in a
//! dry run and writes nothing until asked, and a bad CSV names its line and column. Every
//! change is in the audit log with the admin who made it.

mod common;

use common::desk::*;
use common::*;
use oshirase::web::auth::people::Role;
use serde_json::{json, Value};
use std::time::Duration;

const ADMIN: &str = "koho-admin@city.example.jp";
const HANAKO: &str = "hanako@city.example.jp";
const JIRO: &str = "jiro@city.example.jp";

const PEOPLE: &[Person] = &[
    (ADMIN, "広報 管理者", "広報課", Role::Admin),
    (HANAKO, "山田 花子", "環境部 清掃課", Role::Staff),
    (JIRO, "鈴木 次郎", "防災課", Role::Staff),
];

async fn server() -> (GitRepo, tempfile::TempDir, oshirase::cli::serve::Service) {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let service = start_with_people(settings(&repo.path, data.path()), PEOPLE).await;
    (repo, data, service)
}

fn user<'a>(list: &'a Value, email: &str) -> &'a Value {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_add_change_disable_and_reset_people() {
    let (_repo, data, service) = server().await;
    let addr = service.addr;
    let (admin, hanako) = blocking(move || {
        (
            Browser::sign_in(addr, ADMIN),
            Browser::sign_in(addr, HANAKO),
        )
    })
    .await;

    // Staff see nobody and change nothing.
    assert_eq!(hanako.get("/api/users").0, 403);
    let newcomer = json!({ "email": "kenta@city.example.jp", "name": "田中 健太", "department": "福祉課", "role": "staff" });
    assert_eq!(hanako.send("POST", "/api/users", &newcomer, &[]).0, 403);
    let (status, _) = hanako.send(
        "PATCH",
        &format!("/api/users/{HANAKO}"),
        &json!({ "role": "admin" }),
        &[],
    );
    assert_eq!(status, 403, "staff cannot make themselves admin");

    let (status, list) = admin.get("/api/users");
    assert_eq!(status, 200, "{list}");
    assert_eq!(user(&list, HANAKO)["department"], "環境部 清掃課");
    assert!(
        !list.to_string().contains("pbkdf2"),
        "no password hashes: {list}"
    );

    // Added with a temporary password shown once, which signs in.
    let (status, added) = admin.send("POST", "/api/users", &newcomer, &[]);
    assert_eq!(status, 201, "{added}");
    let temporary = added["temporary_password"].as_str().unwrap().to_string();
    assert_eq!(temporary.len(), 16);
    let (status, again) = admin.send("POST", "/api/users", &newcomer, &[]);
    assert_eq!(
        (status, again["field"].as_str()),
        (409, Some("email")),
        "{again}"
    );
    let (status, bad) = admin.send(
        "POST",
        "/api/users",
        &json!({ "email": "not an address", "name": "x", "role": "staff" }),
        &[],
    );
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("email")),
        "{bad}"
    );
    let (status, _) = admin.send(
        "POST",
        "/api/users",
        &json!({ "email": "a@city.example.jp", "name": "x", "role": "staff", "password": "chosen" }),
        &[],
    );
    assert_eq!(status, 400, "a password is never sent in");
    let kenta = blocking(move || Browser::sign_in_with(addr, "kenta@city.example.jp", &temporary))
        .await
        .expect("the temporary password signs in");
    assert_eq!(kenta.get("/api/session").0, 200);

    // April: Hanako moves to 防災課 and becomes an approver.
    let path = format!("/api/users/{HANAKO}");
    let (status, changed) = admin.send(
        "PATCH",
        &path,
        &json!({ "department": "危機管理部 防災課", "role": "approver" }),
        &[],
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["user"]["department"], "危機管理部 防災課");
    assert_eq!(changed["user"]["role"], "approver");
    let (_, me) = hanako.get("/api/session");
    assert!(
        me.to_string().contains("危機管理部 防災課"),
        "the session sees it: {me}"
    );

    // Disabled: her open session ends at once; enabled again, she signs in again.
    let (status, _) = admin.send("PATCH", &path, &json!({ "disabled": true }), &[]);
    assert_eq!(status, 200);
    let (status, _) = hanako.get("/api/proposals");
    assert!(
        status == 401 || status == 403,
        "a disabled person's session: {status}"
    );
    let refused = blocking(move || Browser::sign_in_with(addr, HANAKO, PASSWORD).err()).await;
    assert!(refused.is_some(), "a disabled person cannot sign in");
    let (status, _) = admin.send("PATCH", &path, &json!({ "disabled": false }), &[]);
    assert_eq!(status, 200);

    // A reset: the old password stops working, the temporary one works.
    let (status, reset) = admin.send("PATCH", &path, &json!({ "reset_password": true }), &[]);
    assert_eq!(status, 200, "{reset}");
    let temporary = reset["temporary_password"].as_str().unwrap().to_string();
    let old = blocking(move || Browser::sign_in_with(addr, HANAKO, PASSWORD).err()).await;
    assert!(old.is_some(), "the old password no longer signs in");
    blocking(move || Browser::sign_in_with(addr, HANAKO, &temporary))
        .await
        .expect("the temporary password signs in");

    // An admin cannot disable or demote themselves.
    let own = format!("/api/users/{ADMIN}");
    let (status, why) = admin.send("PATCH", &own, &json!({ "disabled": true }), &[]);
    assert_eq!(status, 409, "{why}");
    let (status, _) = admin.send("PATCH", &own, &json!({ "role": "staff" }), &[]);
    assert_eq!(status, 409);
    let (status, _) = admin.send(
        "PATCH",
        "/api/users/nobody@city.example.jp",
        &json!({ "name": "x" }),
        &[],
    );
    assert_eq!(status, 404);
    let (status, _) = admin.send("PATCH", &path, &json!({ "colour": "red" }), &[]);
    assert_eq!(status, 400, "unknown fields are refused");

    // Every change is on record, with who made it; no password is.
    let events = service.store.events().unwrap();
    let people_events: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "person-changed")
        .collect();
    assert!(people_events.len() >= 5, "{people_events:?}");
    assert!(people_events
        .iter()
        .all(|e| e.actor == oshirase::model::records::Actor::Desk(ADMIN.to_string())));
    assert!(people_events
        .iter()
        .any(|e| e.detail.contains("危機管理部 防災課")));
    assert!(people_events
        .iter()
        .any(|e| e.detail.contains("password reset")));
    let file = std::fs::read_to_string(data.path().join("people.json")).unwrap();
    assert!(file.contains("危機管理部 防災課"), "written to people.json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_april_transfers_import_from_a_csv_with_a_dry_run_first() {
    let (_repo, data, service) = server().await;
    let addr = service.addr;
    let admin = blocking(move || Browser::sign_in(addr, ADMIN)).await;
    let csv = format!(
        "\u{feff}email,name,department,role,disabled\n\
         {HANAKO},山田 花子,危機管理部 防災課,approver,\n\
         {JIRO},鈴木 次郎,防災課,staff,true\n\
         \"new@city.example.jp\",\"新人, 太郎\",福祉課,staff,\n\
         {ADMIN},広報 管理者,広報課,admin,\n"
    );
    let before = std::fs::read_to_string(data.path().join("people.json")).unwrap();
    let (status, dry) = admin.send_text("/api/users/import?dry_run=true", "text/csv", &csv);
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    let action = |v: &Value, email: &str| {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["email"] == email)
            .map(|c| (c["action"].clone(), c["line"].clone(), c["changes"].clone()))
            .unwrap()
    };
    let (what, line, changes) = action(&dry, HANAKO);
    assert_eq!((what, line), (json!("change"), json!(2)));
    assert!(
        changes.to_string().contains("危機管理部 防災課"),
        "{changes}"
    );
    assert_eq!(action(&dry, JIRO).0, "change");
    assert_eq!(action(&dry, "new@city.example.jp").0, "add");
    assert_eq!(action(&dry, ADMIN).0, "same");
    assert_eq!(
        std::fs::read_to_string(data.path().join("people.json")).unwrap(),
        before,
        "a dry run writes nothing"
    );
    assert_eq!(
        dry["temporary_passwords"],
        json!({}),
        "a dry run makes no passwords"
    );

    let (status, done) = admin.send_text("/api/users/import", "text/csv", &csv);
    assert_eq!(status, 200, "{done}");
    let (_, list) = admin.get("/api/users");
    assert_eq!(user(&list, HANAKO)["department"], "危機管理部 防災課");
    assert_eq!(user(&list, JIRO)["disabled"], true);
    assert_eq!(user(&list, "new@city.example.jp")["name"], "新人, 太郎");
    assert!(done["temporary_passwords"]["new@city.example.jp"].is_string());
    let (status, again) = admin.send_text("/api/users/import", "text/csv", &csv);
    assert_eq!(status, 200);
    assert!(
        again["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "same"),
        "importing twice changes nothing: {again}"
    );

    // A bad file names the line and column, and changes nobody.
    let bad = format!(
        "email,name,department,role\n{JIRO},鈴木 次郎,防災課,chief\n{HANAKO},x,y,staff\n{HANAKO},x,y,staff\n"
    );
    let before = std::fs::read_to_string(data.path().join("people.json")).unwrap();
    let (status, refused) = admin.send_text("/api/users/import", "text/csv", &bad);
    assert_eq!(status, 422, "{refused}");
    let problems = refused["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["line"] == 2 && p["field"] == "role"),
        "{refused}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["line"] == 4 && p["field"] == "email"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(data.path().join("people.json")).unwrap(),
        before
    );
    let (status, _) = admin.send_text("/api/users/import", "text/csv", "name,role\nx,staff\n");
    assert_eq!(status, 422, "no email column");
    let (status, _) = admin.send_text("/api/users/import?dry=yes", "text/csv", &csv);
    assert_eq!(status, 400);
}

/// A temporary password (a new person, a reset) opens only the page to choose one's own:
/// every API answers 403 `password-change-required` and a page load goes to
/// password.html until the person has sent their current password and a new one. The new
/// one ends the person's other sessions, the temporary one stops signing in, and the
/// change is on record with the person as its actor and no password in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_password_must_be_replaced_before_anything_else() {
    let (_repo, data, service) = server().await;
    let addr = service.addr;
    let admin = blocking(move || Browser::sign_in(addr, ADMIN)).await;
    let newcomer = json!({ "email": "kenta@city.example.jp", "name": "田中 健太", "department": "福祉課", "role": "staff" });
    let (status, added) = admin.send("POST", "/api/users", &newcomer, &[]);
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["user"]["must_change_password"], true, "{added}");
    let temporary = added["temporary_password"].as_str().unwrap().to_string();
    let (kenta, elsewhere) = {
        let temporary = temporary.clone();
        blocking(move || {
            (
                Browser::sign_in_with(addr, "kenta@city.example.jp", &temporary).unwrap(),
                Browser::sign_in_with(addr, "kenta@city.example.jp", &temporary).unwrap(),
            )
        })
        .await
    };
    let (status, me) = kenta.get("/api/session");
    assert_eq!(
        (status, &me["must_change_password"]),
        (200, &json!(true)),
        "{me}"
    );

    // Nothing else opens: the API, the live events, the metrics; a page load is sent on.
    for path in [
        "/api/posts",
        "/api/proposals",
        "/api/summary",
        "/api/events",
        "/metrics",
    ] {
        let (status, why) = kenta.get(path);
        assert_eq!(status, 403, "{path}: {why}");
        assert_eq!(why["code"], "password-change-required", "{path}: {why}");
    }
    // /healthz answers anyone, but tells a temporary password no more than a probe.
    let (_, health) = kenta.get("/healthz");
    assert!(health.get("last_sync_commit").is_none(), "{health}");
    let draft = json!({ "title": "x", "body": "x" });
    let (status, _) = kenta.send("POST", "/api/proposals", &draft, &[]);
    assert_eq!(status, 403, "no proposal with a temporary password");
    let (status, _, headers) = request(addr, "GET", "/", &[("cookie", &kenta.cookie)], None);
    let location = headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.as_str());
    assert_eq!((status, location), (303, Some("/password.html")));
    let (status, _, _) = request(
        addr,
        "GET",
        "/password.html",
        &[("cookie", &kenta.cookie)],
        None,
    );
    assert_eq!(status, 200);

    // Bad changes, each refused with its field; nothing changes.
    let path = "/api/session/password";
    let good = "冬のごみ収集は 12月30日まで";
    let (status, _, _) = request(
        addr,
        "POST",
        path,
        &[
            ("cookie", &kenta.cookie),
            ("content-type", "application/json"),
        ],
        Some(&json!({ "current": temporary, "new": good })),
    );
    assert_eq!(status, 403, "without the CSRF token");
    for (body, field) in [
        (
            json!({ "current": "wrong password!", "new": good }),
            "current",
        ),
        (json!({ "current": temporary, "new": "short" }), "new"),
        (json!({ "current": temporary, "new": temporary }), "new"),
        (
            json!({ "current": temporary, "new": "KENTA@city.example.jp" }),
            "new",
        ),
        (
            json!({ "current": temporary, "new": format!("  {}  ", " ".repeat(12)) }),
            "new",
        ),
    ] {
        let (status, why) = kenta.send("POST", path, &body, &[]);
        assert_eq!(
            (status, why["field"].as_str()),
            (422, Some(field)),
            "{body}: {why}"
        );
    }
    let (status, _) = kenta.send("POST", path, &json!({ "new": good }), &[]);
    assert_eq!(status, 400, "the current password is required");
    assert_eq!(kenta.get("/api/posts").0, 403, "still shut");

    // The change: the dashboard opens, the other session ends, the old password is gone.
    let (status, changed) = kenta.send(
        "POST",
        path,
        &json!({ "current": temporary, "new": good }),
        &[],
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(kenta.get("/api/posts").0, 200);
    let (_, health) = kenta.get("/healthz");
    assert!(health.get("last_sync_commit").is_some(), "{health}");
    let (_, me) = kenta.get("/api/session");
    assert_eq!(me["must_change_password"], false, "{me}");
    assert_eq!(
        elsewhere.get("/api/session").0,
        401,
        "the other session ended"
    );
    let (old, new) = {
        let temporary = temporary.clone();
        blocking(move || {
            (
                Browser::sign_in_with(addr, "kenta@city.example.jp", &temporary).err(),
                Browser::sign_in_with(addr, "kenta@city.example.jp", good).is_ok(),
            )
        })
        .await
    };
    assert_eq!((old, new), (Some(401), true));
    let (_, list) = admin.get("/api/users");
    assert_eq!(
        user(&list, "kenta@city.example.jp")["must_change_password"],
        false
    );

    // A reset by an admin shuts the dashboard to them again.
    let reset_path = "/api/users/kenta@city.example.jp";
    let (status, reset) = admin.send("PATCH", reset_path, &json!({ "reset_password": true }), &[]);
    assert_eq!(status, 200, "{reset}");
    let again = reset["temporary_password"].as_str().unwrap().to_string();
    let kenta =
        blocking(move || Browser::sign_in_with(addr, "kenta@city.example.jp", &again).unwrap())
            .await;
    assert_eq!(kenta.get("/api/posts").0, 403);

    // On record, by the person, without any password.
    let events = service.store.events().unwrap();
    let own: Vec<_> = events
        .iter()
        .filter(|e| {
            e.kind == "person-changed"
                && e.actor == oshirase::model::records::Actor::Desk("kenta@city.example.jp".into())
        })
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(
        own[0].detail.contains("in place of the temporary one"),
        "{own:?}"
    );
    let all = format!("{events:?}");
    assert!(
        !all.contains(good) && !all.contains(&temporary),
        "no password in the audit log"
    );
    let file = std::fs::read_to_string(data.path().join("people.json")).unwrap();
    assert!(
        !file.contains(good),
        "people.json keeps no password in clear"
    );
}

/// A live event stream opened with a session ends when the session does: a person disabled
/// (or whose password is reset) reads no more of the audit log on a stream opened before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_event_stream_ends_with_its_session() {
    use std::io::{Read, Write};
    let (_repo, _data, service) = server().await;
    let addr = service.addr;
    let (admin, hanako) = blocking(move || {
        (
            Browser::sign_in(addr, ADMIN),
            Browser::sign_in(addr, HANAKO),
        )
    })
    .await;
    let cookie = hanako.cookie.clone();
    let stream = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).unwrap();
        let opened = std::time::Instant::now();
        let mut rest = Vec::new();
        // Until the server ends the stream (or the read times out, which fails below).
        let ended = s.read_to_end(&mut rest).is_ok();
        (
            String::from_utf8_lossy(&first).into_owned(),
            ended,
            opened.elapsed(),
        )
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = admin.send(
        "PATCH",
        &format!("/api/users/{HANAKO}"),
        &json!({ "disabled": true }),
        &[],
    );
    assert_eq!(status, 200);
    let (head, ended, after) = tokio::task::spawn_blocking(move || stream.join().unwrap())
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(ended, "the stream ended");
    assert!(
        after < Duration::from_secs(15),
        "ended {after:?} after opening"
    );
}
