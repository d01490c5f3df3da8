//! The tables of the store. A table's name carries its format version: a change of
//! layout gets a new name, so an old database is never read as the new format.

use redb::{MultimapTableDefinition, TableDefinition};

/// Post id → `PostRecord` (JSON).
pub(super) const POSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("posts_v1");
/// (post id, network) → `DeliveryRecord` (JSON).
pub(super) const DELIVERIES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("deliveries_v1");
/// (due time in ms, post id, network) for every delivery the scheduler must act on, so the
/// next wake-up is one lookup instead of a scan.
pub(super) const DUE: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("due_v1");
/// The rows of [`DUE`] that belong to emergency posts' deliveries, which the scheduler hands
/// out before every other due delivery. Few, so listing them first costs one short scan.
pub(super) const URGENT: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("urgent_v1");
/// Sequence number → `Event` (JSON); append-only.
pub(super) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events_v1");
/// Post id → its events' sequence numbers.
pub(super) const POST_EVENTS: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("post_events_v1");
/// File path on the branch → the id of the post it is, so a sync that only looks at changed
/// files knows which post each one is (and a renamed file keeps its post).
pub(super) const FILES: TableDefinition<&str, &str> = TableDefinition::new("files_v1");
/// Git blob id → MIME type of every image that has gone out (or started to) with a
/// delivery: what `GET /media/<blob>` may serve to networks that fetch images by URL.
/// Rows are never removed, so a published image stays reachable.
pub(super) const MEDIA: TableDefinition<&str, &str> = TableDefinition::new("media_v1");
/// Sync metadata (`last_sync_commit`, `last_sync_at`, …).
pub(super) const META: TableDefinition<&str, &str> = TableDefinition::new("meta_v1");
/// [`WRITE_SEQ`] → how many transactions changed a post or delivery, from any process, so
/// that a kept list of posts knows whether it is still exact (see `view_cache`).
pub(super) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters_v1");
pub(super) const WRITE_SEQ: &str = "post_writes";
