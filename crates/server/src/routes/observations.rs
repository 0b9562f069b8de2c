//! Observations in (NDJSON ingest) and out (the first query), and the dead-letter listing.

use super::purpose::purpose_fields;
use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::{Extension, Json};
use glasshouse_app::PushBack;
use glasshouse_model::limits::{INGEST_ERRORS_REPORTED_MAX, QUERY_RESULTS_MAX};
use glasshouse_model::{Kind, Timestamp};
use glasshouse_store::ObservationQuery;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Serialize)]
pub struct IngestResponse {
    accepted: usize,
    rejected: usize,
    duplicates: usize,
    errors: Vec<LineErrorBody>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    errors_truncated: bool,
}

#[derive(Serialize)]
struct LineErrorBody {
    line: u64,
    error: String,
}

/// `POST /v1/observations`: NDJSON, optionally gzip. Answers only after the accepted records are
/// durable in the WAL (and searchable).
pub async fn ingest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestResponse>, ApiError> {
    let body = body?;
    let gzipped = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let received_at = Timestamp::now();
    // Decoding is CPU work (about a microsecond a record): keep it off the async workers. The batch
    // is queued for the WAL from there too; only the wait for durability happens here.
    let taken = tokio::task::spawn_blocking(move || {
        state.ingest.take_ndjson("http", &body, gzipped, &state.devices(), received_at, PushBack::Refuse)
    })
    .await
    .map_err(ApiError::internal)??;
    let report = taken.durable().await?;
    let rejected = report.errors.len();
    let errors_truncated = rejected > INGEST_ERRORS_REPORTED_MAX;
    let errors =
        report.errors.into_iter().take(INGEST_ERRORS_REPORTED_MAX).map(|e| LineErrorBody { line: e.line, error: e.error }).collect();
    Ok(Json(IngestResponse { accepted: report.accepted, rejected, duplicates: report.duplicates, errors, errors_truncated }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    purpose: Option<String>,
    case_number: Option<String>,
    justification: Option<String>,
    warrant_reference: Option<String>,
    exigency_reference: Option<String>,
    approval: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    bbox: Option<String>,
    limit: Option<usize>,
}

fn parse_query(params: &SearchParams) -> Result<ObservationQuery, ApiError> {
    let mut kinds = Vec::new();
    for name in params.kind.iter().flat_map(|k| k.split(',')).filter(|k| !k.is_empty()) {
        kinds.push(Kind::parse(name).ok_or_else(|| ApiError::bad_field("kind", format!("unknown kind {name:?}")))?);
    }
    let (from, to) = super::parse_range(params.from.as_deref(), params.to.as_deref())?;
    let bbox = match params.bbox.as_deref() {
        None => None,
        Some(text) => {
            let numbers: Vec<f64> = text
                .split(',')
                .map(|n| n.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| ApiError::bad_field("bbox", "expected min_lon,min_lat,max_lon,max_lat"))?;
            let [min_lon, min_lat, max_lon, max_lat] = numbers[..] else {
                return Err(ApiError::bad_field("bbox", "expected four numbers: min_lon,min_lat,max_lon,max_lat"));
            };
            if !(min_lon <= max_lon
                && min_lat <= max_lat
                && (-180.0..=180.0).contains(&min_lon)
                && (-180.0..=180.0).contains(&max_lon)
                && (-90.0..=90.0).contains(&min_lat)
                && (-90.0..=90.0).contains(&max_lat))
            {
                return Err(ApiError::bad_field("bbox", "corners out of range or out of order"));
            }
            Some([min_lon, min_lat, max_lon, max_lat])
        }
    };
    let limit = params.limit.unwrap_or(1_000);
    if limit == 0 || limit > QUERY_RESULTS_MAX {
        return Err(ApiError::bad_field("limit", format!("must be 1..={QUERY_RESULTS_MAX}")));
    }
    Ok(ObservationQuery { kinds, from, to, bbox, limit })
}

/// `GET /v1/observations?purpose=&case_number=&justification=&kind=&from=&to=&bbox=&limit=`: oldest
/// first, with how it was answered. The search is logged (purpose, parameters) before it runs, and its
/// result count after; a refused purpose is logged as refused.
pub async fn search(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let query = parse_query(&params)?;
    let fields = purpose_fields!(params);
    let searched = tokio::task::spawn_blocking(move || state.investigations().observations(&account.actor(), &fields, query))
        .await
        .map_err(ApiError::internal)??;
    let (result, audit_seq) = (searched.result, searched.audit_seq);
    Ok(Json(json!({
        "observations": result.observations,
        "truncated": result.truncated,
        "audit_seq": audit_seq,
        "explain": {
            "segments_scanned": result.segments_scanned,
            "segments_pruned": result.segments_pruned,
            "rows_scanned": result.rows_scanned,
            "hot_window_matches": result.hot_matches,
        }
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterParams {
    limit: Option<usize>,
}

pub async fn dead_letters(
    State(state): State<Arc<AppState>>,
    params: Result<Query<DeadLetterParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(100).min(10_000);
    let letters = tokio::task::spawn_blocking(move || state.ingest.dead_letters().list(limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "dead_letters": letters })))
}
