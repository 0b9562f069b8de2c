//! `/v1/cases`: the cases searches name. Supervisors open them with a title and close them; the
//! steps are in the audit log before they take effect.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// Its number, in the policy's format; a number is used once.
    case_number: String,
    /// What it is about, in three words or more (at most 200 characters).
    title: String,
}

/// Opens a case.
///
/// Searches must name a case the system knows: one opened here, or a dispatch incident it holds (by its incident
/// number). Audited (the title as a keyed hash). 409 when the number was used before.
#[utoipa::path(
    post,
    path = "/v1/cases",
    request_body = NewCase,
    responses((status = 201, description = "the case"), (status = 400, description = "a bad field, named"), (status = 409, description = "the number was used before")),
)]
pub async fn open(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewCase>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let case = tokio::task::spawn_blocking(move || {
        state.investigations().open_case(&account.actor(), &body.case_number, body.title, Timestamp::now())
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!(case))))
}

/// Every case opened, newest first.
///
/// With its title, who opened it, and whether it is open or closed.
#[utoipa::path(
    get,
    path = "/v1/cases",
    responses((status = 200, description = "`{cases: [...]}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "cases": state.cases.list() }))
}

/// Closes a case.
///
/// Searches may no longer name it. Audited.
#[utoipa::path(
    post,
    path = "/v1/cases/{number}/closing",
    params(("number" = String, Path, description = "the case number")),
    responses((status = 200, description = "the case"), (status = 404, description = "no such case"), (status = 409, description = "already closed")),
)]
pub async fn close(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = tokio::task::spawn_blocking(move || state.investigations().close_case(&account.actor(), &number, Timestamp::now()))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!(case)))
}
