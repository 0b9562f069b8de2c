//! Feeds that Glasshouse pulls from rather than being posted to: an MQTT subscription, a JetStream
//! consumer and a spool folder of vendor exports. Each
//! feed only receives, hands the bytes to the application layer's one ingest path, and tells the
//! upstream a message is handled only once its records are durable (or dead-lettered), so a crash
//! of either side loses nothing that was acknowledged.
#![deny(missing_docs)]

pub mod mqtt;
pub mod nats;
pub mod spool;
