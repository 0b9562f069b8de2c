//! A geofence's area: parsed from GeoJSON, projected to local metres, and covered by a grid of cells
//! that each know whether all of their points are well inside, well outside, or near the edge.
//!
//! Hysteresis needs the distance to the edge, not only inside/outside, so the exact test is a
//! point-in-polygon plus a point-to-ring distance: too slow to run for every read against every
//! fence. The cell cover answers most points with one array lookup; only cells within the margin of
//! the edge fall back to the exact test. A regular grid per fence (not H3) because its cells are
//! addressed by arithmetic and its classification is exact by the triangle inequality.

use geo::{BoundingRect, Coord, LineString, MultiPolygon, Polygon};
use glasshouse_model::LatLon;
use serde_json::Value;

/// Most vertices one area may have (shared by geofences and area searches).
pub const POLYGON_VERTICES_MAX: usize = 10_000;

/// Cells along the longer side of a fence's grid: 64 × 64 at most, 1 KiB per fence packed. Finer
/// cells leave fewer straddling the margin lines, where the exact test is needed, but 128 measured
/// slower (more memory, more cache misses).
const GRID_CELLS_PER_SIDE: f64 = 64.0;

/// Metres per degree of latitude (WGS84, mid-latitude value; the local projection spans a city).
const METRES_PER_DEGREE_LAT: f64 = 110_574.0;
/// Metres per degree of longitude at the equator.
const METRES_PER_DEGREE_LON_EQUATOR: f64 = 111_320.0;

/// Parses a GeoJSON Polygon or MultiPolygon geometry in WGS84 `[lon, lat]` positions.
pub fn parse_geojson_area(value: &Value) -> Result<MultiPolygon<f64>, String> {
    let coordinates = value.get("coordinates").ok_or("missing coordinates")?;
    let shape = match value.get("type").and_then(Value::as_str) {
        Some("Polygon") => MultiPolygon(vec![polygon(coordinates)?]),
        Some("MultiPolygon") => MultiPolygon(
            coordinates.as_array().ok_or("a MultiPolygon is an array of polygons")?.iter().map(polygon).collect::<Result<_, _>>()?,
        ),
        _ => return Err("type must be Polygon or MultiPolygon".into()),
    };
    if shape.0.is_empty() {
        return Err("a MultiPolygon needs at least one polygon".into());
    }
    let vertices: usize = shape.0.iter().map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()).sum();
    if vertices > POLYGON_VERTICES_MAX {
        return Err(format!("{vertices} vertices, limit is {POLYGON_VERTICES_MAX}"));
    }
    Ok(shape)
}

fn polygon(rings: &Value) -> Result<Polygon<f64>, String> {
    let rings = rings.as_array().filter(|r| !r.is_empty()).ok_or("a polygon is a non-empty array of rings")?;
    let exterior = ring(&rings[0])?;
    let holes = rings[1..].iter().map(ring).collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, holes))
}

fn ring(value: &Value) -> Result<LineString<f64>, String> {
    let points = value.as_array().ok_or("a ring is an array of [lon, lat] positions")?;
    let mut coords = Vec::with_capacity(points.len());
    for p in points {
        let pair = p.as_array().filter(|a| a.len() >= 2).ok_or("a position is [lon, lat]")?;
        let (lon, lat) = (pair[0].as_f64().ok_or("lon is not a number")?, pair[1].as_f64().ok_or("lat is not a number")?);
        if !LatLon::new(lat, lon).is_valid() {
            return Err(format!("position [{lon}, {lat}] is out of range"));
        }
        coords.push(Coord { x: lon, y: lat });
    }
    if coords.len() < 4 || coords.first() != coords.last() {
        return Err("a ring needs at least four positions, the last equal to the first".into());
    }
    Ok(LineString(coords))
}

fn segment_distance_sq(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let length_sq = dx * dx + dy * dy;
    let t = if length_sq > 0.0 { (((p.x - a.x) * dx + (p.y - a.y) * dy) / length_sq).clamp(0.0, 1.0) } else { 0.0 };
    let (ex, ey) = (a.x + t * dx - p.x, a.y + t * dy - p.y);
    ex * ex + ey * ey
}

/// Where a point is relative to a fence with a hysteresis margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Inside, at least the margin from the edge.
    Inside,
    /// Outside, at least the margin from the edge.
    Outside,
    /// Within the margin of the edge, on either side: not enough to change a subject's state.
    Edge,
}

/// A grid cell's class; two bits each when packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Cell {
    Outside = 0,
    Inside = 1,
    /// Every point of the cell is within the margin of the edge.
    Edge = 2,
    /// The cell straddles a margin line: test exactly.
    Mixed = 3,
}

impl Cell {
    pub(super) fn from_bits(bits: u8) -> Cell {
        match bits & 3 {
            0 => Cell::Outside,
            1 => Cell::Inside,
            2 => Cell::Edge,
            _ => Cell::Mixed,
        }
    }
}

/// Where a fence's grid lies, in degrees, so a position finds its cell with two multiplications.
#[derive(Debug, Clone, Copy)]
pub(super) struct GridFrame {
    pub(super) min_lon: f64,
    pub(super) min_lat: f64,
    pub(super) cells_per_degree_lon: f64,
    pub(super) cells_per_degree_lat: f64,
    pub(super) cols: u32,
    pub(super) rows: u32,
}

impl GridFrame {
    /// The cell index of `(lat, lon)`, or `None` outside the grid (and so outside the fence's margin).
    #[inline]
    pub(super) fn cell_of(&self, lat: f64, lon: f64) -> Option<usize> {
        let x = (lon - self.min_lon) * self.cells_per_degree_lon;
        let y = (lat - self.min_lat) * self.cells_per_degree_lat;
        (x >= 0.0 && y >= 0.0 && x < self.cols as f64 && y < self.rows as f64).then(|| y as usize * self.cols as usize + x as usize)
    }
}

/// An equirectangular projection around a fence's centre: metres east and north of it.
#[derive(Debug, Clone, Copy)]
struct Projection {
    lat0: f64,
    lon0: f64,
    metres_per_degree_lon: f64,
}

impl Projection {
    fn to_local(self, lat: f64, lon: f64) -> Coord<f64> {
        Coord { x: (lon - self.lon0) * self.metres_per_degree_lon, y: (lat - self.lat0) * METRES_PER_DEGREE_LAT }
    }

    fn to_degrees(self, c: Coord<f64>) -> (f64, f64) {
        (self.lat0 + c.y / METRES_PER_DEGREE_LAT, self.lon0 + c.x / self.metres_per_degree_lon)
    }
}

/// A fence's area ready for point tests.
#[derive(Debug, Clone)]
pub struct FenceShape {
    /// The projection (the run holds it too), for the tests' local points.
    #[cfg(test)]
    projection: Projection,
    /// The projected area, kept for the geo-based oracle in tests.
    #[cfg(test)]
    local: MultiPolygon<f64>,
    /// What the exact test reads, in one flat run (see [`ExactRun`]).
    run: Vec<[f64; 2]>,
    margin_m: f64,
    grid_min: Coord<f64>,
    cell_m: f64,
    cells: Vec<Cell>,
    frame: GridFrame,
    /// `[min_lon, min_lat], [max_lon, max_lat]` of the area grown by the margin: outside it, every
    /// point is [`Zone::Outside`].
    pub envelope: ([f64; 2], [f64; 2]),
}

/// Everything the exact test of one fence reads, as one flat run of pairs, so that an index of many
/// fences keeps them all in one array and a test touches one place in memory (a fence behind an
/// `Arc`, its rings in a `Vec` and each ring's points in another cost three dependent cache misses
/// once the fences outgrow the cache):
/// - `[lat0, lon0]`, `[metres per degree of longitude, margin in metres]`: the projection;
/// - `[rings, 0]`;
/// - each ring as `[index of its polygon, points]`, then its points in local metres (the first
///   repeated last).
///
/// A run is read from its start; whatever follows its last ring is ignored.
pub(super) struct ExactRun;

/// Pairs before the first ring of a run.
const RUN_HEADER: usize = 3;

impl ExactRun {
    fn build(projection: Projection, margin_m: f64, rings: &[(usize, LineString<f64>)]) -> Vec<[f64; 2]> {
        let mut run = vec![[projection.lat0, projection.lon0], [projection.metres_per_degree_lon, margin_m], [rings.len() as f64, 0.0]];
        for (polygon, ring) in rings {
            run.push([*polygon as f64, ring.0.len() as f64]);
            run.extend(ring.0.iter().map(|c| [c.x, c.y]));
        }
        run
    }

    /// The zone of `(lat, lon)` by the exact test over the run starting `run`.
    #[inline]
    pub(super) fn zone_at(run: &[[f64; 2]], lat: f64, lon: f64) -> Zone {
        let ([lat0, lon0], [metres_per_degree_lon, margin_m]) = (run[0], run[1]);
        let projection = Projection { lat0, lon0, metres_per_degree_lon };
        let (inside, distance) = ExactRun::test(run, projection.to_local(lat, lon));
        if distance < margin_m {
            Zone::Edge
        } else if inside {
            Zone::Inside
        } else {
            Zone::Outside
        }
    }

    /// Inside-ness and distance to the nearest edge in one pass over the edges: crossing parity per
    /// polygon (a hole's crossings cancel its exterior's) and the nearest segment. Written out
    /// because geo's `Contains` plus `Distance` walk the rings twice with more general machinery,
    /// and this test is what the cell cover falls back to on the hot path.
    fn test(run: &[[f64; 2]], p: Coord<f64>) -> (bool, f64) {
        let mut nearest_sq = f64::INFINITY;
        let mut polygon = usize::MAX;
        let mut odd = false;
        let mut inside = false;
        let mut at = RUN_HEADER;
        for _ in 0..run[2][0] as usize {
            let [index, points] = run[at];
            let ring = &run[at + 1..at + 1 + points as usize];
            at += 1 + points as usize;
            if index as usize != polygon {
                inside |= odd;
                (polygon, odd) = (index as usize, false);
            }
            for segment in ring.windows(2) {
                let (a, b) = (Coord { x: segment[0][0], y: segment[0][1] }, Coord { x: segment[1][0], y: segment[1][1] });
                if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y) {
                    odd = !odd;
                }
                nearest_sq = nearest_sq.min(segment_distance_sq(p, a, b));
            }
        }
        (inside | odd, nearest_sq.sqrt())
    }
}

impl FenceShape {
    /// Projects `area` and builds its cell cover for a hysteresis band of `margin_m` either side of the edge.
    pub fn new(area: &MultiPolygon<f64>, margin_m: f64) -> FenceShape {
        let bounds = area.bounding_rect().expect("a parsed area has at least one ring");
        let (lat0, lon0) = ((bounds.min().y + bounds.max().y) / 2.0, (bounds.min().x + bounds.max().x) / 2.0);
        let projection = Projection { lat0, lon0, metres_per_degree_lon: METRES_PER_DEGREE_LON_EQUATOR * lat0.to_radians().cos() };
        let local = MultiPolygon(
            area.0
                .iter()
                .map(|p| {
                    let project = |r: &LineString<f64>| LineString(r.0.iter().map(|c| projection.to_local(c.y, c.x)).collect());
                    Polygon::new(project(p.exterior()), p.interiors().iter().map(project).collect())
                })
                .collect(),
        );
        let rings: Vec<(usize, LineString<f64>)> = local
            .0
            .iter()
            .enumerate()
            .flat_map(|(i, p)| std::iter::once(p.exterior().clone()).chain(p.interiors().iter().cloned()).map(move |r| (i, r)))
            .collect();
        let local_bounds = local.bounding_rect().expect("projected area is not empty");
        let grid_min = Coord { x: local_bounds.min().x - margin_m, y: local_bounds.min().y - margin_m };
        let grid_max = Coord { x: local_bounds.max().x + margin_m, y: local_bounds.max().y + margin_m };
        let extent = (grid_max.x - grid_min.x).max(grid_max.y - grid_min.y);
        let cell_m = (extent / GRID_CELLS_PER_SIDE).max(1.0);
        let cols = (((grid_max.x - grid_min.x) / cell_m).ceil() as usize).max(1);
        let rows = (((grid_max.y - grid_min.y) / cell_m).ceil() as usize).max(1);
        let (min_lat, min_lon) = projection.to_degrees(grid_min);
        let (max_lat, max_lon) = projection.to_degrees(grid_max);
        let mut shape = FenceShape {
            #[cfg(test)]
            projection,
            #[cfg(test)]
            local: local.clone(),
            run: ExactRun::build(projection, margin_m, &rings),
            margin_m,
            grid_min,
            cell_m,
            cells: Vec::new(),
            frame: GridFrame {
                min_lon,
                min_lat,
                cells_per_degree_lon: projection.metres_per_degree_lon / cell_m,
                cells_per_degree_lat: METRES_PER_DEGREE_LAT / cell_m,
                cols: cols as u32,
                rows: rows as u32,
            },
            envelope: ([min_lon, min_lat], [max_lon, max_lat]),
        };
        shape.cells = (0..rows * cols).map(|i| shape.classify_cell(i % cols, i / cols)).collect();
        shape
    }

    /// A cell is wholly on one side when its centre is farther from the edge than the margin plus
    /// half its diagonal: no point of the cell can then be within the margin. It is wholly in the
    /// band when its centre is within the margin less half its diagonal.
    fn classify_cell(&self, col: usize, row: usize) -> Cell {
        let centre = Coord { x: self.grid_min.x + (col as f64 + 0.5) * self.cell_m, y: self.grid_min.y + (row as f64 + 0.5) * self.cell_m };
        let half_diagonal = self.cell_m * std::f64::consts::FRAC_1_SQRT_2;
        let (inside, distance) = self.exact(centre);
        if distance >= self.margin_m + half_diagonal {
            if inside { Cell::Inside } else { Cell::Outside }
        } else if distance + half_diagonal < self.margin_m {
            Cell::Edge
        } else {
            Cell::Mixed
        }
    }

    fn exact(&self, p: Coord<f64>) -> (bool, f64) {
        ExactRun::test(&self.run, p)
    }

    /// The same answer by geo's general algorithms: the oracle for [`FenceShape::exact`] in tests.
    #[cfg(test)]
    fn exact_by_geo(&self, p: Coord<f64>) -> (bool, f64) {
        use geo::{Contains, Distance, Euclidean, Point};
        let point = Point(p);
        let rings = self.local.0.iter().flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()));
        let distance = rings.map(|r| Euclidean.distance(&point, r)).fold(f64::INFINITY, f64::min);
        (self.local.contains(&point), distance)
    }

    /// Where `(lat, lon)` is relative to the fence and its margin.
    pub fn zone(&self, lat: f64, lon: f64) -> Zone {
        match self.frame.cell_of(lat, lon) {
            None => Zone::Outside,
            Some(i) => self.zone_in_cell(self.cells[i], lat, lon),
        }
    }

    /// The zone of a position known to lie in a cell of class `cell`.
    #[inline]
    pub(super) fn zone_in_cell(&self, cell: Cell, lat: f64, lon: f64) -> Zone {
        match cell {
            Cell::Mixed => self.exact_zone_at(lat, lon),
            whole => FenceShape::zone_of_whole_cell(whole),
        }
    }

    /// The zone of every point of a cell that does not straddle a margin line (for one that does,
    /// `Edge`: the answer that changes nothing).
    #[inline]
    pub(super) fn zone_of_whole_cell(cell: Cell) -> Zone {
        match cell {
            Cell::Inside => Zone::Inside,
            Cell::Outside => Zone::Outside,
            Cell::Edge | Cell::Mixed => Zone::Edge,
        }
    }

    /// The grid's frame, for an index that keeps the cells of many fences together.
    pub(super) fn frame(&self) -> GridFrame {
        self.frame
    }

    /// The cell classes, row by row.
    pub(super) fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// The zone by the exact test, without the cell cover (the reference the cover must agree with).
    pub fn exact_zone_at(&self, lat: f64, lon: f64) -> Zone {
        ExactRun::zone_at(&self.run, lat, lon)
    }

    /// The exact test's run, for an index that keeps the runs of many fences together.
    pub(super) fn exact_run(&self) -> &[[f64; 2]] {
        &self.run
    }

    /// Share of the grid's cells that need no exact test.
    pub fn covered_share(&self) -> f64 {
        self.cells.iter().filter(|c| **c != Cell::Mixed).count() as f64 / self.cells.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// An L-shaped block about 800 m × 600 m in Helsinki, with a hole.
    fn l_shape() -> MultiPolygon<f64> {
        parse_geojson_area(&json!({
            "type": "Polygon",
            "coordinates": [
                [[24.930, 60.160], [24.944, 60.160], [24.944, 60.163], [24.937, 60.163], [24.937, 60.1655], [24.930, 60.1655], [24.930, 60.160]],
                [[24.932, 60.161], [24.934, 60.161], [24.934, 60.162], [24.932, 60.162], [24.932, 60.161]]
            ]
        }))
        .unwrap()
    }

    #[test]
    fn bad_geometries_are_refused_with_the_reason() {
        let err = |v: Value| parse_geojson_area(&v).unwrap_err();
        assert!(err(json!({"type": "Point", "coordinates": [24.9, 60.1]})).contains("Polygon or MultiPolygon"));
        assert!(err(json!({"type": "Polygon", "coordinates": [[[24.9, 60.1], [24.95, 60.1], [24.9, 60.15]]]})).contains("at least four"));
        assert!(
            err(json!({"type": "Polygon", "coordinates": [[[24.9, 91.0], [24.95, 60.1], [24.9, 60.15], [24.9, 91.0]]]}))
                .contains("out of range")
        );
        assert!(err(json!({"type": "MultiPolygon", "coordinates": []})).contains("at least one"));
    }

    #[test]
    fn zones_follow_the_margin_and_the_hole() {
        let shape = FenceShape::new(&l_shape(), 20.0);
        assert_eq!(shape.zone(60.1615, 24.940), Zone::Inside, "deep in the lower arm");
        assert_eq!(shape.zone(60.1615, 24.933), Zone::Outside, "in the hole");
        assert_eq!(shape.zone(60.1645, 24.941), Zone::Outside, "in the notch of the L");
        assert_eq!(shape.zone(60.1600, 24.940), Zone::Edge, "on the south edge");
        assert_eq!(shape.zone(60.15990, 24.940), Zone::Edge, "11 m south of the edge is within 20 m");
        assert_eq!(shape.zone(60.1595, 24.940), Zone::Outside, "55 m south");
        assert_eq!(shape.zone(60.2, 25.1), Zone::Outside, "far away");
        assert!(shape.covered_share() > 0.5, "most cells need no exact test: {}", shape.covered_share());
    }

    proptest! {
        /// The cell cover is a shortcut, never a different answer.
        #[test]
        fn the_cell_cover_agrees_with_the_exact_test(lat in 60.158f64..60.1675, lon in 24.927f64..24.947, margin in 0.0f64..60.0) {
            let shape = FenceShape::new(&l_shape(), margin);
            prop_assert_eq!(shape.zone(lat, lon), shape.exact_zone_at(lat, lon));
        }

        /// The hand-written exact test agrees with geo's algorithms (off the edge itself, where
        /// geo's `Contains` says "no" by definition).
        #[test]
        fn the_exact_test_agrees_with_geo(lat in 60.158f64..60.1675, lon in 24.927f64..24.947) {
            let shape = FenceShape::new(&l_shape(), 10.0);
            let p = shape.projection.to_local(lat, lon);
            let (inside, distance) = shape.exact(p);
            let (geo_inside, geo_distance) = shape.exact_by_geo(p);
            prop_assert!((distance - geo_distance).abs() < 1e-6, "{} vs {}", distance, geo_distance);
            if distance > 1e-6 {
                prop_assert_eq!(inside, geo_inside);
            }
        }
    }
}
