//! The route table (method, path, roles, handler), the router built from it, and the middleware
//! that enforces its roles.

mod alerts;
mod approvals;
mod audit;
mod cases;
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
mod warrants;

use crate::auth::{Account, Role};
use crate::error::ApiError;
use crate::state::{AppState, AuthRefusal};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use glasshouse_model::limits::INGEST_BODY_BYTES_MAX;
use std::sync::{Arc, OnceLock};
use utoipa::openapi::path::Operation;
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use Role::*;
use glasshouse_app::Action;

/// A handler with its OpenAPI operation and the schemas it names, as `utoipa_axum::routes!` makes them.
type Documented = UtoipaMethodRouter<Arc<AppState>>;

/// One authenticated route: the roles that may call it, and its handler. The handler's
/// `#[utoipa::path]` attribute names the method and the path, and documents the parameters, the
/// body and the answers; its doc comment is the summary and description.
pub struct Route {
    /// The roles that may call it.
    pub roles: &'static [Role],
    /// Builds its handler (with its own body limit where it takes large bodies).
    handler: fn() -> Documented,
}

/// Every authenticated route: the one list the router, the permission check and the OpenAPI
/// document are built from, so a route cannot be reachable without naming its roles, nor documented
/// without being served.
pub const ROUTES: &[Route] = &[
    Route { roles: &Role::ALL, handler: || routes!(meta::whoami) },
    Route { roles: &Role::ALL, handler: || routes!(sessions::end) },
    Route { roles: &[Administrator, Auditor, Supervisor], handler: || routes!(meta::accounts) },
    Route { roles: &[Operator, Supervisor, Investigator, Administrator], handler: || routes!(meta::latest_readings) },
    Route { roles: &Role::ALL, handler: || routes!(meta::openapi) },
    Route { roles: &Role::ALL, handler: || routes!(meta::status) },
    Route { roles: &Role::ALL, handler: || routes!(meta::policy) },
    Route { roles: &[Operator, Investigator, Supervisor, Analyst, Custodian, Auditor, Administrator], handler: || routes!(meta::basemap) },
    Route {
        roles: &[Operator, Investigator, Supervisor, Analyst, Custodian, Auditor, Administrator],
        handler: || routes!(meta::map_style),
    },
    Route { roles: &[Ingest], handler: || limited(routes!(observations::ingest), INGEST_BODY_BYTES_MAX) },
    Route { roles: &[Ingest], handler: || limited(routes!(observations::ingest_openalpr), INGEST_BODY_BYTES_MAX) },
    Route { roles: &[Investigator], handler: || routes!(observations::search) },
    Route { roles: &[Ingest, Custodian], handler: || routes!(observations::dead_letters) },
    Route { roles: &[Investigator], handler: || routes!(search::plates) },
    Route { roles: &[Investigator], handler: || routes!(search::area) },
    Route { roles: &[Investigator], handler: || routes!(search::incident_context) },
    Route { roles: &[Operator, Investigator, Supervisor], handler: || routes!(search::covering) },
    Route { roles: &[Administrator], handler: || routes!(devices::put_device) },
    Route { roles: &[Administrator], handler: || limited(routes!(devices::import_devices), CONFIG_BODY_BYTES_MAX) },
    Route { roles: &[Administrator, Operator, Investigator, Supervisor, Analyst], handler: || routes!(devices::list_devices) },
    Route { roles: &[Administrator], handler: || routes!(hotlists::create) },
    Route { roles: &[Administrator, Operator], handler: || routes!(hotlists::list) },
    Route { roles: &[Administrator], handler: || limited(routes!(hotlists::add_entries), CONFIG_BODY_BYTES_MAX) },
    Route { roles: &[Administrator], handler: || routes!(hotlists::list_entries) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::list) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::stream) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::websocket) },
    Route { roles: &[Operator, Supervisor, Analyst, Auditor], handler: || routes!(alerts::stats) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::get_one) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::cap) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::image) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(situations::get) },
    Route { roles: &[Operator, Supervisor], handler: || routes!(alerts::transition) },
    Route { roles: &[Administrator, Supervisor], handler: || routes!(sinks::list) },
    Route { roles: &[Administrator, Supervisor], handler: || routes!(sinks::dead_letters) },
    Route { roles: &[Administrator], handler: || routes!(sharing::propose) },
    Route { roles: &[Administrator, Supervisor, Auditor], handler: || routes!(sharing::list) },
    Route { roles: &[Administrator, Supervisor], handler: || routes!(sharing::decide) },
    Route { roles: &[Auditor, Supervisor, Custodian], handler: || routes!(audit::checkpoint) },
    Route { roles: &[Auditor], handler: || routes!(audit::entries) },
    Route { roles: &[Auditor], handler: || routes!(audit::inclusion) },
    Route { roles: &[Auditor], handler: || routes!(audit::consistency) },
    Route { roles: &[Auditor], handler: || routes!(audit::export) },
    Route { roles: &[Auditor, Supervisor, Custodian], handler: || routes!(reports::report) },
    Route { roles: &[Administrator], handler: || routes!(rules::create) },
    Route { roles: &[Administrator, Operator, Supervisor], handler: || routes!(rules::list) },
    Route { roles: &[Administrator], handler: || routes!(rules::set_enabled) },
    Route { roles: &[Custodian, Investigator], handler: || routes!(holds::propose) },
    Route { roles: &[Custodian, Supervisor, Investigator], handler: || routes!(holds::list) },
    Route { roles: &[Supervisor], handler: || routes!(holds::decide) },
    Route { roles: &[Custodian, Supervisor], handler: || routes!(holds::release) },
    Route { roles: &[Custodian, Supervisor, Auditor], handler: || routes!(holds::retention) },
    Route { roles: &[Custodian], handler: || routes!(holds::purge) },
    Route { roles: &[Custodian], handler: || routes!(holds::propose_retention_change) },
    Route { roles: &[Custodian, Supervisor, Auditor], handler: || routes!(holds::list_retention_changes) },
    Route { roles: &[Custodian, Supervisor], handler: || routes!(holds::decide_retention_change) },
    Route { roles: &[Analyst], handler: || routes!(sql::query) },
    Route { roles: &[Metrics], handler: || routes!(meta::metrics) },
    Route { roles: &[Investigator], handler: || routes!(approvals::request) },
    Route { roles: &[Investigator, Supervisor], handler: || routes!(approvals::list) },
    Route { roles: &[Supervisor], handler: || routes!(approvals::decide) },
    Route { roles: &[Supervisor], handler: || routes!(cases::open) },
    Route { roles: &[Supervisor, Investigator, Auditor, Custodian], handler: || routes!(cases::list) },
    Route { roles: &[Supervisor], handler: || routes!(cases::close) },
    Route { roles: &[Custodian, Supervisor], handler: || routes!(warrants::register) },
    Route { roles: &[Custodian, Supervisor, Investigator], handler: || routes!(warrants::list) },
    Route { roles: &[Custodian, Supervisor], handler: || routes!(warrants::revoke) },
    Route { roles: &[Supervisor, Investigator, Auditor], handler: || routes!(warrants::reviews) },
    Route { roles: &[Supervisor], handler: || routes!(warrants::decide) },
];

/// The routes open without a token: the health check, and opening a session, which checks its own
/// credentials (an account token and a code), so it sits outside the middleware that would refuse
/// an enrolled account's token.
pub const OPEN_ROUTES: &[fn() -> Documented] = &[|| routes!(meta::healthz), || routes!(sessions::open)];

/// Largest JSON body for configuration calls (a bulk hotlist import of ~100k entries).
const CONFIG_BODY_BYTES_MAX: usize = 32 * 1024 * 1024;

/// A handler that takes bodies up to `bytes`.
fn limited((schemas, paths, router): Documented, bytes: usize) -> Documented {
    (schemas, paths, router.layer(DefaultBodyLimit::max(bytes)))
}

/// A route as served: method and path from its handler's attribute, roles from the table.
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path pattern, as axum matches it (`/v1/devices/{id}`).
    pub path: String,
    /// The roles that may call it; empty for an open route.
    pub roles: &'static [Role],
    /// Its OpenAPI operation, as its attribute describes it.
    pub operation: Operation,
    /// The schemas its operation names.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// Splits a documented handler into its endpoint and its router.
fn resolve(documented: Documented, roles: &'static [Role]) -> (Endpoint, MethodRouter<Arc<AppState>>) {
    let (schemas, paths, router) = documented;
    let mut items = paths.paths.into_iter();
    let (path, item) = items.next().expect("a documented handler has a path");
    assert!(items.next().is_none(), "one handler per route");
    let operations = [(Method::GET, item.get), (Method::POST, item.post), (Method::PUT, item.put), (Method::DELETE, item.delete)];
    let mut operations = operations.into_iter().filter_map(|(method, operation)| Some((method, operation?)));
    let (method, operation) = operations.next().unwrap_or_else(|| panic!("{path}: no GET, POST, PUT or DELETE operation"));
    assert!(operations.next().is_none(), "{path}: one method per route");
    (Endpoint { method, path, roles, operation, schemas }, router)
}

/// Every route, open ones first, resolved once.
pub fn endpoints() -> &'static [Endpoint] {
    static ENDPOINTS: OnceLock<Vec<Endpoint>> = OnceLock::new();
    ENDPOINTS.get_or_init(|| {
        let open = OPEN_ROUTES.iter().map(|handler| resolve(handler(), &[]).0);
        open.chain(ROUTES.iter().map(|route| resolve((route.handler)(), route.roles).0)).collect()
    })
}

/// The whole application: API, console and health check, every response with the security headers.
pub fn app(state: Arc<AppState>) -> Router {
    // Before anything is served, so no event goes uncounted.
    crate::metrics::install();
    let headers = Arc::new(crate::headers::SecurityHeaders::new(state.map_style.as_deref()));
    let api = ROUTES
        .iter()
        .map(|route| resolve((route.handler)(), route.roles))
        .fold(Router::new(), |router, (endpoint, handler)| router.route(&endpoint.path, handler))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    OPEN_ROUTES
        .iter()
        .map(|handler| resolve(handler(), &[]))
        .fold(Router::new(), |router, (endpoint, handler)| router.route(&endpoint.path, handler))
        .merge(api)
        .fallback(console::serve)
        .layer(middleware::from_fn_with_state(headers, crate::headers::add))
        .with_state(state)
}

/// The bearer token of a request, if it carries one.
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

/// The client's address as the throttle counts it (none for a request without a peer, as in
/// tests that call the router directly).
pub(super) fn client_address(state: &AppState, request: &Request) -> Option<std::net::IpAddr> {
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0);
    state.throttle.client(request.headers(), peer)
}

/// 429 with `Retry-After` while the client's address is closed for failed logons.
pub(super) fn refuse_if_closed(state: &AppState, client: Option<std::net::IpAddr>) -> Result<(), ApiError> {
    let Some(client) = client else { return Ok(()) };
    state.throttle.check(client, std::time::Instant::now()).map_err(|wait| {
        crate::metrics::auth_throttled();
        let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
        ApiError {
            field: Some("authorization".into()),
            retry_after_secs: Some(secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, format!("too many failed logons from this address: retry in {secs} s"))
        }
    })
}

/// Counts a failed logon: for the audit log's aggregate, the metrics, and the client's address.
pub(super) fn count_failed_logon(state: &AppState, client: Option<std::net::IpAddr>) {
    state.failed_logons.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    crate::metrics::auth_refused();
    if let Some(client) = client {
        state.throttle.failed(client, std::time::Instant::now());
    }
}

/// 401 without a valid token, 403 for a role the table does not list for this route, 429 while
/// the client's address is closed for failed logons.
async fn authorize(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let client = client_address(&state, &request);
    refuse_if_closed(&state, client)?;
    let checked = bearer(request.headers()).map(|token| state.authenticate(token));
    let Some(Ok(mut account)) = checked else {
        let error = if checked == Some(Err(AuthRefusal::SecondFactorRequired)) {
            let message = "this account signs in with a second factor: POST /v1/sessions with this token and a current code";
            ApiError { field: Some("code".into()), ..ApiError::new(StatusCode::UNAUTHORIZED, message) }
        } else {
            count_failed_logon(&state, client);
            ApiError { field: Some("authorization".into()), ..ApiError::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required") }
        };
        let mut response = axum::response::IntoResponse::into_response(error);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static header"));
        return Ok(response);
    };
    account.address = client;
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if !allowed(request.method(), &path, account.role) {
        // Logged before the refusal goes back: who tried which route, from where.
        let (audited, who, method) = (state.clone(), account.clone(), request.method().to_string());
        let details = serde_json::json!({ "method": method, "route": path });
        let logged = tokio::task::spawn_blocking(move || audited.audit(&who, Action::AccountForbidden, "refused", details))
            .await
            .map_err(ApiError::internal)?;
        logged?;
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
    endpoints().iter().any(|e| e.method == method && e.path == path && e.roles.contains(&role))
}

#[cfg(test)]
mod tests;
