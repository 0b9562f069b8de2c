//! The Postgres wire protocol over the same session, so `psql` and Grafana work unchanged.
//!
//! `datafusion-postgres` supplies the protocol handling and the `pg_catalog` emulation; this module
//! supplies what it leaves to us:
//! - **authentication**: the password is a Glasshouse token (checked by the caller's `authenticate`,
//!   which admits analysts only); its default handler accepts anyone. The token is asked for as a
//!   cleartext password, so it is asked for only over TLS or from loopback: a client elsewhere on a
//!   plain connection is refused before it can send one;
//! - **the query guard**: a hook that runs before every other, lets through only `SELECT`s that pass
//!   the aggregate-only policy (plus harmless `SET`/`SHOW` and transaction statements that clients
//!   send on their own), and logs each query through the caller's `audit` before it runs. DDL, DML,
//!   `COPY`, `CREATE EXTERNAL TABLE` (which would read any file) and the rest are refused.

use crate::engine::SqlEngine;
use crate::policy;
use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::{
    ClientInfo, PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use std::fmt::Debug;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Where the connection's Glasshouse account is kept in the client's metadata.
const ACCOUNT: &str = "glasshouse.account";

/// `SET` parameters clients send on connect; anything else would change the shared session.
const SETTABLE: [&str; 8] = [
    "application_name",
    "client_encoding",
    "datestyle",
    "extra_float_digits",
    "search_path",
    "statement_timeout",
    "timezone",
    "intervalstyle",
];

/// Token check: `Ok(account name)` for an analyst's token.
pub type Authenticate = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;
/// Query log: `(account, sql, tables read)`; an `Err` stops the query.
pub type Audit = Arc<dyn Fn(&str, &str, &[String]) -> Result<(), String> + Send + Sync>;

fn refuse(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// The first hook: the policy, then the audit entry.
struct Guard {
    context: Arc<SessionContext>,
    audit: Audit,
}

impl Guard {
    /// `Ok(None)` to let the statement through; `Ok(Some(tables))` for a checked query.
    async fn check(&self, statement: &Statement) -> PgWireResult<Option<Vec<String>>> {
        match statement {
            Statement::Query(_) => {
                let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
                let frame =
                    self.context.sql_with_options(&statement.to_string(), options).await.map_err(|e| refuse("42601", e.to_string()))?;
                let optimized = self.context.state().optimize(frame.logical_plan()).map_err(|e| refuse("42601", e.to_string()))?;
                policy::check(frame.logical_plan(), &optimized).map(Some).map_err(|reason| refuse("42501", reason))
            }
            Statement::Set(set) => {
                let text = set.to_string().to_lowercase();
                if SETTABLE.iter().any(|name| text.contains(name)) {
                    Ok(None)
                } else {
                    Err(refuse("42501", "only client settings may be SET here"))
                }
            }
            Statement::ShowVariable { .. } | Statement::StartTransaction { .. } | Statement::Commit { .. } | Statement::Rollback { .. } => {
                Ok(None)
            }
            _ => Err(refuse("42501", "read-only: only SELECT queries (aggregates over the observation tables) are allowed")),
        }
    }

    /// Before execution: `None` lets the statement run (a checked query once logged); `Some(Err)`
    /// refuses it.
    async fn check_and_log(&self, statement: &Statement, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        match self.check(statement).await {
            Ok(Some(tables)) => self.log(client, statement, &tables).err().map(Err),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn log(&self, client: &(dyn ClientInfo + Send + Sync), statement: &Statement, tables: &[String]) -> PgWireResult<()> {
        let account = client.metadata().get(ACCOUNT).cloned().ok_or_else(|| refuse("28000", "not authenticated"))?;
        let sql = statement.to_string();
        tokio::task::block_in_place(|| (self.audit)(&account, &sql, tables))
            .map_err(|e| refuse("58000", format!("the audit log cannot be written, so the query did not run: {e}")))
    }
}

#[async_trait]
impl QueryHook for Guard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check_and_log(statement, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _: &SessionContext,
        _: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        self.check(statement).await.err().map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _: &LogicalPlan,
        _: &ParamValues,
        _: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check_and_log(statement, client).await
    }
}

/// Whether a token may be asked for as a cleartext password on this connection: over TLS, or from
/// this machine.
fn cleartext_allowed(secure: bool, peer: std::net::IpAddr) -> bool {
    secure || peer.is_loopback()
}

/// Cleartext password authentication where the password is a token.
struct TokenStartup {
    authenticate: Authenticate,
    pids: RandomPidSecretKeyGenerator,
}

#[async_trait]
impl StartupHandler for TokenStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if !cleartext_allowed(client.is_secure(), client.socket_addr().ip()) {
                    return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "FATAL".into(),
                        "28000".into(),
                        "the password is a token, taken only over TLS from beyond this machine: connect with sslmode=require or verify-full".into(),
                    ))));
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword)).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                match (self.authenticate)(&password.password) {
                    Ok(account) => {
                        client.metadata_mut().insert(ACCOUNT.into(), account);
                        let (pid, secret) = self.pids.generate(client);
                        client.set_pid_and_secret_key(pid, secret);
                        finish_authentication(client, &DefaultServerParameterProvider::default()).await?;
                    }
                    Err(_) => {
                        let user = client.metadata().get("user").cloned().unwrap_or_default();
                        return Err(PgWireError::InvalidPassword(user));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

struct Handlers {
    session: Arc<DfSessionService>,
    startup: Arc<TokenStartup>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::query::SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::query::ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The TLS acceptor the listener takes (`tokio_rustls`'s, through pgwire).
pub type TlsAcceptor = datafusion_postgres::pgwire::tokio::TlsAcceptor;

/// Serves the engine's session on `listener` until the task is dropped; with `tls`, clients that
/// ask for it (`sslmode=require` or `verify-full`) get TLS.
pub async fn serve(
    listener: TcpListener,
    engine: &SqlEngine,
    authenticate: Authenticate,
    audit: Audit,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let context = engine.shared_context();
    setup_pg_catalog(&context, "datafusion", Arc::new(AuthManager::default())).map_err(std::io::Error::other)?;
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(Guard { context: context.clone(), audit }),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let handlers = Arc::new(Handlers {
        session: Arc::new(DfSessionService::new_with_hooks(context, hooks)),
        startup: Arc::new(TokenStartup { authenticate, pids: RandomPidSecretKeyGenerator::default() }),
    });
    loop {
        let (socket, peer) = listener.accept().await?;
        let (handlers, tls) = (handlers.clone(), tls.clone());
        tokio::spawn(async move {
            if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, tls, handlers).await {
                tracing::warn!(error = %e, %peer, "postgres connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::cleartext_allowed;
    use std::net::IpAddr;

    #[test]
    fn a_token_is_asked_for_in_the_clear_only_from_this_machine() {
        let (loopback, loopback6, elsewhere) =
            (IpAddr::from([127, 0, 0, 1]), IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), IpAddr::from([192, 0, 2, 2]));
        assert!(cleartext_allowed(false, loopback) && cleartext_allowed(false, loopback6));
        assert!(!cleartext_allowed(false, elsewhere), "a plain connection from elsewhere is refused");
        assert!(cleartext_allowed(true, elsewhere), "over TLS the token is safe in the password");
    }
}
