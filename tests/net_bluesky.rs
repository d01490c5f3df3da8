//! The Bluesky adapter against the fake PDS in tests/fakes/bluesky.rs, built from
//! `oshirase.yaml` and a secrets file exactly as the service builds it.

#[path = "fakes/bluesky.rs"]
mod fake_bluesky;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_bluesky::{Fake, Fault, APP_PASSWORD, DID, HANDLE};
use oshirase::content::config::RepoConfig;
use oshirase::content::post::Image;
use oshirase::model::records::{DeliveryRecord, State};
use oshirase::networks::{
    AdapterContext, ErrorClass, MemoryMedia, NetError, Network, Networks, Settlement,
};
use oshirase::support::secrets::Secrets;

const PNG: &str = "images/gomi-nenmatsu-calendar.png";

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .unwrap()
}

fn config_yaml(network: &str) -> String {
    format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: {{ mode: branch }}\n    networks:\n      bluesky: {network}\n"
    )
}

fn build(yaml: &str, secrets: &str) -> Result<Arc<dyn Network>, String> {
    let config = RepoConfig::parse("oshirase.yaml", yaml).unwrap();
    let secrets = Secrets::parse("secrets", secrets).unwrap();
    let account = &config.accounts["city"];
    let net = &account.networks["bluesky"];
    Networks::adapter(&AdapterContext {
        account: &account.name,
        net,
        secrets: &secrets,
        media: Arc::new(MemoryMedia::new().with(PNG, png())),
        public_url: None,
    })
    .map_err(|e| e.to_string())
}

fn adapter(fake: &Fake) -> Arc<dyn Network> {
    build(&config_yaml(&fake.network_yaml("bluesky")), &fake.secrets()).unwrap()
}

fn publish_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-20T19:00:00+09:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn delivery(post_id: &str, text: &str, images: Vec<Image>) -> DeliveryRecord {
    DeliveryRecord {
        state: State::Publishing,
        images,
        ..DeliveryRecord::new("city", "bluesky", post_id, text, publish_at())
    }
}

fn image(alt: Option<&str>) -> Image {
    Image {
        path: PNG.into(),
        alt: alt.map(str::to_string),
        mime: "image/png".into(),
        size: png().len() as u64,
        blob: None,
    }
}

/// The record key the post landed at, from the returned at:// URI.
fn rkey_of(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap()
}

fn assert_no_secret(fake: &Fake, e: &NetError) {
    assert!(!e.message.contains(APP_PASSWORD), "{}", e.message);
    for token in fake.tokens() {
        assert!(!e.message.contains(&token), "{}", e.message);
    }
}

#[tokio::test]
async fn publishes_text_with_a_link_facet_at_a_tid_record_key() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let text = "年末年始のごみ収集 👨‍👩‍👧 詳しくは https://www.city.example.jp/gomi をご覧ください";
    let published = net
        .publish(&delivery("posts/gomi", text, vec![]))
        .await
        .unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post["text"], text);
    assert_eq!(post["repo"], DID);
    let record = &post["record"];
    assert_eq!(record["$type"], "app.bsky.feed.post");
    let created = record["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z'), "{created}");
    DateTime::parse_from_rfc3339(created).unwrap();
    // The facet marks the URL by UTF-8 byte offsets.
    let facet = &record["facets"][0];
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
    assert!(record.get("embed").is_none());

    let rkey = post["rkey"].as_str().unwrap();
    assert_eq!(rkey.len(), 13);
    assert_eq!(
        published.remote_id.as_deref(),
        Some(format!("at://{DID}/app.bsky.feed.post/{rkey}").as_str())
    );
    assert_eq!(
        published.remote_url.as_deref(),
        Some(format!("https://bsky.app/profile/{HANDLE}/post/{rkey}").as_str())
    );

    // A second post reuses the session: one login for both.
    net.publish(&delivery("posts/other", "もう一件", vec![]))
        .await
        .unwrap();
    assert_eq!(fake.calls("com.atproto.server.createSession"), 1);
    assert_eq!(fake.records().len(), 2);
    assert_ne!(fake.posts()[1]["rkey"], post["rkey"]);
}

#[tokio::test]
async fn publishes_images_with_alt_text() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let d = delivery(
        "posts/calendar",
        "年末年始の収集日",
        vec![image(Some("収集日のカレンダー")), image(None)],
    );
    net.publish(&d).await.unwrap();

    assert_eq!(fake.calls("com.atproto.repo.uploadBlob"), 2);
    let post = &fake.posts()[0];
    let images = post["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["alt"], "収集日のカレンダー");
    assert_eq!(
        images[1]["alt"], "",
        "an image without alt text gets an empty alt"
    );
    for i in images {
        assert_eq!(i["bytes_len"], png().len());
        assert_eq!(i["mime"], "image/png");
    }
    assert_eq!(post["record"]["embed"]["$type"], "app.bsky.embed.images");
    assert_eq!(
        post["record"]["embed"]["images"][0]["image"]["mimeType"],
        "image/png"
    );
}

#[tokio::test]
async fn more_than_four_images_is_permanent_before_any_upload() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let d = delivery("posts/many", "画像が多い", vec![image(Some("a")); 5]);
    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("at most 4"), "{}", e.message);
    assert_eq!(fake.calls("com.atproto.repo.uploadBlob"), 0);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_post_sent_once() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    net.publish(&delivery("posts/a", "一件目", vec![]))
        .await
        .unwrap();
    fake.expire_access_token();
    net.publish(&delivery("posts/b", "二件目", vec![]))
        .await
        .unwrap();
    assert_eq!(fake.calls("com.atproto.server.refreshSession"), 1);
    assert_eq!(
        fake.calls("com.atproto.server.createSession"),
        1,
        "a refresh, not a new login"
    );
    // The refused attempt plus the retry with the new token.
    assert_eq!(fake.calls("com.atproto.repo.createRecord"), 3);
    assert_eq!(fake.posts().len(), 2);
}

#[tokio::test]
async fn a_refused_refresh_falls_back_to_a_new_login() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    net.publish(&delivery("posts/a", "一件目", vec![]))
        .await
        .unwrap();
    fake.expire_access_token();
    fake.revoke_refresh_token();
    net.publish(&delivery("posts/b", "二件目", vec![]))
        .await
        .unwrap();
    assert_eq!(fake.calls("com.atproto.server.refreshSession"), 1);
    assert_eq!(fake.calls("com.atproto.server.createSession"), 2);
    assert_eq!(fake.posts().len(), 2);
}

#[tokio::test]
async fn a_wrong_app_password_is_a_credentials_error_without_the_password() {
    let fake = fake_bluesky::start().await;
    let yaml = config_yaml(&fake.network_yaml("bluesky"));
    let secrets = format!(
        "{}BSKY_TEST_APP_PASSWORD=zzzz-wrong-pass-zzzz\n",
        fake.declaration()
    );
    let net = build(&yaml, &secrets).unwrap();
    let e = net
        .publish(&delivery("posts/a", "本文", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(
        e.message.contains("Invalid identifier or password"),
        "{}",
        e.message
    );
    assert!(e.message.contains(HANDLE), "{}", e.message);
    assert!(!e.message.contains("zzzz-wrong-pass-zzzz"), "{}", e.message);
    assert!(fake.posts().is_empty());
    // Settle and retract need the login too and say the same.
    let e = net
        .settle(&delivery("posts/a", "本文", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
}

#[tokio::test]
async fn a_rate_limit_is_transient_and_waits_for_ratelimit_reset() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    fake.fail_next_creates(1, Fault::RateLimited { reset_in: 120 });
    let d = delivery("posts/a", "本文", vec![]);
    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("RateLimitExceeded"), "{}", e.message);
    let wait = e.retry_after.unwrap();
    assert!(
        wait > Duration::from_secs(115) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    assert_no_secret(&fake, &e);
    // The scheduler's retry goes through.
    net.publish(&d).await.unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn a_5xx_is_transient_when_the_post_did_not_land() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    fake.fail_next_creates(1, Fault::Unavailable);
    let d = delivery("posts/a", "本文", vec![]);
    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("503"), "{}", e.message);
    assert_eq!(e.retry_after, None);
    assert_no_secret(&fake, &e);
    // It looked before giving up.
    assert_eq!(fake.calls("com.atproto.repo.getRecord"), 1);
    assert!(fake.records().is_empty());
}

#[tokio::test]
async fn a_5xx_after_the_commit_is_published() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    fake.fail_next_creates(1, Fault::CommitThenUnavailable);
    let d = delivery("posts/a", "本文", vec![]);
    let published = net.publish(&d).await.unwrap();
    let rkey = fake.records()[0].clone();
    assert_eq!(
        published.remote_id.as_deref(),
        Some(format!("at://{DID}/app.bsky.feed.post/{rkey}").as_str())
    );
    assert_eq!(fake.records().len(), 1);
}

#[tokio::test]
async fn sending_a_delivery_again_never_makes_a_second_post() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let d = delivery("posts/a", "一度だけ", vec![image(Some("地図"))]);
    let first = net.publish(&d).await.unwrap();
    // A crash before the outcome was stored: the scheduler sends the same delivery again.
    let again = net.publish(&d).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(fake.records().len(), 1);
    assert_eq!(fake.posts().len(), 1);
    // The PDS refused the repeated key (500) and the adapter found its own post.
    assert_eq!(fake.calls("com.atproto.repo.createRecord"), 2);
    assert_eq!(fake.calls("com.atproto.repo.getRecord"), 1);
}

#[tokio::test]
async fn a_different_post_at_the_record_key_is_permanent() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let d = delivery("posts/a", "本文", vec![]);
    // Learn the key from a first post, then let a stranger's record take its place.
    let rkey = rkey_of(&net.publish(&d).await.unwrap().remote_id.unwrap()).to_string();
    fake.put_record(&rkey, "別の投稿");
    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains(&rkey), "{}", e.message);
    match net.settle(&d).await.unwrap() {
        Settlement::Unknown(why) => assert!(why.contains(&rkey), "{why}"),
        other => panic!("expected unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rejected_record_is_permanent_with_the_pds_message() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let text = "あ".repeat(301);
    let e = net
        .publish(&delivery("posts/long", &text, vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("InvalidRequest"), "{}", e.message);
    assert!(
        e.message
            .contains("grapheme too big (maximum 300, got 301)"),
        "{}",
        e.message
    );
    assert_no_secret(&fake, &e);
    // A 400 is not a lost write: nothing to look up.
    assert_eq!(fake.calls("com.atproto.repo.getRecord"), 0);
}

#[tokio::test]
async fn settle_finds_a_post_or_says_a_resend_is_safe() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let sent = delivery("posts/sent", "届いた投稿", vec![]);
    let published = net.publish(&sent).await.unwrap();
    assert_eq!(
        net.settle(&sent).await.unwrap(),
        Settlement::Published(published)
    );
    let lost = delivery("posts/lost", "届かなかった投稿", vec![]);
    assert_eq!(net.settle(&lost).await.unwrap(), Settlement::SafeToRetry);
}

#[tokio::test]
async fn retract_deletes_and_repeating_it_succeeds() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let mut d = delivery("posts/a", "取り消す投稿", vec![]);
    let published = net.publish(&d).await.unwrap();
    d.remote_id = published.remote_id.clone();
    d.remote_url = published.remote_url;
    d.state = State::Published;
    net.retract(&d).await.unwrap();
    let rkey = rkey_of(published.remote_id.as_deref().unwrap()).to_string();
    assert_eq!(fake.deleted(), vec![rkey]);
    assert!(fake.records().is_empty());
    // Already gone: still Ok.
    net.retract(&d).await.unwrap();
    assert_eq!(fake.calls("com.atproto.repo.deleteRecord"), 2);
    // Without a remote id the derived key is deleted.
    d.remote_id = None;
    net.retract(&d).await.unwrap();
    assert_eq!(fake.calls("com.atproto.repo.deleteRecord"), 3);
}

#[tokio::test]
async fn retract_refuses_a_post_of_another_account() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let mut d = delivery("posts/a", "本文", vec![]);
    d.remote_id = Some("at://did:plc:someoneelse/app.bsky.feed.post/3l25zusnsfck2".into());
    let e = net.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("did:plc:someoneelse"), "{}", e.message);
    assert_eq!(fake.calls("com.atproto.repo.deleteRecord"), 0);
}

#[tokio::test]
async fn a_missing_app_password_names_the_variable() {
    let fake = fake_bluesky::start().await;
    let yaml = config_yaml(&fake.network_yaml("bluesky"));
    let e = build(&yaml, &fake.declaration()).err().unwrap();
    assert!(e.contains("BSKY_TEST_APP_PASSWORD"), "{e}");
    assert!(e.contains("accounts.city.networks.bluesky"), "{e}");
}

#[tokio::test]
async fn the_service_field_is_the_pds_address() {
    let fake = fake_bluesky::start().await;
    let yaml = config_yaml(&format!(
        "{{ type: bluesky, service: {}, handle: '@{HANDLE}', credentials: BSKY_TEST }}",
        fake.base_url
    ));
    let net = build(&yaml, &fake.secrets()).unwrap();
    let published = net
        .publish(&delivery("posts/a", "本文", vec![]))
        .await
        .unwrap();
    assert_eq!(fake.posts().len(), 1);
    // The handle is shown without its @.
    assert!(published
        .remote_url
        .unwrap()
        .starts_with(&format!("https://bsky.app/profile/{HANDLE}/post/")));
}

#[tokio::test]
async fn an_unreachable_pds_is_transient_and_names_no_secret() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let yaml = config_yaml(&format!(
        "{{ type: bluesky, handle: {HANDLE}, credentials: BSKY_TEST, base_url: http://127.0.0.1:{port} }}"
    ));
    let secrets = format!(
        "BSKY_TEST_TYPE=bluesky\nBSKY_TEST_HOSTS=127.0.0.1:{port}\nBSKY_TEST_APP_PASSWORD={APP_PASSWORD}\n"
    );
    let net = build(&yaml, &secrets).unwrap();
    let e = net
        .publish(&delivery("posts/a", "本文", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(!e.message.contains(APP_PASSWORD), "{}", e.message);
}

#[tokio::test]
async fn concurrent_posts_share_one_login() {
    let fake = fake_bluesky::start().await;
    let net = adapter(&fake);
    let deliveries: Vec<DeliveryRecord> = (0..5)
        .map(|i| delivery(&format!("posts/{i}"), &format!("お知らせ {i}"), vec![]))
        .collect();
    let results = futures_util::future::join_all(deliveries.iter().map(|d| net.publish(d))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fake.calls("com.atproto.server.createSession"), 1);
    assert_eq!(fake.records().len(), 5);
}
