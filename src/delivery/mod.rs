//! Publishing: the scheduler loop that hands due deliveries to their networks exactly
//! once, and the alerts that tell people when something needs them.
//!
//! May use: `support`, `content`, `model`, `git`, `store`, `networks`.

pub mod alerts;
pub mod scheduler;
