//! The event-driven simulation: vehicles, sensors, cameras, gunshots and incidents over time.
//!
//! Everything is scheduled on one priority queue of timed events, so observations come out in
//! time order and the run depends only on the seed.

use crate::city::City;
use glasshouse_model::time::MICROS_PER_SEC;
use glasshouse_model::{
    Body, Candidate, Gunshot, Incident, LatLon, Observation, PlateRead, Position, SensorReading, Timestamp, VideoEvent, VideoLabel,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Rates and times of the simulation.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Seed for every random draw (independent of the city's).
    pub seed: u64,
    /// Simulated time at which the run starts.
    pub start: Timestamp,
    /// Share of reads with an OCR error (substitution of a confusable glyph, or a dropped one).
    /// Published ALPR audits put single-character errors at a few percent of reads.
    pub misread_rate: f64,
    /// Share of vehicles passing a reader that are not read at all.
    pub miss_rate: f64,
    /// Gunshot detections per simulated hour, city-wide.
    pub gunshots_per_hour: f64,
    /// CAD incidents per simulated hour, city-wide (besides the ones gunshots cause).
    pub incidents_per_hour: f64,
    /// Seconds between two readings of one sensor.
    pub sensor_interval_secs: i64,
    /// Seconds between two vehicle counts of one camera.
    pub camera_interval_secs: i64,
    /// The radiation anomaly on the first sensor repeats with this period...
    pub anomaly_period_secs: i64,
    /// ...starting this long into each period...
    pub anomaly_offset_secs: i64,
    /// ...and lasting this long.
    pub anomaly_duration_secs: i64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: 7,
            start: Timestamp::parse_rfc3339("2026-11-27T08:00:00Z").expect("valid constant"),
            misread_rate: 0.06,
            miss_rate: 0.03,
            gunshots_per_hour: 1.5,
            incidents_per_hour: 10.0,
            sensor_interval_secs: 60,
            camera_interval_secs: 300,
            anomaly_period_secs: 3 * 3600,
            anomaly_offset_secs: 600,
            anomaly_duration_secs: 900,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Depart { vehicle: usize },
    Pass { vehicle: usize, node: usize },
    Arrive { vehicle: usize, node: usize },
    SensorTick { device: usize },
    CameraTick { device: usize },
    Gunshot,
    Incident,
    ShotsFiredCall { node: usize },
}

/// The running simulation.
pub struct Simulator {
    city: City,
    config: SimulatorConfig,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(i64, u64, EventKind)>>,
    sequence: u64,
    emitted: u64,
    vehicle_at: Vec<usize>,
    now: Timestamp,
}

/// OCR confusions seen in ALPR systems: each pair is read one for the other.
const CONFUSABLE: [(char, char); 8] = [('8', 'B'), ('0', 'O'), ('1', 'I'), ('5', 'S'), ('2', 'Z'), ('6', 'G'), ('0', 'D'), ('7', '2')];

const INCIDENT_TYPES: [(&str, u8); 7] = [
    ("TRAFFIC_COLLISION", 2),
    ("THEFT", 3),
    ("ASSAULT", 1),
    ("DISTURBANCE", 3),
    ("SUSPICIOUS_VEHICLE", 3),
    ("FIRE_ALARM", 2),
    ("MEDICAL", 1),
];

impl Simulator {
    /// A simulation of `city` from `config.start`.
    pub fn new(city: City, config: SimulatorConfig) -> Simulator {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let start = config.start.0;
        let vehicle_at = (0..city.plates.len()).map(|_| city.network.routable[rng.random_range(0..city.network.routable.len())]).collect();
        let mut sim = Simulator { city, config, rng, queue: BinaryHeap::new(), sequence: 0, emitted: 0, vehicle_at, now: Timestamp(start) };
        for vehicle in 0..sim.city.plates.len() {
            let at = start + sim.rng.random_range(0..600) * MICROS_PER_SEC;
            sim.schedule(at, EventKind::Depart { vehicle });
        }
        for (device, d) in sim.city.devices.clone().iter().enumerate() {
            let interval = match d.device_type {
                glasshouse_model::DeviceType::Sensor => sim.config.sensor_interval_secs,
                glasshouse_model::DeviceType::Camera => sim.config.camera_interval_secs,
                _ => continue,
            };
            let at = start + sim.rng.random_range(0..interval.max(1)) * MICROS_PER_SEC;
            let kind = if d.device_type == glasshouse_model::DeviceType::Sensor {
                EventKind::SensorTick { device }
            } else {
                EventKind::CameraTick { device }
            };
            sim.schedule(at, kind);
        }
        let gunshot_at = start + sim.exponential_secs(sim.config.gunshots_per_hour);
        sim.schedule(gunshot_at, EventKind::Gunshot);
        let incident_at = start + sim.exponential_secs(sim.config.incidents_per_hour);
        sim.schedule(incident_at, EventKind::Incident);
        sim
    }

    /// The city being simulated.
    pub fn city(&self) -> &City {
        &self.city
    }

    /// Simulated time reached so far.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn schedule(&mut self, at_us: i64, kind: EventKind) {
        self.sequence += 1;
        self.queue.push(Reverse((at_us, self.sequence, kind)));
    }

    /// Microseconds until the next event of a Poisson process with `per_hour` events an hour.
    fn exponential_secs(&mut self, per_hour: f64) -> i64 {
        if per_hour <= 0.0 {
            return i64::MAX / 4;
        }
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        ((-u.ln() / per_hour * 3600.0) * MICROS_PER_SEC as f64) as i64
    }

    /// Runs every event before `until`, appending the observations they produce in time order.
    pub fn advance_until(&mut self, until: Timestamp, out: &mut Vec<Observation>) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at >= until.0 {
                break;
            }
            let Reverse((at, _, kind)) = self.queue.pop().expect("peeked");
            self.now = Timestamp(at);
            self.handle(at, kind, out);
        }
        self.now = self.now.max(until);
    }

    fn observation(&mut self, device_id: &str, at: i64, position: LatLon, body: Body) -> Observation {
        self.emitted += 1;
        Observation {
            id: format!("sim-{}-{}", self.config.seed, self.emitted),
            device_id: device_id.to_owned(),
            observed_at: Timestamp(at),
            received_at: Timestamp(at),
            position: Position { lat: position.lat, lon: position.lon, heading_deg: None, accuracy_m: None },
            body,
        }
    }

    fn handle(&mut self, at: i64, kind: EventKind, out: &mut Vec<Observation>) {
        match kind {
            EventKind::Depart { vehicle } => self.depart(at, vehicle),
            EventKind::Pass { vehicle, node } => {
                if let Some(read) = self.read_plate(vehicle) {
                    let reader = self.city.readers_by_node[&node].clone();
                    let p = self.city.network.nodes[node];
                    let o = self.observation(&reader, at, p, Body::PlateRead(read));
                    out.push(o);
                }
            }
            EventKind::Arrive { vehicle, node } => {
                self.vehicle_at[vehicle] = node;
                let parked = self.rng.random_range(60..1200) * MICROS_PER_SEC;
                self.schedule(at + parked, EventKind::Depart { vehicle });
            }
            EventKind::SensorTick { device } => {
                let d = self.city.devices[device].clone();
                let value = self.dose_rate(device, at);
                let p = LatLon::new(d.lat.unwrap_or_default(), d.lon.unwrap_or_default());
                let body = Body::SensorReading(SensorReading { quantity: "gamma_dose_rate".into(), value, unit: "uSv/h".into() });
                let o = self.observation(&d.id, at, p, body);
                out.push(o);
                self.schedule(at + self.config.sensor_interval_secs * MICROS_PER_SEC, EventKind::SensorTick { device });
            }
            EventKind::CameraTick { device } => {
                let d = self.city.devices[device].clone();
                let p = LatLon::new(d.lat.unwrap_or_default(), d.lon.unwrap_or_default());
                let (label, count) = if self.rng.random_bool(0.05) {
                    (VideoLabel::Crowd, self.rng.random_range(20..80))
                } else {
                    (VideoLabel::Vehicle, self.rng.random_range(0..40))
                };
                let o = self.observation(&d.id, at, p, Body::VideoEvent(VideoEvent { label, count }));
                out.push(o);
                self.schedule(at + self.config.camera_interval_secs * MICROS_PER_SEC, EventKind::CameraTick { device });
            }
            EventKind::Gunshot => {
                let node = self.city.network.routable[self.rng.random_range(0..self.city.network.routable.len())];
                let spot = self.city.network.nodes[node].destination(self.rng.random_range(0.0..360.0), self.rng.random_range(0.0..30.0));
                let arrays: Vec<usize> = (0..self.city.devices.len())
                    .filter(|&i| self.city.devices[i].device_type == glasshouse_model::DeviceType::GunshotArray)
                    .collect();
                if let Some(&array) = arrays.iter().min_by(|&&a, &&b| {
                    let da = self.city.devices[a].position().map_or(f64::MAX, |p| p.distance_m(&spot));
                    let db = self.city.devices[b].position().map_or(f64::MAX, |p| p.distance_m(&spot));
                    da.total_cmp(&db)
                }) {
                    let id = self.city.devices[array].id.clone();
                    let body = Body::Gunshot(Gunshot {
                        rounds: self.rng.random_range(1..9),
                        confidence: Some(self.rng.random_range(0.55..0.99)),
                        bearing_deg: None,
                    });
                    let o = self.observation(&id, at, spot, body);
                    out.push(o);
                    // Most detected shootings are also called in, a minute or three later.
                    if self.rng.random_bool(0.7) {
                        let delay = self.rng.random_range(60..180) * MICROS_PER_SEC;
                        self.schedule(at + delay, EventKind::ShotsFiredCall { node });
                    }
                }
                let next = at + self.exponential_secs(self.config.gunshots_per_hour);
                self.schedule(next, EventKind::Gunshot);
            }
            EventKind::Incident => {
                let node = self.city.network.routable[self.rng.random_range(0..self.city.network.routable.len())];
                let (type_code, priority) = INCIDENT_TYPES[self.rng.random_range(0..INCIDENT_TYPES.len())];
                self.incident(at, node, type_code, priority, out);
                let next = at + self.exponential_secs(self.config.incidents_per_hour);
                self.schedule(next, EventKind::Incident);
            }
            EventKind::ShotsFiredCall { node } => self.incident(at, node, "SHOTS_FIRED", 1, out),
        }
    }

    fn incident(&mut self, at: i64, node: usize, type_code: &str, priority: u8, out: &mut Vec<Observation>) {
        let p = self.city.network.nodes[node];
        let number = self.emitted + 1;
        let body = Body::Incident(Incident {
            incident_id: format!("CAD-{}-{number}", self.config.seed),
            type_code: type_code.into(),
            priority: Some(priority),
            status: Some("dispatched".into()),
            address: Some(format!("near {:.5}, {:.5}", p.lat, p.lon)),
        });
        let cad = self.city.cad_id.clone();
        let o = self.observation(&cad, at, p, body);
        out.push(o);
    }

    fn depart(&mut self, at: i64, vehicle: usize) {
        let from = self.vehicle_at[vehicle];
        let routable = &self.city.network.routable;
        for _ in 0..5 {
            let to = routable[self.rng.random_range(0..routable.len())];
            if to == from {
                continue;
            }
            let Some(route) = self.city.network.route(from, to) else { continue };
            for &(node, secs) in &route[1..] {
                if self.city.readers_by_node.contains_key(&node) {
                    self.schedule(at + (secs * MICROS_PER_SEC as f64) as i64, EventKind::Pass { vehicle, node });
                }
            }
            let total = route.last().map_or(0.0, |r| r.1);
            self.schedule(at + (total * MICROS_PER_SEC as f64) as i64 + 1, EventKind::Arrive { vehicle, node: to });
            return;
        }
        self.schedule(at + 300 * MICROS_PER_SEC, EventKind::Depart { vehicle });
    }

    /// What the reader makes of a passing plate: usually right, sometimes a misread, sometimes nothing.
    fn read_plate(&mut self, vehicle: usize) -> Option<PlateRead> {
        if self.rng.random_bool(self.config.miss_rate) {
            return None;
        }
        let truth = self.city.plates[vehicle].clone();
        let direction = Some(if self.rng.random_bool(0.5) { "approaching" } else { "receding" }.to_string());
        if !self.rng.random_bool(self.config.misread_rate) {
            return Some(PlateRead {
                plate: truth,
                region: Some("FI".into()),
                confidence: Some(self.rng.random_range(0.80..0.99) as f32),
                direction,
                ..PlateRead::default()
            });
        }
        let misread = self.misread(&truth);
        let confidence = self.rng.random_range(0.55..0.85) as f32;
        // The truth is often among the reader's alternatives; not always.
        let candidates = if self.rng.random_bool(0.7) {
            vec![
                Candidate { plate: misread.clone(), confidence: Some(confidence) },
                Candidate { plate: truth, confidence: Some(confidence * 0.8) },
            ]
        } else {
            Vec::new()
        };
        Some(PlateRead {
            plate: misread,
            region: Some("FI".into()),
            confidence: Some(confidence),
            candidates,
            direction,
            ..PlateRead::default()
        })
    }

    fn misread(&mut self, plate: &str) -> String {
        let chars: Vec<char> = plate.chars().collect();
        let swappable: Vec<usize> =
            (0..chars.len()).filter(|&i| CONFUSABLE.iter().any(|(a, b)| chars[i] == *a || chars[i] == *b)).collect();
        if swappable.is_empty() || (chars.len() > 4 && self.rng.random_bool(0.2)) {
            let drop = self.rng.random_range(0..chars.len());
            return chars.iter().enumerate().filter(|(i, _)| *i != drop).map(|(_, c)| *c).collect();
        }
        let at = swappable[self.rng.random_range(0..swappable.len())];
        let options: Vec<char> = CONFUSABLE
            .iter()
            .filter_map(|(a, b)| {
                if chars[at] == *a {
                    Some(*b)
                } else if chars[at] == *b {
                    Some(*a)
                } else {
                    None
                }
            })
            .collect();
        let mut out = chars.clone();
        out[at] = options[self.rng.random_range(0..options.len())];
        out.into_iter().collect()
    }

    /// Gamma dose rate: a steady background per sensor with noise, and on the first sensor a
    /// trapezoid anomaly (a vehicle carrying a source parks nearby) once a period.
    fn dose_rate(&mut self, device: usize, at: i64) -> f64 {
        let background = 0.08 + 0.01 * (device % 7) as f64;
        let noise = self.rng.random_range(-0.05..0.05) * background;
        let first_sensor = self.city.devices.iter().position(|d| d.device_type == glasshouse_model::DeviceType::Sensor);
        let mut value = background + noise;
        if Some(device) == first_sensor {
            let into_period = (at - self.config.start.0).rem_euclid(self.config.anomaly_period_secs * MICROS_PER_SEC) / MICROS_PER_SEC;
            let t = into_period - self.config.anomaly_offset_secs;
            let d = self.config.anomaly_duration_secs;
            if (0..d).contains(&t) {
                let ramp = (d / 5).max(1);
                let shape = if t < ramp {
                    t as f64 / ramp as f64
                } else if t > d - ramp {
                    (d - t) as f64 / ramp as f64
                } else {
                    1.0
                };
                value += 2.5 * shape;
            }
        }
        (value * 10_000.0).round() / 10_000.0
    }
}

/// The observation as a producer sends it: the flat JSON form without `received_at`.
pub fn to_wire_json(o: &Observation) -> String {
    let mut value = serde_json::to_value(o).expect("observations serialise");
    if let Some(map) = value.as_object_mut() {
        map.remove("received_at");
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::CityConfig;
    use crate::network::RoadNetwork;
    use glasshouse_model::Kind;

    fn simulate(seed: u64, minutes: i64) -> Vec<Observation> {
        let network = RoadNetwork::grid(12, 12, 150.0, LatLon::new(60.16, 24.93));
        let city = City::build(network, &CityConfig { seed, vehicles: 200, readers: 20, cameras: 10, ..CityConfig::default() });
        let config = SimulatorConfig { seed, gunshots_per_hour: 6.0, ..SimulatorConfig::default() };
        let start = config.start;
        let mut sim = Simulator::new(city, config);
        let mut out = Vec::new();
        sim.advance_until(start.plus_secs(minutes * 60), &mut out);
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_observations() {
        let a: Vec<String> = simulate(3, 30).iter().map(to_wire_json).collect();
        let b: Vec<String> = simulate(3, 30).iter().map(to_wire_json).collect();
        assert!(a.len() > 100);
        assert_eq!(a, b);
        let c: Vec<String> = simulate(4, 30).iter().map(to_wire_json).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn observations_come_in_time_order_with_every_kind() {
        let out = simulate(5, 90);
        assert!(out.windows(2).all(|w| w[0].observed_at <= w[1].observed_at));
        for kind in [Kind::PlateRead, Kind::SensorReading, Kind::VideoEvent, Kind::Gunshot, Kind::Incident] {
            assert!(out.iter().any(|o| o.kind() == kind), "no {kind:?}");
        }
    }

    #[test]
    fn some_reads_are_misread_with_confusable_glyphs_or_a_dropped_character() {
        let out = simulate(6, 60);
        let reads: Vec<&PlateRead> = out.iter().filter_map(|o| o.plate_read()).collect();
        let misreads = reads
            .iter()
            .filter(|r| {
                r.plate.len() != 6
                    || !r.plate[..3].chars().all(|c| c.is_ascii_uppercase())
                    || !r.plate[3..].chars().all(|c| c.is_ascii_digit())
            })
            .count();
        let share = misreads as f64 / reads.len() as f64;
        assert!(reads.len() > 200, "{} reads", reads.len());
        assert!((0.01..0.15).contains(&share), "misread share {share}");
    }

    #[test]
    fn the_radiation_anomaly_rises_on_one_sensor_only() {
        let out = simulate(7, 40);
        let high: Vec<&Observation> = out.iter().filter(|o| matches!(&o.body, Body::SensorReading(s) if s.value > 1.0)).collect();
        assert!(!high.is_empty());
        assert!(high.iter().all(|o| o.device_id == high[0].device_id));
    }
}
