//! A month of a big city at full rate, for the whole-system benchmark (`glasshouse bench city`):
//! fixed and patrol-car plate readers, radiation sensors every minute, gunshots and dispatch
//! incidents, written as the NDJSON an outside producer sends, in time order.
//!
//! Unlike the event simulation ([`crate::simulator`]) there is no road network: a vehicle is drawn
//! from a fleet with a frequent-driver skew, so a month of 108M reads is written in minutes rather
//! than simulated trip by trip. What the benchmark needs from it is the load's shape (rates, the
//! mix of kinds, how often a plate comes back, OCR misreads, moving patrol cars), not routes.

use glasshouse_model::time::MICROS_PER_SEC;
use glasshouse_model::{Device, DeviceType, LatLon, Timestamp};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::io::{self, Write};

/// The city's size and rates. The defaults are a NYC month (DESIGN §9): 3.6M plate reads a day
/// from 500 fixed readers and 50 patrol cars, 9,000 cameras in the registry.
#[derive(Debug, Clone)]
pub struct MonthConfig {
    /// Seed for every draw: the same seed writes the same bytes.
    pub seed: u64,
    /// The first instant.
    pub start: Timestamp,
    /// Days written.
    pub days: u32,
    /// Plate reads a day, fixed and mobile together.
    pub reads_per_day: u64,
    /// Fixed readers at random places.
    pub fixed_readers: usize,
    /// Patrol cars, each with a mobile reader that reports its position with each read.
    pub patrol_cars: usize,
    /// Share of the reads that the patrol cars make.
    pub patrol_share: f64,
    /// Cameras in the registry (they report nothing here; the correlation rule looks them up).
    pub cameras: usize,
    /// Radiation sensors, each reporting once a minute.
    pub sensors: usize,
    /// Gunshot detection arrays.
    pub gunshot_arrays: usize,
    /// Gunshot detections a day, city-wide.
    pub gunshots_per_day: f64,
    /// CAD incidents a day, city-wide.
    pub incidents_per_day: f64,
    /// Vehicles in the fleet; a tenth of them drive every day and make most of the reads.
    pub vehicles: u64,
    /// Share of reads with one OCR confusion.
    pub misread_rate: f64,
    /// Side of the square city, metres.
    pub side_m: f64,
    /// The city's centre.
    pub center: LatLon,
}

impl Default for MonthConfig {
    fn default() -> Self {
        MonthConfig {
            seed: 1,
            start: Timestamp(0),
            days: 30,
            reads_per_day: 3_600_000,
            fixed_readers: 500,
            patrol_cars: 50,
            patrol_share: 0.1,
            cameras: 9_000,
            sensors: 200,
            gunshot_arrays: 40,
            gunshots_per_day: 30.0,
            incidents_per_day: 1_500.0,
            vehicles: 1_500_000,
            misread_rate: 0.03,
            side_m: 40_000.0,
            // New York City.
            center: LatLon::new(40.73, -73.94),
        }
    }
}

/// What one run wrote, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthTotals {
    /// Plate reads, fixed and mobile.
    pub plate_reads: u64,
    /// Of them, by patrol cars.
    pub mobile_reads: u64,
    /// Sensor readings.
    pub sensor_readings: u64,
    /// Gunshot detections.
    pub gunshots: u64,
    /// CAD incidents.
    pub incidents: u64,
}

impl MonthTotals {
    /// Every record written.
    pub fn records(&self) -> u64 {
        self.plate_reads + self.sensor_readings + self.gunshots + self.incidents
    }
}

/// Background gamma dose rate, µSv/h, and the level an injected source reaches.
const BACKGROUND_USV_H: f64 = 0.11;
const ANOMALY_USV_H: f64 = 0.9;
/// One sensor a day sees a source pass for this long.
const ANOMALY_SECS: i64 = 15 * 60;
/// Patrol cars drive at this speed when not parked.
const PATROL_SPEED_M_S: f64 = 8.0;
/// OCR confusions seen in ALPR systems: each glyph is read as its partner.
const CONFUSABLE: [(u8, u8); 8] =
    [(b'8', b'B'), (b'0', b'O'), (b'1', b'I'), (b'5', b'S'), (b'2', b'Z'), (b'6', b'G'), (b'0', b'D'), (b'7', b'T')];
const INCIDENT_TYPES: [(&str, u8); 8] = [
    ("TRAFFIC_COLLISION", 2),
    ("THEFT", 3),
    ("ASSAULT", 1),
    ("DISTURBANCE", 3),
    ("SUSPICIOUS_VEHICLE", 3),
    ("SHOTS_FIRED", 1),
    ("ROBBERY", 1),
    ("MEDICAL", 1),
];

/// The month's city: devices, the fleet's plates and what the rules watch.
pub struct MonthCity {
    config: MonthConfig,
    readers: Vec<LatLon>,
    sensors: Vec<LatLon>,
    arrays: Vec<LatLon>,
}

impl MonthCity {
    /// Places the devices.
    pub fn new(config: MonthConfig) -> MonthCity {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut places = |n: usize| (0..n).map(|_| random_point(&config, &mut rng)).collect::<Vec<_>>();
        let readers = places(config.fixed_readers);
        let sensors = places(config.sensors);
        let arrays = places(config.gunshot_arrays);
        MonthCity { config, readers, sensors, arrays }
    }

    /// The configuration.
    pub fn config(&self) -> &MonthConfig {
        &self.config
    }

    /// The instant after the last record.
    pub fn end(&self) -> Timestamp {
        Timestamp(self.config.start.0 + i64::from(self.config.days) * 86_400 * MICROS_PER_SEC)
    }

    /// Every device to register before the load.
    pub fn devices(&self) -> Vec<Device> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ 0x0ca3_e7a5);
        let mut devices = Vec::new();
        for (i, p) in self.readers.iter().enumerate() {
            devices.push(Device {
                name: Some(format!("fixed reader {}", i + 1)),
                ..Device::fixed(reader_id(i), DeviceType::PlateReader, p.lat, p.lon)
            });
        }
        for car in 0..self.config.patrol_cars {
            devices.push(Device { name: Some(format!("patrol car {}", car + 1)), ..Device::mobile(car_id(car), DeviceType::PlateReader) });
        }
        for i in 0..self.config.cameras {
            let p = random_point(&self.config, &mut rng);
            let mut camera = Device::fixed(format!("cam-{:04}", i + 1), DeviceType::Camera, p.lat, p.lon);
            camera.bearing_deg = Some(f64::from(rng.random_range(0u16..360)));
            camera.fov_deg = Some([60.0, 75.0, 90.0][rng.random_range(0..3)]);
            camera.range_m = Some(f64::from(rng.random_range(60u16..140)));
            devices.push(camera);
        }
        for (i, p) in self.sensors.iter().enumerate() {
            devices.push(Device::fixed(sensor_id(i), DeviceType::Sensor, p.lat, p.lon));
        }
        for (i, p) in self.arrays.iter().enumerate() {
            devices.push(Device::fixed(array_id(i), DeviceType::GunshotArray, p.lat, p.lon));
        }
        devices.push(Device { name: Some("city dispatch (CAD)".into()), ..Device::mobile(CAD_ID, DeviceType::Cad) });
        devices
    }

    /// Ids of the patrol cars' readers (the geofences watch them).
    pub fn patrol_car_ids(&self) -> Vec<String> {
        (0..self.config.patrol_cars).map(car_id).collect()
    }

    /// Plates of `n` vehicles of the fleet, spread over it: a city's own stolen cars, which the
    /// month reads now and then.
    pub fn fleet_sample(&self, n: usize, salt: u64) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ salt);
        (0..n).map(|_| fleet_plate(rng.random_range(0..self.config.vehicles))).collect()
    }

    /// Plates of `n` of the vehicles that drive every day (what an investigator looks up).
    pub fn frequent_plates(&self, n: usize, salt: u64) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ salt);
        (0..n).map(|_| fleet_plate(rng.random_range(0..self.frequent()))).collect()
    }

    /// `n` plates of a national list: seven letters and digits in no state's local pattern, so they
    /// meet the city's fleet (three letters, four digits) only through a misread of several glyphs.
    pub fn national_plates(&self, n: usize) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ 0x4e_c1c);
        const GLYPHS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
        let mut plates = Vec::with_capacity(n);
        while plates.len() < n {
            let plate: Vec<u8> = (0..7).map(|_| GLYPHS[rng.random_range(0..GLYPHS.len())]).collect();
            if !is_fleet_pattern(&plate) {
                plates.push(String::from_utf8(plate).expect("ASCII"));
            }
        }
        plates
    }

    /// Fixed readers' positions (the benchmark's area searches centre on them).
    pub fn reader_positions(&self) -> &[LatLon] {
        &self.readers
    }

    /// `n` fences: irregular hexagons 30–150 m across their centre, at random places (schools,
    /// consulates, depots), as GeoJSON Polygon geometries.
    pub fn fences(&self, n: usize) -> Vec<Value> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ 0xfe_9ce);
        (0..n)
            .map(|_| {
                let c = random_point(&self.config, &mut rng);
                let mut ring: Vec<Value> = (0..6)
                    .map(|k| {
                        let p = c.destination(f64::from(k) * 60.0 + rng.random_range(-15.0..15.0), rng.random_range(30.0..150.0));
                        json!([round6(p.lon), round6(p.lat)])
                    })
                    .collect();
                ring.push(ring[0].clone());
                json!({ "type": "Polygon", "coordinates": [ring] })
            })
            .collect()
    }

    fn frequent(&self) -> u64 {
        (self.config.vehicles / 10).max(1)
    }

    /// Writes the month as NDJSON lines in time order; `progress` hears the records written so far
    /// once a simulated hour.
    pub fn write(&self, out: &mut impl Write, mut progress: impl FnMut(u64)) -> io::Result<MonthTotals> {
        let config = &self.config;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x3e_ad5);
        let mut totals = MonthTotals::default();
        let mut cars: Vec<Car> = (0..config.patrol_cars)
            .map(|_| Car {
                at: random_point(config, &mut rng),
                heading: rng.random_range(0.0..360.0),
                updated: config.start.0,
                parked_until: 0,
            })
            .collect();
        let reads_per_sec = config.reads_per_day as f64 / 86_400.0;
        let (gunshot_p, incident_p) = (config.gunshots_per_day / 86_400.0, config.incidents_per_day / 86_400.0);
        let seconds = i64::from(config.days) * 86_400;
        let mut anomaly: Option<(usize, i64)> = None;
        let mut line = Vec::with_capacity(256);
        for second in 0..seconds {
            let t = config.start.0 + second * MICROS_PER_SEC;
            if second % 86_400 == 0 && config.sensors > 0 {
                // Today's source passes one sensor, at a random time of day.
                anomaly = Some((rng.random_range(0..config.sensors), t + rng.random_range(0..86_400 - ANOMALY_SECS) * MICROS_PER_SEC));
            }
            if second % 3_600 == 0 {
                progress(totals.records());
            }
            // Sensors report on their own second of the minute.
            let mut sensor = (second % 60) as usize;
            while sensor < config.sensors {
                let in_anomaly = anomaly.is_some_and(|(s, from)| s == sensor && (from..from + ANOMALY_SECS * MICROS_PER_SEC).contains(&t));
                let value = if in_anomaly { ANOMALY_USV_H } else { BACKGROUND_USV_H + rng.random_range(-0.02..0.02) };
                totals.sensor_readings += 1;
                line.clear();
                write!(
                    line,
                    r#"{{"id":"s{}-{second}","kind":"sensor_reading","device_id":"{}","observed_at":"{}","quantity":"gamma_dose_rate","value":{value:.3},"unit":"uSv/h"}}"#,
                    sensor,
                    sensor_id(sensor),
                    Timestamp(t).to_rfc3339()
                )?;
                line.push(b'\n');
                out.write_all(&line)?;
                sensor += 60;
            }
            let due = ((second + 1) as f64 * reads_per_sec) as u64 - (second as f64 * reads_per_sec) as u64;
            for k in 0..due {
                // Spread over the second, in order.
                let at = t + 1 + (k as i64 * (MICROS_PER_SEC - 2)) / due as i64;
                totals.plate_reads += 1;
                let plate = self.read_plate(&mut rng);
                let confidence = rng.random_range(50u8..100);
                line.clear();
                let stamp = Timestamp(at).to_rfc3339();
                if config.patrol_cars > 0 && rng.random_bool(config.patrol_share) {
                    totals.mobile_reads += 1;
                    let car = rng.random_range(0..config.patrol_cars);
                    let p = cars[car].advance(at, config, &mut rng);
                    write!(
                        line,
                        r#"{{"id":"r{}","kind":"plate_read","device_id":"{}","observed_at":"{stamp}","lat":{:.6},"lon":{:.6},"plate":"{plate}","region":"NY","confidence":0.{confidence}}}"#,
                        totals.plate_reads,
                        car_id(car),
                        p.lat,
                        p.lon
                    )?;
                } else {
                    let reader = rng.random_range(0..config.fixed_readers.max(1));
                    write!(
                        line,
                        r#"{{"id":"r{}","kind":"plate_read","device_id":"{}","observed_at":"{stamp}","plate":"{plate}","region":"NY","confidence":0.{confidence}}}"#,
                        totals.plate_reads,
                        reader_id(reader)
                    )?;
                }
                line.push(b'\n');
                out.write_all(&line)?;
            }
            let late = Timestamp(t + MICROS_PER_SEC - 1).to_rfc3339();
            if config.gunshot_arrays > 0 && rng.random_bool(gunshot_p.min(1.0)) {
                totals.gunshots += 1;
                let array = rng.random_range(0..config.gunshot_arrays);
                let p = self.arrays[array].destination(rng.random_range(0.0..360.0), rng.random_range(20.0..800.0));
                line.clear();
                write!(
                    line,
                    r#"{{"id":"g{}","kind":"gunshot","device_id":"{}","observed_at":"{late}","lat":{:.6},"lon":{:.6},"rounds":{},"confidence":0.9}}"#,
                    totals.gunshots,
                    array_id(array),
                    p.lat,
                    p.lon,
                    rng.random_range(1u8..9)
                )?;
                line.push(b'\n');
                out.write_all(&line)?;
            }
            if rng.random_bool(incident_p.min(1.0)) {
                totals.incidents += 1;
                let (type_code, priority) = INCIDENT_TYPES[rng.random_range(0..INCIDENT_TYPES.len())];
                let p = random_point(config, &mut rng);
                line.clear();
                write!(
                    line,
                    r#"{{"id":"i{n}","kind":"incident","device_id":"{CAD_ID}","observed_at":"{late}","lat":{:.6},"lon":{:.6},"incident_id":"I-{n}","type_code":"{type_code}","priority":{priority}}}"#,
                    p.lat,
                    p.lon,
                    n = totals.incidents
                )?;
                line.push(b'\n');
                out.write_all(&line)?;
            }
        }
        progress(totals.records());
        Ok(totals)
    }

    /// A read's plate: seven in ten reads are of the tenth of the fleet that drives every day, and
    /// a few are misread by one confusable glyph.
    fn read_plate(&self, rng: &mut impl Rng) -> String {
        let vehicle = if rng.random_bool(0.7) { rng.random_range(0..self.frequent()) } else { rng.random_range(0..self.config.vehicles) };
        let mut plate = fleet_plate(vehicle).into_bytes();
        if rng.random_bool(self.config.misread_rate) {
            let at = rng.random_range(0..plate.len());
            if let Some(&(a, b)) = CONFUSABLE.iter().find(|(a, b)| *a == plate[at] || *b == plate[at]) {
                plate[at] = if plate[at] == a { b } else { a };
            }
        }
        String::from_utf8(plate).expect("ASCII")
    }
}

struct Car {
    at: LatLon,
    heading: f64,
    /// Microseconds of the last move.
    updated: i64,
    parked_until: i64,
}

impl Car {
    /// Drives from the last update to `now`: straight on, turning now and then, parking now and
    /// then for 10–40 minutes, turning back at the city's edge.
    fn advance(&mut self, now: i64, config: &MonthConfig, rng: &mut impl Rng) -> LatLon {
        let from = self.updated.max(self.parked_until);
        self.updated = now;
        if now <= from {
            return self.at;
        }
        let metres = (now - from) as f64 / MICROS_PER_SEC as f64 * PATROL_SPEED_M_S;
        if rng.random_bool(0.1) {
            self.heading = (self.heading + [90.0, 270.0][rng.random_range(0..2)]) % 360.0;
        }
        let next = self.at.destination(self.heading, metres);
        if config.center.distance_m(&next) > config.side_m / 2.0 {
            self.heading = (self.heading + 180.0) % 360.0;
        } else {
            self.at = next;
        }
        if rng.random_bool(0.005) {
            self.parked_until = now + rng.random_range(600..2_400) * MICROS_PER_SEC;
        }
        self.at
    }
}

const CAD_ID: &str = "cad-city";

fn reader_id(i: usize) -> String {
    format!("alpr-{:04}", i + 1)
}

fn car_id(i: usize) -> String {
    format!("car-{:03}", i + 1)
}

fn sensor_id(i: usize) -> String {
    format!("rad-{:03}", i + 1)
}

fn array_id(i: usize) -> String {
    format!("gsd-{:02}", i + 1)
}

/// A fleet vehicle's plate, three letters and four digits. Neighbouring vehicle numbers get
/// unrelated plates; two vehicles may share one now and then, as cloned plates do.
pub fn fleet_plate(vehicle: u64) -> String {
    let mut x = vehicle.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 32;
    let letters: String = (0..3).map(|i| (b'A' + ((x >> (i * 5)) % 26) as u8) as char).collect();
    format!("{letters}{:04}", (x >> 20) % 10_000)
}

fn is_fleet_pattern(plate: &[u8]) -> bool {
    plate.len() == 7 && plate[..3].iter().all(u8::is_ascii_uppercase) && plate[3..].iter().all(u8::is_ascii_digit)
}

fn random_point(config: &MonthConfig, rng: &mut impl Rng) -> LatLon {
    let half = config.side_m / 2.0;
    let (dx, dy) = (rng.random_range(-half..half), rng.random_range(-half..half));
    config.center.destination(0.0, dy).destination(90.0, dx)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> MonthConfig {
        MonthConfig {
            // Midnight UTC ten days back: the generator never compares with now, but nothing here
            // should name a date.
            start: Timestamp(Timestamp::now().plus_secs(-10 * 86_400).0.div_euclid(86_400 * MICROS_PER_SEC) * 86_400 * MICROS_PER_SEC),
            days: 1,
            reads_per_day: 50_000,
            fixed_readers: 20,
            patrol_cars: 4,
            cameras: 30,
            sensors: 10,
            gunshot_arrays: 3,
            gunshots_per_day: 200.0,
            incidents_per_day: 500.0,
            vehicles: 10_000,
            ..MonthConfig::default()
        }
    }

    fn lines(config: MonthConfig) -> (Vec<u8>, MonthTotals) {
        let mut out = Vec::new();
        let totals = MonthCity::new(config).write(&mut out, |_| {}).expect("in memory");
        (out, totals)
    }

    #[test]
    fn the_same_seed_writes_the_same_bytes_and_another_seed_does_not() {
        let (a, _) = lines(small());
        let (b, _) = lines(small());
        assert_eq!(a, b);
        let (c, _) = lines(MonthConfig { seed: 2, ..small() });
        assert_ne!(a, c);
    }

    #[test]
    fn records_come_in_time_order_at_the_configured_rates() {
        let (out, totals) = lines(small());
        let records: Vec<Value> =
            out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).expect("JSON")).collect();
        assert_eq!(records.len() as u64, totals.records());
        assert_eq!(totals.plate_reads, 50_000);
        assert_eq!(totals.sensor_readings, 10 * 1_440);
        // Binomial draws around their means (200 and 500 a day).
        assert!((140..260).contains(&totals.gunshots), "{totals:?}");
        assert!((400..600).contains(&totals.incidents), "{totals:?}");
        assert!((4_000..6_000).contains(&totals.mobile_reads), "{totals:?}");
        let times: Vec<Timestamp> = records.iter().map(|r| Timestamp::parse_rfc3339(r["observed_at"].as_str().unwrap()).unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let city = MonthCity::new(small());
        assert!(times.iter().all(|t| *t >= city.config.start && *t < city.end()));
        let ids: std::collections::HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), records.len(), "ids are unique");
    }

    #[test]
    fn patrol_reads_carry_positions_inside_the_city_and_fixed_reads_do_not() {
        let config = small();
        let (out, _) = lines(config.clone());
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let r: Value = serde_json::from_slice(line).unwrap();
            let device = r["device_id"].as_str().unwrap();
            if device.starts_with("car-") {
                let p = LatLon::new(r["lat"].as_f64().unwrap(), r["lon"].as_f64().unwrap());
                assert!(config.center.distance_m(&p) <= config.side_m / 2.0 + 1.0);
            } else if device.starts_with("alpr-") {
                assert!(r.get("lat").is_none());
            }
        }
    }

    #[test]
    fn the_daily_source_crosses_the_threshold_for_fifteen_minutes_on_one_sensor() {
        let (out, _) = lines(small());
        let high: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<Value>(l).unwrap())
            .filter(|r| r["kind"] == "sensor_reading" && r["value"].as_f64().unwrap() > 0.5)
            .collect();
        assert_eq!(high.len(), 15, "one reading a minute for 15 minutes");
        assert!(high.iter().all(|r| r["device_id"] == high[0]["device_id"]));
    }

    #[test]
    fn most_reads_are_of_the_fleets_frequent_drivers_and_a_few_are_misread() {
        let city = MonthCity::new(small());
        let frequent: std::collections::HashSet<String> = (0..city.frequent()).map(fleet_plate).collect();
        let (out, totals) = lines(small());
        let reads: Vec<String> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<Value>(l).unwrap())
            .filter(|r| r["kind"] == "plate_read")
            .map(|r| r["plate"].as_str().unwrap().to_owned())
            .collect();
        let share = reads.iter().filter(|p| frequent.contains(*p)).count() as f64 / totals.plate_reads as f64;
        assert!((0.68..0.78).contains(&share), "frequent share {share}");
        let misread = reads.iter().filter(|p| !is_fleet_pattern(p.as_bytes())).count() as f64 / totals.plate_reads as f64;
        assert!((0.005..0.03).contains(&misread), "misread share {misread}");
    }

    #[test]
    fn national_plates_never_follow_the_fleets_pattern_and_fences_are_closed_rings() {
        let city = MonthCity::new(small());
        let national = city.national_plates(5_000);
        assert_eq!(national.len(), 5_000);
        assert!(national.iter().all(|p| p.len() == 7 && !is_fleet_pattern(p.as_bytes())));
        for fence in city.fences(50) {
            let ring = fence["coordinates"][0].as_array().unwrap();
            assert_eq!(ring.len(), 7);
            assert_eq!(ring[0], ring[6]);
        }
        assert!(city.fleet_sample(10, 1).iter().all(|p| is_fleet_pattern(p.as_bytes())));
    }
}
