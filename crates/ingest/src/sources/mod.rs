//! Sources other than our own NDJSON: vendor webhooks, SensorThings gateways, device registries in
//! bulk, and published CSV exports.

pub mod devices;
pub mod openalpr;
pub mod sensorthings;
pub mod sharpv;
pub mod toronto;
