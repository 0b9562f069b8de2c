//! The investigation searches over segments and the hot window.

use super::scan::RowConditions;
use super::{SegmentMeta, SegmentStore, StoreError};
use crate::query::{ObservationQuery, QueryResult};
use crate::search::{AreaQuery, Cursor, Explain, Page, PlateMatch, PlateMode, PlateQuery, TopK};
use fst::automaton::Levenshtein;
use glasshouse_model::{Kind, Observation, Timestamp};
use glasshouse_wal::Lsn;
use std::sync::Arc;

impl SegmentStore {
    /// Reads of a plate: the plate index picks the rows of each plate-read segment in the time
    /// range, and each is verified against the query (the index is keyed by canonical plates, so it
    /// can only over-select). Ordered by match distance, then time, then id.
    pub(crate) fn search_plates(
        &self,
        query: &PlateQuery,
        hot: &[(Lsn, Observation)],
    ) -> Result<Page<(Observation, PlateMatch)>, StoreError> {
        let mut explain = Explain { index: "plate_fst", ..Explain::default() };
        let key = query.canonical();
        let conditions = RowConditions { from: query.from, to: query.to, ..RowConditions::default() };
        let mut candidates = Vec::new();
        for segment in &self.manifest.segments {
            let end = Timestamp(segment.max_observed_at.0 + 1);
            let in_time = query.from.is_none_or(|f| end > f) && query.to.is_none_or(|t| segment.min_observed_at < t);
            if segment.kind == Kind::PlateRead.as_str() && in_time {
                candidates.push(segment);
            } else {
                explain.segments_pruned += 1;
            }
        }
        let work = |segment: &SegmentMeta, explain: &mut Explain, top: &mut TopK<(Observation, PlateMatch)>| -> Result<(), StoreError> {
            let handle = self.handle(segment)?;
            let Some(index) = handle.plates() else {
                return Err(StoreError::Manifest { path: self.root.join(&segment.path), reason: "plate segment without an index".into() });
            };
            let mut rows = Vec::new();
            let index_error =
                |e: crate::plate_index::IndexError| StoreError::Parquet { path: self.root.join(&segment.path), reason: e.to_string() };
            explain.index_keys_matched += match &query.mode {
                PlateMode::Exact => {
                    index.rows_exact(&key, &mut rows).map_err(index_error)?;
                    usize::from(!rows.is_empty())
                }
                PlateMode::Wildcard => {
                    let pattern = crate::plate_index::Wildcard::new(&key)
                        .ok_or_else(|| StoreError::Manifest { path: self.root.clone(), reason: "bad wildcard".into() })?;
                    index.rows_matching(pattern, &mut rows).map_err(index_error)?
                }
                PlateMode::Tolerant { substitutions_max, length_tolerance } => {
                    let distance = u32::from(*substitutions_max) + u32::from(*length_tolerance);
                    let automaton = Levenshtein::new(&key, distance)
                        .map_err(|e| StoreError::Manifest { path: self.root.clone(), reason: e.to_string() })?;
                    index.rows_matching(automaton, &mut rows).map_err(index_error)?
                }
            };
            if rows.is_empty() {
                explain.segments_pruned += 1;
                return Ok(());
            }
            rows.sort_unstable();
            rows.dedup();
            self.scan_segment(segment, &conditions, Some(&rows), explain, &mut |o| {
                if let Some(matched) = query.match_read(&o) {
                    top.push(Cursor::of(matched.distance, &o), (o, matched));
                }
            })
        };
        let (mut top, found) = fan_out(&candidates, query.limit, &query.after, &work)?;
        explain.absorb(&found);
        for (_, o) in hot {
            if query.in_time(o.observed_at)
                && let Some(matched) = query.match_read(o)
            {
                explain.hot_window_matches += 1;
                top.push(Cursor::of(matched.distance, o), (o.clone(), matched));
            }
        }
        let (items, next) = top.finish();
        Ok(Page { items, next, explain })
    }

    /// Observations inside an area and a time range: segments pruned by the manifest, row groups by
    /// their statistics, rows by the exact shape before the rest of the row is decoded. Ordered by
    /// time, then id.
    pub(crate) fn search_area(&self, query: &AreaQuery, hot: &[(Lsn, Observation)]) -> Result<Page<Observation>, StoreError> {
        let mut explain = Explain { index: "row_group_stats", ..Explain::default() };
        let bbox = query.shape.bbox();
        let conditions = RowConditions {
            from: Some(query.from),
            to: Some(query.to),
            bbox: Some(bbox),
            shape: Some(Arc::new(query.shape.clone())),
            incident_id: None,
        };
        let outline =
            ObservationQuery { kinds: query.kinds.clone(), from: Some(query.from), to: Some(query.to), bbox: Some(bbox), limit: 0 };
        let candidates: Vec<&SegmentMeta> = self.manifest.segments.iter().filter(|s| outline_overlaps(&outline, s)).collect();
        explain.segments_pruned += self.manifest.segments.len() - candidates.len();
        let work = |segment: &SegmentMeta, explain: &mut Explain, top: &mut TopK<Observation>| {
            self.scan_segment(segment, &conditions, None, explain, &mut |o| top.push(Cursor::of(0, &o), o))
        };
        let (mut top, found) = fan_out(&candidates, query.limit, &query.after, &work)?;
        explain.absorb(&found);
        for (_, o) in hot {
            if query.matches(o) {
                explain.hot_window_matches += 1;
                top.push(Cursor::of(0, o), o.clone());
            }
        }
        let (items, next) = top.finish();
        Ok(Page { items, next, explain })
    }

    /// Every report of a dispatch incident (a CAD system sends one per status change), oldest first.
    pub(crate) fn find_incident(&self, incident_id: &str, hot: &[(Lsn, Observation)]) -> Result<Vec<Observation>, StoreError> {
        let conditions = RowConditions { incident_id: Some(incident_id.to_owned()), ..RowConditions::default() };
        let mut explain = Explain::default();
        let mut found = Vec::new();
        for segment in self.manifest.segments.iter().filter(|s| s.kind == Kind::Incident.as_str()) {
            self.scan_segment(segment, &conditions, None, &mut explain, &mut |o| found.push(o))?;
        }
        found.extend(
            hot.iter()
                .filter(|(_, o)| matches!(&o.body, glasshouse_model::Body::Incident(i) if i.incident_id == incident_id))
                .map(|(_, o)| o.clone()),
        );
        found.sort_by(|a, b| a.observed_at.cmp(&b.observed_at).then_with(|| a.id.cmp(&b.id)));
        Ok(found)
    }

    /// Answers a kinds × time × box query from the segments, adding matches from `hot`.
    pub(crate) fn query(&self, query: &ObservationQuery, hot: &[(Lsn, Observation)]) -> Result<QueryResult, StoreError> {
        let mut explain = Explain::default();
        let mut top = TopK::new(query.limit, None);
        let conditions = RowConditions { from: query.from, to: query.to, bbox: query.bbox, ..RowConditions::default() };
        for segment in &self.manifest.segments {
            if !outline_overlaps(query, segment) {
                explain.segments_pruned += 1;
                continue;
            }
            self.scan_segment(segment, &conditions, None, &mut explain, &mut |o| top.push(Cursor::of(0, &o), o))?;
        }
        let mut hot_matches = 0;
        for (_, o) in hot {
            if query.matches(o) {
                hot_matches += 1;
                top.push(Cursor::of(0, o), o.clone());
            }
        }
        let (observations, next) = top.finish();
        Ok(QueryResult {
            observations,
            truncated: next.is_some(),
            segments_scanned: explain.segments_scanned,
            segments_pruned: explain.segments_pruned,
            rows_scanned: explain.rows_scanned,
            hot_matches,
        })
    }
}

/// True when the manifest's description of a segment (kind, time range, box) overlaps the query.
fn outline_overlaps(query: &ObservationQuery, segment: &super::SegmentMeta) -> bool {
    let kind_ok = Kind::parse(&segment.kind).is_some_and(|k| query.wants_kind(k));
    kind_ok && query.overlaps_time(segment.min_observed_at, Timestamp(segment.max_observed_at.0 + 1)) && query.overlaps_bbox(&segment.bbox)
}

/// The per-segment part of a search: read one segment into a worker's top.
type SegmentWork<'a, T> = dyn Fn(&SegmentMeta, &mut Explain, &mut TopK<T>) -> Result<(), StoreError> + Sync + 'a;

/// Runs `work` over the segments on up to one thread per core (a segment's lookup is mostly page
/// decompression, which parallelises), each thread keeping its own top; the tops are merged.
fn fan_out<T: Send>(
    segments: &[&SegmentMeta],
    limit: usize,
    after: &Option<Cursor>,
    work: &SegmentWork<'_, T>,
) -> Result<(TopK<T>, Explain), StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(segments.len() / 2).max(1);
    let mut merged = TopK::new(limit, after.clone());
    let mut explain = Explain::default();
    if threads == 1 {
        for segment in segments {
            work(segment, &mut explain, &mut merged)?;
        }
        return Ok((merged, explain));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(TopK<T>, Explain), StoreError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (mut top, mut explain) = (TopK::new(limit, after.clone()), Explain::default());
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(segment) = segments.get(i) else { return Ok((top, explain)) };
                        work(segment, &mut explain, &mut top)?;
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    for result in results {
        let (top, found) = result?;
        explain.absorb(&found);
        for (cursor, item) in top.into_items() {
            merged.push(cursor, item);
        }
    }
    Ok((merged, explain))
}
