//! Device registration and listing.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_app::Action;
use glasshouse_model::{Device, Timestamp};
use glasshouse_store::CatalogEvent;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn put_device(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Device>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    let Json(mut device) = body?;
    device.id = id;
    device.validate().map_err(|e| ApiError::bad_field(e.field, e.to_string()))?;
    let state_for_write = state.clone();
    let stored = device.clone();
    let created = tokio::task::spawn_blocking(move || -> Result<bool, ApiError> {
        let mut catalog = state_for_write.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let created = catalog.devices.get(&device.id).is_none();
        let details = json!({ "device_id": device.id, "type": device.device_type.as_str(), "mobile": device.mobile, "created": created });
        state_for_write.audit(&account, Action::DeviceUpsert, "ok", details)?;
        catalog.record(CatalogEvent::DeviceUpserted { device, actor: account.name, at: Timestamp::now() }).map_err(ApiError::internal)?;
        *state_for_write.devices.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog.devices.clone());
        Ok(created)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(stored)))
}

pub async fn list_devices(State(state): State<Arc<AppState>>) -> Json<Value> {
    let devices = state.devices();
    Json(json!({ "devices": devices.sorted() }))
}
