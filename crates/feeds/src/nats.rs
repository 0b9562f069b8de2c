//! A NATS JetStream stream as a source (`serve --nats nats://HOST:PORT`).
//!
//! A durable pull consumer reads the configured subjects with explicit acknowledgements; a message
//! is acknowledged only once its records are durable in the WAL (or, for a bad payload, in the
//! dead-letter store). A message not acknowledged in time is delivered again by JetStream, and the
//! observation ids make that a duplicate rather than a second record. The stream is created with the
//! subjects when it does not exist yet; an existing stream is used as the city configured it.
//!
//! `Nats-Msg-Id` is honoured: JetStream drops a re-publish within its duplicate window, and a record
//! without an `id` of its own takes the message id (`<msg-id>` for a one-line message,
//! `<msg-id>:<line>` otherwise), so a re-publish after the window is still one record.

use crate::Handled;
use async_nats::jetstream::{self, AckKind, consumer::AckPolicy};
use futures_util::StreamExt;
use glasshouse_app::App;
use glasshouse_ingest::sources::sensorthings::Datastreams;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Messages handed out and not yet acknowledged, at most: the feed's window of work in flight.
const ACK_PENDING_MAX: i64 = 1_000;
/// How long JetStream waits for an acknowledgement before delivering again: well past a group
/// commit under load.
const ACK_WAIT: Duration = Duration::from_secs(30);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Which stream and subjects to read.
#[derive(Debug, Clone)]
pub struct NatsFeed {
    /// The server, `nats://HOST:PORT`.
    pub url: String,
    /// The stream's name.
    pub stream: String,
    /// The subjects read (wildcards allowed); the stream is created with them if it is missing. With
    /// more than one, the consumer reads the whole stream (NATS 2.9 filters a consumer by one subject).
    pub subjects: Vec<String>,
    /// The durable consumer's name; stable across restarts, since JetStream keeps its position.
    pub consumer: String,
    /// The SensorThings datastream table (for subjects that carry MQTT-style topics, rarely used).
    pub datastreams: Arc<Datastreams>,
}

/// Consumes until the task is dropped, reconnecting with a growing pause.
pub async fn run(app: Arc<App>, feed: NatsFeed) {
    let mut pause = Duration::from_millis(200);
    loop {
        match consume(&app, &feed).await {
            Ok(()) => warn!(stream = feed.stream, "jetstream feed ended; starting again"),
            Err(e) => warn!(stream = feed.stream, error = %e, retry_in_ms = pause.as_millis() as u64, "jetstream feed failed"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

async fn consume(app: &Arc<App>, feed: &NatsFeed) -> Result<(), String> {
    let client = async_nats::connect(&feed.url).await.map_err(|e| format!("connecting to {}: {e}", feed.url))?;
    let context = jetstream::new(client);
    let stream = context
        .get_or_create_stream(jetstream::stream::Config {
            name: feed.stream.clone(),
            subjects: feed.subjects.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("stream {}: {e}", feed.stream))?;
    let config = jetstream::consumer::pull::Config {
        durable_name: Some(feed.consumer.clone()),
        // One filter per consumer on NATS 2.9; with several subjects the consumer reads the stream.
        filter_subject: if feed.subjects.len() == 1 { feed.subjects[0].clone() } else { String::new() },
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: ACK_PENDING_MAX,
        ..Default::default()
    };
    let consumer = stream.get_or_create_consumer(&feed.consumer, config).await.map_err(|e| format!("consumer {}: {e}", feed.consumer))?;
    let mut messages = consumer.messages().await.map_err(|e| format!("consumer {}: {e}", feed.consumer))?;
    info!(url = feed.url, stream = feed.stream, consumer = feed.consumer, "jetstream feed consuming");
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| format!("receiving: {e}"))?;
        tokio::spawn(take(app.clone(), feed.datastreams.clone(), message));
    }
    Ok(())
}

/// Takes one message and acknowledges it once its records are durable (or dead-lettered); one that
/// could not be taken is told to come back shortly.
async fn take(app: Arc<App>, datastreams: Arc<Datastreams>, message: jetstream::Message) {
    let subject = message.subject.to_string();
    let message_id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_owned());
    let payload = match &message_id {
        Some(id) => with_message_id(&message.payload, id),
        None => Cow::Borrowed(&message.payload[..]),
    };
    match crate::take(&app, "nats", &subject, &payload, &datastreams).await {
        Handled::Durable | Handled::DeadLettered => {
            if let Err(e) = message.ack().await {
                warn!(subject, error = %e, "jetstream acknowledgement not sent; the message will be delivered again");
            }
        }
        Handled::Retry(e) => {
            warn!(subject, error = %e.message, "jetstream message not taken; left for redelivery");
            let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
        }
    }
}

/// The payload with `id` set on each line that names none: `msg_id` for a one-line message,
/// `msg_id:<line>` otherwise. Lines that are not JSON objects are left as they are, to be refused
/// by the decoder with their reason.
pub fn with_message_id<'a>(payload: &'a [u8], msg_id: &str) -> Cow<'a, [u8]> {
    let lines: Vec<&[u8]> = payload.split(|&b| b == b'\n').collect();
    let records = lines.iter().filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
    let mut changed = false;
    let out: Vec<Vec<u8>> = lines
        .iter()
        .enumerate()
        .map(|(index, line)| match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(mut record)) if !record.contains_key("id") => {
                changed = true;
                let id = if records == 1 { msg_id.to_owned() } else { format!("{msg_id}:{}", index + 1) };
                record.insert("id".into(), Value::String(id));
                serde_json::to_vec(&record).expect("a JSON object serialises")
            }
            _ => line.to_vec(),
        })
        .collect();
    if changed { Cow::Owned(out.join(&b'\n')) } else { Cow::Borrowed(payload) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_an_id_take_the_message_id() {
        let one = with_message_id(br#"{"kind":"gunshot"}"#, "m-7");
        assert_eq!(serde_json::from_slice::<Value>(&one).unwrap()["id"], "m-7");
        let many = with_message_id(b"{\"kind\":\"gunshot\"}\n{\"id\":\"own\"}\n{not json\n{\"kind\":\"incident\"}", "m-8");
        let lines: Vec<&[u8]> = many.split(|&b| b == b'\n').collect();
        assert_eq!(serde_json::from_slice::<Value>(lines[0]).unwrap()["id"], "m-8:1");
        assert_eq!(serde_json::from_slice::<Value>(lines[1]).unwrap()["id"], "own");
        assert_eq!(lines[2], b"{not json");
        assert_eq!(serde_json::from_slice::<Value>(lines[3]).unwrap()["id"], "m-8:4");
        assert!(matches!(with_message_id(br#"{"id":"own"}"#, "m-9"), Cow::Borrowed(_)));
    }
}
