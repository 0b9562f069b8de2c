//! `/v1/rules`: threshold and geofence rules as data — created, listed, enabled and disabled; every
//! change audited. Hotlists are listed too (they are managed at `/v1/hotlists`).

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_engine::{GeofenceRule, NewGeofenceRule, NewThresholdRule, ThresholdRule};
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
    };
    let audited = created.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut catalog = state.catalog.lock().unwrap_or_else(|p| p.into_inner());
        state.audit(&account, "rule.create", "ok", json!({ "rule": audited }))?;
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

fn geofence_json(rule: &GeofenceRule) -> Value {
    let mut value = serde_json::to_value(rule).expect("rules serialise");
    value["type"] = json!("geofence");
    value
}

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let engine = state.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
    let hotlists: Vec<Value> = engine
        .hotlists
        .lists()
        .into_iter()
        .map(|(l, n)| json!({ "type": "hotlist", "id": l.id, "name": l.name, "match": l.match_policy, "entries": n, "enabled": true }))
        .collect();
    let thresholds = engine.thresholds.iter().map(threshold_json);
    let geofences = engine.geofences.rules().map(geofence_json);
    Json(json!({ "rules": thresholds.chain(geofences).chain(hotlists).collect::<Vec<_>>() }))
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
        if !catalog.thresholds.iter().any(|r| r.id == id) && catalog.geofences.get(&id).is_none() {
            return Err(ApiError::not_found(format!("no rule {id}")));
        }
        let action = if enabled { "rule.enable" } else { "rule.disable" };
        state.audit(&account, action, "ok", json!({ "rule_id": id }))?;
        catalog
            .record(CatalogEvent::RuleEnabled { rule_id: id.clone(), enabled, actor: account.name.clone() })
            .map_err(ApiError::internal)?;
        state.publish_catalog(&catalog);
        Ok(match catalog.thresholds.iter().find(|r| r.id == id) {
            Some(rule) => threshold_json(rule),
            None => geofence_json(catalog.geofences.get(&id).expect("checked above")),
        })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "rule": rule })))
}
