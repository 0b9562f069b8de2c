//! A city's device registry in bulk, as a city engineer exports it: CSV or GeoJSON.
//!
//! - **CSV**: a header naming `id` and `type`, and any of `lat`, `lon`, `mobile`, `bearing_deg`,
//!   `fov_deg`, `range_m`, `name`, in any order; empty cells are absent values. Line numbers count
//!   the header as line 1, as a spreadsheet does.
//! - **GeoJSON**: a FeatureCollection of Point features, each with `id` and `type` among its
//!   properties (or the feature's own `id`), and the same optional properties; a feature without a
//!   geometry is a mobile device. Features are numbered from 1.
//!
//! Every row is checked as a registration on its own (`Device::validate`); the first bad row is
//! named and nothing is imported, because a registry half-loaded is worse than a clear error.

use glasshouse_model::{Device, DeviceType};
use serde_json::Value;

/// The most devices one import may carry.
pub const DEVICES_PER_IMPORT_MAX: usize = 100_000;

/// The first bad row: where, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{place} {number}: {reason}")]
pub struct ImportError {
    /// `line` (CSV) or `feature` (GeoJSON).
    pub place: &'static str,
    /// Its number.
    pub number: u64,
    /// What is wrong.
    pub reason: String,
}

/// Reads a CSV export.
pub fn from_csv(body: &[u8]) -> Result<Vec<Device>, ImportError> {
    let at = |number: u64, reason: String| ImportError { place: "line", number, reason };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| at(1, e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id), Some(kind)) = (column("id"), column("type")) else {
        return Err(at(1, "the header must name id and type (and may name lat, lon, mobile, bearing_deg, fov_deg, range_m, name)".into()));
    };
    let known = ["id", "type", "lat", "lon", "mobile", "bearing_deg", "fov_deg", "range_m", "name"];
    if let Some(unknown) = headers.iter().find(|h| !known.iter().any(|k| h.eq_ignore_ascii_case(k))) {
        return Err(at(1, format!("unknown column {unknown:?}")));
    }
    let mut devices = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        let record = record.map_err(|e| at(line, e.to_string()))?;
        let cell = |name: &str| column(name).and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        let number = |name: &'static str| -> Result<Option<f64>, ImportError> {
            cell(name).map(|v| v.parse::<f64>().map_err(|_| at(line, format!("{name} {v:?} is not a number")))).transpose()
        };
        let device_type = device_type(record.get(kind).unwrap_or_default()).map_err(|reason| at(line, reason))?;
        let mobile = match cell("mobile") {
            None => false,
            Some(v) if ["true", "yes", "1"].iter().any(|t| v.eq_ignore_ascii_case(t)) => true,
            Some(v) if ["false", "no", "0"].iter().any(|t| v.eq_ignore_ascii_case(t)) => false,
            Some(v) => return Err(at(line, format!("mobile {v:?} is not true or false"))),
        };
        let device = Device {
            id: record.get(id).unwrap_or_default().to_owned(),
            device_type,
            lat: number("lat")?,
            lon: number("lon")?,
            mobile,
            bearing_deg: number("bearing_deg")?,
            fov_deg: number("fov_deg")?,
            range_m: number("range_m")?,
            name: cell("name").map(str::to_owned),
        };
        devices.push(checked(device).map_err(|reason| at(line, reason))?);
        if devices.len() > DEVICES_PER_IMPORT_MAX {
            return Err(at(line, format!("more than {DEVICES_PER_IMPORT_MAX} devices; split the file")));
        }
    }
    Ok(devices)
}

/// Reads a GeoJSON FeatureCollection.
pub fn from_geojson(body: &[u8]) -> Result<Vec<Device>, ImportError> {
    let at = |number: u64, reason: String| ImportError { place: "feature", number, reason };
    let collection: Value = serde_json::from_slice(body).map_err(|e| at(0, format!("invalid JSON: {e}")))?;
    if collection["type"] != "FeatureCollection" {
        return Err(at(0, "expected a GeoJSON FeatureCollection".into()));
    }
    let features = collection["features"].as_array().ok_or_else(|| at(0, "features must be an array".into()))?;
    if features.len() > DEVICES_PER_IMPORT_MAX {
        return Err(at(0, format!("more than {DEVICES_PER_IMPORT_MAX} devices; split the file")));
    }
    features.iter().enumerate().map(|(index, feature)| from_feature(feature).map_err(|reason| at(index as u64 + 1, reason))).collect()
}

fn from_feature(feature: &Value) -> Result<Device, String> {
    let mut properties = match &feature["properties"] {
        Value::Object(map) => map.clone(),
        Value::Null => Default::default(),
        _ => return Err("properties must be an object".into()),
    };
    // The feature's own id stands in for a missing `id` property.
    if !properties.contains_key("id")
        && let Some(id) = feature.get("id")
    {
        properties.insert("id".into(), Value::String(id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string())));
    }
    match &feature["geometry"] {
        Value::Null => {}
        geometry if geometry["type"] == "Point" => {
            let coordinates = geometry["coordinates"].as_array().filter(|c| c.len() >= 2).ok_or("a Point needs [lon, lat]")?;
            properties.insert("lon".into(), coordinates[0].clone());
            properties.insert("lat".into(), coordinates[1].clone());
        }
        geometry => return Err(format!("geometry {} is not a Point", geometry["type"])),
    }
    let device: Device = serde_json::from_value(Value::Object(properties)).map_err(|e| e.to_string())?;
    checked(device)
}

fn device_type(name: &str) -> Result<DeviceType, String> {
    serde_json::from_value(Value::String(name.to_owned()))
        .map_err(|_| format!("type {name:?} is not one of plate_reader, camera, sensor, gunshot_array, cad"))
}

fn checked(device: Device) -> Result<Device, String> {
    device.validate().map_err(|e| e.to_string())?;
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_export_reads_in_any_column_order_with_empty_cells_absent() {
        let csv = "type,id,lat,lon,bearing_deg,fov_deg,range_m,name,mobile\n\
                   camera,cam-1,60.17,24.94,90,60,80,Mannerheimintie,\n\
                   plate_reader,car-7,,,,,,,true\n";
        let devices = from_csv(csv.as_bytes()).unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(
            (devices[0].id.as_str(), devices[0].bearing_deg, devices[0].name.as_deref()),
            ("cam-1", Some(90.0), Some("Mannerheimintie"))
        );
        assert!(devices[1].mobile && devices[1].lat.is_none());
    }

    #[test]
    fn the_first_bad_csv_row_is_named_by_its_line() {
        let cases = [
            ("id,kind\nx,camera\n", "line 1: the header must name id and type"),
            ("id,type,colour\nx,camera,red\n", "line 1: unknown column \"colour\""),
            ("id,type,lat,lon\nok-1,sensor,60,24\nbad-1,toaster,60,24\n", "line 3: type \"toaster\""),
            ("id,type,lat,lon\nok-1,sensor,60,24\nbad 2,sensor,60,24\n", "line 3: field `id`"),
            ("id,type,lat,lon\nok-1,sensor,sixty,24\n", "line 2: lat \"sixty\" is not a number"),
            ("id,type,lat,lon\nok-1,sensor,95,24\n", "line 2: field `lat`"),
            ("id,type,mobile\nok-1,sensor,perhaps\n", "line 2: mobile \"perhaps\""),
        ];
        for (csv, expected) in cases {
            let error = from_csv(csv.as_bytes()).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error:?} should start with {expected:?}");
        }
    }

    #[test]
    fn geojson_points_become_devices_and_bad_features_are_named() {
        let collection = r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "rad-1", "geometry": {"type": "Point", "coordinates": [24.9, 60.2]}, "properties": {"type": "sensor"}},
            {"type": "Feature", "geometry": null, "properties": {"id": "car-2", "type": "plate_reader", "mobile": true}}
        ]}"#;
        let devices = from_geojson(collection.as_bytes()).unwrap();
        assert_eq!((devices[0].id.as_str(), devices[0].lat, devices[0].lon), ("rad-1", Some(60.2), Some(24.9)));
        assert!(devices[1].mobile);
        let bad = r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "ok", "geometry": {"type": "Point", "coordinates": [24.9, 60.2]}, "properties": {"type": "sensor"}},
            {"type": "Feature", "id": "line", "geometry": {"type": "LineString", "coordinates": []}, "properties": {"type": "sensor"}}
        ]}"#;
        assert_eq!(from_geojson(bad.as_bytes()).unwrap_err().to_string(), "feature 2: geometry \"LineString\" is not a Point");
        assert!(from_geojson(b"[]").unwrap_err().to_string().contains("FeatureCollection"));
    }
}
