//! What the handlers share, and the one seam to the ingest pipeline.

use crate::auth::{Account, TokenStore};
use crate::error::ApiError;
use glasshouse_app::{Action, App};
use glasshouse_audit::AuditReceipt;
use std::sync::{Arc, Mutex};

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

/// Shared state of every handler: the application's use cases, and what only the HTTP interface
/// needs (accounts and sessions, the console's map). Dereferences to the [`App`], so handlers read
/// `state.alerts`, `state.investigations()` and so on directly.
pub struct AppState {
    /// The use cases and the stores they share.
    pub app: Arc<App>,
    /// Bearer tokens.
    pub tokens: TokenStore,
    /// TOTP enrolments and the sessions they open.
    pub second_factor: crate::second_factor::SecondFactor,
    /// The city's road network as GeoJSON, for the console's basemap.
    pub basemap: Option<Arc<Vec<u8>>>,
    /// An online MapLibre style URL the console draws the roads over; none keeps it offline.
    pub map_style: Option<String>,
    /// Minutes without input after which the console locks itself and asks for the token again.
    pub console_idle_lock_minutes: f64,
    /// Analysts' SQL; `None` where the binary did not wire it (503).
    pub sql: Option<Arc<dyn SqlService>>,
    /// Accounts whose first use of a token since start has been logged.
    pub logged_on: Mutex<std::collections::HashSet<String>>,
    /// Requests refused for a missing or invalid token since the last audit entry about them.
    pub failed_logons: std::sync::atomic::AtomicU64,
    /// Failed logons by client address, and the closures they earn.
    pub throttle: crate::throttle::Throttle,
    /// Set when the server stops, so that live streams end.
    pub closing: Closing,
}

/// Tells the live alert streams that the server is stopping. A graceful shutdown waits for every
/// connection to end, and a console's stream never ends by itself: without this, a server with
/// one console open would ignore SIGTERM.
pub struct Closing(tokio::sync::watch::Sender<bool>);

impl Default for Closing {
    fn default() -> Self {
        Closing(tokio::sync::watch::Sender::new(false))
    }
}

impl Closing {
    /// Ends every stream, now and for those opened later.
    pub fn close(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once [`Closing::close`] has been called (at once if it has).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut closing = self.0.subscribe();
        async move {
            // An error means the sender is gone, which also means the server is stopping.
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
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
    /// revoked, backups taken (by the CLI, which cannot reach the log while the server holds it), and
    /// the count of refused tokens since last time.
    /// Failed logons are aggregated, one entry per call, so a flood of bad tokens cannot flood the log.
    pub fn audit_identity_events(&self) {
        // Token and role changes were made by the CLI on the host; refused requests came over HTTP,
        // and are counted without their addresses.
        let cli = glasshouse_app::Actor::new("glasshouse", "administrator").via(glasshouse_app::Component::Cli, None);
        let http = glasshouse_app::Actor::new("glasshouse", "administrator").via(glasshouse_app::Component::Http, None);
        let drained = self.tokens.drain_unaudited(|t| {
            let details = serde_json::json!({ "account": t.account.name, "role": t.account.role.as_str(), "token_id": t.token_id, "created_at": t.created_at });
            self.app.record(&cli, Action::AccountTokenCreated, "ok", details).is_ok()
        });
        if let Err(e) = drained {
            tracing::warn!(error = %e, "could not read the token file for auditing");
        }
        let changed = self.tokens.drain_changes(|c| {
            let details = serde_json::json!({
                "account": c.account, "from_role": c.from_role.as_str(), "to_role": c.to_role.map(|r| r.as_str()),
                "tokens": c.tokens, "changed_at": c.at,
            });
            match account_action(&c.change) {
                Some(action) => self.app.record(&cli, action, "ok", details).is_ok(),
                None => {
                    tracing::warn!(change = %c.change, "an account change of a kind this server does not know; left for a newer one");
                    false
                }
            }
        });
        if let Err(e) = changed {
            tracing::warn!(error = %e, "could not read the account changes for auditing");
        }
        self.audit_host_commands();
        let failed = self.failed_logons.swap(0, std::sync::atomic::Ordering::Relaxed);
        let throttled = self.throttle.take_counts();
        if failed > 0 || throttled != crate::throttle::ThrottleCounts::default() {
            // Counts only: no address, no token.
            let details = serde_json::json!({
                "requests": failed,
                "addresses_closed": throttled.closures,
                "addresses_locked_out": throttled.lockouts,
                "refused_while_closed": throttled.refused,
            });
            if self.app.record(&http, Action::AccountLogonFailed, "refused", details).is_err() {
                self.failed_logons.fetch_add(failed, std::sync::atomic::Ordering::Relaxed);
                self.throttle.restore_counts(throttled);
            }
        }
    }

    /// Logs what commands run on the host left for the log (`glasshouse backup`), as the host login
    /// that ran them.
    fn audit_host_commands(&self) {
        let Some(data_dir) = self.tokens.data_dir() else { return };
        let drained = glasshouse_audit::pending::drain(data_dir, |entry| match entry.action() {
            Some(action @ Action::DataBackedUp) => {
                let actor = glasshouse_app::Actor::new(entry.actor.clone(), entry.role.clone()).via(glasshouse_app::Component::Cli, None);
                let mut details = entry.details.clone();
                details["at"] = serde_json::Value::String(entry.at.clone());
                self.app.record(&actor, action, &entry.outcome, details).is_ok()
            }
            _ => {
                tracing::warn!(action = %entry.action, "a host command's entry of a kind this server does not log; left for a newer one");
                false
            }
        });
        if let Err(e) = drained {
            tracing::warn!(error = %e, "could not read the host commands' entries for auditing");
        }
    }

    /// Who has access, for the transparency report: every account with a live token, its role, and
    /// whether it signs in with a second factor.
    pub fn access(&self) -> std::io::Result<glasshouse_app::reports::Access> {
        let enrolled = self.second_factor.enrolled_accounts();
        let accounts = self
            .tokens
            .accounts()?
            .into_iter()
            .map(|(account, _)| {
                let second_factor = enrolled.contains(&account.name);
                (account.name, account.role.as_str().to_owned(), second_factor)
            })
            .collect();
        Ok(glasshouse_app::reports::Access { accounts })
    }

    /// Logs a privileged action durably (see [`App::record`]), answering 503 when it cannot be.
    pub fn audit(&self, account: &Account, action: Action, outcome: &str, details: serde_json::Value) -> Result<AuditReceipt, ApiError> {
        self.app.record(&account.actor(), action, outcome, details).map_err(ApiError::from)
    }
}

/// The audit action of an account change the CLI recorded (`role_changed`, `revoked`,
/// `second_factor_enrolled`).
fn account_action(change: &str) -> Option<Action> {
    Some(match change {
        "role_changed" => Action::AccountRoleChanged,
        "revoked" => Action::AccountRevoked,
        "second_factor_enrolled" => Action::AccountSecondFactorEnrolled,
        _ => return None,
    })
}
