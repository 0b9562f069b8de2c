//! A segment's plate index (`.plates`), read back from disk.
#![no_main]
use glasshouse_store::plate_index::PlateIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = PlateIndex::from_bytes(data) else { return };
    let mut keys = Vec::new();
    index.each_key(|key| keys.push(key.to_vec()));
    assert_eq!(keys.len(), index.keys());
    let mut rows = Vec::new();
    for key in keys.iter().take(64) {
        rows.clear();
        let _ = index.rows_exact(&String::from_utf8_lossy(key), &mut rows);
    }
    let _ = index.each_listed(&keys[..keys.len().min(64)], |_, _| {});
});
