//! The investigation searches: plates, areas, an incident's neighbourhood, and the cameras that
//! can see a point. Every search of observations passes the gate (purpose, authority, audit entry)
//! before the store will run it.

use super::export::{self, Format};
use super::purpose::{PurposeFields, purpose_fields};
use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use glasshouse_app::investigations::{cameras_covering, windows_json};
use glasshouse_engine::rules::geofence::shape::parse_geojson_area;
use glasshouse_model::Kind;
use glasshouse_model::geo::LatLon;
use glasshouse_model::limits::QUERY_RESULTS_MAX;
use glasshouse_store::{AreaQuery, ContextWindow, Cursor, PlateMode, PlateQuery, Shape};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most vertices accepted in a search polygon.
/// Largest circle radius, in metres; a wider area is a polygon or a box search.
const CIRCLE_RADIUS_MAX_M: f64 = 50_000.0;

fn parse_limit(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > QUERY_RESULTS_MAX {
        return Err(ApiError::bad_field("limit", format!("must be 1..={QUERY_RESULTS_MAX}")));
    }
    Ok(limit)
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    cursor.map(|c| Cursor::decode(c).ok_or_else(|| ApiError::bad_field("cursor", "not a cursor from a previous page"))).transpose()
}

fn parse_kinds(kinds: &[String]) -> Result<Vec<Kind>, ApiError> {
    kinds.iter().map(|k| Kind::parse(k).ok_or_else(|| ApiError::bad_field("kinds", format!("unknown kind {k:?}")))).collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlateSearchBody {
    /// A purpose code from the deployment's policy.
    #[schema(required = true)]
    purpose: Option<String>,
    /// A case number in the policy's format.
    #[schema(required = true)]
    case_number: Option<String>,
    /// At least five words saying what and why; vague reasons are refused.
    #[schema(required = true)]
    justification: Option<String>,
    /// For a broad search: the reference of a warrant registered at /v1/warrants whose case, scope and term the
    /// search lies inside (else 403 naming `warrant_reference`).
    warrant_reference: Option<String>,
    /// For a broad search in an emergency: the claim's reference (a dispatch number). The search runs at once and
    /// opens a review a supervisor closes at /v1/exigency-reviews.
    exigency_reference: Option<String>,
    /// The id of an approved request from /v1/approvals covering this search, for a broad search.
    approval: Option<String>,
    /// A plate, or a pattern in wildcard mode.
    plate: String,
    /// `json` (default), or `csv` / `geojson` for an export (logged as one).
    format: Option<String>,
    /// `exact` (default), `wildcard` or `tolerant`.
    mode: Option<String>,
    /// Tolerant mode: substitutions beyond the confusable classes, 0..=2 (default 1).
    substitutions_max: Option<u8>,
    /// Tolerant mode: allow one character more or less (default false).
    length_tolerance: Option<bool>,
    /// RFC 3339, inclusive.
    from: Option<String>,
    /// RFC 3339, exclusive.
    to: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1..=50000, default 200.
    limit: Option<usize>,
    /// True for counts instead of reads: how many reads match, and the plates they carry with
    /// reads per plate (at most `limit` plates, most read first). Answered from the index where a
    /// day lies wholly in the range.
    summary: Option<bool>,
}

fn plate_query(body: &PlateSearchBody) -> Result<PlateQuery, ApiError> {
    let mode = match body.mode.as_deref().unwrap_or("exact") {
        "exact" => PlateMode::Exact,
        "wildcard" => PlateMode::Wildcard,
        "tolerant" => {
            let substitutions_max = body.substitutions_max.unwrap_or(1);
            if substitutions_max > 2 {
                return Err(ApiError::bad_field("substitutions_max", "must be 0, 1 or 2"));
            }
            PlateMode::MisreadTolerant { substitutions_max, length_tolerance: body.length_tolerance.unwrap_or(false) }
        }
        other => return Err(ApiError::bad_field("mode", format!("{other:?} is not exact, wildcard or tolerant"))),
    };
    let plate = match mode {
        PlateMode::Wildcard => glasshouse_model::plate::pattern::normalize(&body.plate).map_err(|e| ApiError::bad_field("plate", e))?,
        _ => glasshouse_model::plate::normalize(&body.plate).map_err(|e| ApiError::bad_field("plate", e.to_string()))?,
    };
    let (from, to) = super::parse_range(body.from.as_deref(), body.to.as_deref())?;
    Ok(PlateQuery { plate, mode, from, to, after: parse_cursor(body.cursor.as_deref())?, limit: parse_limit(body.limit, 200)? })
}

/// Where a plate was read.
///
/// `exact`, `wildcard` (`?` one character, `*` any run; at least 3 letters or digits) or `tolerant` (the hot
/// path's matcher: OCR-confusable characters 0/O/D/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B cost nothing, up to
/// `substitutions_max` other substitutions and optionally one character more or less). A read's OCR candidates
/// are matched too. Results are ordered by match distance, then time; each carries the matched text and the
/// differing characters. Paginated with `next_cursor`. `explain.index` names what chose the rows: `plate_fst`
/// (each day's plate index), or `plate_dictionary` for a pattern with no fixed start.
///
/// A historical search: it must carry a purpose, a case number and a justification; it is logged in the audit log
/// before it runs (its `audit_seq` is returned) and its result count after. Missing or vague fields get 400
/// naming the field; a prohibited purpose gets 403. Following a plate with no time bounds or over more than
/// span_days_max also needs warrant_reference, exigency_reference or an approval, else 403 naming `approval`. The
/// plate appears in the audit log only as a keyed hash. With `format` `csv` or `geojson` the page comes back as a
/// file (Content-Disposition, `X-Audit-Seq`, `X-Next-Cursor`) and the search is logged as an export.
#[utoipa::path(
    post,
    path = "/v1/search/plates",
    request_body = PlateSearchBody,
    responses((status = 200, description = "`{results: [{observation, match}], next_cursor, audit_seq, explain}`; with `summary`, `{reads, plates_matched, plates, audit_seq, explain}`; or a CSV or GeoJSON file"), (status = 400, description = "a missing or vague field, named")),
)]
pub async fn plates(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<PlateSearchBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let format = Format::parse(body.format.as_deref())?;
    let query = plate_query(&body)?;
    let fields = purpose_fields!(body);
    if body.summary == Some(true) {
        if format != Format::Json {
            return Err(ApiError::bad_field("format", "a summary is JSON; export the reads instead"));
        }
        if body.cursor.is_some() {
            return Err(ApiError::bad_field("cursor", "a summary is one page"));
        }
        return plate_summary(state, account, query, fields).await;
    }
    let export = format != Format::Json;
    let searched = tokio::task::spawn_blocking(move || state.investigations().plates(&account.actor(), &fields, query, export))
        .await
        .map_err(ApiError::internal)??;
    let (page, audit_seq) = (searched.result, searched.audit_seq);
    let next_cursor = page.next.map(|c| c.encode());
    let observations = || page.items.iter().map(|(o, _)| json!(o)).collect::<Vec<Value>>();
    match format {
        Format::Csv => return export::csv(&observations(), audit_seq, next_cursor),
        Format::GeoJson => return Ok(export::geojson(&observations(), audit_seq, next_cursor)),
        Format::Json => {}
    }
    let results: Vec<Value> = page.items.iter().map(|(o, m)| json!({ "observation": o, "match": m })).collect();
    Ok(Json(json!({
        "results": results,
        "next_cursor": next_cursor,
        "audit_seq": audit_seq,
        "explain": page.explain,
    }))
    .into_response())
}

/// The `summary` form of a plate search: counts, logged under the same action as the search.
async fn plate_summary(state: Arc<AppState>, account: Account, query: PlateQuery, fields: PurposeFields) -> Result<Response, ApiError> {
    let searched = tokio::task::spawn_blocking(move || state.investigations().plate_tally(&account.actor(), &fields, query))
        .await
        .map_err(ApiError::internal)??;
    let tally = searched.result;
    Ok(Json(json!({
        "reads": tally.reads,
        "plates_matched": tally.plates_matched,
        "plates": tally.plates,
        "audit_seq": searched.audit_seq,
        "explain": tally.explain,
    }))
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Circle {
    /// WGS84 latitude of the centre.
    lat: f64,
    /// WGS84 longitude of the centre.
    lon: f64,
    /// Metres, at most 50,000.
    radius_m: f64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaSearchBody {
    /// `json` (default), or `csv` / `geojson` for an export (logged as one).
    format: Option<String>,
    /// A purpose code from the deployment's policy.
    #[schema(required = true)]
    purpose: Option<String>,
    /// A case number in the policy's format.
    #[schema(required = true)]
    case_number: Option<String>,
    /// At least five words saying what and why; vague reasons are refused.
    #[schema(required = true)]
    justification: Option<String>,
    /// For a broad search: the reference of a warrant registered at /v1/warrants whose case, scope and term the
    /// search lies inside (else 403 naming `warrant_reference`).
    warrant_reference: Option<String>,
    /// For a broad search in an emergency: the claim's reference (a dispatch number). The search runs at once and
    /// opens a review a supervisor closes at /v1/exigency-reviews.
    exigency_reference: Option<String>,
    /// The id of an approved request from /v1/approvals covering this search, for a broad search.
    approval: Option<String>,
    /// A circle…
    circle: Option<Circle>,
    /// …or a GeoJSON Polygon or MultiPolygon geometry.
    polygon: Option<Value>,
    /// RFC 3339, inclusive.
    from: String,
    /// RFC 3339, exclusive.
    to: String,
    /// Kinds to return; all when empty.
    #[serde(default)]
    kinds: Vec<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1..=50000, default 1000.
    limit: Option<usize>,
}

fn area_query(body: &AreaSearchBody) -> Result<AreaQuery, ApiError> {
    let shape = match (&body.circle, &body.polygon) {
        (Some(c), None) => {
            if !LatLon::new(c.lat, c.lon).is_valid() {
                return Err(ApiError::bad_field("circle", "lat/lon out of range"));
            }
            if !(c.radius_m > 0.0 && c.radius_m <= CIRCLE_RADIUS_MAX_M) {
                return Err(ApiError::bad_field("circle", format!("radius_m must be in (0, {CIRCLE_RADIUS_MAX_M}]")));
            }
            Shape::Circle { center: LatLon::new(c.lat, c.lon), radius_m: c.radius_m }
        }
        (None, Some(p)) => Shape::Polygon(parse_geojson_area(p).map_err(|e| ApiError::bad_field("polygon", e))?),
        _ => return Err(ApiError::bad_field("circle", "give exactly one of circle or polygon")),
    };
    let (from, to) = super::parse_range(Some(&body.from), Some(&body.to))?;
    let (from, to) = (from.expect("given"), to.expect("given"));
    Ok(AreaQuery {
        shape,
        kinds: parse_kinds(&body.kinds)?,
        from,
        to,
        after: parse_cursor(body.cursor.as_deref())?,
        limit: parse_limit(body.limit, 1_000)?,
    })
}

/// What was observed inside a circle or a GeoJSON Polygon/MultiPolygon in a time range.
///
/// Oldest first, paginated with `next_cursor`. `explain` reports segments and row groups pruned and rows scanned.
///
/// A historical search: it must carry a purpose, a case number and a justification; it is logged in the audit log
/// before it runs (its `audit_seq` is returned) and its result count after. Missing or vague fields get 400
/// naming the field; a prohibited purpose gets 403. An area over area_km2_max or a span over span_days_max also
/// needs warrant_reference, exigency_reference or an approval. With `format` `csv` or `geojson` the page comes
/// back as a file (Content-Disposition, `X-Audit-Seq`, `X-Next-Cursor`) and the search is logged as an export.
#[utoipa::path(
    post,
    path = "/v1/search/area",
    request_body = AreaSearchBody,
    responses((status = 200, description = "`{observations, next_cursor, audit_seq, explain}`, or a CSV or GeoJSON file"), (status = 400, description = "a missing or vague field, named")),
)]
pub async fn area(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<AreaSearchBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let format = Format::parse(body.format.as_deref())?;
    let query = area_query(&body)?;
    let fields = purpose_fields!(body);
    let export = format != Format::Json;
    let searched = tokio::task::spawn_blocking(move || state.investigations().area(&account.actor(), &fields, query, export))
        .await
        .map_err(ApiError::internal)??;
    let (page, audit_seq) = (searched.result, searched.audit_seq);
    let next_cursor = page.next.map(|c| c.encode());
    let observations = || page.items.iter().map(|o| json!(o)).collect::<Vec<Value>>();
    match format {
        Format::Csv => return export::csv(&observations(), audit_seq, next_cursor),
        Format::GeoJson => return Ok(export::geojson(&observations(), audit_seq, next_cursor)),
        Format::Json => {}
    }
    Ok(Json(json!({
        "observations": page.items,
        "next_cursor": next_cursor,
        "audit_seq": audit_seq,
        "explain": page.explain,
    }))
    .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PointParams {
    /// WGS84 latitude.
    lat: f64,
    /// WGS84 longitude.
    lon: f64,
}

/// Registered cameras whose field of view contains a point, nearest first.
///
/// A camera's view is its position, bearing, opening angle and range. The camera registry is not personal data,
/// so no purpose is needed.
#[utoipa::path(
    get,
    path = "/v1/cameras/covering",
    params(PointParams),
    responses((status = 200, description = "`{point, cameras}`"), (status = 400, description = "a bad position")),
)]
pub async fn covering(
    State(state): State<Arc<AppState>>,
    params: Result<Query<PointParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let point = LatLon::new(params.lat, params.lon);
    if !point.is_valid() {
        return Err(ApiError::bad_field("lat", "lat/lon out of range"));
    }
    Ok(Json(json!({ "point": { "lat": point.lat, "lon": point.lon }, "cameras": cameras_covering(&state.devices(), point) })))
}

const CONTEXT_RADIUS_MAX_M: f64 = 2_000.0;
const CONTEXT_WINDOW_MAX_MIN: i64 = 180;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContextParams {
    /// A purpose code from the deployment's policy.
    #[param(required = true)]
    purpose: Option<String>,
    /// A case number in the policy's format.
    #[param(required = true)]
    case_number: Option<String>,
    /// At least five words saying what and why; vague reasons are refused.
    #[param(required = true)]
    justification: Option<String>,
    /// Overrides every kind's radius.
    radius_m: Option<f64>,
    /// Overrides every kind's half-window.
    window_minutes: Option<i64>,
}

/// An incident's neighbourhood.
///
/// Its reports, and per kind what was observed within that kind's radius and window of its first report (plate
/// reads 300 m ±5 min, video events 300 m ±10 min, sensor readings 500 m ±30 min, gunshots 1000 m ±30 min,
/// incidents 500 m ±60 min), plus the cameras whose field of view covers it.
///
/// A historical search: it must carry a purpose, a case number and a justification; it is logged in the audit log
/// before it runs (its `audit_seq` is returned) and its result count after. Missing or vague fields get 400
/// naming the field; a prohibited purpose gets 403.
#[utoipa::path(
    get,
    path = "/v1/incidents/{id}/context",
    params(("id" = String, Path, description = "the dispatch system's incident number"), ContextParams),
    responses((status = 200, description = "`{incident, anchor, windows, timeline, truncated, cameras, audit_seq}`"), (status = 400, description = "a missing or vague field, named"), (status = 404, description = "no incident has this id")),
)]
pub async fn incident_context(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(incident_id): Path<String>,
    params: Result<Query<ContextParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    glasshouse_model::device::validate_id(&incident_id).map_err(|e| ApiError::bad_field("id", format!("incident id {e}")))?;
    if let Some(r) = params.radius_m
        && !(r > 0.0 && r <= CONTEXT_RADIUS_MAX_M)
    {
        return Err(ApiError::bad_field("radius_m", format!("must be in (0, {CONTEXT_RADIUS_MAX_M}]")));
    }
    if let Some(w) = params.window_minutes
        && !(1..=CONTEXT_WINDOW_MAX_MIN).contains(&w)
    {
        return Err(ApiError::bad_field("window_minutes", format!("must be 1..={CONTEXT_WINDOW_MAX_MIN}")));
    }
    let windows = ContextWindow::defaults(params.radius_m, params.window_minutes);
    let fields = PurposeFields {
        purpose: params.purpose,
        case_number: params.case_number,
        justification: params.justification,
        ..Default::default()
    };
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let searched = state.investigations().incident_context(&account.actor(), &fields, incident_id, windows.clone())?;
        let context = searched.result;
        let anchor = &context.reports[0];
        let center = LatLon::new(anchor.position.lat, anchor.position.lon);
        let (timeline, truncated) = super::situations::timeline(&context.neighbourhood);
        Ok(json!({
            "incident": context.reports,
            "anchor": { "lat": center.lat, "lon": center.lon, "at": anchor.observed_at },
            "windows": windows_json(&windows),
            "timeline": timeline,
            "truncated": truncated,
            "cameras": cameras_covering(&state.devices(), center),
            "audit_seq": searched.audit_seq,
        }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(answer))
}
