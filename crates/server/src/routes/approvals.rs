//! `/v1/approvals`: investigators ask, supervisors decide; both steps are audited first.

use crate::auth::{Account, Role};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_app::investigations::PurposeFields;
use glasshouse_audit::approvals::Scope;
use glasshouse_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApproval {
    /// A purpose code from the deployment's policy.
    #[schema(required = true)]
    purpose: Option<String>,
    /// A case number in the policy's format.
    #[schema(required = true)]
    case_number: Option<String>,
    /// At least five words saying what and why; vague reasons are refused.
    #[schema(required = true)]
    justification: Option<String>,
    /// What the search may cover.
    scope: Scope,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// True to approve, false to deny.
    approve: bool,
    /// Shown to the requester.
    #[serde(default)]
    note: Option<String>,
}

/// Asks a supervisor to approve a broad search.
///
/// Purpose, case number, justification and the scope the search may cover. Audited.
#[utoipa::path(
    post,
    path = "/v1/approvals",
    request_body = NewApproval,
    responses((status = 201, description = "`{approval}`"), (status = 400, description = "a bad field, named")),
)]
pub async fn request(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewApproval>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let fields = PurposeFields {
        purpose: request.purpose,
        case_number: request.case_number,
        justification: request.justification,
        ..Default::default()
    };
    let filed = tokio::task::spawn_blocking(move || {
        state.investigations().request_approval(&account.actor(), &fields, request.scope, Timestamp::now())
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "approval": filed }))))
}

/// Approval requests.
///
/// Every request for supervisors; their own for investigators.
#[utoipa::path(
    get,
    path = "/v1/approvals",
    responses((status = 200, description = "`{approvals: [...]}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>, Extension(account): Extension<Account>) -> Json<Value> {
    let mine = (account.role != Role::Supervisor).then_some(account.name.as_str());
    Json(json!({ "approvals": state.approvals.list(mine) }))
}

/// Approves or denies a broad-search request.
///
/// Never one's own. An approval lasts 24 hours. Audited.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/decision",
    params(("id" = String, Path, description = "the request id")),
    request_body = ApprovalDecision,
    responses((status = 200, description = "`{approval}`"), (status = 404, description = "no such request"), (status = 409, description = "already decided")),
)]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<ApprovalDecision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(decision) = body?;
    let decided =
        tokio::task::spawn_blocking(move || state.investigations().decide_approval(&account.actor(), &id, decision.approve, decision.note))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(json!({ "approval": decided })))
}
