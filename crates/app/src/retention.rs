//! Retention: each kind's window, changed only by two people; legal holds, proposed by one person
//! and approved by a supervisor; and the purge that enforces both.
//!
//! The purge deletes, per kind, the expired rows that no confirmed alert rests on (for as long as
//! the `confirmed_alert_evidence` window says) and no hold in force covers; a dismissed or unworked
//! alert keeps nothing. It deletes the dead letters older than their own window too. Each purge
//! appends a receipt (class, window, cutoff, count, SHA-256 of what goes, what was kept and why) to
//! the audit log *before* anything is deleted. A failed audit write deletes nothing. It runs hourly
//! on the server's own thread and on demand.

use crate::changes::{change_error, new_change};
use crate::{Action, Actor, App, AppError};
use glasshouse_audit::changes::ChangeRequest;
use glasshouse_audit::holds::{Hold, HoldError};
use glasshouse_model::{Kind, Observation, Timestamp};
use glasshouse_store::{CONFIRMED_ALERT_EVIDENCE, DEAD_LETTERS, Keep, OTHER_CLASSES, PurgeOutcome, RetentionPolicy};
use glasshouse_wal::files::{Readers, replace};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// The subject of retention changes in the change book.
const SUBJECT: &str = "retention";

/// The windows in force, and the file they are kept in (`DATA_DIR/retention.json`).
pub struct RetentionSettings {
    policy: RwLock<RetentionPolicy>,
    file: Option<PathBuf>,
}

impl RetentionSettings {
    /// Windows read from `file` (or the defaults), written back there when changed.
    pub fn new(policy: RetentionPolicy, file: Option<PathBuf>) -> RetentionSettings {
        RetentionSettings { policy: RwLock::new(policy), file }
    }

    /// The windows now.
    pub fn current(&self) -> RetentionPolicy {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates, writes the file durably, then takes effect.
    pub fn replace(&self, policy: RetentionPolicy) -> Result<(), String> {
        policy.validate()?;
        if let Some(file) = &self.file {
            let bytes = serde_json::to_vec_pretty(&policy).expect("policies serialise");
            replace(file, &bytes, Readers::Default).map_err(|e| format!("writing {}: {e}", file.display()))?;
        }
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
        Ok(())
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings::new(Default::default(), None)
    }
}

/// The retention use case.
pub struct Retention<'a> {
    pub(crate) app: &'a App,
}

impl Retention<'_> {
    /// Each kind's window and the oldest moment it keeps at `now`, and the holds in force.
    pub fn windows(&self, now: Timestamp) -> Value {
        let retention = self.app.retention.current();
        let mut windows: serde_json::Map<String, Value> = Kind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), json!({ "days": retention.days(*k), "keeps_from": retention.cutoff(*k, now) })))
            .collect();
        for (class, _) in OTHER_CLASSES {
            windows
                .insert(class.to_owned(), json!({ "days": retention.class_days(class), "keeps_from": retention.class_cutoff(class, now) }));
        }
        json!({
            "windows": windows,
            "holds_in_force": self.app.holds.in_force(now).len(),
            "kept_beyond_window": "rows a confirmed alert rests on, for the confirmed_alert_evidence window from the alert; rows a hold in force covers",
        })
    }

    /// Purges every kind at `now`, as `actor`. Returns one receipt per kind that lost rows.
    pub fn purge_expired(&self, actor: &Actor, now: Timestamp) -> Result<Vec<Value>, AppError> {
        let app = self.app;
        let retention = app.retention.current();
        let evidence_since = retention.class_cutoff(CONFIRMED_ALERT_EVIDENCE, now);
        let alert_linked = app.alerts.confirmed_evidence_ids(evidence_since).map_err(AppError::internal)?;
        let holds = app.holds.in_force(now);
        let hold_ids: Vec<&str> = holds.iter().map(|h| h.id.as_str()).collect();
        let keep = |o: &Observation| {
            if alert_linked.contains(&o.id) {
                Keep::Alert
            } else if holds.iter().any(|h| h.scope.covers(o)) {
                Keep::Hold
            } else {
                Keep::No
            }
        };
        let mut receipts = Vec::new();
        for kind in Kind::ALL {
            let days = retention.days(kind);
            let cutoff = retention.cutoff(kind, now);
            let mut receipt = Value::Null;
            let mut images = Vec::new();
            let outcome: PurgeOutcome = app.store.purge(kind, days, cutoff, &keep, |plan| -> Result<(), AppError> {
                let (dropped, rewritten) = plan.segment_counts();
                receipt = json!({
                    "kind": kind.as_str(),
                    "window_days": days,
                    "cutoff": cutoff,
                    "count": plan.deleted_ids.len(),
                    "ids_sha256": plan.ids_sha256(),
                    "kept_for_alerts": plan.kept_for_alerts,
                    "confirmed_alert_evidence_days": retention.class_days(CONFIRMED_ALERT_EVIDENCE),
                    "kept_for_holds": plan.kept_for_holds,
                    "holds_in_force": hold_ids,
                    "segments_dropped": dropped,
                    "segments_rewritten": rewritten,
                    "images": plan.deleted_images.len(),
                });
                images = plan.deleted_images.clone();
                let logged = app.record(actor, Action::RetentionPurge, "ok", receipt.clone())?;
                receipt["audit_seq"] = json!(logged.seq());
                Ok(())
            })?;
            // The rows are gone; their images follow. (An image left behind by a crash here is named
            // by no read and served to no one.)
            for hash in &images {
                app.ingest.images().remove(hash).map_err(AppError::internal)?;
            }
            if outcome.deleted > 0 {
                tracing::info!(kind = kind.as_str(), deleted = outcome.deleted, images = images.len(), "retention purge");
                receipts.push(receipt);
            }
        }
        receipts.extend(self.purge_dead_letters(actor, &retention, now)?);
        Ok(receipts)
    }

    /// Deletes the dead letters older than their window, after logging the receipt.
    fn purge_dead_letters(&self, actor: &Actor, retention: &RetentionPolicy, now: Timestamp) -> Result<Option<Value>, AppError> {
        let app = self.app;
        let (days, cutoff) = (retention.class_days(DEAD_LETTERS), retention.class_cutoff(DEAD_LETTERS, now));
        let mut receipt = Value::Null;
        let deleted = app
            .ingest
            .dead_letters()
            .purge(cutoff, |purge| -> Result<(), Failed> {
                receipt = json!({
                    "kind": DEAD_LETTERS,
                    "window_days": days,
                    "cutoff": cutoff,
                    "count": purge.deleted,
                    "lines_sha256": purge.lines_sha256,
                });
                let logged = app.record(actor, Action::RetentionPurge, "ok", receipt.clone()).map_err(Failed::Audit)?;
                receipt["audit_seq"] = json!(logged.seq());
                Ok(())
            })
            .map_err(|failed| match failed {
                Failed::Audit(e) => e,
                Failed::File(e) => AppError::internal(format!("dead-letter store: {e}")),
            })?;
        Ok((deleted > 0).then_some(receipt))
    }

    /// Proposes new windows for the kinds in `days`; another custodian or a supervisor must approve.
    pub fn propose_change(
        &self,
        actor: &Actor,
        days: BTreeMap<String, u32>,
        reason: String,
        now: Timestamp,
    ) -> Result<ChangeRequest, AppError> {
        let app = self.app;
        let mut proposed = app.retention.current();
        proposed.days.extend(days);
        let checked = proposed.validate().map_err(|e| AppError::invalid("days", e));
        let change = new_change(SUBJECT, serde_json::to_value(&proposed).expect("policies serialise"), reason, actor, now)?;
        checked?;
        let before = serde_json::to_value(app.retention.current()).expect("policies serialise");
        app.changes
            .propose(change, |c| {
                let details =
                    json!({ "change": c.id, "before": before, "after": c.proposed, "reason": app.audit.keyed("text", &c.reason) });
                app.record(actor, Action::RetentionChangePropose, "ok", details).map(|_| ()).map_err(|e| e.message)
            })
            .map_err(change_error)
    }

    /// A second person approves (the windows apply at once and are written to their file) or rejects.
    pub fn decide_change(&self, actor: &Actor, id: &str, approve: bool, now: Timestamp) -> Result<ChangeRequest, AppError> {
        let app = self.app;
        let action = if approve { Action::RetentionChangeApprove } else { Action::RetentionChangeReject };
        app.changes
            .decide(SUBJECT, id, &actor.name, approve, now, |c| {
                let before = serde_json::to_value(app.retention.current()).expect("policies serialise");
                let details = json!({ "change": c.id, "proposed_by": c.proposed_by, "before": before, "after": c.proposed });
                app.record(actor, action, "ok", details).map_err(|e| e.message)?;
                if approve {
                    let policy: RetentionPolicy = serde_json::from_value(c.proposed.clone()).map_err(|e| e.to_string())?;
                    app.retention.replace(policy)?;
                }
                Ok(())
            })
            .map_err(change_error)
    }

    /// Proposals and decisions, newest first.
    pub fn changes(&self) -> Vec<ChangeRequest> {
        self.app.changes.list(SUBJECT)
    }

    /// Files a legal hold (checked by the book); a supervisor other than the proposer must approve it.
    pub fn propose_hold(&self, actor: &Actor, hold: Hold) -> Result<Hold, AppError> {
        self.app.holds.propose(hold, |h| self.record_hold(actor, Action::HoldPropose, h)).map_err(hold_error)
    }

    /// A supervisor other than the proposer approves (the hold is in force at once) or rejects it.
    pub fn decide_hold(&self, actor: &Actor, id: &str, approve: bool, now: Timestamp) -> Result<Hold, AppError> {
        let action = if approve { Action::HoldApprove } else { Action::HoldReject };
        self.app.holds.decide(id, &actor.name, approve, now, |h| self.record_hold(actor, action, h)).map_err(hold_error)
    }

    /// Ends a hold in force before its expiry.
    pub fn release_hold(&self, actor: &Actor, id: &str, now: Timestamp) -> Result<Hold, AppError> {
        self.app.holds.release(id, &actor.name, now, |h| self.record_hold(actor, Action::HoldRelease, h)).map_err(hold_error)
    }

    /// Logs a hold's step: its plates only as keyed hashes.
    fn record_hold(&self, actor: &Actor, action: Action, hold: &Hold) -> Result<(), String> {
        let details = json!({
            "hold": hold.id,
            "case_number": hold.case_number,
            "authority": hold.authority,
            "authority_reference": hold.authority_reference,
            "plates": hold.scope.plates.iter().map(|p| self.app.audit.keyed("plate", p)).collect::<Vec<_>>(),
            "devices": hold.scope.devices,
            "from": hold.scope.from,
            "to": hold.scope.to,
            "expires_at": hold.expires_at,
            "status": hold.status,
        });
        self.app.record(actor, action, "ok", details).map(|_| ()).map_err(|e| e.message)
    }
}

/// Why the dead-letter purge stopped: its receipt could not be logged, or the file failed.
enum Failed {
    Audit(AppError),
    File(std::io::Error),
}

impl From<std::io::Error> for Failed {
    fn from(e: std::io::Error) -> Self {
        Failed::File(e)
    }
}

/// The answer to a hold step the book refused.
fn hold_error(e: HoldError) -> AppError {
    match e {
        HoldError::NotFound(_) => AppError::not_found(e.to_string()),
        HoldError::WrongState { .. } => AppError::conflict(e.to_string()),
        HoldError::OwnProposal => AppError::forbidden(e.to_string()).at("approve"),
        HoldError::Bad { field, .. } => AppError::invalid(field, e.to_string()),
        HoldError::Audit(_) => AppError::unavailable("the audit log cannot be written, so the hold was not changed", 30),
        HoldError::Book(_) => AppError::internal(e),
    }
}
