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

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    // A failing OS random source is not recoverable for id generation.
    getrandom::fill(&mut bytes).expect("os random source");
    format!("hl-{}", hex::encode(bytes))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewHotlist>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let hotlist =
        request.into_hotlist(new_id(), &account.name, Timestamp::now()).map_err(|e| ApiError::bad_field(e.field.clone(), e.to_string()))?;
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

pub async fn add_entries(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Vec<NewHotlistEntry>>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(requests) = body?;
    if requests.len() > ENTRIES_PER_REQUEST_MAX {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {ENTRIES_PER_REQUEST_MAX} entries per request")));
    }
    let now = Timestamp::now();
    // All or nothing: a list half-imported is worse than a clear error naming the bad entry.
    let entries = requests
        .into_iter()
        .enumerate()
        .map(|(index, entry)| entry.into_entry(index, &account.name, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_field(e.field.clone(), e.to_string()))?;
    let count = entries.len();
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
    Ok(Json(json!({ "added": count })))
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
