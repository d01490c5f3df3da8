//! The content repository as git sees it: objects, the files of a commit, diffs and
//! renames, who proposed and who approved each post (provenance), the local mirror of a
//! remote and its fetch, the watch on a local ref, and links to the forge.
//!
//! May use: `support`, `content`, `model`.

pub mod approve;
pub mod blob;
pub mod fetch;
pub mod forge;
pub mod propose;
pub mod provenance;
pub mod pull_request;
pub mod push;
pub mod repo;
pub mod watch;
