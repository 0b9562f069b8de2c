//! The audit log for auditors: the signed checkpoint, entries, proofs and the full export.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// The newest signed checkpoint and the key to check it with, and what the witnesses cosigned.
///
/// A C2SP signed note (Ed25519). `cosigned` is the newest checkpoint some configured witness cosigned:
/// `{size, note, witnesses}`, the note carrying their cosignature lines (C2SP tlog-cosignature); `witnesses`
/// says, per witness, the size it last cosigned and why it last refused, if it did.
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoint",
    responses((status = 200, description = "`{size, note, verifier_key, cosigned, witnesses}`")),
)]
pub async fn checkpoint(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.audit_checkpoint())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntriesParams {
    /// The first sequence number; default 0.
    from: Option<u64>,
    /// 1..=1000, default 100.
    limit: Option<usize>,
}

/// Audit entries with their exact text and leaf hash.
///
/// The leaf is the hash of that text.
#[utoipa::path(
    get,
    path = "/v1/audit/entries",
    params(EntriesParams),
    responses((status = 200, description = "`{size, entries: [{seq, leaf_hash, entry}]}`"), (status = 400, description = "a bad range")),
)]
pub async fn entries(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    params: Result<Query<EntriesParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    Ok(Json(state.audit_entries(&account.actor(), params.from.unwrap_or(0), params.limit.unwrap_or(100))?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The entry's sequence number.
    index: u64,
    /// The tree size; default the current size.
    size: Option<u64>,
}

/// The RFC 6962 audit path of one entry.
#[utoipa::path(
    get,
    path = "/v1/audit/proof/inclusion",
    params(InclusionParams),
    responses((status = 200, description = "the proof"), (status = 400, description = "an index or size past the log")),
)]
pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    params: Result<Query<InclusionParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    Ok(Json(state.inclusion_proof(&account.actor(), params.index, params.size)?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The earlier tree size.
    first: u64,
    /// The later tree size; default the current size.
    second: Option<u64>,
}

/// An RFC 6962 consistency proof between two tree sizes.
///
/// It proves that the log of `first` entries is a prefix of the log of `second`.
#[utoipa::path(
    get,
    path = "/v1/audit/proof/consistency",
    params(ConsistencyParams),
    responses((status = 200, description = "the proof"), (status = 400, description = "sizes out of order or past the log")),
)]
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    Ok(Json(state.consistency_proof(&account.actor(), params.first, params.second)?))
}

/// The whole log as NDJSON, for `glasshouse audit verify`.
///
/// Entries (exact bytes) and signed checkpoints.
#[utoipa::path(
    get,
    path = "/v1/audit/export",
    responses((status = 200, description = "application/x-ndjson")),
)]
pub async fn export(State(state): State<Arc<AppState>>, Extension(account): Extension<Account>) -> Result<impl IntoResponse, ApiError> {
    // Streamed a part at a time, so a large log is never one buffer and the log's lock is held
    // for one part; the size is fixed first, so the stream is one size of the log.
    let end = state.audit_export_start(&account.actor());
    let parts = futures_util::stream::unfold(0usize, move |from| {
        let state = state.clone();
        async move {
            if from >= end {
                return None;
            }
            let part = tokio::task::spawn_blocking(move || state.audit_export_part(from, EXPORT_PART_ENTRIES, end)).await;
            // Once the stream has begun, a failed part can only cut it short; the verifier then
            // names the export as truncated.
            let part = match part {
                Ok(Ok(bytes)) => Ok(axum::body::Bytes::from(bytes)),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "audit export stopped: a part could not be read");
                    Err(std::io::Error::other(e.to_string()))
                }
                Err(e) => Err(std::io::Error::other(e)),
            };
            Some((part, from + EXPORT_PART_ENTRIES))
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], axum::body::Body::from_stream(parts)))
}

/// Entries per part of a streamed export: about a megabyte with their checkpoints.
const EXPORT_PART_ENTRIES: usize = 2_000;
