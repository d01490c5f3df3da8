//! The people who sign in to the dashboard: name, e-mail (their git identity), department,
//! role, a PBKDF2 hash of their password, and whether they are disabled.
//!
//! They live in `people.json` in the data directory, not in the redb database: `oshirase
//! users` must be able to change them while `serve` holds the database open. The file is
//! written whole to a temporary file and renamed over the old one (readable by its owner
//! only), so a reader sees the old list or the new one, never half of one; `serve` reads it
//! again when it changes ([`PeopleFile::current`]), so a disabled person is out at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::passwords::{self, EntryProblem, Stored};

/// The file's name in the data directory.
pub const PEOPLE_FILE: &str = "people.json";
/// The one format this build writes and reads.
const VERSION: u32 = 1;
/// Longest name or department accepted.
const MAX_TEXT_CHARS: usize = 100;
/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;
/// How often `serve` looks at the file's modification time, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// What a person may do on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Writes and proposes posts.
    Staff,
    /// Also approves (merges) proposals for the accounts whose `approvers` list them.
    Approver,
    /// Also manages people.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person as the file keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonRecord {
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub role: Role,
    /// `pbkdf2-sha256:<iterations>:<salt>:<key>`, as `oshirase hash-password` writes it.
    pub password: String,
    #[serde(default)]
    pub disabled: bool,
    /// The password is a temporary one an admin was shown (a new person, a reset, an
    /// import): until they choose their own, their session opens only the page to do so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub must_change_password: bool,
    pub added_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    version: u32,
    people: Vec<PersonRecord>,
}

/// Everyone in `people.json`.
#[derive(Debug, Default, Clone)]
pub struct People {
    people: Vec<PersonRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}, line {line}: {message}", .path.display())]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: version {found} is not one this oshirase reads (it reads {VERSION})", .path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("{}: {email} is listed twice", .path.display())]
    Twice { path: PathBuf, email: String },
    #[error("email: `{0}` is not an e-mail address")]
    BadEmail(String),
    #[error("{field}: {why}")]
    BadText { field: &'static str, why: String },
    #[error("{0} is already a dashboard user")]
    Exists(String),
    #[error("{0} is not a dashboard user; `oshirase users list` shows who is")]
    Unknown(String),
    #[error("password: {0}")]
    Password(EntryProblem),
}

impl People {
    /// Reads `people.json` from the data directory; no file is nobody.
    pub fn load(data_dir: &Path) -> Result<People, PeopleError> {
        let path = data_dir.join(PEOPLE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => People::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(People::default()),
            Err(source) => Err(PeopleError::Io { path, source }),
        }
    }

    /// The file's text as people; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<People, PeopleError> {
        let body: FileBody = serde_json::from_str(text).map_err(|e| PeopleError::Format {
            path: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })?;
        if body.version != VERSION {
            return Err(PeopleError::Version {
                path: path.to_path_buf(),
                found: body.version,
            });
        }
        let mut seen = std::collections::HashSet::new();
        for p in &body.people {
            if !seen.insert(p.email.to_lowercase()) {
                return Err(PeopleError::Twice {
                    path: path.to_path_buf(),
                    email: p.email.clone(),
                });
            }
        }
        Ok(People {
            people: body.people,
        })
    }

    /// Writes the whole list: a temporary file in the same folder, renamed over the old one.
    pub fn save(&self, data_dir: &Path) -> Result<(), PeopleError> {
        let path = data_dir.join(PEOPLE_FILE);
        let io = |source| PeopleError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let body = FileBody {
            version: VERSION,
            people: self.people.clone(),
        };
        let mut text = serde_json::to_string_pretty(&body).map_err(|e| io(e.into()))?;
        text.push('\n');
        let mut tmp = tempfile::NamedTempFile::new_in(data_dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    pub fn all(&self) -> &[PersonRecord] {
        &self.people
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// The person with this e-mail address, compared without case.
    pub fn find(&self, email: &str) -> Option<&PersonRecord> {
        self.people
            .iter()
            .find(|p| p.email.eq_ignore_ascii_case(email.trim()))
    }

    fn find_mut(&mut self, email: &str) -> Result<&mut PersonRecord, PeopleError> {
        self.people
            .iter_mut()
            .find(|p| p.email.eq_ignore_ascii_case(email.trim()))
            .ok_or_else(|| PeopleError::Unknown(email.to_string()))
    }

    /// Adds a person; their password is hashed here and never kept.
    pub fn add(&mut self, new: NewPerson<'_>, now: DateTime<Utc>) -> Result<(), PeopleError> {
        let email = check_email(new.email)?;
        if self.find(&email).is_some() {
            return Err(PeopleError::Exists(email));
        }
        let name = check_text("name", new.name)?;
        let department = new
            .department
            .map(|d| check_text("department", d))
            .transpose()?;
        let password = hash(new.password, new.iterations)?;
        self.people.push(PersonRecord {
            email,
            name,
            department,
            role: new.role,
            password,
            disabled: false,
            must_change_password: new.origin == PasswordOrigin::Temporary,
            added_at: now,
            changed_at: now,
        });
        Ok(())
    }

    /// Disables (or enables again) a person; their sessions end at the next request.
    pub fn set_disabled(
        &mut self,
        email: &str,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<(), PeopleError> {
        let p = self.find_mut(email)?;
        p.disabled = disabled;
        p.changed_at = now;
        Ok(())
    }

    pub fn set_password(
        &mut self,
        email: &str,
        password: &str,
        origin: PasswordOrigin,
        iterations: u32,
        now: DateTime<Utc>,
    ) -> Result<(), PeopleError> {
        let hashed = hash(password, iterations)?;
        self.set_password_hash(email, hashed, origin, now)
    }

    /// [`People::set_password`] with the hash made beforehand (`hash_secret`), so that it
    /// need not be made while the file is locked.
    pub fn set_password_hash(
        &mut self,
        email: &str,
        hashed: String,
        origin: PasswordOrigin,
        now: DateTime<Utc>,
    ) -> Result<(), PeopleError> {
        passwords::parse_hash(&hashed).map_err(PeopleError::Password)?;
        let p = self.find_mut(email)?;
        p.password = hashed;
        p.must_change_password = origin == PasswordOrigin::Temporary;
        p.changed_at = now;
        Ok(())
    }
}

/// A change to one person's record; `None` leaves a field as it is.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PersonChange {
    pub name: Option<String>,
    /// `Some(None)` clears the department.
    pub department: Option<Option<String>>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

impl People {
    /// Applies a change; returns the fields that changed as `(field, before, after)`.
    pub fn change(
        &mut self,
        email: &str,
        change: &PersonChange,
        now: DateTime<Utc>,
    ) -> Result<Vec<(&'static str, String, String)>, PeopleError> {
        let name = change
            .name
            .as_deref()
            .map(|n| check_text("name", n))
            .transpose()?;
        let department = match &change.department {
            Some(Some(d)) if !d.trim().is_empty() => Some(Some(check_text("department", d)?)),
            Some(_) => Some(None),
            None => None,
        };
        let p = self.find_mut(email)?;
        let mut changed = Vec::new();
        if let Some(name) = name.filter(|n| *n != p.name) {
            changed.push(("name", p.name.clone(), name.clone()));
            p.name = name;
        }
        if let Some(department) = department.filter(|d| *d != p.department) {
            let shown = |d: &Option<String>| d.clone().unwrap_or_default();
            changed.push(("department", shown(&p.department), shown(&department)));
            p.department = department;
        }
        if let Some(role) = change.role.filter(|r| *r != p.role) {
            changed.push(("role", p.role.to_string(), role.to_string()));
            p.role = role;
        }
        if let Some(disabled) = change.disabled.filter(|d| *d != p.disabled) {
            changed.push(("disabled", p.disabled.to_string(), disabled.to_string()));
            p.disabled = disabled;
        }
        if !changed.is_empty() {
            p.changed_at = now;
        }
        Ok(changed)
    }
}

/// What `users add` is given.
pub struct NewPerson<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub department: Option<&'a str>,
    pub role: Role,
    pub password: &'a str,
    pub origin: PasswordOrigin,
    pub iterations: u32,
}

/// Who chose a password: the person themselves (or the operator, at the command line), or
/// the server, for an admin to pass on once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordOrigin {
    Own,
    Temporary,
}

fn hash(password: &str, iterations: u32) -> Result<String, PeopleError> {
    passwords::hash_secret(password, iterations).map_err(PeopleError::Password)
}

/// A plain check of the address's shape: one `@`, something on both sides, a dot in the
/// domain, no spaces or control characters. Mail is never sent to it; it is the git
/// identity the person's commits will carry.
fn check_email(email: &str) -> Result<String, PeopleError> {
    let email = email.trim();
    let bad = || PeopleError::BadEmail(email.chars().take(80).collect());
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let fine = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= MAX_EMAIL_BYTES
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"'`".contains(c));
    if fine {
        Ok(email.to_string())
    } else {
        Err(bad())
    }
}

fn check_text(field: &'static str, value: &str) -> Result<String, PeopleError> {
    let value = value.trim();
    let why = if value.is_empty() {
        "is empty".to_string()
    } else if value.chars().count() > MAX_TEXT_CHARS {
        format!("is longer than {MAX_TEXT_CHARS} characters")
    } else if value.chars().any(char::is_control) {
        "holds control characters".to_string()
    } else {
        return Ok(value.to_string());
    };
    Err(PeopleError::BadText { field, why })
}

/// `people.json` as `serve` sees it: read at start and again whenever the file changes,
/// looked at no more than once a second.
#[derive(Clone)]
pub struct PeopleFile(Arc<Mutex<Snapshot>>);

struct Snapshot {
    dir: PathBuf,
    people: Arc<People>,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl PeopleFile {
    /// Reads the file once; an unreadable or malformed file stops start-up.
    pub fn open(data_dir: &Path) -> Result<PeopleFile, PeopleError> {
        let people = People::load(data_dir)?;
        Ok(PeopleFile(Arc::new(Mutex::new(Snapshot {
            dir: data_dir.to_path_buf(),
            people: Arc::new(people),
            modified: modified(data_dir),
            checked: Instant::now(),
        }))))
    }

    /// The people as the file says now. A file that became malformed keeps the list last
    /// read (and says why in the log), so a typo by an operator does not lock everyone out.
    pub fn current(&self) -> Arc<People> {
        let Ok(mut s) = self.0.lock() else {
            return Arc::new(People::default());
        };
        if s.checked.elapsed() >= RECHECK {
            s.checked = Instant::now();
            let now = modified(&s.dir);
            if now != s.modified {
                s.modified = now;
                match People::load(&s.dir) {
                    Ok(people) => s.people = Arc::new(people),
                    Err(e) => tracing::error!("dashboard people: {e}; the list read before stays"),
                }
            }
        }
        s.people.clone()
    }

    /// The person, when they are enabled and the password is theirs, and how many PBKDF2
    /// iterations finding out took. Call it off the async runtime.
    pub fn check(&self, email: &str, password: &[u8]) -> (Option<PersonRecord>, u32) {
        let people = self.current();
        let Some(person) = people.find(email).filter(|p| !p.disabled) else {
            return (None, 0);
        };
        match passwords::parse_hash(&person.password) {
            Ok(stored) => {
                let spent = match stored {
                    Stored::Pbkdf2 { iterations, .. } => iterations,
                    Stored::Sha256(_) => 0,
                };
                (stored.matches(password).then(|| person.clone()), spent)
            }
            Err(e) => {
                tracing::error!("dashboard people: {}: {e}", person.email);
                (None, 0)
            }
        }
    }

    /// The PBKDF2 cost a new password gets: the file's own, so that every sign-in costs
    /// alike (the default for a file without one worth keeping).
    pub fn cost_for_new(&self) -> u32 {
        match self.cost() {
            c if c >= super::MIN_ITERATIONS => c,
            _ => super::DEFAULT_ITERATIONS,
        }
    }

    /// The highest PBKDF2 iteration count in the file, so that a wrong e-mail address can
    /// cost as much as a wrong password.
    pub fn cost(&self) -> u32 {
        self.current()
            .all()
            .iter()
            .filter_map(|p| match passwords::parse_hash(&p.password) {
                Ok(Stored::Pbkdf2 { iterations, .. }) => Some(iterations),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Changes the people and writes the file, read afresh first so that a change made
    /// with `oshirase users` meanwhile is kept. Call it off the async runtime.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut People) -> Result<T, PeopleError>,
    ) -> Result<T, PeopleError> {
        let Ok(mut s) = self.0.lock() else {
            return Err(PeopleError::Io {
                path: PathBuf::from(PEOPLE_FILE),
                source: std::io::Error::other("the people list's lock was poisoned"),
            });
        };
        let mut people = People::load(&s.dir)?;
        let answer = f(&mut people)?;
        people.save(&s.dir)?;
        s.modified = modified(&s.dir);
        s.checked = Instant::now();
        s.people = Arc::new(people);
        Ok(answer)
    }

    /// Whether this person may still use a session: listed and not disabled.
    pub fn active(&self, email: &str) -> Option<PersonRecord> {
        self.current().find(email).filter(|p| !p.disabled).cloned()
    }
}

fn modified(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join(PEOPLE_FILE))
        .and_then(|m| m.modified())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(email: &'a str, password: &'a str) -> NewPerson<'a> {
        NewPerson {
            email,
            name: "足立 花子",
            department: Some("環境部"),
            role: Role::Staff,
            password,
            origin: PasswordOrigin::Own,
            iterations: 1000,
        }
    }

    #[test]
    fn people_round_trip_through_the_file_without_their_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let mut people = People::default();
        people
            .add(new("hanako@city.example.jp", "long secret"), Utc::now())
            .unwrap();
        people.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(PEOPLE_FILE)).unwrap();
        assert!(!text.contains("long secret"), "{text}");
        assert!(text.contains("pbkdf2-sha256:1000:"), "{text}");
        let back = People::load(dir.path()).unwrap();
        assert_eq!(back.all(), people.all());
        let file = PeopleFile::open(dir.path()).unwrap();
        let (found, spent) = file.check("Hanako@City.example.jp", b"long secret");
        assert_eq!(found.map(|p| p.name), Some("足立 花子".to_string()));
        assert_eq!(spent, 1000);
        assert!(file.check("hanako@city.example.jp", b"wrong").0.is_none());
        assert_eq!(file.cost(), 1000);
    }

    #[test]
    fn a_disabled_person_cannot_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut people = People::default();
        people
            .add(new("a@city.example.jp", "pw-pw-pw"), Utc::now())
            .unwrap();
        people
            .set_disabled("a@city.example.jp", true, Utc::now())
            .unwrap();
        people.save(dir.path()).unwrap();
        let file = PeopleFile::open(dir.path()).unwrap();
        assert!(file.check("a@city.example.jp", b"pw-pw-pw").0.is_none());
        assert!(file.active("a@city.example.jp").is_none());
    }

    #[test]
    fn bad_people_are_refused_with_the_field_named() {
        let mut people = People::default();
        let now = Utc::now();
        for (email, says) in [
            ("not-an-address", "email:"),
            ("a@localhost", "email:"),
            ("a b@city.example.jp", "email:"),
            ("<a@city.example.jp>", "email:"),
        ] {
            let e = people.add(new(email, "pw"), now).unwrap_err().to_string();
            assert!(e.starts_with(says), "{email}: {e}");
        }
        let mut long = new("x@city.example.jp", "pw");
        let name = "あ".repeat(101);
        long.name = &name;
        let e = people.add(long, now).unwrap_err().to_string();
        assert!(e.starts_with("name:"), "{e}");
        let e = people
            .add(new("x@city.example.jp", ""), now)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("password:"), "{e}");
        people.add(new("x@city.example.jp", "pw"), now).unwrap();
        let e = people.add(new("X@city.example.jp", "pw"), now).unwrap_err();
        assert!(matches!(e, PeopleError::Exists(_)), "{e}");
        assert!(matches!(
            people.set_disabled("nobody@city.example.jp", true, now),
            Err(PeopleError::Unknown(_))
        ));
    }

    #[test]
    fn a_malformed_file_names_its_line() {
        let path = Path::new("/data/people.json");
        let e = People::parse(
            path,
            "{\n \"version\": 1,\n \"people\": [\n  {\"email\": 3}\n ]\n}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/data/people.json, line 4:"), "{e}");
        let e = People::parse(path, r#"{"version": 9, "people": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 9"), "{e}");
    }
}
