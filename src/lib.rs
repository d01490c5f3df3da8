//! oshirase publishes an organisation's social-media posts from a git repository.
//!
//! The modules follow the flow of one post:
//! `repo` (git objects) → `post` (parse, validate) + `render` → `sync` (plan) →
//! `store` (redb) → `scheduler` → `networks` → `web` (dashboard, API).
//! `serve` wires them together; `demo` stages a whole city-office story on top of it.

pub mod alerts;
pub mod auth;
pub mod backoff;
pub mod brief;
pub mod check;
pub mod config;
pub mod config_approval;
pub mod count;
pub mod delivery;
pub mod demo;
pub mod facts;
pub mod failure_log;
pub mod fetch;
pub mod forge;
pub mod hash_pool;
pub mod hook_deliveries;
pub mod hooks;
pub mod http_server;
pub mod i18n;
pub mod info;
pub mod links;
pub mod listing;
pub mod login_guard;
pub mod memory;
pub mod metrics;
pub mod networks;
pub mod post;
pub mod post_list;
pub mod render;
pub mod repo;
pub mod resolve;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod source;
pub mod status;
pub mod store;
pub mod sync;
pub mod tasks;
pub mod text_search;
mod view_cache;
pub mod watch;
pub mod web;
pub mod yaml_limits;
