//! `policy:` as `oshirase.yaml` writes it, repository-wide and per account, validated once
//! into a [`Policy`] for each account.
//!
//! An account's `policy:` adds to the repository's lists of words and required fields (a
//! section can add its own words to the office's) and replaces its other keys.

use std::time::Duration;

use serde::Deserialize;

use crate::content::brief::quote;
use crate::content::network_config::FieldError;
use crate::content::policy::fold::fold;

/// Hosts of URL shorteners, refused when `policy:` does not list its own: residents must
/// see where a link from the office leads.
pub const DEFAULT_SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "buff.ly",
    "cutt.ly",
    "goo.gl",
    "is.gd",
    "ow.ly",
    "rebrand.ly",
    "shorturl.at",
    "t.co",
    "t.ly",
    "tiny.cc",
    "tinyurl.com",
    "v.gd",
    "x.gd",
    "amzn.to",
    "urx.nu",
];

/// How far back the duplicate guard looks when `duplicates:` gives no window.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A word list entry is at most this long, and a list at most this many entries: the file
/// is untrusted, and every post is searched for every word.
const MAX_WORD_CHARS: usize = 100;
const MAX_LIST: usize = 1000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    forbidden: Option<Vec<String>>,
    caution: Option<Vec<String>>,
    shorteners: Option<Vec<String>>,
    link_domains: Option<Vec<String>>,
    duplicates: Option<RawDuplicates>,
    require: Option<Vec<String>>,
}

/// `duplicates: 30d`, or `duplicates: false` to turn the guard off.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDuplicates {
    On(bool),
    Window(String),
}

/// The rules one account's posts are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Words that make a post an error.
    pub forbidden: Vec<Word>,
    /// Words the approver is warned of.
    pub caution: Vec<Word>,
    /// Lower-case hosts whose links are an error (their subdomains too).
    pub shorteners: Vec<String>,
    /// When set, links outside these domains (and their subdomains) are a warning.
    pub link_domains: Option<Vec<String>>,
    /// How far back a repeated text counts; `None` turns the guard off.
    pub duplicates: Option<Duration>,
    pub require: Vec<Required>,
}

/// A word as the policy lists it, and folded for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub listed: String,
    pub folded: String,
}

/// A field an office makes mandatory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// `department:` in every post.
    Department,
    /// `alt:` on every image.
    Alt,
}

impl Required {
    pub fn as_str(self) -> &'static str {
        match self {
            Required::Department => "department",
            Required::Alt => "alt",
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            forbidden: Vec::new(),
            caution: Vec::new(),
            shorteners: DEFAULT_SHORTENERS.iter().map(|s| s.to_string()).collect(),
            link_domains: None,
            duplicates: Some(DEFAULT_DUPLICATE_WINDOW),
            require: Vec::new(),
        }
    }
}

impl Policy {
    /// `raw` (at `field`, `policy` or `accounts.<name>.policy`) validated on top of `base`:
    /// the repository's policy for an account's, the defaults for the repository's.
    pub fn validate(field: &str, raw: RawPolicy, base: &Policy) -> Result<Policy, FieldError> {
        let mut policy = base.clone();
        let at = |key: &str| format!("{field}.{key}");
        if let Some(list) = raw.forbidden {
            add_words(&mut policy.forbidden, &at("forbidden"), list)?;
        }
        if let Some(list) = raw.caution {
            add_words(&mut policy.caution, &at("caution"), list)?;
        }
        if let Some(list) = raw.shorteners {
            policy.shorteners = hosts(&at("shorteners"), list)?;
        }
        if let Some(list) = raw.link_domains {
            if list.is_empty() {
                return Err((
                    at("link_domains"),
                    "an empty list would warn of every link; remove the key to allow any domain"
                        .into(),
                ));
            }
            policy.link_domains = Some(hosts(&at("link_domains"), list)?);
        }
        if let Some(d) = raw.duplicates {
            policy.duplicates = duplicates(&at("duplicates"), d)?;
        }
        for name in raw.require.unwrap_or_default() {
            let required = match name.trim() {
                "department" => Required::Department,
                "alt" => Required::Alt,
                other => {
                    return Err((
                        at("require"),
                        format!(
                            "{} cannot be required; use `department` or `alt`",
                            quote(other)
                        ),
                    ))
                }
            };
            if !policy.require.contains(&required) {
                policy.require.push(required);
            }
        }
        Ok(policy)
    }
}

fn add_words(words: &mut Vec<Word>, field: &str, list: Vec<String>) -> Result<(), FieldError> {
    if words.len() + list.len() > MAX_LIST {
        return Err((field.into(), format!("at most {MAX_LIST} words")));
    }
    for listed in list {
        let listed = listed.trim().to_string();
        let folded = fold(&listed);
        if folded.trim().is_empty() || listed.chars().count() > MAX_WORD_CHARS {
            return Err((
                field.into(),
                format!(
                    "{} is not a word to look for: give 1–{MAX_WORD_CHARS} characters",
                    quote(&listed)
                ),
            ));
        }
        if !words.iter().any(|w| w.folded == folded) {
            words.push(Word { listed, folded });
        }
    }
    Ok(())
}

/// Domain names, lower case, without a scheme or path.
fn hosts(field: &str, list: Vec<String>) -> Result<Vec<String>, FieldError> {
    if list.len() > MAX_LIST {
        return Err((field.into(), format!("at most {MAX_LIST} entries")));
    }
    list.into_iter()
        .map(|h| {
            let h = h.trim().trim_end_matches('.').to_lowercase();
            // As links' hosts are compared: an international name in its ASCII form.
            let parsed = url::Url::parse(&format!("http://{h}/")).ok();
            let ascii = parsed
                .as_ref()
                .and_then(url::Url::host_str)
                .map(str::to_string);
            let ok = !h.contains(['/', ':', '@', '?', '#']) && h.contains('.');
            match ascii.filter(|_| ok) {
                Some(host) => Ok(host),
                None => Err((
                    field.into(),
                    format!(
                        "{} is not a domain name such as city.example.jp (no https:// or path)",
                        quote(&h)
                    ),
                )),
            }
        })
        .collect()
}

fn duplicates(field: &str, raw: RawDuplicates) -> Result<Option<Duration>, FieldError> {
    match raw {
        RawDuplicates::On(false) => Ok(None),
        RawDuplicates::On(true) => Ok(Some(DEFAULT_DUPLICATE_WINDOW)),
        RawDuplicates::Window(text) => match humantime::parse_duration(&text) {
            Ok(window) if !window.is_zero() => Ok(Some(window)),
            _ => Err((
                field.into(),
                format!(
                    "{} is not a window such as 30d or 7d (or `false` for no guard)",
                    quote(&text)
                ),
            )),
        },
    }
}
