//! The records every layer speaks of: posts and their deliveries, delivery states, audit
//! events and their facts, and the people named in them.
//!
//! May use: `support`, `content`.

pub mod event;
pub mod facts;
pub mod person;
pub mod records;
