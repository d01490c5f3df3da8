//! Small tools that know nothing of posts, deliveries or networks: waits between retries,
//! when a repeated failure deserves a log line, a thread pool for password hashing, giving
//! memory back, server-side secrets, substring search.
//!
//! May use: nothing else in the crate.

pub mod backoff;
pub mod failure_log;
pub mod hash_pool;
pub mod memory;
pub mod secrets;
pub mod text_search;
