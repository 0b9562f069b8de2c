//! `/v1/rules`: threshold rules as data — created, listed, enabled and disabled; every change audited.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_engine::NewThresholdRule;
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
    let Json(NewRule::Threshold(request)) = body?;
    let rule = request.into_rule(super::new_id("th")).map_err(|e| ApiError::bad_field(e.field, e.to_string()))?;
    let created = rule.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut catalog = state.catalog.lock().unwrap_or_else(|p| p.into_inner());
        state.audit(&account, "rule.create", "ok", json!({ "rule": rule }))?;
        catalog.record(CatalogEvent::RuleCreated { rule, actor: account.name.clone() }).map_err(ApiError::internal)?;
        state.publish_catalog(&catalog);
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "rule": with_type(&created) }))))
}

fn with_type(rule: &glasshouse_engine::ThresholdRule) -> Value {
    let mut value = serde_json::to_value(rule).expect("rules serialise");
    value["type"] = json!("threshold");
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
    let thresholds: Vec<Value> = engine.thresholds.iter().map(with_type).collect();
    Json(json!({ "rules": thresholds.into_iter().chain(hotlists).collect::<Vec<_>>() }))
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
        if !catalog.thresholds.iter().any(|r| r.id == id) {
            return Err(ApiError::not_found(format!("no rule {id}")));
        }
        let action = if enabled { "rule.enable" } else { "rule.disable" };
        state.audit(&account, action, "ok", json!({ "rule_id": id }))?;
        catalog
            .record(CatalogEvent::RuleEnabled { rule_id: id.clone(), enabled, actor: account.name.clone() })
            .map_err(ApiError::internal)?;
        state.publish_catalog(&catalog);
        Ok(with_type(catalog.thresholds.iter().find(|r| r.id == id).expect("checked above")))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "rule": rule })))
}
