//! Legal holds and retention: proposals, a second person's decision, release, the retention
//! windows, and a purge on demand. Every step is in the audit log before it takes effect.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_audit::holds::{Authority, Hold, HoldScope, HoldStatus};
use glasshouse_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn describe(hold: &Hold, now: Timestamp) -> Value {
    let mut value = serde_json::to_value(hold).expect("holds serialise");
    value["state"] = json!(hold.state(now));
    value
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    case_number: String,
    authority: Authority,
    authority_reference: String,
    #[serde(default)]
    plates: Vec<String>,
    #[serde(default)]
    devices: Vec<String>,
    from: String,
    to: String,
    expires_at: String,
}

fn time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    super::parse_time(field, Some(text)).map(|t| t.expect("given"))
}

/// `POST /v1/holds`: proposes a hold; a supervisor other than the proposer must approve it.
pub async fn propose(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewHold>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let plates = body
        .plates
        .iter()
        .map(|p| glasshouse_model::plate::normalize(p).map_err(|e| ApiError::bad_field("plates", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    for device in &body.devices {
        glasshouse_model::device::validate_id(device).map_err(|e| ApiError::bad_field("devices", format!("device id {e}")))?;
    }
    let now = Timestamp::now();
    let hold = Hold {
        id: glasshouse_app::changes::new_id("hold"),
        case_number: body.case_number,
        authority: body.authority,
        authority_reference: body.authority_reference,
        scope: HoldScope { plates, devices: body.devices, from: time("from", &body.from)?, to: time("to", &body.to)? },
        expires_at: time("expires_at", &body.expires_at)?,
        proposed_by: account.name.clone(),
        proposed_at: now,
        status: HoldStatus::Proposed,
        decided_by: None,
        decided_at: None,
        released_by: None,
        released_at: None,
    };
    let hold =
        tokio::task::spawn_blocking(move || state.retention().propose_hold(&account.actor(), hold)).await.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(describe(&hold, now))))
}

/// `GET /v1/holds`: every hold with its state (`proposed`, `in_force`, `lapsed`, …), newest first.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let now = Timestamp::now();
    Json(json!({ "holds": state.holds.list().iter().map(|h| describe(h, now)).collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub(crate) approve: bool,
}

/// `POST /v1/holds/{id}/decision`: a supervisor other than the proposer approves or rejects.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let now = Timestamp::now();
    let hold = tokio::task::spawn_blocking(move || state.retention().decide_hold(&account.actor(), &id, body.approve, now))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(describe(&hold, now)))
}

/// `POST /v1/holds/{id}/release`: ends a hold in force before its expiry.
pub async fn release(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = Timestamp::now();
    let hold = tokio::task::spawn_blocking(move || state.retention().release_hold(&account.actor(), &id, now))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(describe(&hold, now)))
}

/// `GET /v1/retention`: each kind's window and the oldest day it keeps now, and the holds in force.
pub async fn retention(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.retention().windows(Timestamp::now()))
}

/// `POST /v1/retention/purge`: runs the purge now (it also runs hourly) and returns its receipts.
pub async fn purge(State(state): State<Arc<AppState>>, Extension(account): Extension<Account>) -> Result<Json<Value>, ApiError> {
    let receipts = tokio::task::spawn_blocking(move || state.retention().purge_expired(&account.actor(), Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({ "receipts": receipts })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRetentionChange {
    /// Days per kind, for the kinds that change.
    days: std::collections::BTreeMap<String, u32>,
    reason: String,
}

/// `POST /v1/retention/changes`: proposes new retention windows; another custodian or a supervisor
/// must approve before they apply.
pub async fn propose_retention_change(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewRetentionChange>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let change =
        tokio::task::spawn_blocking(move || state.retention().propose_change(&account.actor(), body.days, body.reason, Timestamp::now()))
            .await
            .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(change).expect("changes serialise"))))
}

/// `GET /v1/retention/changes`: proposals and decisions, newest first.
pub async fn list_retention_changes(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "changes": state.retention().changes() }))
}

/// `POST /v1/retention/changes/{id}/decision`: a second person approves (the windows apply at once
/// and are written to `retention.json`) or rejects.
pub async fn decide_retention_change(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let change =
        tokio::task::spawn_blocking(move || state.retention().decide_change(&account.actor(), &id, body.approve, Timestamp::now()))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(serde_json::to_value(change).expect("changes serialise")))
}
