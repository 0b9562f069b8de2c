//! Search results as files an investigator takes away: CSV and GeoJSON. An export is a search of
//! its own in the audit log (`export.plates`, `export.area`), with the same purpose gate, so the
//! log and the transparency report tell exports apart from on-screen searches.

use crate::error::ApiError;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// How results are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The API's JSON page (not an export).
    Json,
    /// Comma-separated values, one observation per row.
    Csv,
    /// A GeoJSON FeatureCollection of points.
    GeoJson,
}

impl Format {
    /// Parses the request's `format` field.
    pub fn parse(value: Option<&str>) -> Result<Format, ApiError> {
        match value {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("geojson") => Ok(Format::GeoJson),
            Some(other) => Err(ApiError::bad_field("format", format!("{other:?}: use json, csv or geojson"))),
        }
    }
}

/// Columns every export starts with; the kind-specific ones follow in name order.
const LEADING_COLUMNS: [&str; 7] = ["id", "kind", "device_id", "observed_at", "received_at", "lat", "lon"];

/// Observations (flat JSON objects) as CSV, with the audit entry's number in the file name.
pub fn csv(observations: &[Value], audit_seq: u64, next_cursor: Option<String>) -> Result<Response, ApiError> {
    let bytes = csv_bytes(observations)?;
    Ok(file(bytes, "text/csv; charset=utf-8", &format!("glasshouse-export-{audit_seq}.csv"), audit_seq, next_cursor))
}

fn csv_bytes(observations: &[Value]) -> Result<Vec<u8>, ApiError> {
    let mut extra: Vec<&str> = observations
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().map(String::as_str))
        .filter(|k| !LEADING_COLUMNS.contains(k))
        .collect();
    extra.sort_unstable();
    extra.dedup();
    let columns: Vec<&str> = LEADING_COLUMNS.iter().copied().chain(extra).collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&columns).map_err(ApiError::internal)?;
    for observation in observations {
        let row = columns.iter().map(|c| match observation.get(*c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
        writer.write_record(row).map_err(ApiError::internal)?;
    }
    writer.into_inner().map_err(ApiError::internal)
}

/// Observations as a GeoJSON FeatureCollection: each a point, its other fields as properties.
pub fn geojson(observations: &[Value], audit_seq: u64, next_cursor: Option<String>) -> Response {
    let features: Vec<Value> = observations
        .iter()
        .filter_map(Value::as_object)
        .map(|o| {
            let properties: Map<String, Value> = o.iter().filter(|(k, _)| *k != "lat" && *k != "lon").map(|(k, v)| (k.clone(), v.clone())).collect();
            json!({ "type": "Feature", "geometry": { "type": "Point", "coordinates": [o.get("lon"), o.get("lat")] }, "properties": properties })
        })
        .collect();
    let body = json!({ "type": "FeatureCollection", "features": features, "audit_seq": audit_seq });
    let bytes = serde_json::to_vec(&body).expect("JSON values serialise");
    file(bytes, "application/geo+json", &format!("glasshouse-export-{audit_seq}.geojson"), audit_seq, next_cursor)
}

fn file(bytes: Vec<u8>, content_type: &str, name: &str, audit_seq: u64, next_cursor: Option<String>) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))],
        bytes,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-audit-seq", audit_seq.into());
    if let Some(cursor) = next_cursor.and_then(|c| c.parse().ok()) {
        headers.insert("x-next-cursor", cursor);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_fixed_leading_columns_then_the_rest_and_quotes_what_needs_it() {
        let rows = vec![
            json!({"id": "r1", "kind": "plate_read", "device_id": "lpr-1", "observed_at": "2026-11-27T10:00:00Z", "lat": 60.1, "lon": 24.9, "plate": "ABC123", "candidates": [{"plate": "A8C123"}]}),
            json!({"id": "s1", "kind": "sensor_reading", "device_id": "rad-1", "observed_at": "2026-11-27T10:01:00Z", "lat": 60.2, "lon": 24.8, "quantity": "gamma_dose_rate", "value": 0.12, "unit": "uSv/h"}),
        ];
        let text = String::from_utf8(csv_bytes(&rows).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id,kind,device_id,observed_at,received_at,lat,lon,candidates,plate,quantity,unit,value");
        assert_eq!(lines[1], r#"r1,plate_read,lpr-1,2026-11-27T10:00:00Z,,60.1,24.9,"[{""plate"":""A8C123""}]",ABC123,,,"#);
        assert_eq!(lines[2], "s1,sensor_reading,rad-1,2026-11-27T10:01:00Z,,60.2,24.8,,,gamma_dose_rate,uSv/h,0.12");
        let response = csv(&rows, 42, Some("abc".into())).unwrap();
        assert_eq!(response.headers()["x-audit-seq"], "42");
        assert_eq!(response.headers()["x-next-cursor"], "abc");
        assert!(response.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().contains("glasshouse-export-42.csv"));
    }

    #[test]
    fn an_unknown_format_is_refused_by_field() {
        assert_eq!(Format::parse(Some("xlsx")).unwrap_err().field.as_deref(), Some("format"));
        assert_eq!(Format::parse(None).unwrap(), Format::Json);
    }
}
