//! The `mastodon` adapter against a fake instance, built from `oshirase.yaml` and a secrets
//! file exactly as the service builds it.

#[path = "fakes/mastodon.rs"]
mod fake_mastodon;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fake_mastodon::{Failure, Fake, TOKEN};
use oshirase::content::config::RepoConfig;
use oshirase::content::post::Image;
use oshirase::model::records::{DeliveryRecord, State};
use oshirase::networks::{
    AdapterContext, ErrorClass, MemoryMedia, NetError, Network, Networks, Published, Settlement,
};
use oshirase::support::secrets::Secrets;

const PNG_PATH: &str = "images/gomi-nenmatsu-calendar.png";

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .unwrap()
}

fn yaml(networks: &str) -> String {
    format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: {{ mode: branch }}\n    networks:\n{networks}"
    )
}

/// The server's declaration of a Mastodon credential allowed to the host of `url`.
fn declared(name: &str, url: &str) -> String {
    let host = url.trim_start_matches("http://");
    format!("{name}_TYPE=mastodon\n{name}_HOSTS={host}\n")
}

/// The adapter for network `name` of `yaml`, with `secrets`.
fn build(yaml: &str, secrets: &str, name: &str) -> Result<Arc<dyn Network>, String> {
    let config = RepoConfig::parse("oshirase.yaml", yaml).unwrap();
    let secrets = Secrets::parse("secrets", secrets).unwrap();
    let net = &config.accounts["city"].networks[name];
    Networks::adapter(&AdapterContext {
        account: "city",
        net,
        secrets: &secrets,
        media: Arc::new(MemoryMedia::new().with(PNG_PATH, png())),
        public_url: None,
    })
    .map_err(|e| e.to_string())
}

fn adapter_with(fake: &Fake, extra: &str) -> Arc<dyn Network> {
    let y = yaml(&format!(
        "      toot: {}\n",
        fake.network_yaml_with("toot", extra)
    ));
    build(&y, &fake.secrets(), "toot").unwrap()
}

fn adapter(fake: &Fake) -> Arc<dyn Network> {
    adapter_with(fake, "")
}

fn delivery(post_id: &str, text: &str) -> DeliveryRecord {
    DeliveryRecord {
        state: State::Publishing,
        attempts: 1,
        ..DeliveryRecord::new("city", "toot", post_id, text, Utc::now())
    }
}

fn image(alt: Option<&str>) -> Image {
    Image {
        path: PNG_PATH.into(),
        alt: alt.map(str::to_string),
        mime: "image/png".into(),
        size: png().len() as u64,
        blob: None,
    }
}

/// An attempt that began `minutes` ago and never recorded its outcome.
fn crashed(post_id: &str, text: &str, minutes: i64) -> DeliveryRecord {
    let mut d = delivery(post_id, text);
    d.due_at = Utc::now() - chrono::Duration::minutes(minutes);
    d.publish_at = d.due_at;
    d
}

fn assert_secret_free(e: &NetError) {
    assert!(!e.message.contains(TOKEN), "token leaked: {}", e.message);
    assert!(
        !e.message.contains("Bearer"),
        "header leaked: {}",
        e.message
    );
}

#[tokio::test]
async fn publishes_text_with_the_key_visibility_and_token() {
    let fake = fake_mastodon::start().await;
    let net = adapter_with(&fake, "visibility: unlisted");
    let text = "年末年始のごみ収集日程をお知らせします。\nhttps://city.example.jp/gomi #足立区";
    let d = delivery("gomi-nenmatsu", text);

    let published = net.publish(&d).await.unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], text);
    assert_eq!(posts[0]["visibility"], "unlisted");
    assert_eq!(posts[0]["images"].as_array().unwrap().len(), 0);
    assert_eq!(posts[0]["idempotency_key"], d.key.as_str());
    let id = posts[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        published,
        Published {
            remote_id: Some(id.clone()),
            remote_url: Some(fake.status_url(&id)),
        }
    );
    let sent = fake.requests_to("POST", "/api/v1/statuses");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].headers["idempotency-key"], d.key);
    assert_eq!(sent[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert!(sent[0].headers["content-type"].starts_with("application/json"));
}

#[tokio::test]
async fn visibility_defaults_to_public() {
    let fake = fake_mastodon::start().await;
    adapter(&fake)
        .publish(&delivery("p", "おしらせ"))
        .await
        .unwrap();
    assert_eq!(fake.posts()[0]["visibility"], "public");
}

#[tokio::test]
async fn the_same_key_again_returns_the_same_status_instead_of_a_second() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let d = delivery("repeat", "一度だけ投稿されるお知らせ");

    let first = net.publish(&d).await.unwrap();
    let second = net.publish(&d).await.unwrap();

    assert_eq!(first, second);
    assert_eq!(fake.posts().len(), 1, "{:?}", fake.posts());
    let sent = fake.requests_to("POST", "/api/v1/statuses");
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|r| r.headers["idempotency-key"] == d.key));

    // Another delivery (another key) with the same text is a post of its own.
    let other = net
        .publish(&delivery("other", "一度だけ投稿されるお知らせ"))
        .await
        .unwrap();
    assert_ne!(other.remote_id, first.remote_id);
    assert_eq!(fake.posts().len(), 2);
}

#[tokio::test]
async fn uploads_images_with_alt_text() {
    let fake = fake_mastodon::start().await;
    fake.set_processing_polls(0);
    let net = adapter(&fake);
    let mut d = delivery("calendar", "年末年始のごみ収集カレンダー");
    d.images = vec![
        image(Some("12月29日から1月3日まで収集はお休みです")),
        image(None),
    ];

    net.publish(&d).await.unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], "年末年始のごみ収集カレンダー");
    let images = posts[0]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["alt"], "12月29日から1月3日まで収集はお休みです");
    assert_eq!(images[1]["alt"], serde_json::Value::Null);
    for i in images {
        assert_eq!(i["bytes_len"], png().len());
        assert_eq!(i["mime"], "image/png");
        assert_eq!(i["file_name"], "gomi-nenmatsu-calendar.png");
    }
    let uploads = fake.requests_to("POST", "/api/v2/media");
    assert_eq!(uploads.len(), 2);
    assert!(uploads[0].headers["content-type"].starts_with("multipart/form-data"));
    assert_eq!(
        uploads[0].headers["authorization"],
        format!("Bearer {TOKEN}")
    );
    // Processed at once (200 with a URL): nothing to wait for.
    assert!(fake
        .requests()
        .iter()
        .all(|r| !r.path.starts_with("/api/v1/media/")));
}

#[tokio::test]
async fn waits_for_an_image_still_processing() {
    let fake = fake_mastodon::start().await;
    // The upload answers 202, the first look 206, the second 200 with a URL; a status
    // made before that would be refused by the fake as by Mastodon.
    fake.set_processing_polls(1);
    let mut d = delivery("processing", "処理待ちの画像");
    d.images = vec![image(Some("カレンダー"))];

    adapter(&fake).publish(&d).await.unwrap();

    assert_eq!(fake.posts()[0]["images"][0]["alt"], "カレンダー");
    let polls = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/api/v1/media/"))
        .count();
    assert_eq!(polls, 2);
}

#[tokio::test]
async fn more_than_four_images_fail_before_anything_is_sent() {
    let fake = fake_mastodon::start().await;
    let mut d = delivery("five", "画像が多すぎる");
    d.images = (0..5).map(|_| image(None)).collect();

    let e = adapter(&fake).publish(&d).await.unwrap_err();

    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("at most 4 images"), "{}", e.message);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn text_over_the_limit_is_permanent_with_mastodons_message() {
    let fake = fake_mastodon::start().await;
    let e = adapter(&fake)
        .publish(&delivery("long", &"あ".repeat(501)))
        .await
        .unwrap_err();

    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message
            .contains("Validation failed: Text character limit of 500 exceeded"),
        "{}",
        e.message
    );
    assert_secret_free(&e);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_a_credentials_error_that_never_shows_the_token() {
    let fake = fake_mastodon::start().await;
    let y = yaml(&format!("      toot: {}\n", fake.network_yaml("toot")));
    let wrong = "MASTODON_TOOT_ACCESS_TOKEN=not-the-right-token-123\n";
    let net = build(&y, &format!("{}{wrong}", fake.declaration()), "toot").unwrap();

    let e = net.publish(&delivery("p", "text")).await.unwrap_err();

    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(
        e.message.contains("The access token is invalid"),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("not-the-right-token-123"),
        "{}",
        e.message
    );
    assert_secret_free(&e);
}

#[tokio::test]
async fn a_revoked_token_or_missing_scope_or_disabled_login_waits_for_an_operator() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    for failure in [
        Failure::TokenRevoked,
        Failure::Forbidden("This action is outside the authorized scopes".into()),
        Failure::Forbidden("Your login is currently disabled".into()),
    ] {
        fake.fail_next(1, failure.clone());
        let e = net.publish(&delivery("p", "text")).await.unwrap_err();
        assert_eq!(
            e.class,
            ErrorClass::Credentials,
            "{failure:?}: {}",
            e.message
        );
        assert_secret_free(&e);
    }
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn a_refused_action_is_permanent() {
    let fake = fake_mastodon::start().await;
    fake.fail_next(1, Failure::Forbidden("This action is not allowed".into()));
    let e = adapter(&fake)
        .publish(&delivery("p", "text"))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message.contains("This action is not allowed"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn rate_limited_waits_until_the_iso_reset_time() {
    let fake = fake_mastodon::start().await;
    fake.fail_next(1, Failure::RateLimited { reset_in_secs: 120 });
    let e = adapter(&fake)
        .publish(&delivery("p", "text"))
        .await
        .unwrap_err();

    assert_eq!(e.class, ErrorClass::Transient);
    let wait = e.retry_after.expect("retry_after from X-RateLimit-Reset");
    assert!(
        wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    assert!(e.message.contains("Too many requests"), "{}", e.message);
    assert_secret_free(&e);
}

#[tokio::test]
async fn unavailable_is_transient_and_the_retry_posts_once() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let d = delivery("p", "サーバーが混み合っていても一度だけ");
    fake.fail_next(1, Failure::Unavailable);

    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("503"), "{}", e.message);
    assert_eq!(e.retry_after, None);

    net.publish(&d).await.unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn an_unreachable_instance_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let y = yaml(&format!(
        "      toot: {{ type: mastodon, instance: https://mastodon.example, credentials: MASTODON_TOOT, base_url: http://127.0.0.1:{port} }}\n"
    ));
    let secrets = format!(
        "{}MASTODON_TOOT_ACCESS_TOKEN={TOKEN}",
        declared("MASTODON_TOOT", &format!("http://127.0.0.1:{port}"))
    );
    let net = build(&y, &secrets, "toot").unwrap();
    let e = net.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_secret_free(&e);
}

#[tokio::test]
async fn settle_soon_after_the_attempt_trusts_the_idempotency_key() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let d = crashed("p", "text", 10);

    assert_eq!(net.settle(&d).await.unwrap(), Settlement::SafeToRetry);
    assert!(fake.requests().is_empty(), "no need to ask the instance");
}

#[tokio::test]
async fn settle_after_the_key_expired_finds_the_status_by_its_text() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let text = "年末年始のごみ収集 <重要> & \"お知らせ\"\n\n詳しくは https://city.example.jp/kurashi/gomi/nenmatsu-nenshi-2026.html #ごみ";
    // The crashed attempt went through; the instance made the status.
    let d = crashed("gomi", text, 90);
    let made = net.publish(&d).await.unwrap();
    // Something newer in front of it, and the same text posted last year behind it.
    fake.add_status("別のお知らせ", Utc::now());
    fake.add_status(text, d.due_at - chrono::Duration::days(365));

    let settled = net.settle(&d).await.unwrap();

    assert_eq!(settled, Settlement::Published(made));
    assert_eq!(
        fake.requests_to("GET", "/api/v1/accounts/verify_credentials")
            .len(),
        1
    );
    let pages = fake.requests_to(
        "GET",
        &format!("/api/v1/accounts/{}/statuses", fake_mastodon::ACCOUNT_ID),
    );
    assert_eq!(pages.len(), 1);
    assert!(pages[0].query.contains("limit=40"), "{}", pages[0].query);
}

#[tokio::test]
async fn settle_after_the_key_expired_retries_when_the_status_is_not_there() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let text = "毎週のお知らせ：明日は資源ごみの日です";
    let d = crashed("weekly", text, 90);
    // The same words went out a week ago; that status is not this delivery's.
    fake.add_status(text, d.due_at - chrono::Duration::days(7));
    fake.add_status("ほかの投稿", Utc::now());

    assert_eq!(net.settle(&d).await.unwrap(), Settlement::SafeToRetry);
}

#[tokio::test]
async fn settle_pages_back_to_the_attempt() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let d = crashed("busy", "混雑した日のお知らせ", 120);
    let made = net.publish(&d).await.unwrap();
    for i in 0..45 {
        fake.add_status(&format!("その後の投稿 {i}"), Utc::now());
    }

    assert_eq!(net.settle(&d).await.unwrap(), Settlement::Published(made));
    let pages = fake.requests_to(
        "GET",
        &format!("/api/v1/accounts/{}/statuses", fake_mastodon::ACCOUNT_ID),
    );
    assert_eq!(pages.len(), 2);
    assert!(pages[1].query.contains("max_id="), "{}", pages[1].query);
}

#[tokio::test]
async fn settle_leaves_it_to_a_person_when_too_much_was_posted_since() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let d = crashed("buried", "埋もれたお知らせ", 120);
    net.publish(&d).await.unwrap();
    for i in 0..200 {
        fake.add_status(&format!("その後の投稿 {i}"), Utc::now());
    }

    let settled = net.settle(&d).await.unwrap();

    assert!(
        matches!(&settled, Settlement::Unknown(why) if why.contains("200 statuses")),
        "{settled:?}"
    );
    let pages = fake.requests_to(
        "GET",
        &format!("/api/v1/accounts/{}/statuses", fake_mastodon::ACCOUNT_ID),
    );
    assert_eq!(pages.len(), 5);
}

#[tokio::test]
async fn settle_after_retries_counts_from_the_first_possible_attempt() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    // The latest attempt began 10 minutes ago, but the first one (which may have gone
    // through and holds the key) was nearly two hours ago.
    let mut d = delivery("retried", "再送されたお知らせ");
    d.attempts = 3;
    d.due_at = Utc::now() - chrono::Duration::minutes(10);
    d.publish_at = Utc::now() - chrono::Duration::minutes(110);

    assert_eq!(net.settle(&d).await.unwrap(), Settlement::SafeToRetry);
    assert_eq!(
        fake.requests_to("GET", "/api/v1/accounts/verify_credentials")
            .len(),
        1,
        "the key may have expired, so the instance was asked"
    );
}

#[tokio::test]
async fn settle_returns_the_error_when_the_lookup_fails() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    fake.fail_next(1, Failure::Unavailable);

    let e = net.settle(&crashed("p", "text", 90)).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_secret_free(&e);

    fake.fail_next(1, Failure::TokenRevoked);
    let e = net.settle(&crashed("p", "text", 90)).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
}

#[tokio::test]
async fn retract_deletes_the_status_and_again_is_fine() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let mut d = delivery("oops", "間違えた投稿");
    let published = net.publish(&d).await.unwrap();
    d.remote_id = published.remote_id.clone();
    d.remote_url = published.remote_url;

    net.retract(&d).await.unwrap();
    assert_eq!(fake.deleted(), vec![published.remote_id.clone().unwrap()]);
    let deletes = fake.requests_to(
        "DELETE",
        &format!("/api/v1/statuses/{}", published.remote_id.unwrap()),
    );
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0].query.contains("delete_media=true"));

    // Already gone: still done.
    net.retract(&d).await.unwrap();
    assert_eq!(fake.deleted().len(), 1);
}

#[tokio::test]
async fn retract_failures_are_classified() {
    let fake = fake_mastodon::start().await;
    let net = adapter(&fake);
    let mut d = delivery("oops", "text");
    d.remote_id = Some(net.publish(&d).await.unwrap().remote_id.unwrap());

    fake.fail_next(1, Failure::RateLimited { reset_in_secs: 600 });
    let e = net.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.retry_after.unwrap() > Duration::from_secs(590));
    assert!(fake.deleted().is_empty());

    d.remote_id = None;
    let e = net.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
}

#[tokio::test]
async fn a_missing_secret_names_the_variable() {
    let fake = fake_mastodon::start().await;
    let y = yaml(&format!("      toot: {}\n", fake.network_yaml("toot")));
    let secrets = format!("{}OTHER_ACCESS_TOKEN=x\n", fake.declaration());
    let e = build(&y, &secrets, "toot").err().unwrap();
    assert!(e.contains("MASTODON_TOOT_ACCESS_TOKEN"), "{e}");
    assert!(e.contains("accounts.city.networks.toot"), "{e}");
}

#[tokio::test]
async fn an_unknown_visibility_is_refused_naming_the_field() {
    let fake = fake_mastodon::start().await;
    let y = yaml(&format!(
        "      toot: {}\n",
        fake.network_yaml_with("toot", "visibility: followers")
    ));
    // oshirase.yaml itself is refused, so `check` reports it before any merge.
    let e = RepoConfig::parse("oshirase.yaml", &y)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("accounts.city.networks.toot.visibility"), "{e}");
    assert!(e.contains("followers") && e.contains("unlisted"), "{e}");
    assert!(!e.contains(TOKEN));
}

#[tokio::test]
async fn instance_is_the_address_when_base_url_is_not_set() {
    let fake = fake_mastodon::start().await;
    // The fake's address given as `instance` itself, with a trailing slash.
    let y = yaml(&format!(
        "      toot: {{ type: mastodon, instance: {}/, credentials: MASTODON_TOOT }}\n",
        fake.base_url
    ));
    let secrets = format!(
        "{}MASTODON_TOOT_ACCESS_TOKEN={TOKEN}",
        declared("MASTODON_TOOT", &fake.base_url)
    );
    let net = build(&y, &secrets, "toot").unwrap();
    net.publish(&delivery("p", "instance")).await.unwrap();
    assert_eq!(fake.posts()[0]["text"], "instance");
    assert_eq!(fake.requests()[0].path, "/api/v1/statuses");
}
