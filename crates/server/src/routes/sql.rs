//! `POST /v1/sql`: analysts' SQL, aggregate-only, over tables without plates. The query is planned
//! and checked, then logged, then run.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::{AppState, SqlFailure};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Longest SQL text accepted.
const SQL_CHARS_MAX: usize = 16 * 1024;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlBody {
    /// One query, at most 16 KiB.
    sql: String,
}

/// Analysts' aggregate SQL over one table per kind.
///
/// DataFusion dialect, over plate_reads, sensor_readings, gunshots, incidents and video_events. The tables have
/// no plate, OCR candidate, image or id columns. Read-only and aggregate-only: every scan of an observation table
/// must feed an aggregate (count, sum, avg, min, max, median, stddev, var, approx_distinct,
/// approx_percentile_cont, …); row-level output, window functions and row-returning aggregates get 403 naming
/// `sql`, malformed queries 400. The query is planned and checked, logged (as a keyed hash, with the tables it
/// reads), then run; `audit_seq` names the entry. Sees flushed segments only (seconds behind live).
#[utoipa::path(
    post,
    path = "/v1/sql",
    request_body = SqlBody,
    responses((status = 200, description = "`{columns, rows, truncated, audit_seq}` (at most 100,000 rows)"), (status = 400, description = "a malformed query"), (status = 503, description = "SQL is not enabled on this server")),
)]
pub async fn query(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<SqlBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    if body.sql.trim().is_empty() || body.sql.len() > SQL_CHARS_MAX {
        return Err(ApiError::bad_field("sql", format!("must be 1..={SQL_CHARS_MAX} bytes")));
    }
    let Some(sql) = state.sql.clone() else {
        return Err(ApiError::busy("SQL is not available on this server", 60));
    };
    let audited = state.clone();
    let who = account.clone();
    let text = body.sql.clone();
    let seq = Arc::new(std::sync::Mutex::new(None));
    let seq_out = seq.clone();
    // The entry keeps the query only as a keyed hash (free text), with the tables it reads.
    let before_run = Box::new(move |tables: &[String]| -> Result<(), String> {
        let logged = tokio::task::block_in_place(|| audited.log_sql(&who.actor(), &text, tables, "http")).map_err(|e| e.message)?;
        *seq_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(logged);
        Ok(())
    });
    let answer = sql.query(body.sql, before_run).await.map_err(|failure| match failure {
        SqlFailure::Invalid(reason) => ApiError::bad_field("sql", reason),
        SqlFailure::Refused(reason) => ApiError { field: Some("sql".into()), ..ApiError::new(StatusCode::FORBIDDEN, reason) },
        SqlFailure::Audit(_) => ApiError::busy("the audit log cannot be written, so the query did not run", 30),
        SqlFailure::Failed(reason) => ApiError::internal(reason),
    })?;
    let audit_seq = *seq.lock().unwrap_or_else(|p| p.into_inner());
    let mut answer = answer;
    answer["audit_seq"] = json!(audit_seq);
    Ok(Json(answer))
}
