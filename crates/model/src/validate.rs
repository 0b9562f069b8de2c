//! From a raw decoded record to a validated [`Observation`], or a precise reason why not.
//!
//! Validation is a pure function of the record, the device registry and the clock. It rejects one
//! record at a time, naming the field at fault, so a batch with one bad line loses only that line.

use crate::device::{DeviceRegistry, validate_id};
use crate::geo::LatLon;
use crate::limits::*;
use crate::observation::*;
use crate::plate;
use crate::time::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// One record as decoded from the flat JSON form, before any check. Strings borrow from the input
/// line where they can, so decoding allocates little.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawRecord<'a> {
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub device_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub observed_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub received_at: Option<Cow<'a, str>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub heading_deg: Option<f64>,
    pub accuracy_m: Option<f64>,
    // plate_read
    #[serde(borrow)]
    pub plate: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub region: Option<Cow<'a, str>>,
    pub confidence: Option<f64>,
    #[serde(borrow, default)]
    pub candidates: Option<Vec<RawCandidate<'a>>>,
    #[serde(borrow)]
    pub direction: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub vehicle_make: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub vehicle_color: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub vehicle_body: Option<Cow<'a, str>>,
    pub vehicle_make_confidence: Option<f64>,
    pub vehicle_color_confidence: Option<f64>,
    pub vehicle_body_confidence: Option<f64>,
    #[serde(borrow)]
    pub image_ref: Option<Cow<'a, str>>,
    // sensor_reading
    #[serde(borrow)]
    pub quantity: Option<Cow<'a, str>>,
    pub value: Option<f64>,
    #[serde(borrow)]
    pub unit: Option<Cow<'a, str>>,
    // gunshot
    pub rounds: Option<u32>,
    pub bearing_deg: Option<f64>,
    // incident
    #[serde(borrow)]
    pub incident_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub type_code: Option<Cow<'a, str>>,
    pub priority: Option<u8>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub address: Option<Cow<'a, str>>,
    // video_event
    #[serde(borrow)]
    pub label: Option<Cow<'a, str>>,
    pub count: Option<u32>,
}

/// A plate candidate as decoded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawCandidate<'a> {
    #[serde(borrow)]
    pub plate: Cow<'a, str>,
    pub confidence: Option<f64>,
}

/// Why one record was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct ValidationError {
    /// The JSON field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ValidationError {
    ValidationError { field, reason: reason.into() }
}

fn required<'r, 'a>(value: &'r Option<Cow<'a, str>>, field: &'static str) -> Result<&'r str, ValidationError> {
    value.as_deref().ok_or_else(|| invalid(field, "is required"))
}

fn text(value: &Option<Cow<'_, str>>, field: &'static str, chars_max: usize) -> Result<Option<String>, ValidationError> {
    match value.as_deref() {
        None => Ok(None),
        Some(s) if s.len() > chars_max * 4 || s.chars().count() > chars_max => {
            Err(invalid(field, format!("longer than {chars_max} characters")))
        }
        Some(s) => Ok(Some(s.to_owned())),
    }
}

fn identifier(value: &str, field: &'static str) -> Result<String, ValidationError> {
    validate_id(value).map_err(|reason| invalid(field, reason))?;
    Ok(value.to_owned())
}

fn unit_interval(value: Option<f64>, field: &'static str) -> Result<Option<f32>, ValidationError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (0.0..=1.0).contains(&v) => Ok(Some(v as f32)),
        Some(v) => Err(invalid(field, format!("{v} is outside 0..=1"))),
    }
}

/// A vehicle attribute's confidence: in 0..=1, and only beside the attribute it qualifies.
fn attribute_confidence(value: Option<f64>, attribute: &Option<Cow<'_, str>>, field: &'static str) -> Result<Option<f32>, ValidationError> {
    if value.is_some() && attribute.is_none() {
        return Err(invalid(field, format!("given without `{}`", field.trim_end_matches("_confidence"))));
    }
    unit_interval(value, field)
}

fn bearing(value: Option<f64>, field: &'static str) -> Result<Option<f64>, ValidationError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (0.0..360.0).contains(&v) => Ok(Some(v)),
        Some(v) => Err(invalid(field, format!("{v} is outside 0..360"))),
    }
}

/// Validates a decoded record against the registry and the clock.
///
/// `received_at` is stamped by the caller (the ingest source), never taken from the record.
pub fn validate(raw: &RawRecord<'_>, registry: &DeviceRegistry, received_at: Timestamp) -> Result<Observation, ValidationError> {
    let kind_name = required(&raw.kind, "kind")?;
    let kind = Kind::parse(kind_name).ok_or_else(|| {
        invalid("kind", format!("unknown kind {kind_name:?}; expected plate_read, sensor_reading, gunshot, incident or video_event"))
    })?;
    let device_id = required(&raw.device_id, "device_id")?;
    validate_id(device_id).map_err(|reason| invalid("device_id", reason))?;
    let device = registry
        .get(device_id)
        .ok_or_else(|| invalid("device_id", format!("unknown device {device_id:?}; register it with PUT /v1/devices/{device_id}")))?;
    if device.device_type.produces() != kind {
        return Err(invalid(
            "kind",
            format!("device {device_id:?} is a {} and cannot report {}", device.device_type.as_str(), kind.as_str()),
        ));
    }
    let observed_at = parse_time(raw)?;
    if observed_at > received_at.plus_secs(FUTURE_SKEW_SECS_MAX) {
        return Err(invalid("observed_at", format!("{observed_at} is more than {FUTURE_SKEW_SECS_MAX} s in the future")));
    }
    if observed_at < received_at.plus_secs(-PAST_YEARS_MAX * 366 * 86_400) {
        return Err(invalid("observed_at", format!("{observed_at} is more than {PAST_YEARS_MAX} years old")));
    }
    let position = match (raw.lat, raw.lon) {
        (Some(lat), Some(lon)) => LatLon::new(lat, lon),
        (None, None) => device.position().ok_or_else(|| invalid("lat", "a mobile device's observation must carry lat and lon"))?,
        (Some(_), None) => return Err(invalid("lon", "lat given without lon")),
        (None, Some(_)) => return Err(invalid("lat", "lon given without lat")),
    };
    if !position.is_valid() {
        let field = if position.lat.is_finite() && (-90.0..=90.0).contains(&position.lat) { "lon" } else { "lat" };
        return Err(invalid(field, format!("({}, {}) is not a WGS84 position", position.lat, position.lon)));
    }
    build(raw, kind, device_id, observed_at, received_at, position)
}

fn parse_time(raw: &RawRecord<'_>) -> Result<Timestamp, ValidationError> {
    let text = required(&raw.observed_at, "observed_at")?;
    Timestamp::parse_rfc3339(text).ok_or_else(|| invalid("observed_at", format!("{text:?} is not an RFC 3339 time")))
}

/// Rebuilds an observation from its own serialised form (the WAL's payload), trusting that it was
/// validated when it was first accepted. Registry and clock checks are skipped on purpose: a device
/// removed since must not make history unreadable.
pub fn from_stored(raw: &RawRecord<'_>) -> Result<Observation, ValidationError> {
    let observed_at = parse_time(raw)?;
    let received_at = match raw.received_at.as_deref() {
        Some(text) => Timestamp::parse_rfc3339(text).ok_or_else(|| invalid("received_at", "not an RFC 3339 time"))?,
        None => observed_at,
    };
    from_stored_at(raw, observed_at, received_at)
}

/// [`from_stored`] for a store that keeps its times as numbers: the record's own time fields are
/// not read (formatting a time only to parse it again cost more than the rest of a row).
pub fn from_stored_at(raw: &RawRecord<'_>, observed_at: Timestamp, received_at: Timestamp) -> Result<Observation, ValidationError> {
    let kind_name = required(&raw.kind, "kind")?;
    let kind = Kind::parse(kind_name).ok_or_else(|| invalid("kind", format!("unknown kind {kind_name:?}")))?;
    let device_id = required(&raw.device_id, "device_id")?;
    let position =
        LatLon::new(raw.lat.ok_or_else(|| invalid("lat", "is required"))?, raw.lon.ok_or_else(|| invalid("lon", "is required"))?);
    build(raw, kind, device_id, observed_at, received_at, position)
}

fn build(
    raw: &RawRecord<'_>,
    kind: Kind,
    device_id: &str,
    observed_at: Timestamp,
    received_at: Timestamp,
    position: LatLon,
) -> Result<Observation, ValidationError> {
    let body = match kind {
        Kind::PlateRead => Body::PlateRead(plate_read(raw)?),
        Kind::SensorReading => {
            let quantity = identifier(required(&raw.quantity, "quantity")?, "quantity")?;
            let value = raw.value.ok_or_else(|| invalid("value", "is required"))?;
            if !value.is_finite() {
                return Err(invalid("value", "must be a finite number"));
            }
            let unit = text(&raw.unit, "unit", 16)?.ok_or_else(|| invalid("unit", "is required"))?;
            Body::SensorReading(SensorReading { quantity, value, unit })
        }
        Kind::Gunshot => {
            let rounds = raw.rounds.ok_or_else(|| invalid("rounds", "is required"))?;
            // No detector reports more than a few hundred rounds in one event.
            if !(1..=1_000).contains(&rounds) {
                return Err(invalid("rounds", format!("{rounds} is outside 1..=1000")));
            }
            Body::Gunshot(Gunshot {
                rounds,
                confidence: unit_interval(raw.confidence, "confidence")?,
                bearing_deg: bearing(raw.bearing_deg, "bearing_deg")?,
            })
        }
        Kind::Incident => Body::Incident(Incident {
            incident_id: identifier(required(&raw.incident_id, "incident_id")?, "incident_id")?,
            type_code: text(&raw.type_code, "type_code", ID_CHARS_MAX)?.ok_or_else(|| invalid("type_code", "is required"))?,
            priority: raw.priority,
            status: text(&raw.status, "status", ID_CHARS_MAX)?,
            address: text(&raw.address, "address", TEXT_CHARS_MAX)?,
        }),
        Kind::VideoEvent => {
            let name = required(&raw.label, "label")?;
            let label = VideoLabel::parse(name).ok_or_else(|| {
                invalid("label", format!("unknown label {name:?}; expected vehicle, person, crowd, smoke or unattended_object"))
            })?;
            Body::VideoEvent(VideoEvent { label, count: raw.count.unwrap_or(1) })
        }
    };
    let position = Position {
        lat: position.lat,
        lon: position.lon,
        heading_deg: bearing(raw.heading_deg, "heading_deg")?,
        accuracy_m: match raw.accuracy_m {
            Some(v) if !(v.is_finite() && v >= 0.0) => return Err(invalid("accuracy_m", format!("{v} is not a distance"))),
            other => other,
        },
    };
    let mut observation = Observation { id: String::new(), device_id: device_id.to_owned(), observed_at, received_at, position, body };
    observation.id = match raw.id.as_deref() {
        Some(id) => identifier(id, "id")?,
        None => content_id(&observation),
    };
    Ok(observation)
}

fn plate_read(raw: &RawRecord<'_>) -> Result<PlateRead, ValidationError> {
    let plate_text = required(&raw.plate, "plate")?;
    let plate = plate::normalize(plate_text).map_err(|e| invalid("plate", e.to_string()))?;
    let region = match raw.region.as_deref() {
        None => None,
        Some(r) if r.len() <= REGION_CHARS_MAX && !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            Some(r.to_ascii_uppercase())
        }
        Some(_) => return Err(invalid("region", format!("must be 1..={REGION_CHARS_MAX} letters, digits or '-'"))),
    };
    let mut candidates = Vec::new();
    if let Some(raw_candidates) = &raw.candidates {
        if raw_candidates.len() > CANDIDATES_MAX {
            return Err(invalid("candidates", format!("{} candidates, limit is {CANDIDATES_MAX}", raw_candidates.len())));
        }
        for c in raw_candidates {
            candidates.push(Candidate {
                plate: plate::normalize(&c.plate).map_err(|e| invalid("candidates", e.to_string()))?,
                confidence: unit_interval(c.confidence, "candidates")?,
            });
        }
    }
    Ok(PlateRead {
        plate,
        region,
        confidence: unit_interval(raw.confidence, "confidence")?,
        candidates,
        direction: text(&raw.direction, "direction", ID_CHARS_MAX)?,
        vehicle_make: text(&raw.vehicle_make, "vehicle_make", ID_CHARS_MAX)?,
        vehicle_color: text(&raw.vehicle_color, "vehicle_color", ID_CHARS_MAX)?,
        vehicle_body: text(&raw.vehicle_body, "vehicle_body", ID_CHARS_MAX)?,
        vehicle_make_confidence: attribute_confidence(raw.vehicle_make_confidence, &raw.vehicle_make, "vehicle_make_confidence")?,
        vehicle_color_confidence: attribute_confidence(raw.vehicle_color_confidence, &raw.vehicle_color, "vehicle_color_confidence")?,
        vehicle_body_confidence: attribute_confidence(raw.vehicle_body_confidence, &raw.vehicle_body, "vehicle_body_confidence")?,
        image_ref: text(&raw.image_ref, "image_ref", TEXT_CHARS_MAX)?,
    })
}

/// A content hash over everything but the id and the receive time, so replaying the same
/// observation without an id is idempotent too.
fn content_id(o: &Observation) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update(bytes);
        h.update([0x1f]);
    };
    field(o.kind().as_str().as_bytes());
    field(o.device_id.as_bytes());
    field(&o.observed_at.0.to_le_bytes());
    field(&o.position.lat.to_bits().to_le_bytes());
    field(&o.position.lon.to_bits().to_le_bytes());
    match &o.body {
        Body::PlateRead(r) => {
            field(r.plate.as_bytes());
            field(r.region.as_deref().unwrap_or("").as_bytes());
            for c in &r.candidates {
                field(c.plate.as_bytes());
            }
        }
        Body::SensorReading(s) => {
            field(s.quantity.as_bytes());
            field(&s.value.to_bits().to_le_bytes());
        }
        Body::Gunshot(g) => field(&g.rounds.to_le_bytes()),
        Body::Incident(i) => {
            field(i.incident_id.as_bytes());
            field(i.type_code.as_bytes());
            field(i.status.as_deref().unwrap_or("").as_bytes());
        }
        Body::VideoEvent(v) => {
            field(v.label.as_str().as_bytes());
            field(&v.count.to_le_bytes());
        }
    }
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(33);
    id.push('h');
    for byte in &digest[..16] {
        id.push(HEX[usize::from(byte >> 4)] as char);
        id.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Device, DeviceType};

    fn registry() -> DeviceRegistry {
        let mut r = DeviceRegistry::new();
        for (id, device_type, mobile) in
            [("lpr-17", DeviceType::PlateReader, false), ("lpr-car", DeviceType::PlateReader, true), ("rad-1", DeviceType::Sensor, false)]
        {
            r.upsert(if mobile { Device::mobile(id, device_type) } else { Device::fixed(id, device_type, 60.17, 24.94) });
        }
        r
    }

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-27T21:00:00Z").unwrap()
    }

    fn check(line: &str) -> Result<Observation, ValidationError> {
        let raw: RawRecord = serde_json::from_str(line).unwrap();
        validate(&raw, &registry(), now())
    }

    const READ: &str = r#"{"kind":"plate_read","device_id":"lpr-17","observed_at":"2026-11-27T20:01:02.123Z","lat":60.1699,"lon":24.9384,"plate":"abc-123","region":"FI","confidence":0.91}"#;

    #[test]
    fn the_example_record_is_valid_and_normalised() {
        let o = check(READ).unwrap();
        assert_eq!(o.plate_read().unwrap().plate, "ABC123");
        assert_eq!(o.position.lat, 60.1699);
        assert!(o.id.starts_with('h') && o.id.len() == 33);
    }

    #[test]
    fn content_ids_are_stable_and_distinguish_content() {
        assert_eq!(check(READ).unwrap().id, check(READ).unwrap().id);
        let other = READ.replace("abc-123", "abc-124");
        assert_ne!(check(READ).unwrap().id, check(&other).unwrap().id);
    }

    #[test]
    fn a_given_id_is_kept() {
        let with_id = READ.replacen('{', r#"{"id":"r-1","#, 1);
        assert_eq!(check(&with_id).unwrap().id, "r-1");
    }

    #[test]
    fn vehicle_attributes_keep_their_confidences() {
        let line = READ.replace("0.91", r#"0.91,"vehicle_make":"volvo","vehicle_make_confidence":0.87,"vehicle_body":"sedan""#);
        let Body::PlateRead(read) = check(&line).unwrap().body else { panic!("a plate read") };
        assert_eq!((read.vehicle_make.as_deref(), read.vehicle_make_confidence), (Some("volvo"), Some(0.87)));
        assert_eq!((read.vehicle_body.as_deref(), read.vehicle_body_confidence), (Some("sedan"), None));
    }

    #[test]
    fn a_fixed_device_supplies_the_position() {
        let line = r#"{"kind":"sensor_reading","device_id":"rad-1","observed_at":"2026-11-27T20:00:00Z","quantity":"gamma_dose_rate","value":0.12,"unit":"uSv/h"}"#;
        let o = check(line).unwrap();
        assert_eq!((o.position.lat, o.position.lon), (60.17, 24.94));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (READ.replace("60.1699", "91.5"), "lat"),
            (READ.replace("24.9384", "-181"), "lon"),
            (READ.replace("lpr-17", "lpr-99"), "device_id"),
            (READ.replace("rad", "x").replace("lpr-17", "rad-1"), "kind"),
            (READ.replace("2026-11-27T20:01:02.123Z", "2026-11-28T20:00:00Z"), "observed_at"),
            (READ.replace("2026-11-27T20:01:02.123Z", "1970-01-01T00:00:00Z"), "observed_at"),
            (READ.replace("2026-11-27T20:01:02.123Z", "last tuesday"), "observed_at"),
            (READ.replace("abc-123", "AB$12"), "plate"),
            (READ.replace("abc-123", &"A".repeat(100_000)), "plate"),
            (READ.replace("0.91", "1.5"), "confidence"),
            (READ.replace("\"FI\"", "\"FINLAND!\""), "region"),
            (READ.replace("0.91", r#"0.91,"vehicle_make":"volvo","vehicle_make_confidence":87"#), "vehicle_make_confidence"),
            (READ.replace("0.91", r#"0.91,"vehicle_color_confidence":0.5"#), "vehicle_color_confidence"),
            (READ.replace(r#""lat":60.1699,"lon":24.9384,"#, "").replace("lpr-17", "lpr-car"), "lat"),
        ];
        for (line, field) in cases {
            let error = check(&line).expect_err(&line[..line.len().min(200)]);
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_at_decode() {
        let line = READ.replacen('{', r#"{"plat":"x","#, 1);
        assert!(serde_json::from_str::<RawRecord>(&line).is_err());
    }

    #[test]
    fn the_stored_form_round_trips() {
        let o = check(READ).unwrap();
        let json = o.to_json();
        let raw: RawRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(from_stored(&raw).unwrap(), o);
    }
}
