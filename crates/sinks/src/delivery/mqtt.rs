//! MQTT: each alert is published to `<topic>/<rule>` at QoS 1 and counts as delivered when the broker
//! acknowledges it (PUBACK). MQTT 3.1.1 has no message headers, so receivers deduplicate by the
//! alert id inside the body.

use super::{DeliveryError, Destination, Envelope};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::time::{Duration, Instant};

/// The longest one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const KEEP_ALIVE: Duration = Duration::from_secs(60);
/// The event loop is only polled while delivering, so keep-alives lapse in quiet times: a connection
/// idle longer than this is replaced before use rather than found dead mid-attempt.
const IDLE_RECONNECT: Duration = Duration::from_secs(30);

pub(super) struct Mqtt {
    runtime: tokio::runtime::Runtime,
    options: MqttOptions,
    topic: String,
    connection: Option<(AsyncClient, EventLoop, Instant)>,
}

impl Mqtt {
    pub(super) fn new(sink: &str, host: &str, port: u16, topic: &str) -> Result<Mqtt, String> {
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(format!("mqtt topic {topic:?} must be a plain topic prefix (no wildcards)"));
        }
        let mut options = MqttOptions::new(format!("glasshouse-{sink}"), host, port);
        options.set_keep_alive(KEEP_ALIVE);
        options.set_clean_session(true);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        Ok(Mqtt { runtime, options, topic: topic.trim_end_matches('/').to_owned(), connection: None })
    }
}

impl Destination for Mqtt {
    fn deliver(&mut self, envelope: &Envelope) -> Result<(), DeliveryError> {
        let topic = format!("{}/{}", self.topic, envelope.rule);
        let connection = match self.connection.take() {
            Some((client, events, last)) if last.elapsed() < IDLE_RECONNECT => (client, events),
            _ => {
                // A new client's event loop must be created inside the runtime that polls it.
                let _guard = self.runtime.enter();
                AsyncClient::new(self.options.clone(), 16)
            }
        };
        let (client, mut events) = connection;
        let payload = envelope.body.clone();
        let result = self.runtime.block_on(async {
            tokio::time::timeout(ATTEMPT_TIMEOUT, async {
                client.publish(topic, QoS::AtLeastOnce, false, payload).await.map_err(|e| format!("publish: {e}"))?;
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                        Ok(_) => continue,
                        Err(e) => return Err(format!("connection: {e}")),
                    }
                }
            })
            .await
            .unwrap_or_else(|_| Err("timed out waiting for PUBACK".into()))
        });
        match result {
            Ok(()) => {
                self.connection = Some((client, events, Instant::now()));
                Ok(())
            }
            // The connection is dropped: the next attempt starts clean.
            Err(reason) => Err(DeliveryError::Transient(reason)),
        }
    }
}
