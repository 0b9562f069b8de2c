//! `/v1/sharing/changes`: where alerts leave the system changes only with two people. The rules
//! (what may be added or removed, what the audit log says, starting and stopping the sink) are the
//! application layer's sharing use case.

use super::holds::Decision;
use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_app::sharing::{SharingProposal, listed};
use glasshouse_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSharingChange {
    /// A sink to add, as an entry of the sinks file.
    #[serde(default)]
    add: Option<Value>,
    /// The name of an approved sink to remove.
    #[serde(default)]
    remove: Option<String>,
    /// Why (shown to the approver; audited as a keyed hash).
    reason: String,
}

/// Proposes sharing alerts with a new sink, or ending an approved one.
///
/// `add` is a sink as in the sinks file; `remove` names an approved one. Nothing changes until a supervisor or
/// another administrator approves. Audited with the target, never the secret.
#[utoipa::path(
    post,
    path = "/v1/sharing/changes",
    request_body = NewSharingChange,
    responses((status = 201, description = "the change, secrets hidden"), (status = 400, description = "a bad field, named"), (status = 409, description = "the sink already exists, or does not")),
)]
pub async fn propose(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewSharingChange>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let proposal = match (body.add, body.remove) {
        (Some(add), None) => SharingProposal::Add(add),
        (None, Some(remove)) => SharingProposal::Remove(remove),
        _ => return Err(ApiError::bad_field("add", "give exactly one of add (a sink as in the sinks file) or remove (a sink's name)")),
    };
    // Checking builds the sink's client once (each owns a small runtime), hence off the async pool.
    let change = tokio::task::spawn_blocking(move || state.propose_sharing(&account.actor(), proposal, body.reason, Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(listed(&change))))
}

/// Sharing change proposals and decisions, newest first.
///
/// Webhook secrets are hidden.
#[utoipa::path(
    get,
    path = "/v1/sharing/changes",
    responses((status = 200, description = "`{changes: [...]}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "changes": state.sharing_changes() }))
}

/// Approves or rejects a sharing change.
///
/// Someone other than the proposer decides. On approval the sink starts, or stops and its outbox is retired, at
/// once; the state is kept in sharing.json. Audited.
#[utoipa::path(
    post,
    path = "/v1/sharing/changes/{id}/decision",
    params(("id" = String, Path, description = "the change id")),
    request_body = Decision,
    responses((status = 200, description = "the decided change"), (status = 404, description = "no such change"), (status = 409, description = "already decided")),
)]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let change = tokio::task::spawn_blocking(move || state.decide_sharing(&account.actor(), &id, body.approve, Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(listed(&change)))
}
