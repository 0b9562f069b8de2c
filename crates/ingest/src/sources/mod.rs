//! Sources other than our own NDJSON: vendor webhooks, SensorThings gateways, and published CSV
//! exports.

pub mod openalpr;
pub mod sensorthings;
pub mod toronto;
