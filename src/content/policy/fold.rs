//! Text folded so that the ways Japanese can write one word compare equal: NFKC (full-width
//! `ＡＢＣ` and half-width `ｻﾝﾌﾟﾙ` become `ABC` and `サンプル`), katakana as hiragana
//! (`サンプル` and `さんぷる` are one word) and lower case. A match in the folded text is
//! mapped back to the text as written, so a finding can quote what the author typed.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// A text in folded form, with where each piece came from.
#[derive(Debug)]
pub struct Folded<'a> {
    original: &'a str,
    pub text: String,
    /// For each grapheme of the original, in order: where its folding starts in `text`,
    /// and its byte range in the original.
    pieces: Vec<(usize, Range<usize>)>,
}

impl<'a> Folded<'a> {
    pub fn new(original: &'a str) -> Folded<'a> {
        let mut text = String::with_capacity(original.len());
        let mut pieces = Vec::new();
        // By grapheme, not by character: half-width `ﾌﾟ` is two characters that NFKC
        // composes into one `プ` only when it sees them together.
        for (start, grapheme) in original.grapheme_indices(true) {
            pieces.push((text.len(), start..start + grapheme.len()));
            fold_into(grapheme, &mut text);
        }
        Folded {
            original,
            text,
            pieces,
        }
    }

    /// Every place `needle` (already folded, see [`fold`]) occurs, as the original wrote it.
    pub fn find<'s>(&'s self, needle: &'s str) -> impl Iterator<Item = &'a str> + 's {
        let found = if needle.is_empty() {
            Vec::new()
        } else {
            self.text.match_indices(needle).collect()
        };
        found
            .into_iter()
            .map(move |(at, m)| &self.original[self.written(at..at + m.len())])
    }

    /// The original byte range the folded range `folded` came from, widened to whole
    /// graphemes.
    fn written(&self, folded: Range<usize>) -> Range<usize> {
        let piece_at = |offset: usize| {
            let i = self.pieces.partition_point(|(start, _)| *start <= offset);
            &self.pieces[i.saturating_sub(1)].1
        };
        let first = piece_at(folded.start);
        let last = piece_at(folded.end.saturating_sub(1).max(folded.start));
        first.start..last.end
    }
}

/// `text` folded: what [`Folded::new`] compares.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for grapheme in text.graphemes(true) {
        fold_into(grapheme, &mut out);
    }
    out
}

fn fold_into(grapheme: &str, out: &mut String) {
    for c in grapheme.nfkc() {
        out.extend(hiragana(c).to_lowercase());
    }
}

/// Katakana ァ (U+30A1) to ヶ (U+30F6) as the hiragana at the same place, 0x60 lower.
fn hiragana(c: char) -> char {
    match c {
        '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_kana_fold_to_one_word() {
        for written in ["サンプル", "ｻﾝﾌﾟﾙ", "さんぷる", "ｻﾝプル"] {
            assert_eq!(fold(written), "さんぷる", "{written}");
        }
        assert_eq!(fold("ＣＩＴＹ"), "city");
        assert_eq!(fold("㈱"), "(株)");
    }

    #[test]
    fn a_match_is_quoted_as_it_was_written() {
        let text = "本日はｻﾝﾌﾟﾙ品と、サンプルと ＳＡＭＰＬＥ を配ります";
        let folded = Folded::new(text);
        let needle = fold("サンプル");
        assert_eq!(
            folded.find(&needle).collect::<Vec<_>>(),
            ["ｻﾝﾌﾟﾙ", "サンプル"]
        );
        assert_eq!(
            folded.find(&fold("sample")).collect::<Vec<_>>(),
            ["ＳＡＭＰＬＥ"]
        );
        assert_eq!(folded.find("").count(), 0);
    }
}
