//! `/v1/sessions`: an account enrolled for a second factor trades its token and a current TOTP code
//! for a session token (see `second_factor`). Opening one is a logon and is audited before the
//! session exists; wrong codes are audited as refused logons.

use crate::auth::{Account, TokenStore};
use crate::error::ApiError;
use crate::second_factor::{CodeRefusal, SESSION_PREFIX};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use glasshouse_app::Action;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// The current six-digit TOTP code.
    code: String,
}

fn unauthorized(message: &str, field: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::UNAUTHORIZED, message);
    error.field = Some(field.into());
    error
}

/// Opens a session for an account enrolled for a TOTP second factor.
///
/// The account token as bearer and a current six-digit code open a session token for 12 hours (an account is
/// enrolled with `glasshouse token totp`). Each code opens one session; five wrong codes in five minutes lock the
/// account out for a while (429 with Retry-After). Audited as a logon; wrong codes are audited as refused.
#[utoipa::path(
    post,
    path = "/v1/sessions",
    request_body = NewSession,
    responses((status = 201, description = "`{token, expires_at, account}`"), (status = 400, description = "a malformed code"), (status = 401, description = "a wrong token or code"), (status = 429, description = "locked out for now; see Retry-After")),
)]
pub async fn open(
    State(state): State<Arc<AppState>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    body: Result<Json<NewSession>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let client = state.throttle.client(&headers, peer.map(|p| p.0.0));
    super::refuse_if_closed(&state, client)?;
    let token = super::bearer(&headers).unwrap_or_default();
    let Some(account) = state.tokens.authenticate(token) else {
        super::count_failed_logon(&state, client);
        return Err(unauthorized("a valid account token is required", "authorization"));
    };
    let Json(body) = body?;
    let parent = TokenStore::token_hash(token);
    tokio::task::spawn_blocking(move || open_blocking(&state, account, &parent, &body.code)).await.map_err(ApiError::internal)?
}

fn open_blocking(state: &AppState, account: Account, parent: &str, code: &str) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = chrono::Utc::now().timestamp();
    match state.second_factor.check_code(&account.name, code, now) {
        Ok(()) => {}
        Err(CodeRefusal::NotEnrolled) => {
            return Err(ApiError::bad_field("code", "this account has no second factor: use its token directly"));
        }
        Err(CodeRefusal::LockedOut { retry_after_secs }) => {
            // Not audited one by one: the wrong codes that caused the lock-out were, and attempts
            // against it are counted with the other refused logons, so a script cannot flood the log.
            state.failed_logons.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::metrics::auth_refused();
            let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many wrong codes: wait before trying again");
            error.field = Some("code".into());
            error.retry_after_secs = Some(retry_after_secs);
            return Err(error);
        }
        Err(refusal) => {
            let reason = if refusal == CodeRefusal::Reused { "code already used" } else { "wrong code" };
            state.audit(&account, Action::AccountSecondFactorRefused, "refused", json!({ "reason": reason }))?;
            let message = if refusal == CodeRefusal::Reused {
                "that code was already used: wait for the next one"
            } else {
                "that code is not valid now: check the authenticator app's clock and account"
            };
            return Err(unauthorized(message, "code"));
        }
    }
    // The logon is in the log before the session exists.
    let expires_at = now + crate::second_factor::SESSION_TTL_SECS;
    let expires_text = chrono::DateTime::from_timestamp(expires_at, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
    state.audit(&account, Action::AccountLogon, "ok", json!({ "second_factor": "totp", "session_expires_at": expires_text }))?;
    state.logged_on.lock().unwrap_or_else(|p| p.into_inner()).insert(account.name.clone());
    let (token, _) = state.second_factor.open_session(parent, now);
    Ok((StatusCode::CREATED, Json(json!({ "token": token, "expires_at": expires_text, "account": account }))))
}

/// Ends the session presented as the bearer token (sign-out).
///
/// Audited.
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    responses((status = 204, description = "signed out"), (status = 400, description = "the token is an account token, not a session")),
)]
pub async fn end(State(state): State<Arc<AppState>>, request: Request) -> Result<StatusCode, ApiError> {
    let token = super::bearer(request.headers()).unwrap_or_default().to_owned();
    if !token.starts_with(SESSION_PREFIX) {
        return Err(ApiError::bad_field("authorization", "this is an account token, not a session: there is nothing to end"));
    }
    let account = request.extensions().get::<Account>().cloned().ok_or_else(|| ApiError::internal("no account on a checked request"))?;
    tokio::task::spawn_blocking(move || {
        state.audit(&account, Action::AccountSessionEnded, "ok", json!({}))?;
        state.second_factor.end_session(&token);
        Ok(StatusCode::NO_CONTENT)
    })
    .await
    .map_err(ApiError::internal)?
}
