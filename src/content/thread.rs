//! A post as a thread: its body cut into parts by lines holding only `+++`, or its parts
//! given for one network as `thread.<network>`, and how each network type takes them.
//!
//! Pure, like the rest of `content`: the body's parts keep the file line they start on, so
//! a part that is too long for a network is pointed at where it is written.

use crate::content::network_config::NetworkKind;

/// The line that separates two parts of a thread in the body.
pub const SEPARATOR: &str = "+++";

/// LINE's broadcast takes at most this many messages in one request.
pub const LINE_MAX_MESSAGES: usize = 5;

/// One part of a thread as written in the body: its Markdown and the file line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    pub markdown: String,
    pub line: usize,
}

/// The body's parts, in order; a body without a separator is one part. `body_line` is the
/// file line the body starts on. A separator inside a fenced code block is text, not a cut.
pub fn split_body(body: &str, body_line: usize) -> Vec<BodyPart> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut start = body_line;
    let mut fence: Option<&str> = None;
    for (i, line) in body.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        let opens = ["```", "~~~"]
            .into_iter()
            .find(|f| bare.trim_start().starts_with(f));
        match (fence, opens) {
            (None, Some(f)) => fence = Some(f),
            (Some(open), Some(f)) if open == f => fence = None,
            _ => {}
        }
        if fence.is_none() && bare == SEPARATOR {
            parts.push(BodyPart {
                markdown: std::mem::take(&mut current),
                line: start,
            });
            start = body_line + i + 1;
            continue;
        }
        current.push_str(line);
    }
    parts.push(BodyPart {
        markdown: current,
        line: start,
    });
    parts
}

/// How a network type takes a thread of several parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Each part is a post of its own, replying to the part before it (X, Mastodon,
    /// Bluesky; an outbox writes a line per part).
    Replies,
    /// All parts as messages of one request, at most this many (LINE's broadcast).
    Messages(usize),
    /// The whole text as one post, the parts a paragraph apart (Facebook, a webhook).
    Joined,
}

/// How `kind` (the type a network is counted as) takes a thread.
pub fn style(kind: NetworkKind) -> Style {
    match kind {
        NetworkKind::X | NetworkKind::Mastodon | NetworkKind::Bluesky | NetworkKind::Outbox => {
            Style::Replies
        }
        NetworkKind::Line => Style::Messages(LINE_MAX_MESSAGES),
        NetworkKind::Facebook | NetworkKind::Webhook => Style::Joined,
    }
}

/// The parts as one text, a blank line between each (an empty part adds nothing).
pub fn joined(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| p.trim_end())
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_only_the_separator_cuts_the_body_and_parts_keep_their_lines() {
        let body = "一つ目\n続き\n+++\n二つ目\n+++  \n三つ目\n";
        let parts = split_body(body, 6);
        let texts: Vec<_> = parts.iter().map(|p| p.markdown.as_str()).collect();
        assert_eq!(texts, ["一つ目\n続き\n", "二つ目\n", "三つ目\n"]);
        let lines: Vec<_> = parts.iter().map(|p| p.line).collect();
        assert_eq!(lines, [6, 9, 11]);
    }

    #[test]
    fn a_separator_inside_text_or_a_code_fence_does_not_cut() {
        let body = "a +++ b\n```\n+++\n```\n ++++\n";
        assert_eq!(split_body(body, 1).len(), 1);
    }

    #[test]
    fn each_network_type_takes_a_thread_its_own_way() {
        assert_eq!(style(NetworkKind::X), Style::Replies);
        assert_eq!(style(NetworkKind::Bluesky), Style::Replies);
        assert_eq!(style(NetworkKind::Line), Style::Messages(5));
        assert_eq!(style(NetworkKind::Facebook), Style::Joined);
        assert_eq!(joined(&["a\n".into(), "b".into()]), "a\n\nb");
    }
}
