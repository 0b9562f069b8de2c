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

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn whoami(Extension(account): Extension<Account>) -> Json<Account> {
    Json(account)
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi.json"))
}

/// Counts only: nothing personal, so every role may read it.
pub async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.app.status())
}

/// The purpose policy searches are held to, so forms can offer the allowed purposes.
pub async fn policy(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(serde_json::to_value(&state.policy).expect("policy serialises"))
}

/// The console's map settings: an online style URL when the deployment configured one.
pub async fn map_style(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "style_url": state.map_style }))
}

pub async fn basemap(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let body = match &state.basemap {
        Some(geojson) => geojson.as_ref().clone(),
        None => br#"{"type":"FeatureCollection","features":[]}"#.to_vec(),
    };
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body))
}

/// Who has access: every account with its role, whether it signs in with a second factor, and when
/// its first token was made. Never a token or its hash. Accounts change on the server's command
/// line (`glasshouse token …`), where each change is recorded for the audit log.
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

/// Each sensor's newest reading per quantity, for the live map: environmental values, nothing
/// personal, and no history (only the newest), so it needs no purpose.
pub async fn latest_readings(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "readings": state.store.latest_readings() }))
}
