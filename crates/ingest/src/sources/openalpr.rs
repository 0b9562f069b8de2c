//! OpenALPR / Rekor agent webhooks, taken as the agent posts them.
//!
//! A body holds one JSON document (pretty-printed or not), or several, one per line. Each document's
//! `data_type` says what it is:
//! - `alpr_group`: one vehicle seen over several frames, read as one `plate_read`;
//! - `alpr_alert`: an agent-side list hit, wrapping the group under `group` (read as that group);
//! - `alpr_results`: one frame, one `plate_read` per plate in `results`;
//! - `heartbeat`: the agent is alive, with its cameras under `video_streams`;
//! - a test ping (`{"openalpr_webhook": "test"}`), answered and otherwise ignored.
//!
//! Field mapping (also in `docs/api.md`):
//! - the device is `openalpr:<camera_id>`: register each camera under that id (a plate reader,
//!   fixed with its position, or mobile), so no vendor id needs a table of its own;
//! - `id` = `best_uuid` (a re-posted group is a duplicate, not a second read); for `alpr_results`,
//!   `<uuid>-<n>` for the n-th plate of the frame;
//! - `observed_at` = `epoch_start` (milliseconds; `epoch_time` for a frame, in seconds from the
//!   open-source agent and milliseconds from the commercial one, told apart by size);
//! - `plate`, `region`, `confidence` = `best_plate_number`, `best_region`, `best_confidence` / 100
//!   (from `best_plate` when the flat fields are absent); every candidate, its confidence / 100;
//! - `vehicle_make`, `vehicle_color`, `vehicle_body` = the top entry of `vehicle.make`,
//!   `vehicle.color`, `vehicle.body_type`, each with its confidence (0–100 → 0–1) as
//!   `vehicle_make_confidence` and so on;
//! - `lat`, `lon` = `gps_latitude`, `gps_longitude` when given and not (0, 0) (mobile agents);
//! - `heading_deg` = `travel_direction`.
//!
//! Images: `best_plate.plate_crop_jpeg` and `vehicle_crop_jpeg` (base64 JPEG, at most
//! [`IMAGE_BYTES_MAX`] each) are handed back with the read, which names them by their SHA-256 in
//! `image_ref` (`blob:plate=…;vehicle=…`, see `glasshouse_model::image`). A bad image refuses its
//! read, so evidence is never silently missing from a read that claims it.
//!
//! Groups marked `is_preview` are counted and skipped: the agent posts the final group for the same
//! vehicle moments later, and storing both would count one vehicle twice.

use crate::decode::{Batch, BodyError, LineError, RAW_BYTES_KEPT_MAX};
use glasshouse_model::image::StoredImages;
use glasshouse_model::limits::{INGEST_BODY_BYTES_MAX, INGEST_REQUEST_RECORDS_MAX};
use glasshouse_model::validate::RawCandidate;
use glasshouse_model::{DeviceRegistry, LatLon, RawRecord, Timestamp, validate};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// The prefix of the device id a camera is registered under: `openalpr:<camera_id>`.
pub const DEVICE_PREFIX: &str = "openalpr:";

/// The device id of an agent's camera.
pub fn device_id(camera_id: &str) -> String {
    format!("{DEVICE_PREFIX}{camera_id}")
}

/// The largest image kept (a plate or vehicle crop is tens of kilobytes; a whole frame is not a crop).
pub const IMAGE_BYTES_MAX: usize = 512 * 1024;

/// What one webhook body held.
#[derive(Debug, Default)]
pub struct Webhook {
    /// The plate reads (with the line of the document they came from) and the refused documents.
    pub batch: Batch,
    /// The images the accepted reads name, to be stored before the reads are.
    pub images: Vec<Vec<u8>>,
    /// The heartbeats, each naming the registered cameras it vouches for.
    pub heartbeats: Vec<Heartbeat>,
    /// Test pings.
    pub pings: usize,
    /// Preview groups, skipped (the final group follows).
    pub previews: usize,
}

/// An agent's heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// The agent, as it names itself (`agent_uid`, else `site_id`).
    pub agent: String,
    /// When the agent sent it.
    pub at: Timestamp,
    /// Its cameras that are registered as devices, streaming or not.
    pub devices: Vec<String>,
    /// Where a mobile agent is.
    pub position: Option<LatLon>,
}

/// A camera id, which agents send as a number and some integrations as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CameraId {
    Number(u64),
    Text(String),
}

impl CameraId {
    fn device_id(&self) -> String {
        match self {
            CameraId::Number(n) => device_id(&n.to_string()),
            CameraId::Text(t) => device_id(t),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Candidate {
    plate: String,
    #[serde(default)]
    confidence: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Plate {
    #[serde(default)]
    plate_crop_jpeg: Option<String>,
    #[serde(default)]
    plate: Option<String>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    candidates: Vec<Candidate>,
}

/// A classifier's answer: the name and its confidence (0–100, as the agent sends it).
#[derive(Debug, Clone, Deserialize)]
struct Attribute {
    name: String,
    #[serde(default)]
    confidence: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct Vehicle {
    #[serde(default)]
    make: Vec<Attribute>,
    #[serde(default)]
    color: Vec<Attribute>,
    #[serde(default)]
    body_type: Vec<Attribute>,
}

#[derive(Debug, Deserialize)]
struct Group {
    camera_id: CameraId,
    epoch_start: i64,
    best_uuid: String,
    #[serde(default)]
    best_plate_number: Option<String>,
    #[serde(default)]
    best_confidence: Option<f64>,
    #[serde(default)]
    best_region: Option<String>,
    #[serde(default)]
    best_plate: Option<Plate>,
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    gps_latitude: Option<f64>,
    #[serde(default)]
    gps_longitude: Option<f64>,
    #[serde(default)]
    travel_direction: Option<f64>,
    #[serde(default)]
    vehicle: Option<Vehicle>,
    #[serde(default)]
    vehicle_crop_jpeg: Option<String>,
    #[serde(default)]
    is_preview: bool,
}

#[derive(Debug, Deserialize)]
struct Alert {
    group: Group,
}

#[derive(Debug, Deserialize)]
struct Frame {
    camera_id: CameraId,
    epoch_time: i64,
    #[serde(default)]
    uuid: Option<String>,
    results: Vec<Plate>,
    #[serde(default)]
    gps_latitude: Option<f64>,
    #[serde(default)]
    gps_longitude: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    camera_id: CameraId,
}

#[derive(Debug, Deserialize)]
struct Beat {
    #[serde(default)]
    agent_uid: Option<String>,
    #[serde(default)]
    site_id: Option<String>,
    timestamp: i64,
    #[serde(default)]
    video_streams: Vec<Stream>,
    #[serde(default)]
    gps_latitude: Option<f64>,
    #[serde(default)]
    gps_longitude: Option<f64>,
}

/// Decodes a webhook body; every document ends up as reads, a heartbeat, a ping, a skipped preview
/// or one refusal naming its line.
pub fn decode(body: &[u8], registry: &DeviceRegistry, received_at: Timestamp) -> Result<Webhook, BodyError> {
    if body.len() > INGEST_BODY_BYTES_MAX {
        return Err(BodyError::TooLarge);
    }
    let mut webhook = Webhook::default();
    // One document (an agent posts one per request, perhaps pretty-printed) is parsed once, whole;
    // otherwise each line is a document.
    let documents: Vec<(u64, &[u8], Option<Value>)> = match serde_json::from_slice::<Value>(body) {
        Ok(value) => vec![(1, body, Some(value))],
        Err(_) => body
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, line)| (i as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line), None))
            .filter(|(_, line, _)| !line.iter().all(u8::is_ascii_whitespace))
            .collect(),
    };
    if documents.len() > INGEST_REQUEST_RECORDS_MAX {
        return Err(BodyError::TooManyRecords);
    }
    for (line, document, parsed) in documents {
        let refuse = |error: String| LineError { line, error, raw: cut(document) };
        let value = match parsed {
            Some(value) => Ok(value),
            None => parse(document),
        };
        match value.and_then(|value| decode_document(value, registry, received_at, &mut webhook)) {
            Ok(records) => {
                for record in records {
                    match record {
                        Ok(observation) => webhook.batch.observations.push((line, observation)),
                        Err(error) => webhook.batch.errors.push(refuse(error)),
                    }
                }
            }
            Err(error) => webhook.batch.errors.push(refuse(error)),
        }
    }
    Ok(webhook)
}

type Records = Vec<Result<glasshouse_model::Observation, String>>;

fn parse(document: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(document).map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to()))?;
    serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))
}

fn decode_document(value: Value, registry: &DeviceRegistry, received_at: Timestamp, webhook: &mut Webhook) -> Result<Records, String> {
    let data_type = value.get("data_type").and_then(Value::as_str).map(str::to_owned);
    match data_type.as_deref() {
        Some("alpr_group") => {
            let group: Group = serde_json::from_value(value).map_err(|e| format!("alpr_group: {e}"))?;
            Ok(from_group(group, registry, received_at, webhook))
        }
        Some("alpr_alert") => {
            let alert: Alert = serde_json::from_value(value).map_err(|e| format!("alpr_alert: {e}"))?;
            Ok(from_group(alert.group, registry, received_at, webhook))
        }
        Some("alpr_results") => {
            let frame: Frame = serde_json::from_value(value).map_err(|e| format!("alpr_results: {e}"))?;
            from_frame(frame, registry, received_at)
        }
        Some("heartbeat") => {
            let beat: Beat = serde_json::from_value(value).map_err(|e| format!("heartbeat: {e}"))?;
            webhook.heartbeats.push(heartbeat(beat, registry)?);
            Ok(Vec::new())
        }
        None if value.get("openalpr_webhook").and_then(Value::as_str) == Some("test") => {
            webhook.pings += 1;
            Ok(Vec::new())
        }
        None => Err("missing data_type; expected alpr_group, alpr_alert, alpr_results or heartbeat".into()),
        Some(other) => Err(format!("unknown data_type {other:?}; expected alpr_group, alpr_alert, alpr_results or heartbeat")),
    }
}

fn from_group(group: Group, registry: &DeviceRegistry, received_at: Timestamp, webhook: &mut Webhook) -> Records {
    if group.is_preview {
        webhook.previews += 1;
        return Vec::new();
    }
    let best =
        group.best_plate.unwrap_or(Plate { plate_crop_jpeg: None, plate: None, confidence: None, region: None, candidates: Vec::new() });
    let images = match (
        image("best_plate.plate_crop_jpeg", best.plate_crop_jpeg.as_deref()),
        image("vehicle_crop_jpeg", group.vehicle_crop_jpeg.as_deref()),
    ) {
        (Ok(plate), Ok(vehicle)) => (plate, vehicle),
        (Err(e), _) | (_, Err(e)) => return vec![Err(e)],
    };
    let stored = StoredImages { plate: images.0.as_ref().map(|b| hash(b)), vehicle: images.1.as_ref().map(|b| hash(b)) };
    let candidates = if group.candidates.is_empty() { best.candidates } else { group.candidates };
    let vehicle = group.vehicle.unwrap_or_default();
    let top = |list: &[Attribute]| list.first().cloned();
    let read = Read {
        id: Some(group.best_uuid),
        device_id: group.camera_id.device_id(),
        observed_at: from_millis(group.epoch_start),
        plate: group.best_plate_number.or(best.plate),
        region: group.best_region.or(best.region),
        confidence: group.best_confidence.or(best.confidence),
        candidates,
        position: gps(group.gps_latitude, group.gps_longitude),
        heading_deg: group.travel_direction,
        make: top(&vehicle.make),
        color: top(&vehicle.color),
        body: top(&vehicle.body_type),
        image_ref: stored.to_ref(),
    };
    let read = read.validate(registry, received_at);
    if read.is_ok() {
        webhook.images.extend([images.0, images.1].into_iter().flatten());
    }
    vec![read]
}

/// A base64 JPEG from a vendor's record, checked: decodable (line breaks allowed), within
/// [`IMAGE_BYTES_MAX`], and a JPEG.
pub(crate) fn image(field: &str, encoded: Option<&str>) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    let Some(encoded) = encoded.filter(|e| !e.is_empty()) else { return Ok(None) };
    if encoded.len() / 4 * 3 > IMAGE_BYTES_MAX + 3 {
        return Err(format!("{field}: image over {IMAGE_BYTES_MAX} bytes"));
    }
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|e| format!("{field}: not base64: {e}"))?;
    if bytes.len() > IMAGE_BYTES_MAX {
        return Err(format!("{field}: image over {IMAGE_BYTES_MAX} bytes"));
    }
    if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Err(format!("{field}: not a JPEG"));
    }
    Ok(Some(bytes))
}

pub(crate) use glasshouse_model::image::image_hash as hash;

fn from_frame(frame: Frame, registry: &DeviceRegistry, received_at: Timestamp) -> Result<Records, String> {
    // The open-source agent sends seconds, the commercial one milliseconds; 10^11 seconds is the
    // year 5138, so a smaller value is seconds.
    let observed_at =
        if frame.epoch_time.abs() < 100_000_000_000 { Some(Timestamp::from_secs(frame.epoch_time)) } else { from_millis(frame.epoch_time) };
    let device_id = frame.camera_id.device_id();
    let position = gps(frame.gps_latitude, frame.gps_longitude);
    Ok(frame
        .results
        .into_iter()
        .enumerate()
        .map(|(n, result)| {
            let read = Read {
                id: frame.uuid.as_ref().map(|uuid| format!("{uuid}-{n}")),
                device_id: device_id.clone(),
                observed_at,
                plate: result.plate,
                region: result.region,
                confidence: result.confidence,
                candidates: result.candidates,
                position,
                heading_deg: None,
                make: None,
                color: None,
                body: None,
                image_ref: None,
            };
            read.validate(registry, received_at)
        })
        .collect())
}

fn heartbeat(beat: Beat, registry: &DeviceRegistry) -> Result<Heartbeat, String> {
    let agent = beat.agent_uid.or(beat.site_id).ok_or("heartbeat: names no agent (agent_uid or site_id)")?;
    let at = from_millis(beat.timestamp).ok_or("heartbeat: timestamp out of range")?;
    let devices = beat.video_streams.iter().map(|s| s.camera_id.device_id()).filter(|id| registry.get(id).is_some()).collect();
    Ok(Heartbeat { agent, at, devices, position: gps(beat.gps_latitude, beat.gps_longitude) })
}

/// A plate read gathered from either document shape, before validation.
struct Read {
    id: Option<String>,
    device_id: String,
    observed_at: Option<Timestamp>,
    plate: Option<String>,
    region: Option<String>,
    confidence: Option<f64>,
    candidates: Vec<Candidate>,
    position: Option<LatLon>,
    heading_deg: Option<f64>,
    make: Option<Attribute>,
    color: Option<Attribute>,
    body: Option<Attribute>,
    image_ref: Option<String>,
}

impl Read {
    fn validate(self, registry: &DeviceRegistry, received_at: Timestamp) -> Result<glasshouse_model::Observation, String> {
        if registry.get(&self.device_id).is_none() {
            let camera = &self.device_id[DEVICE_PREFIX.len()..];
            return Err(format!("camera {camera} is not registered: register it as device {}", self.device_id));
        }
        let observed_at = self.observed_at.ok_or("epoch_start out of range")?.to_rfc3339();
        let percent = |c: f64| c / 100.0;
        let (make, color, body) = (self.make, self.color, self.body);
        fn name(a: &Option<Attribute>) -> Option<Cow<'_, str>> {
            a.as_ref().map(|a| Cow::Borrowed(a.name.as_str()))
        }
        let confidence = |a: &Option<Attribute>| a.as_ref().and_then(|a| a.confidence).map(percent);
        let raw = RawRecord {
            id: self.id.map(Cow::Owned),
            kind: Some(Cow::Borrowed("plate_read")),
            device_id: Some(Cow::Owned(self.device_id)),
            observed_at: Some(Cow::Owned(observed_at)),
            lat: self.position.map(|p| p.lat),
            lon: self.position.map(|p| p.lon),
            heading_deg: self.heading_deg,
            plate: self.plate.map(Cow::Owned),
            region: self.region.filter(|r| !r.trim().is_empty()).map(|r| Cow::Owned(r.to_uppercase())),
            confidence: self.confidence.map(percent),
            candidates: Some(
                self.candidates
                    .into_iter()
                    .map(|c| RawCandidate { plate: Cow::Owned(c.plate), confidence: c.confidence.map(percent) })
                    .collect(),
            ),
            vehicle_make: name(&make),
            vehicle_color: name(&color),
            vehicle_body: name(&body),
            vehicle_make_confidence: confidence(&make),
            vehicle_color_confidence: confidence(&color),
            vehicle_body_confidence: confidence(&body),
            image_ref: self.image_ref.map(Cow::Owned),
            ..RawRecord::default()
        };
        validate(&raw, registry, received_at).map_err(|e| e.to_string())
    }
}

fn from_millis(ms: i64) -> Option<Timestamp> {
    ms.checked_mul(1_000).map(Timestamp)
}

/// A GPS fix, unless absent or the (0, 0) agents send when they have none.
fn gps(lat: Option<f64>, lon: Option<f64>) -> Option<LatLon> {
    match (lat, lon) {
        (Some(lat), Some(lon)) if !(lat == 0.0 && lon == 0.0) => Some(LatLon::new(lat, lon)),
        _ => None,
    }
}

fn cut(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(RAW_BYTES_KEPT_MAX)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Device, DeviceType};
    use proptest::prelude::*;
    use serde_json::json;

    const CAMERA: u64 = 1414799424;

    fn registry() -> DeviceRegistry {
        let mut r = DeviceRegistry::new();
        r.upsert(Device::fixed(device_id(&CAMERA.to_string()), DeviceType::PlateReader, 40.75, -73.99));
        r.upsert(Device::mobile(device_id("77"), DeviceType::PlateReader));
        r
    }

    fn now() -> Timestamp {
        Timestamp::now()
    }

    /// A group as the agent posts it, seen a minute ago.
    fn group(uuid: &str, plate: &str) -> Value {
        json!({
            "version": 2, "data_type": "alpr_group", "agent_uid": "agent-a", "camera_id": CAMERA,
            "epoch_start": now().micros() / 1000 - 60_000, "epoch_end": now().micros() / 1000 - 59_000,
            "best_uuid": uuid, "best_plate_number": plate, "best_confidence": 92.5, "best_region": "us-ny",
            "best_plate": {"plate": plate, "confidence": 92.5, "region": "us-ny", "plate_crop_jpeg": jpeg(b"plate crop")},
            "vehicle_crop_jpeg": jpeg(b"vehicle crop"),
            "candidates": [{"plate": plate, "confidence": 92.5, "matches_template": 1}, {"plate": "A137O9", "confidence": 83.3}],
            "travel_direction": 271.5, "is_parked": false, "is_preview": false,
            "vehicle": {"make": [{"name": "toyota", "confidence": 87.1}, {"name": "honda", "confidence": 5.0}],
                        "color": [{"name": "silver-gray", "confidence": 66.0}], "body_type": [{"name": "sedan-standard", "confidence": 90.0}]}
        })
    }

    /// A tiny stand-in JPEG (its magic, then `content`), base64 as the agent sends it.
    fn jpeg(content: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([&[0xff, 0xd8, 0xff, 0xe0][..], content].concat())
    }

    fn body(documents: &[Value]) -> Vec<u8> {
        documents.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n").into_bytes()
    }

    #[test]
    fn a_group_becomes_one_read_with_every_field_kept() {
        let webhook = decode(&body(&[group("cam-1448326208789", "A13709")]), &registry(), now()).unwrap();
        assert!(webhook.batch.errors.is_empty(), "{:?}", webhook.batch.errors);
        let (line, read) = &webhook.batch.observations[0];
        assert_eq!(*line, 1);
        assert_eq!(read.id, "cam-1448326208789");
        assert_eq!(read.device_id, format!("openalpr:{CAMERA}"));
        let plate = read.plate_read().unwrap();
        assert_eq!(plate.plate, "A13709");
        assert_eq!(plate.region.as_deref(), Some("US-NY"));
        assert!((plate.confidence.unwrap() - 0.925).abs() < 1e-6);
        let candidates: Vec<&str> = plate.candidates.iter().map(|c| c.plate.as_str()).collect();
        assert_eq!(candidates, ["A13709", "A137O9"]);
        assert_eq!((plate.vehicle_make.as_deref(), plate.vehicle_color.as_deref()), (Some("toyota"), Some("silver-gray")));
        assert_eq!(plate.vehicle_body.as_deref(), Some("sedan-standard"));
        assert_eq!(
            (plate.vehicle_make_confidence, plate.vehicle_color_confidence, plate.vehicle_body_confidence),
            (Some(0.871), Some(0.66), Some(0.9)),
            "each attribute's confidence, 0–100 scaled to 0–1"
        );
        assert_eq!(read.position.heading_deg, Some(271.5));
        // A fixed camera's read stands where the camera stands.
        assert_eq!((read.position.lat, read.position.lon), (40.75, -73.99));
    }

    #[test]
    fn the_crops_are_handed_back_and_named_by_their_hash() {
        let webhook = decode(&body(&[group("u-img", "ABC123")]), &registry(), now()).unwrap();
        let read = webhook.batch.observations[0].1.plate_read().unwrap().clone();
        let stored = StoredImages::parse(read.image_ref.as_deref().unwrap()).unwrap();
        assert_eq!(webhook.images.len(), 2);
        assert_eq!(stored.plate.as_deref(), Some(hash(&webhook.images[0]).as_str()));
        assert_eq!(stored.vehicle.as_deref(), Some(hash(&webhook.images[1]).as_str()));
        assert!(webhook.images[0].ends_with(b"plate crop"));
    }

    #[test]
    fn a_bad_image_refuses_its_read_and_keeps_no_image() {
        use base64::Engine;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let huge = encode(&[&[0xff, 0xd8, 0xff][..], &vec![0u8; IMAGE_BYTES_MAX]].concat());
        let cases = [("not base64!", "not base64"), (huge.as_str(), "image over"), (&encode(b"GIF89a"), "not a JPEG")];
        for (crop, expected) in cases {
            let mut document = group("u-bad", "ABC123");
            document["vehicle_crop_jpeg"] = json!(crop);
            let webhook = decode(&body(&[document, group("u-good", "XYZ789")]), &registry(), now()).unwrap();
            assert!(webhook.batch.errors[0].error.contains(expected), "{:?} for {expected}", webhook.batch.errors);
            assert_eq!(webhook.batch.observations.len(), 1, "the good read is kept");
            assert_eq!(webhook.images.len(), 2, "only the good read's images");
        }
    }

    #[test]
    fn a_pretty_printed_alert_is_read_as_its_group() {
        let alert = json!({"data_type": "alpr_alert", "description": "stolen", "group": group("u-2", "ABC123")});
        let text = serde_json::to_string_pretty(&alert).unwrap();
        let webhook = decode(text.as_bytes(), &registry(), now()).unwrap();
        assert_eq!(webhook.batch.observations.len(), 1, "{:?}", webhook.batch.errors);
        assert_eq!(webhook.batch.observations[0].1.id, "u-2");
    }

    #[test]
    fn a_frame_gives_one_read_per_plate_and_a_mobile_agent_its_gps() {
        let frame = json!({"data_type": "alpr_results", "camera_id": 77, "uuid": "f11e", "epoch_time": now().micros() / 1_000_000 - 30,
            "gps_latitude": 40.7, "gps_longitude": -74.0,
            "results": [{"plate": "S11FRE", "confidence": 77.1, "candidates": [{"plate": "S11FRE", "confidence": 77.1}]}, {"plate": "EJLESSIE", "confidence": 78.2}]});
        let webhook = decode(&body(&[frame]), &registry(), now()).unwrap();
        let ids: Vec<&str> = webhook.batch.observations.iter().map(|(_, o)| o.id.as_str()).collect();
        assert_eq!(ids, ["f11e-0", "f11e-1"], "{:?}", webhook.batch.errors);
        assert_eq!(webhook.batch.observations[0].1.position.lat, 40.7);
    }

    #[test]
    fn bad_documents_are_refused_by_line_and_the_good_ones_kept() {
        let mut no_uuid = group("x", "ABC123");
        no_uuid.as_object_mut().unwrap().remove("best_uuid");
        let mut unknown_camera = group("u-3", "ABC123");
        unknown_camera["camera_id"] = json!(999);
        let mut wrong_type = group("u-4", "ABC123");
        wrong_type["epoch_start"] = json!("yesterday");
        let mut mobile_without_gps = group("u-5", "ABC123");
        mobile_without_gps["camera_id"] = json!(77);
        let mut text =
            body(&[group("u-1", "GOOD1"), no_uuid, unknown_camera, json!({"data_type": "alpr_frame"}), wrong_type, mobile_without_gps]);
        text.extend_from_slice(b"\n{not json\n\xff\xfe\n");
        text.extend_from_slice(&body(&[group("u-6", "GOOD2")]));
        let webhook = decode(&text, &registry(), now()).unwrap();
        let good: Vec<(u64, &str)> = webhook.batch.observations.iter().map(|(l, o)| (*l, o.id.as_str())).collect();
        assert_eq!(good, [(1, "u-1"), (9, "u-6")]);
        let errors: Vec<(u64, &str)> = webhook.batch.errors.iter().map(|e| (e.line, e.error.as_str())).collect();
        assert_eq!(errors.len(), 7, "{errors:#?}");
        assert!(errors[0].1.contains("missing field `best_uuid`"), "{errors:?}");
        assert!(errors[1].1.contains("camera 999 is not registered: register it as device openalpr:999"), "{errors:?}");
        assert!(errors[2].1.contains("unknown data_type \"alpr_frame\""), "{errors:?}");
        assert!(errors[3].1.starts_with("alpr_group: invalid type"), "{errors:?}");
        assert!(errors[4].1.contains("mobile device"), "{errors:?}");
        assert!(errors[5].1.starts_with("invalid JSON"), "{errors:?}");
        assert_eq!((errors[6].0, errors[6].1), (8, "not valid UTF-8 (byte 0)"));
    }

    #[test]
    fn heartbeats_pings_and_previews_are_counted_not_stored() {
        let beat = json!({"data_type": "heartbeat", "agent_uid": "agent-a", "timestamp": 1453426302097i64, "gps_latitude": 40.7, "gps_longitude": -74.0,
            "video_streams": [{"camera_id": CAMERA, "is_streaming": true}, {"camera_id": 5, "is_streaming": false}]});
        let mut preview = group("u-p", "ABC123");
        preview["is_preview"] = json!(true);
        let webhook = decode(&body(&[beat, json!({"openalpr_webhook": "test"}), preview]), &registry(), now()).unwrap();
        assert!(webhook.batch.observations.is_empty() && webhook.batch.errors.is_empty(), "{:?}", webhook.batch.errors);
        assert_eq!((webhook.pings, webhook.previews), (1, 1));
        let beat = &webhook.heartbeats[0];
        assert_eq!(beat.agent, "agent-a");
        assert_eq!(beat.devices, [format!("openalpr:{CAMERA}")], "camera 5 is not registered");
        assert_eq!(beat.at, Timestamp(1453426302097 * 1000));
        assert_eq!(beat.position, Some(LatLon::new(40.7, -74.0)));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, &registry(), now());
        }

        #[test]
        fn a_group_round_trips_its_plate_confidence_and_time(
            plate in "[A-Z0-9]{2,8}",
            confidence in 0.0f64..=100.0,
            seconds_ago in 0i64..86_400,
            uuid in "[a-z0-9-]{1,40}",
        ) {
            let mut document = group(&uuid, &plate);
            document["best_confidence"] = json!(confidence);
            let at_ms = now().micros() / 1000 - seconds_ago * 1000;
            document["epoch_start"] = json!(at_ms);
            let webhook = decode(&body(&[document]), &registry(), now()).unwrap();
            prop_assert!(webhook.batch.errors.is_empty(), "{:?}", webhook.batch.errors);
            let read = &webhook.batch.observations[0].1;
            prop_assert_eq!(&read.id, &uuid);
            prop_assert_eq!(&read.plate_read().unwrap().plate, &plate);
            prop_assert!((f64::from(read.plate_read().unwrap().confidence.unwrap()) - confidence / 100.0).abs() < 1e-6);
            prop_assert_eq!(read.observed_at, Timestamp(at_ms * 1000));
        }
    }
}
