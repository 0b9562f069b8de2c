//! Device registration and listing.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_model::{Device, Timestamp};
use serde_json::{Value, json};
use std::sync::Arc;

/// Registers or changes a device.
///
/// Audited.
#[utoipa::path(
    put,
    path = "/v1/devices/{id}",
    params(("id" = String, Path, description = "the device id: 1..=64 letters, digits or . _ : -")),
    request_body = Device,
    responses((status = 201, description = "registered", body = Device), (status = 200, description = "changed", body = Device), (status = 400, description = "an inconsistent registration, the field named")),
)]
pub async fn put_device(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Device>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    let Json(mut device) = body?;
    device.id = id;
    let stored = device.clone();
    let created = tokio::task::spawn_blocking(move || state.upsert_device(&account.actor(), device, Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(stored)))
}

/// Registered devices, with when each was last heard from.
///
/// `last_observation_at` is the newest event time among its observations received since the server started,
/// `last_heartbeat_at` when its agent last vouched for it (OpenALPR heartbeats), and `heartbeat_position` where
/// a mobile agent last said it was.
#[utoipa::path(
    get,
    path = "/v1/devices",
    responses((status = 200, description = "`{devices: [Device with last_observation_at, last_heartbeat_at, heartbeat_position]}`")),
)]
pub async fn list_devices(State(state): State<Arc<AppState>>) -> Json<Value> {
    let (devices, mut seen) = (state.devices(), state.ingest.seen());
    let listed: Vec<Value> = devices
        .sorted()
        .into_iter()
        .map(|device| {
            let mut value = serde_json::to_value(device).expect("devices serialise");
            if let (Some(seen), Value::Object(fields)) = (seen.remove(&device.id), &mut value)
                && let Value::Object(health) = serde_json::to_value(seen).expect("health serialises")
            {
                fields.extend(health);
            }
            value
        })
        .collect();
    Json(json!({ "devices": listed }))
}

/// What a bulk import did.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    /// Devices registered for the first time.
    created: usize,
    /// Devices already registered, now changed.
    changed: usize,
}

/// Registers or changes many devices at once, all or nothing.
///
/// A CSV file (`Content-Type: text/csv`) with a header naming `id` and `type` and any of `lat`, `lon`, `mobile`,
/// `bearing_deg`, `fov_deg`, `range_m`, `name`; or a GeoJSON FeatureCollection of Point features with the same
/// properties. The first bad row is named by its line (CSV) or feature number (GeoJSON) and nothing is imported.
/// One audit entry for the batch.
#[utoipa::path(
    post,
    path = "/v1/devices/import",
    request_body(content(("text/csv"), (Object = "application/geo+json")), description = "CSV, or a GeoJSON FeatureCollection of Points"),
    responses((status = 200, description = "what was registered", body = ImportOutcome), (status = 400, description = "the first bad row, named"), (status = 413, description = "more than 100,000 devices")),
)]
pub async fn import_devices(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ImportOutcome>, ApiError> {
    use glasshouse_ingest::sources::devices;
    let body = body?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let parsed = if content_type.starts_with("text/csv") { devices::from_csv(&body) } else { devices::from_geojson(&body) };
    let parsed = parsed.map_err(|e| {
        if e.reason.starts_with("more than") {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        } else {
            ApiError::bad_field(if content_type.starts_with("text/csv") { "csv" } else { "geojson" }, e.to_string())
        }
    })?;
    let (created, changed) = tokio::task::spawn_blocking(move || state.import_devices(&account.actor(), parsed, Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(ImportOutcome { created, changed }))
}
