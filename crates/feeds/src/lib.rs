//! Feeds that Glasshouse pulls from rather than being posted to: an MQTT subscription, a JetStream
//! consumer and a spool folder of vendor exports. Each only receives, hands the bytes to the
//! application layer's one ingest path, and tells the upstream a message is handled only once its
//! records are durable (or dead-lettered), so a crash of either side loses nothing that was
//! acknowledged.
#![deny(missing_docs)]

pub mod mqtt;
pub mod nats;
pub mod spool;

use glasshouse_app::{App, AppError, ErrorKind, PushBack};
use glasshouse_ingest::sources::sensorthings::Datastreams;
use glasshouse_model::Timestamp;
use std::sync::Arc;

/// The largest message a broker feed takes: a batch of NDJSON lines.
pub const MESSAGE_BYTES_MAX: usize = 1024 * 1024;

/// What became of one broker message, and so what to tell the broker.
#[derive(Debug)]
pub enum Handled {
    /// Its records are durable (refused lines dead-lettered): acknowledge it.
    Durable,
    /// It can never be read (too large, not the format): kept as a dead letter; acknowledge it.
    DeadLettered,
    /// It could not be taken now (the WAL busy or stopped, the dead-letter store failing): leave it
    /// unacknowledged, so the broker delivers it again.
    Retry(AppError),
}

/// Takes one message of `feed` (`mqtt`, `nats`) on `topic` through the app's ingest path and waits
/// until its records are durable. Waiting for room in the queue is the push back: the broker holds
/// the rest meanwhile.
pub async fn take(app: &Arc<App>, feed: &'static str, topic: &str, payload: &[u8], datastreams: &Arc<Datastreams>) -> Handled {
    let taken = {
        let (app, topic, payload, datastreams) = (app.clone(), topic.to_owned(), payload.to_vec(), datastreams.clone());
        tokio::task::spawn_blocking(move || {
            if payload.len() > MESSAGE_BYTES_MAX {
                return Err(AppError::too_large(format!("message exceeds {MESSAGE_BYTES_MAX} bytes")));
            }
            app.ingest.take_message(feed, &topic, &payload, &datastreams, &app.devices(), Timestamp::now(), PushBack::Wait)
        })
        .await
    };
    let report = match taken {
        Ok(Ok(taken)) => taken.durable().await,
        Ok(Err(e)) => Err(e),
        Err(e) => Err(AppError::internal(e)),
    };
    match report {
        Ok(_) => Handled::Durable,
        Err(e) if matches!(e.kind, ErrorKind::TooLarge | ErrorKind::Invalid) => {
            let raw = String::from_utf8_lossy(&payload[..payload.len().min(glasshouse_ingest::decode::RAW_BYTES_KEPT_MAX)]).into_owned();
            let refused = glasshouse_ingest::LineError { line: 1, error: e.message, raw };
            match app.ingest.dead_letters().append(&format!("{feed}:{topic}"), Timestamp::now(), &[refused]) {
                Ok(()) => Handled::DeadLettered,
                Err(e) => Handled::Retry(AppError::internal(e)),
            }
        }
        Err(e) => Handled::Retry(e),
    }
}
