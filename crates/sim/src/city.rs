//! A city: a road network with devices placed on it, the vehicles that drive it, and a hotlist.

use crate::network::RoadNetwork;
use glasshouse_model::{Device, DeviceType};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// How many of each thing to place.
#[derive(Debug, Clone)]
pub struct CityConfig {
    /// Seed for every random choice.
    pub seed: u64,
    /// Fixed plate readers, at intersections.
    pub readers: usize,
    /// Cameras, at intersections, facing along a road.
    pub cameras: usize,
    /// Radiation sensors.
    pub sensors: usize,
    /// Gunshot detection arrays.
    pub gunshot_arrays: usize,
    /// Vehicles driving trips.
    pub vehicles: usize,
    /// How many of the vehicles are on the demo hotlist.
    pub hotlisted: usize,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig { seed: 7, readers: 40, cameras: 30, sensors: 8, gunshot_arrays: 4, vehicles: 400, hotlisted: 6 }
    }
}

/// A plate on the demo hotlist and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPlate {
    /// Normalised plate.
    pub plate: String,
    /// `stolen_vehicle`, `amber_alert`, ...
    pub reason: String,
}

/// The placed city.
#[derive(Debug, Clone)]
pub struct City {
    /// The roads.
    pub network: RoadNetwork,
    /// Every device, sorted by id.
    pub devices: Vec<Device>,
    /// Reader device id by network node.
    pub readers_by_node: BTreeMap<usize, String>,
    /// Plates of every vehicle (index = vehicle).
    pub plates: Vec<String>,
    /// The hotlisted plates (the first `hotlisted` vehicles).
    pub hotlist: Vec<ListedPlate>,
    /// The device id of the CAD system.
    pub cad_id: String,
}

const HOTLIST_REASONS: [&str; 4] = ["stolen_vehicle", "stolen_plate", "amber_alert", "wanted"];

/// A Finnish-style plate: three letters and three digits (`ABC123`), distinct per vehicle.
fn plate(rng: &mut ChaCha8Rng) -> String {
    // Letters that Finnish plates avoid (Å, Ä, Ö aside) are not an issue for ASCII OCR; use A–Z.
    let letters: String = (0..3).map(|_| (b'A' + rng.random_range(0..26u8)) as char).collect();
    format!("{letters}{:03}", rng.random_range(1..1000u32))
}

impl City {
    /// Places devices and vehicles on `network`.
    pub fn build(network: RoadNetwork, config: &CityConfig) -> City {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut intersections = network.intersections();
        if intersections.len() < config.readers + config.cameras {
            intersections = network.routable.clone();
        }
        intersections.shuffle(&mut rng);
        let mut devices = Vec::new();
        let mut readers_by_node = BTreeMap::new();
        let mut spots = intersections.into_iter().cycle();
        for i in 0..config.readers {
            let node = spots.next().expect("a network has nodes");
            // The readers are OpenALPR agents' cameras: `openalpr:<camera_id>`.
            let id = format!("openalpr:{:03}", i + 1);
            let p = network.nodes[node];
            devices.push(fixed(&id, DeviceType::PlateReader, p.lat, p.lon, format!("plate reader {}", i + 1)));
            readers_by_node.insert(node, id);
        }
        for i in 0..config.cameras {
            let node = spots.next().expect("a network has nodes");
            let p = network.nodes[node];
            // Face along one of the roads leaving the intersection, as street cameras do.
            let bearing = match network.edges[node].as_slice() {
                [] => rng.random_range(0.0..360.0),
                edges => p.bearing_deg(&network.nodes[edges[rng.random_range(0..edges.len())].to]),
            };
            let mut camera = fixed(&format!("cam-{:03}", i + 1), DeviceType::Camera, p.lat, p.lon, format!("camera {}", i + 1));
            camera.bearing_deg = Some((bearing * 10.0).round() / 10.0 % 360.0);
            camera.fov_deg = Some([60.0, 75.0, 90.0][rng.random_range(0..3)]);
            camera.range_m = Some(rng.random_range(60..140) as f64);
            devices.push(camera);
        }
        for (prefix, device_type, count) in
            [("rad", DeviceType::Sensor, config.sensors), ("gsd", DeviceType::GunshotArray, config.gunshot_arrays)]
        {
            for i in 0..count {
                let node = network.routable[rng.random_range(0..network.routable.len())];
                let p = network.nodes[node];
                let label = if device_type == DeviceType::Sensor { "radiation sensor" } else { "gunshot array" };
                devices.push(fixed(&format!("{prefix}-{:03}", i + 1), device_type, p.lat, p.lon, format!("{label} {}", i + 1)));
            }
        }
        let cad_id = "cad-city".to_string();
        devices.push(Device { name: Some("city dispatch (CAD)".into()), ..Device::mobile(cad_id.clone(), DeviceType::Cad) });
        devices.sort_by(|a, b| a.id.cmp(&b.id));
        let mut plates = Vec::with_capacity(config.vehicles);
        let mut taken = std::collections::HashSet::new();
        while plates.len() < config.vehicles {
            let p = plate(&mut rng);
            if taken.insert(p.clone()) {
                plates.push(p);
            }
        }
        let hotlist = plates
            .iter()
            .take(config.hotlisted.min(config.vehicles))
            .enumerate()
            .map(|(i, p)| ListedPlate { plate: p.clone(), reason: HOTLIST_REASONS[i % HOTLIST_REASONS.len()].into() })
            .collect();
        City { network, devices, readers_by_node, plates, hotlist, cad_id }
    }
}

fn fixed(id: &str, device_type: DeviceType, lat: f64, lon: f64, name: String) -> Device {
    Device {
        id: id.into(),
        device_type,
        lat: Some(lat),
        lon: Some(lon),
        mobile: false,
        bearing_deg: None,
        fov_deg: None,
        range_m: None,
        name: Some(name),
    }
}
