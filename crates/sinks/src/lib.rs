//! Where alerts go once a rule has raised them.
//!
//! Today: the durable [`alert_log::AlertLog`] (every alert survives a restart, deduplicated by its
//! deterministic id) and a live fan-out that the console's SSE stream subscribes to. The fan-out is a
//! bounded broadcast: a slow subscriber misses alerts (and is told how many) rather than holding back
//! the hot path; it can always re-read the log. [`delivery`] takes alerts to outside systems
//! (signed webhooks, NATS, MQTT) at least once, from per-sink cursors over the same log.
#![deny(missing_docs)]

pub mod alert_log;
pub mod cap;
pub mod delivery;

pub use alert_log::{AlertLog, AlertLogError};
