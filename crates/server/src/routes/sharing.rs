//! `/v1/sharing/changes`: where alerts leave the system changes only with two people. An
//! administrator proposes adding a sink (a webhook, NATS subject or MQTT topic, written as in the
//! sinks file) or removing one, with a reason; a supervisor or another administrator approves, and
//! only then does the sink start or stop. Each step is audited with the target (never a secret),
//! and approved sinks are kept in `DATA_DIR/sharing.json` across restarts. Sinks from the
//! deployment's own `--sinks` file are changed there, not here.

use super::holds::{Decision, change_error, new_change};
use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use glasshouse_audit::changes::{ChangeRequest, ChangeStatus};
use glasshouse_model::Timestamp;
use glasshouse_sinks::delivery::{SinkConfig, SinksConfig};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

const SUBJECT: &str = "sharing";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSharingChange {
    /// A sink to add, as an entry of the sinks file.
    #[serde(default)]
    add: Option<Value>,
    /// The name of an approved sink to remove.
    #[serde(default)]
    remove: Option<String>,
    /// Why (shown to the approver; audited as a keyed hash).
    reason: String,
}

/// The approved set after `proposed` (`{"add": entry}` or `{"remove": name}`), checked as a sinks
/// file, and the added sink's parsed configuration.
fn after_change(state: &AppState, proposed: &Value) -> Result<(Vec<Value>, Option<SinkConfig>), ApiError> {
    let mut entries = state.sharing.approved();
    let named = |entry: &Value, name: &str| entry["name"].as_str() == Some(name);
    let added = match (proposed.get("add"), proposed.get("remove").and_then(Value::as_str)) {
        (Some(entry), None) => {
            let name = entry["name"].as_str().ok_or_else(|| ApiError::bad_field("add.name", "a sink needs a name"))?;
            if state.sharing.deployment.iter().any(|d| d == name) {
                return Err(ApiError::bad_field("add.name", format!("{name:?} is in the deployment's sinks file; choose another name")));
            }
            if entries.iter().any(|e| named(e, name)) {
                return Err(ApiError::new(StatusCode::CONFLICT, format!("{name:?} is already shared; remove it first")));
            }
            entries.push(entry.clone());
            Some(name.to_owned())
        }
        (None, Some(name)) => {
            if state.sharing.deployment.iter().any(|d| d == name) {
                return Err(ApiError::bad_field("remove", format!("{name:?} is in the deployment's sinks file; change it there")));
            }
            if !entries.iter().any(|e| named(e, name)) {
                return Err(ApiError::bad_field("remove", format!("no approved sink named {name:?}")));
            }
            entries.retain(|e| !named(e, name));
            None
        }
        _ => return Err(ApiError::bad_field("add", "give exactly one of add (a sink as in the sinks file) or remove (a sink's name)")),
    };
    let parsed = SinksConfig::parse(&json!({ "sinks": entries }).to_string()).map_err(|e| ApiError::bad_field("add", e))?;
    Ok((entries, added.and_then(|name| parsed.sinks.into_iter().find(|s| s.name == name))))
}

/// What the audit log and the listing say about a proposal: the target, never a secret.
fn described(state: &AppState, change: &ChangeRequest) -> Value {
    let mut shown = change.proposed.clone();
    if let Some(secret) = shown.pointer_mut("/add/webhook/secret") {
        *secret = json!("(hidden)");
    }
    // The removed sink's target is read from the approved set while it is still there.
    let entry = change.proposed.get("add").cloned().or_else(|| {
        let name = change.proposed["remove"].as_str()?;
        state.sharing.approved().into_iter().find(|e| e["name"].as_str() == Some(name))
    });
    let target = entry
        .and_then(|entry| SinksConfig::parse(&json!({ "sinks": [entry] }).to_string()).ok())
        .and_then(|c| c.sinks.first().map(SinkConfig::target));
    json!({ "change": change.id, "proposed": shown, "target": target, "reason": state.audit.keyed("text", &change.reason) })
}

fn listed(change: &ChangeRequest) -> Value {
    let mut value = serde_json::to_value(change).expect("changes serialise");
    if let Some(secret) = value.pointer_mut("/proposed/add/webhook/secret") {
        *secret = json!("(hidden)");
    }
    value
}

/// `POST /v1/sharing/changes`.
pub async fn propose(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    body: Result<Json<NewSharingChange>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let proposed = match (body.add, body.remove) {
        (Some(add), None) => json!({ "add": add }),
        (None, Some(remove)) => json!({ "remove": remove }),
        _ => return Err(ApiError::bad_field("add", "give exactly one of add (a sink as in the sinks file) or remove (a sink's name)")),
    };
    let change = new_change(SUBJECT, proposed, body.reason, &account)?;
    // Checking builds the sink's client once (each owns a small runtime, hence off the async pool):
    // a URL or trust bundle it refuses is a 400 now, not a failed approval later.
    let change = tokio::task::spawn_blocking(move || {
        if let (_, Some(config)) = after_change(&state, &change.proposed)? {
            glasshouse_sinks::delivery::destination(&config).map_err(|e| ApiError::bad_field("add", e))?;
        }
        state
            .changes
            .propose(change, |c| {
                state.audit(&account, "sharing.change.propose", "ok", described(&state, c)).map(|_| ()).map_err(|e| e.message)
            })
            .map_err(change_error)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(listed(&change))))
}

/// `GET /v1/sharing/changes`: proposals and decisions, newest first, secrets hidden.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "changes": state.changes.list(SUBJECT).iter().map(listed).collect::<Vec<_>>() }))
}

/// `POST /v1/sharing/changes/{id}/decision`: someone other than the proposer approves (the sink
/// starts or stops at once) or rejects.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let approve = body.approve;
    let change = tokio::task::spawn_blocking(move || {
        // Checked before the decision too, so a proposal overtaken by another change answers 4xx.
        if approve && let Some(pending) = state.changes.list(SUBJECT).into_iter().find(|c| c.id == id && c.status == ChangeStatus::Proposed)
        {
            after_change(&state, &pending.proposed)?;
        }
        let action = if approve { "sharing.change.approve" } else { "sharing.change.reject" };
        state
            .changes
            .decide(SUBJECT, &id, &account.name, approve, Timestamp::now(), |c| {
                let checked = if approve { Some(after_change(&state, &c.proposed).map_err(|e| e.message)?) } else { None };
                let mut details = described(&state, c);
                details["proposed_by"] = json!(c.proposed_by);
                state.audit(&account, action, "ok", details).map_err(|e| e.message)?;
                match checked {
                    Some((entries, added)) => apply(&state, c, entries, added),
                    None => Ok(()),
                }
            })
            .map_err(change_error)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(listed(&change)))
}

/// Starts or stops the sink and records the new approved set.
fn apply(state: &AppState, change: &ChangeRequest, entries: Vec<Value>, added: Option<SinkConfig>) -> Result<(), String> {
    let outbox = state.sharing.outbox_dir.as_ref().ok_or("this server has no outbox directory, so it cannot share alerts")?;
    match added {
        Some(config) => {
            let destination = glasshouse_sinks::delivery::destination(&config)?;
            let worker = glasshouse_sinks::delivery::SinkWorker::start(config, outbox, state.alerts.clone(), destination)
                .map_err(|e| format!("starting the sink: {e}"))?;
            state.sharing.replace(entries)?;
            state.sinks.lock().unwrap_or_else(|p| p.into_inner()).push(worker);
        }
        None => {
            let name = change.proposed["remove"].as_str().unwrap_or_default().to_owned();
            state.sharing.replace(entries)?;
            let removed: Vec<_> = {
                let mut sinks = state.sinks.lock().unwrap_or_else(|p| p.into_inner());
                let (gone, kept) = std::mem::take(&mut *sinks).into_iter().partition(|s| s.name() == name);
                *sinks = kept;
                gone
            };
            // Stopped outside the lock: a worker finishes the delivery in flight first.
            drop(removed);
            // A sink shared again later under the same name starts from then, not from the gap.
            let dir = outbox.join(&name);
            if dir.exists() {
                let retired = outbox.join(format!("{name}.removed-{}", Timestamp::now().0));
                std::fs::rename(&dir, retired).map_err(|e| format!("retiring the outbox of {name}: {e}"))?;
            }
        }
    }
    Ok(())
}
