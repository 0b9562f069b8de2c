//! `/v1/sinks`: where alerts are delivered outside, how that is going, and what was given up on.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let listed: Vec<Value> = state
        .sharing
        .statuses(state.alerts.len())
        .into_iter()
        .map(|(status, from_deployment)| {
            let mut status = serde_json::to_value(status).expect("statuses serialise");
            // Where the sink was configured: the deployment's file, or an approved sharing change.
            status["origin"] = json!(if from_deployment { "deployment" } else { "sharing_change" });
            status
        })
        .collect();
    Json(json!({ "sinks": listed }))
}

pub async fn dead_letters(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let letters =
        state.sharing.dead_letters(&name).ok_or_else(|| ApiError::not_found(format!("no sink {name}")))?.map_err(ApiError::internal)?;
    Ok(Json(json!({ "sink": name, "dead_letters": letters })))
}
