//! After a crash: deliveries a previous run left `publishing` (it died mid-request) are
//! settled by asking their network whether it has the post, never by sending it again
//! blindly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::delivery::machine;
use crate::delivery::retry::backoff;
use crate::delivery::scheduler::SchedulerHandle;
use crate::model::records::{DeliveryRecord, State};
use crate::networks::{ErrorClass, Settlement};
use crate::store::{blocking, Store};

/// Settles deliveries that a previous run left `publishing` (it died mid-request). A
/// network that cannot be asked right now (down, rate-limited, refusing credentials) is
/// asked again later in the background: the delivery stays `publishing`, never sent, until
/// the network answers or `retry_for` runs out, when a person must decide.
pub(super) async fn settle_interrupted(store: &Arc<Store>, handle: &SchedulerHandle) {
    let stuck = match blocking(store, |s| s.deliveries_in(State::Publishing)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("finding interrupted deliveries: {e}");
            return;
        }
    };
    let mut later = settle_each(store, handle, stuck, Utc::now()).await;
    if later.is_empty() {
        return;
    }
    let (store, handle) = (store.clone(), handle.clone());
    tokio::spawn(async move {
        let mut round = 1;
        while !later.is_empty() {
            let wait = later
                .iter()
                .map(|(_, wait)| *wait)
                .min()
                .unwrap_or_else(|| backoff(round));
            tokio::time::sleep(wait).await;
            round += 1;
            let again = later.into_iter().map(|(d, _)| d).collect();
            later = settle_each(&store, &handle, again, Utc::now()).await;
            // A delivery found safe to send again is due now; the loop may be asleep.
            handle.wake();
        }
    });
}

/// Asks each delivery's network and records the answer; returns the deliveries to ask
/// again, with how long to wait.
async fn settle_each(
    store: &Arc<Store>,
    handle: &SchedulerHandle,
    stuck: Vec<DeliveryRecord>,
    now: DateTime<Utc>,
) -> Vec<(DeliveryRecord, Duration)> {
    let plan = handle.plan();
    let policy = plan.retry();
    let mut later = Vec::new();
    for d in stuck {
        // A thread is asked about the part that was in flight: the first not known to be out.
        let Some(piece) = d.part(d.first_unpublished()) else {
            tracing::error!(post = %d.post_id, network = %d.network, "a thread in flight has no part to settle");
            continue;
        };
        let settlement = match plan.networks.get(&d.account, &d.network) {
            None => Settlement::Unknown("its network is no longer configured".into()),
            Some(adapter) => match adapter.settle(&piece).await {
                Ok(s) => s,
                Err(e) if e.class != ErrorClass::Permanent => {
                    if now < policy.deadline(d.publish_at) {
                        tracing::warn!(
                            post = %d.post_id, network = %d.network,
                            "cannot ask the network about an interrupted delivery yet: {}", e.message
                        );
                        later.push((d, policy.wait(1, &e)));
                        continue;
                    }
                    Settlement::Unknown(format!(
                        "the network could not be asked within retry_for: {e}"
                    ))
                }
                Err(e) => Settlement::Unknown(format!("the network could not be asked: {e}")),
            },
        };
        record_settlement(store, &piece, settlement).await;
    }
    later
}

/// Records what the network said of `piece` (the delivery, or the part of its thread that
/// was in flight).
async fn record_settlement(store: &Arc<Store>, piece: &DeliveryRecord, settlement: Settlement) {
    let key = piece.key.clone();
    let d = piece;
    let (post_id, network) = (d.post_id.clone(), d.network.clone());
    let result = blocking(store, move |s| {
        s.update_delivery(&post_id, &network, |d| {
            machine::settle(d, &key, settlement, Utc::now()).map(|e| vec![e])
        })
    })
    .await;
    if let Err(e) = result {
        tracing::error!("settling an interrupted delivery: {e}");
    }
}
