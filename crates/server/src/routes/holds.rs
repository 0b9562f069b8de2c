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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    /// The case the hold serves.
    case_number: String,
    /// What allows it.
    authority: Authority,
    /// The order's reference: 1..=64 letters, digits or - / : ..
    authority_reference: String,
    /// Plates whose reads (or OCR candidates) it keeps.
    #[serde(default)]
    plates: Vec<String>,
    /// Devices whose observations it keeps.
    #[serde(default)]
    devices: Vec<String>,
    /// RFC 3339, inclusive.
    from: String,
    /// RFC 3339, exclusive.
    to: String,
    /// RFC 3339, at most 732 days ahead.
    expires_at: String,
}

fn time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    super::parse_time(field, Some(text)).map(|t| t.expect("given"))
}

/// Proposes a legal hold.
///
/// The observations of the named plates (read or OCR candidate) or devices in [from, to) are kept past their
/// retention window while the hold is in force. It keeps nothing until a supervisor other than the proposer
/// approves it, and lapses by itself at expiry. At least one plate or device is required. Audited (plates as
/// keyed hashes).
#[utoipa::path(
    post,
    path = "/v1/holds",
    request_body = NewHold,
    responses((status = 201, description = "the hold"), (status = 400, description = "a bad field, named")),
)]
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

/// Every hold, newest first, with its state.
///
/// proposed, in_force, lapsed, rejected or released.
#[utoipa::path(
    get,
    path = "/v1/holds",
    responses((status = 200, description = "`{holds: [...]}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let now = Timestamp::now();
    Json(json!({ "holds": state.holds.list().iter().map(|h| describe(h, now)).collect::<Vec<_>>() }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// True to approve, false to reject.
    pub(crate) approve: bool,
}

/// Approves or rejects a proposed hold.
///
/// As a supervisor other than its proposer (403 naming `approve` otherwise). Audited.
#[utoipa::path(
    post,
    path = "/v1/holds/{id}/decision",
    params(("id" = String, Path, description = "the hold id")),
    request_body = Decision,
    responses((status = 200, description = "the hold"), (status = 404, description = "no such hold"), (status = 409, description = "no longer proposed")),
)]
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

/// Ends a hold in force before its expiry.
///
/// The records it kept become subject to retention again. Audited.
#[utoipa::path(
    post,
    path = "/v1/holds/{id}/release",
    params(("id" = String, Path, description = "the hold id")),
    responses((status = 200, description = "the hold"), (status = 404, description = "no such hold"), (status = 409, description = "not in force")),
)]
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

/// Each class's retention window and the oldest day it keeps now.
///
/// The observation kinds, `dead_letters`, and `confirmed_alert_evidence` (how long a confirmed alert keeps the
/// rows it rests on). With the number of holds in force. Expired rows are kept while a confirmed alert rests on
/// them (within that window) or a hold in force covers them; a dismissed or unworked alert keeps nothing.
#[utoipa::path(
    get,
    path = "/v1/retention",
    responses((status = 200, description = "the windows per kind and the holds in force")),
)]
pub async fn retention(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.retention().windows(Timestamp::now()))
}

/// Runs the retention purge now; it also runs hourly.
///
/// For each kind that loses rows, a receipt (kind, window, cutoff, count, SHA-256 of the sorted deleted ids one
/// per line, rows kept for alerts and for holds, segments dropped and rewritten) is appended to the audit log
/// before anything is deleted; the receipts are returned. Rows reach the purge once flushed from the hot window
/// to segments.
#[utoipa::path(
    post,
    path = "/v1/retention/purge",
    responses((status = 200, description = "`{receipts: [...]}`")),
)]
pub async fn purge(State(state): State<Arc<AppState>>, Extension(account): Extension<Account>) -> Result<Json<Value>, ApiError> {
    let receipts = tokio::task::spawn_blocking(move || state.retention().purge_expired(&account.actor(), Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({ "receipts": receipts })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRetentionChange {
    /// Days per kind, for the kinds that change.
    days: std::collections::BTreeMap<String, u32>,
    /// Why, in at least five words.
    reason: String,
}

/// Proposes new retention windows.
///
/// Days per kind (unnamed kinds keep theirs) with a reason of at least five words. Nothing changes until another
/// custodian or a supervisor approves. Audited with the windows before and after.
#[utoipa::path(
    post,
    path = "/v1/retention/changes",
    request_body = NewRetentionChange,
    responses((status = 201, description = "the change"), (status = 400, description = "a bad field, named")),
)]
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

/// Retention change proposals and decisions, newest first.
#[utoipa::path(
    get,
    path = "/v1/retention/changes",
    responses((status = 200, description = "`{changes: [...]}`")),
)]
pub async fn list_retention_changes(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "changes": state.retention().changes() }))
}

/// Approves or rejects a proposed retention change.
///
/// As someone other than its proposer (403 naming `approve` otherwise). On approval the windows apply at once and
/// are written to retention.json. Audited before it applies.
#[utoipa::path(
    post,
    path = "/v1/retention/changes/{id}/decision",
    params(("id" = String, Path, description = "the change id")),
    request_body = Decision,
    responses((status = 200, description = "the change"), (status = 404, description = "no such change"), (status = 409, description = "already decided")),
)]
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
