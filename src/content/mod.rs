//! What the content repository says: `oshirase.yaml`, post files (front-matter and
//! Markdown), their validation and problems, the text each network receives and how it is
//! counted, and the Japanese and English of what staff read about their files.
//!
//! Pure: functions take text and return values. The one door to the outside is
//! [`source::ContentSource`], which the caller hands in (git objects or a checkout).
//! May use: `support`.

pub mod brief;
pub mod config;
pub mod count;
pub mod draft;
mod front_matter_problem;
pub mod i18n;
pub mod info;
pub mod links;
pub mod network_config;
pub mod not_a_post;
pub mod policy;
pub mod post;
pub mod problem;
pub mod render;
pub mod resolve;
pub mod slots;
pub mod source;
pub mod thread;
pub mod yaml_limits;
