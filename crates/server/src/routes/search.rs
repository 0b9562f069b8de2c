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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlateSearchBody {
    purpose: Option<String>,
    case_number: Option<String>,
    justification: Option<String>,
    warrant_reference: Option<String>,
    exigency_reference: Option<String>,
    approval: Option<String>,
    plate: String,
    /// `json` (default), or `csv` / `geojson` for an export (logged as one).
    format: Option<String>,
    /// `exact` (default), `wildcard` or `tolerant`.
    mode: Option<String>,
    /// Tolerant mode: substitutions beyond the confusable classes, 0..=2 (default 1).
    substitutions_max: Option<u8>,
    /// Tolerant mode: allow one character more or less (default false).
    length_tolerance: Option<bool>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
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

/// `POST /v1/search/plates`: where a plate (or a pattern, or a misread of it) was read.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circle {
    lat: f64,
    lon: f64,
    radius_m: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaSearchBody {
    /// `json` (default), or `csv` / `geojson` for an export (logged as one).
    format: Option<String>,
    purpose: Option<String>,
    case_number: Option<String>,
    justification: Option<String>,
    warrant_reference: Option<String>,
    exigency_reference: Option<String>,
    approval: Option<String>,
    /// A circle…
    circle: Option<Circle>,
    /// …or a GeoJSON Polygon or MultiPolygon geometry.
    polygon: Option<Value>,
    from: String,
    to: String,
    #[serde(default)]
    kinds: Vec<String>,
    cursor: Option<String>,
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

/// `POST /v1/search/area`: what was observed inside a circle or polygon in a time range.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointParams {
    lat: f64,
    lon: f64,
}

/// `GET /v1/cameras/covering?lat=&lon=`: the registry's cameras that can see a point. The camera
/// registry is not personal data, so this needs no purpose.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextParams {
    purpose: Option<String>,
    case_number: Option<String>,
    justification: Option<String>,
    /// Overrides every kind's radius.
    radius_m: Option<f64>,
    /// Overrides every kind's half-window.
    window_minutes: Option<i64>,
}

/// `GET /v1/incidents/{id}/context`: the incident's reports and, per kind, what was observed within
/// that kind's radius and time window of its first report, plus the cameras that could see it.
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
