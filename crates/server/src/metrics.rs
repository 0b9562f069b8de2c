//! The Prometheus recorder and `/metrics`.
//!
//! Events are counted where they happen, through the `metrics` facade, by the crate that sees them
//! (each declares its names in its own `metrics` module). What the application already keeps as
//! running totals (rule families, sinks, stored counts) is read when Prometheus scrapes, so the
//! hot path pays nothing for it. Names follow STYLE §9; no label carries a plate, a name, a place
//! or a device.

use glasshouse_app::App;
use glasshouse_engine::metrics::Family;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Observations each rule family looked at.
pub const RULE_OBSERVATIONS: &str = "glasshouse_rule_observations_total";
/// Alerts each rule family raised on the hot path, before the alert log folds repeats into open alerts.
pub const RULE_ALERTS: &str = "glasshouse_rule_alerts_total";
/// Time the hot path spent in each rule family (a counter of nanoseconds: rate() is the share of a
/// core).
pub const RULE_NANOSECONDS: &str = "glasshouse_rule_evaluation_nanoseconds_total";
/// Alerts a sink delivered.
pub const SINK_DELIVERED: &str = "glasshouse_sink_delivered_total";
/// Delivery attempts that failed (each retry counts).
pub const SINK_FAILED_ATTEMPTS: &str = "glasshouse_sink_failed_attempts_total";
/// Alerts a sink gave up on.
pub const SINK_DEAD_LETTERED: &str = "glasshouse_sink_dead_lettered_total";
/// Alerts raised but not yet delivered, skipped or given up on, per sink.
pub const SINK_BACKLOG: &str = "glasshouse_sink_backlog_alerts";
/// Alerts in the alert log.
pub const ALERTS_STORED: &str = "glasshouse_alerts_stored";
/// Observations in segments.
pub const STORED_OBSERVATIONS: &str = "glasshouse_stored_observations";
/// Bytes of segments on disk.
pub const STORED_BYTES: &str = "glasshouse_stored_bytes";
/// Requests refused for a missing or invalid token.
pub const AUTH_REFUSED: &str = "glasshouse_auth_refused_total";
/// Requests refused (429) because their address was closed for failed logons.
pub const AUTH_THROTTLED: &str = "glasshouse_auth_throttled_total";

/// Histogram buckets for every `_seconds` metric: from half a millisecond (a group commit) to ten
/// seconds (a large flush).
const SECONDS_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often histogram samples are folded into their buckets when nobody scrapes, so memory stays
/// flat.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the recorder once per process (later calls return the same handle) and describes
/// every metric the server's crates declare.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only the collected figures");
        }
        describe();
        let upkeep = handle.clone();
        let started = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = started {
            tracing::warn!(error = %e, "metrics upkeep thread not started; histograms are folded at each scrape");
        }
        handle
    })
}

fn describe() {
    glasshouse_wal::metrics::describe();
    glasshouse_audit::metrics::describe();
    glasshouse_store::metrics::describe();
    glasshouse_app::metrics::describe();
    glasshouse_sinks::alert_log::describe_metrics();
    metrics::describe_counter!(RULE_OBSERVATIONS, "observations each rule family looked at");
    metrics::describe_counter!(RULE_ALERTS, "alerts each rule family raised on the hot path, before the alert log folds repeats");
    metrics::describe_counter!(RULE_NANOSECONDS, metrics::Unit::Nanoseconds, "time the hot path spent in each rule family");
    metrics::describe_counter!(SINK_DELIVERED, "alerts each sink delivered");
    metrics::describe_counter!(SINK_FAILED_ATTEMPTS, "delivery attempts that failed, each retry counted");
    metrics::describe_counter!(SINK_DEAD_LETTERED, "alerts each sink gave up on");
    metrics::describe_gauge!(SINK_BACKLOG, "alerts raised but not yet delivered, skipped or given up on, per sink");
    metrics::describe_gauge!(ALERTS_STORED, "alerts in the alert log");
    metrics::describe_gauge!(STORED_OBSERVATIONS, "observations in segments");
    metrics::describe_gauge!(STORED_BYTES, metrics::Unit::Bytes, "bytes of segments on disk");
    metrics::describe_counter!(AUTH_REFUSED, "requests refused for a missing or invalid token");
    metrics::describe_counter!(AUTH_THROTTLED, "requests refused because their address was closed for failed logons");
    // Series without labels exist from the start at zero, so a dashboard shows "none yet", not
    // "no data", for what has not happened since the start (a compaction, a refused token).
    for counter in [
        glasshouse_wal::metrics::COMMITS,
        glasshouse_wal::metrics::RECORDS,
        glasshouse_store::metrics::FLUSHES,
        glasshouse_store::metrics::FLUSHED_OBSERVATIONS,
        glasshouse_store::metrics::COMPACTIONS,
        glasshouse_store::metrics::COMPACTED_SEGMENTS,
        AUTH_REFUSED,
        AUTH_THROTTLED,
    ] {
        metrics::counter!(counter).increment(0);
    }
    for histogram in [
        glasshouse_wal::metrics::COMMIT_SECONDS,
        glasshouse_audit::metrics::APPEND_SECONDS,
        glasshouse_store::metrics::FLUSH_SECONDS,
        glasshouse_app::metrics::HOT_PATH_LAG_SECONDS,
    ] {
        let _registered = metrics::histogram!(histogram);
    }
}

/// Counts a request refused for its token.
pub fn auth_refused() {
    metrics::counter!(AUTH_REFUSED).increment(1);
}

/// Counts a request refused because its address was closed.
pub fn auth_throttled() {
    metrics::counter!(AUTH_THROTTLED).increment(1);
}

/// The text Prometheus scrapes: the running totals read now, then everything recorded.
pub fn render(app: &App) -> String {
    let handle = install();
    let rules = app.rule_metrics.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for family in Family::ALL {
        let totals = rules.family(family);
        metrics::counter!(RULE_OBSERVATIONS, "family" => family.as_str()).absolute(totals.observations);
        metrics::counter!(RULE_ALERTS, "family" => family.as_str()).absolute(totals.alerts);
        metrics::counter!(RULE_NANOSECONDS, "family" => family.as_str()).absolute(totals.nanos);
    }
    let stored_alerts = app.alerts.len();
    for (status, _) in app.sharing.statuses(stored_alerts) {
        let sink = status.name.clone();
        metrics::counter!(SINK_DELIVERED, "sink" => sink.clone()).absolute(status.delivered);
        metrics::counter!(SINK_FAILED_ATTEMPTS, "sink" => sink.clone()).absolute(status.failed_attempts);
        metrics::counter!(SINK_DEAD_LETTERED, "sink" => sink.clone()).absolute(status.dead_lettered);
        metrics::gauge!(SINK_BACKLOG, "sink" => sink).set(status.pending as f64);
    }
    let (_, rows, bytes) = app.store.stats();
    metrics::gauge!(ALERTS_STORED).set(stored_alerts as f64);
    metrics::gauge!(STORED_OBSERVATIONS).set(rows as f64);
    metrics::gauge!(STORED_BYTES).set(bytes as f64);
    handle.run_upkeep();
    handle.render()
}
