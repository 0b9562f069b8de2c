//! Hotlists: create, list, add entries.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_engine::{NewHotlist, NewHotlistEntry};
use glasshouse_model::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest number of entries in one request: what the application layer takes in one call.
const ENTRIES_PER_REQUEST_MAX: usize = glasshouse_app::hotlists::ENTRIES_PER_CALL_MAX;

/// Creates a hotlist.
///
/// Audited.
#[utoipa::path(
    post,
    path = "/v1/hotlists",
    request_body = NewHotlist,
    responses((status = 201, description = "`{id}`"), (status = 400, description = "a bad field, named")),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewHotlist>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let hotlist = request
        .into_hotlist(glasshouse_app::changes::new_id("hl"), &account.name, Timestamp::now())
        .map_err(|e| ApiError::bad_field(e.field.clone(), e.to_string()))?;
    let id = hotlist.id.clone();
    tokio::task::spawn_blocking(move || state.create_hotlist(&account.actor(), hotlist)).await.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Hotlists with their entry counts.
#[utoipa::path(
    get,
    path = "/v1/hotlists",
    responses((status = 200, description = "`{hotlists: [...]}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let engine = state.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
    let lists: Vec<Value> = engine
        .hotlists
        .lists()
        .into_iter()
        .map(|(list, entries)| {
            let mut value = serde_json::to_value(list).expect("hotlists serialise");
            value["entries"] = json!(entries);
            value
        })
        .collect();
    Json(json!({ "hotlists": lists }))
}

fn entries_from_csv(body: &[u8]) -> Result<Vec<NewHotlistEntry>, ApiError> {
    use glasshouse_engine::rules::hotlist_csv::{CsvError, entries_from_csv};
    entries_from_csv(body, ENTRIES_PER_REQUEST_MAX).map_err(|e| match e {
        CsvError::Bad { .. } => ApiError::bad_field("csv", e.to_string()),
        CsvError::TooMany(max) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {max} entries per request")),
    })
}

/// Adds or renews entries, all or nothing.
///
/// New entries are matched against the plate reads of the last 24 hours; matches become alerts marked
/// retroactive. Audited. Also accepts a CSV file (Content-Type: text/csv) with a header naming plate, reason and
/// expires_at (RFC 3339) and optionally region; a bad row is named by its line number and nothing is imported.
#[utoipa::path(
    post,
    path = "/v1/hotlists/{id}/entries",
    params(("id" = String, Path, description = "the hotlist id")),
    request_body(content((Vec<NewHotlistEntry> = "application/json"), ("text/csv"))),
    responses((status = 200, description = "`{added, retroactive_alerts}`"), (status = 400, description = "a bad entry or row, named"), (status = 404, description = "no such hotlist"), (status = 413, description = "more than 100,000 entries")),
)]
pub async fn add_entries(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    let is_csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let requests: Vec<NewHotlistEntry> = if is_csv {
        entries_from_csv(&body)?
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_field("body", format!("expected a JSON array of entries: {e}")))?
    };
    if requests.len() > ENTRIES_PER_REQUEST_MAX {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {ENTRIES_PER_REQUEST_MAX} entries per request")));
    }
    let now = Timestamp::now();
    // All or nothing: a list half-imported is worse than a clear error naming the bad entry (for a
    // CSV, entry n is on line n + 2).
    let entries = requests
        .into_iter()
        .enumerate()
        .map(|(index, entry)| entry.into_entry(index, &account.name, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_field(e.field.clone(), if is_csv { format!("CSV {e}") } else { e.to_string() }))?;
    let count = entries.len();
    let retroactive = tokio::task::spawn_blocking(move || state.add_hotlist_entries(&account.actor(), &id, entries, now))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({ "added": count, "retroactive_alerts": retroactive })))
}

/// A hotlist's entries.
///
/// Audited.
#[utoipa::path(
    get,
    path = "/v1/hotlists/{id}/entries",
    params(("id" = String, Path, description = "the hotlist id")),
    responses((status = 200, description = "`{hotlist, entries}`"), (status = 404, description = "no such hotlist")),
)]
pub async fn list_entries(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let listed = tokio::task::spawn_blocking(move || state.hotlist_entries(&account.actor(), &id)).await.map_err(ApiError::internal)??;
    Ok(Json(json!({ "hotlist": listed.list, "entries": listed.entries() })))
}
