//! Any bytes as a post file: parsing, rendering and counting must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oshirase::content::config::NetworkKind;
use oshirase::content::post::{self, Parsed};

fuzz_target!(|data: &[u8]| {
    match post::parse_at("posts/fuzz.md", "posts/fuzz.md", data) {
        Parsed::Post(p) => {
            let text = oshirase::content::render::plain_text(&p.body);
            for kind in NetworkKind::ALL {
                let _ = oshirase::content::count::length(kind, &text);
            }
            let _ = oshirase::content::count::bluesky_facets(&text);
        }
        Parsed::Broken { problems, .. } => assert!(problems.iter().all(|p| p.line >= 1)),
        Parsed::NotAPost => {}
    }
});
