//! `oshirase demo`: the whole story in one command, with no credentials.
//!
//! It copies the embedded `content-example/` into a scratch git repository, has a staff
//! member propose the posts on a branch and a supervisor merge them, moves a few of them to
//! fall due within the next minute, and serves the result with every network swapped for an
//! outbox, printing each publication as it happens. Then the crisis-management section
//! pushes an emergency post straight to the branch, which goes out at once ahead of the
//! queue; later it plays one more pull request and one post pushed without review, so the
//! dashboard shows a live pickup and a held post.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use git2::{Oid, Repository, Signature};
use rust_embed::RustEmbed;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::cli::serve::{ServeError, ServeSettings, Service};
use crate::model::event::EventKind;
use crate::model::records::Event;
use crate::store::Store;
use crate::web::auth::people::{NewPerson, PasswordOrigin, People, PeopleFile, Role};

#[derive(RustEmbed)]
#[folder = "content-example/"]
struct Example;

const STAFF: (&str, &str) = ("山田 花子 (環境部)", "yamada.hanako@city.example.jp");
const SUPERVISOR: (&str, &str) = ("佐藤 一郎 (広報課長)", "koho-chief@city.example.jp");
/// content-example's emergency approver: the crisis-management section's duty officer.
const CRISIS: (&str, &str) = ("鈴木 守 (危機管理部)", "kiki-kanri@city.example.jp");

/// The example's emergency post, kept out of the staff's proposal: the crisis-management
/// section pushes it straight to the branch while the posts made due soon wait their turn.
const EMERGENCY: &str = "posts/emergency/jishin-hinanjo.md";

/// Posts that the demo makes due soon, in this order.
const SOON: [&str; 3] = [
    "posts/2026-12-20-gomi-nenmatsu.md",
    "posts/2027-01-08-bousai-kunren.md",
    "posts/2026-12-05-influenza-yobou.md",
];

/// The example repository's time zone, Asia/Tokyo, which has no daylight-saving time.
fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Where the scratch repository and data go; a new temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// Time between the posts made due soon (the first falls due after one step).
    pub step: Duration,
    /// Where the service's own log goes, named to the reader (`oshirase demo` keeps it out
    /// of the story it prints).
    pub log: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("preparing the demo repository: {0}")]
    Git(#[from] git2::Error),
    #[error("preparing the demo directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("the demo stopped: {0}")]
    Died(String),
    #[error("the demo's people: {0}")]
    People(#[from] crate::web::auth::people::PeopleError),
}

/// The scratch repository, as the demo built it.
pub struct DemoRepo {
    pub dir: PathBuf,
    pub repo: PathBuf,
    pub data: PathBuf,
}

/// The demo's two people, who sign in on the desk: (e-mail, name, department, role).
pub const DEMO_PEOPLE: [(&str, &str, &str, Role); 2] = [
    (
        "yamada@demo.city.example.jp",
        "山田 花子",
        "環境部 清掃課",
        Role::Staff,
    ),
    (
        // Listed in content-example's `approvers`, so the desk's approve button works for
        // them; an admin, so the people page can be tried too.
        "koho-deputy@city.example.jp",
        "佐藤 一郎",
        "広報課",
        Role::Admin,
    ),
];

/// A demo person's address, role and this run's password.
pub struct DemoPerson {
    pub email: &'static str,
    pub role: Role,
    pub password: String,
}

/// Gives each demo person a new random password in the data directory's people.json and
/// returns them, to be printed: the demo's passwords are never the same twice.
fn demo_people(data: &Path) -> Result<Vec<DemoPerson>, DemoError> {
    use rand::distr::{Alphanumeric, SampleString};
    let mut people = People::load(data)?;
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (email, name, department, role) in DEMO_PEOPLE {
        let password = Alphanumeric.sample_string(&mut rand::rng(), 16);
        // The lowest cost accepted: these passwords are printed for anyone at the terminal.
        let iterations = 1_000;
        if people.find(email).is_some() {
            people.set_password(email, &password, PasswordOrigin::Own, iterations, now)?;
        } else {
            people.add(
                NewPerson {
                    email,
                    name,
                    department: Some(department),
                    role,
                    password: &password,
                    origin: PasswordOrigin::Own,
                    iterations,
                },
                now,
            )?;
        }
        out.push(DemoPerson {
            email,
            role,
            password,
        });
    }
    people.save(data)?;
    Ok(out)
}

/// Builds the scratch repository: main with the configuration, a staff branch with the
/// posts, and a supervisor's merge of it.
pub fn prepare(dir: &Path, step: Duration) -> Result<DemoRepo, DemoError> {
    let repo_dir = dir.join("content");
    std::fs::create_dir_all(&repo_dir)?;
    let mut init = git2::RepositoryInitOptions::new();
    init.initial_head("main");
    let git = Repository::init_opts(&repo_dir, &init)?;

    // The supervisor sets the repository up: configuration and README, no posts yet.
    let (setup, posts): (Vec<_>, Vec<_>) = Example::iter().partition(|p| !p.starts_with("posts/"));
    let posts: Vec<_> = posts.into_iter().filter(|p| p != EMERGENCY).collect();
    for name in &setup {
        write_example(&repo_dir, name, None)?;
    }
    let base = commit(&git, &setup, SUPERVISOR, "投稿リポジトリを作成", &[], None)?;

    // A staff member proposes the season's notices on a branch; a few fall due soon, and
    // the others keep their order and spacing from tomorrow on, whatever today's date.
    let now = Utc::now();
    let shift = days_to_tomorrow(&posts, now);
    for name in &posts {
        let at = match SOON.iter().position(|s| *s == name.as_ref()) {
            // One, two and four steps: the emergency, pushed at one and a half, has two
            // and a half steps to go out before the last of them, even on a busy machine.
            Some(i) => {
                let steps = [1, 2, 4][i.min(2)];
                Some(now + chrono::Duration::from_std(step * steps).unwrap_or_default())
            }
            None => example_publish_at(name).map(|at| at + shift),
        };
        let at = at.map(|at| {
            at.with_timezone(&jst())
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        });
        write_example(&repo_dir, name, at.as_deref())?;
    }
    let proposal = commit(
        &git,
        &posts,
        STAFF,
        "年末年始・冬のお知らせを追加",
        &[base],
        Some("refs/heads/staff/winter-notices"),
    )?;
    // The supervisor approves by merging the pull request.
    commit(
        &git,
        &[] as &[&str],
        SUPERVISOR,
        "Merge pull request #12 from staff/winter-notices\n\n年末年始・冬のお知らせ",
        &[base, proposal],
        Some("refs/heads/main"),
    )?;
    Ok(DemoRepo {
        dir: dir.to_path_buf(),
        data: dir.join("data"),
        repo: repo_dir,
    })
}

/// The `publish_at` an example post was written with: RFC 3339, or `"YYYY-MM-DD HH:MM"`
/// in the example's time zone.
fn example_publish_at(name: &str) -> Option<DateTime<Utc>> {
    let file = Example::get(name)?;
    let text = String::from_utf8_lossy(&file.data).into_owned();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("publish_at:"))?
        .trim()
        .trim_matches('"');
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&Utc));
    }
    let local = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M").ok()?;
    Some(
        local
            .and_local_timezone(jst())
            .single()?
            .with_timezone(&Utc),
    )
}

/// Whole days that move the earliest dated example post (of those not made due soon) to
/// tomorrow, at its own time of day: the example was written for one winter, and a demo in
/// another year must not show its posts as missed.
fn days_to_tomorrow(posts: &[impl AsRef<str>], now: DateTime<Utc>) -> chrono::Duration {
    let earliest = posts
        .iter()
        .filter(|p| !SOON.contains(&p.as_ref()))
        .filter_map(|p| example_publish_at(p.as_ref()))
        .min();
    let Some(earliest) = earliest else {
        return chrono::Duration::zero();
    };
    let today = now.with_timezone(&jst()).date_naive();
    let first = earliest.with_timezone(&jst()).date_naive();
    chrono::Duration::days((today - first).num_days() + 1)
}

/// Writes one example file into the work tree, replacing its `publish_at` when asked.
fn write_example(repo_dir: &Path, name: &str, publish_at: Option<&str>) -> Result<(), DemoError> {
    let Some(file) = Example::get(name) else {
        return Ok(());
    };
    let path = repo_dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes = match publish_at {
        None => file.data.into_owned(),
        Some(at) => String::from_utf8_lossy(&file.data)
            .lines()
            .map(|l| {
                if l.starts_with("publish_at:") {
                    format!("publish_at: {at}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
    };
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Stages `paths` from the work tree and commits them with `who` as author and committer.
fn commit(
    git: &Repository,
    paths: &[impl AsRef<str>],
    who: (&str, &str),
    message: &str,
    parents: &[Oid],
    update: Option<&str>,
) -> Result<Oid, DemoError> {
    let mut index = git.index()?;
    for p in paths {
        index.add_path(Path::new(p.as_ref()))?;
    }
    index.write()?;
    let tree = git.find_tree(index.write_tree()?)?;
    let sig = Signature::now(who.0, who.1)?;
    let parents: Vec<_> = parents
        .iter()
        .map(|p| git.find_commit(*p))
        .collect::<Result<_, _>>()?;
    let parent_refs: Vec<_> = parents.iter().collect();
    let update = update.or(if parents.is_empty() {
        Some("refs/heads/main")
    } else {
        None
    });
    Ok(git.commit(update, &sig, &sig, message, &tree, &parent_refs)?)
}

/// The earthquake: the crisis-management section pushes the example's emergency post
/// straight to main, with no pull request.
pub fn play_emergency(repo_dir: &Path) -> Result<(), DemoError> {
    let git = Repository::open(repo_dir)?;
    let main = git.refname_to_id("refs/heads/main")?;
    write_example(repo_dir, EMERGENCY, None)?;
    commit(
        &git,
        &[EMERGENCY],
        CRISIS,
        "緊急: 地震による避難所の開設",
        &[main],
        Some("refs/heads/main"),
    )?;
    Ok(())
}

/// Later in the demo: one more pull request merged by the supervisor (due shortly after),
/// and one post pushed straight to main by a staff member (held: nobody approved it).
pub fn play_later_changes(repo_dir: &Path, due_in: Duration) -> Result<(), DemoError> {
    let git = Repository::open(repo_dir)?;
    let main = git.refname_to_id("refs/heads/main")?;
    let at = (Utc::now() + chrono::Duration::from_std(due_in).unwrap_or_default())
        .with_timezone(&jst())
        .format("%Y-%m-%dT%H:%M:%S%:z");
    let rinji = "posts/rinji-suido-kouji.md";
    std::fs::write(
        repo_dir.join(rinji),
        format!(
            "---\ntitle: 水道管工事に伴う通行止め\npublish_at: {at}\nnetworks: [x, portal]\n\
             department: 都市建設部 道路整備課\n---\n\
             水道管の工事のため、次の区間を通行止めにします。\n\n\
             日時：12月2日（水）9時～16時\n場所：区役所通り（中央本町一丁目交差点～二丁目交差点）\n\n\
             ご不便をおかけしますが、ご協力をお願いします。\n#足立区\n"
        ),
    )?;
    let proposal = commit(
        &git,
        &[rinji],
        STAFF,
        "通行止めのお知らせを追加",
        &[main],
        Some("refs/heads/staff/rinji"),
    )?;
    let merged = commit(
        &git,
        &[] as &[&str],
        SUPERVISOR,
        "Merge pull request #13 from staff/rinji",
        &[main, proposal],
        Some("refs/heads/main"),
    )?;
    let direct = "posts/test-direct-push.md";
    std::fs::write(
        repo_dir.join(direct),
        "---\ntitle: （テスト）レビューなしの投稿\nnetworks: [portal]\ndepartment: 環境部 清掃事務所\n---\nこれはレビューを通さずに main へ直接 push された投稿です。\n",
    )?;
    commit(
        &git,
        &[direct],
        STAFF,
        "テスト投稿",
        &[merged],
        Some("refs/heads/main"),
    )?;
    Ok(())
}

/// Runs the demo until `stop` resolves, printing what happens through `print`.
pub async fn run(
    options: DemoOptions,
    mut print: impl FnMut(String) + Send + 'static,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DemoError> {
    let (service, demo, passwords) = start(&options).await?;
    print_banner(&options, &service, &demo, &mut print);
    for p in &passwords {
        print(format!(
            "  sign in ({}): {}  password: {}",
            p.role.as_str(),
            p.email,
            p.password
        ));
    }
    let events = service.store.subscribe();
    print_posts(&service.store, &mut print).await;
    let printer = tokio::spawn(print_events(service.store.clone(), events, print));
    let emergency = {
        let repo = demo.repo.clone();
        let step = options.step;
        tokio::spawn(async move {
            // Between the first post made due soon and the second: the others are queued.
            tokio::time::sleep(step * 3 / 2).await;
            if let Err(e) = tokio::task::spawn_blocking(move || play_emergency(&repo)).await {
                tracing::warn!("demo: {e}");
            }
        })
    };
    let later = {
        let repo = demo.repo.clone();
        let step = options.step;
        tokio::spawn(async move {
            tokio::time::sleep(step * 4).await;
            if let Err(e) =
                tokio::task::spawn_blocking(move || play_later_changes(&repo, step)).await
            {
                tracing::warn!("demo: {e}");
            }
        })
    };
    let desk = {
        let (addr, step) = (service.addr, options.step);
        tokio::spawn(async move {
            tokio::time::sleep(step * 6).await;
            let played = match crate::networks::http::init() {
                Ok(client) => super::demo_desk::play(client, addr, &passwords, step).await,
                Err(e) => return tracing::warn!("demo: the desk story: {e}"),
            };
            if let Err(e) = played {
                tracing::warn!("demo: the desk story: {e}");
            }
        })
    };
    let died = tokio::select! {
        () = stop => None,
        why = service.failed() => Some(why),
    };
    desk.abort();
    emergency.abort();
    later.abort();
    service.shutdown().await;
    printer.abort();
    died.map_or(Ok(()), |why| Err(DemoError::Died(why)))
}

/// Writes the demo repository and starts `serve --dry-run` on it.
async fn start(options: &DemoOptions) -> Result<(Service, DemoRepo, Vec<DemoPerson>), DemoError> {
    let dir = match &options.dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("oshirase-demo-")
            .tempdir()?
            .keep(),
    };
    let demo = prepare(&dir, options.step)?;
    let passwords = demo_people(&demo.data)?;
    // A demo on a shared address takes the same dashboard credentials as `serve`.
    let people = PeopleFile::open(&demo.data)?;
    let auth = crate::web::auth::for_listen(
        options.listen,
        &crate::support::secrets::Secrets::from_env(),
        Some(people),
    )
    .map_err(ServeError::from)?;
    let service = Service::start(ServeSettings {
        repo: demo.repo.clone(),
        remote: None,
        fetch_interval: Duration::from_secs(60),
        fetch_timeout: Duration::from_secs(60),
        secrets: crate::support::secrets::Secrets::default(),
        branch: "main".into(),
        content_dir: String::new(),
        data_dir: demo.data.clone(),
        listen: options.listen,
        dry_run: true,
        poll_interval: Duration::from_secs(30),
        public_url: None,
        auth,
        forge_api: None,
    })
    .await?;
    Ok((service, demo, passwords))
}

fn print_banner(
    options: &DemoOptions,
    service: &Service,
    demo: &DemoRepo,
    print: &mut impl FnMut(String),
) {
    print(format!(
        "oshirase demo: dashboard at http://{}/",
        service.addr
    ));
    print(format!("  content repository: {}", demo.repo.display()));
    print(format!(
        "  outboxes (what would have gone out): {}",
        demo.data.join("outbox").display()
    ));
    if let Some(log) = &options.log {
        print(format!("  the service's log: {}", log.display()));
    }
    print(
        "  every network is an outbox in the demo; nothing leaves this machine. Ctrl-C stops it."
            .into(),
    );
}

/// One line per post as the first sync left it: state, time (JST), title, networks.
async fn print_posts(store: &Arc<Store>, print: &mut impl FnMut(String)) {
    let posts = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.posts())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    for v in &posts {
        let state = crate::model::records::post_state(&v.post, &v.deliveries);
        let when = v
            .deliveries
            .first()
            .map(|d| {
                d.publish_at
                    .with_timezone(&jst())
                    .format("%m/%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        let networks: Vec<&str> = v.deliveries.iter().map(|d| d.network.as_str()).collect();
        print(format!(
            "{state:<10} {when:<14} 「{}」 → {}",
            v.post.title,
            networks.join(", ")
        ));
    }
}

/// Prints the events a visitor should notice, as they are committed.
async fn print_events(
    store: Arc<Store>,
    mut events: broadcast::Receiver<Event>,
    mut print: impl FnMut(String),
) {
    loop {
        match events.recv().await {
            Ok(e) => {
                let title = crate::store::title_of(&store, &e.post_id).await;
                if let Some(line) = event_line(&e, &title) {
                    print(line);
                }
                if e.kind == EventKind::Emergency {
                    let queued = queued_behind(&store, &e.post_id).await;
                    print(format!(
                        "{:<10} {:<9} 「{title}」 goes first: {queued} scheduled deliveries wait behind it",
                        "", ""
                    ));
                }
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// Deliveries of other posts still to go when an emergency post is let through.
async fn queued_behind(store: &Arc<Store>, emergency: &str) -> usize {
    let (store, emergency) = (store.clone(), emergency.to_string());
    let count = tokio::task::spawn_blocking(move || {
        store.listings().map(|posts| {
            posts
                .iter()
                .filter(|p| *p.id != *emergency)
                .flat_map(|p| p.deliveries.iter())
                .filter(|d| d.state == crate::model::records::State::Scheduled)
                .count()
        })
    })
    .await;
    count.ok().and_then(Result::ok).unwrap_or(0)
}

fn event_line(e: &Event, title: &str) -> Option<String> {
    let net = e.network.as_deref().unwrap_or("-");
    match e.kind {
        EventKind::Published => Some(format!("published  {net:<9} 「{title}」 {}", e.detail)),
        EventKind::Emergency => Some(format!("EMERGENCY  {:<9} 「{title}」 {}", "", e.detail)),
        EventKind::Held
        | EventKind::Missed
        | EventKind::Invalid
        | EventKind::Failed
        | EventKind::Unknown => Some(format!("{:<10} {net:<9} 「{title}」 {}", e.kind, e.detail)),
        EventKind::Landed => Some(format!("merged     {:<9} 「{title}」 {}", "", e.detail)),
        EventKind::ProposalWaiting => Some(format!("proposed   {:<9} {}", "desk", e.detail)),
        EventKind::ProposalApproved => Some(format!("approved   {:<9} {}", "desk", e.detail)),
        _ => None,
    }
}
