//! The simulated city spoken in the protocols real devices use: plate readers as OpenALPR agents
//! posting `alpr_group` webhooks, sensors publishing to MQTT, and the rest as our NDJSON. The demo
//! feeds through these so the paths a city would use are the paths it shows.

use glasshouse_model::{Body, Observation};
use glasshouse_sim::simulator::to_wire_json;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// The topic the demo's sensors publish under (the server subscribes to `glasshouse/observations/#`).
pub const SENSOR_TOPIC: &str = "glasshouse/observations/sensors";

/// One batch of the simulation, split by the path each record takes.
#[derive(Default)]
pub struct Wire {
    /// OpenALPR documents, one per line, for `/v1/ingest/openalpr`.
    pub openalpr: Vec<u8>,
    /// Our observation JSON, one per line, for MQTT when a broker is there.
    pub sensors: Vec<u8>,
    /// Everything else, for `/v1/observations`.
    pub ndjson: Vec<u8>,
}

/// An `alpr_group` for a simulated read from an `openalpr:<camera>` reader; `None` for any other.
/// With `crops`, it carries a plate and a vehicle crop as an agent's would.
pub fn alpr_group(o: &Observation, crops: bool) -> Option<Value> {
    let (Body::PlateRead(read), Some(camera)) = (&o.body, o.device_id.strip_prefix(glasshouse_ingest::sources::openalpr::DEVICE_PREFIX))
    else {
        return None;
    };
    let percent = |c: Option<f32>| c.map(|c| (f64::from(c) * 1000.0).round() / 10.0);
    let candidates: Vec<Value> = read.candidates.iter().map(|c| json!({"plate": c.plate, "confidence": percent(c.confidence)})).collect();
    let top = |name: &Option<String>, confidence: Option<f32>| {
        name.as_ref().map(|n| json!([{"name": n, "confidence": percent(confidence).unwrap_or(80.0)}])).unwrap_or(json!([]))
    };
    let mut group = json!({
        "version": 2, "data_type": "alpr_group", "agent_uid": "glasshouse-demo", "camera_id": camera,
        "epoch_start": o.observed_at.micros() / 1000, "epoch_end": o.observed_at.micros() / 1000 + 800,
        "best_uuid": o.id, "best_plate_number": read.plate, "best_confidence": percent(read.confidence),
        "best_region": read.region, "candidates": candidates, "travel_direction": o.position.heading_deg,
        "vehicle": {
            "make": top(&read.vehicle_make, read.vehicle_make_confidence),
            "color": top(&read.vehicle_color, read.vehicle_color_confidence),
            "body_type": top(&read.vehicle_body, read.vehicle_body_confidence),
        },
    });
    if crops {
        group["best_plate"] = json!({"plate": read.plate, "plate_crop_jpeg": crop(&o.id, &read.plate, 96, 24)});
        group["vehicle_crop_jpeg"] = json!(crop(&o.id, "", 64, 48));
    }
    Some(group)
}

/// A small grey JPEG standing in for a reader's crop, base64 as agents send it: a light field with a
/// dark bar per plate character, speckled from the read's id so no two reads share bytes (images are
/// stored by content, and a purge removes a read's own).
fn crop(id: &str, plate: &str, width: u16, height: u16) -> String {
    use base64::Engine;
    use sha2::Digest;
    let seed = sha2::Sha256::digest(id.as_bytes());
    let mut pixels = vec![200u8; usize::from(width) * usize::from(height)];
    for (i, c) in plate.bytes().enumerate() {
        let x0 = 6 + i * 12;
        for y in 5..usize::from(height).saturating_sub(5) {
            for x in x0..(x0 + 2 + usize::from(c % 7)).min(usize::from(width)) {
                pixels[y * usize::from(width) + x] = 30;
            }
        }
    }
    for (i, byte) in seed.iter().enumerate() {
        let at = (usize::from(*byte) * 131 + i * 977) % pixels.len();
        pixels[at] = pixels[at].wrapping_add(*byte);
    }
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 70)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Luma)
        .expect("a grey image of its own size encodes");
    base64::engine::general_purpose::STANDARD.encode(jpeg)
}

impl Wire {
    /// Sorts `batch` by path; sensors go to `sensors` only when `mqtt` is there to carry them. Reads
    /// of a plate in `with_crops` (the city's listed vehicles, whose hits an operator checks by eye)
    /// carry crops; the others do not, so a demo left running does not fill its disk with pictures.
    pub fn split(batch: impl IntoIterator<Item = Observation>, mqtt: bool, with_crops: &HashSet<String>) -> Wire {
        let mut wire = Wire::default();
        for o in batch {
            let crops =
                o.plate_read().is_some_and(|r| with_crops.contains(&r.plate) || r.candidates.iter().any(|c| with_crops.contains(&c.plate)));
            let (target, line) = match alpr_group(&o, crops) {
                Some(group) => (&mut wire.openalpr, group.to_string()),
                None if mqtt && matches!(o.body, Body::SensorReading(_)) => (&mut wire.sensors, to_wire_json(&o)),
                None => (&mut wire.ndjson, to_wire_json(&o)),
            };
            target.extend_from_slice(line.as_bytes());
            target.push(b'\n');
        }
        wire
    }
}

/// A QoS 1 publisher whose acknowledgements are read on a thread of their own.
pub struct Publisher {
    client: Client,
}

impl Publisher {
    /// Connects to `host:port`, or `None` when no broker answers there (the demo then sends sensors
    /// over HTTP).
    pub fn connect(host: &str, port: u16) -> Option<Publisher> {
        std::net::TcpStream::connect_timeout(&format!("{host}:{port}").parse().ok()?, Duration::from_millis(500)).ok()?;
        let mut options = MqttOptions::new(format!("glasshouse-demo-sensors-{}", std::process::id()), host, port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(options, 64);
        std::thread::Builder::new()
            .name("demo-mqtt".into())
            .spawn(move || {
                for event in connection.iter() {
                    match event {
                        Ok(Event::Incoming(Packet::Disconnect)) => break,
                        Ok(_) => {}
                        // rumqttc reconnects on the next poll; pause so a broker restart is not a busy loop.
                        Err(_) => std::thread::sleep(Duration::from_secs(1)),
                    }
                }
            })
            .ok()?;
        Some(Publisher { client })
    }

    /// Publishes one message at QoS 1.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Device, DeviceRegistry, DeviceType, PlateRead, Position, Timestamp};

    #[test]
    fn a_simulated_read_becomes_a_group_the_server_reads_back_as_the_same_read() {
        let at = Timestamp::now().plus_secs(-30);
        let read = Observation {
            id: "sim-1".into(),
            device_id: "openalpr:007".into(),
            observed_at: at,
            received_at: at,
            position: Position { lat: 60.17, lon: 24.94, heading_deg: Some(90.0), accuracy_m: None },
            body: Body::PlateRead(PlateRead {
                plate: "ABC123".into(),
                region: Some("FI".into()),
                confidence: Some(0.93),
                candidates: vec![glasshouse_model::Candidate { plate: "A8C123".into(), confidence: Some(0.41) }],
                vehicle_make: Some("volvo".into()),
                ..PlateRead::default()
            }),
        };
        let mut registry = DeviceRegistry::new();
        registry.upsert(Device::fixed("openalpr:007", DeviceType::PlateReader, 60.17, 24.94));
        let listed: HashSet<String> = ["ABC123".to_owned()].into();
        let wire = Wire::split([read.clone()], true, &listed);
        assert!(wire.ndjson.is_empty() && wire.sensors.is_empty());
        let decoded = glasshouse_ingest::sources::openalpr::decode(&wire.openalpr, &registry, Timestamp::now()).unwrap();
        let back = &decoded.batch.observations[0].1;
        assert_eq!((back.id.as_str(), back.observed_at.micros() / 1000), ("sim-1", at.micros() / 1000));
        let plate = back.plate_read().unwrap();
        assert_eq!((plate.plate.as_str(), plate.region.as_deref(), plate.vehicle_make.as_deref()), ("ABC123", Some("FI"), Some("volvo")));
        assert_eq!(plate.candidates[0].plate, "A8C123");
        assert!((plate.confidence.unwrap() - 0.93).abs() < 1e-3);
        // Two crops, real JPEGs, named by the read.
        assert_eq!(decoded.images.len(), 2);
        assert!(decoded.images.iter().all(|jpeg| jpeg.starts_with(&[0xff, 0xd8, 0xff])));
        assert!(plate.image_ref.as_deref().is_some_and(|r| r.starts_with("blob:plate=")));
        // Another read of the same plate has crops of its own.
        let again = Observation { id: "sim-2".into(), ..read.clone() };
        let other =
            glasshouse_ingest::sources::openalpr::decode(&Wire::split([again], true, &listed).openalpr, &registry, Timestamp::now())
                .unwrap();
        assert_ne!(other.images[0], decoded.images[0]);
        // An unlisted plate's read goes without.
        let plain =
            glasshouse_ingest::sources::openalpr::decode(&Wire::split([read], true, &HashSet::new()).openalpr, &registry, Timestamp::now())
                .unwrap();
        assert!(plain.images.is_empty() && plain.batch.observations[0].1.plate_read().unwrap().image_ref.is_none());
    }
}
