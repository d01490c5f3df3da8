//! The commands: `serve` (wiring the store, sync loop, scheduler and web server and
//! watching them), `demo`, `check` and `preview`, `status` and `resolve`.
//!
//! May use: everything; nothing uses it but `main.rs`.

pub mod args;
pub mod demo;
mod demo_desk;
pub mod resolve;
pub mod serve;
pub mod status;
mod sync_loop;
pub mod tasks;
pub mod users;
