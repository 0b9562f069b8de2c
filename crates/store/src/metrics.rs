//! What the store counts: flushes of the hot window to segments, compactions, and purges. Names
//! follow STYLE §9.

use glasshouse_model::Kind;
use std::time::Duration;

/// Flushes of the hot window to segments.
pub const FLUSHES: &str = "glasshouse_segment_flushes_total";
/// Observations written to segments by flushes.
pub const FLUSHED_OBSERVATIONS: &str = "glasshouse_segment_flushed_observations_total";
/// Time one flush took, files and manifest.
pub const FLUSH_SECONDS: &str = "glasshouse_segment_flush_seconds";
/// Compaction passes that merged segments.
pub const COMPACTIONS: &str = "glasshouse_segment_compactions_total";
/// Segments merged away by compaction.
pub const COMPACTED_SEGMENTS: &str = "glasshouse_segment_compacted_segments_total";
/// Purges that deleted something, by kind.
pub const PURGES: &str = "glasshouse_retention_purges_total";
/// Observations deleted by purges, by kind.
pub const PURGED_OBSERVATIONS: &str = "glasshouse_retention_purged_observations_total";

/// Gives each metric its help text (call once the recorder is installed).
pub fn describe() {
    metrics::describe_counter!(FLUSHES, "flushes of the hot window to segments");
    metrics::describe_counter!(FLUSHED_OBSERVATIONS, "observations written to segments by flushes");
    metrics::describe_histogram!(FLUSH_SECONDS, metrics::Unit::Seconds, "time one flush took");
    metrics::describe_counter!(COMPACTIONS, "compaction passes that merged segments");
    metrics::describe_counter!(COMPACTED_SEGMENTS, "segments merged away by compaction");
    metrics::describe_counter!(PURGES, "retention purges that deleted observations, by kind");
    metrics::describe_counter!(PURGED_OBSERVATIONS, "observations deleted by retention purges, by kind");
}

pub(crate) fn flushed(observations: usize, took: Duration) {
    metrics::counter!(FLUSHES).increment(1);
    metrics::counter!(FLUSHED_OBSERVATIONS).increment(observations as u64);
    metrics::histogram!(FLUSH_SECONDS).record(took.as_secs_f64());
}

pub(crate) fn compacted(segments_in: usize) {
    metrics::counter!(COMPACTIONS).increment(1);
    metrics::counter!(COMPACTED_SEGMENTS).increment(segments_in as u64);
}

pub(crate) fn purged(kind: Kind, observations: u64) {
    metrics::counter!(PURGES, "kind" => kind.as_str()).increment(1);
    metrics::counter!(PURGED_OBSERVATIONS, "kind" => kind.as_str()).increment(observations);
}
