//! Alerts: the stored list and the live stream (server-sent events).

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Most alerts one listing returns.
const LIST_ALERTS_MAX: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<usize>,
}

pub async fn list(State(state): State<Arc<AppState>>, params: Result<Query<ListParams>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(500).min(LIST_ALERTS_MAX);
    Ok(Json(json!({ "alerts": state.alerts.recent(limit) })))
}

/// Each stored alert as an `alert` event. A subscriber that falls behind gets a `lagged` event with
/// the number missed, and should re-read `GET /v1/alerts`.
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
    Sse::new(hello.chain(events)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
