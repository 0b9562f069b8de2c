//! `/v1/rules`: threshold, geofence and correlation (situation) rules as data — created, listed, enabled and disabled; every
//! change audited. Hotlists are listed too (they are managed at `/v1/hotlists`).

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_app::Action;
use glasshouse_engine::metrics::Family;
use glasshouse_engine::{CorrelationRule, GeofenceRule, NewCorrelationRule, NewGeofenceRule, NewThresholdRule, ThresholdRule};
use glasshouse_store::CatalogEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// A rule to create; `type` names the kind of rule.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NewRule {
    /// A sensor threshold with hysteresis.
    Threshold(NewThresholdRule),
    /// A geofence with enter/exit/inside/dwell triggers and hysteresis.
    Geofence(NewGeofenceRule),
    /// A correlation: what opens a situation, and the windows of its context.
    Situation(NewCorrelationRule),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enabled {
    enabled: bool,
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewRule>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let bad = |e: glasshouse_engine::RuleError| ApiError::bad_field(e.field, e.to_string());
    let (event, created) = match request {
        NewRule::Threshold(request) => {
            let rule = request.into_rule(super::new_id("th")).map_err(bad)?;
            (CatalogEvent::RuleCreated { rule: rule.clone(), actor: account.name.clone() }, threshold_json(&rule))
        }
        NewRule::Geofence(request) => {
            let rule = request.into_rule(super::new_id("gf")).map_err(bad)?;
            (CatalogEvent::GeofenceCreated { rule: rule.clone(), actor: account.name.clone() }, geofence_json(&rule))
        }
        NewRule::Situation(request) => {
            let rule = request.into_rule(super::new_id("sit")).map_err(bad)?;
            (CatalogEvent::CorrelationCreated { rule: rule.clone(), actor: account.name.clone() }, correlation_json(&rule))
        }
    };
    let audited = created.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut catalog = state.catalog.lock().unwrap_or_else(|p| p.into_inner());
        state.audit(&account, Action::RuleCreate, "ok", json!({ "rule": audited }))?;
        catalog.record(event).map_err(ApiError::internal)?;
        state.publish_catalog(&catalog);
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "rule": created }))))
}

fn threshold_json(rule: &ThresholdRule) -> Value {
    let mut value = serde_json::to_value(rule).expect("rules serialise");
    value["type"] = json!("threshold");
    value
}

fn correlation_json(rule: &CorrelationRule) -> Value {
    let mut value = serde_json::to_value(rule).expect("rules serialise");
    value["type"] = json!("situation");
    value
}

fn geofence_json(rule: &GeofenceRule) -> Value {
    let mut value = serde_json::to_value(rule).expect("rules serialise");
    value["type"] = json!("geofence");
    value
}

/// Every rule with its counters since the server started, and each family's totals (time included:
/// hotlists are evaluated as one index, so time is measured per family, not per list).
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
    let rules: Vec<Value> = thresholds.chain(geofences).chain(correlations).chain(hotlists).collect();
    Json(json!({ "rules": rules, "families": families }))
}

pub async fn set_enabled(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Enabled>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(Enabled { enabled }) = body?;
    let rule = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let mut catalog = state.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let known = catalog.thresholds.iter().any(|r| r.id == id)
            || catalog.geofences.get(&id).is_some()
            || catalog.correlations.iter().any(|r| r.id == id);
        if !known {
            return Err(ApiError::not_found(format!("no rule {id}")));
        }
        let action = if enabled { Action::RuleEnable } else { Action::RuleDisable };
        state.audit(&account, action, "ok", json!({ "rule_id": id }))?;
        catalog
            .record(CatalogEvent::RuleEnabled { rule_id: id.clone(), enabled, actor: account.name.clone() })
            .map_err(ApiError::internal)?;
        state.publish_catalog(&catalog);
        if let Some(rule) = catalog.thresholds.iter().find(|r| r.id == id) {
            return Ok(threshold_json(rule));
        }
        if let Some(rule) = catalog.correlations.iter().find(|r| r.id == id) {
            return Ok(correlation_json(rule));
        }
        Ok(geofence_json(catalog.geofences.get(&id).expect("checked above")))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "rule": rule })))
}
