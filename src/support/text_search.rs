//! Case-insensitive substring search without lowercasing every string on every request:
//! `/api/posts?q=` scans all posts' texts, and lowercasing 10,000 posts' worth of text
//! took most of a request's time. The answer is exactly `haystack.to_lowercase()
//! .contains(needle)`; only the work is skipped when lowercasing would change nothing.

/// Whether `haystack`, lowercased, contains `needle` (already lowercase).
pub fn contains_lowercased(haystack: &str, needle: &str) -> bool {
    if haystack.chars().all(lowercases_to_itself) {
        haystack.contains(needle)
    } else {
        haystack.to_lowercase().contains(needle)
    }
}

/// Whether lowercasing leaves `c` as it is. Kana, CJK ideographs and their punctuation
/// (U+3000–U+9FFF, most of a Japanese post) have no case: a range check answers for them
/// without a table look-up (the test below checks every one of them).
fn lowercases_to_itself(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_uppercase();
    }
    if ('\u{3000}'..='\u{9fff}').contains(&c) {
        return true;
    }
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cjk_range_has_no_case() {
        for c in '\u{3000}'..='\u{9fff}' {
            assert_eq!(c.to_lowercase().to_string(), c.to_string(), "{c:?}");
        }
    }

    #[test]
    fn answers_as_lowercasing_would() {
        let cases = [
            ("年末年始のごみ収集日程", "ごみ"),
            ("詳しくは HTTPS://City.Example.JP/ を", "https://city"),
            ("Ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "ａｂｃ"),
            ("ΣΊΣΥΦΟΣ", "σίσυφος"),
            ("ǅungla", "ǆun"),
            ("İstanbul", "i̇st"),
            ("Ⓐ circled", "ⓐ"),
            ("plain ascii", "ascii"),
            ("plain ascii", "ASCII"),
            ("", ""),
        ];
        for (haystack, needle) in cases {
            assert_eq!(
                contains_lowercased(haystack, needle),
                haystack.to_lowercase().contains(needle),
                "{haystack} / {needle}"
            );
        }
        assert!(contains_lowercased("Ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "ａｂｃ"));
        assert!(contains_lowercased("ΣΊΣΥΦΟΣ", "σίσυφος"));
    }
}
