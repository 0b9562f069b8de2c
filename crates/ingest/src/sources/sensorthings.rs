//! OGC SensorThings-style observations, as sensor gateways publish them over MQTT: a message on
//! `…/Datastreams(<id>)/Observations` carrying `{"phenomenonTime": "...", "result": <number>}`.
//!
//! A datastream names neither a device nor a quantity, so the deployment maps each one it accepts
//! to a `(device_id, quantity, unit)` in a JSON file:
//! `{"datastreams": {"17": {"device_id": "rad-3", "quantity": "gamma_dose_rate", "unit": "uSv/h"}}}`.
//! A message on an unmapped datastream is refused and dead-lettered with its topic, so a gateway
//! that grows a new sensor is noticed rather than guessed at.
//!
//! `phenomenonTime` is an instant, or an interval `start/end` whose end is taken (the reading
//! describes the interval that ended then). `@iot.id`, when present, becomes the observation id;
//! otherwise the id is a hash of the content, so a redelivered message is a duplicate.

use crate::decode::{Batch, LineError, RAW_BYTES_KEPT_MAX};
use glasshouse_model::limits::RECORD_BYTES_MAX;
use glasshouse_model::{DeviceRegistry, RawRecord, Timestamp, validate};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// What one datastream is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datastream {
    /// The registered sensor that reports it.
    pub device_id: String,
    /// The quantity, e.g. `gamma_dose_rate`.
    pub quantity: String,
    /// Its unit, e.g. `uSv/h`.
    pub unit: String,
}

/// The deployment's table of datastreams.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datastreams {
    /// By datastream id, as it appears in the topic.
    pub datastreams: HashMap<String, Datastream>,
}

impl Datastreams {
    /// Parses the table's JSON file.
    pub fn parse(text: &str) -> Result<Datastreams, String> {
        serde_json::from_str(text).map_err(|e| format!("datastreams file: {e}"))
    }
}

/// The datastream id in a SensorThings observations topic, if the topic is one.
pub fn datastream_of(topic: &str) -> Option<&str> {
    let rest = topic.strip_suffix("/Observations")?;
    let open = rest.rfind("Datastreams(")?;
    let id = rest[open + "Datastreams(".len()..].strip_suffix(')')?;
    (!id.is_empty() && !rest[..open].ends_with(|c: char| c.is_alphanumeric())).then_some(id.trim_matches('\''))
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "phenomenonTime")]
    phenomenon_time: String,
    result: f64,
    #[serde(rename = "@iot.id", default)]
    id: Option<serde_json::Value>,
}

/// Decodes one message on a datastream topic: one reading, or one refusal (line 1).
pub fn decode(datastream: &str, payload: &[u8], table: &Datastreams, registry: &DeviceRegistry, received_at: Timestamp) -> Batch {
    let mut batch = Batch::default();
    match reading(datastream, payload, table, registry, received_at) {
        Ok(observation) => batch.observations.push((1, observation)),
        Err(error) => batch.errors.push(LineError {
            line: 1,
            error,
            raw: String::from_utf8_lossy(&payload[..payload.len().min(RAW_BYTES_KEPT_MAX)]).into_owned(),
        }),
    }
    batch
}

fn reading(
    datastream: &str,
    payload: &[u8],
    table: &Datastreams,
    registry: &DeviceRegistry,
    received_at: Timestamp,
) -> Result<glasshouse_model::Observation, String> {
    let mapped = table.datastreams.get(datastream).ok_or_else(|| format!("datastream {datastream:?} is not mapped to a device"))?;
    if payload.len() > RECORD_BYTES_MAX {
        return Err(format!("message is {} bytes, limit is {RECORD_BYTES_MAX}", payload.len()));
    }
    let text = std::str::from_utf8(payload).map_err(|e| format!("message is not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let message: Message = serde_json::from_str(text).map_err(|e| format!("invalid SensorThings observation: {e}"))?;
    let instant = message.phenomenon_time.rsplit('/').next().unwrap_or_default();
    let id = message.id.map(|id| match id {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    });
    let raw = RawRecord {
        id: id.map(|id| Cow::Owned(format!("sta:{datastream}:{id}"))),
        kind: Some(Cow::Borrowed("sensor_reading")),
        device_id: Some(Cow::Borrowed(&mapped.device_id)),
        observed_at: Some(Cow::Borrowed(instant)),
        quantity: Some(Cow::Borrowed(&mapped.quantity)),
        value: Some(message.result),
        unit: Some(Cow::Borrowed(&mapped.unit)),
        ..RawRecord::default()
    };
    validate(&raw, registry, received_at).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Device, DeviceType};
    use proptest::prelude::*;

    fn table() -> Datastreams {
        Datastreams::parse(r#"{"datastreams": {"17": {"device_id": "rad-3", "quantity": "gamma_dose_rate", "unit": "uSv/h"}}}"#).unwrap()
    }

    fn registry() -> DeviceRegistry {
        let mut r = DeviceRegistry::new();
        r.upsert(Device::fixed("rad-3", DeviceType::Sensor, 60.2, 24.9));
        r
    }

    #[test]
    fn topics_name_their_datastream() {
        assert_eq!(datastream_of("v1.1/Datastreams(17)/Observations"), Some("17"));
        assert_eq!(datastream_of("city/sta/Datastreams('rad-a')/Observations"), Some("rad-a"));
        assert_eq!(datastream_of("Datastreams(17)/Observations"), Some("17"));
        assert_eq!(datastream_of("v1.1/Datastreams(17)/Things"), None);
        assert_eq!(datastream_of("glasshouse/observations"), None);
        assert_eq!(datastream_of("v1.1/Datastreams()/Observations"), None);
    }

    #[test]
    fn a_message_becomes_a_reading_of_its_mapped_sensor() {
        let now = Timestamp::now();
        let at = now.plus_secs(-60);
        let payload = format!(r#"{{"phenomenonTime": "{}/{}", "result": 0.31}}"#, at.plus_secs(-60).to_rfc3339(), at.to_rfc3339());
        let batch = decode("17", payload.as_bytes(), &table(), &registry(), now);
        assert!(batch.errors.is_empty(), "{:?}", batch.errors);
        let reading = &batch.observations[0].1;
        assert_eq!((reading.device_id.as_str(), reading.observed_at), ("rad-3", at));
        match &reading.body {
            glasshouse_model::Body::SensorReading(r) => {
                assert_eq!((r.quantity.as_str(), r.value, r.unit.as_str()), ("gamma_dose_rate", 0.31, "uSv/h"))
            }
            other => panic!("{other:?}"),
        }
        // The same message again has the same id: a duplicate, not a second reading.
        let again = decode("17", payload.as_bytes(), &table(), &registry(), now);
        assert_eq!(again.observations[0].1.id, reading.id);
        let with_id = format!(r#"{{"@iot.id": 991, "phenomenonTime": "{}", "result": 0.31}}"#, at.to_rfc3339());
        assert_eq!(decode("17", with_id.as_bytes(), &table(), &registry(), now).observations[0].1.id, "sta:17:991");
    }

    #[test]
    fn unmapped_streams_and_bad_messages_are_refused_with_a_reason() {
        let now = Timestamp::now();
        let unmapped = format!(r#"{{"phenomenonTime": "{}", "result": 1}}"#, now.plus_secs(-60).to_rfc3339());
        let cases: [(&str, &[u8], &str); 4] = [
            ("99", unmapped.as_bytes(), "datastream \"99\" is not mapped"),
            ("17", b"\xff\xfe", "not valid UTF-8"),
            ("17", br#"{"result": 1}"#, "missing field `phenomenonTime`"),
            ("17", br#"{"phenomenonTime": "yesterday", "result": 1}"#, "observed_at"),
        ];
        for (stream, payload, expected) in cases {
            let batch = decode(stream, payload, &table(), &registry(), now);
            assert!(batch.observations.is_empty());
            assert!(batch.errors[0].error.contains(expected), "{:?} for {expected}", batch.errors);
        }
    }

    proptest! {
        #[test]
        fn any_payload_decodes_to_one_reading_or_one_refusal(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let batch = decode("17", &payload, &table(), &registry(), Timestamp::now());
            prop_assert_eq!(batch.observations.len() + batch.errors.len(), 1);
        }
    }
}
