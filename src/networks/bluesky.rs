//! The `bluesky` network (being written; refused by `Networks::check` until then).

use std::sync::Arc;

use super::{AdapterContext, Network};

pub fn build(ctx: &AdapterContext) -> Result<Arc<dyn Network>, String> {
    Err(format!(
        "{}: the bluesky adapter is not built yet",
        ctx.field()
    ))
}
