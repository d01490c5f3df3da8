//! Publishing: the scheduler loop that hands due deliveries to their networks exactly
//! once (`scheduler`), the one state machine every publish and retract moves through
//! (`machine`), the one retry policy (`retry`), paused networks (`pausing`), settling
//! after a crash (`settle`), and the alerts that tell people when something needs them.
//!
//! May use: `support`, `content`, `model`, `git`, `store`, `networks`.

pub mod alerts;
pub mod machine;
pub mod pausing;
pub mod retry;
pub mod scheduler;
mod settle;
