//! `GET /v1/situations/{id}`: a situation (an alert opened by a gunshot or a listed incident) with
//! its context: the cameras whose field of view covers the point, and per kind what was observed
//! within that kind's radius and window (plate reads 300 m ±5 min, …). Operators see it while the
//! situation is open and for a day after, without a purpose form; each opening is audited. The
//! rules are the investigations use case's.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use glasshouse_app::investigations::{cameras_covering, windows_json};
use glasshouse_model::Timestamp;
use glasshouse_store::KindContext;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A situation and its context, assembled now.
///
/// An alert (rule `situation`) opened by a gunshot or by an incident of a listed type, with the cameras whose
/// field of view covers the point, and per kind what was observed within its radius and window of the trigger
/// (plate reads 300 m ±5 min, video events 300 m ±10 min, sensor readings 500 m ±30 min, gunshots 1000 m ±30 min,
/// incidents 500 m ±60 min), from the hot window and the segments. For real-time response: available while the
/// situation is open and for a day after the trigger (later: 403, use an incident context search with a purpose).
/// Each opening is audited.
#[utoipa::path(
    get,
    path = "/v1/situations/{id}",
    params(("id" = String, Path, description = "the situation's alert id")),
    responses((status = 200, description = "the situation and its context"), (status = 404, description = "no such situation")),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let view = state.investigations().situation(&account.actor(), &id, Timestamp::now())?;
        let (timeline, truncated) = timeline(&view.neighbourhood);
        Ok(json!({
            "situation": view.alert,
            "anchor": { "lat": view.center.lat, "lon": view.center.lon, "at": view.alert.observed_at },
            "windows": windows_json(&view.windows),
            "timeline": timeline,
            "truncated": truncated,
            "cameras": cameras_covering(&state.devices(), view.center),
            "audit_seq": view.audit_seq,
        }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(answer))
}

/// A neighbourhood as the API shows it: per kind, the observations, and whether more matched.
pub(super) fn timeline(neighbourhood: &[KindContext]) -> (Map<String, Value>, Map<String, Value>) {
    let mut timeline = Map::new();
    let mut truncated = Map::new();
    for context in neighbourhood {
        timeline.insert(context.kind.as_str().into(), json!(context.observations));
        truncated.insert(context.kind.as_str().into(), json!(context.truncated));
    }
    (timeline, truncated)
}
