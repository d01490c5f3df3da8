//! `oshirase check` and `oshirase preview` as a pull request's CI runs them: exit codes,
//! every output format, both languages, and hostile files that must never crash or hang.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

const CONFIG: &str = "\
timezone: Asia/Tokyo
accounts:
  city:
    networks:
      x: { type: x, credentials: X_CITY }
      facebook: { type: facebook, page_id: \"1\", credentials: FB_CITY }
      bluesky: { type: bluesky, handle: city.example, credentials: BSKY_CITY }
      line: { type: line, credentials: LINE_CITY }
      portal: { type: outbox }
";

/// A valid 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn content() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oshirase.yaml"), CONFIG).unwrap();
    dir
}

fn write(dir: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn oshirase(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(args)
        .current_dir(dir)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap()
}

fn check_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", "--format", "json", "--lang", "en"];
    args.extend_from_slice(extra);
    let out = oshirase(dir, &args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "json ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

fn codes(v: &Value, key: &str) -> Vec<(String, u64, String)> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_clean_repository_passes_and_shows_every_networks_count() {
    let dir = content();
    write(dir.path(), "posts/a.md", "---\ntitle: お知らせ\npublish_at: 2099-12-20T19:00:00+09:00\nnetworks: [x, facebook, bluesky]\n---\n詳しくは[区のサイト](https://www.city.example.jp/a)へ\n");
    write(dir.path(), "README.md", "# not a post\n");
    let (code, v) = check_json(dir.path(), &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["files"], 2);
    assert!(v["errors"].as_array().unwrap().is_empty());
    let post = &v["posts"][0];
    for key in ["id", "file", "publish_at", "networks"] {
        assert!(post.get(key).is_some(), "post has {key}");
    }
    let x = &post["networks"][0];
    assert_eq!(x["network"], "x");
    assert_eq!(
        x["text"],
        "詳しくは区のサイト https://www.city.example.jp/a へ"
    );
    // 10 CJK characters weigh 20, two spaces 2, the URL 23.
    assert_eq!(x["length"], 20 + 2 + 23);
    assert_eq!(x["limit"], 280);
    let bluesky = &post["networks"][2];
    assert_eq!(bluesky["facets"][0]["uri"], "https://www.city.example.jp/a");
}

#[test]
fn errors_name_file_line_and_what_to_do_and_exit_1() {
    let dir = content();
    let long = "あ".repeat(141);
    write(
        dir.path(),
        "posts/long.md",
        format!("---\nnetworks: [x, facebook]\n---\n{long}\n"),
    );
    write(
        dir.path(),
        "posts/typo.md",
        "---\ntitle: t\npublish-at: 2099-12-20T19:00:00+09:00\nnetworks: [x]\n---\nb\n",
    );
    write(
        dir.path(),
        "posts/net.md",
        "---\nnetworks: [x, instagram]\n---\nb\n",
    );
    write(
        dir.path(),
        "posts/acct.md",
        "---\naccount: nerima\nnetworks: [x]\n---\nb\n",
    );
    write(
        dir.path(),
        "posts/dup1.md",
        "---\nid: same\nnetworks: [portal]\n---\none\n",
    );
    write(
        dir.path(),
        "posts/dup2.md",
        "---\nid: same\nnetworks: [portal]\n---\ntwo\n",
    );
    let (code, v) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    let errors = codes(&v, "errors");
    assert!(
        errors.contains(&("posts/long.md".into(), 4, "too-long".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&("posts/typo.md".into(), 3, "unknown-key".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&("posts/net.md".into(), 2, "unknown-network".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&("posts/acct.md".into(), 2, "unknown-account".into())),
        "{errors:?}"
    );
    assert!(
        errors.iter().filter(|e| e.2 == "duplicate-id").count() == 2,
        "{errors:?}"
    );
    let message = |code: &str| {
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == code)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        message("unknown-key").contains("did you mean `publish_at`?"),
        "{}",
        message("unknown-key")
    );
    let too_long = message("too-long");
    assert!(
        too_long.contains("282") && too_long.contains("280") && too_long.contains("text.x"),
        "{too_long}"
    );
    // The long post still previews, with facebook fine and x over its limit.
    let long_post = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"] == "posts/long.md")
        .unwrap();
    assert_eq!(long_post["networks"][0]["ok"], false);
    assert_eq!(long_post["networks"][1]["ok"], true);
}

#[test]
fn messages_come_in_japanese_and_english() {
    let dir = content();
    write(
        dir.path(),
        "posts/typo.md",
        "---\npublish-at: 2099-12-20T19:00:00+09:00\nnetworks: [x]\n---\nb\n",
    );
    let ja = oshirase(dir.path(), &["check", "--lang", "ja"]);
    let ja = String::from_utf8_lossy(&ja.stdout).to_string();
    assert!(
        ja.contains("不明なキー `publish-at`")
            && ja.contains("`publish_at` の誤りではありませんか"),
        "{ja}"
    );
    let en = oshirase(dir.path(), &["check", "--lang", "en"]);
    assert!(String::from_utf8_lossy(&en.stdout).contains("unknown key `publish-at`"));
    // Without --lang the locale decides.
    let out = Command::new(env!("CARGO_BIN_EXE_oshirase"))
        .args(["check"])
        .current_dir(dir.path())
        .env("LANG", "ja_JP.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("不明なキー"));
}

#[test]
fn github_format_prints_annotations_with_file_and_line() {
    let dir = content();
    write(
        dir.path(),
        "posts/typo.md",
        "---\npublish-at: 2099-12-20T19:00:00+09:00\nnetworks: [x]\n---\nb\n",
    );
    write(
        dir.path(),
        "posts/img.md",
        "---\nnetworks: [portal]\nimages:\n  - path: a.png\n---\nb\n",
    );
    write(dir.path(), "posts/a.png", PNG);
    let out = oshirase(dir.path(), &["check", "--format", "github", "--lang", "en"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with(
            "::error file=posts/typo.md,line=2,title=oshirase unknown-key::unknown key"
        )),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("::warning file=posts/img.md,line=3,") && l.contains("alt")),
        "{text}"
    );
}

#[test]
fn markdown_format_is_a_safe_preview_table() {
    let dir = content();
    write(dir.path(), "posts/a.md", "---\ntitle: \"<img src=x onerror=alert(1)> | 表\"\npublish_at: 2099-12-20T19:00:00+09:00\nnetworks: [x, portal]\n---\n<script>alert(1)</script>\nan unmatched ```` run\n");
    let out = oshirase(
        dir.path(),
        &["check", "--format", "markdown", "--lang", "en"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| network | count / limit | sendable | images |"),
        "{md}"
    );
    assert!(md.contains("2099-12-20 19:00 JST"), "{md}");
    assert!(
        md.contains("&lt;img src=x onerror=alert(1)&gt; \\| 表"),
        "{md}"
    );
    assert!(!md.contains("<img"), "{md}");
    // The exact text sits in a fence longer than any backtick run inside it.
    assert!(
        md.contains("`````text\n<script>alert(1)</script>\nan unmatched ```` run\n`````"),
        "{md}"
    );
}

#[test]
fn images_are_checked_for_place_type_size_and_alt() {
    let dir = content();
    write(dir.path(), "posts/images/ok.png", PNG);
    write(
        dir.path(),
        "posts/images/fake.png",
        b"GIF89a not really a png, but a gif header",
    );
    write(dir.path(), "posts/images/text.png", b"hello, I am text");
    let mut big = PNG.to_vec();
    big.resize(2_500_000, 0);
    write(dir.path(), "posts/images/big.png", &big);
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("posts/images/link.png")).unwrap();
    let post = |images: &str, networks: &str| {
        format!("---\nnetworks: [{networks}]\nimages:\n{images}---\n本文\n")
    };
    write(
        dir.path(),
        "posts/ok.md",
        post("  - { path: images/ok.png, alt: 地図 }\n", "x, bluesky"),
    );
    write(
        dir.path(),
        "posts/escape.md",
        post("  - { path: ../../etc/passwd, alt: x }\n", "x"),
    );
    write(
        dir.path(),
        "posts/absolute.md",
        post("  - { path: /etc/passwd, alt: x }\n", "x"),
    );
    write(
        dir.path(),
        "posts/missing.md",
        post("  - { path: images/none.png, alt: x }\n", "x"),
    );
    write(
        dir.path(),
        "posts/text.md",
        post("  - { path: images/text.png, alt: x }\n", "x"),
    );
    write(
        dir.path(),
        "posts/link.md",
        post("  - { path: images/link.png, alt: x }\n", "x"),
    );
    write(
        dir.path(),
        "posts/big.md",
        post("  - { path: images/big.png, alt: 大きい }\n", "x, bluesky"),
    );
    write(
        dir.path(),
        "posts/gif-line.md",
        post("  - { path: images/fake.png, alt: x }\n", "line"),
    );
    write(
        dir.path(),
        "posts/many.md",
        post(
            &"  - { path: images/ok.png, alt: x }\n".repeat(5),
            "x, facebook",
        ),
    );
    write(
        dir.path(),
        "posts/noalt.md",
        post("  - path: images/ok.png\n", "x"),
    );
    let (code, v) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    let errors = codes(&v, "errors");
    let has = |file: &str, code: &str| errors.iter().any(|e| e.0 == file && e.2 == code);
    assert!(!errors.iter().any(|e| e.0 == "posts/ok.md"), "{errors:?}");
    assert!(
        has("posts/escape.md", "image-path") && has("posts/absolute.md", "image-path"),
        "{errors:?}"
    );
    assert!(has("posts/missing.md", "image-missing"), "{errors:?}");
    assert!(has("posts/text.md", "image-type"), "{errors:?}");
    assert!(
        has("posts/link.md", "image-path"),
        "symlinks are not content: {errors:?}"
    );
    // 2.5 MB is fine for X (5 MB) but over Bluesky's 2,000,000-byte blobs: only bluesky is refused.
    let big: Vec<_> = errors.iter().filter(|e| e.0 == "posts/big.md").collect();
    assert_eq!(big.len(), 1, "{errors:?}");
    assert_eq!(big[0].2, "image-size");
    assert!(
        has("posts/gif-line.md", "image-type"),
        "LINE takes PNG and JPEG only: {errors:?}"
    );
    assert!(has("posts/many.md", "image-count"), "X takes 4: {errors:?}");
    let warnings = codes(&v, "warnings");
    assert!(
        warnings.contains(&("posts/noalt.md".into(), 3, "image-alt".into())),
        "{warnings:?}"
    );
}

#[test]
fn hostile_files_get_clear_errors_and_never_crash() {
    let dir = content();
    write(dir.path(), "posts/empty.md", "");
    write(
        dir.path(),
        "posts/unclosed.md",
        "---\ntitle: t\nnetworks: [x]\n",
    );
    let mut latin1 = b"---\nnetworks: [x]\ntitle: caf".to_vec();
    latin1.extend_from_slice(&[0xe9, b'\n']);
    latin1.extend_from_slice(b"---\n");
    write(dir.path(), "posts/latin1.md", &latin1);
    let mut huge = b"---\nnetworks: [x]\n---\n".to_vec();
    huge.resize(10 * 1024 * 1024, b'a');
    write(dir.path(), "posts/huge.md", &huge);
    write(
        dir.path(),
        "posts/date.md",
        "---\nnetworks: [x]\npublish_at: 2026-02-30T19:00:00+09:00\n---\nb\n",
    );
    let nested = format!(
        "---\nnetworks: [x]\ntitle: {}{}\n---\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    write(dir.path(), "posts/nested.md", nested);
    let mut bomb = String::from("---\nnetworks: [x]\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut prev = 'a';
    for c in 'b'..='j' {
        bomb.push_str(&format!(
            "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = c;
    }
    bomb.push_str("---\n");
    write(dir.path(), "posts/bomb.md", bomb);
    write(
        dir.path(),
        "posts/windows.md",
        "\u{feff}---\r\ntitle: Windows\r\nnetworks: [portal]\r\n---\r\n一行目\r\n二行目\r\n",
    );
    let started = std::time::Instant::now();
    let (code, v) = check_json(dir.path(), &[]);
    assert!(started.elapsed().as_secs() < 20, "bounded time");
    assert_eq!(code, 1);
    let errors = codes(&v, "errors");
    let code_of = |file: &str| {
        errors
            .iter()
            .find(|e| e.0 == file)
            .map(|e| (e.1, e.2.clone()))
    };
    assert_eq!(
        code_of("posts/empty.md"),
        None,
        "an empty file is not a post"
    );
    assert_eq!(
        code_of("posts/unclosed.md"),
        Some((1, "front-matter".into()))
    );
    assert_eq!(code_of("posts/latin1.md"), Some((3, "encoding".into())));
    assert_eq!(code_of("posts/huge.md"), Some((1, "too-large".into())));
    assert_eq!(code_of("posts/date.md"), Some((3, "publish-at".into())));
    assert_eq!(code_of("posts/nested.md").map(|c| c.1), Some("yaml".into()));
    assert!(
        code_of("posts/bomb.md").is_some(),
        "alias bomb refused: {errors:?}"
    );
    assert_eq!(code_of("posts/windows.md"), None, "BOM and CRLF are fine");
    let windows = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"] == "posts/windows.md")
        .unwrap();
    assert_eq!(windows["networks"][0]["text"], "一行目\n二行目");
}

#[test]
fn identical_texts_and_past_times_of_new_posts_are_warnings() {
    let repo = GitRepo::new(CONFIG);
    repo.propose_and_merge(
        "staff/old",
        &[(
            "posts/old.md",
            "---\nnetworks: [portal]\npublish_at: 2020-01-01T09:00:00+09:00\n---\n去年のお知らせ\n",
        )],
    );
    repo.git(STAFF, &["checkout", "-q", "-b", "staff/new"]);
    repo.write(
        "posts/new.md",
        "---\nnetworks: [portal]\npublish_at: 2021-01-01T09:00:00+09:00\n---\n新しいお知らせ\n",
    );
    repo.write(
        "posts/copy.md",
        "---\nnetworks: [portal]\npublish_at: 2099-01-01T09:00:00+09:00\n---\n新しいお知らせ\n",
    );
    repo.commit_all(STAFF, "new posts");
    let (code, v) = check_json(&repo.path, &["--base", "main"]);
    assert_eq!(code, 0, "warnings do not fail: {v}");
    let warnings = codes(&v, "warnings");
    assert!(
        warnings.contains(&("posts/new.md".into(), 3, "past".into())),
        "{warnings:?}"
    );
    // The old post was published long ago: no warning for it, ever.
    assert!(
        !warnings
            .iter()
            .any(|w| w.0 == "posts/old.md" && w.2 == "past"),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.0 == "posts/copy.md" && w.2 == "duplicate-text"),
        "{warnings:?}"
    );
    // Only the named file is reported when files are given.
    let (_, v) = check_json(&repo.path, &["posts/copy.md"]);
    assert!(codes(&v, "warnings").iter().all(|w| w.0 == "posts/copy.md"));
    assert_eq!(v["posts"].as_array().unwrap().len(), 1);
}

#[test]
fn usage_errors_exit_2() {
    let dir = content();
    assert_eq!(
        oshirase(dir.path(), &["check", "--format", "xml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        oshirase(dir.path(), &["check", "--content", "/nonexistent"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        oshirase(dir.path(), &["check", "posts/none.md"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        oshirase(dir.path(), &["check", "--base", "no-such-ref"])
            .status
            .code(),
        Some(2)
    );
    let out = oshirase(dir.path(), &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn preview_prints_each_networks_exact_text_count_and_time() {
    let dir = content();
    write(dir.path(), "posts/images/map.png", PNG);
    write(
        dir.path(),
        "posts/a.md",
        "---\ntitle: 防災訓練\npublish_at: \"2099-01-17 09:00\"\nnetworks: [x, facebook]\ntext:\n  x: \"短い版 #防災\"\nimages:\n  - { path: images/map.png, alt: 会場の地図 }\n---\n長い版の本文です。\n\n日時：1月17日\n",
    );
    let out = oshirase(dir.path(), &["preview", "posts/a.md", "--lang", "en"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("publish: 2099-01-17 09:00 JST"), "{text}");
    assert!(
        text.contains("── x (x)  12 / 280  ok\n短い版 #防災\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "── facebook (facebook)  19 / 63206  ok\n長い版の本文です。\n\n日時：1月17日\n"
        ),
        "{text}"
    );
    let image = format!(
        "image: posts/images/map.png (image/png, {} bytes) alt: 会場の地図",
        PNG.len()
    );
    assert!(text.contains(&image), "{text}");
    let json = oshirase(dir.path(), &["preview", "posts/a.md", "--format", "json"]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["posts"][0]["networks"][0]["text"], "短い版 #防災");
    // From another folder, the content directory is found upwards.
    let elsewhere = oshirase(
        Path::new("/"),
        &["preview", dir.path().join("posts/a.md").to_str().unwrap()],
    );
    assert_eq!(elsewhere.status.code(), Some(0));
}

#[test]
fn the_example_repository_passes_check() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("content-example");
    let out = oshirase(&example, &["check", "--format", "json", "--lang", "en"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert!(v["posts"].as_array().unwrap().len() >= 9);
    // It exercises a long Facebook text with a short X one, a Bluesky link and an image.
    let posts = v["posts"].as_array().unwrap();
    assert!(posts
        .iter()
        .any(|p| p["images"].as_array().is_some_and(|i| !i.is_empty())));
    assert!(posts
        .iter()
        .flat_map(|p| p["networks"].as_array().unwrap())
        .any(|n| n["network"] == "bluesky" && !n["facets"].as_array().unwrap().is_empty()));
    assert!(posts.iter().any(|p| {
        let n = p["networks"].as_array().unwrap();
        let len = |name: &str| {
            n.iter()
                .find(|x| x["network"] == name)
                .map(|x| x["length"].as_u64().unwrap())
        };
        matches!((len("x"), len("facebook")), (Some(x), Some(f)) if f > 280 && x <= 280)
    }));
}

#[test]
fn a_markdown_file_that_is_not_a_post_is_warned_about_unless_it_is_documentation() {
    let dir = content();
    write(dir.path(), "posts/empty.md", "");
    write(
        dir.path(),
        "posts/no-dashes.md",
        "title: 防災訓練\nnetworks: [portal]\n---\n訓練のお知らせです。\n",
    );
    write(
        dir.path(),
        "posts/late-dashes.md",
        "\n---\nnetworks: [portal]\n---\n遅れて始まる front-matter\n",
    );
    write(
        dir.path(),
        "posts/README.md",
        "# 投稿の書き方\n\n`---` で始めます。\n",
    );
    write(
        dir.path(),
        "docs/guide.md",
        "# 手引き\n\n広報の手順です。\n",
    );
    write(
        dir.path(),
        "posts/ok.md",
        "---\nnetworks: [portal]\n---\n普通の投稿\n",
    );
    let (code, v) = check_json(dir.path(), &[]);
    assert_eq!(code, 0, "warnings do not fail the check: {v}");
    let mut warnings = codes(&v, "warnings");
    warnings.retain(|w| w.2 == "not-a-post");
    warnings.sort();
    assert_eq!(
        warnings,
        [
            ("posts/empty.md".to_string(), 1, "not-a-post".to_string()),
            (
                "posts/late-dashes.md".to_string(),
                2,
                "not-a-post".to_string()
            ),
            (
                "posts/no-dashes.md".to_string(),
                1,
                "not-a-post".to_string()
            ),
        ],
        "{v}"
    );
    let text = String::from_utf8_lossy(&oshirase(dir.path(), &["check", "--lang", "en"]).stdout)
        .to_string();
    assert!(
        text.contains("posts/no-dashes.md:1") && text.contains("no `---` line before it"),
        "names the file, the line and what is missing: {text}"
    );
}
