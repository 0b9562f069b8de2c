//! At-least-once delivery of raised alerts to outside systems: signed webhooks, NATS subjects and MQTT
//! topics.
//!
//! The outbox is the alert log itself: it is durable and replays in the order alerts were raised, so
//! each sink keeps only a cursor (the position of the next alert to deliver) beside its dead letters.
//! A worker thread per sink delivers in order, retries with exponential backoff while the far end is
//! down, and moves an alert to the dead-letter file only when the far end refuses it outright (a 4xx)
//! or it has failed for longer than `give_up_after_s`. The cursor advances after a delivery is
//! acknowledged, so a crash redelivers at most the alert in flight; receivers deduplicate by the
//! idempotency key (the alert id), which every sink sends.

mod config;
mod metrics;
mod mqtt;
mod nats;
mod webhook;
mod worker;

pub use config::{RetryPolicy, SinkConfig, SinkKind, SinksConfig};
pub use metrics::{SinkMetrics, SinkStatus};
pub use webhook::signature as webhook_signature;
pub use worker::{DeadLetter, SinkWorker};

use glasshouse_engine::Alert;

/// One alert as it goes out: the body every sink sends, and the key receivers deduplicate by.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The alert's position in the log.
    pub position: usize,
    /// The alert id: the same alert delivered twice carries the same key.
    pub idempotency_key: String,
    /// The rule that raised it (sinks route by it: `<subject>.<rule>`).
    pub rule: String,
    /// `{"type": "alert.raised", "alert": {...}}` as JSON.
    pub body: Vec<u8>,
}

impl Envelope {
    /// The envelope for `alert` at `position`.
    pub fn new(position: usize, alert: &Alert) -> Envelope {
        let body = serde_json::to_vec(&serde_json::json!({ "type": "alert.raised", "alert": alert })).expect("alerts serialise");
        Envelope { position, idempotency_key: alert.id.clone(), rule: alert.rule.clone(), body }
    }
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth retrying: the far end is down, slow or overloaded.
    Transient(String),
    /// Not worth retrying: the far end refused this alert.
    Permanent(String),
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::Transient(reason) => write!(f, "transient: {reason}"),
            DeliveryError::Permanent(reason) => write!(f, "refused: {reason}"),
        }
    }
}

/// Something that takes one envelope at a time and says when the far end has it.
pub trait Destination: Send {
    /// Delivers `envelope`, blocking until the far end acknowledges it or the attempt fails.
    fn deliver(&mut self, envelope: &Envelope) -> Result<(), DeliveryError>;
}

/// Builds the destination a sink's configuration names.
pub fn destination(config: &SinkConfig) -> Result<Box<dyn Destination>, String> {
    Ok(match &config.kind {
        SinkKind::Webhook { url, secret, ca_pem } => Box::new(webhook::Webhook::new(url, secret, ca_pem.as_deref())?),
        SinkKind::Nats { url, subject, jetstream } => Box::new(nats::Nats::new(&config.name, url, subject, *jetstream)?),
        SinkKind::Mqtt { host, port, topic } => Box::new(mqtt::Mqtt::new(&config.name, host, *port, topic)?),
    })
}
