//! Where the links and hashtags of a text are, as each network finds them.
//!
//! X (and so oshirase's Bluesky link facets) takes every URL twitter-text finds, also one
//! written without a protocol (`www.city.example.jp/gomi`, even right after Japanese text).
//! Mastodon links, and counts as 23 characters, only URLs that start with `http://` or
//! `https://`: its server counts with twitter-text's `extract_url_without_protocol: false`.
//!
//! Positions are UTF-8 byte ranges of the text as given, taken from the extractor's own
//! indices rather than found again by searching for the URL's text, which can also occur
//! earlier inside a hashtag or an e-mail address (`a@example.com example.com`).

use std::ops::Range;

use twitter_text::entity::Entity;
use twitter_text::extractor::{Extract, Extractor};

/// Which URLs a network takes as links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `example.com/path` is a link too (X).
    Optional,
    /// Only `http://…` and `https://…` are links (Mastodon).
    Required,
}

/// The byte ranges of the URLs in `text`, in order and never overlapping.
pub fn find(text: &str, protocol: Protocol) -> Vec<Range<usize>> {
    let mut extractor = Extractor::new();
    extractor.set_extract_url_without_protocol(protocol == Protocol::Optional);
    byte_ranges(text, &extractor.extract_urls_with_indices(text))
}

/// The byte ranges of the hashtags in `text` (`#足立区`, `＃防災`, the mark included), as
/// twitter-text finds them: not inside a URL, not after a letter.
pub fn hashtags(text: &str) -> Vec<Range<usize>> {
    byte_ranges(text, &Extractor::new().extract_hashtags_with_indices(text))
}

/// The byte ranges of entities the extractor found in `text`, in order: twitter-text gives
/// UTF-16 indices, as its Java and JS originals do.
fn byte_ranges(text: &str, entities: &[Entity<'_>]) -> Vec<Range<usize>> {
    let mut cursor = Utf16Cursor::new(text);
    entities
        .iter()
        .map(|e| {
            let start = cursor.byte_at(usize::try_from(e.start).unwrap_or(0));
            let end = cursor.byte_at(usize::try_from(e.end).unwrap_or(0));
            start..end
        })
        .collect()
}

/// Turns increasing UTF-16 offsets into byte offsets in one pass over the text.
struct Utf16Cursor<'a> {
    chars: std::str::Chars<'a>,
    utf16: usize,
    byte: usize,
}

impl<'a> Utf16Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Utf16Cursor {
            chars: text.chars(),
            utf16: 0,
            byte: 0,
        }
    }

    /// The byte offset of the character at UTF-16 offset `target` (or the first one after
    /// it): always a character boundary, so slicing with it never panics. An offset behind
    /// the cursor answers the cursor's position, so ranges stay in order.
    fn byte_at(&mut self, target: usize) -> usize {
        while self.utf16 < target {
            let Some(c) = self.chars.next() else { break };
            self.utf16 += c.len_utf16();
            self.byte += c.len_utf8();
        }
        self.byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, protocol: Protocol) -> Vec<&str> {
        find(text, protocol).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn a_url_without_protocol_after_japanese_text_is_a_link_on_x_only() {
        let text = "詳しくはwww.city.example.jp/kurashi/gomiをご覧ください";
        assert_eq!(
            found(text, Protocol::Optional),
            ["www.city.example.jp/kurashi/gomi"]
        );
        assert!(found(text, Protocol::Required).is_empty());
        let arrow = "→city.example.jp/path と https://example.jp/a";
        assert_eq!(
            found(arrow, Protocol::Optional),
            ["city.example.jp/path", "https://example.jp/a"]
        );
        assert_eq!(found(arrow, Protocol::Required), ["https://example.jp/a"]);
    }

    #[test]
    fn positions_come_from_the_extractor_not_from_searching_the_text() {
        // The first `example.com` is inside an e-mail address, the second in a hashtag;
        // only the third is a URL.
        let text = "a@example.com #example.com 😀 example.com";
        let ranges = find(text, Protocol::Optional);
        let start = text.rfind("example.com").unwrap();
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges[0], start..text.len());
    }

    #[test]
    fn hashtags_in_japanese_text_keep_their_mark_and_skip_urls() {
        let text = "今日は #足立区 の ＃防災訓練 https://example.jp/#frag です #2026年";
        let found: Vec<&str> = hashtags(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["#足立区", "＃防災訓練", "#2026年"]);
        // Right after a letter, as on X, it is no hashtag.
        assert!(hashtags("今日は#足立区").is_empty());
    }

    #[test]
    fn utf16_offsets_past_astral_characters_become_byte_offsets() {
        // 😀 is two UTF-16 units and four bytes; 足 is one unit and three bytes.
        let mut cursor = Utf16Cursor::new("😀足a");
        assert_eq!(cursor.byte_at(0), 0);
        assert_eq!(cursor.byte_at(2), 4);
        assert_eq!(cursor.byte_at(3), 7);
        assert_eq!(cursor.byte_at(1), 7, "never moves back");
        assert_eq!(cursor.byte_at(99), 8, "stops at the end");
    }
}
