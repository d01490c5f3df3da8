//! Dashboard users' passwords: the `OSHIRASE_DASHBOARD_USERS` entries, PBKDF2-HMAC-SHA256
//! (RFC 8018) and what `oshirase hash-password` prints.

use base64::Engine;
use sha2::Sha256;
use subtle::ConstantTimeEq;

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

impl Stored {
    /// Whether `password` is the one kept, compared in constant time.
    pub(super) fn matches(&self, password: &[u8]) -> bool {
        match self {
            Stored::Pbkdf2 {
                iterations,
                salt,
                key,
            } => bool::from(key.ct_eq(&pbkdf2_sha256(password, salt, *iterations))),
            Stored::Sha256(hash) => bool::from(hash.ct_eq(&super::sha256(password))),
        }
    }
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
    let bad = |problem| AuthError::BadUser { index: 1, problem };
    check_name(name).map_err(bad)?;
    Ok(format!(
        "{name}:{}",
        hash_secret(password, iterations).map_err(bad)?
    ))
}

/// `pbkdf2-sha256:<iterations>:<salt>:<key>` for a password, with a fresh salt.
pub fn hash_secret(password: &str, iterations: u32) -> Result<String, EntryProblem> {
    if password.is_empty() {
        return Err(EntryProblem::EmptyPassword);
    }
    if iterations < MIN_ITERATIONS {
        return Err(EntryProblem::FewIterations);
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let key = pbkdf2_sha256(password.as_bytes(), &salt, iterations);
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "pbkdf2-sha256:{iterations}:{}:{}",
        b64.encode(salt),
        b64.encode(key)
    ))
}

/// What is wrong with one `name:hash` entry (or with `hash-password`'s input). Never holds
/// the entry itself: a password may have been pasted in clear.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("expected name:hash")]
    NoHash,
    #[error("the user name is empty")]
    EmptyName,
    #[error("a user name cannot hold `:`, `,`, spaces or control characters")]
    BadName,
    #[error("the user `{0}` is listed twice")]
    Twice(String),
    #[error("the password is empty")]
    EmptyPassword,
    #[error("expected pbkdf2-sha256:<iterations>:<salt>:<key>")]
    Pbkdf2Shape,
    #[error("the iteration count is not a number")]
    IterationsNotNumber,
    #[error("use at least {MIN_ITERATIONS} iterations")]
    FewIterations,
    #[error("the salt is not base64")]
    SaltNotBase64,
    #[error("the salt is shorter than 8 bytes")]
    ShortSalt,
    #[error("the key is not 32 bytes of base64")]
    BadKey,
    #[error(
        "the hash is neither pbkdf2-sha256:… (see `oshirase hash-password`) nor the 64 hex \
         digits of a SHA-256; a password in clear is not accepted"
    )]
    UnknownHash,
}

pub(super) fn check_name(name: &str) -> Result<(), EntryProblem> {
    if name.is_empty() {
        Err(EntryProblem::EmptyName)
    } else if name
        .chars()
        .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
    {
        Err(EntryProblem::BadName)
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
        let bad = |problem| AuthError::BadUser {
            index: i + 1,
            problem,
        };
        let Some((name, hash)) = entry.split_once(':') else {
            return Err(bad(EntryProblem::NoHash));
        };
        check_name(name).map_err(bad)?;
        if users.iter().any(|u| u.name == name) {
            return Err(bad(EntryProblem::Twice(name.to_string())));
        }
        let stored = parse_hash(hash).map_err(bad)?;
        users.push(User {
            name: name.to_string(),
            stored,
        });
    }
    Ok(users)
}

pub(super) fn parse_hash(hash: &str) -> Result<Stored, EntryProblem> {
    if let Some(rest) = hash.strip_prefix("pbkdf2-sha256:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let [iterations, salt, key] = parts[..] else {
            return Err(EntryProblem::Pbkdf2Shape);
        };
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| EntryProblem::IterationsNotNumber)?;
        if iterations < MIN_ITERATIONS {
            return Err(EntryProblem::FewIterations);
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode(salt).map_err(|_| EntryProblem::SaltNotBase64)?;
        if salt.len() < 8 {
            return Err(EntryProblem::ShortSalt);
        }
        let key: [u8; 32] = b64
            .decode(key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(EntryProblem::BadKey)?;
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
    digest.map(Stored::Sha256).ok_or(EntryProblem::UnknownHash)
}
