//! `GET /v1/situations/{id}`: a situation (an alert opened by a gunshot or a listed incident) with
//! its context, assembled when it is opened: the cameras whose field of view covers the point, and
//! per kind what was observed within that kind's radius and window (plate reads 300 m ±5 min, …),
//! from the hot window and the segments alike.
//!
//! This is real-time response, not investigation: operators see it while the situation is open and
//! for a day after the trigger, without a purpose form, and each opening is in the audit log. Older or
//! closed situations are history, which takes an incident-context search with a purpose.

use super::search::{Neighbourhood, cameras_covering, context_windows, neighbourhood, windows_json};
use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_engine::AlertStatus;
use glasshouse_model::{LatLon, Timestamp};
use serde_json::{Value, json};
use std::sync::Arc;

/// How long after its trigger a situation stays open to operators.
const SITUATION_VIEW_SECS: i64 = 24 * 3600;

pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let alert = state.alerts.get(&id).filter(|a| a.rule == "situation").ok_or_else(|| ApiError::not_found(format!("no situation {id}")))?;
    if alert.status == AlertStatus::Closed || Timestamp::now().0 - alert.observed_at.0 > SITUATION_VIEW_SECS * 1_000_000 {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this situation is closed or more than a day old: its context is history now; search it as an incident context, with a purpose",
        ));
    }
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        // The windows the rule had when it opened the situation (older situations: the defaults).
        let situation = alert.situation.as_ref().ok_or_else(|| ApiError::internal("a situation alert without its trigger"))?;
        let windows = if situation.windows.is_empty() {
            context_windows(None, None)
        } else {
            situation.windows.iter().filter_map(|w| Some((glasshouse_model::Kind::parse(&w.kind)?, w.radius_m, w.minutes))).collect()
        };
        let details = json!({ "situation": alert.id, "windows": windows_json(&windows) });
        let receipt = state.audit(&account, "situation.view", "ok", details)?;
        let center = LatLon::new(alert.lat, alert.lon);
        let Neighbourhood { timeline, truncated, total } =
            neighbourhood(&state, &receipt, center, alert.observed_at, &windows, &[alert.observation_id.as_str()])?;
        state.audit(&account, "situation.view.result", "ok", json!({ "view_seq": receipt.seq(), "results": total }))?;
        Ok(json!({
            "situation": alert,
            "anchor": { "lat": center.lat, "lon": center.lon, "at": alert.observed_at },
            "windows": windows_json(&windows),
            "timeline": timeline,
            "truncated": truncated,
            "cameras": cameras_covering(&state.devices(), center),
            "audit_seq": receipt.seq(),
        }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(answer))
}
