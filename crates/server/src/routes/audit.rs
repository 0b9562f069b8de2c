//! The audit log for auditors: the signed checkpoint, entries, proofs and the full export.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most entries one page returns.
const ENTRIES_PAGE_MAX: usize = 1_000;

fn b64(hash: &[u8; 32]) -> String {
    STANDARD.encode(hash)
}

/// `GET /v1/audit/checkpoint`: the newest signed checkpoint and the key to check it with.
pub async fn checkpoint(State(state): State<Arc<AppState>>) -> Json<Value> {
    let (size, note) = state.audit.checkpoint();
    Json(json!({ "size": size, "note": note, "verifier_key": state.audit.verifier_key() }))
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
    let from = params.from.unwrap_or(0);
    let limit = params.limit.unwrap_or(100).clamp(1, ENTRIES_PAGE_MAX);
    let list: Vec<Value> = state
        .audit
        .entries(from, limit)
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let seq = from + i as u64;
            json!({ "seq": seq, "leaf_hash": b64(&glasshouse_audit::merkle::leaf_hash(&bytes)), "entry": text })
        })
        .collect();
    Ok(Json(json!({ "size": state.audit.size(), "entries": list })))
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
    let size = params.size.unwrap_or_else(|| state.audit.size());
    let proof = state
        .audit
        .inclusion_proof(params.index, size)
        .ok_or_else(|| ApiError::bad_field("index", "index must be below size, and size at most the log's size"))?;
    let leaf = state.audit.leaf(params.index).expect("index checked by the proof");
    let root = state.audit.root(size).expect("size checked by the proof");
    Ok(Json(json!({
        "index": params.index,
        "size": size,
        "leaf_hash": b64(&leaf),
        "root": b64(&root),
        "proof": proof.iter().map(b64).collect::<Vec<_>>(),
    })))
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
    let second = params.second.unwrap_or_else(|| state.audit.size());
    let proof = state
        .audit
        .consistency_proof(params.first, second)
        .ok_or_else(|| ApiError::bad_field("first", "need 0 < first <= second <= the log's size"))?;
    Ok(Json(json!({
        "first": params.first,
        "second": second,
        "first_root": b64(&state.audit.root(params.first).expect("checked")),
        "second_root": b64(&state.audit.root(second).expect("checked")),
        "proof": proof.iter().map(b64).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/audit/export`: the whole log as NDJSON, for `glasshouse audit verify`.
pub async fn export(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let body = tokio::task::spawn_blocking(move || state.audit.export()).await.map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}
