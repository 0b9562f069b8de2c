//! Geofence point checks on one core: 10k fences (irregular hexagons of 100–400 m radius, with a
//! 15 m hysteresis margin) spread over a 20 km × 20 km city, positions uniform over the city. A
//! "check" is one position classified against every fence: the R-tree finds the fences whose
//! envelope holds it, and each of those answers from its cell cover or the exact test.
//! A second case runs the whole rule (subject lookup, presence state, alerts) for a watched device.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glasshouse_engine::{GeofenceIndex, GeofenceState, GeofenceSubjects, GeofenceTrigger, NewGeofenceRule};
use glasshouse_model::{Body, Observation, Position, SensorReading, Timestamp};
use serde_json::json;
use std::hint::black_box;

const FENCES: usize = 10_000;
const POINTS: usize = 100_000;
const CITY: (f64, f64) = (60.10, 24.80);
const CITY_SPAN_DEG: (f64, f64) = (0.18, 0.36);

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

fn index() -> GeofenceIndex {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut index = GeofenceIndex::default();
    for i in 0..FENCES {
        let rule = NewGeofenceRule {
            name: format!("zone {i}"),
            area: hexagon(&mut rng),
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

fn points() -> Vec<(f64, f64)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..POINTS).map(|_| (CITY.0 + rng.unit() * CITY_SPAN_DEG.0, CITY.1 + rng.unit() * CITY_SPAN_DEG.1)).collect()
}

fn checks(c: &mut Criterion) {
    let index = index();
    let points = points();
    let mut group = c.benchmark_group("geofence");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("point_checks_10k_fences", |b| {
        let mut zones = Vec::with_capacity(16);
        b.iter(|| {
            let mut found = 0usize;
            for &(lat, lon) in &points {
                zones.clear();
                index.zones_at(lat, lon, &mut zones);
                found += zones.len();
            }
            black_box(found)
        })
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
