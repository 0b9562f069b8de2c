//! The investigation searches over segments and the hot window.

use super::scan::RowConditions;
use super::{SegmentMeta, SegmentStore, StoreError};
use crate::plate_dictionary::PlateDictionary;
use crate::plate_index::{MisreadAutomaton, PlateIndex, Wildcard};
use crate::query::{ObservationQuery, QueryResult};
use crate::search::{AreaQuery, Cursor, Explain, Page, PlateCount, PlateMatch, PlateMode, PlateQuery, PlateTally, TopK};
use glasshouse_model::{Body, Kind, Observation, Timestamp};
use glasshouse_wal::Lsn;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

impl SegmentStore {
    /// Reads of a plate: the plate index picks the rows of each plate-read segment in the time
    /// range, and each is verified against the query (an index may over-select: a tolerant
    /// automaton allows any mix of edits within the total). Ordered by match distance, then time,
    /// then id.
    pub(crate) fn search_plates(
        &self,
        query: &PlateQuery,
        hot: &[(Lsn, Observation)],
    ) -> Result<Page<(Observation, PlateMatch)>, StoreError> {
        let mut explain = Explain { index: "plate_fst", ..Explain::default() };
        let probe = self.probe(query, &mut explain)?;
        let conditions = RowConditions { from: query.from, to: query.to, ..RowConditions::default() };
        let candidates = self.plate_segments(query, &mut explain);
        let work = |segment: &SegmentMeta, explain: &mut Explain, top: &mut TopK<(Observation, PlateMatch)>| -> Result<(), StoreError> {
            let handle = self.handle(segment)?;
            let index = self.plate_index_of(segment, &handle)?;
            self.scan_index_rows(segment, index, &probe, &conditions, explain, &mut |o| {
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

    /// How many reads match a plate query, in all and per plate text. A segment wholly inside the
    /// time range is answered by its index alone (keys are the plates as read, so a matched key is
    /// verified by itself and its rows are counted, not read); a segment cut by the range has its
    /// selected rows read and verified.
    pub(crate) fn tally_plates(&self, query: &PlateQuery, hot: &[(Lsn, Observation)]) -> Result<PlateTally, StoreError> {
        let mut explain = Explain { index: "plate_fst", ..Explain::default() };
        let probe = self.probe(query, &mut explain)?;
        let conditions = RowConditions { from: query.from, to: query.to, ..RowConditions::default() };
        let candidates = self.plate_segments(query, &mut explain);
        let work = |segment: &SegmentMeta, explain: &mut Explain, counts: &mut Counts| -> Result<(), StoreError> {
            let handle = self.handle(segment)?;
            let index = self.plate_index_of(segment, &handle)?;
            let inside = query.from.is_none_or(|f| segment.min_observed_at >= f) && query.to.is_none_or(|t| segment.max_observed_at < t);
            if inside {
                let mut rows = Vec::new();
                let mut failure = None;
                probe
                    .keys(segment, index, |key, key_rows| match std::str::from_utf8(key) {
                        Ok(plate) if query.compare(plate).is_some() => {
                            explain.index_keys_matched += 1;
                            *counts.plates.entry(plate.to_owned()).or_default() += key_rows.len() as u64;
                            rows.extend_from_slice(key_rows);
                        }
                        Ok(_) => {}
                        Err(_) => failure = Some("a key is not text".to_owned()),
                    })
                    .map_err(|reason| self.index_error(segment, reason))?;
                if let Some(reason) = failure {
                    return Err(self.index_error(segment, reason));
                }
                rows.sort_unstable();
                rows.dedup();
                counts.reads += rows.len() as u64;
                explain.segments_answered_by_index += 1;
                return Ok(());
            }
            self.scan_index_rows(segment, index, &probe, &conditions, explain, &mut |o| {
                counts.add(query, &o);
            })
        };
        let mut counts = Counts::default();
        for (worker, found) in fan_out_with(&candidates, Counts::default, &work)? {
            explain.absorb(&found);
            counts.merge(worker);
        }
        for (_, o) in hot {
            if query.in_time(o.observed_at) && counts.add(query, o) {
                explain.hot_window_matches += 1;
            }
        }
        Ok(counts.finish(query.limit, explain))
    }

    /// Decodes the rows of `segment` that `probe` selects in its index and that pass `conditions`,
    /// passing each to `each` (they still need verifying against the query); a segment with no
    /// selected row counts as pruned.
    fn scan_index_rows(
        &self,
        segment: &SegmentMeta,
        index: &PlateIndex,
        probe: &Probe<'_>,
        conditions: &RowConditions,
        explain: &mut Explain,
        each: &mut dyn FnMut(Observation),
    ) -> Result<(), StoreError> {
        // Keys are the plates as read, so each selected row's plate is its key: the rows are
        // read without the plate column (its pages are the costliest to decompress).
        let mut keys: Vec<String> = Vec::new();
        let mut selected: Vec<(u32, usize)> = Vec::new();
        let mut all_text = true;
        probe
            .keys(segment, index, |key, rows| match std::str::from_utf8(key) {
                Ok(text) => {
                    keys.push(text.to_owned());
                    selected.extend(rows.iter().map(|row| (*row, keys.len() - 1)));
                }
                Err(_) => all_text = false,
            })
            .map_err(|reason| self.index_error(segment, reason))?;
        if all_text {
            explain.index_keys_matched += keys.len();
            if selected.is_empty() {
                explain.segments_pruned += 1;
                return Ok(());
            }
            selected.sort_unstable();
            selected.dedup_by_key(|(row, _)| *row);
            let rows: Vec<u32> = selected.iter().map(|(row, _)| *row).collect();
            let plates: Vec<&str> = selected.iter().map(|(_, key)| keys[*key].as_str()).collect();
            return self.scan_segment_with_plates(segment, conditions, &rows, &plates, explain, each);
        }
        let mut rows = Vec::new();
        explain.index_keys_matched += probe.rows(segment, index, &mut rows).map_err(|reason| self.index_error(segment, reason))?;
        if rows.is_empty() {
            explain.segments_pruned += 1;
            return Ok(());
        }
        rows.sort_unstable();
        rows.dedup();
        self.scan_segment(segment, conditions, Some(&rows), explain, each)
    }

    /// What `query` looks for in each index. A pattern with no fixed start (its first two
    /// characters not both literal) is first matched against the plate dictionary, and the plates
    /// found are looked up in the segments it covers, instead of a walk of every key of every day.
    fn probe<'q>(&self, query: &'q PlateQuery, explain: &mut Explain) -> Result<Probe<'q>, StoreError> {
        let mut probe = Probe::new(query).map_err(|reason| StoreError::Manifest { path: self.root.clone(), reason })?;
        let fixed_start = query.plate.bytes().take_while(|b| *b != b'?' && *b != b'*').count();
        if query.mode == PlateMode::Wildcard && fixed_start < 2 {
            let dictionary = self.plate_dictionary()?;
            let plates = dictionary.matching(&query.plate);
            // Past this many, the plates themselves are tens of megabytes to hold and look up in
            // every day; such a pattern (a single character, say) walks the indexes instead.
            if plates.len() <= DICTIONARY_PLATES_MAX {
                explain.index = "plate_dictionary";
                explain.dictionary_plates_matched = plates.len();
                probe.known = Some((dictionary, plates));
            }
        }
        Ok(probe)
    }

    /// The plate-read segments that overlap the query's time range; the others count as pruned.
    fn plate_segments(&self, query: &PlateQuery, explain: &mut Explain) -> Vec<&SegmentMeta> {
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
        candidates
    }

    fn plate_index_of<'h>(&self, segment: &SegmentMeta, handle: &'h super::scan::SegmentHandle) -> Result<&'h PlateIndex, StoreError> {
        handle
            .plates()
            .ok_or_else(|| StoreError::Manifest { path: self.root.join(&segment.path), reason: "plate segment without an index".into() })
    }

    fn index_error(&self, segment: &SegmentMeta, reason: String) -> StoreError {
        StoreError::Parquet { path: self.root.join(&segment.path), reason }
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

    /// Every row of the segments that `query` matches (its time and box; its limit is not used),
    /// passed to `each` in no particular order. Returns how the segments were read.
    pub(crate) fn scan_segments(&self, query: &ObservationQuery, each: &mut dyn FnMut(Observation)) -> Result<Explain, StoreError> {
        let mut explain = Explain::default();
        let conditions = RowConditions { from: query.from, to: query.to, bbox: query.bbox, ..RowConditions::default() };
        for segment in &self.manifest.segments {
            if !outline_overlaps(query, segment) {
                explain.segments_pruned += 1;
                continue;
            }
            self.scan_segment(segment, &conditions, None, &mut explain, each)?;
        }
        Ok(explain)
    }

    /// Answers a kinds × time × box query from the segments, adding matches from `hot`.
    pub(crate) fn query(&self, query: &ObservationQuery, hot: &[(Lsn, Observation)]) -> Result<QueryResult, StoreError> {
        let mut top = TopK::new(query.limit, None);
        let explain = self.scan_segments(query, &mut |o| top.push(Cursor::of(0, &o), o))?;
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

/// What a plate query looks for in a segment's index, built once per search: the plate, the
/// pattern, or an automaton that lets confusable characters differ.
struct Probe<'q> {
    query: &'q PlateQuery,
    exact_keys: Lookup,
    /// The plates the dictionary matched, looked up in the segments it covers.
    known: Option<(Arc<PlateDictionary>, Vec<String>)>,
}

/// The most dictionary plates a search looks up one by one in each segment.
const DICTIONARY_PLATES_MAX: usize = 250_000;

/// How an index of exact plates is searched, by the query's mode.
enum Lookup {
    Plate,
    Pattern(Wildcard),
    Tolerant(MisreadAutomaton),
}

impl<'q> Probe<'q> {
    fn new(query: &'q PlateQuery) -> Result<Probe<'q>, String> {
        let exact_keys = match &query.mode {
            PlateMode::Exact => Lookup::Plate,
            PlateMode::Wildcard => Lookup::Pattern(Wildcard::new(&query.plate).ok_or("a wildcard pattern of 1 to 63 ASCII characters")?),
            PlateMode::MisreadTolerant { .. } => {
                Lookup::Tolerant(MisreadAutomaton::new(&query.plate, edits_allowed(query)).ok_or("a plate too long to match tolerantly")?)
            }
        };
        Ok(Probe { query, exact_keys, known: None })
    }

    /// Adds to `out` the rows `index` may select; returns the keys matched.
    fn rows(&self, segment: &SegmentMeta, index: &PlateIndex, out: &mut Vec<u32>) -> Result<usize, String> {
        if let Some(known) = self.known_in(segment) {
            let mut keys = 0;
            index
                .each_listed(known, |_, rows| {
                    keys += 1;
                    out.extend_from_slice(rows);
                })
                .map_err(|e| e.to_string())?;
            return Ok(keys);
        }
        let found = match &self.exact_keys {
            Lookup::Plate => index.rows_exact(&self.query.plate, out).map(|()| usize::from(!out.is_empty())),
            Lookup::Pattern(wildcard) => index.rows_matching(wildcard, out),
            Lookup::Tolerant(tolerant) => index.rows_matching(tolerant, out),
        };
        found.map_err(|e| e.to_string())
    }

    /// The dictionary's plates, when it covers `segment` (so they are all the segment's matches).
    fn known_in(&self, segment: &SegmentMeta) -> Option<&[String]> {
        self.known.as_ref().filter(|(dictionary, _)| dictionary.covers(&segment.path)).map(|(_, plates)| plates.as_slice())
    }

    /// Calls `each` with every key of an index of exact plates the query may match, and its rows.
    fn keys(&self, segment: &SegmentMeta, index: &PlateIndex, each: impl FnMut(&[u8], &[u32])) -> Result<(), String> {
        if let Some(known) = self.known_in(segment) {
            return index.each_listed(known, each).map_err(|e| e.to_string());
        }
        let walked = match &self.exact_keys {
            // One lookup, not a search stream: a stream with an automaton tries every transition
            // of the nodes it passes (the root has dozens), a lookup follows one path.
            Lookup::Plate => index.each_listed(&[self.query.plate.as_str()], each),
            Lookup::Pattern(wildcard) => index.each_matching(wildcard, each),
            Lookup::Tolerant(tolerant) => index.each_matching(tolerant, each),
        };
        walked.map_err(|e| e.to_string())
    }
}

/// Edits a tolerant query's automaton allows: its substitutions plus the length difference. It
/// over-selects (any mix of edits within the total); rows are verified.
fn edits_allowed(query: &PlateQuery) -> usize {
    match query.mode {
        PlateMode::MisreadTolerant { substitutions_max, length_tolerance } => {
            usize::from(substitutions_max) + usize::from(length_tolerance)
        }
        _ => 0,
    }
}

/// A tally being built: distinct reads, and reads per matching plate text.
#[derive(Default)]
struct Counts {
    reads: u64,
    plates: HashMap<String, u64>,
}

impl Counts {
    /// Counts one read: once in all, and once under each of its texts (plate, OCR candidates)
    /// that match. Returns whether it matched.
    fn add(&mut self, query: &PlateQuery, o: &Observation) -> bool {
        let Body::PlateRead(read) = &o.body else { return false };
        let mut texts: Vec<&str> = std::iter::once(read.plate.as_str())
            .chain(read.candidates.iter().map(|c| c.plate.as_str()))
            .filter(|text| query.compare(text).is_some())
            .collect();
        texts.sort_unstable();
        texts.dedup();
        for text in &texts {
            *self.plates.entry((*text).to_owned()).or_default() += 1;
        }
        self.reads += u64::from(!texts.is_empty());
        !texts.is_empty()
    }

    /// Adds another worker's counts (of other segments) to these.
    fn merge(&mut self, other: Counts) {
        self.reads += other.reads;
        for (plate, reads) in other.plates {
            *self.plates.entry(plate).or_default() += reads;
        }
    }

    /// The tally: plates by reads, most first, cut to `limit`.
    fn finish(self, limit: usize, explain: Explain) -> PlateTally {
        let plates_matched = self.plates.len();
        let mut plates: Vec<PlateCount> = self.plates.into_iter().map(|(plate, reads)| PlateCount { plate, reads }).collect();
        plates.sort_by(|a, b| b.reads.cmp(&a.reads).then_with(|| a.plate.cmp(&b.plate)));
        plates.truncate(limit);
        PlateTally { reads: self.reads, plates_matched, plates, explain }
    }
}

/// True when the manifest's description of a segment (kind, time range, box) overlaps the query.
fn outline_overlaps(query: &ObservationQuery, segment: &super::SegmentMeta) -> bool {
    let kind_ok = Kind::parse(&segment.kind).is_some_and(|k| query.wants_kind(k));
    kind_ok && query.overlaps_time(segment.min_observed_at, Timestamp(segment.max_observed_at.0 + 1)) && query.overlaps_bbox(&segment.bbox)
}

/// The per-segment part of a search: read one segment into a worker's accumulator (a top, counts).
pub(super) type SegmentWork<'a, A> = dyn Fn(&SegmentMeta, &mut Explain, &mut A) -> Result<(), StoreError> + Sync + 'a;

/// Runs `work` over the segments on up to one thread per core, each thread keeping its own top;
/// the tops are merged.
fn fan_out<T: Send>(
    segments: &[&SegmentMeta],
    limit: usize,
    after: &Option<Cursor>,
    work: &SegmentWork<'_, TopK<T>>,
) -> Result<(TopK<T>, Explain), StoreError> {
    let mut merged = TopK::new(limit, after.clone());
    let mut explain = Explain::default();
    for (top, found) in fan_out_with(segments, || TopK::new(limit, after.clone()), work)? {
        explain.absorb(&found);
        for (cursor, item) in top.into_items() {
            merged.push(cursor, item);
        }
    }
    Ok((merged, explain))
}

/// What one thread of a search's fan-out hands back.
type WorkerOutcome<A> = Result<(A, Explain), StoreError>;

/// How long a search's calling thread spins for its helpers to finish before it sleeps.
const HELPER_SPIN: Duration = Duration::from_micros(200);

/// Runs `work` over the segments on up to one thread per core (a segment's lookup is mostly page
/// decompression or an index walk, which parallelise), each thread with its own accumulator from
/// `new`; returns every thread's accumulator and figures.
pub(super) fn fan_out_with<A: Send>(
    segments: &[&SegmentMeta],
    new: impl Fn() -> A + Sync,
    work: &SegmentWork<'_, A>,
) -> Result<Vec<(A, Explain)>, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(segments.len() / 2).max(1);
    if threads == 1 {
        let (mut accumulator, mut explain) = (new(), Explain::default());
        for segment in segments {
            work(segment, &mut explain, &mut accumulator)?;
        }
        return Ok(vec![(accumulator, explain)]);
    }
    let next = AtomicUsize::new(0);
    let worker = || {
        let (mut accumulator, mut explain) = (new(), Explain::default());
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(segment) = segments.get(i) else { return Ok((accumulator, explain)) };
            work(segment, &mut explain, &mut accumulator)?;
        }
    };
    // The calling thread works from the start and the process's pool (a thread per core) lends
    // the rest: a thread started per search cost tens of microseconds, and so did handing the
    // whole search to the pool, which left the caller asleep until a pool thread woke it (the
    // wake-ups were a seventh of an exact lookup). A helper that wakes after the caller has taken
    // every segment finds none left. (A pool of one thread fewer than the cores was no faster.)
    let helpers: Vec<Mutex<Option<WorkerOutcome<A>>>> = (1..threads).map(|_| Mutex::new(None)).collect();
    let finished = AtomicUsize::new(0);
    let mine = rayon::in_place_scope(|scope| {
        for slot in &helpers {
            let (worker, finished) = (&worker, &finished);
            scope.spawn(move |_| {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(worker());
                finished.fetch_add(1, Ordering::Release);
            });
        }
        let mine = worker();
        // The helpers' last segments take microseconds: the caller spins for them rather than
        // sleep at the scope's end, which would put its own wake-up on the search's critical
        // path. Bounded, should the pool be busy elsewhere.
        let deadline = Instant::now() + HELPER_SPIN;
        while finished.load(Ordering::Acquire) < helpers.len() && Instant::now() < deadline {
            std::hint::spin_loop();
        }
        mine
    });
    let mut all = vec![mine?];
    for slot in helpers {
        if let Some(result) = slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            all.push(result?);
        }
    }
    Ok(all)
}
