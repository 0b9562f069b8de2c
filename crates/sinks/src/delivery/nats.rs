//! NATS: each alert is published to `<subject>.<rule>` with the alert id in the `Nats-Msg-Id` header.
//!
//! With `jetstream: true` the publish waits for the stream's acknowledgement, and JetStream's own
//! duplicate window drops a redelivered alert by that header; without it, a core publish is
//! confirmed by a flush round trip to the server (the server has it; subscribers may not).

use super::{DeliveryError, Destination, Envelope};
use std::time::Duration;

/// The longest one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Nats {
    runtime: tokio::runtime::Runtime,
    url: String,
    subject: String,
    jetstream: bool,
    name: String,
    client: Option<async_nats::Client>,
}

impl Nats {
    pub(super) fn new(sink: &str, url: &str, subject: &str, jetstream: bool) -> Result<Nats, String> {
        if subject.is_empty() || subject.contains(['*', '>', ' ']) {
            return Err(format!("nats subject {subject:?} must be a plain subject prefix (no wildcards or spaces)"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        Ok(Nats { runtime, url: url.to_owned(), subject: subject.to_owned(), jetstream, name: format!("glasshouse-{sink}"), client: None })
    }
}

impl Destination for Nats {
    fn deliver(&mut self, envelope: &Envelope) -> Result<(), DeliveryError> {
        let subject = format!("{}.{}", self.subject, envelope.rule);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.idempotency_key.as_str());
        headers.insert("Idempotency-Key", envelope.idempotency_key.as_str());
        let payload = envelope.body.clone();
        let (url, name, jetstream) = (self.url.clone(), self.name.clone(), self.jetstream);
        let existing = self.client.clone();
        let result = self.runtime.block_on(async move {
            tokio::time::timeout(ATTEMPT_TIMEOUT, async move {
                let client = match existing {
                    Some(client) => client,
                    None => async_nats::ConnectOptions::new()
                        .name(name)
                        .connection_timeout(ATTEMPT_TIMEOUT)
                        .connect(url.as_str())
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                };
                if jetstream {
                    let context = async_nats::jetstream::new(client.clone());
                    let ack = context.publish_with_headers(subject, headers, payload.into()).await.map_err(|e| format!("publish: {e}"))?;
                    ack.await.map_err(|e| format!("stream acknowledgement: {e}"))?;
                } else {
                    client.publish_with_headers(subject, headers, payload.into()).await.map_err(|e| format!("publish: {e}"))?;
                    client.flush().await.map_err(|e| format!("flush: {e}"))?;
                }
                Ok::<_, String>(client)
            })
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
        });
        match result {
            Ok(client) => {
                self.client = Some(client);
                Ok(())
            }
            Err(reason) => {
                // Reconnect from scratch next time rather than queue behind a dead connection.
                self.client = None;
                Err(DeliveryError::Transient(reason))
            }
        }
    }
}
