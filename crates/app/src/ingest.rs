//! Every source of observations through one path: decode → refused lines to the dead-letter store,
//! with the source named → the good records to the pipeline → their durable acknowledgement, counted
//! per source. The HTTP route, `glasshouse ingest` and every future feed (MQTT, NATS, vendor
//! webhooks) are thin callers of [`Ingest`].

use crate::error::AppError;
use glasshouse_ingest::sources::openalpr::{self, Heartbeat};
use glasshouse_ingest::sources::sensorthings::{self, Datastreams};
use glasshouse_ingest::{Batch, BodyError, DeadLetterStore, LineError, decode_ndjson, gunzip};
use glasshouse_model::limits::INGEST_BODY_BYTES_MAX;
use glasshouse_model::{DeviceRegistry, LatLon, Observation, Timestamp};
use glasshouse_store::ImageStore;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// What the WAL did with a submitted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Newly durable.
    pub appended: usize,
    /// Already stored (same id); durable from before.
    pub duplicates: usize,
}

/// Why a batch was not taken.
#[derive(Debug)]
pub enum SubmitError {
    /// The queue to the WAL is full: push back, retry shortly.
    Busy,
    /// The WAL has stopped (a write failed, or shutdown).
    Stopped,
}

/// How a source wants a full queue handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushBack {
    /// Refuse at once, so the producer retries (a live feed answered 503).
    Refuse,
    /// Wait for room (a bulk load, where waiting is the push back).
    Wait,
}

/// Resolves once a submitted batch is durable and searchable.
pub type Durable = oneshot::Receiver<Result<IngestOutcome, String>>;

/// The queue into the pipeline: the binary implements it over the WAL's group committer. (A "sink" is
/// only ever where alerts go out.)
pub trait IngestQueue: Send + Sync {
    /// Queues validated observations.
    fn submit(&self, observations: Vec<Observation>, push_back: PushBack) -> Result<Durable, SubmitError>;
}

/// One source's totals since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounters {
    /// Batches (bodies, files' chunks) taken.
    pub batches: u64,
    /// Records acknowledged durable, duplicates included.
    pub accepted: u64,
    /// Of those, records already stored.
    pub duplicates: u64,
    /// Records refused and dead-lettered.
    pub rejected: u64,
}

/// When a device was last heard from, since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DeviceSeen {
    /// The newest event time among its observations received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observation_at: Option<Timestamp>,
    /// When its agent last vouched for it in a heartbeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<Timestamp>,
    /// Where its agent last said it was (mobile agents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_position: Option<LatLon>,
}

/// What a vendor webhook body held besides its reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookExtras {
    /// Heartbeats recorded.
    pub heartbeats: usize,
    /// Test pings answered.
    pub pings: usize,
    /// Preview groups skipped (the agent sends the final group after them).
    pub previews: usize,
}

/// What a vendor's file holds, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Our observation JSON, one object per line (`.ndjson`, `.jsonl`).
    Ndjson,
    /// OpenALPR / Rekor agent documents (`.json`).
    OpenAlpr,
    /// A Genetec AutoVu SharpV read (`.xml`).
    SharpV,
}

impl FileFormat {
    /// The format a file name says, if any.
    pub fn of(name: &str) -> Option<FileFormat> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            "json" => Some(FileFormat::OpenAlpr),
            "xml" => Some(FileFormat::SharpV),
            _ => None,
        }
    }
}

/// The ingest use case.
pub struct Ingest {
    queue: Arc<dyn IngestQueue>,
    dead_letters: DeadLetterStore,
    counters: Arc<Mutex<BTreeMap<String, SourceCounters>>>,
    seen: Mutex<HashMap<String, DeviceSeen>>,
    images: ImageStore,
}

/// A batch taken: its refused lines (already dead-lettered) and the wait for its good records.
#[must_use = "the records are durable only once `durable` or `wait` returns"]
pub struct Taken {
    /// Refused lines, with their line numbers, in order.
    pub errors: Vec<LineError>,
    pending: Option<Durable>,
    source: String,
    counters: Arc<Mutex<BTreeMap<String, SourceCounters>>>,
}

/// What happened to a batch once its records are durable.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReport {
    /// Records newly stored or already stored.
    pub accepted: usize,
    /// Of those, already stored.
    pub duplicates: usize,
    /// Refused lines, with their line numbers, in order.
    pub errors: Vec<LineError>,
}

impl Ingest {
    /// Ingest into `queue`, refused lines into `dead_letters`, plate-read images into `images`.
    pub fn new(queue: Arc<dyn IngestQueue>, dead_letters: DeadLetterStore, images: ImageStore) -> Ingest {
        Ingest { queue, dead_letters, counters: Arc::default(), seen: Mutex::default(), images }
    }

    /// The plate-read images.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The dead-letter store, for listing.
    pub fn dead_letters(&self) -> &DeadLetterStore {
        &self.dead_letters
    }

    /// Each source's totals.
    pub fn counters(&self) -> BTreeMap<String, SourceCounters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// When each device was last heard from.
    pub fn seen(&self) -> HashMap<String, DeviceSeen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records an agent's heartbeat for each registered camera it names.
    pub fn heartbeat(&self, heartbeat: &Heartbeat) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for device in &heartbeat.devices {
            let entry = seen.entry(device.clone()).or_default();
            if entry.last_heartbeat_at.is_none_or(|at| at < heartbeat.at) {
                entry.last_heartbeat_at = Some(heartbeat.at);
                entry.heartbeat_position = heartbeat.position.or(entry.heartbeat_position);
            }
        }
    }

    /// Decodes an OpenALPR / Rekor agent webhook body from `source`, records its heartbeats and takes
    /// its reads (see [`Ingest::take`]). CPU work: call it off an async executor's workers.
    pub fn take_openalpr(
        &self,
        source: &str,
        body: &[u8],
        registry: &DeviceRegistry,
        received_at: Timestamp,
        push_back: PushBack,
    ) -> Result<(Taken, WebhookExtras), AppError> {
        let webhook = openalpr::decode(body, registry, received_at).map_err(body_error)?;
        // The images first: a read that is durable always finds the evidence it names.
        for image in &webhook.images {
            self.images.put(image).map_err(AppError::internal)?;
        }
        let extras = WebhookExtras { heartbeats: webhook.heartbeats.len(), pings: webhook.pings, previews: webhook.previews };
        let taken = self.take(source, webhook.batch, received_at, push_back)?;
        webhook.heartbeats.iter().for_each(|beat| self.heartbeat(beat));
        Ok((taken, extras))
    }

    /// Decodes an NDJSON body (gzip when `gzipped`) from `source` and takes it (see [`Ingest::take`]).
    /// CPU work: call it off an async executor's workers.
    pub fn take_ndjson(
        &self,
        source: &str,
        body: &[u8],
        gzipped: bool,
        registry: &DeviceRegistry,
        received_at: Timestamp,
        push_back: PushBack,
    ) -> Result<Taken, AppError> {
        let plain;
        let body = if gzipped {
            plain = gunzip(body, INGEST_BODY_BYTES_MAX).map_err(body_error)?;
            &plain[..]
        } else {
            body
        };
        let batch = decode_ndjson(body, registry, received_at).map_err(body_error)?;
        self.take(source, batch, received_at, push_back)
    }

    /// Decodes a vendor's file `name` of `format` from `feed` (`spool`) and takes it, images first.
    /// Refused records are dead-lettered as `<feed>:<name>`, so a dead letter names its file.
    #[allow(clippy::too_many_arguments)]
    pub fn take_file(
        &self,
        feed: &str,
        name: &str,
        format: FileFormat,
        bytes: &[u8],
        registry: &DeviceRegistry,
        received_at: Timestamp,
        push_back: PushBack,
    ) -> Result<Taken, AppError> {
        let (batch, images) = match format {
            FileFormat::Ndjson => (decode_ndjson(bytes, registry, received_at).map_err(body_error)?, Vec::new()),
            FileFormat::OpenAlpr => {
                let webhook = openalpr::decode(bytes, registry, received_at).map_err(body_error)?;
                webhook.heartbeats.iter().for_each(|beat| self.heartbeat(beat));
                (webhook.batch, webhook.images)
            }
            FileFormat::SharpV => {
                let file = glasshouse_ingest::sources::sharpv::decode(bytes, registry, received_at);
                (file.batch, file.images)
            }
        };
        for image in &images {
            self.images.put(image).map_err(AppError::internal)?;
        }
        self.take_as(feed, &format!("{feed}:{name}"), batch, received_at, push_back)
    }

    /// Decodes one broker message of `feed` (`mqtt`, `nats`) and takes it: a SensorThings observation
    /// on a `…/Datastreams(<id>)/Observations` topic, mapped through `datastreams`, or else our
    /// observation JSON, one object per line. Refused lines are dead-lettered as `<feed>:<topic>`, so
    /// the dead letter names where it came from; the totals count the feed as a whole.
    #[allow(clippy::too_many_arguments)]
    pub fn take_message(
        &self,
        feed: &str,
        topic: &str,
        payload: &[u8],
        datastreams: &Datastreams,
        registry: &DeviceRegistry,
        received_at: Timestamp,
        push_back: PushBack,
    ) -> Result<Taken, AppError> {
        let batch = match sensorthings::datastream_of(topic) {
            Some(datastream) => sensorthings::decode(datastream, payload, datastreams, registry, received_at),
            None => decode_ndjson(payload, registry, received_at).map_err(body_error)?,
        };
        self.take_as(feed, &format!("{feed}:{topic}"), batch, received_at, push_back)
    }

    /// Writes the batch's refused lines to the dead-letter store under `source`, then queues its good
    /// records. Nothing good is dropped: a dead-letter failure refuses the whole batch before any
    /// record is queued, so the producer can send it again.
    pub fn take(&self, source: &str, batch: Batch, received_at: Timestamp, push_back: PushBack) -> Result<Taken, AppError> {
        self.take_as(source, source, batch, received_at, push_back)
    }

    /// [`Ingest::take`], counting under `source` and dead-lettering under `letter_source`.
    fn take_as(
        &self,
        source: &str,
        letter_source: &str,
        batch: Batch,
        received_at: Timestamp,
        push_back: PushBack,
    ) -> Result<Taken, AppError> {
        if !batch.errors.is_empty() {
            self.dead_letters.append(letter_source, received_at, &batch.errors).map_err(AppError::internal)?;
        }
        let observations: Vec<Observation> = batch.observations.into_iter().map(|(_, o)| o).collect();
        self.note_observations(&observations);
        let pending = if observations.is_empty() {
            None
        } else {
            Some(self.queue.submit(observations, push_back).map_err(|e| match e {
                SubmitError::Busy => {
                    crate::metrics::refused_batch(source, "busy");
                    AppError::unavailable("ingest queue is full; retry shortly", 1)
                }
                SubmitError::Stopped => {
                    crate::metrics::refused_batch(source, "stopped");
                    AppError::unavailable("ingest is stopped; see the server log", 5)
                }
            })?)
        };
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let counted = counters.entry(source.to_owned()).or_default();
        counted.batches += 1;
        counted.rejected += batch.errors.len() as u64;
        drop(counters);
        crate::metrics::records(source, "rejected", batch.errors.len());
        Ok(Taken { errors: batch.errors, pending, source: source.to_owned(), counters: self.counters.clone() })
    }
}

impl Ingest {
    /// Moves each device's newest observation time forward. One lookup per run of records from the
    /// same device, since batches usually come from one device or a few.
    fn note_observations(&self, observations: &[Observation]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for run in observations.chunk_by(|a, b| a.device_id == b.device_id) {
            let newest = run.iter().map(|o| o.observed_at).max().expect("runs are not empty");
            match seen.get_mut(&run[0].device_id) {
                Some(entry) => entry.last_observation_at = entry.last_observation_at.max(Some(newest)),
                None => {
                    seen.insert(run[0].device_id.clone(), DeviceSeen { last_observation_at: Some(newest), ..DeviceSeen::default() });
                }
            }
        }
    }
}

impl Taken {
    /// Waits (asynchronously) until the good records are durable.
    pub async fn durable(mut self) -> Result<IngestReport, AppError> {
        let outcome = match self.pending.take() {
            None => Ok(Ok(IngestOutcome::default())),
            Some(pending) => pending.await.map_err(|_| stopped()),
        };
        self.finish(outcome)
    }

    /// Waits (blocking the thread) until the good records are durable.
    pub fn wait(mut self) -> Result<IngestReport, AppError> {
        let outcome = match self.pending.take() {
            None => Ok(Ok(IngestOutcome::default())),
            Some(pending) => pending.blocking_recv().map_err(|_| stopped()),
        };
        self.finish(outcome)
    }

    fn finish(self, outcome: Result<Result<IngestOutcome, String>, AppError>) -> Result<IngestReport, AppError> {
        // A failed write (a full disk, an I/O error) stops the WAL, which logs the cause. The
        // producer hears that its records were not stored and that retrying waits for a restart,
        // not "internal error".
        let outcome = outcome?.map_err(|_| {
            AppError::unavailable("records not stored: the write-ahead log could not write; ingest is stopped until the server restarts", 5)
        })?;
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        crate::metrics::records(&self.source, "stored", outcome.appended);
        crate::metrics::records(&self.source, "duplicate", outcome.duplicates);
        let counted = counters.entry(self.source).or_default();
        counted.accepted += (outcome.appended + outcome.duplicates) as u64;
        counted.duplicates += outcome.duplicates as u64;
        Ok(IngestReport { accepted: outcome.appended + outcome.duplicates, duplicates: outcome.duplicates, errors: self.errors })
    }
}

fn stopped() -> AppError {
    AppError::unavailable("ingest stopped before the batch was durable", 5)
}

fn body_error(e: BodyError) -> AppError {
    match e {
        BodyError::TooLarge | BodyError::TooManyRecords => AppError::too_large(e.to_string()),
        BodyError::BadGzip(_) => AppError::malformed(e.to_string()),
    }
}
