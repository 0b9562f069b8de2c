//! The OpenAPI document, built from the route table. Each handler's `#[utoipa::path]` attribute
//! gives its method, path, parameters, body and answers, and its doc comment the summary and the
//! description; the request types' derives give the schemas. The table adds what it alone knows: the
//! roles (`x-roles`), the bearer requirement and the answers every authenticated route can give.

use crate::routes::{Endpoint, endpoints};
use std::sync::OnceLock;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

const DESCRIPTION: &str = "Accountable real-time domain awareness. Every endpoint but /healthz and session opening needs \
`Authorization: Bearer TOKEN`; `x-roles` lists the roles allowed. Errors are `{\"error\": \"...\", \"field\": \"...\"}`. \
Every privileged action (device and hotlist changes, searches, reads of hotlist entries and dead letters) is appended to \
an RFC 6962 Merkle audit log before it takes effect.";

/// The document as served, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_pretty_json().expect("the OpenAPI document serialises"))
}

/// The whole document: every route of the table and the open ones.
pub fn document() -> OpenApi {
    let mut schemas = vec![(crate::error::ErrorBody::name().into_owned(), crate::error::ErrorBody::schema())];
    let mut paths = utoipa::openapi::Paths::new();
    for endpoint in endpoints() {
        schemas.extend(endpoint.schemas.iter().cloned());
        paths.add_path_operation(&endpoint.path, vec![http_method(endpoint)], operation(endpoint));
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .build();
    OpenApiBuilder::new()
        .info(InfoBuilder::new().title("Glasshouse API").version(env!("CARGO_PKG_VERSION")).description(Some(DESCRIPTION)))
        .paths(paths)
        .components(Some(components))
        .build()
}

fn http_method(endpoint: &Endpoint) -> HttpMethod {
    match endpoint.method.as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        other => unreachable!("the route table resolves only GET, POST, PUT and DELETE, not {other}"),
    }
}

/// `GET /v1/alerts/{id}/cap` → `get_alerts_id_cap`.
fn operation_id(endpoint: &Endpoint) -> String {
    let segments = endpoint.path.split('/').filter(|s| !s.is_empty() && *s != "v1").map(|s| s.trim_matches(|c| c == '{' || c == '}'));
    std::iter::once(endpoint.method.as_str().to_lowercase())
        .chain(segments.map(|s| s.replace(['.', '-'], "_")))
        .collect::<Vec<_>>()
        .join("_")
}

/// An error answer's body: the one error schema.
fn error_response(description: &str) -> Response {
    ResponseBuilder::new().description(description).content("application/json", Content::new(Some(Ref::from_schema_name("Error")))).build()
}

/// The handler's operation with what the table adds: roles, the bearer requirement, 401 and 403,
/// and the error body on every error answer the handler names.
fn operation(endpoint: &Endpoint) -> Operation {
    let mut operation = endpoint.operation.clone();
    // Handler names repeat across modules (`list`, `decide`); the method and path do not.
    operation.operation_id = Some(operation_id(endpoint));
    for (status, response) in operation.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && !status.starts_with('1')
            && !status.starts_with('2')
            && response.content.is_empty()
        {
            *response = error_response(&response.description);
        }
    }
    if endpoint.roles.is_empty() {
        return operation;
    }
    let roles: Vec<&str> = endpoint.roles.iter().map(|r| r.as_str()).collect();
    operation.extensions.get_or_insert_with(Extensions::default).insert("x-roles".into(), serde_json::json!(roles));
    operation.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    let standard = [("401", "no valid bearer token"), ("403", "the role may not call this route, or the request is refused by policy")];
    for (status, description) in standard {
        operation.responses.responses.entry(status.into()).or_insert_with(|| RefOr::T(error_response(description)));
    }
    operation
}
