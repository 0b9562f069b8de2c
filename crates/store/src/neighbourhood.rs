//! What was observed around a point and a moment: per kind, the observations within that kind's
//! radius of the point and its half-window of the moment (both ends inclusive). The context of a
//! dispatch incident and of an open situation are both this one search.

use crate::search::{AreaQuery, Shape};
use crate::segments::{SegmentStore, StoreError};
use glasshouse_model::{Kind, LatLon, Observation, Timestamp};
use glasshouse_wal::Lsn;

/// One kind's reach around the anchor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContextWindow {
    /// The kind searched.
    pub kind: Kind,
    /// How far from the point.
    pub radius_m: f64,
    /// How many minutes before and after the moment.
    pub minutes: i64,
}

impl ContextWindow {
    /// Every kind with the correlation rule's default reach, each overridable for all kinds.
    pub fn defaults(radius_m: Option<f64>, minutes: Option<i64>) -> Vec<ContextWindow> {
        Kind::ALL
            .iter()
            .map(|&kind| {
                let (r, w) = glasshouse_engine::rules::correlation::default_window(kind);
                ContextWindow { kind, radius_m: radius_m.unwrap_or(r), minutes: minutes.unwrap_or(w) }
            })
            .collect()
    }
}

/// A search around a known point and moment (an open situation's trigger).
#[derive(Debug, Clone)]
pub struct NeighbourhoodQuery {
    /// The point.
    pub center: LatLon,
    /// The moment.
    pub at: Timestamp,
    /// Per kind, how far and how long.
    pub windows: Vec<ContextWindow>,
    /// Observations left out (the trigger's own reports).
    pub exclude: Vec<String>,
    /// Most observations listed per kind.
    pub per_kind_max: usize,
}

/// A search around a dispatch incident's first report.
#[derive(Debug, Clone)]
pub struct IncidentContextQuery {
    /// The incident's id.
    pub incident_id: String,
    /// Per kind, how far and how long.
    pub windows: Vec<ContextWindow>,
    /// Most observations listed per kind.
    pub per_kind_max: usize,
}

/// One kind's observations around the anchor.
#[derive(Debug, Clone)]
pub struct KindContext {
    /// The kind.
    pub kind: Kind,
    /// Its observations, oldest first.
    pub observations: Vec<Observation>,
    /// More matched than `per_kind_max`.
    pub truncated: bool,
}

/// An incident's reports and its neighbourhood around the first of them.
#[derive(Debug, Clone)]
pub struct IncidentContext {
    /// Every report of the incident, oldest first (never empty).
    pub reports: Vec<Observation>,
    /// Per kind, what was observed around the first report.
    pub neighbourhood: Vec<KindContext>,
}

/// Per kind, the observations within its window of `center` and `at`, leaving out `exclude`.
pub(crate) fn search(
    segments: &SegmentStore,
    hot: &[(Lsn, Observation)],
    center: LatLon,
    at: Timestamp,
    windows: &[ContextWindow],
    exclude: &[String],
    per_kind_max: usize,
) -> Result<Vec<KindContext>, StoreError> {
    let mut found = Vec::with_capacity(windows.len());
    for window in windows {
        let query = AreaQuery {
            shape: Shape::Circle { center, radius_m: window.radius_m },
            kinds: vec![window.kind],
            from: Timestamp(at.0 - window.minutes * 60_000_000),
            // Inclusive at both ends: a read exactly five minutes after is within five minutes.
            to: Timestamp(at.0 + window.minutes * 60_000_000 + 1),
            after: None,
            limit: per_kind_max,
        };
        let page = segments.search_area(&query, hot)?;
        let observations = page.items.into_iter().filter(|o| !exclude.contains(&o.id)).collect();
        found.push(KindContext { kind: window.kind, observations, truncated: page.next.is_some() });
    }
    Ok(found)
}
