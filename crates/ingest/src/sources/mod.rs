//! Sources other than the HTTP body: files of NDJSON, and published CSV exports.

pub mod toronto;
