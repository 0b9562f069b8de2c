//! OGC SensorThings observations over MQTT: the topic, then the message.
#![no_main]
mod common;
use glasshouse_ingest::sources::sensorthings::{Datastreams, datastream_of, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let table = Datastreams::parse(r#"{"datastreams": {"17": {"device_id": "rad-3", "quantity": "gamma_dose_rate", "unit": "uSv/h"}}}"#)
        .expect("a fixed table");
    let registry = common::registry();
    // The first line is the topic, the rest the payload.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let topic = String::from_utf8_lossy(&data[..split]);
    let payload = data.get(split + 1..).unwrap_or_default();
    let datastream = datastream_of(&topic).unwrap_or("17");
    let batch = decode(datastream, payload, &table, &registry, common::received_at());
    assert_eq!(batch.observations.len() + batch.errors.len(), 1, "one message is one reading or one refusal");
});
