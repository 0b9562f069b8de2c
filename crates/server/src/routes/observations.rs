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

#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// Records stored, durable and searchable.
    accepted: usize,
    /// Lines refused, each dead-lettered.
    rejected: usize,
    /// Records already stored under the same id.
    duplicates: usize,
    /// The refused lines (the first 1,000).
    errors: Vec<LineErrorBody>,
    /// More lines were refused than `errors` lists.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    errors_truncated: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LineErrorBody {
    /// 1-based line number in the body.
    line: u64,
    /// Why it was refused.
    error: String,
}

/// Ingests NDJSON observations, one per line.
///
/// Content-Encoding: gzip is accepted. Answers after the accepted records are durable (and searchable). A bad
/// line is refused with its line number and dead-lettered; the good lines around it are kept.
#[utoipa::path(
    post,
    path = "/v1/observations",
    request_body(content = glasshouse_model::Observation, content_type = "application/x-ndjson", description = "one observation per line"),
    responses((status = 200, description = "per-line outcome", body = IngestResponse), (status = 413, description = "the body is over the limit"), (status = 503, description = "the queue is full; see Retry-After")),
)]
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
    Ok(Json(IngestResponse::from_report(taken.durable().await?)))
}

/// What an agent's webhook body gave: the reads' outcome, and what else it held.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookResponse {
    #[serde(flatten)]
    reads: IngestResponse,
    /// Heartbeats recorded (each marks the agent's registered cameras alive).
    heartbeats: usize,
    /// Test pings answered.
    pings: usize,
    /// Preview groups skipped: the agent sends the final group for the same vehicle after them.
    previews: usize,
}

impl IngestResponse {
    fn from_report(report: glasshouse_app::IngestReport) -> IngestResponse {
        let rejected = report.errors.len();
        let errors_truncated = rejected > INGEST_ERRORS_REPORTED_MAX;
        let errors =
            report.errors.into_iter().take(INGEST_ERRORS_REPORTED_MAX).map(|e| LineErrorBody { line: e.line, error: e.error }).collect();
        IngestResponse { accepted: report.accepted, rejected, duplicates: report.duplicates, errors, errors_truncated }
    }
}

/// Ingests OpenALPR / Rekor agent webhooks as the agent posts them.
///
/// `alpr_group` (one vehicle), `alpr_alert` (a group the agent matched), `alpr_results` (one frame), `heartbeat`
/// and the test ping; one document per body, or several, one per line. Each camera is the device
/// `openalpr:<camera_id>`, registered beforehand; a read from an unregistered camera is refused with the camera
/// named, and dead-lettered. `best_uuid` is the read's id, so a re-posted group is a duplicate. Answers after
/// the accepted reads are durable.
#[utoipa::path(
    post,
    path = "/v1/ingest/openalpr",
    request_body(content = Object, description = "the agent's webhook body"),
    responses((status = 200, description = "per-document outcome", body = WebhookResponse), (status = 413, description = "the body is over the limit"), (status = 503, description = "the queue is full; see Retry-After")),
)]
pub async fn ingest_openalpr(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookResponse>, ApiError> {
    let body = body?;
    let received_at = Timestamp::now();
    let (taken, extras) =
        tokio::task::spawn_blocking(move || state.ingest.take_openalpr("openalpr", &body, &state.devices(), received_at, PushBack::Refuse))
            .await
            .map_err(ApiError::internal)??;
    let reads = IngestResponse::from_report(taken.durable().await?);
    Ok(Json(WebhookResponse { reads, heartbeats: extras.heartbeats, pings: extras.pings, previews: extras.previews }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// A purpose code from the deployment's policy.
    #[param(required = true)]
    purpose: Option<String>,
    /// A case number in the policy's format.
    #[param(required = true)]
    case_number: Option<String>,
    /// At least five words saying what and why; vague reasons are refused.
    #[param(required = true)]
    justification: Option<String>,
    /// For a broad search: the reference of a warrant registered at /v1/warrants whose case, scope and term the
    /// search lies inside (else 403 naming `warrant_reference`).
    warrant_reference: Option<String>,
    /// For a broad search in an emergency: the claim's reference (a dispatch number). The search runs at once and
    /// opens a review a supervisor closes at /v1/exigency-reviews.
    exigency_reference: Option<String>,
    /// The id of an approved request from /v1/approvals covering this search, for a broad search.
    approval: Option<String>,
    /// Comma-separated kinds; all when absent.
    kind: Option<String>,
    /// RFC 3339, inclusive.
    from: Option<String>,
    /// RFC 3339, exclusive.
    to: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat`.
    bbox: Option<String>,
    /// 1..=50000, default 1000.
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

/// Observations by kind, time and bounding box, oldest first.
///
/// A historical search: it must carry a purpose, a case number and a justification; it is logged in the audit log
/// before it runs (its `audit_seq` is returned) and its result count after. Vague or missing fields get 400
/// naming the field; a prohibited purpose gets 403. A broad search (no area, more than area_km2_max, no time
/// bounds or more than span_days_max) also needs warrant_reference, exigency_reference or an approved approval
/// id, else 403 naming `approval`.
#[utoipa::path(
    get,
    path = "/v1/observations",
    params(SearchParams),
    responses((status = 200, description = "`{observations, truncated, audit_seq, explain}`"), (status = 400, description = "a missing or vague field, named")),
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// At most 10,000; default 100.
    limit: Option<usize>,
}

/// Refused records, newest first, with the source and the reason.
///
/// Audited.
#[utoipa::path(
    get,
    path = "/v1/dead_letters",
    params(DeadLetterParams),
    responses((status = 200, description = "`{dead_letters: [...]}`")),
)]
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
