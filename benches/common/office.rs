//! A large office's store for the benchmarks: 10,000 posts with 2–3 deliveries each and
//! 50,000 audit events, written through the `Store` API as sync would write them. Mostly
//! long published, a few needing a person, the last 800 still to come.

use chrono::{DateTime, TimeZone, Utc};
use oshirase::model::event::EventKind;
use oshirase::model::person::Person;
use oshirase::model::records::{DeliveryRecord, NewEvent, PostChange, PostRecord, State};
use oshirase::store::Store;

pub const POSTS: usize = 10_000;
pub const EVENTS_PER_POST: usize = 5;

const DEPARTMENTS: [&str; 6] = [
    "環境部 ごみ減量推進課",
    "福祉部 高齢福祉課",
    "危機管理部 災害対策課",
    "地域のちから推進部 観光交流課",
    "衛生部 保健予防課",
    "教育委員会 学務課",
];
const TOPICS: [&str; 6] = [
    "年末年始のごみ収集日程",
    "高齢者インフルエンザ予防接種",
    "防災訓練のお知らせ",
    "花火大会の交通規制",
    "熱中症にご注意ください",
    "小学校の入学説明会",
];

pub fn at(days: i64, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, hour, 0, 0).unwrap() + chrono::Duration::days(days)
}

/// One post as sync would write it: its record, 2–3 deliveries and five events.
pub fn change(i: usize) -> PostChange {
    let id = format!("posts/{:04}/{:02}-{}", 2025 + i / 5000, i % 12 + 1, i);
    let topic = TOPICS[i % TOPICS.len()];
    let publish_at = at((i % 730) as i64, (i % 12) as u32 + 8);
    let person = |name: &str, email: &str| Person {
        name: name.into(),
        email: email.into(),
        at: publish_at - chrono::Duration::days(2),
    };
    let post = PostRecord {
        id: id.clone(),
        title: format!("{topic}（第{i}報）"),
        file: format!("{id}.md"),
        account: Some(
            if i.is_multiple_of(4) {
                "kuyakusho"
            } else {
                "adachi"
            }
            .into(),
        ),
        department: Some(DEPARTMENTS[i % DEPARTMENTS.len()].into()),
        publish_at: Some(publish_at),
        proposer: Some(person("山田 花子", "yamada@city.example.jp")),
        approver: Some(person("佐藤 一郎", "koho-chief@city.example.jp")),
        commit: Some(format!("{:040x}", i * 7919)),
        blob: format!("{:040x}", i * 104_729),
        config_hash: "c0ffee".into(),
        errors: vec![],
        present: true,
        edited_after_publish: false,
        emergency: None,
        slot: None,
    };
    let body = format!(
        "{topic}についてお知らせします。\n日時：{}\n場所：区役所本庁舎\n詳しくは https://www.city.example.jp/news/{i}.html をご覧ください。",
        publish_at.format("%Y年%m月%d日 %H時")
    );
    let networks: &[&str] = if i.is_multiple_of(3) {
        &["x", "facebook", "mastodon"]
    } else {
        &["x", "facebook"]
    };
    // Most are long published; a few need a person; the last ones are still to come.
    let state = match i {
        _ if i >= POSTS - 800 => State::Scheduled,
        _ if i.is_multiple_of(97) => State::Failed,
        _ if i.is_multiple_of(89) => State::Held,
        _ if i.is_multiple_of(83) => State::Unknown,
        _ => State::Published,
    };
    let account = post.account.clone().unwrap();
    let deliveries: Vec<DeliveryRecord> = networks
        .iter()
        .map(|n| {
            let published = state == State::Published;
            DeliveryRecord {
                post_id: id.clone(),
                network: n.to_string(),
                account: account.clone(),
                state,
                key: DeliveryRecord::key_for(&account, n, &id),
                due_at: publish_at,
                publish_at,
                text: if *n == "facebook" {
                    format!("{body}\n\n{}", "お問い合わせは担当課まで。".repeat(8))
                } else {
                    body.clone()
                },
                images: vec![],
                attempts: u32::from(state != State::Scheduled && state != State::Held),
                remote_id: published.then(|| format!("{}", 1_800_000_000_000u64 + i as u64)),
                remote_url: published.then(|| format!("https://{n}.example/adachi/{i}")),
                last_error: (state == State::Failed).then(|| "403: duplicate content".into()),
                last_error_facts: None,
                published_at: published.then(|| publish_at + chrono::Duration::seconds(2)),
                next_attempt_at: None,
                called_at: None,
                count: None,
                retract_pending: false,
                retract_since: None,
                emergency: false,
                no_card: false,
                parts: vec![],
                messages: vec![],
                reply_to: None,
            }
        })
        .collect();
    let mut events = vec![
        NewEvent::service(
            &id,
            EventKind::Landed,
            None,
            format!("merged in {}", post.commit.as_deref().unwrap_or("")),
        ),
        NewEvent::service(&id, EventKind::Scheduled, None, publish_at.to_rfc3339()),
    ];
    for n in networks.iter().cycle().take(EVENTS_PER_POST - 2) {
        events.push(NewEvent::service(
            &id,
            EventKind::Publishing,
            Some(n),
            "attempt 1".into(),
        ));
    }
    PostChange {
        post,
        deliveries,
        events,
    }
}

pub fn fill(store: &Store) {
    for i in 0..POSTS {
        let c = change(i);
        let id = c.post.id.clone();
        store.apply_post(&id, move |_| Some(c)).expect("write");
    }
}

/// A temporary directory on tmpfs when there is one: the fill commits 10,000 transactions,
/// each synced to disk.
pub fn temp_dir() -> tempfile::TempDir {
    if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir")
}

/// The dashboard and API routes for `store` on a loopback port, as `serve` would give them.
pub async fn serve(store: std::sync::Arc<Store>, repo: &std::path::Path) -> std::net::SocketAddr {
    use oshirase::web;
    use oshirase::web::health::Health;
    use oshirase::web::state::AppState;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Never stopped: the routes live as long as the benchmark.
    std::mem::forget(stop_tx);
    let (sync_tx, sync_rx) = tokio::sync::mpsc::channel(1);
    std::mem::forget(sync_rx);
    let health = Health {
        last_sync_commit: Some(format!("{:040x}", 1)),
        last_sync_at: Some(Utc::now()),
        ..Health::default()
    };
    // `serve` builds the listings in the background once it listens
    // (`cli::serve::warm_listings`), long before anyone opens the dashboard; here the
    // browser starts at once, so they are built before it does.
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.listings().map(|_| ()))
        .await
        .expect("listings task")
        .expect("listings");
    let routes = web::routes(AppState {
        store,
        health: std::sync::Arc::new(std::sync::RwLock::new(health)),
        shutdown: stop_rx,
        hooks: oshirase::web::hooks::HookSettings::new(None, "main".into(), sync_tx),
        paused: Default::default(),
        repo: repo.to_path_buf(),
        forge: None,
        auth: None,
        desk: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    addr
}
