//! Server-side secrets: the environment and the `--secrets` file (`KEY=value` lines).
//!
//! Secrets never come from the content repository, and this type never prints a value:
//! its `Debug` shows only the names it holds.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SecretsError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Clone, Default)]
pub struct Secrets {
    file: BTreeMap<String, String>,
    /// Read the process environment too (off in tests that must not see the machine's).
    use_env: bool,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.file.keys().collect::<Vec<_>>())
            .field("use_env", &self.use_env)
            .finish()
    }
}

impl Secrets {
    /// Only the environment.
    pub fn from_env() -> Secrets {
        Secrets {
            file: BTreeMap::new(),
            use_env: true,
        }
    }

    /// The environment plus a secrets file; a variable set in the environment wins.
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SecretsError {
            file: shown.clone(),
            line: 0,
            message: format!("cannot read the secrets file: {e}"),
        })?;
        let mut s = Secrets::parse(&shown, &text)?;
        s.use_env = true;
        Ok(s)
    }

    /// Parses `KEY=value` lines; blank lines and `#` comments are skipped, `export ` and
    /// matching quotes around the value are accepted as shells write them.
    pub fn parse(file: &str, text: &str) -> Result<Secrets, SecretsError> {
        let mut values = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let err = |message: String| SecretsError {
                file: file.to_string(),
                line: i + 1,
                message,
            };
            let Some((key, value)) = line.split_once('=') else {
                // Never echo the line: it may be a secret pasted without its name.
                return Err(err("expected KEY=value".into()));
            };
            let key = key.trim();
            let valid_key = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !valid_key {
                return Err(err("the name before `=` must be A–Z, 0–9 and `_`".into()));
            }
            let value = value.trim();
            let value = ['"', '\''].iter().fold(value, |v, q| {
                v.strip_prefix(*q)
                    .and_then(|v| v.strip_suffix(*q))
                    .unwrap_or(v)
            });
            values.insert(key.to_string(), value.to_string());
        }
        Ok(Secrets {
            file: values,
            use_env: false,
        })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        if self.use_env {
            if let Ok(v) = std::env::var(name) {
                if !v.is_empty() {
                    return Some(v);
                }
            }
        }
        self.file.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// A URL with any `user:password@` removed, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_value_lines() {
        let s = Secrets::parse(
            "s.env",
            "# comment\n\nX_ADACHI_ACCESS_TOKEN=abc=def\nexport FB_ADACHI_PAGE_TOKEN=\"quoted\"\n",
        )
        .unwrap();
        assert_eq!(s.get("X_ADACHI_ACCESS_TOKEN").as_deref(), Some("abc=def"));
        assert_eq!(s.get("FB_ADACHI_PAGE_TOKEN").as_deref(), Some("quoted"));
        assert_eq!(s.get("MISSING"), None);
        assert!(
            !format!("{s:?}").contains("abc"),
            "Debug never shows values"
        );
    }

    #[test]
    fn bad_lines_name_the_line_without_echoing_it() {
        let e = Secrets::parse("s.env", "A=1\nsk-live-123456\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("sk-live"));
        assert!(Secrets::parse("s.env", "lower=1").is_err());
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:tok@git.example/o/r.git"),
            "https://git.example/o/r.git"
        );
        assert_eq!(
            redact_url("https://git.example/o/r.git"),
            "https://git.example/o/r.git"
        );
        assert_eq!(redact_url("file:///srv/r.git"), "file:///srv/r.git");
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }
}
