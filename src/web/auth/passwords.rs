//! Dashboard users' passwords: the `OSHIRASE_DASHBOARD_USERS` entries, PBKDF2-HMAC-SHA256
//! (RFC 8018) and what `oshirase hash-password` prints.

use base64::Engine;
use sha2::Sha256;

use super::{AuthError, MIN_ITERATIONS};

/// How a user's password is kept.
#[derive(Clone)]
pub(super) enum Stored {
    /// SHA-256 of the password.
    Sha256([u8; 32]),
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        key: [u8; 32],
    },
}

#[derive(Clone)]
pub(super) struct User {
    pub(super) name: String,
    pub(super) stored: Stored,
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) with a 32-byte output, from the `pbkdf2` crate.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut key);
    key
}

/// A `name:pbkdf2-sha256:…` entry for `OSHIRASE_DASHBOARD_USERS`, with a fresh salt.
pub fn hash_password(name: &str, password: &str, iterations: u32) -> Result<String, AuthError> {
    let bad = |message: &str| AuthError::BadUser {
        index: 1,
        message: message.to_string(),
    };
    check_name(name).map_err(bad)?;
    if password.is_empty() {
        return Err(bad("the password is empty"));
    }
    if iterations < MIN_ITERATIONS {
        return Err(bad("use at least 1000 iterations"));
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let key = pbkdf2_sha256(password.as_bytes(), &salt, iterations);
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "{name}:pbkdf2-sha256:{iterations}:{}:{}",
        b64.encode(salt),
        b64.encode(key)
    ))
}

pub(super) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("the user name is empty")
    } else if name
        .chars()
        .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
    {
        Err("a user name cannot hold `:`, `,`, spaces or control characters")
    } else {
        Ok(())
    }
}

pub(super) fn parse_users(text: &str) -> Result<Vec<User>, AuthError> {
    let mut users: Vec<User> = Vec::new();
    let entries = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty());
    for (i, entry) in entries.enumerate() {
        let bad = |message: String| AuthError::BadUser {
            index: i + 1,
            message,
        };
        let Some((name, hash)) = entry.split_once(':') else {
            return Err(bad("expected name:hash".into()));
        };
        check_name(name).map_err(|m| bad(m.into()))?;
        if users.iter().any(|u| u.name == name) {
            return Err(bad(format!("the user `{name}` is listed twice")));
        }
        let stored = parse_hash(hash).map_err(bad)?;
        users.push(User {
            name: name.to_string(),
            stored,
        });
    }
    Ok(users)
}

pub(super) fn parse_hash(hash: &str) -> Result<Stored, String> {
    if let Some(rest) = hash.strip_prefix("pbkdf2-sha256:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let [iterations, salt, key] = parts[..] else {
            return Err("expected pbkdf2-sha256:<iterations>:<salt>:<key>".into());
        };
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the iteration count is not a number".to_string())?;
        if iterations < MIN_ITERATIONS {
            return Err(format!("use at least {MIN_ITERATIONS} iterations"));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64
            .decode(salt)
            .map_err(|_| "the salt is not base64".to_string())?;
        if salt.len() < 8 {
            return Err("the salt is shorter than 8 bytes".into());
        }
        let key: [u8; 32] = b64
            .decode(key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| "the key is not 32 bytes of base64".to_string())?;
        return Ok(Stored::Pbkdf2 {
            iterations,
            salt,
            key,
        });
    }
    let digest: Option<[u8; 32]> = (hash.len() == 64)
        .then(|| hex::decode(hash).ok())
        .flatten()
        .and_then(|d| d.try_into().ok());
    digest.map(Stored::Sha256).ok_or_else(|| {
        "the hash is neither pbkdf2-sha256:… (see `oshirase hash-password`) nor the 64 hex \
         digits of a SHA-256; a password in clear is not accepted"
            .into()
    })
}
