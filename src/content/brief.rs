//! Values from the repository, quoted briefly in messages.
//!
//! A message that repeats a value the repository wrote goes into logs, `/healthz`, the
//! dashboard and pull-request comments, so its size must not be the author's choice: a
//! 10 MB `timezone:` once went into every log line. [`quote`] shows a short value whole and
//! a long one as a prefix with its length; [`cap`] bounds a whole message that a library
//! wrote (serde_yaml's own messages embed whole values). Control characters are shown
//! escaped, so a value cannot start a forged line of its own in a log.

/// Values up to this many characters are shown whole (an IANA zone name is at most 32, an
/// e-mail address or URL rarely longer).
pub const MAX_SHOWN_CHARS: usize = 64;

/// How many characters of a longer value are shown before the `…`.
const PREFIX_CHARS: usize = 40;

/// Messages written by a library are cut after this many characters.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// The value in backticks, whole when short, else its start and its length:
/// "`Asia/Tokyo`", "`AAAAAAAA…` (10,485,760 characters)".
pub fn quote(value: &str) -> String {
    let count = value.chars().count();
    if count <= MAX_SHOWN_CHARS {
        format!("`{}`", escaped(value.chars()))
    } else {
        format!(
            "`{}…` ({} characters)",
            escaped(value.chars().take(PREFIX_CHARS)),
            thousands(count)
        )
    }
}

/// A message cut to `max` characters, saying how long it was when it had to be cut.
pub fn cap(message: &str, max: usize) -> String {
    let count = message.chars().count();
    if count <= max {
        return escaped_keeping_newlines(message.chars());
    }
    format!(
        "{}… (cut from {} characters)",
        escaped_keeping_newlines(message.chars().take(max)),
        thousands(count)
    )
}

/// A library's message capped at [`MAX_MESSAGE_CHARS`].
pub fn cap_message(message: &str) -> String {
    cap(message, MAX_MESSAGE_CHARS)
}

fn escaped(chars: impl Iterator<Item = char>) -> String {
    chars
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Like [`escaped`], but a message's own line breaks are kept as spaces.
fn escaped_keeping_newlines(chars: impl Iterator<Item = char>) -> String {
    escaped(chars.map(|c| if c == '\n' { ' ' } else { c }))
}

/// 10485760 → "10,485,760".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_value_is_shown_whole() {
        assert_eq!(quote("Asia/Tokyo"), "`Asia/Tokyo`");
        let longest_zone = "America/Argentina/ComodRivadavia";
        assert_eq!(quote(longest_zone), format!("`{longest_zone}`"));
    }

    #[test]
    fn a_long_value_is_shown_as_a_prefix_and_its_length() {
        let value = format!("Asia/Tokyo{}", "x".repeat(10 * 1024 * 1024 - 10));
        let shown = quote(&value);
        assert!(shown.starts_with("`Asia/Tokyoxxx"), "{shown}");
        assert!(shown.ends_with("…` (10,485,760 characters)"), "{shown}");
        assert!(shown.chars().count() < 80, "{shown}");
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let shown = quote(&"あ".repeat(100));
        assert!(shown.ends_with("(100 characters)"), "{shown}");
        assert!(shown.starts_with(&format!("`{}…", "あ".repeat(PREFIX_CHARS))));
    }

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        let shown = quote("Asia/Tokyo\n2026-01-01 ERROR forged");
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.contains("\\n"), "{shown}");
        assert!(!cap("one\ntwo\u{1b}[31m", 100).contains(['\n', '\u{1b}']));
    }

    #[test]
    fn a_long_message_is_cut_and_says_so() {
        let message = format!("invalid type: string \"{}\"", "a".repeat(5000));
        let capped = cap_message(&message);
        assert!(capped.chars().count() < MAX_MESSAGE_CHARS + 40, "{capped}");
        assert!(
            capped.ends_with("… (cut from 5,023 characters)"),
            "{capped}"
        );
        assert_eq!(cap("short", 100), "short");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(262_144), "262,144");
        assert_eq!(thousands(10_485_760), "10,485,760");
    }
}
