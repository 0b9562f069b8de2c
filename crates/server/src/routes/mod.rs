//! The router, the permission table and the middleware that enforces it.

mod alerts;
mod approvals;
mod audit;
mod console;
mod devices;
mod export;
mod holds;
mod hotlists;
mod meta;
mod observations;
mod purpose;
mod reports;
mod rules;
mod search;
mod sessions;
mod sharing;
mod sinks;
mod situations;
mod sql;

use crate::auth::{Account, Role};
use crate::error::ApiError;
use crate::state::{AppState, AuthRefusal};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use glasshouse_model::limits::INGEST_BODY_BYTES_MAX;
use std::sync::Arc;

use Role::*;
use glasshouse_app::Action;

/// Every authenticated route and the roles that may call it. The middleware refuses any route
/// missing from this table, so a new route cannot be reachable by accident.
pub const PERMISSIONS: &[(&str, &str, &[Role])] = &[
    ("GET", "/v1/whoami", &Role::ALL),
    ("DELETE", "/v1/sessions/current", &Role::ALL),
    ("GET", "/v1/accounts", &[Administrator, Auditor, Supervisor]),
    ("GET", "/v1/sensors/latest", &[Operator, Supervisor, Investigator, Administrator]),
    ("GET", "/v1/openapi.json", &Role::ALL),
    ("GET", "/v1/status", &Role::ALL),
    ("GET", "/v1/policy", &Role::ALL),
    ("GET", "/v1/basemap", &[Operator, Investigator, Supervisor, Analyst, Custodian, Auditor, Administrator]),
    ("GET", "/v1/map/style", &[Operator, Investigator, Supervisor, Analyst, Custodian, Auditor, Administrator]),
    ("POST", "/v1/observations", &[Ingest]),
    ("GET", "/v1/observations", &[Investigator]),
    ("GET", "/v1/dead_letters", &[Ingest, Custodian]),
    ("POST", "/v1/search/plates", &[Investigator]),
    ("POST", "/v1/search/area", &[Investigator]),
    ("GET", "/v1/incidents/{id}/context", &[Investigator]),
    ("GET", "/v1/cameras/covering", &[Operator, Investigator, Supervisor]),
    ("PUT", "/v1/devices/{id}", &[Administrator]),
    ("GET", "/v1/devices", &[Administrator, Operator, Investigator, Supervisor, Analyst]),
    ("POST", "/v1/hotlists", &[Administrator]),
    ("GET", "/v1/hotlists", &[Administrator, Operator]),
    ("POST", "/v1/hotlists/{id}/entries", &[Administrator]),
    ("GET", "/v1/hotlists/{id}/entries", &[Administrator]),
    ("GET", "/v1/alerts", &[Operator, Supervisor]),
    ("GET", "/v1/alerts/stream", &[Operator, Supervisor]),
    ("GET", "/v1/alerts/ws", &[Operator, Supervisor]),
    ("GET", "/v1/alerts/stats", &[Operator, Supervisor, Analyst, Auditor]),
    ("GET", "/v1/alerts/{id}", &[Operator, Supervisor]),
    ("GET", "/v1/alerts/{id}/cap", &[Operator, Supervisor]),
    ("GET", "/v1/situations/{id}", &[Operator, Supervisor]),
    ("POST", "/v1/alerts/{id}/transitions", &[Operator, Supervisor]),
    ("GET", "/v1/sinks", &[Administrator, Supervisor]),
    ("GET", "/v1/sinks/{name}/dead_letters", &[Administrator, Supervisor]),
    ("POST", "/v1/sharing/changes", &[Administrator]),
    ("GET", "/v1/sharing/changes", &[Administrator, Supervisor, Auditor]),
    ("POST", "/v1/sharing/changes/{id}/decision", &[Administrator, Supervisor]),
    ("GET", "/v1/audit/checkpoint", &[Auditor, Supervisor, Custodian]),
    ("GET", "/v1/audit/entries", &[Auditor]),
    ("GET", "/v1/audit/proof/inclusion", &[Auditor]),
    ("GET", "/v1/audit/proof/consistency", &[Auditor]),
    ("GET", "/v1/audit/export", &[Auditor]),
    ("GET", "/v1/reports", &[Auditor, Supervisor, Custodian]),
    ("POST", "/v1/rules", &[Administrator]),
    ("GET", "/v1/rules", &[Administrator, Operator, Supervisor]),
    ("POST", "/v1/rules/{id}/enabled", &[Administrator]),
    ("POST", "/v1/holds", &[Custodian, Investigator]),
    ("GET", "/v1/holds", &[Custodian, Supervisor, Investigator]),
    ("POST", "/v1/holds/{id}/decision", &[Supervisor]),
    ("POST", "/v1/holds/{id}/release", &[Custodian, Supervisor]),
    ("GET", "/v1/retention", &[Custodian, Supervisor, Auditor]),
    ("POST", "/v1/retention/purge", &[Custodian]),
    ("POST", "/v1/retention/changes", &[Custodian]),
    ("GET", "/v1/retention/changes", &[Custodian, Supervisor, Auditor]),
    ("POST", "/v1/retention/changes/{id}/decision", &[Custodian, Supervisor]),
    ("POST", "/v1/sql", &[Analyst]),
    ("POST", "/v1/approvals", &[Investigator]),
    ("GET", "/v1/approvals", &[Investigator, Supervisor]),
    ("POST", "/v1/approvals/{id}/decision", &[Supervisor]),
];

/// Largest JSON body for configuration calls (a bulk hotlist import of ~100k entries).
const CONFIG_BODY_BYTES_MAX: usize = 32 * 1024 * 1024;

/// The whole application: API, console and health check.
pub fn app(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/whoami", get(meta::whoami))
        .route("/v1/sessions/current", delete(sessions::end))
        .route("/v1/accounts", get(meta::accounts))
        .route("/v1/sensors/latest", get(meta::latest_readings))
        .route("/v1/openapi.json", get(meta::openapi))
        .route("/v1/status", get(meta::status))
        .route("/v1/policy", get(meta::policy))
        .route("/v1/basemap", get(meta::basemap))
        .route("/v1/map/style", get(meta::map_style))
        .route("/v1/observations", post(observations::ingest).get(observations::search).layer(DefaultBodyLimit::max(INGEST_BODY_BYTES_MAX)))
        .route("/v1/dead_letters", get(observations::dead_letters))
        .route("/v1/search/plates", post(search::plates))
        .route("/v1/search/area", post(search::area))
        .route("/v1/incidents/{id}/context", get(search::incident_context))
        .route("/v1/cameras/covering", get(search::covering))
        .route("/v1/devices/{id}", put(devices::put_device))
        .route("/v1/devices", get(devices::list_devices))
        .route("/v1/hotlists", post(hotlists::create).get(hotlists::list))
        .route(
            "/v1/hotlists/{id}/entries",
            post(hotlists::add_entries).get(hotlists::list_entries).layer(DefaultBodyLimit::max(CONFIG_BODY_BYTES_MAX)),
        )
        .route("/v1/alerts", get(alerts::list))
        .route("/v1/alerts/stream", get(alerts::stream))
        .route("/v1/alerts/ws", get(alerts::websocket))
        .route("/v1/alerts/stats", get(alerts::stats))
        .route("/v1/alerts/{id}", get(alerts::get_one))
        .route("/v1/alerts/{id}/cap", get(alerts::cap))
        .route("/v1/alerts/{id}/transitions", post(alerts::transition))
        .route("/v1/situations/{id}", get(situations::get))
        .route("/v1/sinks", get(sinks::list))
        .route("/v1/sinks/{name}/dead_letters", get(sinks::dead_letters))
        .route("/v1/sharing/changes", post(sharing::propose).get(sharing::list))
        .route("/v1/sharing/changes/{id}/decision", post(sharing::decide))
        .route("/v1/audit/checkpoint", get(audit::checkpoint))
        .route("/v1/audit/entries", get(audit::entries))
        .route("/v1/audit/proof/inclusion", get(audit::inclusion))
        .route("/v1/audit/proof/consistency", get(audit::consistency))
        .route("/v1/audit/export", get(audit::export))
        .route("/v1/reports", get(reports::report))
        .route("/v1/rules", post(rules::create).get(rules::list))
        .route("/v1/rules/{id}/enabled", post(rules::set_enabled))
        .route("/v1/holds", post(holds::propose).get(holds::list))
        .route("/v1/holds/{id}/decision", post(holds::decide))
        .route("/v1/holds/{id}/release", post(holds::release))
        .route("/v1/retention", get(holds::retention))
        .route("/v1/retention/purge", post(holds::purge))
        .route("/v1/retention/changes", post(holds::propose_retention_change).get(holds::list_retention_changes))
        .route("/v1/retention/changes/{id}/decision", post(holds::decide_retention_change))
        .route("/v1/sql", post(sql::query))
        .route("/v1/approvals", post(approvals::request).get(approvals::list))
        .route("/v1/approvals/{id}/decision", post(approvals::decide))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    // Opening a session checks its own credentials (an account token and a code), so it sits
    // outside the middleware that would refuse an enrolled account's token.
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/v1/sessions", post(sessions::open))
        .merge(api)
        .fallback(console::serve)
        .with_state(state)
}

/// The bearer token of a request, if it carries one.
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

/// 401 without a valid token, 403 for a role the table does not list for this route.
async fn authorize(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let checked = bearer(request.headers()).map(|token| state.authenticate(token));
    let Some(Ok(account)) = checked else {
        let error = if checked == Some(Err(AuthRefusal::SecondFactorRequired)) {
            let message = "this account signs in with a second factor: POST /v1/sessions with this token and a current code";
            ApiError { field: Some("code".into()), ..ApiError::new(StatusCode::UNAUTHORIZED, message) }
        } else {
            state.failed_logons.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ApiError { field: Some("authorization".into()), ..ApiError::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required") }
        };
        let mut response = axum::response::IntoResponse::into_response(error);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static header"));
        return Ok(response);
    };
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if !allowed(request.method(), &path, account.role) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("role {} may not {} {path}", account.role.as_str(), request.method())));
    }
    // The first request of each account since start is its logon, and goes to the audit log first.
    let first = state.logged_on.lock().unwrap_or_else(|p| p.into_inner()).insert(account.name.clone());
    if first {
        let (audited, who) = (state.clone(), account.clone());
        let logged = tokio::task::spawn_blocking(move || audited.audit(&who, Action::AccountLogon, "ok", serde_json::json!({})))
            .await
            .map_err(ApiError::internal)?;
        if let Err(e) = logged {
            state.logged_on.lock().unwrap_or_else(|p| p.into_inner()).remove(&account.name);
            return Err(e);
        }
    }
    request.extensions_mut().insert::<Account>(account);
    Ok(next.run(request).await)
}

/// A fresh random id with a readable prefix (`hl-`, `ap-`, `th-`): 64 random bits in hex.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    // A failing OS random source is not recoverable for id generation.
    getrandom::fill(&mut bytes).expect("os random source");
    format!("{prefix}-{}", hex::encode(bytes))
}

/// An optional RFC 3339 time from a request field; a 400 naming the field when it does not parse.
pub(crate) fn parse_time(field: &str, value: Option<&str>) -> Result<Option<glasshouse_model::Timestamp>, ApiError> {
    value
        .map(|text| {
            glasshouse_model::Timestamp::parse_rfc3339(text)
                .ok_or_else(|| ApiError::bad_field(field, format!("{text:?} is not an RFC 3339 time")))
        })
        .transpose()
}

/// `from` and `to`, each optional, and `to` after `from` when both are given.
pub(crate) fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<glasshouse_model::Timestamp>, Option<glasshouse_model::Timestamp>), ApiError> {
    let (from, to) = (parse_time("from", from)?, parse_time("to", to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::bad_field("to", "must be after from"));
    }
    Ok((from, to))
}

/// True when `role` may call `method path` (a route pattern such as `/v1/devices/{id}`).
pub fn allowed(method: &Method, path: &str, role: Role) -> bool {
    PERMISSIONS.iter().any(|(m, p, roles)| *m == method.as_str() && *p == path && roles.contains(&role))
}

#[cfg(test)]
mod tests;
