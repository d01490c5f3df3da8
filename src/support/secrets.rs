//! Server-side secrets: the environment and the `--secrets` file (`KEY=value` lines).
//!
//! Secrets never come from the content repository, and this type never prints a value:
//! its `Debug` shows only the names it holds.
//!
//! Two kinds of name are read. The server's own settings have fixed names written in the
//! code (`OSHIRASE_GIT_TOKEN`, `OSHIRASE_ALERT_WEBHOOK_URL`, …) and are read with
//! [`Secrets::get`]. Network credentials are named by the repository (`credentials: NAME`),
//! so they are read only with [`Secrets::credential_field`]: `NAME_<FIELD>` in the file, or
//! `OSHIRASE_CRED_NAME_<FIELD>` in the environment, and never a name of the server's own.

use std::collections::BTreeMap;
use std::path::Path;

/// The one prefix under which the environment holds network credentials.
pub const CREDENTIAL_ENV_PREFIX: &str = "OSHIRASE_CRED_";

/// Names the server keeps for its own settings; no credential name may start with it.
pub const RESERVED_PREFIX: &str = "OSHIRASE_";

/// Whether `name` is reserved for the server's own settings (`OSHIRASE` or `OSHIRASE_…`),
/// and so can never name a network credential.
pub fn is_reserved_name(name: &str) -> bool {
    name == RESERVED_PREFIX.trim_end_matches('_') || name.starts_with(RESERVED_PREFIX)
}

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

    /// One of the server's own settings, by the fixed name the code gives (never a name
    /// taken from the repository: those go through [`Secrets::credential_field`]).
    pub fn get(&self, name: &str) -> Option<String> {
        self.env_or_file(name, name)
    }

    /// `<credential>_<field>` of a network credential: `OSHIRASE_CRED_<credential>_<field>`
    /// in the environment (which wins), else `<credential>_<field>` in the file. A reserved
    /// name (`OSHIRASE_…`) is never looked up, so a repository cannot reach the server's
    /// own settings through it.
    pub fn credential_field(&self, credential: &str, field: &str) -> Option<String> {
        if is_reserved_name(credential) {
            return None;
        }
        let key = format!("{credential}_{field}");
        self.env_or_file(&format!("{CREDENTIAL_ENV_PREFIX}{key}"), &key)
    }

    /// A non-empty value: the environment variable `env` when read, else the file's `key`.
    fn env_or_file(&self, env: &str, key: &str) -> Option<String> {
        if self.use_env {
            if let Ok(v) = std::env::var(env) {
                if !v.is_empty() {
                    return Some(v);
                }
            }
        }
        self.file.get(key).filter(|v| !v.is_empty()).cloned()
    }
}

/// A repository URL fit for logs and errors: `scheme://user:password@host/…` loses
/// everything before the host, and the scp-like `user:password@host:path` its user and
/// password (a bare `git@host:path` stays, as a user name there is not a secret).
///
/// A password typed without percent-encoding may itself hold `@`, `:` or `/`, so the last
/// `@` ends what is dropped; a path with `@` in it then loses its start in messages, which
/// costs legibility only.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", after_userinfo(rest, true)),
        None => after_userinfo(url, false).to_string(),
    }
}

/// `rest` (what follows `scheme://`, or a whole scp-like URL) from its host on. A user name
/// without a password is dropped only when `drop_user`.
fn after_userinfo(rest: &str, drop_user: bool) -> &str {
    match userinfo_end(rest) {
        Some(at) if drop_user || rest[..at].contains(':') => &rest[at + 1..],
        _ => rest,
    }
}

/// Where the `user[:password]` before the host ends (the `@`), if there is one: the last
/// `@` before the first `/`, or, when a `/` comes first, the last `@` of all (a password
/// typed with a raw `/`).
pub fn userinfo_end(rest: &str) -> Option<usize> {
    let head = rest.split('/').next().unwrap_or(rest);
    head.rfind('@').or_else(|| rest.rfind('@'))
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

    #[test]
    fn every_url_form_loses_its_password() {
        for (url, shown) in [
            (
                "ssh://user:pw-9f3a@git.example/o/r.git",
                "ssh://git.example/o/r.git",
            ),
            (
                "ssh://git:pw-9f3a@git.example:2222/o/r.git",
                "ssh://git.example:2222/o/r.git",
            ),
            ("ssh://git@git.example/o/r.git", "ssh://git.example/o/r.git"),
            ("https://user:pw-9f3a@git.example", "https://git.example"),
            (
                "https://ghp_pw-9f3a@github.com/o/r.git",
                "https://github.com/o/r.git",
            ),
            // Passwords typed without percent-encoding.
            (
                "https://user:pw@9f3a@git.example/o/r.git",
                "https://git.example/o/r.git",
            ),
            (
                "https://user:pw/9f3a@git.example/o/r.git",
                "https://git.example/o/r.git",
            ),
            (
                "https://user:pw:9f3a@git.example/o/r.git",
                "https://git.example/o/r.git",
            ),
            // scp-like, with a password (git cannot use one there, but it may be typed).
            ("user:pw-9f3a@git.example:o/r.git", "git.example:o/r.git"),
            ("user:pw/9f3a@git.example:o/r.git", "git.example:o/r.git"),
            ("git@git.example:o/r.git", "git@git.example:o/r.git"),
            ("/srv/posts", "/srv/posts"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("9f3a"), "{url}");
        }
    }
}
