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
    let decided =
        tokio::task::spawn_blocking(move || state.investigations().decide_approval(&account.actor(), &id, decision.approve, decision.note))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(json!({ "approval": decided })))
}
