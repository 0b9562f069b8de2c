//! The audit log for auditors: the signed checkpoint, entries, proofs and the full export.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// `GET /v1/audit/checkpoint`: the newest signed checkpoint and the key to check it with.
pub async fn checkpoint(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.audit_checkpoint())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesParams {
    from: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/audit/entries?from=&limit=`: entries with their exact text (the leaf is the hash of that
/// text) and leaf hash.
pub async fn entries(
    State(state): State<Arc<AppState>>,
    params: Result<Query<EntriesParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    Ok(Json(state.audit_entries(params.from.unwrap_or(0), params.limit.unwrap_or(100))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    index: u64,
    size: Option<u64>,
}

/// `GET /v1/audit/proof/inclusion?index=&size=`: the audit path of one entry.
pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    params: Result<Query<InclusionParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    Ok(Json(state.inclusion_proof(params.index, params.size)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    first: u64,
    second: Option<u64>,
}

/// `GET /v1/audit/proof/consistency?first=&second=`: proof that the log of `first` entries is a prefix
/// of the log of `second`.
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    Ok(Json(state.consistency_proof(params.first, params.second)?))
}

/// `GET /v1/audit/export`: the whole log as NDJSON, for `glasshouse audit verify`.
pub async fn export(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let body = tokio::task::spawn_blocking(move || state.audit_export()).await.map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}
