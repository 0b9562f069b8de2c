//! `/v1/sinks`: where alerts are delivered outside, how that is going, and what was given up on.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

/// Outbound alert sinks and their counters.
///
/// Signed webhooks, NATS subjects and MQTT topics (`serve --sinks FILE` and approved sharing changes), each with
/// delivered, failed attempts, dead-lettered, skipped by its filter, pending, the last delivery's latency and the
/// last error. Targets are shown without secrets.
#[utoipa::path(
    get,
    path = "/v1/sinks",
    responses((status = 200, description = "`{sinks: [...]}`")),
)]
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

/// Alerts a sink gave up on, oldest first.
///
/// Refused by the far end, or failing past the give-up time; each with the reason and the attempts made.
#[utoipa::path(
    get,
    path = "/v1/sinks/{name}/dead_letters",
    params(("name" = String, Path, description = "the sink's name")),
    responses((status = 200, description = "`{sink, dead_letters}`"), (status = 404, description = "no such sink")),
)]
pub async fn dead_letters(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let letters =
        state.sharing.dead_letters(&name).ok_or_else(|| ApiError::not_found(format!("no sink {name}")))?.map_err(ApiError::internal)?;
    Ok(Json(json!({ "sink": name, "dead_letters": letters })))
}
