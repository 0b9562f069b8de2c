//! The five kinds of observation and their flat JSON form.
//!
//! On the wire an observation is one flat JSON object: the common fields (`id`, `kind`, `device_id`,
//! `observed_at`, `lat`, `lon`, ...) beside the kind's own (`plate`, `quantity`, ...). Flat keeps NDJSON
//! greppable and maps one-to-one onto Parquet columns.

use crate::time::Timestamp;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The kind of an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A licence plate read by an ALPR camera.
    PlateRead,
    /// A value from an environmental sensor.
    SensorReading,
    /// A detected gunshot.
    Gunshot,
    /// A CAD/911 incident.
    Incident,
    /// A camera's analytic event: a label and a count, never an identity.
    VideoEvent,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 5] = [Kind::PlateRead, Kind::SensorReading, Kind::Gunshot, Kind::Incident, Kind::VideoEvent];

    /// The name used in JSON, file paths and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PlateRead => "plate_read",
            Kind::SensorReading => "sensor_reading",
            Kind::Gunshot => "gunshot",
            Kind::Incident => "incident",
            Kind::VideoEvent => "video_event",
        }
    }

    /// The kind with this JSON name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Where an observation was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Direction of travel or facing, degrees clockwise from north.
    pub heading_deg: Option<f64>,
    /// Horizontal accuracy radius in metres.
    pub accuracy_m: Option<f64>,
}

/// One alternative reading of a plate with the reader's score.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Normalised plate text.
    pub plate: String,
    /// The reader's confidence in 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// A licence plate read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlateRead {
    /// Normalised plate text (upper case, no separators).
    pub plate: String,
    /// Issuing region or state, e.g. `FI`, `US-NY`.
    pub region: Option<String>,
    /// The reader's confidence in the top reading, 0..=1.
    pub confidence: Option<f32>,
    /// Top-N alternatives, best first (the top reading may be repeated).
    pub candidates: Vec<Candidate>,
    /// Direction of travel relative to the reader, e.g. `approaching`, `receding`.
    pub direction: Option<String>,
    /// Vehicle make as classified by the reader.
    pub vehicle_make: Option<String>,
    /// Vehicle colour as classified by the reader.
    pub vehicle_color: Option<String>,
    /// Vehicle body type as classified by the reader.
    pub vehicle_body: Option<String>,
    /// The reader's confidence in `vehicle_make`, 0..=1. An operator weighs a "silver Toyota"
    /// differently at 0.9 than at 0.3, so the classifier's own figure travels with its answer.
    pub vehicle_make_confidence: Option<f32>,
    /// The reader's confidence in `vehicle_color`, 0..=1.
    pub vehicle_color_confidence: Option<f32>,
    /// The reader's confidence in `vehicle_body`, 0..=1.
    pub vehicle_body_confidence: Option<f32>,
    /// A reference to the plate image held by the reader's system.
    pub image_ref: Option<String>,
}

/// A value from an environmental sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorReading {
    /// What is measured, e.g. `gamma_dose_rate`, `co`, `pm2_5`.
    pub quantity: String,
    /// The measured value.
    pub value: f64,
    /// Its unit, e.g. `uSv/h`, `ppm`, `ug/m3`.
    pub unit: String,
}

/// A detected gunshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Gunshot {
    /// Rounds counted.
    pub rounds: u32,
    /// The detector's confidence, 0..=1.
    pub confidence: Option<f32>,
    /// Bearing from the array to the source, when only a direction is known.
    pub bearing_deg: Option<f64>,
}

/// A CAD/911 incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The dispatch system's incident number.
    pub incident_id: String,
    /// The incident type, e.g. `ASSAULT`, `SHOTS_FIRED`.
    pub type_code: String,
    /// Dispatch priority, 1 = most urgent.
    pub priority: Option<u8>,
    /// Dispatch status, e.g. `open`, `closed`.
    pub status: Option<String>,
    /// The geocoded address as text.
    pub address: Option<String>,
}

/// What a camera's analytics saw. Labels describe classes of things, never who.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoLabel {
    /// A vehicle.
    Vehicle,
    /// A person (counted, never identified).
    Person,
    /// A crowd.
    Crowd,
    /// Smoke.
    Smoke,
    /// An object left unattended.
    UnattendedObject,
}

impl VideoLabel {
    /// Every label.
    pub const ALL: [VideoLabel; 5] =
        [VideoLabel::Vehicle, VideoLabel::Person, VideoLabel::Crowd, VideoLabel::Smoke, VideoLabel::UnattendedObject];

    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoLabel::Vehicle => "vehicle",
            VideoLabel::Person => "person",
            VideoLabel::Crowd => "crowd",
            VideoLabel::Smoke => "smoke",
            VideoLabel::UnattendedObject => "unattended_object",
        }
    }

    /// The label with this JSON name.
    pub fn parse(name: &str) -> Option<VideoLabel> {
        VideoLabel::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// A camera analytics event.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoEvent {
    /// What was seen.
    pub label: VideoLabel,
    /// How many.
    pub count: u32,
}

/// The kind-specific part of an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// See [`PlateRead`].
    PlateRead(PlateRead),
    /// See [`SensorReading`].
    SensorReading(SensorReading),
    /// See [`Gunshot`].
    Gunshot(Gunshot),
    /// See [`Incident`].
    Incident(Incident),
    /// See [`VideoEvent`].
    VideoEvent(VideoEvent),
}

impl Body {
    /// The kind this body belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Body::PlateRead(_) => Kind::PlateRead,
            Body::SensorReading(_) => Kind::SensorReading,
            Body::Gunshot(_) => Kind::Gunshot,
            Body::Incident(_) => Kind::Incident,
            Body::VideoEvent(_) => Kind::VideoEvent,
        }
    }
}

/// A validated observation. Every observation has a position: a fixed device's comes from its
/// registration, a mobile device's from the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Idempotency key: the producer's id, or a content hash when none was given.
    pub id: String,
    /// The producing device.
    pub device_id: String,
    /// Event time.
    pub observed_at: Timestamp,
    /// When Glasshouse received it.
    pub received_at: Timestamp,
    /// Where it was made.
    pub position: Position,
    /// The kind's own fields.
    pub body: Body,
}

impl Observation {
    /// The observation's kind.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// The plate read, when this is one.
    pub fn plate_read(&self) -> Option<&PlateRead> {
        match &self.body {
            Body::PlateRead(read) => Some(read),
            _ => None,
        }
    }

    /// The 128-bit key the WAL deduplicates on: the leading bytes of SHA-256 of the id.
    pub fn dedup_key(&self) -> u128 {
        dedup_key(&self.id)
    }

    /// The flat JSON form, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("observations always serialise")
    }
}

/// The deduplication key for an observation id.
pub fn dedup_key(id: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}

impl Serialize for Observation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("kind", self.kind().as_str())?;
        map.serialize_entry("device_id", &self.device_id)?;
        map.serialize_entry("observed_at", &self.observed_at)?;
        map.serialize_entry("received_at", &self.received_at)?;
        map.serialize_entry("lat", &self.position.lat)?;
        map.serialize_entry("lon", &self.position.lon)?;
        if let Some(v) = self.position.heading_deg {
            map.serialize_entry("heading_deg", &v)?;
        }
        if let Some(v) = self.position.accuracy_m {
            map.serialize_entry("accuracy_m", &v)?;
        }
        macro_rules! optional {
            ($name:literal, $value:expr) => {
                if let Some(v) = &$value {
                    map.serialize_entry($name, v)?;
                }
            };
        }
        match &self.body {
            Body::PlateRead(r) => {
                map.serialize_entry("plate", &r.plate)?;
                optional!("region", r.region);
                optional!("confidence", r.confidence);
                if !r.candidates.is_empty() {
                    map.serialize_entry("candidates", &r.candidates)?;
                }
                optional!("direction", r.direction);
                optional!("vehicle_make", r.vehicle_make);
                optional!("vehicle_color", r.vehicle_color);
                optional!("vehicle_body", r.vehicle_body);
                optional!("vehicle_make_confidence", r.vehicle_make_confidence);
                optional!("vehicle_color_confidence", r.vehicle_color_confidence);
                optional!("vehicle_body_confidence", r.vehicle_body_confidence);
                optional!("image_ref", r.image_ref);
            }
            Body::SensorReading(s) => {
                map.serialize_entry("quantity", &s.quantity)?;
                map.serialize_entry("value", &s.value)?;
                map.serialize_entry("unit", &s.unit)?;
            }
            Body::Gunshot(g) => {
                map.serialize_entry("rounds", &g.rounds)?;
                optional!("confidence", g.confidence);
                optional!("bearing_deg", g.bearing_deg);
            }
            Body::Incident(i) => {
                map.serialize_entry("incident_id", &i.incident_id)?;
                map.serialize_entry("type_code", &i.type_code)?;
                optional!("priority", i.priority);
                optional!("status", i.status);
                optional!("address", i.address);
            }
            Body::VideoEvent(v) => {
                map.serialize_entry("label", v.label.as_str())?;
                map.serialize_entry("count", &v.count)?;
            }
        }
        map.end()
    }
}
