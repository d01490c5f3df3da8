//! One post read against its account's policy: the words it uses, the links it gives and
//! the fields it fills in. Each finding names the file, the line and the text as written.

use std::collections::BTreeSet;

use crate::content::brief::quote;
use crate::content::links::{self, Protocol};
use crate::content::policy::fold::Folded;
use crate::content::policy::settings::{Policy, Required, Word};
use crate::content::post::Post;
use crate::content::problem::Problem;

/// What the policy found: errors stop the post, warnings are for the approver.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Findings {
    /// Each finding once, though a word may be found twice on a line.
    fn push(&mut self, error: bool, problem: Problem) {
        let list = if error {
            &mut self.errors
        } else {
            &mut self.warnings
        };
        if !list.contains(&problem) {
            list.push(problem);
        }
    }
}

impl Policy {
    /// `post` read against this policy (duplicates aside: they need the other posts).
    pub fn review(&self, post: &Post) -> Findings {
        let mut findings = Findings::default();
        for (line, text) in places(post) {
            let folded = Folded::new(text);
            for word in &self.forbidden {
                for written in folded.find(&word.folded) {
                    findings.push(true, forbidden(post, line, written, word));
                }
            }
            for word in &self.caution {
                for written in folded.find(&word.folded) {
                    findings.push(false, caution(post, line, written, word));
                }
            }
            for range in links::find(text, Protocol::Optional) {
                self.review_link(post, line, &text[range], &mut findings);
            }
        }
        for required in &self.require {
            if let Some(problem) = missing(post, *required) {
                findings.push(true, problem);
            }
        }
        findings
    }

    fn review_link(&self, post: &Post, line: usize, link: &str, findings: &mut Findings) {
        let Some(host) = host_of(link) else { return };
        let at = |code: &str, en: String, ja: String| {
            let mut p = post.problem("text", code, en, ja);
            p.line = line;
            p
        };
        let shown = quote(link);
        if let Some(s) = self.shorteners.iter().find(|s| within(&host, s)) {
            findings.push(
                true,
                at(
                    "policy-shortener",
                    format!("{shown} is a shortened link ({s}); give the full address so residents can see where it leads"),
                    format!("{shown} は短縮 URL（{s}）です。行き先が分かるよう、元の URL を書いてください"),
                ),
            );
        }
        if link
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        {
            findings.push(
                false,
                at(
                    "policy-http",
                    format!("{shown} is not encrypted (http://); use https:// where the site has it"),
                    format!("{shown} は暗号化されていない http:// のリンクです。可能なら https:// にしてください"),
                ),
            );
        }
        if let Some(domains) = &self.link_domains {
            if !domains.iter().any(|d| within(&host, d)) {
                let list = domains.join(", ");
                findings.push(
                    false,
                    at(
                        "policy-link-domain",
                        format!("{shown} leads outside the office's domains ({list}); check it is meant"),
                        format!("{shown} は指定のドメイン（{list}）の外へのリンクです。意図したものか確認してください"),
                    ),
                );
            }
        }
    }
}

/// The texts of a post that reach residents, each with the line of the file it is on:
/// the body line by line, the per-network texts and threads, and the images' descriptions.
fn places(post: &Post) -> Vec<(usize, &str)> {
    let body = post.body.lines().enumerate();
    let mut out: Vec<(usize, &str)> = body.map(|(i, l)| (post.body_line + i, l)).collect();
    for (network, text) in &post.text {
        let line = post.text_line(network);
        out.extend(text.lines().map(|l| (line, l)));
    }
    for (network, parts) in &post.thread {
        let line = post.thread_line(network);
        out.extend(parts.iter().flat_map(|p| p.lines()).map(|l| (line, l)));
    }
    let images_line = post.line_of("images");
    for alt in post.images.iter().filter_map(|i| i.alt.as_deref()) {
        out.push((images_line, alt));
    }
    out
}

fn forbidden(post: &Post, line: usize, written: &str, word: &Word) -> Problem {
    let mut p = post.problem(
        "text",
        "policy-forbidden",
        format!(
            "{} is on the office's list of words not to use (policy.forbidden: {}); rephrase it",
            quote(written),
            quote(&word.listed)
        ),
        format!(
            "{} は使わないことになっている言葉です（policy.forbidden の {}）。言い換えてください",
            quote(written),
            quote(&word.listed)
        ),
    );
    p.line = line;
    p
}

fn caution(post: &Post, line: usize, written: &str, word: &Word) -> Problem {
    let mut p = post.problem(
        "text",
        "policy-caution",
        format!(
            "{} needs care (policy.caution: {}); check the claim is accurate before approving",
            quote(written),
            quote(&word.listed)
        ),
        format!(
            "{} は注意が必要な言葉です（policy.caution の {}）。承認の前に表現が正確か確かめてください",
            quote(written),
            quote(&word.listed)
        ),
    );
    p.line = line;
    p
}

fn missing(post: &Post, required: Required) -> Option<Problem> {
    match required {
        Required::Department => post
            .department
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
            .then(|| {
                post.problem(
                    "department",
                    "policy-required",
                    "the office requires `department:` in every post (policy.require)".into(),
                    "この事務所では `department:`（担当課）が必須です（policy.require）".into(),
                )
            }),
        Required::Alt => {
            let without: BTreeSet<&str> = post
                .images
                .iter()
                .filter(|i| i.alt.as_deref().is_none_or(|a| a.trim().is_empty()))
                .map(|i| i.path.as_str())
                .collect();
            let without = without.into_iter().map(quote).collect::<Vec<_>>();
            (!without.is_empty()).then(|| {
                let list = without.join(", ");
                post.problem(
                    "images",
                    "policy-required",
                    format!("the office requires `alt:` on every image (policy.require); {list} has none"),
                    format!("この事務所では画像の `alt:`（代替テキスト）が必須です（policy.require）。{list} にありません"),
                )
            })
        }
    }
}

/// The host a link leads to, lower case; a link written without a protocol counts as
/// `http://`, as X treats it.
fn host_of(link: &str) -> Option<String> {
    let full = if link.contains("://") {
        link.to_string()
    } else {
        format!("http://{link}")
    };
    let url = url::Url::parse(&full).ok()?;
    url.host_str()
        .map(|h| h.trim_end_matches('.').to_lowercase())
}

/// `host` is `domain` or one of its subdomains.
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}
