//! Alerts: the stored list and the live stream (server-sent events).

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use futures_util::Stream;
use glasshouse_engine::{AlertFilter, AlertStatus, TransitionRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Most alerts one listing returns.
const LIST_ALERTS_MAX: usize = 10_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses (`new`, `acknowledged`, `confirmed`, `dismissed`, `closed`); any when absent.
    status: Option<String>,
    /// Comma-separated rule families (`hotlist`, `threshold`, `situation`, `geofence`, `device_silent`); any when absent.
    rule: Option<String>,
    /// Raised by this rule (a rule's id) or, for plate hits, this hotlist (its id).
    rule_id: Option<String>,
    /// About this device.
    device_id: Option<String>,
    /// Raised at or after this time, RFC 3339.
    from: Option<String>,
    /// Raised before this time, RFC 3339.
    to: Option<String>,
    /// Page size: at most 10,000; default 500.
    limit: Option<usize>,
    /// `next_cursor` of the previous page: the page after it, older alerts.
    cursor: Option<String>,
}

/// Stored alerts, newest first, filtered and paged.
///
/// Filters combine (all must hold). `next_cursor` is present when older alerts match: pass it as
/// `cursor` for the next page. Alerts raised meanwhile arrive ahead of the first page (the live
/// stream carries them), so paging returns each alert once.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    params(ListParams),
    responses((status = 200, description = "`{alerts: [...], next_cursor?: string}`"), (status = 400, description = "a parameter is invalid, named in `field`")),
)]
pub async fn list(State(state): State<Arc<AppState>>, params: Result<Query<ListParams>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(500).clamp(1, LIST_ALERTS_MAX);
    let (from, to) = (super::parse_time("from", params.from.as_deref())?, super::parse_time("to", params.to.as_deref())?);
    let filter = AlertFilter::parse(params.status.as_deref(), params.rule.as_deref(), params.rule_id, params.device_id, from, to)
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    let before = params.cursor.as_deref().map(cursor_position).transpose()?;
    let (alerts, next) = tokio::task::spawn_blocking(move || state.alerts.page(&filter, before, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut body = json!({ "alerts": alerts });
    if let Some(position) = next {
        body["next_cursor"] = json!(format!("{CURSOR_PREFIX}{position}"));
    }
    Ok(Json(body))
}

/// A cursor names the position of the last alert of a page; the prefix keeps it from reading as a count.
const CURSOR_PREFIX: &str = "before-";

fn cursor_position(cursor: &str) -> Result<usize, ApiError> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::bad_field("cursor", format!("{cursor:?} is not a cursor this server gave")))
}

/// The live alert feed as server-sent events.
///
/// `ready`, then `alert` per new or updated alert, and `lagged` with the number missed when the client fell
/// behind (re-read `GET /v1/alerts`).
#[utoipa::path(
    get,
    path = "/v1/alerts/stream",
    responses((status = 200, description = "text/event-stream")),
)]
pub async fn stream(State(state): State<Arc<AppState>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(state.alerts.subscribe()).map(|item| {
        Ok(match item {
            Ok(alert) => {
                Event::default().event("alert").id(alert.id.clone()).data(serde_json::to_string(&alert).expect("alerts serialise"))
            }
            Err(BroadcastStreamRecvError::Lagged(missed)) => Event::default().event("lagged").data(json!({ "missed": missed }).to_string()),
        })
    });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("{}")));
    let until_closing = futures_util::StreamExt::take_until(hello.chain(events), state.closing.closed());
    Sse::new(until_closing).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The live alert feed over a WebSocket.
///
/// The same feed as `/v1/alerts/stream`, as text frames: `{"type":"ready"}`, then
/// `{"type":"alert","alert":{...}}` for each new or updated alert, and `{"type":"lagged","missed":n}` when the
/// client fell behind. The Authorization header is checked at the handshake.
#[utoipa::path(
    get,
    path = "/v1/alerts/ws",
    responses((status = 101, description = "switching protocols")),
)]
pub async fn websocket(State(state): State<Arc<AppState>>, upgrade: WebSocketUpgrade) -> axum::response::Response {
    let closed = state.closing.closed();
    upgrade.on_upgrade(move |socket| feed(socket, state.alerts.subscribe(), closed))
}

async fn feed(
    mut socket: WebSocket,
    mut alerts: tokio::sync::broadcast::Receiver<glasshouse_engine::Alert>,
    closed: impl std::future::Future<Output = ()>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let text = |value: Value| Message::Text(value.to_string().into());
    if socket.send(text(json!({ "type": "ready" }))).await.is_err() {
        return;
    }
    let mut closed = std::pin::pin!(closed);
    loop {
        let message = tokio::select! {
            _ = &mut closed => {
                // "Going away": the server is stopping.
                let frame = axum::extract::ws::CloseFrame { code: 1001, reason: "server stopping".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return;
            }
            next = alerts.recv() => match next {
                Ok(alert) => text(json!({ "type": "alert", "alert": alert })),
                Err(RecvError::Lagged(missed)) => text(json!({ "type": "lagged", "missed": missed })),
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the library; anything else from the client is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        if socket.send(message).await.is_err() {
            return;
        }
    }
}

/// The alert as an OASIS CAP 1.2 message.
///
/// application/cap+xml: Alert while open, Update once confirmed, Cancel once dismissed.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}/cap",
    params(("id" = String, Path, description = "the alert id")),
    responses((status = 200, description = "application/cap+xml"), (status = 404, description = "no such alert")),
)]
pub async fn cap(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let alert = state.alerts.get(&id).map_err(ApiError::internal)?.ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    let sender = state.origin();
    Ok(([(axum::http::header::CONTENT_TYPE, "application/cap+xml; charset=utf-8")], glasshouse_sinks::cap::alert_to_cap(&alert, &sender))
        .into_response())
}

/// One alert with its history.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    params(("id" = String, Path, description = "the alert id")),
    responses((status = 200, description = "`{alert}`"), (status = 404, description = "no such alert")),
)]
pub async fn get_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let alert = state.alerts.get(&id).map_err(ApiError::internal)?.ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    Ok(Json(json!({ "alert": alert })))
}

/// Moves an alert along its lifecycle.
///
/// new → acknowledged → confirmed | dismissed → closed. Confirming a plate hit needs visual_check and
/// source_check; dismissing needs a disposition. Each step is audited before it is stored.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/transitions",
    params(("id" = String, Path, description = "the alert id")),
    request_body = TransitionRequest,
    responses((status = 200, description = "`{alert}` after the step"), (status = 400, description = "a bad field, named"), (status = 404, description = "no such alert"), (status = 409, description = "the step is not allowed from the alert's state, the field named")),
)]
pub async fn transition(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<TransitionRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body?;
    let updated = tokio::task::spawn_blocking(move || state.transition_alert(&account.actor(), &id, &request))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({ "alert": updated })))
}

/// Efficacy per rule, from the recorded dispositions.
///
/// How many alerts, the share confirmed and dismissed (of those decided), dismissals by reason, and the time to
/// acknowledge (median and 90th percentile, seconds). Counts only.
#[utoipa::path(
    get,
    path = "/v1/alerts/stats",
    responses((status = 200, description = "`{rules: [...]}`")),
)]
pub async fn stats(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let by_rule = tokio::task::spawn_blocking(move || {
        let mut by_rule: BTreeMap<String, RuleEfficacy> = BTreeMap::new();
        state.alerts.for_each(|alert| by_rule.entry(alert.rule.clone()).or_default().count(alert)).map(|()| by_rule)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let rules: BTreeMap<String, Value> = by_rule.into_iter().map(|(rule, efficacy)| (rule, efficacy.into_json())).collect();
    Ok(Json(json!({ "rules": rules })))
}

/// One rule family's figures, counted an alert at a time (the log is read a part at a time, never
/// held whole).
#[derive(Default)]
struct RuleEfficacy {
    alerts: usize,
    open: usize,
    confirmed: usize,
    dismissed: usize,
    reasons: BTreeMap<String, usize>,
    /// Seconds from raise to acknowledgement, one per acknowledged alert.
    waits: Vec<f64>,
}

impl RuleEfficacy {
    fn count(&mut self, alert: &glasshouse_engine::Alert) {
        self.alerts += 1;
        self.open += usize::from(matches!(alert.status, AlertStatus::New | AlertStatus::Acknowledged));
        let decided_as = |status: AlertStatus| alert.history.iter().any(|t| t.to == status);
        self.confirmed += usize::from(decided_as(AlertStatus::Confirmed));
        self.dismissed += usize::from(decided_as(AlertStatus::Dismissed));
        for t in alert.history.iter().filter(|t| t.to == AlertStatus::Dismissed) {
            *self.reasons.entry(t.disposition.clone().unwrap_or_default()).or_default() += 1;
        }
        if let Some(at) = alert.acknowledged_at() {
            self.waits.push((at.0 - alert.raised_at.0) as f64 / 1e6);
        }
    }

    fn into_json(mut self) -> Value {
        let (confirmed, dismissed) = (self.confirmed, self.dismissed);
        let decided = (confirmed + dismissed).max(1) as f64;
        self.waits.sort_by(f64::total_cmp);
        let waits = &self.waits;
        let percentile = |p: f64| (!waits.is_empty()).then(|| waits[((waits.len() - 1) as f64 * p).round() as usize]);
        json!({
            "alerts": self.alerts,
            "open": self.open,
            "acknowledged": waits.len(),
            "confirmed": confirmed,
            "dismissed": dismissed,
            "confirmed_share": if confirmed + dismissed == 0 { Value::Null } else { json!(confirmed as f64 / decided) },
            "dismissed_share": if confirmed + dismissed == 0 { Value::Null } else { json!(dismissed as f64 / decided) },
            "dismissals_by_reason": self.reasons,
            "time_to_acknowledge_secs_median": percentile(0.5),
            "time_to_acknowledge_secs_p90": percentile(0.9),
        })
    }
}

/// One of a plate hit's images: the plate crop or the vehicle crop, as the reader sent it.
///
/// For the operator's visual check before confirming a hit. Only the images a hit names are served; each viewing
/// is audited.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}/images/{image}",
    params(("id" = String, Path, description = "the alert id"), ("image" = String, Path, description = "`plate` or `vehicle`")),
    responses((status = 200, description = "image/jpeg"), (status = 400, description = "`image` is neither plate nor vehicle"), (status = 404, description = "no such alert, or it has no such image (any more)")),
)]
pub async fn image(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path((id, image)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let role = glasshouse_model::image::ImageRole::parse(&image).ok_or_else(|| ApiError::bad_field("image", "must be plate or vehicle"))?;
    let bytes = tokio::task::spawn_blocking(move || state.alert_image(&account.actor(), &id, role)).await.map_err(ApiError::internal)??;
    let headers = [(axum::http::header::CONTENT_TYPE, "image/jpeg"), (axum::http::header::CACHE_CONTROL, "private, no-store")];
    Ok((headers, bytes).into_response())
}
