//! The dashboard at the size of an office that has used it for years, in headless Chromium
//! (issue 13, item 9): 10,000 posts and 50,000 events served by the real routes; the page is
//! driven by `benches/dashboard.mjs` through puppeteer-core, as the browser tier drives it.
//!
//! Prints, for the overview and the upcoming view opened cold: the time to the first view,
//! the bytes it read and the page's JS heap; then, with the overview open, what one new post
//! landing costs that page (bytes, time). Targets: first view under 1 s, a live update under
//! 50 KB. It asserts nothing.
//!
//! ```sh
//! OSHIRASE_BROWSER_DEPS=$(tests/browser/setup.sh | tail -1) cargo bench --bench dashboard
//! ```

#[path = "common/office.rs"]
mod office;
#[path = "../tests/common/programs.rs"]
mod programs;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use oshirase::model::records::State;
use oshirase::store::Store;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(deps) = std::env::var("OSHIRASE_BROWSER_DEPS") else {
        eprintln!(
            "OSHIRASE_BROWSER_DEPS: the directory tests/browser/setup.sh prints (puppeteer-core)"
        );
        std::process::exit(2);
    };
    let chromium = std::env::var("OSHIRASE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let Some(chromium) = programs::find_program(&chromium) else {
        eprintln!("no browser `{chromium}`: install Debian's chromium or set OSHIRASE_CHROMIUM");
        std::process::exit(2);
    };
    let dir = office::temp_dir();
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let started = Instant::now();
    let s = store.clone();
    tokio::task::spawn_blocking(move || office::fill(&s))
        .await
        .expect("fill");
    println!(
        "filled {} posts in {:.1} s",
        office::POSTS,
        started.elapsed().as_secs_f64()
    );
    let addr = office::serve(store.clone(), dir.path()).await;

    let new_id = "posts/2026/12-new";
    let mut child = Command::new("node")
        .arg("benches/dashboard.mjs")
        .arg(format!("http://{addr}/"))
        .arg(new_id)
        .env("OSHIRASE_BROWSER_DEPS", &deps)
        .env("OSHIRASE_CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (is node installed?)");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for line in stdout.lines() {
        let line = line.expect("read node's output");
        if line == "LAND" {
            // One post lands, as sync writes it after a merge: due in an hour.
            let s = store.clone();
            tokio::task::spawn_blocking(move || {
                let mut c = office::change(office::POSTS + 1);
                let at = Utc::now() + chrono::Duration::hours(1);
                c.post.id = new_id.into();
                c.post.file = format!("{new_id}.md");
                c.post.title = "新しいお知らせ".into();
                c.post.publish_at = Some(at);
                for d in &mut c.deliveries {
                    d.post_id = new_id.into();
                    d.state = State::Scheduled;
                    d.due_at = at;
                    d.publish_at = at;
                    d.published_at = None;
                    d.remote_id = None;
                    d.remote_url = None;
                }
                for e in &mut c.events {
                    e.post_id = new_id.into();
                }
                s.apply_post(new_id, move |_| Some(c)).expect("write");
            })
            .await
            .expect("land");
            writeln!(stdin, "LANDED").expect("tell node");
        } else {
            println!("{line}");
        }
    }
    let status = child.wait().expect("node");
    if !status.success() {
        eprintln!("benches/dashboard.mjs failed: {status}");
        std::process::exit(1);
    }
}
