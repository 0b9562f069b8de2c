//! Genetec AutoVu SharpV XML exports (the spool folder).
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let registry = common::registry();
    let file = glasshouse_ingest::sources::sharpv::decode(data, &registry, common::received_at());
    assert!(file.batch.observations.len() + file.batch.errors.len() <= 1, "one file is one read or one refusal");
});
