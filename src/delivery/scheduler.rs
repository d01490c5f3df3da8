//! Hands due deliveries to their networks, exactly once.
//!
//! The scheduler sleeps until the earliest due time in the store's due index (no polling
//! loop) and wakes early when a sync changes the plan. For each due delivery it commits the
//! intent (`publishing`, attempt count, idempotency key) before the request and the outcome
//! after it; after a crash, deliveries found `publishing` are settled by their adapter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::content::config::Rate;
use crate::delivery::machine::{self, Gate};
use crate::delivery::pausing::{self, PausedNetworks};
use crate::delivery::retry::RetryPolicy;
use crate::model::records::{DeliveryRecord, State};
use crate::networks::{ErrorClass, NetError, Network, Networks, Published};
use crate::store::{blocking, Store};

/// The longest the scheduler sleeps without looking at the due index again.
const IDLE_LOOK: Duration = Duration::from_secs(60);
/// Deliveries in flight at once, across all networks. Real networks are held to far less
/// by their posting budgets; this bounds a burst to local outboxes and webhooks.
const MAX_IN_FLIGHT: usize = 1024;
/// Due deliveries whose intent is committed in one transaction.
const BATCH: usize = 1024;

/// What the scheduler reads from the latest configuration.
pub struct Plan {
    pub networks: Arc<Networks>,
    pub max_lateness: Duration,
    /// How long after its publish time a transiently failing delivery is still retried.
    pub retry_for: Duration,
    /// Each (account, network)'s posting budget.
    pub rates: HashMap<(String, String), Rate>,
    /// The commit that landed the `oshirase.yaml` this plan was made from, named in the
    /// audit trail of every publication.
    pub config_commit: String,
}

impl Plan {
    /// The retry policy of this configuration, for publishes and retracts alike.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            retry_for: self.retry_for,
        }
    }

    /// The plan before any configuration was read (a first start whose first fetch is still
    /// running): no network, so nothing is sent.
    pub fn empty() -> Plan {
        Plan {
            networks: Arc::new(Networks::default()),
            max_lateness: crate::content::config::DEFAULT_MAX_LATENESS,
            retry_for: crate::content::config::DEFAULT_RETRY_FOR,
            rates: HashMap::new(),
            config_commit: String::new(),
        }
    }
}

type Limiter = DefaultDirectRateLimiter;
/// (account, network) → its budget and the limiter enforcing it.
type Limiters = HashMap<(String, String), (Rate, Arc<Limiter>)>;

/// Shared between the scheduler and whoever changes the plan (the sync loop).
#[derive(Clone)]
pub struct SchedulerHandle {
    plan: Arc<RwLock<Arc<Plan>>>,
    wake: Arc<Notify>,
    /// Budgets outlive configuration reloads, so a sync never hands out a fresh allowance.
    limiters: Arc<Mutex<Limiters>>,
    paused: PausedNetworks,
}

impl SchedulerHandle {
    pub fn new(plan: Plan) -> SchedulerHandle {
        SchedulerHandle {
            plan: Arc::new(RwLock::new(Arc::new(plan))),
            wake: Arc::new(Notify::new()),
            limiters: Arc::new(Mutex::new(HashMap::new())),
            paused: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The networks paused for refused credentials, for health and the dashboard.
    pub fn paused(&self) -> PausedNetworks {
        self.paused.clone()
    }

    /// Whether a delivery to this network may try now (see [`pausing::may_try`]).
    fn may_try(
        &self,
        account: &str,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        pausing::may_try(&self.paused, account, network, now)
    }

    /// Records what an attempt says about the network's credentials.
    fn note_credentials(
        &self,
        account: &str,
        network: &str,
        refused: Option<&str>,
        now: DateTime<Utc>,
    ) {
        pausing::note_credentials(&self.paused, account, network, refused, now);
    }

    /// The rate limiter of one network under the current plan, if it has a budget.
    fn limiter(&self, plan: &Plan, account: &str, network: &str) -> Option<Arc<Limiter>> {
        let key = (account.to_string(), network.to_string());
        let rate = *plan.rates.get(&key)?;
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((r, l)) = limiters.get(&key) {
            if *r == rate {
                return Some(l.clone());
            }
        }
        let burst = NonZeroU32::new(rate.requests)?;
        let quota = Quota::with_period(rate.per / rate.requests)?.allow_burst(burst);
        let limiter = Arc::new(RateLimiter::direct(quota));
        limiters.insert(key, (rate, limiter.clone()));
        Some(limiter)
    }

    /// Installs a new plan and wakes the scheduler to look again.
    pub fn replace_plan(&self, plan: Plan) {
        *self.plan.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(plan);
        self.wake();
    }

    /// Something changed in the store: look at the due index again.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) fn plan(&self) -> Arc<Plan> {
        self.plan.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs until `shutdown` turns true, then waits for deliveries in flight to finish.
pub async fn run(store: Arc<Store>, handle: SchedulerHandle, mut shutdown: watch::Receiver<bool>) {
    crate::delivery::settle::settle_interrupted(&store, &handle).await;
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let now = Utc::now();
        match blocking(&store, move |s| s.due(now)).await {
            Ok(due) => {
                let mut due = due.into_iter().peekable();
                while due.peek().is_some() {
                    // As many as may be in flight, at least one (waiting for it).
                    let Ok(first) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    let mut slots = vec![first];
                    while slots.len() < BATCH {
                        match permits.clone().try_acquire_owned() {
                            Ok(p) => slots.push(p),
                            Err(_) => break,
                        }
                    }
                    let batch: Vec<_> = due.by_ref().take(slots.len()).collect();
                    let plan = handle.plan();
                    for d in begin_batch(&store, &handle, &plan, batch).await {
                        let Some(permit) = slots.pop() else { break };
                        let store = store.clone();
                        let handle = handle.clone();
                        let plan = plan.clone();
                        in_flight.spawn(async move {
                            deliver(&store, &handle, &plan, d).await;
                            drop(permit);
                            // A retry or retract may now be due sooner than the scheduler
                            // planned to look, which it decided before this outcome existed.
                            handle.wake();
                        });
                    }
                }
            }
            Err(e) => tracing::error!("reading due deliveries: {e}"),
        }
        let next = blocking(&store, |s| s.next_due())
            .await
            .unwrap_or_else(|e| {
                tracing::error!("reading the next due time: {e}");
                Some(Utc::now() + chrono::Duration::seconds(30))
            });
        let sleep = sleep_until(next);
        tokio::select! {
            _ = sleep => {}
            _ = handle.wake.notified() => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    // Finish what was sent so its outcome is recorded; a delivery cut short here would
    // otherwise be left `publishing` for the next start to settle.
    while in_flight.join_next().await.is_some() {}
}

fn sleep_until(next: Option<DateTime<Utc>>) -> tokio::time::Sleep {
    // The scheduler sleeps until the next due time and is woken when a sync changes the
    // plan. An operator's `oshirase resolve` writes from another process, which cannot wake
    // it; looking again at least once a minute bounds how long such a change waits.
    let wait = match next {
        None => IDLE_LOOK,
        Some(t) => (t - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(IDLE_LOOK),
    };
    tokio::time::sleep(wait)
}

/// Commits the intent to publish for a batch of due deliveries, in one transaction.
/// Returns the deliveries to send now; the others were not to be sent yet (a sync moved
/// them, they are too late, their network is gone, or its posting budget is spent).
async fn begin_batch(
    store: &Arc<Store>,
    handle: &SchedulerHandle,
    plan: &Arc<Plan>,
    keys: Vec<(String, String)>,
) -> Vec<DeliveryRecord> {
    let plan = plan.clone();
    let handle = handle.clone();
    let result = blocking(store, move |s| {
        let now = Utc::now();
        let mut sending = HashSet::new();
        let changed = s.update_deliveries(&keys, |d| {
            let lease = intent(d, now, &plan, &handle)?;
            if lease.send {
                sending.insert(d.key.clone());
            }
            Some(lease.events)
        })?;
        Ok((changed, sending))
    })
    .await;
    match result {
        Ok((changed, sending)) => changed
            .into_iter()
            .filter(|d| sending.contains(&d.key))
            .collect(),
        Err(e) => {
            tracing::error!("recording intent for due deliveries: {e}");
            Vec::new()
        }
    }
}

/// The scheduler's view of one delivery's network, for the state machine's lease.
struct NetworkGate<'a> {
    plan: &'a Plan,
    handle: &'a SchedulerHandle,
    account: &'a str,
    network: &'a str,
}

impl Gate for NetworkGate<'_> {
    fn configured(&self) -> bool {
        self.plan.networks.get(self.account, self.network).is_some()
    }

    fn may_try(&self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.handle.may_try(self.account, self.network, now)
    }

    fn budget(&self) -> Result<(), Duration> {
        let Some(limiter) = self.handle.limiter(self.plan, self.account, self.network) else {
            return Ok(());
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// What committing the intent does to one due delivery (see [`machine::lease`]).
fn intent(
    d: &mut DeliveryRecord,
    now: DateTime<Utc>,
    plan: &Plan,
    handle: &SchedulerHandle,
) -> Option<machine::Lease> {
    let (account, network) = (d.account.clone(), d.network.clone());
    let gate = NetworkGate {
        plan,
        handle,
        account: &account,
        network: &network,
    };
    machine::lease(d, now, plan.max_lateness, &gate)
}

async fn deliver(
    store: &Arc<Store>,
    handle: &SchedulerHandle,
    plan: &Arc<Plan>,
    d: DeliveryRecord,
) {
    let Some(adapter) = plan.networks.get(&d.account, &d.network) else {
        return;
    };
    if d.retract_pending {
        let outcome = retract_every_part(adapter.as_ref(), &d).await;
        note_credentials(handle, &d, outcome.as_ref().err());
        record_retract(store, &d, outcome, plan.retry()).await;
        return;
    }
    let started = Utc::now();
    let outcome = match d.parts.is_empty() {
        true => adapter.publish(&d).await,
        false => {
            let budget = handle.limiter(plan, &d.account, &d.network);
            match publish_thread(store, adapter.as_ref(), budget, d.clone()).await {
                Some(outcome) => outcome,
                // A part went out but could not be recorded: the thread stays `publishing`,
                // for `settle` to ask about that part, never sent again blindly.
                None => return,
            }
        }
    };
    let lag_ms = (started - d.due_at).num_milliseconds();
    tracing::info!(post = %d.post_id, network = %d.network, lag_ms, ok = outcome.is_ok(), "delivery attempted");
    note_credentials(handle, &d, outcome.as_ref().err());
    record_outcome(store, &d, outcome, plan, started).await;
}

/// Sends a thread's parts from the first not known to be out, each as a reply to the part
/// before it, committing each part as out before the next is sent: after a crash the
/// thread resumes at the part that was in flight and never sends an earlier one again.
/// Returns the last part's outcome, for `record_outcome`; a failure names the parts
/// already out. `None` when a part is out but its record could not be written.
async fn publish_thread(
    store: &Arc<Store>,
    adapter: &dyn Network,
    budget: Option<Arc<Limiter>>,
    mut d: DeliveryRecord,
) -> Option<Result<Published, NetError>> {
    let first = d.first_unpublished();
    loop {
        let k = d.first_unpublished();
        if k > first {
            // The lease took one post from the network's budget; every further part is a
            // post of its own and waits for its share.
            wait_for_budget(budget.as_deref()).await;
        }
        let Some(piece) = d.part(k) else {
            return Some(Err(NetError::permanent(format!(
                "part {} of the thread has nothing recorded to reply to",
                k + 1
            ))));
        };
        let outcome = match adapter.publish(&piece).await {
            Ok(outcome) => outcome,
            Err(e) => return Some(Err(thread_error(&d, k, e))),
        };
        if k + 1 == d.part_count() {
            return Some(Ok(outcome));
        }
        let key = piece.key.clone();
        let (post_id, network) = (d.post_id.clone(), d.network.clone());
        let recorded = blocking(store, move |s| {
            s.update_delivery(&post_id, &network, |d| {
                machine::part_published(d, &key, k, outcome, Utc::now()).map(|e| vec![e])
            })
        })
        .await;
        match recorded {
            Ok(Some((now, _))) => d = now,
            // Moved on meanwhile (an operator settled it): nothing more is sent.
            Ok(None) => return None,
            Err(e) => {
                let part = k + 1;
                tracing::error!(post = %d.post_id, network = %d.network, part, "recording a thread's part: {e}");
                return None;
            }
        }
    }
}

async fn wait_for_budget(budget: Option<&Limiter>) {
    let Some(limiter) = budget else { return };
    while let Err(not_until) = limiter.check() {
        tokio::time::sleep(not_until.wait_time_from(DefaultClock::default().now())).await;
    }
}

/// A part's failure, saying which part it was and which parts are already out.
fn thread_error(d: &DeliveryRecord, k: usize, e: NetError) -> NetError {
    let total = d.part_count();
    let out = match k {
        0 => "none of it is out".to_string(),
        1 => "part 1 is out".to_string(),
        k => format!("parts 1–{k} are out"),
    };
    NetError {
        message: format!(
            "part {} of {total} of the thread: {}; {out}",
            k + 1,
            e.message
        ),
        ..e
    }
}

/// Deletes every part that is out, the replies first. Deleting what is already gone
/// succeeds, so a retract that stopped half-way is simply repeated.
async fn retract_every_part(adapter: &dyn Network, d: &DeliveryRecord) -> Result<(), NetError> {
    if d.parts.is_empty() {
        return adapter.retract(d).await;
    }
    for piece in d.published_parts() {
        adapter.retract(&piece).await?;
    }
    Ok(())
}

/// What an answer says of the network's credentials: a refusal pauses the network for
/// publishes and retracts alike, any other answer lifts the pause.
fn note_credentials(handle: &SchedulerHandle, d: &DeliveryRecord, error: Option<&NetError>) {
    let refused = match error {
        None => None,
        Some(e) if e.class == ErrorClass::Credentials => Some(e.message.as_str()),
        Some(_) => return,
    };
    handle.note_credentials(&d.account, &d.network, refused, Utc::now());
}

async fn record_outcome(
    store: &Arc<Store>,
    sent: &DeliveryRecord,
    outcome: Result<Published, NetError>,
    plan: &Plan,
    called_at: DateTime<Utc>,
) {
    let (post_id, network, key) = (sent.post_id.clone(), sent.network.clone(), sent.key.clone());
    let policy = plan.retry();
    let config = short_commit(&plan.config_commit).to_string();
    let result = blocking(store, move |s| {
        s.update_delivery(&post_id, &network, |d| {
            // Only the attempt we started may record its outcome.
            if d.state != State::Publishing || d.key != key {
                return None;
            }
            d.called_at = Some(called_at);
            let mut event = machine::publish_outcome(d, outcome, Utc::now(), policy);
            if !config.is_empty() {
                // Which rules it went out under: the approved oshirase.yaml of that commit.
                machine::amend_published(&mut event, |_, commit| *commit = Some(config.clone()));
            }
            Some(vec![event])
        })
    })
    .await;
    if let Err(e) = result {
        // The delivery stays `publishing`; the next start settles it with the adapter.
        tracing::error!("recording the outcome of a delivery: {e}");
    }
}

async fn record_retract(
    store: &Arc<Store>,
    sent: &DeliveryRecord,
    outcome: Result<(), NetError>,
    policy: RetryPolicy,
) {
    let (post_id, network) = (sent.post_id.clone(), sent.network.clone());
    let result = blocking(store, move |s| {
        s.update_delivery(&post_id, &network, |d| {
            machine::retract_outcome(d, outcome, Utc::now(), policy).map(|e| vec![e])
        })
    })
    .await;
    if let Err(e) = result {
        tracing::error!("recording a retract: {e}");
    }
}

fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(8)]
}
