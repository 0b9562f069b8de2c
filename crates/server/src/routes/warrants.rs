//! `/v1/warrants` and `/v1/exigency-reviews`: the authority broad searches rest on. Custodians and
//! supervisors register and revoke warrants; supervisors close the reviews that exigency claims
//! open. Every step is in the audit log before it takes effect.

use crate::auth::{Account, Role};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_audit::exigency::ExigencyReview;
use glasshouse_audit::warrants::{Warrant, WarrantScope, WarrantStatus};
use glasshouse_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn describe_warrant(warrant: &Warrant, now: Timestamp) -> Value {
    let mut value = serde_json::to_value(warrant).expect("warrants serialise");
    value["state"] = json!(warrant.state(now));
    value
}

fn describe_review(review: &ExigencyReview, now: Timestamp) -> Value {
    let mut value = serde_json::to_value(review).expect("reviews serialise");
    value["state"] = json!(review.state(now));
    value
}

fn time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    super::parse_time(field, Some(text)).map(|t| t.expect("given"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarrant {
    /// The reference on the document, as searches will cite it: 1..=64 letters, digits or - / : ..
    reference: String,
    /// The court or judge that issued it.
    issuing_authority: String,
    /// The case it was issued in, in the policy's format; searches citing it must name this case.
    case_number: String,
    /// Plates whose reads it allows following.
    #[serde(default)]
    plates: Vec<String>,
    /// `[min_lon, min_lat, max_lon, max_lat]` an area search must lie inside.
    #[serde(default)]
    bbox: Option<[f64; 4]>,
    /// RFC 3339: the earliest observation it reaches.
    from: String,
    /// RFC 3339: the latest (exclusive).
    to: String,
    /// RFC 3339: when its authority ends, at most 366 days ahead.
    expires_at: String,
    /// SHA-256 of the signed document, 64 lowercase hex digits.
    document_sha256: String,
}

/// Registers a warrant from its signed document.
///
/// A broad search citing its reference runs only for its case, inside its scope (one of its plates,
/// or an area inside its bbox, within [from, to)) and before it expires or is revoked. Plates or a
/// bbox are required. Audited (plates as keyed hashes). 409 when the reference is taken.
#[utoipa::path(
    post,
    path = "/v1/warrants",
    request_body = NewWarrant,
    responses((status = 201, description = "the warrant"), (status = 400, description = "a bad field, named"), (status = 409, description = "the reference is registered already")),
)]
pub async fn register(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewWarrant>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let plates = body
        .plates
        .iter()
        .map(|p| glasshouse_model::plate::normalize(p).map_err(|e| ApiError::bad_field("plates", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let now = Timestamp::now();
    let warrant = Warrant {
        id: glasshouse_app::changes::new_id("wrt"),
        reference: body.reference,
        issuing_authority: body.issuing_authority,
        case_number: body.case_number,
        scope: WarrantScope { plates, bbox: body.bbox, from: time("from", &body.from)?, to: time("to", &body.to)? },
        expires_at: time("expires_at", &body.expires_at)?,
        document_sha256: body.document_sha256,
        registered_by: account.name.clone(),
        registered_at: now,
        status: WarrantStatus::Registered,
        revoked_by: None,
        revoked_at: None,
        revocation_reason: None,
    };
    let warrant = tokio::task::spawn_blocking(move || state.investigations().register_warrant(&account.actor(), warrant))
        .await
        .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(describe_warrant(&warrant, now))))
}

/// Every registered warrant, newest first, with its state.
///
/// in_force, expired or revoked.
#[utoipa::path(
    get,
    path = "/v1/warrants",
    responses((status = 200, description = "`{warrants: [...]}`")),
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let now = Timestamp::now();
    Json(json!({ "warrants": state.warrants.list().iter().map(|w| describe_warrant(w, now)).collect::<Vec<_>>() }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// Why: the order that quashed it, or the withdrawal.
    reason: String,
}

/// Revokes a warrant.
///
/// Searches citing it are refused from then on. Audited (the reason as a keyed hash).
#[utoipa::path(
    post,
    path = "/v1/warrants/{id}/revocation",
    params(("id" = String, Path, description = "the warrant id")),
    request_body = Revocation,
    responses((status = 200, description = "the warrant"), (status = 404, description = "no such warrant"), (status = 409, description = "already revoked")),
)]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Revocation>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let now = Timestamp::now();
    let warrant = tokio::task::spawn_blocking(move || state.investigations().revoke_warrant(&account.actor(), &id, body.reason, now))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(describe_warrant(&warrant, now)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewFilter {
    /// `open` (including overdue), `overdue`, `closed`, or all when absent.
    state: Option<String>,
}

/// Exigency reviews, newest first, with their state.
///
/// Every review for supervisors and auditors; their own claims' for investigators. `state` filters:
/// open (including overdue), overdue, closed.
#[utoipa::path(
    get,
    path = "/v1/exigency-reviews",
    params(ReviewFilter),
    responses((status = 200, description = "`{reviews: [...], open, overdue}`"), (status = 400, description = "an unknown state")),
)]
pub async fn reviews(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Query(filter): Query<ReviewFilter>,
) -> Result<Json<Value>, ApiError> {
    let now = Timestamp::now();
    let keep: fn(&str) -> bool = match filter.state.as_deref() {
        None => |_| true,
        Some("open") => |s| s == "open" || s == "overdue",
        Some("overdue") => |s| s == "overdue",
        Some("closed") => |s| s == "upheld" || s == "not_upheld",
        Some(other) => return Err(ApiError::bad_field("state", format!("{other:?} is not open, overdue or closed"))),
    };
    let own = (account.role == Role::Investigator).then_some(account.name.as_str());
    let all = state.exigencies.list(own);
    let count = |s: &str| all.iter().filter(|r| r.state(now) == s).count();
    let (open, overdue) = (count("open") + count("overdue"), count("overdue"));
    let listed: Vec<Value> = all.iter().filter(|r| keep(r.state(now))).map(|r| describe_review(r, now)).collect();
    Ok(Json(json!({ "reviews": listed, "open": open, "overdue": overdue })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// True when the emergency was real.
    upheld: bool,
    /// Why, in at least three words.
    reason: String,
}

/// Closes an exigency review: the emergency upheld or not.
///
/// By a supervisor other than the claimant. Audited (the reason as a keyed hash).
#[utoipa::path(
    post,
    path = "/v1/exigency-reviews/{id}/decision",
    params(("id" = String, Path, description = "the review id")),
    request_body = ReviewDecision,
    responses((status = 200, description = "the review"), (status = 404, description = "no such review"), (status = 409, description = "already closed")),
)]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<ReviewDecision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let now = Timestamp::now();
    let review =
        tokio::task::spawn_blocking(move || state.investigations().decide_review(&account.actor(), &id, body.upheld, body.reason, now))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(describe_review(&review, now)))
}
