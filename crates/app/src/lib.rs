//! The application layer: the use cases of Glasshouse, between the pipeline's stages (model →
//! ingest → engine → store → audit) and the interfaces (the HTTP server, the Postgres listener, the
//! CLI, future feeds). Each use case holds the product's rules: which searches may run and what the
//! log says about them, how records enter, what the purge keeps, how sharing changes start and stop
//! sinks. The interfaces parse, call a use case and serialize; each use case is tested without them.
//!
//! - [`ingest`]: every source through one path (decode → dead letters → submit → durable).
//! - [`investigations`]: the gate (purpose, authority, audit) → the search → its result entry;
//!   situations' context.
//! - [`cases`]: the cases searches name: opened by supervisors, or dispatch incidents.
//! - [`authority`]: what a broad search rests on: registered warrants, exigency claims and their
//!   reviews, supervisors' approvals.
//! - [`retention`]: the windows, their two-person changes, the purge and its receipts.
//! - [`sharing`]: approved outbound sinks, their two-person changes, and the running sink workers.
//! - [`hotlists`]: lists and entries, audited, and new entries matched against the last day.
//! - [`catalog`]: devices and rules, audited and published to the hot path.
//! - [`alerts`]: the alert lifecycle, each step checked and audited.
//! - [`changes`]: what every two-person change has in common.
//! - [`reports`]: the transparency report, computed from the live system.
//! - [`oversight`]: the audit log's checkpoint, entries and proofs, counts, and SQL's log entries.
//! - [`audit_reads`]: reads of the audit log, logged per account per hour.
#![deny(missing_docs)]

pub mod alerts;
pub mod audit_reads;
pub mod authority;
pub mod cases;
pub mod catalog;
pub mod changes;
pub mod error;
pub mod health;
pub mod hotlists;
pub mod ingest;
pub mod investigations;
pub mod metrics;
pub mod oversight;
pub mod reports;
pub mod retention;
pub mod sharing;

pub use error::{AppError, ErrorKind};
pub use glasshouse_audit::{Action, Component};
pub use ingest::{DeviceSeen, FileFormat, Ingest, IngestOutcome, IngestQueue, IngestReport, PushBack, SubmitError, WebhookExtras};

use glasshouse_audit::approvals::ApprovalBook;
use glasshouse_audit::changes::ChangeBook;
use glasshouse_audit::exigency::ExigencyBook;
use glasshouse_audit::holds::HoldBook;
use glasshouse_audit::warrants::WarrantBook;
use glasshouse_audit::{AuditEvent, AuditLog, AuditReceipt, PurposePolicy};
use glasshouse_engine::Engine;
use glasshouse_engine::metrics::RuleMetrics;
use glasshouse_model::DeviceRegistry;
use glasshouse_sinks::AlertLog;
use glasshouse_store::{Catalog, Store};
use std::sync::{Arc, Mutex, RwLock};

/// Who acts: an account and its role at the time, what it came through and from where (as the
/// audit log records them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The account's name, or `system:<task>` for the server's own tasks.
    pub name: String,
    /// The role it acts in.
    pub role: String,
    /// The interface the action came through.
    pub component: Component,
    /// The client's address, for an action over the network.
    pub address: Option<String>,
}

impl Actor {
    /// An account acting in a role, as the server's own task (no client address) until [`Actor::via`]
    /// says otherwise.
    pub fn new(name: impl Into<String>, role: impl Into<String>) -> Actor {
        Actor { name: name.into(), role: role.into(), component: Component::System, address: None }
    }

    /// The same actor, coming through `component` from `address`.
    pub fn via(self, component: Component, address: Option<String>) -> Actor {
        Actor { component, address, ..self }
    }
}

/// Everything the use cases share: the stages' stores and the accountability books.
pub struct App {
    /// Devices and hotlists, for changes (the lock serialises writers).
    pub catalog: Mutex<Catalog>,
    /// A snapshot of the registry for validation, replaced on every device change.
    pub devices: RwLock<Arc<DeviceRegistry>>,
    /// A snapshot of the rules, replaced on every change; the hot path reads it too.
    pub engine: Arc<RwLock<Arc<Engine>>>,
    /// The one way in for observations.
    pub ingest: Ingest,
    /// Stored alerts and their live feed.
    pub alerts: Arc<AlertLog>,
    /// Observations: segments and the hot window.
    pub store: Arc<Store>,
    /// The Merkle audit log every privileged action goes into.
    pub audit: Arc<AuditLog>,
    /// What a historical search must state.
    pub policy: PurposePolicy,
    /// Supervisor approvals for broad searches.
    pub approvals: ApprovalBook,
    /// The cases searches may name.
    pub cases: glasshouse_audit::cases::CaseBook,
    /// Registered warrants, which broad searches may cite.
    pub warrants: WarrantBook,
    /// Claims of exigency and their reviews.
    pub exigencies: ExigencyBook,
    /// Legal holds: records kept past retention for a case.
    pub holds: HoldBook,
    /// How long each kind is kept.
    pub retention: retention::RetentionSettings,
    /// Two-person configuration changes (retention windows, sharing).
    pub changes: ChangeBook,
    /// Outbound sinks: approved ones, the deployment's, and their running workers.
    pub sharing: sharing::Sharing,
    /// The rules' counters as the hot path last published them.
    pub rule_metrics: Arc<Mutex<RuleMetrics>>,
    /// The witnesses asked to cosign the audit log, and the newest checkpoint they cosigned.
    pub witnessing: Arc<glasshouse_audit::witnessing::Witnessing>,
    /// Reads of the audit log counted this hour, logged per account once it is over.
    pub audit_reads: audit_reads::AuditReads,
}

impl App {
    /// Logs a privileged action durably. Callers act only with the receipt in hand: if the log
    /// cannot be written, the action does not happen.
    pub fn record(&self, actor: &Actor, action: Action, outcome: &str, details: serde_json::Value) -> Result<AuditReceipt, AppError> {
        self.audit.append(event(actor, action, outcome, details)).map_err(AppError::audit_unavailable)
    }

    /// The current device registry.
    pub fn devices(&self) -> Arc<DeviceRegistry> {
        self.devices.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes the catalog's current registry and rules to readers.
    pub fn publish_catalog(&self, catalog: &Catalog) {
        *self.devices.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog.devices.clone());
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog.engine());
    }

    /// The investigation searches.
    pub fn investigations(&self) -> investigations::Investigations<'_> {
        investigations::Investigations { app: self }
    }

    /// The retention windows, their changes and the purge.
    pub fn retention(&self) -> retention::Retention<'_> {
        retention::Retention { app: self }
    }
}

/// An audit event for `actor`.
pub(crate) fn event(actor: &Actor, action: Action, outcome: &str, details: serde_json::Value) -> AuditEvent {
    AuditEvent {
        actor: actor.name.clone(),
        role: actor.role.clone(),
        component: actor.component,
        address: actor.address.clone(),
        action,
        outcome: outcome.to_owned(),
        details,
    }
}
