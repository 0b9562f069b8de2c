//! GeoJSON areas: geofences and area searches.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(area) = glasshouse_engine::rules::geofence::shape::parse_geojson_area(&value) {
        assert!(!area.0.is_empty(), "an accepted area has a polygon");
    }
});
