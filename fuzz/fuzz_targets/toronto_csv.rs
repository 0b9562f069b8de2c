//! Toronto Police MCI open-data CSV (`glasshouse ingest --format toronto-mci`).
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let registry = common::registry();
    let mut last = 0;
    glasshouse_ingest::sources::toronto::read(data, &registry, common::received_at(), |row| {
        let line = match &row {
            Ok((line, _)) => *line,
            Err(error) => error.line,
        };
        assert!(line > last, "rows come in order, each with its own line ({line} after {last})");
        last = line;
    });
});
