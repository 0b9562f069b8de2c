//! Router tests without a socket: the permission table walked for every route and role.

mod openapi;

use super::*;
use crate::auth::TokenStore;
use axum::body::Body;
use axum::http::Request;
use glasshouse_app::{App, Ingest, IngestOutcome, IngestQueue, PushBack, SubmitError};
use glasshouse_ingest::DeadLetterStore;
use glasshouse_model::Observation;
use glasshouse_sinks::AlertLog;
use glasshouse_store::{Catalog, SegmentStore, Store};
use std::sync::{Mutex, RwLock};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// Accepts everything at once; these tests are about the router, not durability (the binary's
/// integration tests drive the real WAL).
struct AcceptAll;

impl IngestQueue for AcceptAll {
    fn submit(&self, observations: Vec<Observation>, _: PushBack) -> Result<oneshot::Receiver<Result<IngestOutcome, String>>, SubmitError> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(IngestOutcome { appended: observations.len(), duplicates: 0 }));
        Ok(rx)
    }
}

/// A WAL queue that is always full.
struct AlwaysBusy;

impl IngestQueue for AlwaysBusy {
    fn submit(&self, _: Vec<Observation>, _: PushBack) -> Result<oneshot::Receiver<Result<IngestOutcome, String>>, SubmitError> {
        Err(SubmitError::Busy)
    }
}

fn state(dir: &std::path::Path) -> Arc<AppState> {
    state_with(dir, Arc::new(AcceptAll))
}

fn state_with(dir: &std::path::Path, ingest: Arc<dyn IngestQueue>) -> Arc<AppState> {
    let catalog = Catalog::open(&dir.join("catalog")).unwrap();
    let app = App {
        devices: RwLock::new(Arc::new(catalog.devices.clone())),
        engine: Arc::new(RwLock::new(Arc::new(Default::default()))),
        catalog: Mutex::new(catalog),
        ingest: Ingest::new(
            ingest,
            DeadLetterStore::open(dir.join("dead_letter.ndjson")).unwrap(),
            glasshouse_store::ImageStore::open(&dir.join("images")).unwrap(),
        ),
        alerts: Arc::new(AlertLog::open(&dir.join("alerts"), glasshouse_wal::FsyncPolicy::Never).unwrap()),
        store: Arc::new(Store::new(SegmentStore::open(dir.join("segments")).unwrap())),
        audit: Arc::new(glasshouse_audit::AuditLog::open(&dir.join("audit"), &dir.join("audit-keys")).unwrap()),
        policy: Default::default(),
        approvals: glasshouse_audit::approvals::ApprovalBook::open(&dir.join("approvals")).unwrap(),
        holds: glasshouse_audit::holds::HoldBook::open(&dir.join("holds")).unwrap(),
        warrants: glasshouse_audit::warrants::WarrantBook::open(&dir.join("warrants")).unwrap(),
        cases: glasshouse_audit::cases::CaseBook::open(&dir.join("cases")).unwrap(),
        exigencies: glasshouse_audit::exigency::ExigencyBook::open(&dir.join("exigency_reviews")).unwrap(),
        retention: Default::default(),
        changes: glasshouse_audit::changes::ChangeBook::open(&dir.join("changes")).unwrap(),
        sharing: Default::default(),
        rule_metrics: Default::default(),
        witnessing: std::sync::Arc::new(glasshouse_audit::witnessing::Witnessing::none()),
        audit_reads: Default::default(),
    };
    let state = AppState {
        app: Arc::new(app),
        tokens: TokenStore::open(dir),
        second_factor: crate::second_factor::SecondFactor::open(dir),
        basemap: None,
        map_style: None,
        sql: None,
        logged_on: Default::default(),
        failed_logons: Default::default(),
        throttle: Default::default(),
        closing: Default::default(),
        console_idle_lock_minutes: 30.0,
    };
    Arc::new(state)
}

/// The pattern with each `{parameter}` filled in.
fn concrete(path: &str) -> String {
    path.split('/').map(|part| if part.starts_with('{') { "x-1" } else { part }).collect::<Vec<_>>().join("/")
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::builder().method(method).uri(concrete(path));
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    response.status()
}

/// The authenticated routes.
fn guarded() -> impl Iterator<Item = &'static Endpoint> {
    endpoints().iter().filter(|e| !e.roles.is_empty())
}

#[tokio::test]
async fn every_route_refuses_missing_tokens_and_unlisted_roles() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(state(dir.path()));
    let tokens: Vec<(Role, String)> = Role::ALL.iter().map(|r| (*r, TokenStore::create(dir.path(), r.as_str(), *r).unwrap())).collect();
    assert_eq!(guarded().count(), ROUTES.len());
    for Endpoint { method, path, roles, .. } in guarded() {
        let method = method.as_str();
        assert_eq!(call(&app, method, path, None).await, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        assert_eq!(call(&app, method, path, Some("gh_forged")).await, StatusCode::UNAUTHORIZED, "{method} {path} forged token");
        for (role, token) in &tokens {
            let status = call(&app, method, path, Some(token)).await;
            if roles.contains(role) {
                assert!(status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED, "{method} {path} as {role:?}: {status}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role:?}");
            }
        }
    }
    assert_eq!(call(&app, "GET", "/healthz", None).await, StatusCode::OK);
}

#[tokio::test]
async fn every_route_in_the_table_is_served() {
    // Each entry's handler answers the method its attribute names (a handler mounted under another
    // method would answer 405 whatever the caller's role).
    let dir = tempfile::tempdir().unwrap();
    let app = app(state(dir.path()));
    let token = TokenStore::create(dir.path(), "auditor", Role::Auditor).unwrap();
    for Endpoint { method, path, .. } in endpoints() {
        let status = call(&app, method.as_str(), path, Some(&token)).await;
        assert!(status != StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {status}");
    }
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(state(dir.path()));
    let response = app.oneshot(Request::get("/v1/nothing").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_full_ingest_queue_answers_503_with_retry_after_and_loses_nothing_silently() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with(dir.path(), Arc::new(AlwaysBusy));
    {
        let mut catalog = state.catalog.lock().unwrap();
        let device = glasshouse_model::Device::fixed("lpr-1", glasshouse_model::DeviceType::PlateReader, 60.0, 25.0);
        catalog
            .record(glasshouse_store::CatalogEvent::DeviceUpserted { device, actor: "t".into(), at: glasshouse_model::Timestamp(0) })
            .unwrap();
        *state.devices.write().unwrap() = Arc::new(catalog.devices.clone());
    }
    let token = TokenStore::create(dir.path(), "feed", Role::Ingest).unwrap();
    let at = glasshouse_model::Timestamp::now().to_rfc3339();
    let line = format!(r#"{{"kind":"plate_read","device_id":"lpr-1","observed_at":"{at}","plate":"ABC123"}}"#);
    let request =
        Request::post("/v1/observations").header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::from(line)).unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(body["error"].as_str().unwrap().contains("queue is full"), "{body}");
}
