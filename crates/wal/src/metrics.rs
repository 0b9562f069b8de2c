//! What the ingest WAL's group committer counts. Names follow STYLE §9; the server renders them at
//! `/metrics`.

use std::time::Duration;

/// Groups written and synced.
pub const COMMITS: &str = "glasshouse_wal_commits_total";
/// Records appended (duplicates are not appended).
pub const RECORDS: &str = "glasshouse_wal_records_total";
/// Time to write and sync one group.
pub const COMMIT_SECONDS: &str = "glasshouse_wal_commit_seconds";

/// Gives each metric its help text (call once the recorder is installed).
pub fn describe() {
    metrics::describe_counter!(COMMITS, "WAL groups written and synced by the ingest committer");
    metrics::describe_counter!(RECORDS, "records appended to the ingest WAL (duplicates are not)");
    metrics::describe_histogram!(COMMIT_SECONDS, metrics::Unit::Seconds, "time to write and fsync one group");
}

pub(crate) fn committed(records: usize, took: Duration) {
    metrics::counter!(COMMITS).increment(1);
    metrics::counter!(RECORDS).increment(records as u64);
    metrics::histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
}
