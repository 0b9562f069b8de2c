//! Sources other than our own NDJSON: vendor webhooks, and published CSV exports.

pub mod openalpr;
pub mod toronto;
