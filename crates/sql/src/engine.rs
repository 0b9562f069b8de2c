//! The SQL engine: a DataFusion session over the segment tables, read-only, aggregate-only. A query
//! is planned and checked first; the caller's `before_run` (the audit entry) runs next, and only then
//! does any row get read.

use crate::plate_key::PlateKey;
use crate::policy;
use crate::tables::{SegmentTable, table_name};
use crate::utc_trunc::UtcDateTrunc;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::logical_expr::ScalarUDF;
use glasshouse_model::Kind;
use glasshouse_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most rows a query may return.
pub const SQL_ROWS_MAX: usize = 100_000;

/// Why a query did not run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The query is malformed or names something that does not exist.
    #[error("{0}")]
    Invalid(String),
    /// The query is well-formed but not allowed (row-level output, DDL, a forbidden aggregate).
    #[error("{0}")]
    Refused(String),
    /// The audit entry could not be written, so the query did not run.
    #[error("audit: {0}")]
    Audit(String),
    /// Execution failed.
    #[error("{0}")]
    Failed(String),
}

/// A planned, checked query, as the audit entry describes it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Observation tables it reads.
    pub tables: Vec<String>,
}

/// The answer: column names and rows of JSON values.
#[derive(Debug)]
pub struct Answer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
}

/// The shared session.
pub struct SqlEngine {
    context: Arc<SessionContext>,
}

impl SqlEngine {
    /// A session with one table per kind over `store`.
    pub fn new(store: Arc<Store>) -> SqlEngine {
        let config = SessionConfig::new().with_information_schema(true);
        let context = SessionContext::new_with_config(config);
        // Replaces the built-in `date_trunc` (same name, aliases and results) with one that buckets
        // UTC hours and days by division; see `utc_trunc`.
        context.register_udf(ScalarUDF::new_from_impl(UtcDateTrunc::new()));
        let plate_key = PlateKey::new();
        for kind in Kind::ALL {
            context
                .register_table(table_name(kind), Arc::new(SegmentTable::new(kind, store.clone(), &plate_key)))
                .expect("table names are distinct and valid");
        }
        SqlEngine { context: Arc::new(context) }
    }

    /// The session, shared with the Postgres wire protocol.
    pub fn shared_context(&self) -> Arc<SessionContext> {
        self.context.clone()
    }

    /// Plans and checks `sql`, calls `before_run`, then runs it.
    pub async fn query(&self, sql: &str, before_run: impl FnOnce(&Checked) -> Result<(), String>) -> Result<Answer, SqlError> {
        let batches = self.run(sql, before_run).await?;
        Ok(to_answer(&batches))
    }

    /// As [`SqlEngine::query`], returning Arrow batches.
    pub async fn run(&self, sql: &str, before_run: impl FnOnce(&Checked) -> Result<(), String>) -> Result<Vec<RecordBatch>, SqlError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let frame = self.context.sql_with_options(sql, options).await.map_err(|e| SqlError::Invalid(e.to_string()))?;
        let optimized = self.context.state().optimize(frame.logical_plan()).map_err(|e| SqlError::Invalid(e.to_string()))?;
        let tables = policy::check(frame.logical_plan(), &optimized).map_err(SqlError::Refused)?;
        before_run(&Checked { tables }).map_err(SqlError::Audit)?;
        let frame = frame.limit(0, Some(SQL_ROWS_MAX + 1)).map_err(|e| SqlError::Failed(e.to_string()))?;
        frame.collect().await.map_err(|e| SqlError::Failed(e.to_string()))
    }
}

fn cell(array: &dyn Array, formatter: &ArrayFormatter<'_>, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let text = formatter.value(row).to_string();
    match array.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            text.parse::<i64>().map(Value::from).or_else(|_| text.parse::<u64>().map(Value::from)).unwrap_or(Value::String(text))
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            text.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)).unwrap_or(Value::String(text))
        }
        DataType::Boolean => Value::Bool(text == "true"),
        _ => Value::String(text),
    }
}

/// Batches as JSON rows, capped at [`SQL_ROWS_MAX`].
pub fn to_answer(batches: &[RecordBatch]) -> Answer {
    let columns = batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    let mut truncated = false;
    'batches: for batch in batches {
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("every arrow type can be displayed"))
            .collect();
        for row in 0..batch.num_rows() {
            if rows.len() == SQL_ROWS_MAX {
                truncated = true;
                break 'batches;
            }
            rows.push(batch.columns().iter().zip(&formatters).map(|(c, f)| cell(c.as_ref(), f, row)).collect());
        }
    }
    Answer { columns, rows, truncated }
}

impl Answer {
    /// `{"columns": [...], "rows": [[...]], "truncated": bool}`.
    pub fn to_json(&self) -> Value {
        json!({ "columns": self.columns, "rows": self.rows, "truncated": self.truncated })
    }
}
