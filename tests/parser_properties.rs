//! Bounded property tests of the post parser, in the normal suite (the unbounded search is
//! the cargo-fuzz target in `fuzz/`).

use oshirase::content::config::NetworkKind;
use oshirase::content::post::{self, Parsed};
use oshirase::content::render;
use proptest::prelude::*;

/// Front-matter-shaped input: real keys, YAML punctuation and Japanese text mixed at random.
fn post_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("---\n".to_string()),
        Just("title: ".to_string()),
        Just("publish_at: ".to_string()),
        Just("2026-12-20T19:00:00+09:00".to_string()),
        Just("\"2026-12-20 19:00\"".to_string()),
        Just("networks: [x, facebook]\n".to_string()),
        Just("text:\n  x: ".to_string()),
        Just("images:\n  - path: a.png\n".to_string()),
        Just("&a [*a]".to_string()),
        Just("\r\n".to_string()),
        Just("\u{feff}".to_string()),
        Just("[区のサイト](https://www.city.example.jp/)".to_string()),
        Just("# 見出し\n".to_string()),
        Just("<script>x</script>".to_string()),
        "[ -~]{0,12}".prop_map(|s| s),
        "[ぁ-ん一-龠、。]{0,8}".prop_map(|s| s),
        Just("\n".to_string()),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics_and_problems_point_into_the_file(text in post_like()) {
        let lines = text.split('\n').count();
        match post::parse("posts/p.md", text.as_bytes()) {
            Parsed::Broken { problems, .. } => {
                prop_assert!(!problems.is_empty());
                for p in problems {
                    prop_assert!(p.line >= 1 && p.line <= lines + 1, "line {} of {}", p.line, lines);
                    prop_assert!(!p.message.is_empty() && !p.message_ja.is_empty());
                }
            }
            Parsed::Post(p) => {
                let out = render::plain_text(&p.body);
                prop_assert!(!out.contains('\r'));
                for kind in NetworkKind::ALL {
                    let _ = oshirase::content::count::length(kind, &out);
                }
            }
            Parsed::NotAPost => {}
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut with_header = b"---\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = post::parse("posts/p.md", &bytes);
        let _ = post::parse("posts/p.md", &with_header);
    }

    #[test]
    fn plain_lines_are_kept_exactly(lines in prop::collection::vec("[ぁ-ん一-龠0-9：、。]{1,20}", 1..8)) {
        // Text without Markdown syntax comes out exactly as written, line for line.
        let body = lines.join("\n");
        prop_assert_eq!(render::plain_text(&body), body);
    }
}
