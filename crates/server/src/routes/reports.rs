//! `GET /v1/reports?from=&to=&format=html|json`: the transparency report.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use glasshouse_app::reports::render_html;
use glasshouse_model::Timestamp;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// RFC 3339; default 30 days before `to`.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
    /// `html` (the default) or `json`.
    format: Option<String>,
}

/// The transparency report for a period, computed from the live system.
///
/// HTML with inline SVG charts (the default) or JSON.
#[utoipa::path(
    get,
    path = "/v1/reports",
    params(ReportParams),
    responses((status = 200, description = "text/html or application/json"), (status = 400, description = "a bad period or format")),
)]
pub async fn report(State(state): State<Arc<AppState>>, params: Result<Query<ReportParams>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let parse = |field: &str, value: Option<&str>, default: Timestamp| -> Result<Timestamp, ApiError> {
        match value {
            None => Ok(default),
            Some(text) => {
                Timestamp::parse_rfc3339(text).ok_or_else(|| ApiError::bad_field(field, format!("{text:?} is not an RFC 3339 time")))
            }
        }
    };
    let now = Timestamp::now();
    let to = parse("to", params.to.as_deref(), now.plus_secs(1))?;
    let from = parse("from", params.from.as_deref(), to.plus_secs(-30 * 86_400))?;
    if from >= to {
        return Err(ApiError::bad_field("to", "must be after from"));
    }
    let html = match params.format.as_deref() {
        None | Some("html") => true,
        Some("json") => false,
        Some(other) => return Err(ApiError::bad_field("format", format!("{other:?}: use html or json"))),
    };
    let built = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let access = state.access().map_err(ApiError::internal)?;
        Ok(state.transparency_report(&access, from, to, now)?)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(if html {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], render_html(&built)).into_response()
    } else {
        axum::Json(built).into_response()
    })
}
