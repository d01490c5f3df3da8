//! Markdown files where posts live that are not posts, but look as if they were meant to
//! be: an empty file, a front-matter without its opening `---`. Such a file would never go
//! out, so `check` and the dashboard warn its author; documentation is left alone.

use crate::content::post::KEYS;
use crate::content::problem::Problem;

/// File names (before `.md`, any case) of documentation kept beside the posts.
const DOCUMENTATION: &[&str] = &[
    "readme",
    "changelog",
    "contributing",
    "license",
    "security",
    "code_of_conduct",
];

/// Why a Markdown file that [`parse`](crate::content::post::parse) found not to be a post looks like one meant to be: it
/// is empty, or its front-matter lacks the opening `---`, or does not start on line 1. A
/// warning for its author, because such a post would never go out; `None` for
/// documentation (a README, a page of prose), which is not warned about.
pub fn warning(file: &str, bytes: &[u8]) -> Option<Problem> {
    let name = file.rsplit('/').next().unwrap_or(file).to_ascii_lowercase();
    let stem = name.strip_suffix(".md").unwrap_or(&name);
    if DOCUMENTATION.iter().any(|d| stem.starts_with(d)) {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let Some((index, first)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        return Some(Problem::new(
            file,
            1,
            "not-a-post",
            "the file is empty, so it is not a post and will never be published; write the \
             post, or delete the file"
                .into(),
            "ファイルが空のため投稿として扱われず、公開されません。投稿を書くか、ファイルを削除してください"
                .into(),
        ));
    };
    let line = index + 1;
    if first.trim() == "---" {
        return Some(Problem::new(
            file,
            line,
            "not-a-post",
            format!(
                "the front-matter starts on line {line}, but it must start on line 1, so this \
                 is not a post and will never be published; remove what comes before `---`"
            ),
            format!(
                "front-matter が {line} 行目から始まっています。1行目から始めないと投稿として扱われず、公開されません。`---` より前を削除してください"
            ),
        ));
    }
    let key = first.split(':').next().unwrap_or("").trim();
    if first.contains(':') && KEYS.contains(&key) {
        return Some(Problem::new(
            file,
            line,
            "not-a-post",
            format!(
                "the file starts with `{key}:` like a post's front-matter, but has no `---` line \
                 before it, so it is not a post and will never be published; add a line `---` \
                 on line 1 and another after the front-matter"
            ),
            format!(
                "ファイルが投稿の front-matter のように `{key}:` で始まっていますが、その前に `---` の行がないため投稿として扱われず、公開されません。1行目と front-matter の後に `---` の行を加えてください"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_post_is_warned_about_and_documentation_is_not() {
        let warned = |file: &str, text: &str| {
            warning(file, text.as_bytes()).map(|p| (p.line, p.code.clone()))
        };
        let not_a_post = "not-a-post".to_string();
        assert_eq!(warned("posts/a.md", ""), Some((1, not_a_post.clone())));
        assert_eq!(warned("posts/a.md", " \n\n"), Some((1, not_a_post.clone())));
        assert_eq!(
            warned("posts/a.md", "title: 防災訓練\nnetworks: [x]\n---\n本文\n"),
            Some((1, not_a_post.clone()))
        );
        assert_eq!(
            warned("posts/a.md", "\n\n---\ntitle: 防災訓練\n---\n本文\n"),
            Some((3, not_a_post))
        );
        // Documentation: by its name, or because it is prose.
        assert_eq!(warned("posts/README.md", ""), None);
        assert_eq!(warned("posts/Readme-ja.md", "title: x\n"), None);
        assert_eq!(
            warned(
                "posts/how-to.md",
                "# 投稿の書き方\n\ntitle: で題名を書きます\n"
            ),
            None
        );
        assert_eq!(warned("posts/notes.md", "メモ: 来週の予定\n"), None);
    }
}
