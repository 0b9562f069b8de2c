//! What the use cases count: records taken in by source and outcome, and batches refused for
//! overload. Names follow STYLE §9; the source label is the kind of source (`http`, `openalpr`,
//! `mqtt`, `nats`, `spool`), never a device, topic or file name.

/// Records taken in, by source and outcome (`stored`, `duplicate`, `rejected`).
pub const INGEST_RECORDS: &str = "glasshouse_ingest_records_total";
/// Batches refused whole, by source and reason (`busy`: the queue was full; `stopped`).
pub const INGEST_REFUSED_BATCHES: &str = "glasshouse_ingest_refused_batches_total";

/// From a record's receipt to its rules evaluated and the record searchable, for the oldest
/// record of each durable group (WAL wait and commit included).
pub const HOT_PATH_LAG_SECONDS: &str = "glasshouse_hot_path_lag_seconds";

/// The kinds of source records come from: the values of the `source` label.
pub const SOURCES: [&str; 5] = ["http", "openalpr", "mqtt", "nats", "spool"];

/// Gives each metric its help text (call once the recorder is installed), and starts the refusal
/// counters at zero, so "nothing refused" shows as such.
pub fn describe() {
    for source in SOURCES {
        for reason in ["busy", "stopped"] {
            metrics::counter!(INGEST_REFUSED_BATCHES, "source" => source, "reason" => reason).increment(0);
        }
    }
    metrics::describe_histogram!(
        HOT_PATH_LAG_SECONDS,
        metrics::Unit::Seconds,
        "from receipt to rules evaluated, for the oldest record of each durable group"
    );
    metrics::describe_counter!(INGEST_RECORDS, "records taken in, by source and outcome (stored, duplicate, rejected)");
    metrics::describe_counter!(INGEST_REFUSED_BATCHES, "batches refused whole, by source and reason (busy, stopped)");
}

pub(crate) fn records(source: &str, outcome: &'static str, count: usize) {
    if count > 0 {
        metrics::counter!(INGEST_RECORDS, "source" => source.to_owned(), "outcome" => outcome).increment(count as u64);
    }
}

pub(crate) fn refused_batch(source: &str, reason: &'static str) {
    metrics::counter!(INGEST_REFUSED_BATCHES, "source" => source.to_owned(), "reason" => reason).increment(1);
}

/// Records the hot path's lag for a group whose oldest record was received at `oldest`.
pub fn hot_path_evaluated(oldest: glasshouse_model::Timestamp) {
    let lag_micros = (glasshouse_model::Timestamp::now().0 - oldest.0).max(0);
    metrics::histogram!(HOT_PATH_LAG_SECONDS).record(lag_micros as f64 / 1e6);
}
