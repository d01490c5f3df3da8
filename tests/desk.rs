//! The desk's preview: `POST /api/preview` answers, for a draft, exactly what `oshirase
//! check --format json` answers for the file the draft becomes, checked against the
//! `oshirase.yaml` in force (a real repository, the real binary for `check`), and refuses
//! bad drafts with the field named, writing nothing.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use common::*;
use oshirase::content::draft::{Draft, DraftImage};
use serde_json::{json, Value};

const CALENDAR_PNG: &[u8] =
    include_bytes!("../content-example/posts/images/gomi-nenmatsu-calendar.png");
const X_NETWORK: &str = "      x: { type: x, credentials: X_CITY }\n";

fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .header("accept-language", "ja,en;q=0.5")
        .send(body.to_string().as_bytes())
        .expect("request");
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

fn draft() -> Value {
    json!({
        "title": "年末年始のごみ収集 Gomi",
        "networks": ["x", "portal"],
        "department": "環境部 清掃課",
        "publish_at": "2026-12-28 19:00",
        "text": { "portal": "ポータル向けの長い本文です。\n詳しくは区のホームページをご覧ください。" },
        "body": "12月29日から1月3日まで、ごみ収集はお休みです。 #足立区\n詳しくは www.city.example.jp/gomi/nenmatsu へ",
        "images": [{
            "name": "calendar.png",
            "alt": "年末年始の収集日カレンダー",
            "data": base64::engine::general_purpose::STANDARD.encode(CALENDAR_PNG),
        }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_is_what_check_answers_for_the_file_it_would_write() {
    let repo = GitRepo::new(&config(BRANCH, "2h", X_NETWORK));
    repo.propose_and_merge(
        "staff/a",
        &[("posts/a.md", &post("A", None, "portal", "すでにある投稿"))],
    );
    let data = tempfile::tempdir().unwrap();
    let service = oshirase::cli::serve::Service::start(settings(&repo.path, data.path()))
        .await
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || service
            .store
            .meta(oshirase::store::meta::CONFIG_IN_FORCE_TEXT)
            .ok()
            .flatten()
            .is_some())
        .await
    );
    let addr = service.addr;
    let (status, preview) =
        tokio::task::spawn_blocking(move || post_json(addr, "/api/preview", &draft()))
            .await
            .unwrap();
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["errors"], json!([]), "{preview}");
    let file = preview["file"].as_str().unwrap().to_string();
    assert!(
        file.starts_with("posts/") && file.ends_with("-gomi.md"),
        "{file}"
    );
    let x = preview["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["network"] == "x")
        .unwrap()
        .clone();
    assert_eq!(x["limit"], 280);
    // The URL without a protocol counts 23, as twitter-text counts it.
    assert!(x["text"]
        .as_str()
        .unwrap()
        .contains("www.city.example.jp/gomi/nenmatsu"));

    // The same file, written into the repository by hand, checked by the binary.
    let d: Draft = serde_json::from_value(draft()).unwrap();
    let today = chrono::NaiveDate::parse_from_str(&file[6..16], "%Y-%m-%d").unwrap();
    let written = d.to_file(today).unwrap();
    assert_eq!(written.path, file);
    std::fs::create_dir_all(repo.path.join("posts/images")).unwrap();
    std::fs::write(repo.path.join(&written.path), &written.text).unwrap();
    for (path, bytes) in &written.images {
        std::fs::write(repo.path.join(path), bytes).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["check", "--format", "json", "--lang", "ja", "--content"])
        .arg(&repo.path)
        .arg(repo.path.join(&written.path))
        .output()
        .unwrap();
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["errors"], preview["errors"]);
    assert_eq!(checked["warnings"], preview["warnings"]);
    let networks: BTreeMap<String, (Value, Value)> = checked["posts"][0]["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["network"].as_str().unwrap().to_string(),
                (n["text"].clone(), n["length"].clone()),
            )
        })
        .collect();
    for n in preview["networks"].as_array().unwrap() {
        let name = n["network"].as_str().unwrap();
        assert_eq!(
            networks.get(name),
            Some(&(n["text"].clone(), n["length"].clone())),
            "{name}"
        );
    }

    // Merged, the same file is planned by serve to exactly the texts the preview showed.
    repo.propose_and_merge(
        "staff/desk",
        &[(written.path.as_str(), written.text.as_str())],
    );
    let id = written.path.trim_end_matches(".md").to_string();
    for n in preview["networks"].as_array().unwrap() {
        let network = n["network"].as_str().unwrap().to_string();
        let (store, id) = (service.store.clone(), id.clone());
        let stored = wait_for(Duration::from_secs(10), || {
            store.delivery(&id, &network).ok().flatten().is_some()
        })
        .await;
        assert!(stored, "{id} to {network} reached the store");
        let d = service.store.delivery(&id, &network).unwrap().unwrap();
        assert_eq!(Some(d.text.as_str()), n["text"].as_str(), "{network}");
        // Every network carries the post's images, as the check listed them.
        let images = checked["posts"][0]["images"].as_array().unwrap().len();
        assert_eq!(images, 1);
        assert_eq!(d.images.len(), images, "{network}");
    }

    // A text over X's limit is an error naming the file; bad drafts are 400s naming the
    // field; nothing of them is left behind.
    let mut long = draft();
    long["body"] = json!("あ".repeat(300));
    let (status, over) =
        tokio::task::spawn_blocking(move || post_json(addr, "/api/preview", &long))
            .await
            .unwrap();
    assert_eq!(status, 200);
    let errors = over["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["file"].as_str().unwrap().ends_with("-gomi.md")),
        "{over}"
    );
    for (change, field) in [
        (
            json!({ "images": [{ "name": "../../x.png", "alt": "a", "data": "AAAA" }] }),
            "images[0].name",
        ),
        (json!({ "id": "../oshirase" }), "id"),
        (json!({ "title": "" }), "title"),
    ] {
        let mut bad = draft();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let (status, answer) =
            tokio::task::spawn_blocking(move || post_json(addr, "/api/preview", &bad))
                .await
                .unwrap();
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let mut unknown = draft();
    unknown["author"] = json!("chief@city.example.jp");
    let (status, answer) =
        tokio::task::spawn_blocking(move || post_json(addr, "/api/preview", &unknown))
            .await
            .unwrap();
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("author"),
        "{answer}"
    );
    let plain = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .post(&format!("http://{addr}/api/preview"))
            .header("content-type", "text/plain")
            .send(draft().to_string().as_bytes())
            .expect("request")
            .status()
            .as_u16()
    })
    .await
    .unwrap();
    assert_eq!(plain, 415, "only application/json is taken");
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("oshirase-preview-")
        })
        .count();
    assert_eq!(leftovers, 0, "previews leave no temporary directory");
    service.shutdown().await;
}

#[test]
fn a_draft_with_images_names_them_under_the_posts_images_folder() {
    let d = Draft {
        title: "Bousai kunren".into(),
        networks: vec!["x".into()],
        body: "本文".into(),
        images: vec![DraftImage {
            name: "kunren.jpg".into(),
            alt: "訓練の様子".into(),
            data: base64::engine::general_purpose::STANDARD.encode(b"\xff\xd8\xff"),
        }],
        ..Draft::default()
    };
    let f = d
        .to_file(chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap())
        .unwrap();
    assert_eq!(f.path, "posts/2026-12-03-bousai-kunren.md");
    assert_eq!(f.images[0].0, "posts/images/kunren.jpg");
    assert!(f.text.contains("path: images/kunren.jpg"), "{}", f.text);
}
