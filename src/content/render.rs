//! Markdown → the plain text a social network receives, and how each network counts it.
//!
//! Staff write posts line by line (日時：… / 場所：…), so every newline they type is kept;
//! Markdown only decides what is markup (emphasis markers vanish, links become `label URL`)
//! and what is text (raw HTML is shown as written, never interpreted).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Renders a Markdown body to plain text.
pub fn plain_text(markdown: &str) -> String {
    let mut out = Renderer::default();
    for (event, range) in
        Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH).into_offset_iter()
    {
        out.blank_line_before = blank_line_before(markdown, range.start);
        out.event(event);
    }
    out.finish()
}

/// Whether the writer left a blank line just before `offset` (the start of a block).
fn blank_line_before(markdown: &str, offset: usize) -> bool {
    let mut lines = markdown[..offset].rsplit('\n');
    lines.next(); // the start of the block's own line (indentation, list or quote marks)
    lines
        .next()
        .is_some_and(|previous| previous.trim().is_empty())
}

/// The text of the first heading, used as a post's title when it sets none.
pub fn first_heading(markdown: &str) -> Option<String> {
    let mut in_heading = false;
    let mut text = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => in_heading = true,
            Event::End(TagEnd::Heading(_)) => {
                let t = text.trim().to_string();
                return (!t.is_empty()).then_some(t);
            }
            Event::Text(t) | Event::Code(t) if in_heading => text.push_str(&t),
            _ => {}
        }
    }
    None
}

#[derive(Default)]
struct Renderer {
    out: String,
    /// Open lists: `Some(n)` for an ordered list at item n, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Link destinations waiting for their label to end.
    links: Vec<(String, usize)>,
    /// Inside an image: its alt text is not part of the post's text (images are attached).
    image_depth: usize,
    /// A URL was just written: text that follows directly (「…htmlで」) would read as part
    /// of the URL to a network's link detection, so it gets a space first.
    after_url: bool,
    /// Whether the source has a blank line before the current event's block, so blocks
    /// are separated exactly as written (a heading or HTML directly above text stays so).
    blank_line_before: bool,
}

impl Renderer {
    fn event(&mut self, event: Event<'_>) {
        if self.image_depth > 0 {
            match event {
                Event::Start(Tag::Image { .. }) => self.image_depth += 1,
                Event::End(TagEnd::Image) => self.image_depth -= 1,
                _ => {}
            }
            return;
        }
        if self.after_url {
            self.after_url = false;
            if let Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) = &event {
                if !t.starts_with(char::is_whitespace) {
                    self.out.push(' ');
                }
            }
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                self.out.push_str(&t)
            }
            Event::Html(t) | Event::InlineHtml(t) => self.out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => self.out.push('\n'),
            Event::Rule => {
                self.block_gap();
                self.out.push_str("――――");
            }
            Event::TaskListMarker(done) => self.out.push_str(if done { "☑ " } else { "☐ " }),
            Event::FootnoteReference(t) => self.out.push_str(&t),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // A paragraph inside a list item continues the item's line.
            Tag::Paragraph
            | Tag::Heading { .. }
            | Tag::BlockQuote(_)
            | Tag::CodeBlock(_)
            | Tag::HtmlBlock
                if !self.at_item_start() =>
            {
                self.block_gap()
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.block_gap();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.line_start();
                let depth = self.lists.len().saturating_sub(1);
                self.out.push_str(&"  ".repeat(depth));
                match self.lists.last_mut() {
                    Some(Some(n)) => {
                        self.out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => self.out.push('・'),
                }
            }
            Tag::Link { dest_url, .. } => {
                self.links.push((dest_url.to_string(), self.out.len()));
            }
            Tag::Image { .. } => self.image_depth = 1,
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::List(_) => {
                self.lists.pop();
            }
            TagEnd::Link => {
                if let Some((url, label_start)) = self.links.pop() {
                    let label = self.out[label_start..].trim().to_string();
                    if label.is_empty() || label == url {
                        self.out.truncate(label_start);
                    } else {
                        self.out.push(' ');
                    }
                    self.out.push_str(&url);
                    self.after_url = true;
                }
            }
            TagEnd::Heading(HeadingLevel::H1) | TagEnd::Heading(_) => {}
            _ => {}
        }
    }

    fn at_item_start(&self) -> bool {
        !self.lists.is_empty() && (self.out.ends_with("・") || self.out.ends_with(". "))
    }

    /// Ends the current line if there is one.
    fn line_start(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// Starts a new block: on the next line, after a blank line when the writer left one.
    fn block_gap(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let end = if self.blank_line_before { "\n\n" } else { "\n" };
        while !self.out.ends_with(end) {
            self.out.push('\n');
        }
    }

    fn finish(self) -> String {
        self.out.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_line_breaks_and_blank_lines() {
        let md = "日時：12月20日\n場所：区役所\n\n詳しくは区のホームページへ\n";
        assert_eq!(
            plain_text(md),
            "日時：12月20日\n場所：区役所\n\n詳しくは区のホームページへ"
        );
    }

    #[test]
    fn links_become_label_and_url() {
        assert_eq!(
            plain_text("[区のサイト](https://www.city.example.jp/) をご覧ください"),
            "区のサイト https://www.city.example.jp/ をご覧ください"
        );
        assert_eq!(
            plain_text("[申請](https://www.city.example.jp/a.html)で受付"),
            "申請 https://www.city.example.jp/a.html で受付"
        );
        assert_eq!(
            plain_text("<https://www.city.example.jp/>"),
            "https://www.city.example.jp/"
        );
    }

    #[test]
    fn emphasis_vanishes_headings_and_lists_read_as_text() {
        let md =
            "# お知らせ\n\n**重要**な*連絡*です。\n\n- 燃やすごみ\n- 資源\n\n1. 申込\n2. 受付\n";
        assert_eq!(
            plain_text(md),
            "お知らせ\n\n重要な連絡です。\n\n・燃やすごみ\n・資源\n\n1. 申込\n2. 受付"
        );
    }

    #[test]
    fn html_is_text_and_images_are_not() {
        assert_eq!(
            plain_text("<script>alert(1)</script>\n\n![地図](map.png)案内"),
            "<script>alert(1)</script>\n\n案内"
        );
    }

    #[test]
    fn blocks_are_separated_as_written() {
        assert_eq!(plain_text("# 見出し\n本文\n"), "見出し\n本文");
        assert_eq!(plain_text("<b>強調</b>\n本文\n"), "<b>強調</b>\n本文");
        assert_eq!(
            plain_text("持ち物：\n- 筆記用具\n- 上履き\n"),
            "持ち物：\n・筆記用具\n・上履き"
        );
        assert_eq!(plain_text("一\n\n\n二\n"), "一\n\n二");
    }

    #[test]
    fn hashtags_and_mentions_survive() {
        assert_eq!(
            plain_text("#足立区 #防災 @adachi_koho"),
            "#足立区 #防災 @adachi_koho"
        );
    }

    #[test]
    fn first_heading_is_found() {
        assert_eq!(
            first_heading("本文\n\n## 見出し\n").as_deref(),
            Some("見出し")
        );
        assert_eq!(first_heading("本文"), None);
    }
}
