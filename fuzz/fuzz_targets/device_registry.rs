//! Device registries imported as CSV or GeoJSON (`glasshouse devices import`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for devices in [glasshouse_ingest::sources::devices::from_csv(data), glasshouse_ingest::sources::devices::from_geojson(data)] {
        if let Ok(devices) = devices {
            for device in devices {
                assert!(!device.id.is_empty());
            }
        }
    }
});
