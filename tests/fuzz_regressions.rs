//! Inputs kept from fuzzing (`fuzz/regressions/<target>/`): each runs through exactly what
//! its fuzz target does, so a crash found once stays fixed. Add a file there whenever
//! `cargo +nightly fuzz run <target>` finds one.

use oshirase::content::config::{NetworkKind, RepoConfig};
use oshirase::content::post::{self, Parsed};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/fuzz/regressions/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "{dir} holds the kept inputs");
    found
}

#[test]
fn post_parse_regressions() {
    for (name, data) in inputs("post_parse") {
        match post::parse_at("posts/fuzz.md", "posts/fuzz.md", &data) {
            Parsed::Post(p) => {
                let text = oshirase::content::render::plain_text(&p.body);
                for kind in NetworkKind::ALL {
                    let _ = oshirase::content::count::length(kind, &text);
                }
                let _ = oshirase::content::count::bluesky_facets(&text);
            }
            Parsed::Broken { problems, .. } => {
                assert!(problems.iter().all(|p| p.line >= 1), "{name}: {problems:?}")
            }
            Parsed::NotAPost => {}
        }
    }
}

#[test]
fn config_parse_regressions() {
    for (name, data) in inputs("config_parse") {
        let text = String::from_utf8_lossy(&data);
        if let Err(e) = RepoConfig::parse("oshirase.yaml", &text) {
            assert!(!e.message.is_empty(), "{name}");
        }
    }
}
