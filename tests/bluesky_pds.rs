//! The Bluesky adapter against a real PDS: the atproto reference implementation
//! (`@atproto/dev-env`, installed by tests/peers/bluesky-pds/setup.sh) on loopback.
//!
//! These tests are ignored by default because they need that installation. Run them with
//!
//!     OSHIRASE_PDS_NODE=$(tests/peers/bluesky-pds/setup.sh | tail -1) \
//!         cargo test --test bluesky_pds -- --ignored
//!
//! One PDS serves the whole test binary. It is started by the first test that needs it and
//! stops when the binary exits, however it exits: it runs under a small shell that kills it
//! as soon as this process's end of its stdin closes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use oshirase::content::config::RepoConfig;
use oshirase::content::post::Image;
use oshirase::model::records::{DeliveryRecord, Part, State};
use oshirase::networks::{
    AdapterContext, ErrorClass, MemoryMedia, Network, Networks, Published, Settlement,
};
use oshirase::support::secrets::Secrets;
use serde_json::{json, Value};

const HANDLE: &str = "koho.test";
const PASSWORD: &str = "koho-pass";
const PNG: &str = "images/gomi-nenmatsu-calendar.png";
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running PDS and an app password made for these tests. A static is never dropped, so
/// the PDS is not stopped by a `Drop` but by its shell when this process exits.
struct Pds {
    url: String,
    did: String,
    app_password: String,
}

/// The project's own installer of the PDS and its start script (tests/peers/bluesky-pds).
fn peer_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/bluesky-pds"
    ))
}

/// One runtime for every test: the adapters share one HTTP client whose pooled connections
/// to the one PDS belong to the runtime that opened them, so no test may end its runtime
/// while another still uses those connections.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn run<F: std::future::Future>(test: F) -> F::Output {
    // Started outside the runtime: starting it blocks for seconds.
    pds();
    runtime().block_on(test)
}

fn pds() -> &'static Pds {
    static PDS: OnceLock<Pds> = OnceLock::new();
    PDS.get_or_init(start_pds)
}

fn start_pds() -> Pds {
    let setup = peer_dir().join("setup.sh");
    let Ok(node) = std::env::var("OSHIRASE_PDS_NODE") else {
        panic!(
            "OSHIRASE_PDS_NODE is not set: it must name the node binary that {} prints on its \
             last line (run `OSHIRASE_PDS_NODE=$({} | tail -1) cargo test --test bluesky_pds \
             -- --ignored`)",
            setup.display(),
            setup.display()
        );
    };
    let home = std::env::var("PDS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set")).join(".cache/oshirase-pds")
        });
    let env = home.join("env");
    let installed = std::fs::read(env.join("start.js")).ok();
    let shipped = std::fs::read(peer_dir().join("start.js")).ok();
    assert!(
        installed.is_some() && installed == shipped,
        "{} has no current start.js; run {}",
        env.display(),
        setup.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The shell keeps its stdin (a pipe from this process) and kills the PDS when it
    // closes, so the PDS never outlives the test binary, even one that aborts.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" start.js </dev/null & pds=$!; cat >/dev/null; kill "$pds"; wait "$pds""#)
        .arg(&node)
        .current_dir(&env)
        .env("PDS_PORT", port.to_string())
        .env("PDS_HANDLE", HANDLE)
        .env("PDS_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {node} start.js in {}: {e}", env.display()));
    // Leak our end of the shell's stdin on purpose: it closes when the process exits.
    std::mem::forget(child.stdin.take());

    let (ready_tx, ready_rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("READY ") {
                let _ = ready_tx.send(line);
            }
        }
    });
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = child.stderr.take().unwrap();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    let ready = match ready_rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let lines = log.lock().unwrap();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            panic!("the PDS did not print READY within {READY_TIMEOUT:?}; its stderr:\n{tail}");
        }
    };
    // Reaps the shell when it ends with this process's stdin.
    std::thread::spawn(move || child.wait());
    let mut words = ready.split_whitespace().skip(1);
    let url = words.next().expect("READY <url> <did>").to_string();
    let did = words.next().expect("READY <url> <did>").to_string();
    let app_password = make_app_password(&url);
    Pds {
        url,
        did,
        app_password,
    }
}

/// Logs in with the account password and makes an app password, as an operator does in
/// the app's settings; the adapter is then given only the app password.
fn make_app_password(url: &str) -> String {
    runtime().block_on(async {
        let client = oshirase::networks::http::client();
        let session: Value = client
            .post(format!("{url}/xrpc/com.atproto.server.createSession"))
            .json(&json!({ "identifier": HANDLE, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = session["accessJwt"]
            .as_str()
            .expect("a session")
            .to_string();
        let made: Value = client
            .post(format!("{url}/xrpc/com.atproto.server.createAppPassword"))
            .bearer_auth(access)
            .json(&json!({ "name": "oshirase-tests" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        made["password"]
            .as_str()
            .unwrap_or_else(|| panic!("createAppPassword answered {made}"))
            .to_string()
    })
}

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .unwrap()
}

fn adapter_with(password: &str) -> Arc<dyn Network> {
    adapter_with_secrets(password, "")
}

/// An adapter with more server secrets (the card reader's allowed hosts).
fn adapter_with_secrets(password: &str, more: &str) -> Arc<dyn Network> {
    let pds = pds();
    let yaml = format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: {{ mode: branch }}\n    networks:\n      bluesky: {{ type: bluesky, service: {}, handle: {HANDLE}, credentials: BSKY_PDS }}\n",
        pds.url
    );
    let config = RepoConfig::parse("oshirase.yaml", &yaml).unwrap();
    // The PDS is self-hosted, so the server allows its host for the credential.
    let host = pds
        .url
        .split_once("://")
        .map_or(pds.url.as_str(), |(_, h)| h);
    let host = host.trim_end_matches('/');
    let secrets = Secrets::parse(
        "secrets",
        &format!(
            "BSKY_PDS_TYPE=bluesky\nBSKY_PDS_HOSTS={host}\nBSKY_PDS_APP_PASSWORD={password}\n{more}"
        ),
    )
    .unwrap();
    let account = &config.accounts["city"];
    Networks::adapter(&AdapterContext {
        account: &account.name,
        net: &account.networks["bluesky"],
        secrets: &secrets,
        media: Arc::new(MemoryMedia::new().with(PNG, png())),
        public_url: None,
    })
    .unwrap()
}

fn adapter() -> Arc<dyn Network> {
    adapter_with(&pds().app_password)
}

/// A delivery with a post id unique to this run, so tests sharing the PDS never meet.
fn delivery(name: &str, text: &str, images: Vec<Image>) -> DeliveryRecord {
    let post_id = format!("posts/{name}-{}", Utc::now().timestamp_nanos_opt().unwrap());
    DeliveryRecord {
        state: State::Publishing,
        images,
        ..DeliveryRecord::new("city", "bluesky", &post_id, text, Utc::now())
    }
}

/// Every post in the account's repository, read with `com.atproto.repo.listRecords`.
async fn list_posts() -> Vec<Value> {
    let pds = pds();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![
            ("repo", pds.did.clone()),
            ("collection", "app.bsky.feed.post".to_string()),
            ("limit", "100".to_string()),
        ];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page: Value = oshirase::networks::http::client()
            .get(format!("{}/xrpc/com.atproto.repo.listRecords", pds.url))
            .query(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = page["records"].as_array().cloned().unwrap_or_default();
        let done = records.is_empty();
        all.extend(records);
        match page["cursor"].as_str() {
            Some(c) if !done => cursor = Some(c.to_string()),
            _ => return all,
        }
    }
}

async fn posts_with_text(text: &str) -> Vec<Value> {
    list_posts()
        .await
        .into_iter()
        .filter(|r| r["value"]["text"] == text)
        .collect()
}

fn unique(text: &str) -> String {
    format!("{text} #{}", Utc::now().timestamp_nanos_opt().unwrap())
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn publishes_text_with_a_link_facet() {
    run(async {
        let net = adapter();
        let text = unique(
            "年末年始のごみ収集 👨‍👩‍👧 詳しくは https://www.city.example.jp/gomi をご覧ください",
        );
        let d = delivery("facet", &text, vec![]);
        let published = net.publish(&d).await.unwrap();

        let found = posts_with_text(&text).await;
        assert_eq!(found.len(), 1, "one post in the repository");
        let record = &found[0];
        assert_eq!(published.remote_id.as_deref(), record["uri"].as_str());
        let rkey = record["uri"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(
            published.remote_url.as_deref(),
            Some(format!("https://bsky.app/profile/{HANDLE}/post/{rkey}").as_str())
        );
        let facet = &record["value"]["facets"][0];
        let start = facet["index"]["byteStart"].as_u64().unwrap() as usize;
        let end = facet["index"]["byteEnd"].as_u64().unwrap() as usize;
        assert_eq!(&text[start..end], "https://www.city.example.jp/gomi");
        assert_eq!(
            facet["features"][0]["$type"],
            "app.bsky.richtext.facet#link"
        );
        assert_eq!(
            facet["features"][0]["uri"],
            "https://www.city.example.jp/gomi"
        );
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn publishes_hashtags_as_tag_facets_beside_the_link() {
    run(async {
        let net = adapter();
        let text = unique("#足立区 防災訓練のお知らせ www.city.example.jp/bousai ＃防災");
        let d = delivery("tags", &text, vec![]);
        net.publish(&d).await.unwrap();
        let found = posts_with_text(&text).await;
        assert_eq!(found.len(), 1, "one post in the repository");
        let facets = found[0]["value"]["facets"].as_array().unwrap().clone();
        let cut = |f: &serde_json::Value| {
            let start = f["index"]["byteStart"].as_u64().unwrap() as usize;
            let end = f["index"]["byteEnd"].as_u64().unwrap() as usize;
            text[start..end].to_string()
        };
        let seen: Vec<(String, String, String)> = facets
            .iter()
            .map(|f| {
                let feature = &f["features"][0];
                let value = feature["tag"].as_str().or(feature["uri"].as_str()).unwrap();
                (
                    feature["$type"].as_str().unwrap().to_string(),
                    value.to_string(),
                    cut(f),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "app.bsky.richtext.facet#tag".into(),
                    "足立区".into(),
                    "#足立区".into()
                ),
                (
                    "app.bsky.richtext.facet#link".into(),
                    "https://www.city.example.jp/bousai".into(),
                    "www.city.example.jp/bousai".into()
                ),
                (
                    "app.bsky.richtext.facet#tag".into(),
                    "防災".into(),
                    "＃防災".into()
                ),
            ],
            "the PDS stored each facet as sent"
        );
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn publishes_an_image_with_alt_text() {
    run(async {
        let net = adapter();
        let text = unique("年末年始の収集日カレンダー");
        let image = Image {
            path: PNG.into(),
            alt: Some("12月29日から1月3日まで収集はありません".into()),
            mime: "image/png".into(),
            size: png().len() as u64,
            blob: None,
        };
        net.publish(&delivery("image", &text, vec![image]))
            .await
            .unwrap();
        let found = posts_with_text(&text).await;
        assert_eq!(found.len(), 1);
        let embed = &found[0]["value"]["embed"];
        assert_eq!(embed["$type"], "app.bsky.embed.images");
        let image = &embed["images"][0];
        assert_eq!(image["alt"], "12月29日から1月3日まで収集はありません");
        assert_eq!(image["image"]["mimeType"], "image/png");
        assert_eq!(image["image"]["size"], png().len());
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn a_thread_is_a_chain_of_replies_with_root_and_parent_references() {
    run(async {
        let net = adapter();
        let texts: Vec<String> = ["避難所の開設 (1/3)", "開設場所 (2/3)", "混雑状況 (3/3)"]
            .iter()
            .map(|t| unique(t))
            .collect();
        let mut d = delivery("thread", &texts[0], vec![]);
        d.parts = texts[1..]
            .iter()
            .enumerate()
            .map(|(i, text)| Part {
                text: text.clone(),
                key: d.part_key(i + 2),
                count: None,
                remote_id: None,
                remote_url: None,
                published_at: None,
            })
            .collect();
        // As the scheduler does: each part sent once the one before it is recorded as out.
        for k in 0..3 {
            let piece = d.part(k).expect("the part before is out");
            let out = net.publish(&piece).await.unwrap();
            match k {
                0 => (d.remote_id, d.remote_url) = (out.remote_id, out.remote_url),
                k => d.parts[k - 1].remote_id = out.remote_id,
            }
        }
        let records: Vec<Value> = {
            let all = list_posts().await;
            texts
                .iter()
                .map(|t| {
                    let found: Vec<_> = all.iter().filter(|r| r["value"]["text"] == *t).collect();
                    assert_eq!(found.len(), 1, "one record for {t}");
                    found[0].clone()
                })
                .collect()
        };
        assert!(records[0]["value"].get("reply").is_none());
        for k in 1..3 {
            let reply = &records[k]["value"]["reply"];
            assert_eq!(
                reply["root"]["uri"],
                records[0]["uri"],
                "part {} root",
                k + 1
            );
            assert_eq!(
                reply["root"]["cid"],
                records[0]["cid"],
                "part {} root cid",
                k + 1
            );
            assert_eq!(
                reply["parent"]["uri"],
                records[k - 1]["uri"],
                "part {}",
                k + 1
            );
            assert_eq!(
                reply["parent"]["cid"],
                records[k - 1]["cid"],
                "part {}",
                k + 1
            );
        }
        // A retract deletes every part.
        for piece in d.published_parts() {
            net.retract(&piece).await.unwrap();
        }
        for t in &texts {
            assert!(posts_with_text(t).await.is_empty(), "{t} is gone");
        }
    });
}

/// A page with OpenGraph tags and its picture, on loopback; returns its port.
async fn card_site() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let (kind, body) = match request.split_whitespace().nth(1) {
                    Some("/map.png") => ("image/png", png()),
                    _ => (
                        "text/html; charset=utf-8",
                        "<html><head><meta property=\"og:title\" content=\"避難所の開設状況\">\
                         <meta property=\"og:description\" content=\"開設中の避難所\">\
                         <meta property=\"og:image\" content=\"/map.png\"></head></html>"
                            .as_bytes()
                            .to_vec(),
                    ),
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    port
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn a_link_gets_an_external_card_with_its_thumbnail() {
    run(async {
        let port = card_site().await;
        let site = "www.city.example.jp";
        let net = adapter_with_secrets(
            &pds().app_password,
            &format!("OSHIRASE_CARD_ALLOW_HOSTS={site}\nOSHIRASE_CARD_RESOLVE={site}=127.0.0.1\n"),
        );
        let link = format!("http://{site}:{port}/hinanjo");
        let text = unique(&format!("避難所を開設しました。 {link}"));
        net.publish(&delivery("card", &text, vec![])).await.unwrap();
        let found = posts_with_text(&text).await;
        assert_eq!(found.len(), 1);
        let embed = &found[0]["value"]["embed"];
        assert_eq!(embed["$type"], "app.bsky.embed.external", "{embed}");
        assert_eq!(embed["external"]["uri"], link);
        assert_eq!(embed["external"]["title"], "避難所の開設状況");
        assert_eq!(embed["external"]["description"], "開設中の避難所");
        assert_eq!(
            embed["external"]["thumb"]["mimeType"], "image/png",
            "{embed}"
        );
        assert_eq!(embed["external"]["thumb"]["size"], png().len());
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn sending_the_same_delivery_again_makes_no_second_post() {
    run(async {
        let net = adapter();
        let text = unique("一度だけ届くお知らせ");
        let d = delivery("retry", &text, vec![]);
        let first = net.publish(&d).await.unwrap();
        // The real PDS answers the repeated record key with a 500; the adapter finds its post.
        let again = net.publish(&d).await.unwrap();
        assert_eq!(again, first);
        // A fresh adapter (a restarted service) too.
        let restarted = adapter().publish(&d).await.unwrap();
        assert_eq!(restarted, first);
        assert_eq!(posts_with_text(&text).await.len(), 1, "still one post");
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn settles_found_and_not_found() {
    run(async {
        let net = adapter();
        let text = unique("届いた投稿");
        let sent = delivery("settle-sent", &text, vec![]);
        let published = net.publish(&sent).await.unwrap();
        assert_eq!(
            net.settle(&sent).await.unwrap(),
            Settlement::Published(published)
        );
        let lost = delivery("settle-lost", &unique("届かなかった投稿"), vec![]);
        assert_eq!(net.settle(&lost).await.unwrap(), Settlement::SafeToRetry);
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn retracts_and_retracting_again_succeeds() {
    run(async {
        let net = adapter();
        let text = unique("取り消すお知らせ");
        let mut d = delivery("retract", &text, vec![]);
        let Published {
            remote_id,
            remote_url,
        } = net.publish(&d).await.unwrap();
        assert_eq!(posts_with_text(&text).await.len(), 1);
        d.remote_id = remote_id;
        d.remote_url = remote_url;
        d.state = State::Published;
        net.retract(&d).await.unwrap();
        assert!(posts_with_text(&text).await.is_empty(), "the post is gone");
        assert_eq!(net.settle(&d).await.unwrap(), Settlement::SafeToRetry);
        // The PDS's deleteRecord succeeds for a record that is not there.
        net.retract(&d).await.unwrap();
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn a_wrong_app_password_is_a_credentials_error() {
    run(async {
        let net = adapter_with("wxyz-wxyz-wxyz-wxyz");
        let text = unique("届かないお知らせ");
        let e = net
            .publish(&delivery("wrong", &text, vec![]))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Credentials, "{}", e.message);
        assert!(
            e.message.contains("AuthenticationRequired"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("wxyz-wxyz"), "{}", e.message);
        assert!(posts_with_text(&text).await.is_empty());
    });
}

#[test]
#[ignore = "needs the real Bluesky PDS: tests/peers/bluesky-pds/setup.sh; run by .ci/run"]
fn a_rejected_post_is_permanent_with_the_pds_message() {
    run(async {
        let net = adapter();
        let e = net
            .publish(&delivery("long", &"あ".repeat(301), vec![]))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent, "{}", e.message);
        assert!(e.message.contains("InvalidRequest"), "{}", e.message);
        assert!(e.message.contains("300"), "{}", e.message);
    });
}
