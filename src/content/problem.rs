//! A problem in a post or in `oshirase.yaml`, pinned to a file and line, in English and
//! Japanese: staff fix them from a pull-request view, the dashboard or the desk.

use serde::{Deserialize, Serialize};

use crate::content::i18n::Lang;

/// One thing wrong with a post, pinned to a line of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// A stable machine-readable code (`yaml`, `unknown-key`, `publish-at`, …).
    pub code: String,
    /// English.
    pub message: String,
    /// Japanese.
    #[serde(default)]
    pub message_ja: String,
}

impl Problem {
    pub fn new(file: &str, line: usize, code: &str, en: String, ja: String) -> Problem {
        Problem {
            file: file.to_string(),
            line,
            code: code.to_string(),
            message: en,
            message_ja: ja,
        }
    }

    /// The message in `lang` (English when no Japanese was recorded).
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ja if !self.message_ja.is_empty() => &self.message_ja,
            _ => &self.message,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
