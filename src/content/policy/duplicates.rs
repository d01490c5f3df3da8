//! The duplicate guard: a text that repeats one already published on the same network, or
//! another post of the same change. X suspends accounts that post the same text again and
//! again — several city accounts lost theirs in the middle of a disaster — so a repeat is
//! an error for X and a warning elsewhere.
//!
//! "The same" is judged as a reader would: spacing, punctuation and symbols do not count, a
//! changed number (a date, a time) does not make a new text, and a text that differs in a
//! few characters is nearly identical.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::content::config::NetworkKind;
use crate::content::policy::fold::fold;
use crate::content::problem::Problem;

/// Sørensen–Dice over pairs of characters at or above this is "nearly identical": one
/// word changed in a post of a few lines stays above it, a different notice falls below.
const NEARLY: f64 = 0.9;

/// A text reduced to what makes it a different post: folded (width, kana, case), without
/// spaces, punctuation or symbols, and each run of digits as one `0`.
pub fn skeleton(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in fold(text).chars() {
        if c.is_numeric() {
            if !in_number {
                out.push('0');
            }
            in_number = true;
            continue;
        }
        in_number = false;
        if c.is_alphanumeric() {
            out.push(c);
        }
    }
    out
}

/// Whether two skeletons are the same text or nearly.
pub fn alike(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    // Lengths that differ by more than a fifth cannot reach NEARLY; skip the counting.
    if la.min(lb) * 5 < la.max(lb) * 4 {
        return false;
    }
    dice(a, b) >= NEARLY
}

/// Sørensen–Dice similarity of the two texts' pairs of adjacent characters, counted with
/// repeats: 1.0 for the same pairs, 0.0 for none in common.
fn dice(a: &str, b: &str) -> f64 {
    let pairs = |t: &str| {
        let chars: Vec<char> = t.chars().collect();
        let mut counts: HashMap<(char, char), usize> = HashMap::new();
        for w in chars.windows(2) {
            *counts.entry((w[0], w[1])).or_default() += 1;
        }
        (counts, chars.len().saturating_sub(1))
    };
    let ((pa, na), (pb, nb)) = (pairs(a), pairs(b));
    if na + nb == 0 {
        return 0.0;
    }
    let shared: usize = pa
        .iter()
        .map(|(pair, n)| (*n).min(pb.get(pair).copied().unwrap_or(0)))
        .sum();
    (2 * shared) as f64 / (na + nb) as f64
}

/// An earlier post's time as the finding shows it: in the repository's timezone when it
/// has one.
pub fn when(at: DateTime<Utc>, zone: Option<Tz>) -> String {
    match zone {
        Some(tz) => at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// Whether a repeat on a network of `kind` stops the post (X) or is a warning.
pub fn is_error(kind: NetworkKind) -> bool {
    kind == NetworkKind::X
}

/// The finding for `file`'s text for `network` repeating `earlier` (described, e.g.
/// "posts/gomi.md, published 2026-11-20 10:00").
pub fn finding(
    file: &str,
    line: usize,
    network: &str,
    kind: NetworkKind,
    earlier: &str,
) -> Problem {
    let (why_en, why_ja) = if is_error(kind) {
        (
            "X suspends accounts that repeat a post; change the text or leave this network out",
            "X は同じ内容を繰り返す アカウントを凍結することがあります。本文を変えるか、この投稿先を外してください",
        )
    } else {
        (
            "networks hide repeated posts; check it is meant",
            "同じ内容の投稿は表示されないことがあります。意図したものか確認してください",
        )
    };
    Problem::new(
        file,
        line,
        "policy-duplicate",
        format!(
            "the text for `{network}` is the same as, or nearly the same as, {earlier}: {why_en}"
        ),
        format!("`{network}` に送る本文が {earlier} と同じか、ほぼ同じです。{why_ja}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = "12月29日から1月3日まで、ごみの収集はお休みです。\n詳しくは https://www.city.example.jp/gomi をご覧ください。";

    #[test]
    fn spacing_punctuation_width_and_a_changed_date_are_the_same_text() {
        let a = skeleton(NOTICE);
        for b in [
            "12月29日から1月3日まで ごみの収集はお休みです\n詳しくは https://www.city.example.jp/gomi をご覧ください！",
            "１２月３０日から１月４日まで、ごみの収集はお休みです。\n詳しくは https://www.city.example.jp/gomi をご覧ください。",
            "12月29日から1月3日まで、ゴミの収集はお休みです。詳しくは https://www.city.example.jp/gomi をご覧ください。",
        ] {
            assert!(alike(&a, &skeleton(b)), "{b}");
        }
    }

    #[test]
    fn a_few_characters_changed_is_nearly_identical_and_another_notice_is_not() {
        let a = skeleton(NOTICE);
        let nearly = NOTICE.replace("お休みです", "休みです");
        assert!(alike(&a, &skeleton(&nearly)));
        let other = "本日15時から、区役所本庁舎の駐車場は工事のため使えません。\n詳しくは https://www.city.example.jp/parking をご覧ください。";
        assert!(!alike(&a, &skeleton(other)));
        assert!(!alike("", ""));
    }
}
