//! The point reader's decoders of Parquet data pages (header, codecs, delta and hybrid runs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| glasshouse_store::fuzzing::page_decoders(data));
