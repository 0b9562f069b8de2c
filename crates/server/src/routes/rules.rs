//! `/v1/rules`: threshold, geofence and correlation (situation) rules as data — created, listed, enabled and disabled; every
//! change audited. Hotlists are listed too (they are managed at `/v1/hotlists`).

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_app::catalog::{NewRule, correlation_json, geofence_json, silence_json, threshold_json};
use glasshouse_engine::metrics::Family;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enabled {
    /// True to put the rule in force, false to stop it reporting.
    enabled: bool,
}

/// Creates a rule: a threshold, a geofence or a situation rule.
///
/// `type` names the kind. Audited.
#[utoipa::path(
    post,
    path = "/v1/rules",
    request_body = NewRule,
    responses((status = 201, description = "`{rule}`"), (status = 400, description = "a bad field, named")),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewRule>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let created = tokio::task::spawn_blocking(move || state.create_rule(&account.actor(), request)).await.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "rule": created }))))
}

/// Rules, with their state and their counters since the server started.
///
/// Thresholds, geofences, situation (correlation) rules (the built-in `sit-default` included), device silence
/// rules and hotlists;
/// `metrics` holds evaluations and hits per rule, `families` the observations evaluated, alerts raised and time
/// spent per family (hotlists are evaluated as one index, so time is measured per family, not per list).
#[utoipa::path(
    get,
    path = "/v1/rules",
    responses((status = 200, description = "`{rules, families}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let engine = state.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
    let metrics = state.rule_metrics.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let plate_reads = metrics.family(Family::Hotlist).observations;
    let hotlists = engine.hotlists.lists().into_iter().map(|(l, n)| {
        let counters = metrics.rule(&l.id);
        json!({ "type": "hotlist", "id": l.id, "name": l.name, "match": l.match_policy, "entries": n, "enabled": true,
                "metrics": { "evaluations": plate_reads, "hits": counters.hits } })
    });
    let with_metrics = |mut rule: Value| {
        let counters = metrics.rule(rule["id"].as_str().unwrap_or_default());
        rule["metrics"] = json!(counters);
        rule
    };
    let thresholds = engine.thresholds.iter().map(threshold_json).map(with_metrics);
    let geofences = engine.geofences.rules().map(geofence_json).map(with_metrics);
    let correlations = engine.correlations.iter().map(correlation_json).map(with_metrics);
    let families: serde_json::Map<String, Value> = Family::ALL
        .iter()
        .map(|&family| {
            let (name, f) = (family.as_str(), metrics.family(family));
            let mean_ns = f.nanos.checked_div(f.observations).unwrap_or(0);
            (
                name.to_string(),
                json!({ "observations": f.observations, "alerts": f.alerts, "time_ms": f.nanos as f64 / 1e6, "mean_ns": mean_ns }),
            )
        })
        .collect();
    // Silence rules run on a clock, not per observation: they have no evaluation counters.
    let silences = engine.silences.iter().map(silence_json);
    let rules: Vec<Value> = thresholds.chain(geofences).chain(correlations).chain(silences).chain(hotlists).collect();
    Json(json!({ "rules": rules, "families": families }))
}

/// Enables or disables a rule.
///
/// Audited.
#[utoipa::path(
    post,
    path = "/v1/rules/{id}/enabled",
    params(("id" = String, Path, description = "the rule id")),
    request_body = Enabled,
    responses((status = 200, description = "`{rule}`"), (status = 404, description = "no such rule")),
)]
pub async fn set_enabled(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Enabled>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(Enabled { enabled }) = body?;
    let rule =
        tokio::task::spawn_blocking(move || state.set_rule_enabled(&account.actor(), &id, enabled)).await.map_err(ApiError::internal)??;
    Ok(Json(json!({ "rule": rule })))
}
