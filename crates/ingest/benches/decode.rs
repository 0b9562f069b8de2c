//! Decode + validate throughput: NDJSON plate reads through `decode_ndjson`, on one core.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glasshouse_ingest::decode_ndjson;
use glasshouse_model::{Device, DeviceRegistry, DeviceType, Timestamp};
use std::hint::black_box;

const RECORDS: usize = 10_000;

fn registry() -> DeviceRegistry {
    let mut registry = DeviceRegistry::new();
    for i in 0..100 {
        registry.upsert(Device::fixed(format!("lpr-{i:03}"), DeviceType::PlateReader, 60.16 + i as f64 * 1e-4, 24.93));
    }
    registry
}

/// Reads as a fixed reader sends them: device, time, plate, region, confidence (position from the
/// registry). `with_id` adds a producer id; without it, validation computes a content hash.
fn body(with_id: bool) -> Vec<u8> {
    let mut body = String::new();
    for i in 0..RECORDS {
        let id = if with_id { format!(r#""id":"r-{i}","#) } else { String::new() };
        body.push_str(&format!(
            r#"{{{id}"kind":"plate_read","device_id":"lpr-{:03}","observed_at":"2026-11-27T20:{:02}:{:02}.{:03}Z","plate":"ABC{:03}","region":"FI","confidence":0.91}}"#,
            i % 100,
            (i / 60) % 60,
            i % 60,
            i % 1000,
            i % 1000
        ));
        body.push('\n');
    }
    body.into_bytes()
}

fn decode(c: &mut Criterion) {
    let registry = registry();
    let now = Timestamp::parse_rfc3339("2026-11-27T21:00:00Z").unwrap();
    let mut group = c.benchmark_group("decode_validate");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, with_id) in [("plate_read_with_id", true), ("plate_read_content_hash", false)] {
        let body = body(with_id);
        group.bench_function(name, |b| {
            b.iter(|| {
                let batch = decode_ndjson(black_box(&body), &registry, now).unwrap();
                assert_eq!(batch.observations.len(), RECORDS);
                batch
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
