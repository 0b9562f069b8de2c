//! Where alerts leave the system: the outbound sinks, and the two-person changes that add or remove
//! them.
//!
//! Sinks come from the deployment's `--sinks` file (changed there, not here) and from approved
//! sharing changes, kept in `DATA_DIR/sharing.json` (the sinks-file format, secrets included, so
//! mode 0600). An administrator proposes adding a sink (a webhook, NATS subject or MQTT topic) or
//! removing one, with a reason; someone else approves, and only then does the sink start or stop.
//! Each step is audited with the target, never a secret. [`Sharing`] owns the running workers, so
//! starting, stopping and shutting them down happen in one place.

use crate::changes::{change_error, new_change};
use crate::{Action, Actor, App, AppError};
use glasshouse_audit::changes::{ChangeRequest, ChangeStatus};
use glasshouse_model::Timestamp;
use glasshouse_sinks::AlertLog;
use glasshouse_sinks::delivery::{DeadLetter, SinkConfig, SinkStatus, SinkWorker, SinksConfig, destination};
use glasshouse_wal::files::{Readers, replace};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The subject of sharing changes in the change book.
const SUBJECT: &str = "sharing";

/// What a proposal asks for.
#[derive(Debug, Clone)]
pub enum SharingProposal {
    /// Add a sink, written as an entry of the sinks file.
    Add(Value),
    /// Remove an approved sink by name.
    Remove(String),
}

/// The outbound sinks: the approved set, the deployment's names, and the running workers.
#[derive(Default)]
pub struct Sharing {
    approved: Mutex<Vec<Value>>,
    file: Option<PathBuf>,
    /// Where each sink keeps its cursor and dead letters.
    outbox_dir: Option<PathBuf>,
    /// Sinks from the deployment's `--sinks` file.
    deployment: Vec<String>,
    workers: Mutex<Vec<SinkWorker>>,
}

impl Sharing {
    /// Approved sinks (entries of the sinks-file format) kept in `file`, the deployment's sink
    /// names, and the workers already started for both.
    pub fn new(
        approved: Vec<Value>,
        file: Option<PathBuf>,
        outbox_dir: Option<PathBuf>,
        deployment: Vec<String>,
        workers: Vec<SinkWorker>,
    ) -> Sharing {
        Sharing { approved: Mutex::new(approved), file, outbox_dir, deployment, workers: Mutex::new(workers) }
    }

    /// Reads approved sinks from `file` (none when it is missing): the entries as written, and
    /// their checked configuration.
    pub fn load(file: &Path) -> Result<(Vec<Value>, SinksConfig), String> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(format!("reading {}: {e}", file.display())),
        };
        let config = SinksConfig::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok((value["sinks"].as_array().cloned().unwrap_or_default(), config))
    }

    /// The approved sinks now.
    pub fn approved(&self) -> Vec<Value> {
        self.approved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Each running sink's delivery status, and whether it comes from the deployment's file (else
    /// from an approved sharing change). `raised` is the alert log's length, for the backlog.
    pub fn statuses(&self, raised: usize) -> Vec<(SinkStatus, bool)> {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.iter().map(|w| (w.status(raised), self.deployment.iter().any(|d| d == w.name()))).collect()
    }

    /// The alerts a running sink gave up on; `None` when no sink has that name.
    pub fn dead_letters(&self, name: &str) -> Option<std::io::Result<Vec<DeadLetter>>> {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.iter().find(|w| w.name() == name).map(SinkWorker::dead_letters)
    }

    /// Stops every worker after the delivery in flight; what they have not delivered waits in the
    /// alert log for the next start.
    pub fn stop_all(&self) {
        let stopped = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        drop(stopped);
    }

    /// Writes the new approved set durably (owner-only: it holds webhook secrets), then keeps it.
    fn replace(&self, entries: Vec<Value>) -> Result<(), String> {
        if let Some(file) = &self.file {
            let bytes = serde_json::to_vec_pretty(&json!({ "sinks": entries })).expect("json serialises");
            replace(file, &bytes, Readers::OwnerOnly).map_err(|e| format!("writing {}: {e}", file.display()))?;
        }
        *self.approved.lock().unwrap_or_else(|p| p.into_inner()) = entries;
        Ok(())
    }

    /// The approved set after `proposed` (`{"add": entry}` or `{"remove": name}`), checked as a
    /// sinks file, and the added sink's parsed configuration.
    fn after_change(&self, proposed: &Value) -> Result<(Vec<Value>, Option<SinkConfig>), AppError> {
        let mut entries = self.approved();
        let named = |entry: &Value, name: &str| entry["name"].as_str() == Some(name);
        let added = match (proposed.get("add"), proposed.get("remove").and_then(Value::as_str)) {
            (Some(entry), None) => {
                let name = entry["name"].as_str().ok_or_else(|| AppError::invalid("add.name", "a sink needs a name"))?;
                if self.deployment.iter().any(|d| d == name) {
                    return Err(AppError::invalid("add.name", format!("{name:?} is in the deployment's sinks file; choose another name")));
                }
                if entries.iter().any(|e| named(e, name)) {
                    return Err(AppError::conflict(format!("{name:?} is already shared; remove it first")));
                }
                entries.push(entry.clone());
                Some(name.to_owned())
            }
            (None, Some(name)) => {
                if self.deployment.iter().any(|d| d == name) {
                    return Err(AppError::invalid("remove", format!("{name:?} is in the deployment's sinks file; change it there")));
                }
                if !entries.iter().any(|e| named(e, name)) {
                    return Err(AppError::invalid("remove", format!("no approved sink named {name:?}")));
                }
                entries.retain(|e| !named(e, name));
                None
            }
            _ => return Err(exactly_one()),
        };
        let parsed = SinksConfig::parse(&json!({ "sinks": entries }).to_string()).map_err(|e| AppError::invalid("add", e))?;
        Ok((entries, added.and_then(|name| parsed.sinks.into_iter().find(|s| s.name == name))))
    }

    /// Starts or stops the sink and records the new approved set.
    fn apply(&self, alerts: &Arc<AlertLog>, change: &ChangeRequest, entries: Vec<Value>, added: Option<SinkConfig>) -> Result<(), String> {
        let outbox = self.outbox_dir.as_ref().ok_or("this server has no outbox directory, so it cannot share alerts")?;
        match added {
            Some(config) => {
                let destination = destination(&config)?;
                let worker =
                    SinkWorker::start(config, outbox, alerts.clone(), destination).map_err(|e| format!("starting the sink: {e}"))?;
                self.replace(entries)?;
                self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(worker);
            }
            None => {
                let name = change.proposed["remove"].as_str().unwrap_or_default().to_owned();
                self.replace(entries)?;
                let removed: Vec<_> = {
                    let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
                    let (gone, kept) = std::mem::take(&mut *workers).into_iter().partition(|s| s.name() == name);
                    *workers = kept;
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
}

fn exactly_one() -> AppError {
    AppError::invalid("add", "give exactly one of add (a sink as in the sinks file) or remove (a sink's name)")
}

/// A change as listed: secrets hidden.
pub fn listed(change: &ChangeRequest) -> Value {
    let mut value = serde_json::to_value(change).expect("changes serialise");
    if let Some(secret) = value.pointer_mut("/proposed/add/webhook/secret") {
        *secret = json!("(hidden)");
    }
    value
}

impl App {
    /// Proposes a sharing change. The added sink's client is built once to check it (a URL or trust
    /// bundle it refuses is refused now, not at approval); that blocks, so call it off an async
    /// executor's workers.
    pub fn propose_sharing(
        &self,
        actor: &Actor,
        proposal: SharingProposal,
        reason: String,
        now: Timestamp,
    ) -> Result<ChangeRequest, AppError> {
        let proposed = match proposal {
            SharingProposal::Add(entry) => json!({ "add": entry }),
            SharingProposal::Remove(name) => json!({ "remove": name }),
        };
        let change = new_change(SUBJECT, proposed, reason, actor, now)?;
        if let (_, Some(config)) = self.sharing.after_change(&change.proposed)? {
            destination(&config).map_err(|e| AppError::invalid("add", e))?;
        }
        self.changes
            .propose(change, |c| {
                self.record(actor, Action::SharingChangePropose, "ok", self.described(c)).map(|_| ()).map_err(|e| e.message)
            })
            .map_err(change_error)
    }

    /// Someone other than the proposer approves (the sink starts or stops at once) or rejects.
    pub fn decide_sharing(&self, actor: &Actor, id: &str, approve: bool, now: Timestamp) -> Result<ChangeRequest, AppError> {
        // Checked before the decision too, so a proposal overtaken by another change is refused.
        if approve && let Some(pending) = self.changes.list(SUBJECT).into_iter().find(|c| c.id == id && c.status == ChangeStatus::Proposed)
        {
            self.sharing.after_change(&pending.proposed)?;
        }
        let action = if approve { Action::SharingChangeApprove } else { Action::SharingChangeReject };
        self.changes
            .decide(SUBJECT, id, &actor.name, approve, now, |c| {
                let checked = if approve { Some(self.sharing.after_change(&c.proposed).map_err(|e| e.message)?) } else { None };
                let mut details = self.described(c);
                details["proposed_by"] = json!(c.proposed_by);
                self.record(actor, action, "ok", details).map_err(|e| e.message)?;
                match checked {
                    Some((entries, added)) => self.sharing.apply(&self.alerts, c, entries, added),
                    None => Ok(()),
                }
            })
            .map_err(change_error)
    }

    /// Sharing proposals and decisions, newest first, secrets hidden.
    pub fn sharing_changes(&self) -> Vec<Value> {
        self.changes.list(SUBJECT).iter().map(listed).collect()
    }

    /// What the audit log says about a proposal: the target, never a secret.
    fn described(&self, change: &ChangeRequest) -> Value {
        let mut shown = change.proposed.clone();
        if let Some(secret) = shown.pointer_mut("/add/webhook/secret") {
            *secret = json!("(hidden)");
        }
        // The removed sink's target is read from the approved set while it is still there.
        let entry = change.proposed.get("add").cloned().or_else(|| {
            let name = change.proposed["remove"].as_str()?;
            self.sharing.approved().into_iter().find(|e| e["name"].as_str() == Some(name))
        });
        let target = entry
            .and_then(|entry| SinksConfig::parse(&json!({ "sinks": [entry] }).to_string()).ok())
            .and_then(|c| c.sinks.first().map(SinkConfig::target));
        json!({ "change": change.id, "proposed": shown, "target": target, "reason": self.audit.keyed("text", &change.reason) })
    }
}
