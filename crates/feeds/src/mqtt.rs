//! An MQTT subscription as a source (`serve --mqtt HOST:PORT`).
//!
//! Messages are taken at QoS 1 with manual acknowledgements: the PUBACK for a message is sent only
//! after its records are durable in the WAL (or, for a bad payload, in the dead-letter store). The
//! session is persistent (clean session off, a stable client id), so messages published while
//! Glasshouse is down, or that it received but had not acknowledged when it stopped, are delivered
//! again; their ids make the second delivery a duplicate rather than a second record.

use crate::{Handled, MESSAGE_BYTES_MAX};
use glasshouse_app::App;
use glasshouse_ingest::sources::sensorthings::Datastreams;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How many messages the feed holds unacknowledged at once, waiting for durability.
const REQUEST_CAPACITY: usize = 256;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Where to subscribe and how to read what arrives.
#[derive(Debug, Clone)]
pub struct MqttFeed {
    /// The broker's host.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// Topic filters subscribed at QoS 1 (`+` and `#` allowed).
    pub topics: Vec<String>,
    /// The client id; stable across restarts, since the broker keeps the session under it.
    pub client_id: String,
    /// The SensorThings datastream table, for `…/Datastreams(<id>)/Observations` topics.
    pub datastreams: Arc<Datastreams>,
}

impl MqttFeed {
    /// A feed from `HOST:PORT`, as given on the command line.
    pub fn parse_address(address: &str) -> Result<(String, u16), String> {
        let (host, port) = address.rsplit_once(':').ok_or_else(|| format!("--mqtt {address:?}: expected HOST:PORT"))?;
        let port = port.parse().map_err(|_| format!("--mqtt {address:?}: {port:?} is not a port"))?;
        Ok((host.to_owned(), port))
    }
}

/// Subscribes and takes messages until the task is dropped. Connection failures are retried with
/// a growing pause; nothing unacknowledged is lost meanwhile, because the broker keeps it.
pub async fn run(app: Arc<App>, feed: MqttFeed) {
    let mut options = MqttOptions::new(feed.client_id.clone(), feed.host.clone(), feed.port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MESSAGE_BYTES_MAX + 1024, 64 * 1024);
    let (client, mut events) = AsyncClient::new(options, REQUEST_CAPACITY);
    let mut pause = Duration::from_millis(200);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(broker = %format!("{}:{}", feed.host, feed.port), session_present = ack.session_present, "mqtt feed connected");
                pause = Duration::from_millis(200);
                // Subscribing again is harmless when the broker kept the session, and needed when not.
                for topic in &feed.topics {
                    if let Err(e) = client.subscribe(topic.clone(), QoS::AtLeastOnce).await {
                        warn!(topic, error = %e, "mqtt subscribe failed");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(message))) => {
                tokio::spawn(take(app.clone(), client.clone(), feed.datastreams.clone(), message));
            }
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "mqtt feed disconnected");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECONNECT_MAX);
            }
        }
    }
}

/// Takes one message and acknowledges it once its records are durable (or dead-lettered). One that
/// could not be taken is left unacknowledged, so the broker delivers it again.
async fn take(app: Arc<App>, client: AsyncClient, datastreams: Arc<Datastreams>, message: Publish) {
    match crate::take(&app, "mqtt", &message.topic, &message.payload, &datastreams).await {
        Handled::Durable | Handled::DeadLettered => {
            if let Err(e) = client.ack(&message).await {
                warn!(topic = message.topic, error = %e, "mqtt acknowledgement not sent; the broker will deliver the message again");
            }
        }
        Handled::Retry(e) => warn!(topic = message.topic, error = %e.message, "mqtt message not taken; left for redelivery"),
    }
}
