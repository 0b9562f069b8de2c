//! NDJSON observations (`POST /v1/observations`, spooled files, broker messages).
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let registry = common::registry();
    if let Ok(batch) = glasshouse_ingest::decode_ndjson(data, &registry, common::received_at()) {
        let lines = data.split(|&b| b == b'\n').count();
        common::check_lines(&batch, lines);
        // A good record is never dropped silently: every line is accepted, refused or blank.
        let blank = data.split(|&b| b == b'\n').filter(|l| l.iter().all(u8::is_ascii_whitespace)).count();
        assert!(batch.observations.len() + batch.errors.len() + blank >= lines, "a line went missing");
    }
    let _ = glasshouse_ingest::gunzip(data, 1 << 20);
});
