//! The server's SQL service over the SQL crate's DataFusion engine.

use glasshouse_server::{BeforeRun, SqlFailure, SqlFuture, SqlService};
use glasshouse_sql::{SqlEngine, SqlError};
use std::sync::Arc;

/// [`SqlService`] over one shared [`SqlEngine`].
pub struct DataFusionSql(pub Arc<SqlEngine>);

impl SqlService for DataFusionSql {
    fn query<'a>(&'a self, sql: String, before_run: BeforeRun<'a>) -> SqlFuture<'a> {
        Box::pin(async move {
            let answer = self.0.query(&sql, |checked| before_run(&checked.tables)).await.map_err(|e| match e {
                SqlError::Invalid(m) => SqlFailure::Invalid(m),
                SqlError::Refused(m) => SqlFailure::Refused(m),
                SqlError::Audit(m) => SqlFailure::Audit(m),
                SqlError::Failed(m) => SqlFailure::Failed(m),
            })?;
            Ok(answer.to_json())
        })
    }
}
