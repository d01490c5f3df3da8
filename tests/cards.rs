//! Link cards: a Bluesky post without images gets an `app.bsky.embed.external` card of its
//! first link, read from the page's OpenGraph tags (checked by the fake PDS against the
//! lexicon), with its picture; a slow page, a huge page and a page on a private address do
//! not hold the post up or leak a request; `card: false` turns it off; Facebook gets the
//! link as `link`.

#[path = "fakes/bluesky.rs"]
mod fake_bluesky;
#[path = "fakes/facebook.rs"]
mod fake_facebook;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use oshirase::content::config::RepoConfig;
use oshirase::model::records::{DeliveryRecord, State};
use oshirase::networks::{AdapterContext, MemoryMedia, Network, Networks};
use oshirase::support::secrets::Secrets;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The ward's site as the card reader is told to reach it (on loopback, here).
const SITE: &str = "www.city.example.jp";

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .unwrap()
}

/// A small web server for the linked pages; counts the requests it was sent.
async fn site() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let head = |kind: &str, len: usize| {
                    format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                match path.as_str() {
                    "/hinanjo" => {
                        let html = "<html><head><title>区のページ</title>\
                            <meta property=\"og:title\" content=\"避難所の開設状況\">\
                            <meta property=\"og:description\" content=\"開設中の避難所と混雑状況をお知らせします\">\
                            <meta property=\"og:image\" content=\"/map.png\"></head><body>本文</body></html>";
                        let _ = stream
                            .write_all(head("text/html; charset=utf-8", html.len()).as_bytes())
                            .await;
                        let _ = stream.write_all(html.as_bytes()).await;
                    }
                    "/map.png" => {
                        let bytes = png();
                        let _ = stream
                            .write_all(head("image/png", bytes.len()).as_bytes())
                            .await;
                        let _ = stream.write_all(&bytes).await;
                    }
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    "/huge" => {
                        let start = "<html><head><meta property=\"og:title\" content=\"大きなページ\"></head><body>";
                        let total = 40 * 1024 * 1024;
                        let _ = stream
                            .write_all(head("text/html", start.len() + total).as_bytes())
                            .await;
                        let _ = stream.write_all(start.as_bytes()).await;
                        let filler = vec![b'x'; 64 * 1024];
                        for _ in 0..(total / filler.len()) {
                            if stream.write_all(&filler).await.is_err() {
                                return; // the reader stopped reading: as it should
                            }
                        }
                    }
                    _ => {
                        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    }
                }
            });
        }
    });
    (port, hits)
}

fn adapter(network_yaml: &str, secrets: &str) -> Arc<dyn Network> {
    let yaml = format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    networks:\n      n: {network_yaml}\n"
    );
    let config = RepoConfig::parse("oshirase.yaml", &yaml).unwrap();
    let secrets = Secrets::parse("secrets", secrets).unwrap();
    let account = &config.accounts["city"];
    Networks::adapter(&AdapterContext {
        account: &account.name,
        net: &account.networks["n"],
        secrets: &secrets,
        media: Arc::new(MemoryMedia::new()),
        public_url: None,
    })
    .map_err(|e| e.to_string())
    .unwrap()
}

/// The card reader reaches the ward's site on loopback, which it is allowed to.
fn card_secrets(allowed: bool) -> String {
    let allow = if allowed {
        format!("OSHIRASE_CARD_ALLOW_HOSTS={SITE}\n")
    } else {
        String::new()
    };
    format!("OSHIRASE_CARD_RESOLVE={SITE}=127.0.0.1\n{allow}")
}

fn delivery(id: &str, network: &str, text: &str) -> DeliveryRecord {
    DeliveryRecord {
        state: State::Publishing,
        ..DeliveryRecord::new("city", network, id, text, Utc::now())
    }
}

async fn bluesky(allowed: bool) -> (fake_bluesky::Fake, Arc<dyn Network>) {
    let fake = fake_bluesky::start().await;
    let net = adapter(
        &fake.network_yaml("n"),
        &format!("{}{}", fake.secrets(), card_secrets(allowed)),
    );
    (fake, net)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bluesky_post_gets_the_card_of_its_first_link_with_its_picture() {
    let (port, _) = site().await;
    let (fake, net) = bluesky(true).await;
    let text = format!(
        "避難所を開設しました。開設状況は http://{SITE}:{port}/hinanjo をご覧ください。 #足立区"
    );
    net.publish(&delivery("posts/hinanjo", "n", &text))
        .await
        .unwrap();
    let record = &fake.posts()[0]["record"];
    let external = &record["embed"]["external"];
    assert_eq!(
        record["embed"]["$type"], "app.bsky.embed.external",
        "{record}"
    );
    assert_eq!(external["uri"], format!("http://{SITE}:{port}/hinanjo"));
    assert_eq!(external["title"], "避難所の開設状況");
    assert_eq!(
        external["description"],
        "開設中の避難所と混雑状況をお知らせします"
    );
    assert_eq!(external["thumb"]["mimeType"], "image/png", "{external}");
    assert_eq!(external["thumb"]["size"], png().len());
    // The link and the tag stay facets.
    let features: Vec<&str> = record["facets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["features"][0]["$type"].as_str().unwrap())
        .collect();
    assert!(
        features.contains(&"app.bsky.richtext.facet#link")
            && features.contains(&"app.bsky.richtext.facet#tag")
    );

    // `card: false` keeps it a plain link.
    let mut plain = delivery(
        "posts/plain",
        "n",
        &text.replace("避難所を", "避難所を改めて"),
    );
    plain.no_card = true;
    net.publish(&plain).await.unwrap();
    assert!(fake.posts()[1]["record"].get("embed").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_address_is_never_asked_unless_the_operator_allows_it() {
    let (port, hits) = site().await;
    let (fake, net) = bluesky(false).await;
    let text = format!("開設状況は http://{SITE}:{port}/hinanjo をご覧ください。");
    net.publish(&delivery("posts/a", "n", &text)).await.unwrap();
    assert!(fake.posts()[0]["record"].get("embed").is_none());
    assert!(fake.posts()[0]["record"]["facets"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no request reached the private address"
    );
    // Nor an address written in the text, nor another scheme.
    let reader = oshirase::networks::card::CardReader::default();
    for url in [
        "http://127.0.0.1:9/x",
        "http://[::1]:9/x",
        "http://169.254.169.254/latest",
        "file:///etc/passwd",
    ] {
        assert!(reader.read(url).await.is_err(), "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_huge_page_does_not_hold_the_post_up() {
    let (port, _) = site().await;
    let (fake, net) = bluesky(true).await;
    let started = Instant::now();
    net.publish(&delivery(
        "posts/slow",
        "n",
        &format!("遅いページ http://{SITE}:{port}/slow です。"),
    ))
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        fake.posts()[0]["record"].get("embed").is_none(),
        "a plain link"
    );

    let started = Instant::now();
    net.publish(&delivery(
        "posts/huge",
        "n",
        &format!("大きなページ http://{SITE}:{port}/huge です。"),
    ))
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Only its start is read, which holds the tags.
    assert_eq!(
        fake.posts()[1]["record"]["embed"]["external"]["title"],
        "大きなページ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_gets_the_first_link_as_link() {
    let fake = fake_facebook::start().await;
    let net = adapter(&fake.network_yaml("n"), &fake.secrets());
    let text = "開設状況は https://www.city.adachi.tokyo.jp/bousai/hinanjo.html をご覧ください。";
    net.publish(&delivery("posts/a", "n", text)).await.unwrap();
    assert_eq!(
        fake.posts()[0]["link"],
        "https://www.city.adachi.tokyo.jp/bousai/hinanjo.html"
    );
    let mut plain = delivery("posts/b", "n", &text.replace("開設状況", "最新の開設状況"));
    plain.no_card = true;
    net.publish(&plain).await.unwrap();
    assert!(fake.posts()[1]["link"].is_null());
    // A page Facebook cannot read does not stop the post: it goes without the preview.
    let unreadable = "臨時のお知らせ https://unreadable.example/page です。";
    net.publish(&delivery("posts/c", "n", unreadable))
        .await
        .unwrap();
    assert_eq!(fake.posts().len(), 3);
    assert!(fake.posts()[2]["link"].is_null());
    assert_eq!(fake.posts()[2]["text"], unreadable);
}
