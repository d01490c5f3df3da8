//! One real post from content-example, with its image, approved once and published to every
//! network type at the same time: X, Facebook, Mastodon, Bluesky, LINE, a webhook and an
//! outbox, each a local server that speaks the network's protocol. Checks what each one
//! received, that LINE and the webhook can fetch the image from `/media/<blob>` and
//! nothing else from there, and that a crash left mid-request is settled by asking the
//! network again later when it cannot answer at first.

mod common;

#[path = "fakes/bluesky.rs"]
mod fake_bluesky;
#[path = "fakes/facebook.rs"]
mod fake_facebook;
#[path = "fakes/line.rs"]
mod fake_line;
#[path = "fakes/mastodon.rs"]
mod fake_mastodon;
#[path = "fakes/x.rs"]
mod fake_x;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use oshirase::support::secrets::Secrets;
use serde_json::Value;
use warp::Filter;

const PUBLIC_URL: &str = "https://oshirase.city.example.jp";

fn example(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/content-example/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A chat webhook that keeps every JSON body it receives.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = got.clone();
    let route = warp::post()
        .and(warp::body::json())
        .map(move |body: Value| {
            log.lock().unwrap().push(body);
            "ok"
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/chat", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, got)
}

/// The content-example post about year-end rubbish collection, sent to every network now:
/// the short X text also serves Bluesky and Mastodon, the whole body Facebook, LINE, the
/// webhook and the portal.
fn gomi_post() -> String {
    let original = String::from_utf8(example("posts/2026-12-20-gomi-nenmatsu.md")).unwrap();
    let mut out = String::new();
    let mut in_x_text = false;
    let mut x_text = String::new();
    for line in original.lines() {
        if line.starts_with("publish_at:") {
            continue; // as soon as approved
        }
        if line.starts_with("networks:") {
            out.push_str("networks: [x, facebook, mastodon, bluesky, line, chat, portal]\n");
            continue;
        }
        if line.starts_with("account:") {
            out.push_str("account: city\n");
            continue;
        }
        if line.starts_with("  x: |-") {
            in_x_text = true;
        } else if in_x_text && !line.starts_with("    ") {
            in_x_text = false;
            for net in ["bluesky", "mastodon"] {
                out.push_str(&format!("  {net}: |-\n{x_text}"));
            }
        } else if in_x_text {
            x_text.push_str(line);
            x_text.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_post_with_an_image_goes_to_every_network_at_once() {
    let x = fake_x::start().await;
    let facebook = fake_facebook::start().await;
    let mastodon = fake_mastodon::start().await;
    let bluesky = fake_bluesky::start().await;
    let line = fake_line::start().await;
    let (chat_url, chat) = webhook_receiver().await;
    let networks = format!(
        "      x: {}\n      facebook: {}\n      mastodon: {}\n      bluesky: {}\n      line: {}\n      chat: {{ type: webhook, credentials: CHAT }}\n",
        x.network_yaml("x"),
        facebook.network_yaml("facebook"),
        mastodon.network_yaml("mastodon"),
        bluesky.network_yaml("bluesky"),
        line.network_yaml("line"),
    );
    let repo = GitRepo::new(&config(MERGE, "2h", &networks));
    let png = example("posts/images/gomi-nenmatsu-calendar.png");
    repo.write_bytes("posts/images/gomi-nenmatsu-calendar.png", &png);
    repo.commit_all(CHIEF, "the calendar image");
    repo.propose_and_merge("staff/gomi", &[("posts/gomi.md", &gomi_post())]);

    let data = tempfile::tempdir().unwrap();
    let mut s = settings(&repo.path, data.path());
    s.public_url = Some(PUBLIC_URL.into());
    let secrets = [
        x.secrets(),
        facebook.secrets(),
        mastodon.secrets(),
        bluesky.secrets(),
        line.secrets(),
        format!("CHAT_TYPE=webhook\nCHAT_URL={chat_url}\n"),
    ]
    .concat();
    s.secrets = Secrets::parse("test", &secrets).unwrap();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();

    let all = [
        "x", "facebook", "mastodon", "bluesky", "line", "chat", "portal",
    ];
    let published = wait_for(Duration::from_secs(30), || {
        all.iter().all(|n| {
            delivery_state(&service, "gomi-nenmatsu-2026", n).as_deref() == Some("published")
        })
    })
    .await;
    let states: Vec<_> = all
        .iter()
        .map(|n| (n, delivery_state(&service, "gomi-nenmatsu-2026", n)))
        .collect();
    assert!(published, "every network published: {states:?}");

    let delivery = |n: &str| {
        service
            .store
            .delivery("gomi-nenmatsu-2026", n)
            .unwrap()
            .unwrap()
    };
    let alt = "年末年始のごみ・資源収集カレンダー。12月31日から1月3日までは収集休み、1月4日からいつもどおり収集します。";
    let short = delivery("x").text;
    assert!(short.starts_with("【年末年始のごみ収集】") && short.ends_with("#足立区 #ごみ収集"));
    let long = delivery("facebook").text;
    assert!(
        long.contains("【粗大ごみ受付センター】") && long.contains("区のホームページ https://")
    );

    // Networks that take the bytes: one post each, exact text, the image with its alt text.
    for (name, posts, text) in [
        ("x", x.posts(), &short),
        ("facebook", facebook.posts(), &long),
        ("mastodon", mastodon.posts(), &short),
        ("bluesky", bluesky.posts(), &short),
    ] {
        assert_eq!(posts.len(), 1, "{name}: {posts:?}");
        assert_eq!(posts[0]["text"].as_str(), Some(text.as_str()), "{name}");
        let images = posts[0]["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{name}");
        assert_eq!(images[0]["alt"], alt, "{name}");
        assert_eq!(images[0]["bytes_len"], png.len(), "{name}");
        assert!(delivery(name).remote_url.is_some(), "{name} has a link");
    }
    // Bluesky turned the URL into a link facet.
    let record = &bluesky.posts()[0]["record"];
    assert_eq!(
        record["facets"][0]["features"][0]["uri"],
        "https://www.city.adachi.tokyo.jp/kankyo/gomi/nenmatsu-nenshi.html"
    );

    // Networks that fetch by URL: LINE and the webhook get the image's public address.
    let blob = delivery("line").images[0].blob.clone().unwrap();
    let url = format!("{PUBLIC_URL}/media/{blob}");
    let line_posts = line.posts();
    assert_eq!(line_posts.len(), 1);
    assert_eq!(line_posts[0]["text"].as_str(), Some(long.as_str()));
    assert_eq!(line_posts[0]["images"][0]["url"], url);
    let chat_posts = chat.lock().unwrap().clone();
    assert_eq!(chat_posts.len(), 1);
    assert_eq!(chat_posts[0]["text"].as_str(), Some(long.as_str()));
    assert_eq!(chat_posts[0]["oshirase"]["images"][0]["url"], url);
    assert_eq!(chat_posts[0]["oshirase"]["images"][0]["alt"], alt);
    assert_eq!(outbox(data.path(), "city", "portal").len(), 1);

    // The service serves exactly that image there, and nothing else from git.
    let base = format!("http://{}", service.addr);
    let agent = ureq::Agent::new_with_defaults();
    let mut response = agent.get(format!("{base}/media/{blob}")).call().unwrap();
    assert_eq!(response.headers().get("content-type").unwrap(), "image/png");
    let served = response.body_mut().read_to_vec().unwrap();
    assert_eq!(served, png);
    let config_blob = git_blob(&repo.path, "oshirase.yaml");
    for other in [
        config_blob.as_str(),
        &"0".repeat(40),
        "../../etc/passwd",
        "zz",
    ] {
        let status = match agent.get(format!("{base}/media/{other}")).call() {
            Ok(r) => r.status().as_u16(),
            Err(ureq::Error::StatusCode(code)) => code,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(status, 404, "{other}");
    }
    service.shutdown().await;
}

fn git_blob(repo: &std::path::Path, path: &str) -> String {
    let out = std::process::Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", &format!("HEAD:{path}")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_request_is_settled_by_asking_again_when_the_network_is_back() {
    let x = fake_x::start().await;
    let repo = GitRepo::new(&config(
        BRANCH,
        "2h",
        &format!("      x: {}\n", x.network_yaml("x")),
    ));
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    repo.propose_and_merge(
        "staff/a",
        &[(
            "posts/a.md",
            &post("お知らせ", Some(later), "x", "区民まつりは中止です"),
        )],
    );
    let data = tempfile::tempdir().unwrap();
    let secrets = Secrets::parse("test", &x.secrets()).unwrap();
    let mut s = settings(&repo.path, data.path());
    s.secrets = secrets.clone();
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || delivery_state(
            &service, "posts/a", "x"
        )
        .as_deref()
            == Some("scheduled"))
        .await
    );
    service.shutdown().await;

    // As if the service had died after X took the post but before the answer was recorded.
    let tweet = x.seed_post("区民まつりは中止です", chrono::Utc::now());
    {
        let store = oshirase::store::Store::open(data.path()).unwrap();
        store
            .update_delivery("posts/a", "x", |d| {
                d.state = oshirase::model::records::State::Publishing;
                d.attempts = 1;
                d.due_at = chrono::Utc::now() - chrono::Duration::seconds(5);
                d.publish_at = d.due_at;
                Some(vec![])
            })
            .unwrap();
    }
    // X cannot be asked at first: its timeline answers 503 twice.
    x.fail_next_on("GET", "/2/users", 2, fake_x::Failure::Unavailable);

    let mut s = settings(&repo.path, data.path());
    s.secrets = secrets;
    let service = oshirase::cli::serve::Service::start(s).await.unwrap();
    let settled = wait_for(Duration::from_secs(90), || {
        delivery_state(&service, "posts/a", "x").as_deref() == Some("published")
    })
    .await;
    let d = service.store.delivery("posts/a", "x").unwrap().unwrap();
    assert!(settled, "{d:?}");
    assert_eq!(
        d.remote_id.as_deref(),
        Some(tweet.as_str()),
        "found on X, not sent again"
    );
    assert!(x.posts().is_empty(), "never sent by oshirase a second time");
    let events = service.store.events_for("posts/a").unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "published" && e.detail.contains("settled after a restart")),
        "{events:?}"
    );
    service.shutdown().await;
}
