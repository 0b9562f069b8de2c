//! The first observation query: kinds × time range × bounding box.

use glasshouse_model::{Kind, Observation, Timestamp};

/// What to find. Every bound is optional; `limit` is always set.
#[derive(Debug, Clone)]
pub struct ObservationQuery {
    /// Kinds to include; empty means all.
    pub kinds: Vec<Kind>,
    /// Inclusive lower bound on `observed_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `observed_at`.
    pub to: Option<Timestamp>,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    /// Most results returned; the rest are counted as truncated.
    pub limit: usize,
}

impl ObservationQuery {
    /// True when the query wants this kind.
    pub fn wants_kind(&self, kind: Kind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    /// True when `[start, end)` can hold matching times.
    pub fn overlaps_time(&self, start: Timestamp, end: Timestamp) -> bool {
        self.from.is_none_or(|from| end > from) && self.to.is_none_or(|to| start < to)
    }

    /// True when a box `[min_lon, min_lat, max_lon, max_lat]` can hold matching points.
    pub fn overlaps_bbox(&self, other: &[f64; 4]) -> bool {
        self.bbox.is_none_or(|b| b[0] <= other[2] && other[0] <= b[2] && b[1] <= other[3] && other[1] <= b[3])
    }

    /// True when the observation matches every bound.
    pub fn matches(&self, o: &Observation) -> bool {
        self.wants_kind(o.kind())
            && self.from.is_none_or(|from| o.observed_at >= from)
            && self.to.is_none_or(|to| o.observed_at < to)
            && self.bbox.is_none_or(|b| (b[0]..=b[2]).contains(&o.position.lon) && (b[1]..=b[3]).contains(&o.position.lat))
    }
}

/// Matching observations, oldest first, and how the answer was found.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// At most `limit` observations, ordered by `observed_at` then id.
    pub observations: Vec<Observation>,
    /// True when more matched than `limit`.
    pub truncated: bool,
    /// Segments whose file was read.
    pub segments_scanned: usize,
    /// Segments skipped by the manifest's time and box bounds.
    pub segments_pruned: usize,
    /// Rows decoded from segments.
    pub rows_scanned: usize,
    /// Matches from the hot window (durable in the WAL, not yet flushed).
    pub hot_matches: usize,
}
