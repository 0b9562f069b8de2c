//! `/v1/sinks`: where alerts are delivered outside, how that is going, and what was given up on.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let raised = state.alerts.len();
    let sinks = state.sinks.lock().unwrap_or_else(|p| p.into_inner());
    let listed: Vec<Value> = sinks
        .iter()
        .map(|s| {
            let mut status = serde_json::to_value(s.status(raised)).expect("statuses serialise");
            // Where the sink was configured: the deployment's file, or an approved sharing change.
            let origin = if state.sharing.deployment.iter().any(|d| d == s.name()) { "deployment" } else { "sharing_change" };
            status["origin"] = json!(origin);
            status
        })
        .collect();
    Json(json!({ "sinks": listed }))
}

pub async fn dead_letters(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let sinks = state.sinks.lock().unwrap_or_else(|p| p.into_inner());
    let sink = sinks.iter().find(|s| s.name() == name).ok_or_else(|| ApiError::not_found(format!("no sink {name}")))?;
    let letters = sink.dead_letters().map_err(ApiError::internal)?;
    Ok(Json(json!({ "sink": name, "dead_letters": letters })))
}
