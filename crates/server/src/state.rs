//! What the handlers share, and the one seam to the ingest pipeline.

use crate::auth::{Account, TokenStore};
use crate::error::ApiError;
use glasshouse_audit::{AuditEvent, AuditLog, AuditReceipt, PurposePolicy};
use glasshouse_engine::Engine;
use glasshouse_ingest::DeadLetterStore;
use glasshouse_model::{DeviceRegistry, Observation};
use glasshouse_sinks::AlertLog;
use glasshouse_store::{Catalog, Store};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::oneshot;

/// What the WAL did with a submitted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Newly durable.
    pub appended: usize,
    /// Already stored (same id); durable from before.
    pub duplicates: usize,
}

/// Why an SQL query did not run.
#[derive(Debug)]
pub enum SqlFailure {
    /// Malformed, or names something that does not exist (400).
    Invalid(String),
    /// Not allowed: row-level output, a statement that changes state, a forbidden aggregate (403).
    Refused(String),
    /// The audit entry could not be written, so it did not run (503).
    Audit(String),
    /// Execution failed (500).
    Failed(String),
}

/// What an [`SqlService`] calls with the tables a checked query reads, before it runs it.
pub type BeforeRun<'a> = Box<dyn FnOnce(&[String]) -> Result<(), String> + Send + 'a>;

/// A future an [`SqlService`] returns.
pub type SqlFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<serde_json::Value, SqlFailure>> + Send + 'a>>;

/// Analysts' SQL, implemented by the binary over the SQL crate (DataFusion stays out of the server).
pub trait SqlService: Send + Sync {
    /// Plans and checks `sql`; calls `before_run` with the observation tables it reads (the audit
    /// entry goes there); then runs it and answers `{"columns", "rows", "truncated"}`.
    fn query<'a>(&'a self, sql: String, before_run: BeforeRun<'a>) -> SqlFuture<'a>;
}

/// The retention windows in force, and the file they are kept in (`DATA_DIR/retention.json`).
pub struct RetentionSettings {
    policy: RwLock<glasshouse_store::RetentionPolicy>,
    file: Option<std::path::PathBuf>,
}

impl RetentionSettings {
    /// Windows read from `file` (or the defaults), written back there when changed.
    pub fn new(policy: glasshouse_store::RetentionPolicy, file: Option<std::path::PathBuf>) -> RetentionSettings {
        RetentionSettings { policy: RwLock::new(policy), file }
    }

    /// The windows now.
    pub fn current(&self) -> glasshouse_store::RetentionPolicy {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates, writes the file durably (temporary file, fsync, rename), then takes effect.
    pub fn replace(&self, policy: glasshouse_store::RetentionPolicy) -> Result<(), String> {
        policy.validate()?;
        if let Some(file) = &self.file {
            let temporary = file.with_extension("json.next");
            let bytes = serde_json::to_vec_pretty(&policy).expect("policies serialise");
            let written = std::fs::File::create(&temporary).and_then(|mut f| {
                std::io::Write::write_all(&mut f, &bytes)?;
                f.sync_all()
            });
            written.and_then(|()| std::fs::rename(&temporary, file)).map_err(|e| format!("writing {}: {e}", file.display()))?;
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

/// Where alerts are shared outside, beyond the deployment's own sinks file: the sinks added by
/// approved two-person changes, kept in `DATA_DIR/sharing.json` (the sinks-file format, secrets
/// included, so mode 0600).
#[derive(Default)]
pub struct SharingSettings {
    approved: Mutex<Vec<serde_json::Value>>,
    file: Option<std::path::PathBuf>,
    /// Where each sink keeps its cursor and dead letters.
    pub outbox_dir: Option<std::path::PathBuf>,
    /// Sinks from the deployment's `--sinks` file: changed there, not through the API.
    pub deployment: Vec<String>,
}

impl SharingSettings {
    /// Approved sinks (entries of the sinks-file format) kept in `file`, plus the deployment's.
    pub fn new(
        approved: Vec<serde_json::Value>,
        file: Option<std::path::PathBuf>,
        outbox_dir: Option<std::path::PathBuf>,
        deployment: Vec<String>,
    ) -> SharingSettings {
        SharingSettings { approved: Mutex::new(approved), file, outbox_dir, deployment }
    }

    /// Reads approved sinks from `file` (none when it is missing): the entries as written, and
    /// their checked configuration.
    pub fn load(file: &std::path::Path) -> Result<(Vec<serde_json::Value>, glasshouse_sinks::delivery::SinksConfig), String> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(format!("reading {}: {e}", file.display())),
        };
        let config = glasshouse_sinks::delivery::SinksConfig::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok((value["sinks"].as_array().cloned().unwrap_or_default(), config))
    }

    /// The approved sinks now.
    pub fn approved(&self) -> Vec<serde_json::Value> {
        self.approved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the new approved set durably (mode 0600: it holds webhook secrets), then keeps it.
    pub fn replace(&self, entries: Vec<serde_json::Value>) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(file) = &self.file {
            let temporary = file.with_extension("json.next");
            let bytes = serde_json::to_vec_pretty(&serde_json::json!({ "sinks": entries })).expect("json serialises");
            let written =
                std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temporary).and_then(|mut f| {
                    std::io::Write::write_all(&mut f, &bytes)?;
                    f.sync_all()
                });
            written.and_then(|()| std::fs::rename(&temporary, file)).map_err(|e| format!("writing {}: {e}", file.display()))?;
        }
        *self.approved.lock().unwrap_or_else(|p| p.into_inner()) = entries;
        Ok(())
    }
}

/// Why a batch was not taken.
#[derive(Debug)]
pub enum SubmitError {
    /// The queue to the WAL is full: push back, retry shortly.
    Busy,
    /// The WAL has stopped (a write failed, or shutdown).
    Stopped,
}

/// The pipeline entrance: the binary implements it over the WAL's group committer.
pub trait IngestSink: Send + Sync {
    /// Queues validated observations. The receiver resolves once they are durable.
    fn submit(&self, observations: Vec<Observation>) -> Result<oneshot::Receiver<Result<IngestOutcome, String>>, SubmitError>;
}

/// Shared state of every handler.
pub struct AppState {
    /// Bearer tokens.
    pub tokens: TokenStore,
    /// TOTP enrolments and the sessions they open.
    pub second_factor: crate::second_factor::SecondFactor,
    /// Devices and hotlists, for changes (the lock serialises writers).
    pub catalog: Mutex<Catalog>,
    /// A snapshot of the registry for validation, replaced on every device change.
    pub devices: RwLock<Arc<DeviceRegistry>>,
    /// A snapshot of the rules, replaced on every hotlist change; the hot path reads it too.
    pub engine: Arc<RwLock<Arc<Engine>>>,
    /// The pipeline entrance.
    pub ingest: Arc<dyn IngestSink>,
    /// Refused records.
    pub dead_letters: DeadLetterStore,
    /// Stored alerts and their live feed.
    pub alerts: Arc<AlertLog>,
    /// Observations: segments and the hot window.
    pub store: Arc<Store>,
    /// The city's road network as GeoJSON, for the console's basemap.
    pub basemap: Option<Arc<Vec<u8>>>,
    /// An online MapLibre style URL the console draws the roads over; none keeps it offline.
    pub map_style: Option<String>,
    /// The Merkle audit log every privileged action goes into.
    pub audit: Arc<AuditLog>,
    /// What a historical search must state.
    pub policy: PurposePolicy,
    /// Supervisor approvals for broad searches.
    pub approvals: glasshouse_audit::approvals::ApprovalBook,
    /// Legal holds: records kept past retention for a case.
    pub holds: glasshouse_audit::holds::HoldBook,
    /// How long each kind is kept; changed only by an approved two-person change.
    pub retention: RetentionSettings,
    /// Two-person configuration changes (retention windows, sharing).
    pub changes: glasshouse_audit::changes::ChangeBook,
    /// Sinks added by approved sharing changes, and where they keep their outboxes.
    pub sharing: SharingSettings,
    /// Analysts' SQL; `None` where the binary did not wire it (503).
    pub sql: Option<Arc<dyn SqlService>>,
    /// Accounts whose first use of a token since start has been logged.
    pub logged_on: Mutex<std::collections::HashSet<String>>,
    /// Requests refused for a missing or invalid token since the last audit entry about them.
    pub failed_logons: std::sync::atomic::AtomicU64,
    /// Outbound alert sinks (webhooks, NATS, MQTT), each with its delivery thread. Emptied at
    /// shutdown, which stops the threads.
    pub sinks: Mutex<Vec<glasshouse_sinks::delivery::SinkWorker>>,
    /// The rules' counters as the hot path last published them.
    pub rule_metrics: Arc<Mutex<glasshouse_engine::metrics::RuleMetrics>>,
}

/// Why a presented token opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRefusal {
    /// Unknown, revoked, expired or malformed.
    Invalid,
    /// A valid account token whose account signs in with a second factor: it opens a session only.
    SecondFactorRequired,
}

impl AppState {
    /// The account behind a bearer token: an account token of an account without a second factor,
    /// or a live session token (whose role is read from its account token at every call, so role
    /// changes and revocations apply to open sessions at once).
    pub fn authenticate(&self, token: &str) -> Result<Account, AuthRefusal> {
        if token.starts_with(crate::second_factor::SESSION_PREFIX) {
            let parent = self.second_factor.session(token, chrono::Utc::now().timestamp()).ok_or(AuthRefusal::Invalid)?;
            return self.tokens.account_by_hash(&parent).ok_or(AuthRefusal::Invalid);
        }
        let account = self.tokens.authenticate(token).ok_or(AuthRefusal::Invalid)?;
        if self.second_factor.required(&account.name) {
            return Err(AuthRefusal::SecondFactorRequired);
        }
        Ok(account)
    }

    /// Writes pending identity events to the audit log: tokens created, roles changed and tokens
    /// revoked (by the CLI, which cannot reach the log while the server holds it), and the count of
    /// refused tokens since last time.
    /// Failed logons are aggregated, one entry per call, so a flood of bad tokens cannot flood the log.
    pub fn audit_identity_events(&self) {
        let system = Account { name: "glasshouse".into(), role: crate::auth::Role::Administrator };
        let drained = self.tokens.drain_unaudited(|t| {
            let details = serde_json::json!({ "account": t.account.name, "role": t.account.role.as_str(), "token_id": t.token_id, "created_at": t.created_at });
            self.audit(&system, "account.token_created", "ok", details).is_ok()
        });
        if let Err(e) = drained {
            tracing::warn!(error = %e, "could not read the token file for auditing");
        }
        let changed = self.tokens.drain_changes(|c| {
            let details = serde_json::json!({
                "account": c.account, "from_role": c.from_role.as_str(), "to_role": c.to_role.map(|r| r.as_str()),
                "tokens": c.tokens, "changed_at": c.at,
            });
            self.audit(&system, &format!("account.{}", c.change), "ok", details).is_ok()
        });
        if let Err(e) = changed {
            tracing::warn!(error = %e, "could not read the account changes for auditing");
        }
        let failed = self.failed_logons.swap(0, std::sync::atomic::Ordering::Relaxed);
        if failed > 0 && self.audit(&system, "account.logon_failed", "refused", serde_json::json!({ "requests": failed })).is_err() {
            self.failed_logons.fetch_add(failed, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Logs a privileged action durably. Callers act only with the receipt in hand: if the log cannot
    /// be written, the action does not happen (503).
    pub fn audit(&self, account: &Account, action: &str, outcome: &str, details: serde_json::Value) -> Result<AuditReceipt, ApiError> {
        let event = AuditEvent {
            actor: account.name.clone(),
            role: account.role.as_str().to_owned(),
            action: action.to_owned(),
            outcome: outcome.to_owned(),
            details,
        };
        self.audit.append(event).map_err(|e| {
            tracing::error!(error = %e, "audit log write failed; refusing the action");
            ApiError::busy("the audit log cannot be written, so the action was not performed", 30)
        })
    }

    /// The current device registry.
    pub fn devices(&self) -> Arc<DeviceRegistry> {
        self.devices.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes the catalog's current registry and hotlists to readers.
    pub fn publish_catalog(&self, catalog: &Catalog) {
        *self.devices.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog.devices.clone());
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog.engine());
    }
}
