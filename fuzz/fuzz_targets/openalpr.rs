//! OpenALPR / Rekor agent webhooks (`POST /v1/ingest/openalpr`).
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let registry = common::registry();
    if let Ok(webhook) = glasshouse_ingest::sources::openalpr::decode(data, &registry, common::received_at()) {
        for (_, observation) in &webhook.batch.observations {
            assert!(!observation.id.is_empty());
        }
    }
});
