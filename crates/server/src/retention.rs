//! The retention purge as the system runs it: for each kind, the expired rows that no alert rests
//! on and no hold in force covers are deleted, and a receipt (kind, window, cutoff, count, SHA-256 of
//! the deleted ids, what was kept and why) is appended to the audit log before anything is deleted.
//! A failed audit write deletes nothing.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use glasshouse_model::{Kind, Timestamp};
use glasshouse_store::{Keep, PurgeOutcome};
use serde_json::{Value, json};

/// Purges every kind at `now`, as `actor`. Returns one receipt per kind that lost rows.
pub fn purge_expired(state: &AppState, actor: &Account, now: Timestamp) -> Result<Vec<Value>, ApiError> {
    let alert_linked = state.alerts.linked_observation_ids();
    let holds = state.holds.in_force(now);
    let hold_ids: Vec<&str> = holds.iter().map(|h| h.id.as_str()).collect();
    let keep = |o: &glasshouse_model::Observation| {
        if alert_linked.contains(&o.id) {
            Keep::Alert
        } else if holds.iter().any(|h| h.scope.covers(o)) {
            Keep::Hold
        } else {
            Keep::No
        }
    };
    let retention = state.retention.current();
    let mut receipts = Vec::new();
    for kind in Kind::ALL {
        let days = retention.days(kind);
        let cutoff = retention.cutoff(kind, now);
        let mut receipt = Value::Null;
        let outcome: PurgeOutcome = state.store.purge(kind, days, cutoff, &keep, |plan| -> Result<(), ApiError> {
            let (dropped, rewritten) = plan.segment_counts();
            receipt = json!({
                "kind": kind.as_str(),
                "window_days": days,
                "cutoff": cutoff,
                "count": plan.deleted_ids.len(),
                "ids_sha256": plan.ids_sha256(),
                "kept_for_alerts": plan.kept_for_alerts,
                "kept_for_holds": plan.kept_for_holds,
                "holds_in_force": hold_ids,
                "segments_dropped": dropped,
                "segments_rewritten": rewritten,
            });
            let logged = state.audit(actor, "retention.purge", "ok", receipt.clone())?;
            receipt["audit_seq"] = json!(logged.seq());
            Ok(())
        })?;
        if outcome.deleted > 0 {
            tracing::info!(kind = kind.as_str(), deleted = outcome.deleted, "retention purge");
            receipts.push(receipt);
        }
    }
    Ok(receipts)
}
