//! The four ways `check` speaks: to a person, to GitHub Actions, to a script, and to a
//! pull-request comment.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::{CheckReport, NetworkPreview, PostPreview};
use crate::content::i18n::Lang;
use crate::content::problem::Problem;

/// A publish time in the repository's time zone (UTC when it has none).
pub fn local_time(at: Option<DateTime<Utc>>, tz: Option<Tz>, lang: Lang) -> String {
    match at {
        None => lang.pick("承認後すぐ", "as soon as approved").to_string(),
        Some(t) => match tz {
            Some(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
            None => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        },
    }
}

/// When a post goes out: its time, or for a slot post the slot merging it now would take.
fn post_time(post: &PostPreview, tz: Option<Tz>, lang: Lang) -> String {
    match &post.slot {
        None => local_time(post.publish_at, tz, lang),
        Some(slot) => {
            let at = local_time(Some(slot.at), tz, lang);
            match lang {
                Lang::Ja => format!(
                    "マージ後の最初の空き枠「{}」（この確認の時点では {at}）",
                    slot.name
                ),
                Lang::En => format!(
                    "the next free slot after merge: `{}` ({at} at the time of this check)",
                    slot.name
                ),
            }
        }
    }
}

/// `file:line: error[code]: message`, errors first, one a line.
fn problem_lines(report: &CheckReport, lang: Lang) -> String {
    let mut out = String::new();
    for (label, list) in [("error", &report.errors), ("warning", &report.warnings)] {
        for p in list {
            out.push_str(&format!(
                "{}:{}: {label}[{}]: {}\n",
                p.file,
                p.line,
                p.code,
                p.text(lang)
            ));
        }
    }
    out
}

pub fn human(report: &CheckReport, lang: Lang) -> String {
    let mut out = String::new();
    out.push_str(&problem_lines(report, lang));
    if !report.errors.is_empty() || !report.warnings.is_empty() {
        out.push('\n');
    }
    for post in &report.posts {
        out.push_str(&format!(
            "{}  「{}」  {}\n",
            post.file,
            post.title,
            post_time(post, report.timezone, lang)
        ));
        for n in &post.networks {
            let verdict = if n.ok {
                "ok"
            } else {
                lang.pick("NG", "not sendable")
            };
            out.push_str(&format!(
                "  {:<10} {:>6} / {:<6} {verdict}{}\n",
                n.network,
                n.length,
                n.limit,
                thread_note(n, lang)
            ));
        }
    }
    out.push_str(&match lang {
        Lang::Ja => format!("{} ファイル、{}\n", report.files, counts(report, lang)),
        Lang::En => format!("{} files, {}\n", report.files, counts(report, lang)),
    });
    out
}

/// A thread's parts and their counts, after a network's line in `check`.
fn thread_note(n: &NetworkPreview, lang: Lang) -> String {
    if n.parts.is_empty() {
        return String::new();
    }
    let counts: Vec<String> = n.parts.iter().map(|p| p.length.to_string()).collect();
    match lang {
        Lang::Ja => format!("  スレッド {} 件: {}", n.parts.len(), counts.join(", ")),
        Lang::En => format!("  thread of {}: {}", n.parts.len(), counts.join(", ")),
    }
}

/// GitHub Actions workflow commands: an annotation per problem, inline in the pull request.
pub fn github(report: &CheckReport, lang: Lang) -> String {
    let mut out = String::new();
    for (command, list) in [("error", &report.errors), ("warning", &report.warnings)] {
        for p in list {
            out.push_str(&format!(
                "::{command} file={},line={},title={}::{}\n",
                escape_property(&p.file),
                p.line,
                escape_property(&format!("oshirase {}", p.code)),
                escape_data(p.text(lang))
            ));
        }
    }
    out.push_str(&human_summary(report, lang));
    out
}

fn human_summary(report: &CheckReport, lang: Lang) -> String {
    format!("oshirase check: {}\n", counts(report, lang))
}

/// "2 errors, 1 warnings" in the reader's language.
fn counts(report: &CheckReport, lang: Lang) -> String {
    let (e, w) = (report.errors.len(), report.warnings.len());
    match lang {
        Lang::Ja => format!("エラー {e} 件、警告 {w} 件"),
        Lang::En => format!("{e} errors, {w} warnings"),
    }
}

/// Workflow-command data: `%`, CR and LF are encoded so a message stays one command.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command properties also encode `:` and `,`, which separate properties.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn json(report: &CheckReport, lang: Lang) -> serde_json::Value {
    let problem = |p: &Problem| json!({ "file": p.file, "line": p.line, "code": p.code, "message": p.text(lang) });
    json!({
        "files": report.files,
        "errors": report.errors.iter().map(problem).collect::<Vec<_>>(),
        "warnings": report.warnings.iter().map(problem).collect::<Vec<_>>(),
        "posts": report.posts,
    })
}

/// A pull-request comment, in the order an approver reads it: the office's policy
/// findings (the checklist), then the other problems, then per post a table of what each
/// network receives and the exact texts. Staff-written text is escaped or fenced so it
/// cannot become markup.
pub fn markdown(report: &CheckReport, lang: Lang) -> String {
    let mut out = String::from("<!-- oshirase-preview -->\n");
    out.push_str(&format!("## oshirase check: {}\n\n", counts(report, lang)));
    let (policy, others): (Vec<_>, Vec<_>) =
        marked(report).partition(|(_, p)| p.code.starts_with("policy-"));
    let checklist = lang.pick("### 方針の確認事項\n\n", "### Policy checklist\n\n");
    findings(&mut out, checklist, &policy, lang, |m, at, t| {
        format!("- {m} {at} {t}")
    });
    let table = lang.pick(
        "| | ファイル | 内容 |\n| --- | --- | --- |\n",
        "| | file | problem |\n| --- | --- | --- |\n",
    );
    findings(&mut out, table, &others, lang, |m, at, t| {
        format!("| {m} | {at} | {t} |")
    });
    for post in &report.posts {
        post_section(&mut out, post, report.timezone, lang);
    }
    out
}

/// A heading and one `row(mark, file:line, text)` per finding; nothing when there are none.
fn findings(
    out: &mut String,
    heading: &str,
    list: &[(&str, &Problem)],
    lang: Lang,
    row: impl Fn(&str, &str, &str) -> String,
) {
    if list.is_empty() {
        return;
    }
    out.push_str(heading);
    for (mark, p) in list {
        let at = format!("`{}:{}`", cell(&p.file), p.line);
        out.push_str(&row(mark, &at, &cell(p.text(lang))));
        out.push('\n');
    }
    out.push('\n');
}

/// Errors then warnings, each with its mark.
fn marked(report: &CheckReport) -> impl Iterator<Item = (&'static str, &Problem)> {
    let errors = report.errors.iter().map(|p| ("❌", p));
    errors.chain(report.warnings.iter().map(|p| ("⚠️", p)))
}

fn post_section(out: &mut String, post: &PostPreview, tz: Option<Tz>, lang: Lang) {
    out.push_str(&format!(
        "### {} — `{}`\n\n",
        cell(&post.title),
        cell(&post.file)
    ));
    out.push_str(&format!(
        "{}: **{}**",
        lang.pick("公開日時", "Publish"),
        post_time(post, tz, lang)
    ));
    if let Some(d) = &post.department {
        out.push_str(&format!(
            " · {}: {}",
            lang.pick("担当", "Department"),
            cell(d)
        ));
    }
    out.push_str("\n\n");
    out.push_str(lang.pick(
        "| 投稿先 | 文字数 / 上限 | 送信 | 画像 |\n| --- | --- | --- | --- |\n",
        "| network | count / limit | sendable | images |\n| --- | --- | --- | --- |\n",
    ));
    for n in &post.networks {
        let images = post
            .images
            .iter()
            .map(|i| format!("`{}`", cell(&i.path)))
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "| {} | {} / {}{} | {} | {} |\n",
            cell(&n.network),
            n.length,
            n.limit,
            thread_note(n, lang),
            if n.ok { "✅" } else { "❌" },
            if images.is_empty() {
                "—".into()
            } else {
                images
            }
        ));
    }
    out.push('\n');
    for image in &post.images {
        out.push_str(&format!(
            "- {} `{}` ({}, {} bytes): {}\n",
            lang.pick("画像", "image"),
            cell(&image.path),
            image.mime,
            image.size,
            image
                .alt
                .as_deref()
                .map(cell)
                .unwrap_or_else(|| lang.pick("（代替テキストなし）", "(no alt text)").into())
        ));
    }
    if !post.images.is_empty() {
        out.push('\n');
    }
    for n in &post.networks {
        out.push_str(&format!(
            "<details><summary>{}</summary>\n\n",
            cell(&n.network)
        ));
        let fence = fence_for(&n.text);
        out.push_str(&format!(
            "{fence}text\n{}\n{fence}\n\n</details>\n\n",
            n.text
        ));
    }
}

/// A code fence longer than any run of backticks in the text, so the text cannot end it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// Text safe inside a Markdown table cell or heading: no HTML, no pipes, no line breaks,
/// no emphasis or link syntax.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '`' | '*' | '_' | '[' | ']' | '\\' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `oshirase preview`: each network's exact text, its count and limit, the images and the
/// publish time, then any problems.
pub fn preview_human(report: &CheckReport, lang: Lang) -> String {
    let mut out = String::new();
    for post in &report.posts {
        out.push_str(&format!("{}  「{}」\n", post.file, post.title));
        out.push_str(&format!(
            "{}: {}\n",
            lang.pick("公開日時", "publish"),
            post_time(post, report.timezone, lang)
        ));
        for i in &post.images {
            out.push_str(&format!(
                "{}: {} ({}, {} bytes) alt: {}\n",
                lang.pick("画像", "image"),
                i.path,
                i.mime,
                i.size,
                i.alt.as_deref().unwrap_or("-")
            ));
        }
        for n in &post.networks {
            let verdict = if n.ok {
                "ok"
            } else {
                lang.pick("送信できません", "cannot be sent")
            };
            if n.parts.is_empty() {
                out.push_str(&format!(
                    "\n── {} ({})  {} / {}  {verdict}\n",
                    n.network, n.kind, n.length, n.limit
                ));
                out.push_str(&n.text);
                out.push('\n');
                continue;
            }
            let total = n.parts.len();
            for (i, part) in n.parts.iter().enumerate() {
                let place = match lang {
                    Lang::Ja => format!("スレッド {}/{total}", i + 1),
                    Lang::En => format!("thread part {}/{total}", i + 1),
                };
                let mark = if part.length > n.limit { "  NG" } else { "" };
                out.push_str(&format!(
                    "\n── {} ({})  {place}  {} / {}{mark}  {verdict}\n",
                    n.network, n.kind, part.length, n.limit
                ));
                out.push_str(&part.text);
                out.push('\n');
            }
        }
    }
    if report.posts.is_empty() && report.errors.is_empty() {
        out.push_str(lang.pick(
            "投稿ではありません（先頭に `---` で始まる front-matter がありません）\n",
            "not a post (it does not start with a `---` front-matter)\n",
        ));
    }
    out.push_str(&problem_lines(report, lang));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escapes_keep_one_command_per_line() {
        assert_eq!(escape_data("a%b\nc\r"), "a%25b%0Ac%0D");
        assert_eq!(escape_property("posts/a,b:c.md"), "posts/a%2Cb%3Ac.md");
    }

    #[test]
    fn markdown_cells_cannot_carry_markup() {
        assert_eq!(
            cell("<script>|x</script>"),
            "&lt;script&gt;\\|x&lt;/script&gt;"
        );
        assert_eq!(cell("[link](javascript:x)"), "\\[link\\](javascript:x)");
        assert_eq!(fence_for("a ```` b"), "`````");
        assert_eq!(fence_for("plain"), "```");
    }
}
