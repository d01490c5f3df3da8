//! The `x` adapter against a fake X API v2 that checks OAuth 1.0a signatures, bearer
//! tokens, lengths and duplicates the way X does; built exactly as the service builds it.

#[path = "fakes/x.rs"]
mod fake_x;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use oshirase::content::config::RepoConfig;
use oshirase::content::post::Image;
use oshirase::model::records::{DeliveryRecord, State};
use oshirase::networks::{
    AdapterContext, ErrorClass, MemoryMedia, NetError, Network, Networks, Published, Settlement,
};
use oshirase::support::secrets::Secrets;
use serde_json::json;

use fake_x::{Failure, Fake};

const PNG_PATH: &str = "images/gomi-nenmatsu-calendar.png";
const PNG2_PATH: &str = "images/second.png";

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content-example/posts/images/gomi-nenmatsu-calendar.png"
    ))
    .unwrap()
}

/// `network` is the flow mapping for `accounts.city.networks.x`.
fn build_from(network: &str, secrets: &str) -> Result<Arc<dyn Network>, String> {
    let yaml = format!(
        "timezone: Asia/Tokyo\naccounts:\n  city:\n    approval: {{ mode: branch }}\n    networks:\n      x: {network}\n"
    );
    let config = RepoConfig::parse("oshirase.yaml", &yaml).map_err(|e| e.to_string())?;
    let secrets = Secrets::parse("secrets", secrets).map_err(|e| e.to_string())?;
    let net = &config.accounts["city"].networks["x"];
    let media = MemoryMedia::new()
        .with(PNG_PATH, png())
        .with(PNG2_PATH, png());
    Networks::adapter(&AdapterContext {
        account: "city",
        net,
        secrets: &secrets,
        media: Arc::new(media),
        public_url: None,
    })
    .map_err(|e| e.to_string())
}

fn adapter(fake: &Fake) -> Arc<dyn Network> {
    build_from(&fake.network_yaml("x"), &fake.secrets()).unwrap()
}

fn delivery(post: &str, text: &str) -> DeliveryRecord {
    DeliveryRecord {
        state: State::Publishing,
        attempts: 1,
        ..DeliveryRecord::new("city", "x", post, text, Utc::now())
    }
}

fn image(path: &str, alt: Option<&str>) -> Image {
    Image {
        path: path.into(),
        alt: alt.map(str::to_string),
        mime: "image/png".into(),
        size: png().len() as u64,
        blob: None,
    }
}

fn assert_no_secret(fake: &Fake, e: &NetError) {
    for value in fake.secret_values() {
        assert!(
            !e.message.contains(value),
            "a secret leaked into: {}",
            e.message
        );
    }
}

#[test]
fn the_fakes_signer_agrees_with_the_published_vector() {
    fake_x::self_check();
}

#[tokio::test]
async fn oauth1_text_post_is_signed_json_and_returns_its_id_and_url() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let text = "年末年始のごみ収集日程をお知らせします。\n詳しくは https://www.city.adachi.tokyo.jp/ をご覧ください。";
    let published = x.publish(&delivery("gomi", text)).await.unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    let id = posts[0]["id"].as_str().unwrap().to_string();
    assert_eq!(posts[0]["text"], text);
    assert_eq!(
        published,
        Published {
            remote_id: Some(id.clone()),
            remote_url: Some(format!("https://x.com/i/web/status/{id}")),
        }
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/2/tweets"));
    assert_eq!(r.status, 201);
    assert!(r.content_type.starts_with("application/json"));
    // Exactly the text, and no empty media object.
    assert_eq!(r.json(), json!({ "text": text }));
    assert!(r.authorization.starts_with("OAuth "));
    let oauth = r.oauth_fields();
    assert_eq!(oauth["oauth_consumer_key"], fake_x::CONSUMER_KEY);
    assert_eq!(oauth["oauth_token"], fake_x::ACCESS_TOKEN);
    assert_eq!(oauth["oauth_signature_method"], "HMAC-SHA1");
    assert_eq!(oauth["oauth_version"], "1.0");
    assert_eq!(oauth["oauth_nonce"].len(), 32);
    let ts: i64 = oauth["oauth_timestamp"].parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    assert!(!oauth.contains_key("oauth_consumer_secret"));
    assert!(!r.authorization.contains(fake_x::CONSUMER_SECRET));
    assert!(!r.authorization.contains(fake_x::ACCESS_SECRET));
}

#[tokio::test]
async fn bearer_text_post_carries_the_token_and_uses_the_handle_in_the_url() {
    let fake = fake_x::start_bearer().await;
    let network = fake
        .network_yaml("x")
        .replace("{ type: x,", "{ type: x, handle: \"@adachi_city\",");
    let x = build_from(&network, &fake.secrets()).unwrap();
    let published = x
        .publish(&delivery("p", "粗大ごみの受付時間が変わります"))
        .await
        .unwrap();
    let id = fake.posts()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(published.remote_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        published.remote_url,
        Some(format!("https://x.com/adachi_city/status/{id}"))
    );
    let r = &fake.requests()[0];
    assert_eq!(r.authorization, format!("Bearer {}", fake_x::BEARER_TOKEN));
    assert_eq!(
        r.json(),
        json!({ "text": "粗大ごみの受付時間が変わります" })
    );
}

async fn images_with_alt_text(fake: Fake) {
    let x = adapter(&fake);
    let mut d = delivery("cal", "年末年始のごみ収集カレンダー");
    d.images = vec![
        image(PNG_PATH, Some("12月29日から1月3日まで収集はお休みです")),
        image(PNG2_PATH, None),
    ];
    let published = x.publish(&d).await.unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["id"].as_str(), published.remote_id.as_deref());
    let len = png().len();
    assert_eq!(
        posts[0]["images"],
        json!([
            { "alt": "12月29日から1月3日まで収集はお休みです", "bytes_len": len, "mime": "image/png",
              "media_category": "tweet_image", "file_name": "gomi-nenmatsu-calendar.png" },
            { "alt": null, "bytes_len": len, "mime": "image/png",
              "media_category": "tweet_image", "file_name": "second.png" },
        ])
    );
    // Upload, alt text, upload (no alt text to set), then the post naming both, in order.
    let requests = fake.requests();
    let calls: Vec<(&str, &str, u16)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.status))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("POST", "/2/media/upload", 200),
            ("POST", "/2/media/metadata", 200),
            ("POST", "/2/media/upload", 200),
            ("POST", "/2/tweets", 201),
        ]
    );
    let media: Vec<String> = fake
        .media()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        requests[1].json(),
        json!({ "id": media[0], "metadata": { "alt_text": { "text": "12月29日から1月3日まで収集はお休みです" } } })
    );
    assert_eq!(
        requests[3].json(),
        json!({ "text": "年末年始のごみ収集カレンダー", "media": { "media_ids": media } })
    );
    assert!(requests[0]
        .content_type
        .starts_with("multipart/form-data; boundary="));
}

#[tokio::test]
async fn oauth1_images_are_uploaded_with_alt_text_and_attached() {
    images_with_alt_text(fake_x::start().await).await;
}

#[tokio::test]
async fn bearer_images_are_uploaded_with_alt_text_and_attached() {
    images_with_alt_text(fake_x::start_bearer().await).await;
}

#[tokio::test]
async fn more_than_four_images_is_refused_before_anything_is_sent() {
    let fake = fake_x::start().await;
    let mut d = delivery("five", "five images");
    d.images = (0..5).map(|_| image(PNG_PATH, None)).collect();
    let e = adapter(&fake).publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("at most 4 images"), "{}", e.message);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_rate_limit_is_transient_and_waits_for_xs_reset() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    fake.fail_next(1, Failure::RateLimited { reset_in: 120 });
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    let wait = e.retry_after.unwrap();
    assert!(
        wait <= Duration::from_secs(120) && wait >= Duration::from_secs(110),
        "{wait:?}"
    );
    assert!(e.message.contains("429"), "{}", e.message);

    // The 24-hour posting cap outlasts the 15-minute window it is reported with.
    fake.fail_next(1, Failure::DailyCapSpent { reset_in: 7200 });
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    let wait = e.retry_after.unwrap();
    assert!(
        wait <= Duration::from_secs(7200) && wait >= Duration::from_secs(7190),
        "{wait:?}"
    );
    assert!(fake.posts().is_empty());

    // Once the limit has passed the same delivery goes through.
    x.publish(&delivery("p", "text")).await.unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn server_errors_and_lost_connections_are_transient() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    fake.fail_next(1, Failure::Unavailable);
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("503") && e.message.contains("Service Unavailable"));

    // Nothing listening: a connection error, transient, without the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let network = format!(
        "{{ type: x, credentials: {}, base_url: http://127.0.0.1:{closed} }}",
        fake.prefix
    );
    // The server allows the closed port for the credential (a later line wins).
    let secrets = format!(
        "{}{}_HOSTS=127.0.0.1:{closed}\n",
        fake.secrets(),
        fake.prefix
    );
    let e = build_from(&network, &secrets)
        .unwrap()
        .publish(&delivery("p", "text"))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(!e.message.contains("127.0.0.1"), "{}", e.message);
    assert_no_secret(&fake, &e);
}

#[tokio::test]
async fn a_duplicate_is_permanent_with_xs_message() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    x.publish(&delivery("a", "同じ文面")).await.unwrap();
    let e = x.publish(&delivery("b", "同じ文面")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message
            .contains("You are not allowed to create a Tweet with duplicate content."),
        "{}",
        e.message
    );
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn an_over_long_text_is_permanent_with_xs_message() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    // 141 CJK characters weigh 282.
    let e = x
        .publish(&delivery("long", &"あ".repeat(141)))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("400"), "{}", e.message);
    assert!(
        e.message.contains("Your Tweet text is too long"),
        "{}",
        e.message
    );
    // 140 of them fit.
    x.publish(&delivery("fits", &"あ".repeat(140)))
        .await
        .unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn a_wrong_oauth1_secret_is_a_credentials_error_naming_the_secrets() {
    let fake = fake_x::start().await;
    let secrets = fake
        .secrets()
        .replace(fake_x::ACCESS_SECRET, "not-the-right-secret");
    let x = build_from(&fake.network_yaml("x"), &secrets).unwrap();
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains("401"), "{}", e.message);
    assert!(e.message.contains(&fake.prefix), "{}", e.message);
    assert!(!e.message.contains("not-the-right-secret"));
    assert_no_secret(&fake, &e);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn a_wrong_bearer_token_is_a_credentials_error() {
    let fake = fake_x::start_bearer().await;
    let secrets = format!(
        "{}{}_BEARER_TOKEN=expired-token-value\n",
        fake.declaration(),
        fake.prefix
    );
    let x = build_from(&fake.network_yaml("x"), &secrets).unwrap();
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains(&format!("{}_BEARER_TOKEN", fake.prefix)));
    assert!(!e.message.contains("expired-token-value"));
}

#[tokio::test]
async fn a_403_for_app_permissions_is_a_credentials_error_with_xs_words() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let detail = "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.";
    fake.fail_next(1, Failure::Forbidden(detail.into()));
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(e.message.contains(detail), "{}", e.message);
    assert_no_secret(&fake, &e);

    // Out of pay-per-use credits: every post would fail, so the network waits for a person.
    fake.fail_next(
        1,
        Failure::Status(
            402,
            json!({ "title": "CreditsDepleted", "detail": "Your enrolled account does not have any credits to fulfill this request.", "type": "https://api.twitter.com/2/problems/credits", "status": 402 }),
        ),
    );
    let e = x.publish(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    assert!(
        e.message.contains("does not have any credits"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_bad_media_upload_is_permanent_with_xs_message() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    fake.fail_next_on(
        "POST",
        "/2/media/upload",
        1,
        Failure::Status(
            400,
            json!({ "errors": [{ "message": "File size exceeds 5242880 bytes." }], "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request" }),
        ),
    );
    let mut d = delivery("img", "with an image");
    d.images = vec![image(PNG_PATH, Some("alt"))];
    let e = x.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message.contains("File size exceeds 5242880 bytes."),
        "{}",
        e.message
    );
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn settle_finds_a_post_that_went_through_despite_t_co_links() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let text =
        "資源ごみ & 粗大ごみの日程: https://www.city.adachi.tokyo.jp/gomi/nenmatsu.html\n<重要>";
    let mut d = delivery("gomi", text);
    d.images = vec![image(PNG_PATH, Some("カレンダー"))];
    let published = x.publish(&d).await.unwrap();
    let id = published.remote_id.clone().unwrap();
    // X shows the text differently from what was sent; the lookup must still see it.
    let shown = fake.shown_text(&id).unwrap();
    assert!(shown.contains("https://t.co/") && shown.contains("&amp;") && shown != text);

    let settled = x.settle(&d).await.unwrap();
    assert_eq!(settled, Settlement::Published(published));
    let lookups: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(lookups[0].path, "/2/users/me");
    assert_eq!(
        lookups[1].path,
        format!("/2/users/{}/tweets", fake_x::USER_ID)
    );
    assert!(
        lookups[1].query.contains("start_time="),
        "{}",
        lookups[1].query
    );
    assert!(lookups[1].query.contains("max_results=100"));
}

#[tokio::test]
async fn settle_is_safe_to_retry_when_no_recent_post_has_the_text() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let d = delivery("p", "燃やすごみの収集日が変わります");
    fake.seed_post("別のお知らせ", Utc::now() - ChronoDuration::minutes(1));
    // The same text, but long before this delivery could have been sent.
    fake.seed_post(&d.text, Utc::now() - ChronoDuration::days(30));
    assert_eq!(x.settle(&d).await.unwrap(), Settlement::SafeToRetry);

    // Bearer tokens are asked the same way.
    let fake = fake_x::start_bearer().await;
    assert_eq!(
        adapter(&fake).settle(&d).await.unwrap(),
        Settlement::SafeToRetry
    );
}

#[tokio::test]
async fn settle_reads_further_pages_of_the_timeline() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let d = delivery("p", "区役所の窓口時間の変更");
    let published = x.publish(&d).await.unwrap();
    for i in 0..150 {
        fake.seed_post(
            &format!("後のお知らせ {i}"),
            Utc::now() + ChronoDuration::seconds(1),
        );
    }
    assert_eq!(
        x.settle(&d).await.unwrap(),
        Settlement::Published(published)
    );
    let pages = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/tweets") && r.method == "GET")
        .count();
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn settle_is_unknown_when_too_many_posts_to_search() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    for i in 0..501 {
        fake.seed_post(
            &format!("お知らせ {i}"),
            Utc::now() - ChronoDuration::seconds(10),
        );
    }
    match x
        .settle(&delivery("p", "探しているお知らせ"))
        .await
        .unwrap()
    {
        Settlement::Unknown(why) => assert!(why.contains("500"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn settle_returns_the_error_when_x_cannot_be_asked() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    fake.fail_next(1, Failure::Unavailable);
    let e = x.settle(&delivery("p", "text")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    fake.fail_next_on("GET", "/2/users/", 1, Failure::RateLimited { reset_in: 60 });
    let e = x.settle(&delivery("p", "text")).await.unwrap_err();
    assert!(e.retry_after.is_some());
    assert_no_secret(&fake, &e);
}

#[tokio::test]
async fn a_retry_refused_as_duplicate_finds_the_post_its_lost_attempt_made() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let mut d = delivery("p", "台風接近に伴う臨時休館のお知らせ");
    // X creates the post but the answer never arrives.
    fake.fail_next_on("POST", "/2/tweets", 1, Failure::AcceptThenFail);
    let e = x.publish(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(fake.posts().len(), 1);

    d.attempts = 2;
    let published = x.publish(&d).await.unwrap();
    let posts = fake.posts();
    assert_eq!(posts.len(), 1, "no second post");
    assert_eq!(published.remote_id.as_deref(), posts[0]["id"].as_str());
}

#[tokio::test]
async fn retract_deletes_and_an_already_deleted_post_is_fine() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let mut d = delivery("p", "取り消すお知らせ");
    let published = x.publish(&d).await.unwrap();
    d.state = State::Published;
    d.remote_id = published.remote_id.clone();
    d.remote_url = published.remote_url.clone();

    x.retract(&d).await.unwrap();
    assert_eq!(fake.deleted(), vec![published.remote_id.clone().unwrap()]);
    assert_eq!(fake.posts()[0]["deleted"], true);
    // Repeating an interrupted retract: X deletes nothing and that is success.
    x.retract(&d).await.unwrap();
    let last = fake.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), last.status), ("DELETE", 200));
    assert_eq!(fake.deleted().len(), 1);
    // A post X does not know (404) is gone too; an id given only by URL is used.
    let mut by_url = d.clone();
    by_url.remote_id = None;
    by_url.remote_url = Some("https://x.com/adachi_city/status/1234567890123".into());
    x.retract(&by_url).await.unwrap();
    let last = fake.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("DELETE", "/2/tweets/1234567890123", 404)
    );
    // Without any id there is nothing to delete: a person must.
    let mut none = d.clone();
    none.remote_id = None;
    none.remote_url = None;
    let e = x.retract(&none).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
}

#[tokio::test]
async fn retract_failures_are_classified() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let mut d = delivery("p", "text");
    d.remote_id = Some("1870000000000000005".into());
    fake.fail_next(1, Failure::Unauthorized);
    let e = x.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Credentials);
    fake.fail_next(1, Failure::Unavailable);
    let e = x.retract(&d).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient);
}

#[tokio::test]
async fn a_missing_secret_is_named_and_no_value_is_shown() {
    let fake = fake_x::start().await;
    let yaml = fake.network_yaml("x");
    let p = &fake.prefix;

    let without_access_secret: String = fake
        .secrets()
        .lines()
        .filter(|l| !l.contains("_ACCESS_SECRET="))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = build_from(&yaml, &without_access_secret).err().unwrap();
    assert!(e.contains(&format!("{p}_ACCESS_SECRET")), "{e}");
    for value in fake.secret_values() {
        assert!(!e.contains(value), "{e}");
    }

    let e = build_from(&yaml, &fake.declaration()).err().unwrap();
    assert!(e.contains(&format!("{p}_CONSUMER_KEY")), "{e}");
    assert!(e.contains(&format!("{p}_BEARER_TOKEN")), "{e}");
    assert!(e.contains("accounts.city.networks.x"), "{e}");
}

#[tokio::test]
async fn oauth1_wins_when_both_kinds_of_secret_are_set() {
    let fake = fake_x::start().await;
    let both = format!(
        "{}{}_BEARER_TOKEN={}\n",
        fake.secrets(),
        fake.prefix,
        fake_x::BEARER_TOKEN
    );
    build_from(&fake.network_yaml("x"), &both)
        .unwrap()
        .publish(&delivery("p", "text"))
        .await
        .unwrap();
    assert!(fake.requests()[0].authorization.starts_with("OAuth "));
}

#[tokio::test]
async fn no_error_message_carries_a_secret() {
    let fake = fake_x::start().await;
    let x = adapter(&fake);
    let mut errors = Vec::new();
    for failure in [
        Failure::Unauthorized,
        Failure::Unavailable,
        Failure::RateLimited { reset_in: 5 },
        Failure::Forbidden("You are not permitted to perform this action.".into()),
    ] {
        fake.fail_next(1, failure);
        errors.push(x.publish(&delivery("p", "text")).await.unwrap_err());
    }
    fake.fail_next(1, Failure::Unauthorized);
    errors.push(x.settle(&delivery("p", "text")).await.unwrap_err());
    let mut d = delivery("p", "text");
    d.remote_id = Some("1".into());
    fake.fail_next(1, Failure::Unauthorized);
    errors.push(x.retract(&d).await.unwrap_err());
    let bearer = fake_x::start_bearer().await;
    let wrong = build_from(
        &bearer.network_yaml("x"),
        &format!(
            "{}{}_BEARER_TOKEN=wrong-{}",
            bearer.declaration(),
            bearer.prefix,
            fake_x::BEARER_TOKEN
        ),
    )
    .unwrap();
    errors.push(wrong.publish(&delivery("p", "text")).await.unwrap_err());
    assert_eq!(errors.len(), 7);
    for e in &errors {
        assert_no_secret(&fake, e);
        assert!(!e.message.contains("OAuth oauth_"), "{}", e.message);
    }
}
