//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4), written by hand —
//! the format is a few line shapes, and a client library would add a registry of global
//! state for what is here a handful of numbers read at scrape time.
//!
//! Delivery counts and the publish lag are read from the store at each scrape (so they
//! survive restarts and see what `oshirase resolve` wrote); sync and fetch figures are
//! counted by the sync loop in [`Health`] since the process started.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use warp::http::{header, StatusCode};
use warp::Reply;

use crate::model::records::State;
use crate::store::listing::Listing;
use crate::web::health::Health;
use crate::web::state::AppState;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Publish lag buckets, seconds: from "on time" to "a day late".
const LAG_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];
/// Sync duration buckets, seconds.
const SYNC_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A cumulative histogram with fixed bucket bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not yet cumulative).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// What the sync loop counts about its syncs.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncStats {
    pub failures: u64,
    pub last_duration: Option<Duration>,
    pub durations: Histogram,
}

impl Default for SyncStats {
    fn default() -> Self {
        SyncStats {
            failures: 0,
            last_duration: None,
            durations: Histogram::new(SYNC_BUCKETS),
        }
    }
}

impl SyncStats {
    pub fn record(&mut self, took: Duration, ok: bool) {
        if !ok {
            self.failures += 1;
        }
        self.last_duration = Some(took);
        self.durations.observe(took.as_secs_f64());
    }
}

/// The text a scrape gets.
pub fn render(posts: &[Listing], health: &Health, paused_networks: usize) -> String {
    let mut out = Text::default();
    deliveries(&mut out, posts);
    syncs(&mut out, health);
    service(&mut out, health, paused_networks);
    out.0
}

/// Deliveries by state, network and account, and how late the published ones went out.
fn deliveries(out: &mut Text, posts: &[Listing]) {
    // (network, account) → state → count; every state is written, zeros too, so that a
    // query such as `oshirase_deliveries{state="failed"} > 0` has a series to look at.
    let mut by_state: BTreeMap<(&str, &str), BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut lag = Histogram::new(LAG_BUCKETS);
    for d in posts.iter().flat_map(|v| &v.deliveries) {
        *by_state
            .entry((&*d.network, &*d.account))
            .or_default()
            .entry(d.state.as_str())
            .or_default() += 1;
        // Every delivery that went out, retracted ones included, so the counts only grow.
        if let Some(at) = d.published_at {
            lag.observe(seconds_between(d.publish_at, at));
        }
    }
    out.header(
        "oshirase_deliveries",
        "gauge",
        "Deliveries (one per post and network) in each state.",
    );
    for ((network, account), counts) in &by_state {
        for state in State::ALL.map(State::as_str) {
            let n = counts.get(state).copied().unwrap_or(0);
            out.sample(
                "oshirase_deliveries",
                &[("state", state), ("network", network), ("account", account)],
                n as f64,
            );
        }
    }
    out.histogram(
        "oshirase_publish_lag_seconds",
        "Time from a post's publish time to its publication, over every published delivery.",
        &lag,
    );
}

/// How long syncs take and how often they and the fetches fail.
fn syncs(out: &mut Text, health: &Health) {
    let sync = &health.sync_stats;
    out.histogram(
        "oshirase_sync_duration_seconds",
        "Duration of each sync of the branch since the service started.",
        &sync.durations,
    );
    if let Some(took) = sync.last_duration {
        out.header(
            "oshirase_last_sync_duration_seconds",
            "gauge",
            "Duration of the last sync.",
        );
        out.sample(
            "oshirase_last_sync_duration_seconds",
            &[],
            took.as_secs_f64(),
        );
    }
    out.counter(
        "oshirase_sync_failures_total",
        "Syncs that failed since the service started.",
        sync.failures,
    );
    out.counter(
        "oshirase_fetch_failures_total",
        "Fetches of the remote repository that failed since the service started.",
        health.fetch_failures,
    );
}

/// What needs an operator: paused networks, a held configuration, a sync that is old.
fn service(out: &mut Text, health: &Health, paused_networks: usize) {
    out.header(
        "oshirase_paused_networks",
        "gauge",
        "Networks paused because they refused their credentials.",
    );
    out.sample("oshirase_paused_networks", &[], paused_networks as f64);
    out.header(
        "oshirase_config_held",
        "gauge",
        "1 while a change of oshirase.yaml on the branch waits for an approver's merge.",
    );
    out.sample(
        "oshirase_config_held",
        &[],
        f64::from(u8::from(health.config_held.is_some())),
    );
    if let Some(at) = health.last_sync_at {
        out.header(
            "oshirase_last_sync_timestamp_seconds",
            "gauge",
            "When the last successful sync finished, in Unix time.",
        );
        out.sample(
            "oshirase_last_sync_timestamp_seconds",
            &[],
            at.timestamp_millis() as f64 / 1000.0,
        );
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    // Early by clock skew is on time.
    ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
}

#[derive(Default)]
struct Text(String);

impl Text {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, "counter", help);
        self.sample(name, &[], value as f64);
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            self.sample(&bucket, &[("le", &number(*bound))], cumulative as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], h.count as f64);
        self.sample(&format!("{name}_sum"), &[], h.sum);
        self.sample(&format!("{name}_count"), &[], h.count as f64);
    }
}

/// Label values escape `\`, `"` and line feeds.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escapes `\` and line feeds.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        // Rust prints whole floats without a fraction ("5") and others exactly enough
        // to read back ("0.025"); both are valid Go ParseFloat input.
        format!("{v}")
    }
}

/// `GET /metrics`.
pub async fn reply(state: AppState) -> Result<warp::reply::Response, Infallible> {
    let store = state.store.clone();
    let posts = match tokio::task::spawn_blocking(move || store.listings()).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::error!("metrics: {e}");
            return Ok(unavailable());
        }
        Err(e) => {
            tracing::error!("metrics task: {e}");
            return Ok(unavailable());
        }
    };
    let health = state
        .health
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let paused = state.paused.lock().unwrap_or_else(|e| e.into_inner()).len();
    let text = render(&posts, &health, paused);
    let mut response = warp::reply::Response::new(text.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(CONTENT_TYPE),
    );
    Ok(response)
}

fn unavailable() -> warp::reply::Response {
    warp::reply::with_status(
        "the database could not be read\n",
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
        let mut t = Text::default();
        t.sample("m", &[("network", "x\"}\n"), ("account", "市")], 2.0);
        assert_eq!(t.0, "m{network=\"x\\\"}\\n\",account=\"市\"} 2\n");
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        let mut h = Histogram::new(&[1.0, 5.0]);
        for v in [0.5, 3.0, 4.0, 100.0] {
            h.observe(v);
        }
        let mut t = Text::default();
        t.histogram("lag", "Lag.", &h);
        assert_eq!(
            t.0,
            "# HELP lag Lag.\n# TYPE lag histogram\nlag_bucket{le=\"1\"} 1\n\
             lag_bucket{le=\"5\"} 3\nlag_bucket{le=\"+Inf\"} 4\nlag_sum 107.5\nlag_count 4\n"
        );
        assert_eq!(number(0.025), "0.025");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
