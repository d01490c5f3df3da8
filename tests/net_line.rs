//! The line adapter against a fake Messaging API: the broadcast it sends, the retry key that
//! makes repeats harmless, image URLs from the public address, and every failure class.

#[path = "fakes/line.rs"]
mod fake_line;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fake_line::{Failure, Fake, TOKEN};
use oshirase::content::config::RepoConfig;
use oshirase::content::post::Image;
use oshirase::model::records::{DeliveryRecord, State};
use oshirase::networks::{
    AdapterContext, ErrorClass, MemoryMedia, NetError, Network, Networks, Settlement,
};
use oshirase::support::secrets::Secrets;

const PUBLIC: &str = "https://oshirase.city.example.jp";
const BLOB: &str = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";

fn adapter_with(
    fake: &Fake,
    secrets: &str,
    public_url: Option<&str>,
) -> Result<Arc<dyn Network>, String> {
    let yaml = format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: {{ mode: branch }}\n    networks:\n      line: {}\n",
        fake.network_yaml("line")
    );
    let config = RepoConfig::parse("oshirase.yaml", &yaml).expect("config");
    let secrets = Secrets::parse("secrets", secrets).expect("secrets");
    let account = &config.accounts["city"];
    Networks::adapter(&AdapterContext {
        account: &account.name,
        net: &account.networks["line"],
        secrets: &secrets,
        media: Arc::new(MemoryMedia::new()),
        public_url: public_url.map(str::to_string),
    })
    .map_err(|e| e.to_string())
}

async fn setup(public_url: Option<&str>) -> (Fake, Arc<dyn Network>) {
    let fake = fake_line::start().await;
    let adapter = adapter_with(&fake, &fake.secrets(), public_url).expect("adapter");
    (fake, adapter)
}

fn image(path: &str, blob: Option<&str>) -> Image {
    Image {
        path: path.to_string(),
        alt: Some("ごみ収集カレンダー".into()),
        mime: "image/png".into(),
        size: 907,
        blob: blob.map(str::to_string),
    }
}

fn delivery(text: &str, images: Vec<Image>) -> DeliveryRecord {
    DeliveryRecord {
        state: State::Publishing,
        images,
        attempts: 1,
        ..DeliveryRecord::new("city", "line", "2026-12-20-gomi", text, Utc::now())
    }
}

/// The delivery key as a UUID, worked out here independently of the adapter: the 32 hex
/// digits in 8-4-4-4-12 groups, with the version nibble 4 and the variant bits 10.
fn expected_retry_key(key: &str) -> String {
    let mut b = hex::decode(key).unwrap();
    b[6] = 0x40 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn assert_no_token(e: &NetError) {
    assert!(!e.message.contains(TOKEN), "token leaked: {}", e.message);
}

const TEXT: &str = "【足立区】年末年始のごみ収集\n12月31日〜1月3日は収集がありません。\nhttps://www.city.example.jp/gomi";

#[tokio::test]
async fn a_text_broadcast_carries_the_retry_key_and_the_exact_text() {
    let (fake, net) = setup(None).await;
    let d = delivery(TEXT, vec![]);
    let published = net.publish(&d).await.expect("published");

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], TEXT);
    assert_eq!(
        posts[0]["messages"],
        serde_json::json!([{ "type": "text", "text": TEXT }])
    );
    assert_eq!(
        published.remote_id.as_deref(),
        posts[0]["request_id"].as_str()
    );
    assert_eq!(published.remote_url, None);

    let r = &fake.requests()[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/v2/bot/message/broadcast");
    assert_eq!(r["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(r["retry_key"], expected_retry_key(&d.key));
    assert!(r["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/json"));
    let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "messages": [{ "type": "text", "text": TEXT }] })
    );
}

#[tokio::test]
async fn sending_a_delivery_again_never_broadcasts_twice() {
    let (fake, net) = setup(None).await;
    let d = delivery(TEXT, vec![]);
    let first = net.publish(&d).await.unwrap();
    // A retry of the same delivery: LINE answers 409 with the id it accepted then.
    let again = net
        .publish(&d)
        .await
        .expect("a repeat is the same broadcast");
    assert_eq!(again.remote_id, first.remote_id);
    assert_eq!(fake.posts().len(), 1);
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(
        fake.requests()[1]["retry_key"],
        fake.requests()[0]["retry_key"]
    );

    // Another delivery has its own key and goes out.
    let mut other = delivery("別のお知らせ", vec![]);
    other.key = DeliveryRecord::key_for("city", "line", "2026-12-21-other");
    net.publish(&other).await.unwrap();
    assert_eq!(fake.posts().len(), 2);
}

#[tokio::test]
async fn an_accepted_broadcast_whose_answer_was_lost_is_found_by_retrying() {
    let (fake, net) = setup(None).await;
    fake.fail_next(1, Failure::AcceptThenFail(500));
    let d = delivery(TEXT, vec![]);
    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_no_token(&e);
    // The scheduler retries; LINE already has it.
    let published = net.publish(&d).await.expect("published");
    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        published.remote_id.as_deref(),
        posts[0]["request_id"].as_str()
    );
}

#[tokio::test]
async fn images_are_offered_at_the_public_address_by_blob() {
    let (fake, net) = setup(Some("https://oshirase.city.example.jp/")).await;
    let other = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
    let d = delivery(
        TEXT,
        vec![
            image("images/gomi.png", Some(BLOB)),
            image("images/map.png", Some(other)),
        ],
    );
    net.publish(&d).await.expect("published");
    let posts = fake.posts();
    assert_eq!(posts[0]["text"], TEXT);
    let images = posts[0]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["url"], format!("{PUBLIC}/media/{BLOB}"));
    assert_eq!(images[0]["preview"], format!("{PUBLIC}/media/{BLOB}"));
    assert_eq!(images[1]["url"], format!("{PUBLIC}/media/{other}"));
    // The text first, then the images in the post's order.
    assert_eq!(posts[0]["messages"][0]["type"], "text");
    assert_eq!(posts[0]["messages"][1]["type"], "image");
}

#[tokio::test]
async fn images_without_a_public_address_fail_for_the_operator_and_send_nothing() {
    // Building never fails for want of a public URL: text-only posts still go out.
    let (fake, net) = setup(None).await;
    let e = net
        .publish(&delivery(TEXT, vec![image("images/gomi.png", Some(BLOB))]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("--public-url"), "{}", e.message);
    assert!(fake.requests().is_empty());
    net.publish(&delivery(TEXT, vec![]))
        .await
        .expect("text only still works");

    let (fake, net) = setup(Some("http://intranet.example:8080")).await;
    let e = net
        .publish(&delivery(TEXT, vec![image("images/gomi.png", Some(BLOB))]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("HTTPS"), "{}", e.message);

    let e = net
        .publish(&delivery(TEXT, vec![image("images/gomi.png", None)]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_refused_token_is_a_credentials_error_without_the_token() {
    let fake = fake_line::start().await;
    let wrong = "line-wrong-token-value-xyz";
    let secrets = format!("{}LINE_TEST_CHANNEL_TOKEN={wrong}\n", fake.declaration());
    let net = adapter_with(&fake, &secrets, None).unwrap();
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains("Authentication failed"), "{}", e.message);
    assert!(!e.message.contains(wrong));
    assert!(fake.posts().is_empty());

    let (fake, net) = setup(None).await;
    fake.fail_next(
        1,
        Failure::Status(
            403,
            "Access to this API is not available for your account".into(),
        ),
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains("not available for your account"));
    assert_no_token(&e);
}

#[tokio::test]
async fn a_rejected_message_is_permanent_with_lines_details() {
    let (fake, net) = setup(None).await;
    let long = "あ".repeat(5001);
    let e = net.publish(&delivery(&long, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message.contains("The request body has 1 error(s)"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("messages[0].text: Length must be between 0 and 5000"),
        "{}",
        e.message
    );
    assert!(e.message.contains("x-line-request-id"), "{}", e.message);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn rate_limits_are_transient_but_the_monthly_limit_is_permanent() {
    let (fake, net) = setup(None).await;
    fake.fail_next(
        1,
        Failure::RateLimit {
            retry_after: Some(90),
        },
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after, Some(Duration::from_secs(90)));
    assert!(e.message.contains("rate limit"), "{}", e.message);

    fake.fail_next(1, Failure::MonthlyLimit);
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("monthly limit"), "{}", e.message);
    assert!(
        e.message.contains("LINE Official Account Manager"),
        "{}",
        e.message
    );
    assert_eq!(e.retry_after, None);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn server_errors_are_transient() {
    let (fake, net) = setup(None).await;
    fake.fail_next(1, Failure::Status(500, "Internal server error".into()));
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    fake.fail_next(1, Failure::Raw(502, "<html>Bad Gateway</html>".into()));
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("502"));
    assert_no_token(&e);
    // After the outage the same delivery goes out once.
    net.publish(&delivery(TEXT, vec![])).await.unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn a_malformed_success_is_checked_again_with_the_same_key() {
    let (fake, net) = setup(None).await;
    fake.fail_next(1, Failure::Raw(200, "not json".into()));
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("same retry key"), "{}", e.message);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn settle_is_a_safe_retry_while_the_retry_key_holds_and_unknown_after() {
    let (_fake, net) = setup(None).await;
    let mut d = delivery(TEXT, vec![]);
    d.publish_at = Utc::now() - chrono::Duration::hours(2);
    assert_eq!(net.settle(&d).await.unwrap(), Settlement::SafeToRetry);

    d.publish_at = Utc::now() - chrono::Duration::hours(25);
    match net.settle(&d).await.unwrap() {
        Settlement::Unknown(why) => assert!(why.contains("24-hour"), "{why}"),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retry_after_the_key_expired_is_refused_instead_of_risking_a_second_broadcast() {
    let (fake, net) = setup(None).await;
    let mut d = delivery(TEXT, vec![]);
    d.attempts = 3;
    d.publish_at = Utc::now() - chrono::Duration::hours(30);
    let e = net.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("twice"), "{}", e.message);
    assert!(fake.requests().is_empty());

    // A first attempt of a late delivery is fine: nothing can have reached LINE yet.
    d.attempts = 1;
    net.publish(&d).await.expect("first attempt");
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn a_broadcast_cannot_be_retracted() {
    let (fake, net) = setup(None).await;
    let mut d = delivery(TEXT, vec![]);
    d.state = State::Published;
    d.remote_id = Some("fake-req-0001".into());
    let e = net.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("correction"), "{}", e.message);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_missing_token_names_the_variable() {
    let fake = fake_line::start().await;
    let e = match adapter_with(&fake, &fake.declaration(), Some(PUBLIC)) {
        Err(e) => e,
        Ok(_) => panic!("built without a token"),
    };
    assert!(e.contains("LINE_TEST_CHANNEL_TOKEN"), "{e}");
    assert!(e.contains("accounts.city.networks.line"), "{e}");
}
