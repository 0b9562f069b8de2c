//! Hotlist imports as CSV (`POST /v1/hotlists/{id}/entries` with text/csv).
#![no_main]
use glasshouse_engine::rules::hotlist_csv::{CsvError, entries_from_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match entries_from_csv(data, 50) {
        Ok(entries) => assert!(entries.len() <= 50),
        Err(CsvError::Bad { line, .. }) => assert!(line >= 1),
        Err(CsvError::TooMany(max)) => assert_eq!(max, 50),
    }
});
