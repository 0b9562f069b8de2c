//! SQL over the segments, for analysts: DataFusion tables that prune by the manifest, a policy that
//! allows only read-only aggregate queries over tables without plate columns (a keyed hash that can
//! only be counted stands in for the plate), and (in `pg`) the same
//! session over the Postgres wire protocol.
//!
//! The heavy dependencies (DataFusion, pgwire) live in this crate only; the server reaches it through
//! a trait the binary implements, so the rest of the workspace builds and tests without them.

pub mod engine;
pub mod pg;
pub mod plate_key;
pub mod policy;
pub mod tables;
pub mod utc_trunc;

pub use engine::{Answer, Checked, SqlEngine, SqlError};
