//! The folders of `src/` are layers (ARCHITECTURE.md): each may use the ones below it and
//! never one above. This reads every `crate::…` path in `src/` and fails on one that goes
//! the wrong way, naming the file and line; each folder's `mod.rs` says the same in words.

use std::path::{Path, PathBuf};

/// Each folder and the folders it may use. `cli` (and `main.rs`, `lib.rs`) may use all.
const LAYERS: &[(&str, &[&str])] = &[
    ("support", &[]),
    ("content", &["support"]),
    ("model", &["support", "content"]),
    ("git", &["support", "content", "model"]),
    ("store", &["support", "content", "model"]),
    ("sync", &["support", "content", "model", "git", "store"]),
    ("networks", &["support", "content", "model", "git"]),
    ("check", &["support", "content", "model", "git"]),
    (
        "delivery",
        &["support", "content", "model", "git", "store", "networks"],
    ),
    (
        "web",
        &[
            "support", "content", "model", "git", "store", "sync", "delivery", "check",
        ],
    ),
];

/// The web never publishes: of `delivery` it may only read which networks are paused.
const WEB_MAY_READ_OF_DELIVERY: &[&str] = &["pausing"];

/// One path that goes the wrong way.
#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    used: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: uses `{}`", self.file, self.line, self.used)
    }
}

/// The violations in one file of `src/`, given its path below `src/` and its text.
fn violations_in(path: &str, text: &str) -> Vec<Violation> {
    let Some((folder, _)) = path.split_once('/') else {
        return Vec::new(); // main.rs and lib.rs sit above every layer
    };
    let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == folder) else {
        return Vec::new(); // cli
    };
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Comments may name any module; code may not use it.
        let code = line.split("//").next().unwrap_or("");
        for used in crate_paths(code) {
            let mut parts = used.split("::").skip(1);
            let target = parts.next().unwrap_or("");
            let inner = parts.next().unwrap_or("");
            let ok = target == folder
                || (allowed.contains(&target)
                    && !(folder == "web"
                        && target == "delivery"
                        && !WEB_MAY_READ_OF_DELIVERY.contains(&inner)));
            if !ok {
                found.push(Violation {
                    file: format!("src/{path}"),
                    line: n + 1,
                    used,
                });
            }
        }
    }
    found
}

/// Every `crate::a::b` in a line of code, cut after its second segment.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        // `mycrate::x` is another crate's path, not ours.
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            let path: Vec<&str> = tail[..end].split("::").take(3).collect();
            out.push(path.join("::"));
        }
        rest = &tail[end.max(1)..];
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_layer_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} files in src/", files.len());
    let mut all = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source is UTF-8");
        let rel = file.strip_prefix(&src).expect("below src/");
        all.extend(violations_in(&rel.to_string_lossy(), &text));
    }
    let listed: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert!(
        listed.is_empty(),
        "lower layers use higher ones (see LAYERS in tests/layering.rs):\n{}",
        listed.join("\n")
    );
}

#[test]
fn a_planted_violation_is_found_with_its_file_and_line() {
    let content = "//! A post.\nuse crate::content::config::Config;\nuse crate::store::Store;\n";
    assert_eq!(
        violations_in("content/post.rs", content),
        vec![Violation {
            file: "src/content/post.rs".into(),
            line: 3,
            used: "crate::store::Store".into(),
        }]
    );
    // A network that reads the store, a store that knows the web.
    assert_eq!(
        violations_in("networks/x.rs", "let s = crate::store::Store::open(p);").len(),
        1
    );
    assert_eq!(
        violations_in("store/mod.rs", "use crate::web::json::post_json;").len(),
        1
    );
    // The web may read the paused networks but never reach the scheduler or an adapter.
    assert!(violations_in("web/state.rs", "use crate::delivery::pausing::Paused;").is_empty());
    assert_eq!(
        violations_in("web/api.rs", "use crate::delivery::scheduler::Plan;").len(),
        1
    );
    assert_eq!(
        violations_in("web/api.rs", "use crate::networks::Networks;").len(),
        1
    );
    // Comments, other crates' paths and the commands above every layer are not uses.
    assert!(violations_in("content/post.rs", "// see crate::store::Store").is_empty());
    assert!(violations_in("content/post.rs", "use mycrate::store::Store;").is_empty());
    assert!(violations_in("cli/serve.rs", "use crate::web::state::AppState;").is_empty());
}
