//! Fault injection against a local webhook receiver: a dropped connection, 500, 503 with
//! Retry-After, 429 with x-rate-limit-reset and a slow answer, then success. The delivery is
//! published once, every attempt carries the same key, and the waits follow the policy
//! (exponential backoff without a hint, the network's hint when it gives one). A 400 fails
//! at once with the network's message.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::smtp::{decoded_body, fake_smtp};
use common::*;
use oshirase::support::secrets::Secrets;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    key: String,
    body: serde_json::Value,
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body).
async fn read_request(
    sock: &mut tokio::net::TcpStream,
) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let headers: HashMap<String, String> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some((headers, body));
        }
    }
}

/// The kinds of the alerts a receiver got, in order.
fn alert_kinds(log: &Arc<Mutex<Vec<Received>>>) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|r| {
            let kind = r.body["oshirase"]["kind"].as_str();
            kind.unwrap_or_default().to_string()
        })
        .collect()
}

/// A receiver that answers each delivery key with the next step of its script.
async fn fake_receiver(
    scripts: HashMap<&'static str, Vec<&'static str>>,
) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let log = received.clone();
    tokio::spawn(async move {
        let mut counts: HashMap<String, usize> = HashMap::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let Some((headers, body)) = read_request(&mut sock).await else {
                continue;
            };
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let key = headers
                .get("x-oshirase-delivery")
                .cloned()
                .unwrap_or_default();
            let post = body["oshirase"]["post_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            log.lock().unwrap().push(Received {
                at: Instant::now(),
                key: key.clone(),
                body,
            });
            let n = counts.entry(key).or_default();
            let step = scripts
                .get(post.as_str())
                .and_then(|s| s.get(*n))
                .copied()
                .unwrap_or("200");
            *n += 1;
            let reset = (chrono::Utc::now().timestamp() + 2).to_string();
            let reply = match step {
                "drop" => continue, // close without answering
                "hang" => {
                    // Read, never answer: every later connection waits behind this one.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    continue;
                }
                "500" => "HTTP/1.1 500 Internal Server Error\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\noops".to_string(),
                "503" => "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy".to_string(),
                "429" => format!("HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-reset: {reset}\r\nContent-Length: 4\r\n\r\nslow"),
                "400" => "HTTP/1.1 400 Bad Request\r\nContent-Length: 19\r\n\r\ntext is too long :(".to_string(),
                "401" => "HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\ninvalid token".to_string(),
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string()
                }
                _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
            };
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_by_policy_and_published_once() {
    let mut scripts = HashMap::new();
    scripts.insert("posts/flaky", vec!["drop", "500", "503", "429", "slow"]);
    scripts.insert("posts/rejected", vec!["400"]);
    let (port, received) = fake_receiver(scripts).await;

    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      hook: { type: webhook, credentials: HOOK }\n",
    ));
    repo.propose_and_merge(
        "staff/a",
        &[
            (
                "posts/flaky.md",
                &post("不安定", None, "hook", "届くまで再送"),
            ),
            (
                "posts/rejected.md",
                &post("拒否", None, "hook", "拒否される"),
            ),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse(
        "test",
        &format!("HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{port}/hook"),
    )
    .unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();

    assert!(
        wait_for(Duration::from_secs(60), || delivery_state(
            &service,
            "posts/flaky",
            "hook"
        )
        .as_deref()
            == Some("published"))
        .await,
        "published in the end: {:?}",
        service.store.delivery("posts/flaky", "hook").unwrap()
    );
    let rejected = service
        .store
        .delivery("posts/rejected", "hook")
        .unwrap()
        .unwrap();
    assert_eq!(rejected.state.as_str(), "failed");
    assert_eq!(rejected.attempts, 1, "a permanent error is not retried");
    assert!(rejected.last_error.unwrap().contains("text is too long"));

    let flaky = service
        .store
        .delivery("posts/flaky", "hook")
        .unwrap()
        .unwrap();
    assert_eq!(flaky.attempts, 5);
    let all = received.lock().unwrap().clone();
    let tries: Vec<&Received> = all
        .iter()
        .filter(|r| r.body["oshirase"]["post_id"] == "posts/flaky")
        .collect();
    assert_eq!(tries.len(), 5, "one request per attempt");
    assert!(
        tries.iter().all(|r| r.key == flaky.key),
        "every attempt carries the same key"
    );
    assert_eq!(tries[0].body["text"], "届くまで再送");
    let gap = |i: usize| tries[i].at - tries[i - 1].at;
    // No hint after a dropped connection: the backoff's first step, 15 s plus jitter.
    assert!(gap(1) >= Duration::from_secs(15), "{:?}", gap(1));
    // Retry-After: 1 and x-rate-limit-reset ≈ now + 2 are honoured, not exceeded by much.
    assert!(
        gap(2) >= Duration::from_millis(900) && gap(2) < Duration::from_secs(5),
        "{:?}",
        gap(2)
    );
    assert!(
        gap(3) >= Duration::from_millis(900) && gap(3) < Duration::from_secs(5),
        "{:?}",
        gap(3)
    );
    assert!(
        gap(4) >= Duration::from_millis(900) && gap(4) < Duration::from_secs(6),
        "{:?}",
        gap(4)
    );
    let events = service.store.events_for("posts/flaky").unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "retrying").count(), 4);
    assert_eq!(events.iter().filter(|e| e.kind == "published").count(), 1);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_network_secret_is_a_clear_error_that_names_it() {
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      hook: { type: webhook, credentials: HOOK }\n",
    ));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("一", None, "hook, portal", "一つ目"))],
    );
    let data = tempfile::tempdir().unwrap();
    // The credential is declared, but its URL is missing: only that network waits, with
    // the reason; the other networks go on.
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse("test", "HOOK_TYPE=webhook\n").unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    let hook_error = || {
        service
            .store
            .delivery("posts/a", "hook")
            .unwrap()
            .and_then(|d| d.last_error)
    };
    assert!(wait_for(Duration::from_secs(5), || hook_error().is_some()).await);
    let err = hook_error().unwrap_or_default();
    assert!(
        err.contains("HOOK_URL") && err.contains("networks.hook"),
        "{err}"
    );
    assert_eq!(
        delivery_state(&service, "posts/a", "hook").as_deref(),
        Some("retrying")
    );
    assert!(
        wait_for(Duration::from_secs(5), || outbox(
            data.path(),
            "city",
            "portal"
        )
        .len()
            == 1)
        .await
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_tell_a_webhook_what_needs_a_person() {
    let (hook_port, _) = fake_receiver(HashMap::from([("posts/rejected", vec!["400"])])).await;
    let (alert_port, alerts) = fake_receiver(HashMap::new()).await;
    let repo = GitRepo::new(&config(
        MERGE,
        "2h",
        "      hook: { type: webhook, credentials: HOOK }\n",
    ));
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/rejected.md",
            &post("拒否", None, "hook", "拒否される"),
        )],
    );
    repo.write(
        "posts/direct.md",
        &post("直接", None, "portal", "レビューなし"),
    );
    repo.commit_all(STAFF, "direct push");
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse(
        "test",
        &format!("HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{hook_port}/hook\nOSHIRASE_ALERT_WEBHOOK_URL=http://127.0.0.1:{alert_port}/alerts\n"),
    )
    .unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    let kinds = || alert_kinds(&alerts);
    assert!(
        wait_for(Duration::from_secs(10), || {
            let k = kinds();
            k.contains(&"held".into()) && k.contains(&"failed".into())
        })
        .await,
        "{:?}",
        kinds()
    );
    let all = alerts.lock().unwrap().clone();
    let failed = all
        .iter()
        .find(|r| r.body["oshirase"]["kind"] == "failed")
        .unwrap();
    let text = failed.body["text"].as_str().unwrap();
    assert!(
        text.contains("送信に失敗しました")
            && text.contains("「拒否」")
            && text.contains("text is too long"),
        "{text}"
    );
    assert!(
        !kinds().contains(&"published".to_string()),
        "only what needs a person"
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_pause_the_network_and_its_deliveries_wait() {
    let (port, received) = fake_receiver(HashMap::from([("posts/first", vec!["401"])])).await;
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      hook: { type: webhook, credentials: HOOK, rate: { requests: 100, per: 1s } }\n",
    ));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/first.md", &post("一", None, "hook", "一つ目"))],
    );
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse(
        "test",
        &format!("HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{port}/hook"),
    )
    .unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || !received
            .lock()
            .unwrap()
            .is_empty())
        .await
    );
    assert!(
        wait_for(Duration::from_secs(5), || {
            service
                .store
                .events_for("posts/first")
                .unwrap()
                .iter()
                .any(|e| e.kind == "credentials")
        })
        .await
    );
    // A second post arrives while the network is paused: it waits, unattempted.
    repo.propose_and_merge(
        "staff/b",
        &[("posts/second.md", &post("二", None, "hook", "二つ目"))],
    );
    assert!(
        wait_for(Duration::from_secs(5), || service
            .store
            .delivery("posts/second", "hook")
            .unwrap()
            .is_some())
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = service
        .store
        .delivery("posts/second", "hook")
        .unwrap()
        .unwrap();
    assert_eq!(second.state.as_str(), "scheduled");
    assert_eq!(second.attempts, 0, "waiting burns no attempt");
    assert_eq!(received.lock().unwrap().len(), 1, "nothing else was sent");
    let first = service
        .store
        .delivery("posts/first", "hook")
        .unwrap()
        .unwrap();
    assert_eq!(
        first.attempts, 0,
        "a refused credential is not counted as an attempt"
    );
    let addr = service.addr;
    let (status, health) = tokio::task::spawn_blocking(move || get_json(addr, "/healthz"))
        .await
        .unwrap();
    assert_eq!(status, 503);
    assert_eq!(health["paused_networks"][0]["network"], "city/hook");
    assert!(health["paused_networks"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("401"));
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_stays_down_fails_the_delivery_at_the_retry_deadline() {
    let (port, received) = fake_receiver(HashMap::from([("posts/doomed", vec!["503"; 50])])).await;
    let yaml = format!(
        "retry_for: 4s\n{}",
        config(
            BRANCH,
            "2h",
            "      hook: { type: webhook, credentials: HOOK }\n"
        )
    );
    let repo = GitRepo::new(&yaml);
    repo.propose_and_merge(
        "staff/a",
        &[("posts/doomed.md", &post("障害", None, "hook", "届かない"))],
    );
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse(
        "test",
        &format!("HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{port}/hook"),
    )
    .unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || delivery_state(
            &service,
            "posts/doomed",
            "hook"
        )
        .as_deref()
            == Some("failed"))
        .await,
        "given up: {:?}",
        service.store.delivery("posts/doomed", "hook").unwrap()
    );
    let d = service
        .store
        .delivery("posts/doomed", "hook")
        .unwrap()
        .unwrap();
    // Retry-After: 1 within a 4 s deadline: a handful of attempts, not 50.
    let tries = received.lock().unwrap().len();
    assert!((3..=6).contains(&tries), "{tries} attempts");
    assert_eq!(d.attempts as usize, tries);
    let events = service.store.events_for("posts/doomed").unwrap();
    let failed = events.iter().find(|e| e.kind == "failed").unwrap();
    assert!(failed.detail.contains("retry_for"), "{}", failed.detail);
    assert!(
        failed.detail.contains("busy"),
        "the network's words: {}",
        failed.detail
    );
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_mailed_through_smtp() {
    let (hook_port, _) = fake_receiver(HashMap::from([("posts/rejected", vec!["400"])])).await;
    let (smtp_port, mails) = fake_smtp().await;
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        "      hook: { type: webhook, credentials: HOOK }\n",
    ));
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/rejected.md",
            &post("拒否", None, "hook", "拒否される"),
        )],
    );
    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = Secrets::parse(
        "test",
        &format!(
            "HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{hook_port}/hook\n\
             OSHIRASE_ALERT_SMTP_URL=smtp://127.0.0.1:{smtp_port}\n\
             OSHIRASE_ALERT_EMAIL_TO=koho@city.example.jp, duty@city.example.jp\n\
             OSHIRASE_ALERT_EMAIL_FROM=oshirase <oshirase@city.example.jp>\n"
        ),
    )
    .unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || !mails
            .lock()
            .unwrap()
            .is_empty())
        .await,
        "an alert e-mail arrives"
    );
    let (rcpt, data) = mails.lock().unwrap()[0].clone();
    assert_eq!(
        rcpt,
        vec!["<koho@city.example.jp>", "<duty@city.example.jp>"]
    );
    assert!(
        data.contains("From: oshirase <oshirase@city.example.jp>"),
        "{data}"
    );
    let text = decoded_body(&data);
    assert!(
        text.contains("送信に失敗しました")
            && text.contains("「拒否」")
            && text.contains("text is too long"),
        "{data}\n---\n{text}"
    );
    service.shutdown().await;
}

#[test]
fn an_email_alert_without_recipients_is_refused_at_start_up() {
    let secrets = Secrets::parse("test", "OSHIRASE_ALERT_SMTP_URL=smtp://127.0.0.1:25\n").unwrap();
    let err = oshirase::delivery::alerts::AlertTargets::from_secrets(&secrets)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("OSHIRASE_ALERT_EMAIL_TO"), "{err}");
    let secrets = Secrets::parse(
        "test",
        "OSHIRASE_ALERT_SMTP_URL=ftp://user:hunter2@host\nOSHIRASE_ALERT_EMAIL_TO=a@b.jp\n",
    )
    .unwrap();
    let err = oshirase::delivery::alerts::AlertTargets::from_secrets(&secrets)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("OSHIRASE_ALERT_SMTP_URL") && !err.contains("hunter2"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_survive_a_burst_and_a_restart_and_are_sent_once() {
    let (hook_port, _) = fake_receiver(HashMap::from([("posts/zz-rejected", vec!["400"])])).await;
    // The first alert receiver never answers the failure's alert. Alerts carry no
    // delivery key, so the receiver counts them all as one: the failure's is the second.
    let (alert_port, first) =
        fake_receiver(HashMap::from([("posts/zz-rejected", vec!["hang", "hang"])])).await;
    let repo = GitRepo::new(&config(
        MERGE,
        "2h",
        "      hook: { type: webhook, credentials: HOOK }\n",
    ));
    let far = chrono::Utc::now() + chrono::Duration::days(30);
    // A cold sync of thousands of events; a held post first among them, and a post that
    // fails after it.
    repo.git(STAFF, &["checkout", "-q", "-b", "staff/many"]);
    for i in 0..1500 {
        repo.write(
            &format!("posts/p{i:04}.md"),
            &post(
                &format!("お知らせ{i}"),
                Some(far),
                "portal, news",
                &format!("本文{i}"),
            ),
        );
    }
    repo.write(
        "posts/zz-rejected.md",
        &post("拒否", None, "hook", "拒否される"),
    );
    repo.commit_all(STAFF, "many posts");
    repo.merge_as_chief("staff/many");
    repo.write(
        "posts/aa-direct.md",
        &post("直接", None, "portal", "レビューなし"),
    );
    repo.commit_all(STAFF, "direct push");
    let data = tempfile::tempdir().unwrap();
    let secrets = |alert_port: u16| {
        Secrets::parse(
            "test",
            &format!("HOOK_TYPE=webhook\nHOOK_URL=http://127.0.0.1:{hook_port}/hook\nOSHIRASE_ALERT_WEBHOOK_URL=http://127.0.0.1:{alert_port}/alerts\n"),
        )
        .unwrap()
    };
    let kinds = alert_kinds;
    let mut s = settings(&repo.path, data.path());
    s.secrets = secrets(alert_port);
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || kinds(&first)
            == ["held", "failed"])
        .await,
        "the held post's alert survives the burst, then the failure's: {:?}",
        kinds(&first)
    );
    // Stopped while the failure's alert waits for an answer.
    service.shutdown().await;

    let (alert_port, second) = fake_receiver(HashMap::new()).await;
    let mut s = settings(&repo.path, data.path());
    s.secrets = secrets(alert_port);
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || kinds(&second) == ["failed"]).await,
        "the unanswered alert is sent after the restart, the held one not again: {:?}",
        kinds(&second)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kinds(&second), ["failed"]);
    service.shutdown().await;
}
