//! Investigation searches: what they ask and what they answer. The evaluation lives with the
//! segments (`segments::find` plans a search over the day segments, `segments::scan` reads one);
//! this module holds the shapes, the plate modes, the cursor and the page type, none of which touch
//! a file.

use geo::{Intersects, MultiPolygon, Point};
use glasshouse_engine::rules::misread::{self, CharDiff};
use glasshouse_model::geo::LatLon;
use glasshouse_model::{Body, Kind, Observation, Timestamp};
use serde::Serialize;

/// How a plate search compares plates.
#[derive(Debug, Clone, PartialEq)]
pub enum PlateMode {
    /// The normalised plate, character for character.
    Exact,
    /// `?` stands for one character, `*` for any run.
    Wildcard,
    /// Misread-tolerant (the API's `tolerant`): confusable characters cost nothing; up to
    /// `substitutions_max` other substitutions, and one inserted or dropped character when
    /// `length_tolerance` is set: the hot path's matching rules.
    MisreadTolerant {
        /// 0..=2 substitutions beyond the confusable classes.
        substitutions_max: u8,
        /// Allow one character more or less.
        length_tolerance: bool,
    },
}

/// Where a plate has been read.
#[derive(Debug, Clone)]
pub struct PlateQuery {
    /// A normalised plate, or a pattern for [`PlateMode::Wildcard`].
    pub plate: String,
    /// How to compare.
    pub mode: PlateMode,
    /// Inclusive lower bound on `observed_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound.
    pub to: Option<Timestamp>,
    /// Continue after this position (from the previous page).
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: usize,
}

impl PlateQuery {
    /// Checks one plate against the query: the distance and the differing characters, or `None`.
    pub fn compare(&self, plate: &str) -> Option<(u8, Vec<CharDiff>)> {
        match &self.mode {
            PlateMode::Exact => (plate == self.plate).then(|| (0, Vec::new())),
            PlateMode::Wildcard => crate::plate_index::Wildcard::new(&self.plate).filter(|w| w.matches(plate)).map(|_| (0, Vec::new())),
            PlateMode::MisreadTolerant { substitutions_max, length_tolerance } => {
                misread::compare(plate, &self.plate, *substitutions_max, *length_tolerance).map(|m| (m.distance(), m.diffs))
            }
        }
    }

    /// The best match of a plate read (its plate first, then its OCR candidates).
    pub fn match_read(&self, o: &Observation) -> Option<PlateMatch> {
        let Body::PlateRead(read) = &o.body else { return None };
        let mut best: Option<PlateMatch> = self.compare(&read.plate).map(|(distance, diffs)| PlateMatch {
            matched_plate: read.plate.clone(),
            via_candidate: false,
            distance,
            diffs,
        });
        for candidate in &read.candidates {
            if let Some((distance, diffs)) = self.compare(&candidate.plate)
                && best.as_ref().is_none_or(|b| distance < b.distance)
            {
                best = Some(PlateMatch { matched_plate: candidate.plate.clone(), via_candidate: true, distance, diffs });
            }
        }
        best
    }

    /// True when `at` lies in the query's time range.
    pub fn in_time(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t)
    }
}

/// How a read matched a plate query.
#[derive(Debug, Clone, Serialize)]
pub struct PlateMatch {
    /// The plate text that matched: the read's plate or one of its candidates.
    pub matched_plate: String,
    /// True when an OCR candidate matched rather than the read's plate.
    pub via_candidate: bool,
    /// Substitutions plus length difference (0 for exact and wildcard).
    pub distance: u8,
    /// Differing characters (tolerant mode).
    pub diffs: Vec<CharDiff>,
}

/// An area on the ground.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A circle of `radius_m` metres.
    Circle {
        /// Its centre.
        center: LatLon,
        /// Its radius.
        radius_m: f64,
    },
    /// A GeoJSON polygon or multipolygon, in lon/lat.
    Polygon(MultiPolygon<f64>),
}

impl Shape {
    /// `[min_lon, min_lat, max_lon, max_lat]` enclosing the shape.
    pub fn bbox(&self) -> [f64; 4] {
        match self {
            Shape::Circle { center, radius_m } => {
                let north = center.destination(0.0, *radius_m);
                let south = center.destination(180.0, *radius_m);
                let east = center.destination(90.0, *radius_m);
                let west = center.destination(270.0, *radius_m);
                [west.lon, south.lat, east.lon, north.lat]
            }
            Shape::Polygon(polygons) => {
                let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                for polygon in polygons {
                    for c in &polygon.exterior().0 {
                        b = [b[0].min(c.x), b[1].min(c.y), b[2].max(c.x), b[3].max(c.y)];
                    }
                }
                b
            }
        }
    }

    /// True when the point is inside (or on the edge).
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        match self {
            Shape::Circle { center, radius_m } => center.distance_m(&LatLon::new(lat, lon)) <= *radius_m,
            Shape::Polygon(polygons) => polygons.intersects(&Point::new(lon, lat)),
        }
    }

    /// The area in km², for the purpose policy's limit on broad searches.
    pub fn area_km2(&self) -> f64 {
        match self {
            Shape::Circle { radius_m, .. } => std::f64::consts::PI * radius_m * radius_m / 1e6,
            Shape::Polygon(polygons) => {
                use geo::GeodesicArea;
                use geo::orient::{Direction, Orient};
                // The geodesic area of a clockwise ring is the rest of the globe; GeoJSON does not
                // oblige clients to wind rings counter-clockwise (RFC 7946 §3.1.6), so orient first.
                polygons.orient(Direction::Default).geodesic_area_unsigned() / 1e6
            }
        }
    }
}

/// What an area search finds.
#[derive(Debug, Clone)]
pub struct AreaQuery {
    /// The area.
    pub shape: Shape,
    /// Kinds to include; empty means all.
    pub kinds: Vec<Kind>,
    /// Inclusive lower bound on `observed_at`.
    pub from: Timestamp,
    /// Exclusive upper bound.
    pub to: Timestamp,
    /// Continue after this position.
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: usize,
}

impl AreaQuery {
    /// True when the observation lies in the area, the time range and the kinds.
    pub fn matches(&self, o: &Observation) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&o.kind()))
            && o.observed_at >= self.from
            && o.observed_at < self.to
            && self.shape.contains(o.position.lat, o.position.lon)
    }
}

/// A position in a result order: rank (the match distance; 0 for area searches), then time, then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The match distance.
    pub rank: u8,
    /// The observation time.
    pub observed_at: Timestamp,
    /// The observation id.
    pub id: String,
}

impl Cursor {
    /// The cursor of an observation at a rank.
    pub fn of(rank: u8, o: &Observation) -> Cursor {
        Cursor { rank, observed_at: o.observed_at, id: o.id.clone() }
    }

    /// The opaque text handed to clients: `rank.micros.id` (ids may contain dots; they come last).
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.rank, self.observed_at.0, self.id)
    }

    /// Parses [`Cursor::encode`]'s output.
    pub fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.splitn(3, '.');
        let rank = parts.next()?.parse().ok()?;
        let micros = parts.next()?.parse().ok()?;
        let id = parts.next().filter(|id| !id.is_empty())?.to_owned();
        Some(Cursor { rank, observed_at: Timestamp(micros), id })
    }
}

/// How a search was answered, for the `explain` block of a response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Explain {
    /// The index that chose the rows: `plate_fst`, `plate_dictionary` or `row_group_stats`.
    pub index: &'static str,
    /// Segments whose rows were read.
    pub segments_scanned: usize,
    /// Segments skipped by the manifest (kind, time, box) or by an index with no matching key.
    pub segments_pruned: usize,
    /// Row groups read.
    pub row_groups_scanned: usize,
    /// Row groups skipped by their statistics (time, lat, lon) or the index.
    pub row_groups_pruned: usize,
    /// Rows looked at: rows selected by the index, or rows of the row groups read.
    pub rows_scanned: usize,
    /// Distinct plates the index matched, summed over segments.
    pub index_keys_matched: usize,
    /// Segments a count answered from the index alone, without reading a row.
    pub segments_answered_by_index: usize,
    /// Distinct plates the store's plate dictionary matched, for a pattern with no fixed start
    /// (`index` is then `plate_dictionary`: those plates were looked up in each day's index).
    pub dictionary_plates_matched: usize,
    /// Matches from the hot window (durable in the WAL, not yet in a segment).
    pub hot_window_matches: usize,
}

impl Explain {
    /// Adds another worker's figures to these.
    pub(crate) fn absorb(&mut self, other: &Explain) {
        self.segments_scanned += other.segments_scanned;
        self.segments_pruned += other.segments_pruned;
        self.row_groups_scanned += other.row_groups_scanned;
        self.row_groups_pruned += other.row_groups_pruned;
        self.rows_scanned += other.rows_scanned;
        self.index_keys_matched += other.index_keys_matched;
        self.segments_answered_by_index += other.segments_answered_by_index;
        self.dictionary_plates_matched = self.dictionary_plates_matched.max(other.dictionary_plates_matched);
        self.hot_window_matches += other.hot_window_matches;
    }
}

/// One page of results.
#[derive(Debug, Default)]
pub struct Page<T> {
    /// At most `limit` items in result order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// How the page was found.
    pub explain: Explain,
}

/// How many reads match a plate query: the answer to "how often was `AB?12*` read, and as
/// which plates" before (or instead of) paging through the reads.
#[derive(Debug, Default, Serialize)]
pub struct PlateTally {
    /// Reads matching, each counted once.
    pub reads: u64,
    /// Distinct plate texts that matched.
    pub plates_matched: usize,
    /// The plate texts with the most reads, at most the query's `limit`: a read counts under its
    /// plate and under each OCR candidate that matches.
    pub plates: Vec<PlateCount>,
    /// How the count was found.
    pub explain: Explain,
}

/// Reads of one plate text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlateCount {
    /// The plate as read.
    pub plate: String,
    /// Reads carrying it.
    pub reads: u64,
}

/// Keeps the first `limit + 1` items by cursor order without holding every match: the extra one
/// tells whether there is a next page.
pub(crate) struct TopK<T> {
    items: Vec<(Cursor, T)>,
    keep: usize,
    after: Option<Cursor>,
}

impl<T> TopK<T> {
    pub(crate) fn new(limit: usize, after: Option<Cursor>) -> TopK<T> {
        TopK { items: Vec::new(), keep: limit.saturating_add(1), after }
    }

    pub(crate) fn push(&mut self, cursor: Cursor, item: T) {
        if self.after.as_ref().is_some_and(|after| cursor <= *after) {
            return;
        }
        self.items.push((cursor, item));
        if self.items.len() >= self.keep.saturating_mul(4).max(1024) {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        self.items.sort_by(|a, b| a.0.cmp(&b.0));
        self.items.truncate(self.keep);
    }

    /// Everything kept so far, unsorted (for merging the tops of parallel workers).
    pub(crate) fn into_items(self) -> Vec<(Cursor, T)> {
        self.items
    }

    /// The page and the cursor of its last item when more follow.
    pub(crate) fn finish(mut self) -> (Vec<T>, Option<Cursor>) {
        self.shrink();
        let more = self.items.len() == self.keep;
        if more {
            self.items.pop();
        }
        let next = if more { self.items.last().map(|(c, _)| c.clone()) } else { None };
        (self.items.into_iter().map(|(_, t)| t).collect(), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polygon_has_the_same_area_whichever_way_its_ring_winds() {
        // About 1.1 km × 1.1 km in Helsinki, drawn clockwise as a console user clicks it.
        let ring = vec![(24.93, 60.175), (24.95, 60.175), (24.95, 60.165), (24.93, 60.165), (24.93, 60.175)];
        let clockwise = Shape::Polygon(MultiPolygon(vec![geo::Polygon::new(geo::LineString::from(ring.clone()), vec![])]));
        let counter = Shape::Polygon(MultiPolygon(vec![geo::Polygon::new(
            geo::LineString::from(ring.into_iter().rev().collect::<Vec<_>>()),
            vec![],
        )]));
        let (a, b) = (clockwise.area_km2(), counter.area_km2());
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        assert!((1.0..1.4).contains(&a), "{a} km²");
    }

    #[test]
    fn cursors_round_trip_even_with_dots_in_the_id() {
        let cursor = Cursor { rank: 1, observed_at: Timestamp(1_764_000_000_000_000), id: "cam.7:read.42".into() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("x.1.a"), None);
        assert_eq!(Cursor::decode("1.2."), None);
    }

    #[test]
    fn top_k_pages_cover_everything_once_in_order() {
        let cursors: Vec<Cursor> = (0..2_500)
            .map(|i| Cursor { rank: (i % 3) as u8, observed_at: Timestamp(i64::from(i * 7 % 1000)), id: format!("o{i}") })
            .collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let mut top = TopK::new(300, after.clone());
            for c in &cursors {
                top.push(c.clone(), c.clone());
            }
            let (items, next) = top.finish();
            seen.extend(items);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut expected = cursors.clone();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn circles_contain_what_is_within_the_radius() {
        let shape = Shape::Circle { center: LatLon::new(60.17, 24.94), radius_m: 300.0 };
        let inside = LatLon::new(60.17, 24.94).destination(45.0, 290.0);
        let outside = LatLon::new(60.17, 24.94).destination(45.0, 310.0);
        assert!(shape.contains(inside.lat, inside.lon));
        assert!(!shape.contains(outside.lat, outside.lon));
        let b = shape.bbox();
        assert!(b[0] < inside.lon && inside.lon < b[2] && b[1] < inside.lat && inside.lat < b[3]);
        assert!((shape.area_km2() - 0.2827).abs() < 0.001);
    }
}
