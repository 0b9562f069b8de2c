//! The route table (method, path, roles, handler), the router built from it, and the middleware
//! that enforces its roles.

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
use axum::routing::{MethodRouter, delete, get, post, put};
use glasshouse_model::limits::INGEST_BODY_BYTES_MAX;
use std::sync::Arc;

use Role::*;
use glasshouse_app::Action;

/// One authenticated route: its method and path, the roles that may call it, and its handler.
pub struct Route {
    /// The HTTP method.
    pub method: &'static str,
    /// The path pattern, as axum matches it.
    pub path: &'static str,
    /// The roles that may call it.
    pub roles: &'static [Role],
    /// Builds its handler (with its own body limit where it takes large bodies).
    handler: fn() -> MethodRouter<Arc<AppState>>,
}

/// Every authenticated route: the one list the router is built from and the middleware checks, so
/// a route cannot be reachable without naming its roles, nor named without being served.
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/v1/whoami", roles: &Role::ALL, handler: || get(meta::whoami) },
    Route { method: "DELETE", path: "/v1/sessions/current", roles: &Role::ALL, handler: || delete(sessions::end) },
    Route { method: "GET", path: "/v1/accounts", roles: &[Administrator, Auditor, Supervisor], handler: || get(meta::accounts) },
    Route {
        method: "GET",
        path: "/v1/sensors/latest",
        roles: &[Operator, Supervisor, Investigator, Administrator],
        handler: || get(meta::latest_readings),
    },
    Route { method: "GET", path: "/v1/openapi.json", roles: &Role::ALL, handler: || get(meta::openapi) },
    Route { method: "GET", path: "/v1/status", roles: &Role::ALL, handler: || get(meta::status) },
    Route { method: "GET", path: "/v1/policy", roles: &Role::ALL, handler: || get(meta::policy) },
    Route {
        method: "GET",
        path: "/v1/basemap",
        roles: &[Operator, Investigator, Supervisor, Analyst, Custodian, Auditor, Administrator],
        handler: || get(meta::basemap),
    },
    Route {
        method: "GET",
        path: "/v1/map/style",
        roles: &[Operator, Investigator, Supervisor, Analyst, Custodian, Auditor, Administrator],
        handler: || get(meta::map_style),
    },
    Route {
        method: "POST",
        path: "/v1/observations",
        roles: &[Ingest],
        handler: || post(observations::ingest).layer(DefaultBodyLimit::max(INGEST_BODY_BYTES_MAX)),
    },
    Route { method: "GET", path: "/v1/observations", roles: &[Investigator], handler: || get(observations::search) },
    Route { method: "GET", path: "/v1/dead_letters", roles: &[Ingest, Custodian], handler: || get(observations::dead_letters) },
    Route { method: "POST", path: "/v1/search/plates", roles: &[Investigator], handler: || post(search::plates) },
    Route { method: "POST", path: "/v1/search/area", roles: &[Investigator], handler: || post(search::area) },
    Route { method: "GET", path: "/v1/incidents/{id}/context", roles: &[Investigator], handler: || get(search::incident_context) },
    Route { method: "GET", path: "/v1/cameras/covering", roles: &[Operator, Investigator, Supervisor], handler: || get(search::covering) },
    Route { method: "PUT", path: "/v1/devices/{id}", roles: &[Administrator], handler: || put(devices::put_device) },
    Route {
        method: "GET",
        path: "/v1/devices",
        roles: &[Administrator, Operator, Investigator, Supervisor, Analyst],
        handler: || get(devices::list_devices),
    },
    Route { method: "POST", path: "/v1/hotlists", roles: &[Administrator], handler: || post(hotlists::create) },
    Route { method: "GET", path: "/v1/hotlists", roles: &[Administrator, Operator], handler: || get(hotlists::list) },
    Route {
        method: "POST",
        path: "/v1/hotlists/{id}/entries",
        roles: &[Administrator],
        handler: || post(hotlists::add_entries).layer(DefaultBodyLimit::max(CONFIG_BODY_BYTES_MAX)),
    },
    Route { method: "GET", path: "/v1/hotlists/{id}/entries", roles: &[Administrator], handler: || get(hotlists::list_entries) },
    Route { method: "GET", path: "/v1/alerts", roles: &[Operator, Supervisor], handler: || get(alerts::list) },
    Route { method: "GET", path: "/v1/alerts/stream", roles: &[Operator, Supervisor], handler: || get(alerts::stream) },
    Route { method: "GET", path: "/v1/alerts/ws", roles: &[Operator, Supervisor], handler: || get(alerts::websocket) },
    Route { method: "GET", path: "/v1/alerts/stats", roles: &[Operator, Supervisor, Analyst, Auditor], handler: || get(alerts::stats) },
    Route { method: "GET", path: "/v1/alerts/{id}", roles: &[Operator, Supervisor], handler: || get(alerts::get_one) },
    Route { method: "GET", path: "/v1/alerts/{id}/cap", roles: &[Operator, Supervisor], handler: || get(alerts::cap) },
    Route { method: "GET", path: "/v1/situations/{id}", roles: &[Operator, Supervisor], handler: || get(situations::get) },
    Route { method: "POST", path: "/v1/alerts/{id}/transitions", roles: &[Operator, Supervisor], handler: || post(alerts::transition) },
    Route { method: "GET", path: "/v1/sinks", roles: &[Administrator, Supervisor], handler: || get(sinks::list) },
    Route {
        method: "GET",
        path: "/v1/sinks/{name}/dead_letters",
        roles: &[Administrator, Supervisor],
        handler: || get(sinks::dead_letters),
    },
    Route { method: "POST", path: "/v1/sharing/changes", roles: &[Administrator], handler: || post(sharing::propose) },
    Route { method: "GET", path: "/v1/sharing/changes", roles: &[Administrator, Supervisor, Auditor], handler: || get(sharing::list) },
    Route {
        method: "POST",
        path: "/v1/sharing/changes/{id}/decision",
        roles: &[Administrator, Supervisor],
        handler: || post(sharing::decide),
    },
    Route { method: "GET", path: "/v1/audit/checkpoint", roles: &[Auditor, Supervisor, Custodian], handler: || get(audit::checkpoint) },
    Route { method: "GET", path: "/v1/audit/entries", roles: &[Auditor], handler: || get(audit::entries) },
    Route { method: "GET", path: "/v1/audit/proof/inclusion", roles: &[Auditor], handler: || get(audit::inclusion) },
    Route { method: "GET", path: "/v1/audit/proof/consistency", roles: &[Auditor], handler: || get(audit::consistency) },
    Route { method: "GET", path: "/v1/audit/export", roles: &[Auditor], handler: || get(audit::export) },
    Route { method: "GET", path: "/v1/reports", roles: &[Auditor, Supervisor, Custodian], handler: || get(reports::report) },
    Route { method: "POST", path: "/v1/rules", roles: &[Administrator], handler: || post(rules::create) },
    Route { method: "GET", path: "/v1/rules", roles: &[Administrator, Operator, Supervisor], handler: || get(rules::list) },
    Route { method: "POST", path: "/v1/rules/{id}/enabled", roles: &[Administrator], handler: || post(rules::set_enabled) },
    Route { method: "POST", path: "/v1/holds", roles: &[Custodian, Investigator], handler: || post(holds::propose) },
    Route { method: "GET", path: "/v1/holds", roles: &[Custodian, Supervisor, Investigator], handler: || get(holds::list) },
    Route { method: "POST", path: "/v1/holds/{id}/decision", roles: &[Supervisor], handler: || post(holds::decide) },
    Route { method: "POST", path: "/v1/holds/{id}/release", roles: &[Custodian, Supervisor], handler: || post(holds::release) },
    Route { method: "GET", path: "/v1/retention", roles: &[Custodian, Supervisor, Auditor], handler: || get(holds::retention) },
    Route { method: "POST", path: "/v1/retention/purge", roles: &[Custodian], handler: || post(holds::purge) },
    Route { method: "POST", path: "/v1/retention/changes", roles: &[Custodian], handler: || post(holds::propose_retention_change) },
    Route {
        method: "GET",
        path: "/v1/retention/changes",
        roles: &[Custodian, Supervisor, Auditor],
        handler: || get(holds::list_retention_changes),
    },
    Route {
        method: "POST",
        path: "/v1/retention/changes/{id}/decision",
        roles: &[Custodian, Supervisor],
        handler: || post(holds::decide_retention_change),
    },
    Route { method: "POST", path: "/v1/sql", roles: &[Analyst], handler: || post(sql::query) },
    Route { method: "POST", path: "/v1/approvals", roles: &[Investigator], handler: || post(approvals::request) },
    Route { method: "GET", path: "/v1/approvals", roles: &[Investigator, Supervisor], handler: || get(approvals::list) },
    Route { method: "POST", path: "/v1/approvals/{id}/decision", roles: &[Supervisor], handler: || post(approvals::decide) },
];

/// Largest JSON body for configuration calls (a bulk hotlist import of ~100k entries).
const CONFIG_BODY_BYTES_MAX: usize = 32 * 1024 * 1024;

/// The whole application: API, console and health check.
pub fn app(state: Arc<AppState>) -> Router {
    let api = ROUTES
        .iter()
        .fold(Router::new(), |router, route| router.route(route.path, (route.handler)()))
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
    ROUTES.iter().any(|r| r.method == method.as_str() && r.path == path && r.roles.contains(&role))
}

#[cfg(test)]
mod tests;
