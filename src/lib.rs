//! oshirase publishes an organisation's social-media posts from a git repository.
//!
//! The folders follow the flow of one post (ARCHITECTURE.md draws it):
//! `git` reads the branch → `content` parses and validates each post file → `sync` plans
//! the changes → `store` records them (redb) → `delivery` hands due deliveries to
//! `networks` → `web` shows what happened. `model` holds the records and states they all
//! speak of, `support` small tools that know nothing of posts, `check` the pull-request
//! check (and the desk's preview), and `cli` the commands that wire the rest together. Each folder's `mod.rs` says what it may use;
//! `tests/layering.rs` keeps it so.

pub mod check;
pub mod cli;
pub mod content;
pub mod delivery;
pub mod git;
pub mod model;
pub mod networks;
pub mod store;
pub mod support;
pub mod sync;
pub mod web;
