//! A post's front-matter that YAML could not read, said as a problem staff can fix: the
//! line it is on, a misspelt key with the key it resembles, a size or nesting limit.

use crate::content::brief::{self, quote};
use crate::content::post::KEYS;
use crate::content::problem::Problem;
use crate::content::yaml_limits::LimitError;

/// The problem for front-matter refused before parsing (see `yaml_limits`).
pub(super) fn limit_problem(file: &str, e: &LimitError) -> Problem {
    // The front-matter's line 1 is the file's line 2, after the opening `---`.
    let line = e.line().map_or(1, |l| l + 1);
    let (en, ja) = match e {
        LimitError::Syntax { message, .. } => return yaml_problem(file, line, message),
        LimitError::TooLarge { size, max } => (
            format!(
                "the front-matter is {} bytes; it may be at most {} bytes",
                brief::thousands(*size),
                brief::thousands(*max)
            ),
            format!(
                "front-matter が {} バイトあります。{} バイトまでにしてください",
                brief::thousands(*size),
                brief::thousands(*max)
            ),
        ),
        LimitError::TooDeep { max, .. } => (
            format!("the front-matter nests lists or maps deeper than {max} levels"),
            format!("front-matter のリストやマップの入れ子が {max} 段を超えています"),
        ),
        LimitError::TooManyAliasNodes { max, .. } => (
            format!(
                "the front-matter's aliases (`*name`) would expand to more than {} values",
                brief::thousands(*max as usize)
            ),
            format!(
                "front-matter のエイリアス（`*name`）を展開すると {} 個を超えます",
                brief::thousands(*max as usize)
            ),
        ),
    };
    // The same code as any YAML problem: tools that read `yaml` keep working.
    Problem::new(file, line, "yaml", en, ja)
}

/// Turns a serde_yaml error into a problem; a misspelt key gets the key it resembles.
pub(super) fn yaml_problem(file: &str, line: usize, message: &str) -> Problem {
    // serde_yaml ends its messages with "at line L column C", which the problem's line says.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // serde_yaml's messages can hold a whole value ("invalid type: string \"…\"").
    let message = &brief::cap_message(message);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default();
        let nested = message.contains("expected `path`") || message.contains("`alt`");
        let candidates: &[&str] = if nested { &["path", "alt"] } else { &KEYS };
        let close = candidates
            .iter()
            .map(|k| {
                (
                    strsim::damerau_levenshtein(&key.to_lowercase().replace('-', "_"), k),
                    *k,
                )
            })
            .filter(|(d, _)| *d <= 3)
            .min();
        let (en_hint, ja_hint) = match close {
            Some((_, k)) => (
                format!("did you mean `{k}`?"),
                format!("`{k}` の誤りではありませんか？"),
            ),
            None => (
                format!("use one of {}", candidates.join(", ")),
                format!("使えるキーは {} です", candidates.join(", ")),
            ),
        };
        return Problem::new(
            file,
            line,
            "unknown-key",
            format!("unknown key {} in the front-matter; {en_hint}", quote(key)),
            format!(
                "front-matter に不明なキー {} があります。{ja_hint}",
                quote(key)
            ),
        );
    }
    Problem::new(
        file,
        line,
        "yaml",
        format!("the front-matter is not valid YAML: {message}"),
        format!("front-matter の YAML を読めません（{message}）。記号や字下げを確かめてください"),
    )
}
