//! Geofence point checks on one core: 10k fences (irregular hexagons of 100–400 m radius, with a
//! 15 m hysteresis margin) spread over a 20 km × 20 km city, positions uniform over the city. A
//! "check" is one position classified against every fence: the R-tree finds the fences whose
//! envelope holds it, and each of those answers from its cell cover or the exact test.
//! A second case runs the whole rule (subject lookup, presence state, alerts) for a watched device.
//!
//! The peer, on the same fences and positions in the same run: an `rstar` R-tree of the fences'
//! margin-grown envelopes, then `geo`'s point-in-polygon and point-to-ring distance for each fence
//! it returns (the textbook way to answer the same question). Both must classify every position
//! alike, and the bench checks that they do.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geo::{Contains, Coord, Distance, Euclidean, LineString, Point, Polygon};
use glasshouse_engine::rules::geofence::shape::Zone;
use glasshouse_engine::{GeofenceIndex, GeofenceState, GeofenceSubjects, GeofenceTrigger, NewGeofenceRule};
use glasshouse_model::{Body, Observation, Position, SensorReading, Timestamp};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use serde_json::json;
use std::hint::black_box;

const FENCES: usize = 10_000;
const POINTS: usize = 100_000;
const CITY: (f64, f64) = (60.10, 24.80);
const CITY_SPAN_DEG: (f64, f64) = (0.18, 0.36);
/// The hysteresis margin of the fences below (they leave `margin_m` unset).
const MARGIN_M: f64 = glasshouse_engine::rules::geofence::DEFAULT_MARGIN_M;
/// The projection every fence's exact test uses: metres per degree of latitude, and of longitude
/// at the equator (scaled by the cosine of the fence's centre latitude).
const METRES_PER_DEGREE_LAT: f64 = 110_574.0;
const METRES_PER_DEGREE_LON_EQUATOR: f64 = 111_320.0;

/// A deterministic generator (xorshift) so the bench needs no extra crates.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn hexagon(rng: &mut Rng) -> serde_json::Value {
    let (lat, lon) = (CITY.0 + rng.unit() * CITY_SPAN_DEG.0, CITY.1 + rng.unit() * CITY_SPAN_DEG.1);
    let mut ring: Vec<[f64; 2]> = (0..6)
        .map(|k| {
            let angle = k as f64 * std::f64::consts::PI / 3.0;
            let radius_m = 100.0 + rng.unit() * 300.0;
            [lon + radius_m * angle.cos() / 55_800.0, lat + radius_m * angle.sin() / 111_000.0]
        })
        .collect();
    ring.push(ring[0]);
    json!({ "type": "Polygon", "coordinates": [ring] })
}

fn areas() -> Vec<serde_json::Value> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..FENCES).map(|_| hexagon(&mut rng)).collect()
}

fn index(areas: &[serde_json::Value]) -> GeofenceIndex {
    let mut index = GeofenceIndex::default();
    for (i, area) in areas.iter().enumerate() {
        let rule = NewGeofenceRule {
            name: format!("zone {i}"),
            area: area.clone(),
            triggers: vec![GeofenceTrigger::Enter, GeofenceTrigger::Exit],
            dwell_s: None,
            subjects: GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: true },
            margin_m: None,
            confirm_s: None,
            priority: None,
        }
        .into_rule(format!("gf-{i}"))
        .unwrap();
        index.upsert(rule).unwrap();
    }
    index
}

/// The peer's fence: its ring in metres around the centre of its bounding box, as the engine
/// projects it, so both answer the same question.
struct PeerFence {
    lat0: f64,
    lon0: f64,
    metres_per_degree_lon: f64,
    polygon: Polygon<f64>,
}

impl PeerFence {
    fn new(area: &serde_json::Value) -> (PeerFence, AABB<[f64; 2]>) {
        let ring: Vec<(f64, f64)> =
            area["coordinates"][0].as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
        let (lon_lo, lon_hi) = ring.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
        let (lat_lo, lat_hi) = ring.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        let (lat0, lon0) = ((lat_lo + lat_hi) / 2.0, (lon_lo + lon_hi) / 2.0);
        let metres_per_degree_lon = METRES_PER_DEGREE_LON_EQUATOR * lat0.to_radians().cos();
        let local =
            ring.iter().map(|&(lon, lat)| Coord { x: (lon - lon0) * metres_per_degree_lon, y: (lat - lat0) * METRES_PER_DEGREE_LAT });
        let polygon = Polygon::new(LineString(local.collect()), vec![]);
        let (grow_lon, grow_lat) = (MARGIN_M / metres_per_degree_lon, MARGIN_M / METRES_PER_DEGREE_LAT);
        let envelope = AABB::from_corners([lon_lo - grow_lon, lat_lo - grow_lat], [lon_hi + grow_lon, lat_hi + grow_lat]);
        (PeerFence { lat0, lon0, metres_per_degree_lon, polygon }, envelope)
    }

    fn zone(&self, lat: f64, lon: f64) -> Zone {
        let p = Point::new((lon - self.lon0) * self.metres_per_degree_lon, (lat - self.lat0) * METRES_PER_DEGREE_LAT);
        if Euclidean.distance(&p, self.polygon.exterior()) < MARGIN_M {
            Zone::Edge
        } else if self.polygon.contains(&p) {
            Zone::Inside
        } else {
            Zone::Outside
        }
    }
}

struct Peer {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    fences: Vec<PeerFence>,
}

impl Peer {
    fn new(areas: &[serde_json::Value]) -> Peer {
        let (fences, boxes): (Vec<_>, Vec<_>) = areas.iter().map(PeerFence::new).unzip();
        let leaves = boxes.into_iter().enumerate().map(|(i, b)| GeomWithData::new(Rectangle::from_aabb(b), i as u32)).collect();
        Peer { tree: RTree::bulk_load(leaves), fences }
    }

    fn zones_at(&self, lat: f64, lon: f64, out: &mut Vec<(u32, Zone)>) {
        for leaf in self.tree.locate_all_at_point(&[lon, lat]) {
            out.push((leaf.data, self.fences[leaf.data as usize].zone(lat, lon)));
        }
    }
}

/// How many (position, fence) pairs are inside and how many on an edge.
fn tally(points: &[(f64, f64)], zones_at: impl Fn(f64, f64, &mut Vec<(u32, Zone)>)) -> (usize, usize) {
    let mut zones = Vec::new();
    let (mut inside, mut edge) = (0, 0);
    for &(lat, lon) in points {
        zones.clear();
        zones_at(lat, lon, &mut zones);
        inside += zones.iter().filter(|(_, z)| *z == Zone::Inside).count();
        edge += zones.iter().filter(|(_, z)| *z == Zone::Edge).count();
    }
    (inside, edge)
}

/// Classifies every position once: the (position, fence) answers, counted so none is optimised away.
fn check_all(points: &[(f64, f64)], zones: &mut Vec<(u32, Zone)>, zones_at: impl Fn(f64, f64, &mut Vec<(u32, Zone)>)) -> usize {
    let mut found = 0;
    for &(lat, lon) in points {
        zones.clear();
        zones_at(black_box(lat), black_box(lon), zones);
        found += zones.len();
    }
    black_box(found)
}

fn points() -> Vec<(f64, f64)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..POINTS).map(|_| (CITY.0 + rng.unit() * CITY_SPAN_DEG.0, CITY.1 + rng.unit() * CITY_SPAN_DEG.1)).collect()
}

fn checks(c: &mut Criterion) {
    let areas = areas();
    let index = index(&areas);
    let peer = Peer::new(&areas);
    let points = points();
    let ours = tally(&points, |lat, lon, out| index.zones_at(lat, lon, out));
    let theirs = tally(&points, |lat, lon, out| peer.zones_at(lat, lon, out));
    eprintln!("(inside, edge) pairs: engine {ours:?}, rstar + geo {theirs:?}");
    assert_eq!(ours, theirs, "the engine and the peer classify the positions differently");
    let mut group = c.benchmark_group("geofence");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("point_checks_10k_fences", |b| {
        let mut zones = Vec::with_capacity(16);
        b.iter(|| check_all(&points, &mut zones, |lat, lon, out| index.zones_at(lat, lon, out)))
    });
    group.bench_function("peer_rstar_geo_point_checks_10k_fences", |b| {
        let mut zones = Vec::with_capacity(16);
        b.iter(|| check_all(&points, &mut zones, |lat, lon, out| peer.zones_at(lat, lon, out)))
    });
    let observations: Vec<Observation> = points
        .iter()
        .enumerate()
        .map(|(i, &(lat, lon))| Observation {
            id: format!("o{i}"),
            device_id: "car-1".into(),
            observed_at: Timestamp(1_800_000_000_000_000 + i as i64 * 1_000_000),
            received_at: Timestamp(1_800_000_000_000_000 + i as i64 * 1_000_000),
            position: Position { lat, lon, heading_deg: None, accuracy_m: None },
            body: Body::SensorReading(SensorReading { quantity: "speed".into(), value: 1.0, unit: "m/s".into() }),
        })
        .collect();
    group.sample_size(10);
    group.bench_function("watched_device_evaluate_10k_fences", |b| {
        let mut state = GeofenceState::default();
        let mut alerts = Vec::new();
        b.iter(|| {
            alerts.clear();
            for o in &observations {
                index.evaluate(&mut state, o, &[], Timestamp(0), &mut alerts);
            }
            black_box(alerts.len())
        })
    });
    group.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);
