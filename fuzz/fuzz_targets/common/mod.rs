//! What the targets share: a registry with a device of each kind the decoders look up, and a fixed
//! receive time (the decoders refuse records too far from it, which the fuzzer can reach too).
#![allow(dead_code)]

use glasshouse_model::{Device, DeviceRegistry, DeviceType, Timestamp};

pub fn registry() -> DeviceRegistry {
    let mut registry = DeviceRegistry::new();
    registry.upsert(Device::fixed("lpr-17", DeviceType::PlateReader, 60.17, 24.94));
    registry.upsert(Device::fixed("rad-3", DeviceType::Sensor, 60.2, 24.9));
    registry.upsert(Device::fixed("sharpv:SHARP12345", DeviceType::PlateReader, 45.5, -73.6));
    registry.upsert(Device::fixed(glasshouse_ingest::sources::openalpr::device_id("1414799424"), DeviceType::PlateReader, 40.75, -73.99));
    registry.upsert(Device::mobile(glasshouse_ingest::sources::openalpr::device_id("77"), DeviceType::PlateReader));
    registry.upsert(Device::fixed("toronto-mci", DeviceType::Cad, 43.7, -79.4));
    registry
}

pub fn received_at() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-27T21:00:00Z").expect("a fixed time")
}

/// Every refused line names a line of the input, and every accepted one too.
pub fn check_lines(batch: &glasshouse_ingest::Batch, lines: usize) {
    for (line, _) in &batch.observations {
        assert!(*line >= 1 && *line as usize <= lines.max(1), "observation on line {line} of {lines}");
    }
    for error in &batch.errors {
        assert!(error.line >= 1 && error.line as usize <= lines.max(1), "error on line {} of {lines}", error.line);
    }
}
