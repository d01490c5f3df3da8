//! A status read back as text: Mastodon answers with the HTML it rendered from the text
//! we sent; settling compares that text with ours.

/// The visible text of a status's HTML `content`: `<br>` and paragraph ends become line
/// breaks, other tags go (their text stays, so a shortened link's hidden parts come back
/// whole), and entities are decoded.
pub(super) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let Some(end) = rest.find('>') else {
                out.push_str(rest);
                return out;
            };
            let tag = rest[1..end].trim().to_ascii_lowercase();
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
                .collect();
            match name.as_str() {
                "br" => out.push('\n'),
                "/p" => out.push_str("\n\n"),
                _ => {}
            }
            rest = &rest[end + 1..];
        } else {
            let entity_end = rest[1..].find(';').map(|j| j + 1).filter(|j| *j <= 10);
            let decoded = entity_end.and_then(|j| decode_entity(&rest[1..j]));
            match (entity_end, decoded) {
                (Some(j), Some(c)) => {
                    out.push(c);
                    rest = &rest[j + 1..];
                }
                _ => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// Text compared for settling: whitespace runs count as one space, so line breaks that the
/// HTML rendering changes (`\r\n`, paragraph gaps) do not matter.
pub(super) fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mastodon_html_back_as_the_text_sent() {
        let html = "<p>Gomi calendar &amp; more: <a href=\"https://city.example.jp/gomi/2026/calendar-nenmatsu\" \
            rel=\"nofollow noopener\" translate=\"no\" target=\"_blank\"><span class=\"invisible\">https://</span>\
            <span class=\"ellipsis\">city.example.jp/gomi/2026/cal</span><span class=\"invisible\">endar-nenmatsu</span></a><br />\
            <a href=\"https://m.example/tags/adachi\" class=\"mention hashtag\" rel=\"tag\">#<span>adachi</span></a> &lt;3 &#39;ok&#39; &#x4E00;</p>\
            <p>second</p>";
        let text = "Gomi calendar & more: https://city.example.jp/gomi/2026/calendar-nenmatsu\n#adachi <3 'ok' 一\n\nsecond";
        assert_eq!(normalise(&html_to_text(html)), normalise(text));
        assert_eq!(html_to_text("a & b &bogus; c"), "a & b &bogus; c");
        assert_eq!(html_to_text("unclosed <p"), "unclosed <p");
    }
}
