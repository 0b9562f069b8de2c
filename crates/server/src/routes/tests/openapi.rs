//! The generated OpenAPI document against the route table: every route in it with its roles, its
//! parameters and its schemas, and nothing in it that is not served.

use super::*;
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(crate::openapi::json()).unwrap()
}

fn operation<'a>(doc: &'a Value, endpoint: &Endpoint) -> &'a Value {
    &doc["paths"][endpoint.path.as_str()][endpoint.method.as_str().to_lowercase()]
}

/// Routes that take no body although they change state: the target is in the path.
const BODYLESS: &[&str] = &["/v1/holds/{id}/release", "/v1/retention/purge", "/v1/sessions/current", "/v1/cases/{number}/closing"];

#[test]
fn every_route_is_documented_with_its_roles_and_the_bearer_requirement() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    for endpoint in endpoints() {
        let (method, path) = (&endpoint.method, &endpoint.path);
        let operation = operation(&doc, endpoint);
        assert!(operation.is_object(), "{method} {path} missing");
        assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        let answers = operation["responses"].as_object().unwrap();
        assert!(answers.keys().any(|status| status.starts_with('1') || status.starts_with('2')), "{method} {path} has no success answer");
        if endpoint.roles.is_empty() {
            assert!(operation.get("x-roles").is_none() && operation.get("security").is_none(), "{method} {path} is open");
            continue;
        }
        let documented: Vec<&str> = operation["x-roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let actual: Vec<&str> = endpoint.roles.iter().map(|r| r.as_str()).collect();
        assert_eq!(documented, actual, "{method} {path}");
        assert_eq!(operation["security"][0]["bearer"], serde_json::json!([]), "{method} {path}");
        for status in ["401", "403"] {
            assert_eq!(
                answers[status]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{method} {path} {status}"
            );
        }
    }
    let ids: std::collections::HashSet<&str> = endpoints().iter().map(|e| operation(&doc, e)["operationId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), endpoints().len(), "operation ids repeat: {ids:?}");
    // And the other way: nothing documented that is not served.
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(documented, endpoints().len());
}

#[test]
fn every_body_and_parameter_has_a_schema() {
    let doc = document();
    for endpoint in endpoints() {
        let (method, path) = (&endpoint.method, &endpoint.path);
        let operation = operation(&doc, endpoint);
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        for parameter in &parameters {
            assert!(parameter["schema"].is_object(), "{method} {path}: parameter {} has no schema", parameter["name"]);
            assert!(parameter["description"].is_string(), "{method} {path}: parameter {} is not described", parameter["name"]);
        }
        // Every `{name}` of the path is a documented path parameter.
        for name in path.split('/').filter_map(|part| part.strip_prefix('{')?.strip_suffix('}')) {
            let documented = parameters.iter().any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
            assert!(documented, "{method} {path}: path parameter {name} undocumented");
        }
        let takes_body = (endpoint.method == Method::POST || endpoint.method == Method::PUT) && !BODYLESS.contains(&path.as_str());
        let body = &operation["requestBody"]["content"];
        assert_eq!(body.is_object(), takes_body, "{method} {path}: request body documented {} but taken {takes_body}", body.is_object());
        for (content_type, content) in body.as_object().into_iter().flatten() {
            if content_type != "text/csv" {
                assert!(content["schema"].is_object(), "{method} {path}: {content_type} body has no schema");
            }
        }
    }
}

/// Every `$ref` in `value`, wherever it is.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn every_schema_named_is_defined() {
    let doc = document();
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(found.len() > 100, "only {} references: the error answers alone make more", found.len());
    for target in found {
        let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{target} points outside the schemas"));
        assert!(doc["components"]["schemas"][name].is_object(), "{target} is not defined");
    }
}

#[test]
fn request_schemas_follow_the_types() {
    // Spot checks that the schemas come from the types the handlers deserialise: a field the type
    // requires is required, a renamed field has its wire name, and an enum lists its wire values.
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        schemas[name]["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    assert!(required("Device").contains(&"type".to_owned()), "{}", schemas["Device"]);
    assert!(schemas["NewHotlist"]["properties"]["match"].is_object(), "{}", schemas["NewHotlist"]);
    assert!(required("PlateSearchBody").iter().any(|f| f == "purpose") && required("PlateSearchBody").iter().any(|f| f == "plate"));
    let sources: Vec<&str> = schemas["HotlistSource"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(sources.contains(&"ncic"), "{sources:?}");
    assert_eq!(schemas["Timestamp"]["format"], "date-time");
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(state(dir.path()));
    let token = TokenStore::create(dir.path(), "auditor", Role::Auditor).unwrap();
    let request = Request::get("/v1/openapi.json").header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), document());
}
