//! The people named in the audit trail: who proposed, approved or acted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A person as git records them, with the time of their part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub email: String,
    pub at: DateTime<Utc>,
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}
