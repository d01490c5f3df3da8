//! Hands due deliveries to their networks, exactly once.
//!
//! The scheduler sleeps until the earliest due time in the store's due index (no polling
//! loop) and wakes early when a sync changes the plan. For each due delivery it commits the
//! intent (`publishing`, attempt count, idempotency key) before the request and the outcome
//! after it; after a crash, deliveries found `publishing` are settled by their adapter.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::content::config::Rate;
use crate::model::facts::Facts;
use crate::model::records::{DeliveryRecord, NewEvent, State};
use crate::networks::{ErrorClass, NetError, Networks, Published, Settlement};
use crate::store::{Store, StoreError};

/// A safety net under `retry_for`: a network that keeps answering "try again at once"
/// cannot make a delivery loop forever.
pub const MAX_ATTEMPTS: u32 = 100;
/// The shortest wait between attempts, whatever a network's Retry-After says.
const MIN_RETRY_WAIT: Duration = Duration::from_secs(1);
/// The longest the scheduler sleeps without looking at the due index again.
const IDLE_LOOK: Duration = Duration::from_secs(60);
/// Deliveries in flight at once, across all networks. Real networks are held to far less
/// by their posting budgets; this bounds a burst to local outboxes and webhooks.
const MAX_IN_FLIGHT: usize = 1024;
/// Due deliveries whose intent is committed in one transaction.
const BATCH: usize = 1024;
/// How long a delivery waits when its network is not configured any more or refuses the
/// credentials: long enough not to hammer, short enough to notice a fix.
const PARKED_DELAY: Duration = Duration::from_secs(5 * 60);

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

/// A network whose credentials were refused: its deliveries wait instead of each trying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub since: DateTime<Utc>,
    pub reason: String,
    /// When one delivery may try again, to see whether someone fixed the credentials.
    pub probe_at: DateTime<Utc>,
}

/// `"account/network"` → why it is paused; shared with `/healthz` and the dashboard.
pub type PausedNetworks = Arc<Mutex<BTreeMap<String, Paused>>>;

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

    /// Whether a delivery to this network may try now. While paused, only one delivery
    /// per probe interval goes through; the others are told when to look again.
    fn may_try(
        &self,
        account: &str,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        match paused.get_mut(&format!("{account}/{network}")) {
            None => Ok(()),
            Some(p) if now >= p.probe_at => {
                p.probe_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
                Ok(())
            }
            Some(p) => Err(p.probe_at),
        }
    }

    /// Records what an attempt says about the network's credentials.
    fn note_credentials(
        &self,
        account: &str,
        network: &str,
        refused: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{account}/{network}");
        match refused {
            None => {
                paused.remove(&key);
            }
            Some(reason) => {
                let probe_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
                let entry = paused.entry(key).or_insert_with(|| Paused {
                    since: now,
                    reason: reason.to_string(),
                    probe_at,
                });
                entry.reason = reason.to_string();
                entry.probe_at = probe_at;
            }
        }
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

    fn plan(&self) -> Arc<Plan> {
        self.plan.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn blocking<T, F>(store: &Arc<Store>, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Db(format!("store task failed: {e}")))?
}

/// Runs until `shutdown` turns true, then waits for deliveries in flight to finish.
pub async fn run(store: Arc<Store>, handle: SchedulerHandle, mut shutdown: watch::Receiver<bool>) {
    settle_interrupted(&store, &handle).await;
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
        s.update_deliveries(&keys, |d| intent(d, now, &plan, &handle))
    })
    .await;
    match result {
        Ok(changed) => changed
            .into_iter()
            .filter(|d| d.state == State::Publishing || d.retract_pending)
            .collect(),
        Err(e) => {
            tracing::error!("recording intent for due deliveries: {e}");
            Vec::new()
        }
    }
}

/// What committing the intent does to one due delivery, and the events that say so;
/// `None` when it is not due after all.
fn intent(
    d: &mut DeliveryRecord,
    now: DateTime<Utc>,
    plan: &Plan,
    handle: &SchedulerHandle,
) -> Option<Vec<NewEvent>> {
    let max_lateness = plan.max_lateness;
    let has_adapter = plan.networks.get(&d.account, &d.network).is_some();
    if !d.is_due() || d.due_at > now {
        return None;
    }
    if d.state == State::Published {
        // A retract: lease it for a while so it is not handed out twice; deleting
        // is idempotent, so a lease that runs out after a crash just repeats it.
        d.due_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
        d.attempts += 1;
        return Some(vec![NewEvent::stating(
            &d.post_id,
            "retracting",
            Some(&d.network),
            Facts::Retracting {
                attempt: d.attempts,
            },
        )]);
    }
    let late = (now - d.publish_at).to_std().unwrap_or(Duration::ZERO);
    if d.state == State::Scheduled && late > max_lateness {
        d.state = State::Missed;
        let facts = Facts::Missed {
            due_at: d.publish_at,
            late_secs: late.as_secs(),
            max_lateness_secs: max_lateness.as_secs(),
        };
        d.set_error_facts(facts.clone());
        return Some(vec![NewEvent::stating(
            &d.post_id,
            "missed",
            Some(&d.network),
            facts,
        )]);
    }
    if !has_adapter {
        d.state = State::Retrying;
        d.due_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
        d.next_attempt_at = Some(d.due_at);
        d.set_error_facts(Facts::NotConfigured);
        return Some(vec![NewEvent::stating(
            &d.post_id,
            "waiting",
            Some(&d.network),
            Facts::NotConfigured,
        )]);
    }
    if let Err(probe_at) = handle.may_try(&d.account, &d.network, now) {
        // The network refused its credentials: wait for the fix, keep the attempts.
        d.due_at = probe_at;
        d.next_attempt_at = Some(probe_at);
        return Some(Vec::new());
    }
    if let Some(limiter) = handle.limiter(plan, &d.account, &d.network) {
        if let Err(not_until) = limiter.check() {
            // Over the network's budget: wait for the next allowance instead of
            // being refused. Lateness counts from the publish time, not from here.
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            d.due_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
            d.next_attempt_at = Some(d.due_at);
            return Some(Vec::new());
        }
    }
    d.state = State::Publishing;
    d.attempts += 1;
    d.next_attempt_at = None;
    Some(vec![NewEvent::stating(
        &d.post_id,
        "publishing",
        Some(&d.network),
        Facts::Attempt {
            attempt: d.attempts,
            key: d.key.clone(),
        },
    )])
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
        let outcome = adapter.retract(&d).await;
        record_retract(store, &d, outcome, plan.retry_for).await;
        return;
    }
    let started = Utc::now();
    let outcome = adapter.publish(&d).await;
    let lag_ms = (started - d.due_at).num_milliseconds();
    tracing::info!(post = %d.post_id, network = %d.network, lag_ms, ok = outcome.is_ok(), "delivery attempted");
    match &outcome {
        Ok(_) => handle.note_credentials(&d.account, &d.network, None, Utc::now()),
        Err(e) if e.class == ErrorClass::Credentials => {
            handle.note_credentials(&d.account, &d.network, Some(&e.message), Utc::now())
        }
        Err(_) => {}
    }
    record_outcome(store, &d, outcome, plan, started).await;
}

async fn record_outcome(
    store: &Arc<Store>,
    sent: &DeliveryRecord,
    outcome: Result<Published, NetError>,
    plan: &Plan,
    called_at: DateTime<Utc>,
) {
    let (post_id, network, key) = (sent.post_id.clone(), sent.network.clone(), sent.key.clone());
    let retry_for = plan.retry_for;
    let config = short_commit(&plan.config_commit).to_string();
    let result = blocking(store, move |s| {
        s.update_delivery(&post_id, &network, |d| {
            // Only the attempt we started may record its outcome.
            if d.state != State::Publishing || d.key != key {
                return None;
            }
            d.called_at = Some(called_at);
            let mut event = apply_outcome(d, outcome, Utc::now(), retry_for);
            if !config.is_empty() {
                // Which rules it went out under: the approved oshirase.yaml of that commit.
                amend_published(&mut event, |_, commit| *commit = Some(config.clone()));
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
    retry_for: Duration,
) {
    let (post_id, network) = (sent.post_id.clone(), sent.network.clone());
    let result = blocking(store, move |s| {
        s.update_delivery(&post_id, &network, |d| {
            if !d.retract_pending || d.state != State::Published {
                return None;
            }
            let now = Utc::now();
            let event = |d: &DeliveryRecord, kind, detail| {
                NewEvent::service(&d.post_id, kind, Some(&d.network), detail)
            };
            let stating = |d: &DeliveryRecord, kind, facts| {
                NewEvent::stating(&d.post_id, kind, Some(&d.network), facts)
            };
            Some(vec![match outcome {
                Ok(()) => {
                    d.state = State::Retracted;
                    d.retract_pending = false;
                    d.set_error(None);
                    d.next_attempt_at = None;
                    stating(d, "retracted", Facts::Retracted)
                }
                Err(e)
                    if e.class == ErrorClass::Transient
                        && next_attempt(d, &e, now, retry_for).is_some() =>
                {
                    d.due_at = next_attempt(d, &e, now, retry_for).unwrap_or(now);
                    d.next_attempt_at = Some(d.due_at);
                    d.set_error(Some(format!("retract: {}", e.message)));
                    event(d, "retract-retrying", e.message)
                }
                Err(e) => {
                    // Still on the network: a person must delete it there.
                    d.retract_pending = false;
                    d.next_attempt_at = None;
                    d.set_error(Some(format!("retract failed: {}", e.message)));
                    stating(
                        d,
                        "retract-failed",
                        Facts::RetractFailed { message: e.message },
                    )
                }
            }])
        })
    })
    .await;
    if let Err(e) = result {
        tracing::error!("recording a retract: {e}");
    }
}

/// Changes the facts of a `published` event (whether a restart settled it, the commit of
/// its configuration) and words its detail again; any other event is left alone.
fn amend_published(event: &mut NewEvent, change: impl FnOnce(&mut bool, &mut Option<String>)) {
    if let Some(Facts::Published {
        settled_after_restart,
        config,
        ..
    }) = &mut event.facts
    {
        change(settled_after_restart, config);
    }
    if let Some(facts @ Facts::Published { .. }) = &event.facts {
        event.detail = facts.stored();
    }
}

fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(8)]
}

/// Moves a `publishing` delivery to where its outcome puts it and describes the move.
pub fn apply_outcome(
    d: &mut DeliveryRecord,
    outcome: Result<Published, NetError>,
    now: DateTime<Utc>,
    retry_for: Duration,
) -> NewEvent {
    let stating = |d: &DeliveryRecord, kind, facts| {
        NewEvent::stating(&d.post_id, kind, Some(&d.network), facts)
    };
    match outcome {
        Ok(p) => {
            d.state = State::Published;
            d.published_at = Some(now);
            d.remote_id = p.remote_id;
            d.remote_url = p.remote_url;
            d.set_error(None);
            let place = d
                .remote_url
                .clone()
                .or_else(|| d.remote_id.clone())
                .unwrap_or_default();
            let facts = Facts::Published {
                place,
                lag_ms: (now - d.publish_at).num_milliseconds(),
                config: None,
                settled_after_restart: false,
            };
            stating(d, "published", facts)
        }
        Err(e) => match e.class {
            ErrorClass::Transient if next_attempt(d, &e, now, retry_for).is_some() => {
                d.state = State::Retrying;
                d.due_at = next_attempt(d, &e, now, retry_for).unwrap_or(now);
                d.next_attempt_at = Some(d.due_at);
                d.set_error(Some(e.message.clone()));
                let facts = Facts::Retrying {
                    message: e.message,
                    next_at: d.due_at,
                };
                stating(d, "retrying", facts)
            }
            ErrorClass::Credentials => {
                // Credentials are an operator's matter: wait without burning attempts.
                d.attempts = d.attempts.saturating_sub(1);
                d.state = State::Retrying;
                d.due_at = now + chrono::Duration::from_std(PARKED_DELAY).unwrap_or_default();
                d.next_attempt_at = Some(d.due_at);
                d.set_error(Some(format!("credentials refused: {}", e.message)));
                let facts = Facts::CredentialsRefused { message: e.message };
                stating(d, "credentials", facts)
            }
            ErrorClass::Transient => {
                d.state = State::Failed;
                d.next_attempt_at = None;
                d.set_error(Some(e.message.clone()));
                let facts = Facts::GaveUp {
                    message: e.message,
                    attempts: d.attempts,
                    retry_for_secs: retry_for.as_secs(),
                };
                stating(d, "failed", facts)
            }
            ErrorClass::Permanent => {
                d.state = State::Failed;
                d.next_attempt_at = None;
                d.set_error(Some(e.message.clone()));
                let facts = Facts::Refused {
                    message: e.message,
                    attempts: d.attempts,
                };
                stating(d, "failed", facts)
            }
        },
    }
}

/// When a transiently failed delivery should be tried again: the network's hint, else the
/// backoff; `None` once that would fall beyond `retry_for` after the delivery's own time
/// (a notice retried for ever is worse than one a person knows has failed).
pub fn next_attempt(
    d: &DeliveryRecord,
    e: &NetError,
    now: DateTime<Utc>,
    retry_for: Duration,
) -> Option<DateTime<Utc>> {
    if d.attempts >= MAX_ATTEMPTS {
        return None;
    }
    let wait = e
        .retry_after
        .unwrap_or_else(|| backoff(d.attempts))
        .max(MIN_RETRY_WAIT);
    let at = now + chrono::Duration::from_std(wait).ok()?;
    let deadline = d.publish_at + chrono::Duration::from_std(retry_for).ok()?;
    (at <= deadline).then_some(at)
}

/// Exponential backoff with jitter: about 15 s, 30 s, 1 min, … capped at 30 min.
pub fn backoff(attempt: u32) -> Duration {
    let base = 15u64
        .saturating_mul(1 << attempt.saturating_sub(1).min(7))
        .min(1800);
    let jitter = rand::rng().random_range(0..=base / 4);
    Duration::from_secs(base + jitter)
}

/// Settles deliveries that a previous run left `publishing` (it died mid-request). A
/// network that cannot be asked right now (down, rate-limited, refusing credentials) is
/// asked again later in the background: the delivery stays `publishing`, never sent, until
/// the network answers or `retry_for` runs out, when a person must decide.
async fn settle_interrupted(store: &Arc<Store>, handle: &SchedulerHandle) {
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
    let mut later = Vec::new();
    for d in stuck {
        let settlement = match plan.networks.get(&d.account, &d.network) {
            None => Settlement::Unknown("its network is no longer configured".into()),
            Some(adapter) => match adapter.settle(&d).await {
                Ok(s) => s,
                Err(e) if e.class != ErrorClass::Permanent => {
                    let deadline = d.publish_at
                        + chrono::Duration::from_std(plan.retry_for).unwrap_or_default();
                    if now < deadline {
                        tracing::warn!(
                            post = %d.post_id, network = %d.network,
                            "cannot ask the network about an interrupted delivery yet: {}", e.message
                        );
                        let wait = e
                            .retry_after
                            .unwrap_or_else(|| backoff(1))
                            .max(MIN_RETRY_WAIT);
                        later.push((d, wait));
                        continue;
                    }
                    Settlement::Unknown(format!(
                        "the network could not be asked within retry_for: {e}"
                    ))
                }
                Err(e) => Settlement::Unknown(format!("the network could not be asked: {e}")),
            },
        };
        record_settlement(store, &d, settlement).await;
    }
    later
}

async fn record_settlement(store: &Arc<Store>, d: &DeliveryRecord, settlement: Settlement) {
    let key = d.key.clone();
    let (post_id, network) = (d.post_id.clone(), d.network.clone());
    let result = blocking(store, move |s| {
        s.update_delivery(&post_id, &network, |d| {
            if d.state != State::Publishing || d.key != key {
                return None;
            }
            let now = Utc::now();
            Some(vec![match settlement {
                Settlement::Published(p) => {
                    let mut e = apply_outcome(d, Ok(p), now, Duration::ZERO);
                    amend_published(&mut e, |settled, _| *settled = true);
                    e
                }
                Settlement::SafeToRetry => {
                    d.state = State::Retrying;
                    d.due_at = now;
                    d.next_attempt_at = Some(now);
                    NewEvent::stating(&d.post_id, "retrying", Some(&d.network), Facts::Resent)
                }
                Settlement::Unknown(why) => {
                    d.state = State::Unknown;
                    d.set_error(Some(why.clone()));
                    let facts = Facts::Interrupted { why };
                    NewEvent::stating(&d.post_id, "unknown", Some(&d.network), facts)
                }
            }])
        })
    })
    .await;
    if let Err(e) = result {
        tracing::error!("settling an interrupted delivery: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_the_deadline_measured_from_the_post_time() {
        let now = Utc::now();
        let mut d = DeliveryRecord {
            state: State::Publishing,
            due_at: now,
            attempts: 3,
            ..DeliveryRecord::new("a", "x", "p", "", now - chrono::Duration::minutes(50))
        };
        let hint = |s| NetError {
            retry_after: Some(Duration::from_secs(s)),
            ..NetError::transient("busy")
        };
        let hour = Duration::from_secs(3600);
        // 50 min after its time, a 5 min wait still fits in an hour; a 15 min wait does not.
        assert_eq!(
            next_attempt(&d, &hint(300), now, hour),
            Some(now + chrono::Duration::seconds(300))
        );
        assert_eq!(next_attempt(&d, &hint(900), now, hour), None);
        // "Try again at once" is floored, so a network cannot make a tight loop.
        assert_eq!(
            next_attempt(&d, &hint(0), now, hour),
            Some(now + chrono::Duration::seconds(1))
        );
        d.attempts = MAX_ATTEMPTS;
        assert_eq!(next_attempt(&d, &hint(1), now, hour), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(15) && backoff(1) <= Duration::from_secs(19));
        assert!(backoff(3) >= Duration::from_secs(60));
        assert!(backoff(30) <= Duration::from_secs(1800 + 450));
    }
}
