//! The plate dictionary's file (`segments/plates.dict`), read back at start.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| glasshouse_store::fuzzing::plate_dictionary(data));
