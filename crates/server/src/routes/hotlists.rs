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
use glasshouse_store::{Catalog, CatalogEvent};
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest number of entries in one request.
const ENTRIES_PER_REQUEST_MAX: usize = 100_000;

fn publish(state: &AppState, catalog: &Catalog) {
    *state.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog.engine());
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewHotlist>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let hotlist = request
        .into_hotlist(super::new_id("hl"), &account.name, Timestamp::now())
        .map_err(|e| ApiError::bad_field(e.field.clone(), e.to_string()))?;
    let id = hotlist.id.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut catalog = state.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let details = json!({ "hotlist_id": hotlist.id, "name": hotlist.name, "source": hotlist.source, "match": hotlist.match_policy, "priority": hotlist.priority });
        state.audit(&account, "hotlist.create", "ok", details)?;
        catalog.record(CatalogEvent::HotlistCreated { hotlist }).map_err(ApiError::internal)?;
        publish(&state, &catalog);
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

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

/// A CSV import: a header row naming `plate`, `reason` and `expires_at` (RFC 3339), and optionally
/// `region`, in any order. A bad row is named by its line number and nothing is imported.
fn entries_from_csv(body: &[u8]) -> Result<Vec<NewHotlistEntry>, ApiError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| ApiError::bad_field("csv", format!("line 1: {e}")))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(plate), Some(reason), Some(expires)) = (column("plate"), column("reason"), column("expires_at")) else {
        return Err(ApiError::bad_field("csv", "line 1: the header must name plate, reason and expires_at (and may name region)"));
    };
    let region = column("region");
    let mut entries = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| ApiError::bad_field("csv", format!("line {line}: {e}")))?;
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        let expires_at = Timestamp::parse_rfc3339(&field(expires))
            .ok_or_else(|| ApiError::bad_field("csv", format!("line {line}: expires_at {:?} is not an RFC 3339 time", field(expires))))?;
        entries.push(NewHotlistEntry {
            plate: field(plate),
            region: region.map(field).filter(|r| !r.is_empty()),
            reason: field(reason),
            expires_at,
        });
        if entries.len() > ENTRIES_PER_REQUEST_MAX {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {ENTRIES_PER_REQUEST_MAX} entries per request")));
        }
    }
    Ok(entries)
}

/// `POST /v1/hotlists/{id}/entries`: a JSON array of entries, or a CSV file (`Content-Type: text/csv`).
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
    let fresh = entries.clone();
    let retro_state = state.clone();
    let retro_account = account.clone();
    let retro_list = id.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut catalog = state.catalog.lock().unwrap_or_else(|p| p.into_inner());
        if catalog.hotlists.list(&id).is_none() {
            return Err(ApiError::not_found(format!("no hotlist {id}")));
        }
        let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
        for entry in &entries {
            *reasons.entry(entry.reason.as_str()).or_default() += 1;
        }
        // Plates only as keyed hashes, so the log can be published.
        let plates: Vec<String> = entries.iter().map(|e| state.audit.keyed("plate", &e.plate)).collect();
        let details = json!({ "hotlist_id": id, "entries": entries.len(), "reasons": reasons, "plates": plates });
        state.audit(&account, "hotlist.entries_add", "ok", details)?;
        catalog.record(CatalogEvent::HotlistEntriesAdded { hotlist_id: id, entries }).map_err(ApiError::internal)?;
        publish(&state, &catalog);
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    let retroactive = tokio::task::spawn_blocking(move || past_read_match(&retro_state, &retro_account, &retro_list, fresh))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({ "added": count, "retroactive_alerts": retroactive })))
}

/// How far back a new entry is matched against reads already made: a car stolen this morning may
/// have passed a reader before it was listed.
const PAST_READ_HOURS: i64 = 24;

/// Matches new entries against the plate reads of the last [`PAST_READ_HOURS`], raising retroactive
/// alerts. A look at history, so it is logged like a search, with the count it found.
fn past_read_match(
    state: &AppState,
    account: &Account,
    list_id: &str,
    entries: Vec<glasshouse_engine::HotlistEntry>,
) -> Result<usize, ApiError> {
    let engine = state.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(list) = engine.hotlists.list(list_id).cloned() else { return Ok(0) };
    let mut index = glasshouse_engine::HotlistIndex::default();
    index.upsert_list(list);
    index.add_entries(list_id, entries);
    let now = Timestamp::now();
    let query = glasshouse_store::ObservationQuery {
        kinds: vec![glasshouse_model::Kind::PlateRead],
        from: Some(now.plus_secs(-PAST_READ_HOURS * 3600)),
        to: Some(now.plus_secs(1)),
        bbox: None,
        limit: glasshouse_model::limits::QUERY_RESULTS_MAX,
    };
    let receipt = state.audit(account, "hotlist.past_read_match", "ok", json!({ "hotlist_id": list_id, "hours": PAST_READ_HOURS }))?;
    let result = state.store.query(&query, &receipt).map_err(ApiError::internal)?;
    let mut alerts = Vec::new();
    for read in &result.observations {
        index.evaluate(read, &mut alerts);
    }
    for alert in &mut alerts {
        alert.retroactive = true;
    }
    // Repeats of one plate within minutes fold into one alert, as on the live path.
    let count = state.alerts.append(alerts).map_err(ApiError::internal)?;
    state.audit(
        account,
        "hotlist.past_read_match.result",
        "ok",
        json!({ "search_seq": receipt.seq(), "reads_checked": result.observations.len(), "alerts": count, "truncated": result.truncated }),
    )?;
    Ok(count)
}

pub async fn list_entries(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let engine = state.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
    let list = engine.hotlists.list(&id).ok_or_else(|| ApiError::not_found(format!("no hotlist {id}")))?.clone();
    let count = engine.hotlists.entries(&id).len();
    let audited = state.clone();
    tokio::task::spawn_blocking(move || {
        audited.audit(&account, "hotlist.entries_read", "ok", json!({ "hotlist_id": id, "entries": count }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "hotlist": list, "entries": engine.hotlists.entries(&list.id) })))
}
