//! Health, identity, status, the OpenAPI document and the basemap.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{Value, json};
use std::sync::Arc;

/// Liveness; no token needed.
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")),
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Who is calling, and how the console treats the session.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The account.
    #[serde(flatten)]
    pub account: Account,
    /// Minutes without input after which the console locks itself and asks for the token again.
    pub console_idle_lock_minutes: f64,
}

/// The caller's account and role, and the console's idle lock.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    responses((status = 200, description = "the account", body = WhoAmI)),
)]
pub async fn whoami(State(state): State<Arc<AppState>>, Extension(account): Extension<Account>) -> Json<WhoAmI> {
    Json(WhoAmI { account, console_idle_lock_minutes: state.console_idle_lock_minutes })
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1, generated from the handlers and the route table")),
)]
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::json())
}

/// Counts: devices, hotlists, alerts, segments, stored observations, ingest per source.
///
/// Counts only, nothing personal, so every role may read it.
#[utoipa::path(
    get,
    path = "/v1/status",
    responses((status = 200, description = "the counts")),
)]
pub async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.app.status())
}

/// Metrics in Prometheus's text format.
///
/// Counts and timings only (ingest by source and outcome, WAL commits, the hot path's lag and its
/// time per rule family, alerts, sinks, searches, audit appends, flushes, compactions, purges);
/// no label names a plate, a person, a place or a device. For the `metrics` role, which sees
/// nothing else.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "text/plain; version=0.0.4")),
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let text = tokio::task::spawn_blocking(move || crate::metrics::render(&state.app)).await.map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// The purpose policy searches are held to.
///
/// Allowed and prohibited purposes, the case number pattern, the justification rules and the limits past which a
/// search is broad, so forms can offer the allowed purposes.
#[utoipa::path(
    get,
    path = "/v1/policy",
    responses((status = 200, description = "the policy")),
)]
pub async fn policy(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(serde_json::to_value(&state.policy).expect("policy serialises"))
}

/// The console's map settings.
///
/// `{style_url}`: an online MapLibre style the city's roads are drawn over (`serve --map-style`), or null to stay
/// offline.
#[utoipa::path(
    get,
    path = "/v1/map/style",
    responses((status = 200, description = "`{style_url}`")),
)]
pub async fn map_style(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "style_url": state.map_style }))
}

/// The city's road network as GeoJSON.
#[utoipa::path(
    get,
    path = "/v1/basemap",
    responses((status = 200, description = "a GeoJSON FeatureCollection (application/geo+json); empty when the deployment has none")),
)]
pub async fn basemap(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let body = match &state.basemap {
        Some(geojson) => geojson.as_ref().clone(),
        None => br#"{"type":"FeatureCollection","features":[]}"#.to_vec(),
    };
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body))
}

/// Who has access.
///
/// Each account's name, role, whether it signs in with a TOTP second factor, its number of tokens and when the
/// first was made. Never a token or a hash. Accounts change with `glasshouse token` on the server, and each
/// change reaches the audit log.
#[utoipa::path(
    get,
    path = "/v1/accounts",
    responses((status = 200, description = "`{accounts: [{name, role, second_factor, created_at, tokens}]}`")),
)]
pub async fn accounts(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let enrolled = state.second_factor.enrolled_accounts();
    // One row per account (tokens are listed oldest first, so the first gives `created_at`).
    let mut accounts: Vec<Value> = Vec::new();
    for (account, created_at) in state.tokens.accounts().map_err(ApiError::internal)? {
        match accounts.iter_mut().find(|a| a["name"] == account.name.as_str()) {
            Some(row) => row["tokens"] = json!(row["tokens"].as_u64().unwrap_or(0) + 1),
            None => accounts.push(json!({
                "name": account.name, "role": account.role, "second_factor": enrolled.contains(&account.name),
                "created_at": created_at, "tokens": 1,
            })),
        }
    }
    Ok(Json(json!({ "accounts": accounts })))
}

/// Each sensor's newest reading per quantity, for the live map.
///
/// Only the newest value, nothing personal, so no purpose is asked; empty after a restart until the sensors
/// report again.
#[utoipa::path(
    get,
    path = "/v1/sensors/latest",
    responses((status = 200, description = "`{readings: [{device_id, quantity, value, unit, observed_at}]}`")),
)]
pub async fn latest_readings(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "readings": state.store.latest_readings() }))
}
