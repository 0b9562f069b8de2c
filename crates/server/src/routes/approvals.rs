//! `/v1/approvals`: investigators ask, supervisors decide; both steps are audited first.

use crate::auth::{Account, Role};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_app::Action;
use glasshouse_audit::approvals::{Approval, ApprovalError, ApprovalStatus, Scope};
use glasshouse_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApproval {
    purpose: Option<String>,
    case_number: Option<String>,
    justification: Option<String>,
    scope: Scope,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    approve: bool,
    #[serde(default)]
    note: Option<String>,
}

fn approval_error(e: ApprovalError) -> ApiError {
    match e {
        ApprovalError::NotFound(_) => ApiError::not_found(e.to_string()),
        ApprovalError::AlreadyDecided(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        ApprovalError::OwnRequest => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
        ApprovalError::BadScope(_) => ApiError::bad_field("scope", e.to_string()),
        ApprovalError::Audit(_) => ApiError::busy("the audit log cannot be written, so nothing was done", 30),
        other => ApiError::internal(other),
    }
}

fn audit(state: &AppState, account: &Account, action: Action, approval: &Approval) -> Result<(), String> {
    let details = json!({
        "approval_id": approval.id,
        "requester": approval.requester,
        "purpose": approval.purpose,
        "case_number": approval.case_number,
        "justification": state.audit.keyed("text", &approval.justification),
        "scope": approval.scope,
        "status": approval.status,
        "note": approval.decision_note.as_deref().map(|n| state.audit.keyed("text", n)),
    });
    state.audit(account, action, "ok", details).map(|_| ()).map_err(|e| e.message)
}

pub async fn request(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewApproval>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let purpose = state
        .policy
        .check(request.purpose.as_deref(), request.case_number.as_deref(), request.justification.as_deref())
        .map_err(|e| ApiError {
            field: Some(e.field.into()),
            ..ApiError::new(if e.prohibited { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST }, e.to_string())
        })?;
    let approval = Approval {
        id: super::new_id("ap"),
        requester: account.name.clone(),
        requested_at: Timestamp::now(),
        purpose: purpose.code,
        case_number: purpose.case_number,
        justification: purpose.justification,
        scope: request.scope,
        status: ApprovalStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_note: None,
        expires_at: None,
    };
    let filed =
        tokio::task::spawn_blocking(move || state.approvals.request(approval, |a| audit(&state, &account, Action::ApprovalRequest, a)))
            .await
            .map_err(ApiError::internal)?
            .map_err(approval_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "approval": filed }))))
}

/// Supervisors see every request; an investigator sees their own.
pub async fn list(State(state): State<Arc<AppState>>, Extension(account): Extension<Account>) -> Json<Value> {
    let mine = (account.role != Role::Supervisor).then_some(account.name.as_str());
    Json(json!({ "approvals": state.approvals.list(mine) }))
}

pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(decision) = body?;
    if decision.note.as_deref().is_some_and(|n| n.chars().count() > 1_000) {
        return Err(ApiError::bad_field("note", "longer than 1000 characters"));
    }
    let decided = tokio::task::spawn_blocking(move || {
        let action = if decision.approve { Action::ApprovalApprove } else { Action::ApprovalDeny };
        state.approvals.decide(&id, &account.name, decision.approve, decision.note, |a| audit(&state, &account, action, a))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(approval_error)?;
    Ok(Json(json!({ "approval": decided })))
}
