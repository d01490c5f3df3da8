//! The facebook adapter against a fake Graph API: what is sent, how every kind of failure is
//! classified, and how a delivery cut short by a crash is settled.

#[path = "fakes/facebook.rs"]
mod fake_facebook;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fake_facebook::{Failure, Fake, TOKEN};
use oshirase::content::config::RepoConfig;
use oshirase::content::post::Image;
use oshirase::model::records::{DeliveryRecord, State};
use oshirase::networks::{
    AdapterContext, ErrorClass, MemoryMedia, NetError, Network, Networks, Settlement,
};
use oshirase::support::secrets::Secrets;

/// The Graph API version the adapter is pinned to (`GRAPH_VERSION` in the adapter).
const GRAPH_VERSION: &str = "v25.0";

const PNG: &str = "images/gomi-nenmatsu-calendar.png";

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .expect("the example PNG")
}

fn adapter_with(fake: &Fake, secrets: &str) -> Result<Arc<dyn Network>, String> {
    let yaml = format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: {{ mode: branch }}\n    networks:\n      fb: {}\n",
        fake.network_yaml("fb")
    );
    let config = RepoConfig::parse("oshirase.yaml", &yaml).expect("config");
    let secrets = Secrets::parse("secrets", secrets).expect("secrets");
    let account = &config.accounts["city"];
    let net = &account.networks["fb"];
    let media = MemoryMedia::new()
        .with(PNG, png())
        .with("images/second.png", png());
    Networks::adapter(&AdapterContext {
        account: &account.name,
        net,
        secrets: &secrets,
        media: Arc::new(media),
        public_url: None,
    })
    .map_err(|e| e.to_string())
}

async fn setup() -> (Fake, Arc<dyn Network>) {
    let fake = fake_facebook::start().await;
    let adapter = adapter_with(&fake, &fake.secrets()).expect("adapter");
    (fake, adapter)
}

fn image(path: &str, alt: Option<&str>) -> Image {
    Image {
        path: path.to_string(),
        alt: alt.map(str::to_string),
        mime: "image/png".into(),
        size: png().len() as u64,
        blob: None,
    }
}

fn delivery(text: &str, images: Vec<Image>) -> DeliveryRecord {
    DeliveryRecord {
        state: State::Publishing,
        images,
        attempts: 1,
        ..DeliveryRecord::new("city", "fb", "2026-12-20-gomi", text, Utc::now())
    }
}

fn assert_no_token(e: &NetError) {
    assert!(!e.message.contains(TOKEN), "token leaked: {}", e.message);
}

const TEXT: &str = "年末年始のごみ収集日程のお知らせ\n12月31日〜1月3日は収集がありません。\nhttps://www.city.example.jp/gomi";

#[tokio::test]
async fn text_post_goes_to_the_feed_with_the_token_in_a_header_only() {
    let (fake, net) = setup().await;
    let published = net
        .publish(&delivery(TEXT, vec![]))
        .await
        .expect("published");

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], TEXT);
    assert_eq!(posts[0]["images"].as_array().unwrap().len(), 0);
    let id = posts[0]["id"].as_str().unwrap();
    assert_eq!(published.remote_id.as_deref(), Some(id));
    assert_eq!(
        published.remote_url,
        Some(format!("https://www.facebook.com/{id}"))
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(
        r["path"],
        format!("/{GRAPH_VERSION}/{}/feed", fake_facebook::PAGE_ID)
    );
    assert_eq!(r["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(r["query"], "");
    assert!(r["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    let body = r["body"].as_str().unwrap();
    assert!(!body.contains(TOKEN));
    // The message, and its first link for Facebook's preview (tests/cards.rs: a link
    // Facebook cannot read does not block the post).
    let fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        fields,
        vec![
            ("message".to_string(), TEXT.to_string()),
            (
                "link".to_string(),
                "https://www.city.example.jp/gomi".to_string()
            )
        ]
    );
}

#[tokio::test]
async fn one_image_is_a_published_photo_with_caption_and_alt_text() {
    let (fake, net) = setup().await;
    let alt = "ごみ収集カレンダー：12月31日から1月3日まで収集なし";
    let published = net
        .publish(&delivery(TEXT, vec![image(PNG, Some(alt))]))
        .await
        .expect("published");

    let photos = fake.photos();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0]["bytes_len"], png().len());
    assert_eq!(photos[0]["content_type"], "image/png");
    assert_eq!(photos[0]["file_name"], "gomi-nenmatsu-calendar.png");
    assert_eq!(photos[0]["caption"], TEXT);
    assert_eq!(photos[0]["alt"], alt);
    assert_eq!(photos[0]["published"], true);

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], TEXT);
    assert_eq!(posts[0]["images"][0]["alt"], alt);
    assert_eq!(posts[0]["images"][0]["bytes_len"], png().len());
    // The post, not the photo, is what the delivery records (and a retract deletes).
    assert_eq!(published.remote_id.as_deref(), posts[0]["id"].as_str());
    let r = &fake.requests()[0];
    assert!(r["path"].as_str().unwrap().ends_with("/photos"));
    assert!(r["content_type"]
        .as_str()
        .unwrap()
        .starts_with("multipart/form-data"));
    assert_eq!(r["authorization"], format!("Bearer {TOKEN}"));
}

#[tokio::test]
async fn several_images_are_uploaded_unpublished_then_attached_to_one_post() {
    let (fake, net) = setup().await;
    let d = delivery(
        TEXT,
        vec![
            image(PNG, Some("カレンダー")),
            image("images/second.png", None),
        ],
    );
    let published = net.publish(&d).await.expect("published");

    let photos = fake.photos();
    assert_eq!(photos.len(), 2);
    assert!(photos.iter().all(|p| p["published"] == false));
    assert_eq!(photos[0]["alt"], "カレンダー");
    assert!(photos[1]["alt"].is_null());
    assert!(photos.iter().all(|p| p["caption"].is_null()));

    let posts = fake.posts();
    assert_eq!(posts.len(), 1, "one post, not one per photo");
    assert_eq!(posts[0]["text"], TEXT);
    let images = posts[0]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["id"], photos[0]["id"]);
    assert_eq!(images[1]["id"], photos[1]["id"]);
    assert_eq!(images[0]["bytes_len"], png().len());
    assert_eq!(published.remote_id.as_deref(), posts[0]["id"].as_str());

    let feed = fake.requests().pop().unwrap();
    let fields: Vec<(String, String)> =
        form_urlencoded::parse(feed["body"].as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(fields[0], ("message".to_string(), TEXT.to_string()));
    assert_eq!(fields[1].0, "attached_media[0]");
    let media: serde_json::Value = serde_json::from_str(&fields[1].1).unwrap();
    assert_eq!(media["media_fbid"], photos[0]["id"]);
}

#[tokio::test]
async fn an_image_that_cannot_be_read_is_permanent_and_named() {
    let (fake, net) = setup().await;
    let e = net
        .publish(&delivery(TEXT, vec![image("images/missing.png", None)]))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("images/missing.png"), "{}", e.message);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn a_refused_token_is_a_credentials_error_without_the_token() {
    let fake = fake_facebook::start().await;
    let secrets = format!(
        "{}FB_TEST_PAGE_TOKEN=EAAG-wrong-token-value\n",
        fake.declaration()
    );
    let net = adapter_with(&fake, &secrets).unwrap();
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains("190"), "{}", e.message);
    assert!(
        e.message.contains("Invalid OAuth access token"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("EAAG-wrong-token-value"));
    assert!(fake.posts().is_empty());

    // An expired token (190 with a subcode) and a missing permission (200) likewise.
    let (fake, net) = setup().await;
    fake.fail_next(
        1,
        Failure::Graph {
            status: 400,
            code: 190,
            subcode: Some(463),
            message: "Error validating access token: Session has expired".into(),
        },
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains("190/463"));
    assert!(e.message.contains("Session has expired"));
    assert_no_token(&e);
    fake.fail_next(
        1,
        Failure::graph(
            403,
            200,
            "(#200) The permission(s) pages_manage_posts are not available",
        ),
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains("pages_manage_posts"));
}

#[tokio::test]
async fn throttling_is_transient_and_waits_as_long_as_facebook_says() {
    let (fake, net) = setup().await;
    // The usage header's minutes win over a shorter Retry-After.
    fake.fail_next(
        1,
        Failure::Throttle {
            code: 32,
            retry_after: Some(30),
            regain_minutes: Some(5),
        },
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after, Some(Duration::from_secs(300)));
    assert!(e.message.contains("error 32"), "{}", e.message);

    fake.fail_next(
        1,
        Failure::Throttle {
            code: 4,
            retry_after: Some(20),
            regain_minutes: None,
        },
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(
        (e.class, e.retry_after),
        (ErrorClass::Transient, Some(Duration::from_secs(20)))
    );

    for code in [17, 341, 613] {
        fake.fail_next(
            1,
            Failure::Throttle {
                code,
                retry_after: None,
                regain_minutes: None,
            },
        );
        let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
        assert_eq!(
            (e.class, e.retry_after),
            (ErrorClass::Transient, None),
            "{code}"
        );
    }
    assert!(fake.posts().is_empty());
    // Once the throttle lifts, the same delivery goes out.
    net.publish(&delivery(TEXT, vec![]))
        .await
        .expect("published");
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn outages_are_transient() {
    let (fake, net) = setup().await;
    fake.fail_next(
        1,
        Failure::graph(
            500,
            2,
            "An unexpected error has occurred. Please retry your request later.",
        ),
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("retry your request later"));
    fake.fail_next(1, Failure::graph(400, 1, "An unknown error occurred"));
    assert_eq!(
        net.publish(&delivery(TEXT, vec![]))
            .await
            .unwrap_err()
            .class,
        ErrorClass::Transient
    );
    fake.fail_next(1, Failure::Http(503));
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("503"));
    assert_no_token(&e);
}

#[tokio::test]
async fn a_policy_block_is_permanent_and_keeps_facebooks_words_and_trace_id() {
    let (fake, net) = setup().await;
    fake.fail_next(
        1,
        Failure::graph(
            400,
            368,
            "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
        ),
    );
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("deemed abusive"), "{}", e.message);
    assert!(e.message.contains("AFakeTraceId42"), "{}", e.message);
    assert_eq!(e.retry_after, None);
    assert_no_token(&e);
}

#[tokio::test]
async fn a_malformed_success_is_an_error_not_a_panic() {
    let (fake, net) = setup().await;
    fake.fail_next(1, Failure::Raw(200, "<html>not json</html>".into()));
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("check the Page"), "{}", e.message);
    fake.fail_next(1, Failure::Raw(200, r#"{"no_id": true}"#.into()));
    assert!(net.publish(&delivery(TEXT, vec![])).await.is_err());
}

#[tokio::test]
async fn a_duplicate_of_an_older_post_is_permanent() {
    let (fake, net) = setup().await;
    // The same text went out yesterday (say, by hand); Facebook refuses it again.
    fake.seed_post(TEXT, Utc::now() - chrono::Duration::days(1));
    let e = net.publish(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("506"), "{}", e.message);
    assert!(
        e.message.contains("Duplicate status message"),
        "{}",
        e.message
    );
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn a_duplicate_of_this_deliverys_own_earlier_attempt_is_that_post() {
    let (fake, net) = setup().await;
    // The first attempt timed out on our side but Facebook had already posted it.
    let id = fake.seed_post(TEXT, Utc::now());
    let published = net.publish(&delivery(TEXT, vec![])).await.expect("settled");
    assert_eq!(published.remote_id.as_deref(), Some(id.as_str()));
    assert!(fake.posts().is_empty(), "nothing new was posted");
}

#[tokio::test]
async fn settle_finds_the_post_an_interrupted_attempt_made() {
    let (fake, net) = setup().await;
    let d = delivery(TEXT, vec![]);
    fake.seed_post("別のお知らせ", Utc::now());
    let id = fake.seed_post(&format!("{TEXT}\n"), Utc::now());
    fake.seed_post("さらに別のお知らせ", Utc::now());
    match net.settle(&d).await.expect("settled") {
        Settlement::Published(p) => {
            assert_eq!(p.remote_id.as_deref(), Some(id.as_str()));
            assert_eq!(p.remote_url, Some(format!("https://www.facebook.com/{id}")));
        }
        other => panic!("expected Published, got {other:?}"),
    }
    let r = fake.requests().pop().unwrap();
    assert_eq!(r["method"], "GET");
    assert!(r["path"].as_str().unwrap().ends_with("/posts"));
    assert!(!r["query"].as_str().unwrap().contains(TOKEN));
    assert!(r["query"].as_str().unwrap().contains("since="));
}

#[tokio::test]
async fn settle_reads_past_the_first_page() {
    let (fake, net) = setup().await;
    let id = fake.seed_post(TEXT, Utc::now());
    for i in 0..150 {
        fake.seed_post(&format!("お知らせ {i}"), Utc::now());
    }
    match net.settle(&delivery(TEXT, vec![])).await.unwrap() {
        Settlement::Published(p) => assert_eq!(p.remote_id, Some(id)),
        other => panic!("expected Published, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn settle_without_the_post_is_safe_to_retry() {
    let (fake, net) = setup().await;
    let d = delivery(TEXT, vec![]);
    // The same text long before this delivery's time is not this delivery's post.
    fake.seed_post(TEXT, d.publish_at - chrono::Duration::hours(3));
    fake.seed_post("別のお知らせ", Utc::now());
    assert_eq!(net.settle(&d).await.unwrap(), Settlement::SafeToRetry);
}

#[tokio::test]
async fn settle_with_too_many_posts_to_read_is_unknown() {
    let (fake, net) = setup().await;
    for i in 0..520 {
        fake.seed_post(&format!("お知らせ {i}"), Utc::now());
    }
    match net.settle(&delivery(TEXT, vec![])).await.unwrap() {
        Settlement::Unknown(why) => assert!(why.contains("too many"), "{why}"),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn settle_returns_a_failed_lookup_as_an_error() {
    let (fake, net) = setup().await;
    fake.fail_next(1, Failure::graph(500, 2, "Service temporarily unavailable"));
    let e = net.settle(&delivery(TEXT, vec![])).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_no_token(&e);
}

#[tokio::test]
async fn retract_deletes_the_post_and_an_already_deleted_post_is_fine() {
    let (fake, net) = setup().await;
    let published = net.publish(&delivery(TEXT, vec![])).await.unwrap();
    let mut d = delivery(TEXT, vec![]);
    d.state = State::Published;
    d.remote_id = published.remote_id.clone();
    d.retract_pending = true;

    net.retract(&d).await.expect("deleted");
    assert_eq!(fake.deletions(), vec![published.remote_id.clone().unwrap()]);
    assert_eq!(fake.posts()[0]["deleted"], true);
    let r = fake.requests().pop().unwrap();
    assert_eq!(r["method"], "DELETE");
    assert_eq!(
        r["path"],
        format!(
            "/{GRAPH_VERSION}/{}",
            published.remote_id.as_deref().unwrap()
        )
    );
    assert_eq!(r["authorization"], format!("Bearer {TOKEN}"));

    // Repeating an interrupted retract: Facebook says the object does not exist.
    net.retract(&d).await.expect("already gone is done");
    assert_eq!(fake.deletions().len(), 1);

    // Without a recorded id there is nothing to delete automatically.
    d.remote_id = None;
    let e = net.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);

    // A throttled delete is retried later, not taken as done.
    d.remote_id = Some("1234567890_777".into());
    fake.fail_next(
        1,
        Failure::Throttle {
            code: 32,
            retry_after: Some(60),
            regain_minutes: None,
        },
    );
    let e = net.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
}

#[tokio::test]
async fn a_missing_token_names_the_variable() {
    let fake = fake_facebook::start().await;
    let e = match adapter_with(&fake, &fake.declaration()) {
        Err(e) => e,
        Ok(_) => panic!("built without a token"),
    };
    assert!(e.contains("FB_TEST_PAGE_TOKEN"), "{e}");
    assert!(e.contains("accounts.city.networks.fb"), "{e}");
}

#[tokio::test]
async fn no_request_ever_carries_the_token_outside_the_authorization_header() {
    let (fake, net) = setup().await;
    let d = delivery(
        TEXT,
        vec![image(PNG, Some("alt")), image("images/second.png", None)],
    );
    let p = net.publish(&d).await.unwrap();
    net.settle(&d).await.unwrap();
    let mut gone = d.clone();
    gone.remote_id = p.remote_id;
    net.retract(&gone).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 5);
    for r in requests {
        assert!(!r["path"].as_str().unwrap().contains(TOKEN));
        assert!(!r["query"].as_str().unwrap().contains(TOKEN));
        assert!(!r["body"].as_str().unwrap().contains(TOKEN));
        assert_eq!(r["authorization"], format!("Bearer {TOKEN}"));
    }
}
