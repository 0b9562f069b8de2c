//! The one place where the stages are wired together.
//!
//! ```text
//! HTTP/file ──decode+validate──► WAL group committer ──durable──► hot path thread ──► alert log ──► SSE
//!                                  (dedup by id)                 (rules, then the      (durable)
//!                                                                 hot window)──flush──► Parquet segments
//! ```
//! Start-up runs in the reverse order of the data flow: sinks and stores first, then the WAL replays
//! its unflushed tail through the rules into the hot window (before `start` returns, so before the
//! server listens), and only then does the committer accept new records.

use crate::seen::StoredIds;
use anyhow::Context;
use glasshouse_app::sharing::Sharing;
use glasshouse_app::{Actor, App, Ingest, IngestOutcome, IngestQueue, PushBack, SubmitError};
use glasshouse_audit::{AuditLog, PurposePolicy};
use glasshouse_engine::metrics::RuleMetrics;
use glasshouse_engine::{Alert, Engine, EngineState};
use glasshouse_ingest::DeadLetterStore;
use glasshouse_model::Observation;
use glasshouse_model::limits::{HOT_WINDOW_RECORDS_MAX, INGEST_QUEUE_REQUESTS_MAX};
use glasshouse_model::validate::{RawRecord, from_stored};
use glasshouse_server::{AppState, TokenStore};
use glasshouse_sinks::AlertLog;
use glasshouse_store::{Catalog, SegmentStore, Store};
use glasshouse_wal::{CommitRequest, Committed, Committer, DurableGroup, FsyncPolicy, Lsn, Record, Wal, WalConfig, committer};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

/// Durable groups waiting for the hot path. Small: if rules fall behind, the committer waits, the
/// ingest queue fills, and producers get 503 instead of the server growing without bound.
const HOT_PATH_QUEUE_GROUPS_MAX: usize = 16;

/// When the retention purge first runs after start, and then how often.
const RETENTION_FIRST_RUN: Duration = Duration::from_secs(60);
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// How many full windows the hot window may hold while the flusher catches up.
const HOT_WINDOW_BACKLOG: usize = 3;

/// How often the hot path copies its rule metrics out for the API.
const METRICS_PUBLISH_INTERVAL: Duration = Duration::from_millis(250);

/// How often device silence is checked: a tenth of the shortest allowance a rule may have.
const SILENCE_CHECK_INTERVAL: Duration = Duration::from_secs(6);
/// How often identity events reach the audit log.
const IDENTITY_AUDIT_INTERVAL: Duration = Duration::from_secs(2);

/// How often the compactor looks for small segments to merge.
const COMPACTION_INTERVAL: Duration = Duration::from_secs(20);

/// How the pipeline is set up.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Root of everything the server keeps.
    pub data_dir: PathBuf,
    /// When WAL appends reach the disk.
    pub fsync: FsyncPolicy,
    /// Longest a record waits in the hot window before a flush to Parquet.
    pub flush_interval: Duration,
    /// The road network for the console, as GeoJSON bytes.
    pub basemap: Option<Arc<Vec<u8>>>,
    /// Outbound alert sinks.
    pub sinks: glasshouse_sinks::delivery::SinksConfig,
    /// An online map style for the console, if the deployment uses one.
    pub map_style: Option<String>,
    /// Failed logons are counted by the address in `X-Forwarded-For` (behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Minutes without input after which the console locks itself.
    pub console_idle_lock_minutes: f64,
    /// Witnesses asked to cosign the audit log's checkpoints.
    pub witnesses: Vec<glasshouse_audit::witnessing::WitnessConfig>,
    /// How often they are asked.
    pub witness_interval: Duration,
}

/// A running pipeline: the shared state for the HTTP server and the threads behind it.
pub struct Pipeline {
    /// What the HTTP handlers share.
    pub state: Arc<AppState>,
    /// The SQL session, also served over the Postgres wire protocol.
    pub sql: Arc<glasshouse_sql::SqlEngine>,
    entrance: Arc<WalEntrance>,
    hot_path: Option<JoinHandle<()>>,
    committer: Option<JoinHandle<()>>,
    /// Dropping the sender stops the compactor.
    compactor: Option<Stoppable>,
    /// Dropping the sender stops the hourly retention purge.
    retention: Option<Stoppable>,
    /// Dropping the sender stops the identity events' audit (and runs it a last time).
    identity: Option<Stoppable>,
    /// Dropping the sender stops the device silence checks.
    health: Option<Stoppable>,
    /// Dropping the sender stops asking the witnesses.
    witnessing: Option<Stoppable>,
}

/// The ingest entrance over the WAL's group committer.
struct WalEntrance {
    committer: Mutex<Option<Committer<Observation>>>,
}

impl IngestQueue for WalEntrance {
    fn submit(&self, observations: Vec<Observation>, push_back: PushBack) -> Result<Pending, SubmitError> {
        let committer = self.committer.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(SubmitError::Stopped)?;
        let (request, rx) = commit_request(observations);
        match push_back {
            PushBack::Refuse => committer.try_submit(request).map_err(|_| SubmitError::Busy)?,
            PushBack::Wait => committer.submit(request).map_err(|_| SubmitError::Stopped)?,
        }
        Ok(rx)
    }
}

type Pending = oneshot::Receiver<Result<IngestOutcome, String>>;

fn commit_request(observations: Vec<Observation>) -> (CommitRequest<Observation>, Pending) {
    let (tx, rx) = oneshot::channel();
    let records = observations.into_iter().map(|o| Record { key: o.dedup_key(), payload: o.to_json().into_bytes(), item: o }).collect();
    let ack = Box::new(move |result: Result<glasshouse_wal::CommitOutcome, glasshouse_wal::WalError>| {
        // The requester may have gone (client disconnected); the records are durable regardless.
        let _ = tx.send(result.map(|o| IngestOutcome { appended: o.appended, duplicates: o.duplicates }).map_err(|e| e.to_string()));
    });
    (CommitRequest { records, ack }, rx)
}

fn wal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("wal")
}

/// The audit log's entries and checkpoints.
pub fn audit_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

/// The audit log's signing and HMAC keys, apart from the log so the log can be copied or published
/// without them.
pub fn audit_keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-keys")
}

/// The purpose policy from `DATA_DIR/policy.json`, or the defaults.
fn load_policy(data_dir: &Path) -> anyhow::Result<PurposePolicy> {
    let path = data_dir.join("policy.json");
    let policy = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not a valid policy", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PurposePolicy::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    policy.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(policy)
}

/// The retention windows from `DATA_DIR/retention.json`, or the defaults.
fn load_retention(data_dir: &Path) -> anyhow::Result<glasshouse_store::RetentionPolicy> {
    let path = data_dir.join("retention.json");
    let policy: glasshouse_store::RetentionPolicy = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not a valid retention policy", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    policy.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(policy)
}

impl Pipeline {
    /// Opens every store under `config.data_dir`, replays the WAL and starts the threads, in the
    /// reverse order of the data flow (see the module documentation).
    pub fn start(config: PipelineConfig) -> anyhow::Result<Pipeline> {
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let stores = Stores::open(data_dir, config.fsync)?;
        let Recovered { wal, seen, replayed } = recover(data_dir, config.fsync, &stores.store)?;
        let engine = Arc::new(RwLock::new(Arc::new(stores.catalog.engine())));
        let rule_metrics: Arc<Mutex<RuleMetrics>> = Arc::default();
        let (engine_state, keeper) = restore_rules(data_dir, &engine, &stores.alerts, &stores.store, replayed);
        let (hot_tx, hot_rx) = sync_channel::<DurableGroup<Observation>>(HOT_PATH_QUEUE_GROUPS_MAX);
        let hot_path = {
            let (engine, alerts, store, dir, metrics) =
                (engine.clone(), stores.alerts.clone(), stores.store.clone(), wal_dir(data_dir), rule_metrics.clone());
            let interval = config.flush_interval;
            std::thread::Builder::new()
                .name("hot-path".into())
                .spawn(move || run_hot_path(engine_state, keeper, hot_rx, engine, alerts, store, metrics, &dir, interval))?
        };
        let compactor = {
            let store = stores.store.clone();
            stoppable("compactor", move |stopped| run_compactor(&store, stopped))?
        };
        let (committer, committer_handle) = committer(wal, seen, INGEST_QUEUE_REQUESTS_MAX, hot_tx);
        let entrance = Arc::new(WalEntrance { committer: Mutex::new(Some(committer)) });
        let sql_engine = Arc::new(glasshouse_sql::SqlEngine::new(stores.store.clone()));
        let sharing = start_sinks(data_dir, config.sinks, &stores.alerts)?;
        let app = App {
            devices: RwLock::new(Arc::new(stores.catalog.devices.clone())),
            engine,
            catalog: Mutex::new(stores.catalog),
            ingest: Ingest::new(entrance.clone(), stores.dead_letters, stores.images),
            alerts: stores.alerts,
            store: stores.store,
            audit: stores.audit,
            policy: stores.policy,
            approvals: stores.approvals,
            warrants: stores.warrants,
            cases: stores.cases,
            exigencies: stores.exigencies,
            holds: stores.holds,
            retention: glasshouse_app::retention::RetentionSettings::new(stores.retention, Some(data_dir.join("retention.json"))),
            changes: stores.changes,
            sharing,
            rule_metrics,
            witnessing: Arc::new(
                glasshouse_audit::witnessing::Witnessing::open(config.witnesses, Some(&data_dir.join("audit-witnesses.json")))
                    .context("reading what the witnesses cosigned")?,
            ),
            audit_reads: Default::default(),
        };
        let state = Arc::new(AppState {
            app: Arc::new(app),
            tokens: TokenStore::open(data_dir),
            second_factor: glasshouse_server::second_factor::SecondFactor::open(data_dir),
            basemap: config.basemap,
            map_style: config.map_style,
            sql: Some(Arc::new(crate::sql_service::DataFusionSql(sql_engine.clone()))),
            logged_on: Default::default(),
            failed_logons: Default::default(),
            throttle: glasshouse_server::throttle::Throttle::new(config.trust_forwarded_for),
            closing: Default::default(),
            console_idle_lock_minutes: config.console_idle_lock_minutes,
        });
        let retention = {
            let app = state.app.clone();
            stoppable("retention", move |stopped| run_retention(&app, stopped))?
        };
        let identity = {
            let state = state.clone();
            stoppable("identity-audit", move |stopped| run_identity_audit(&state, stopped))?
        };
        let health = {
            let app = state.app.clone();
            stoppable("device-health", move |stopped| run_silence_checks(&app, stopped))?
        };
        let witnessing = match state.app.witnessing.is_configured() {
            true => {
                let app = state.app.clone();
                let interval = config.witness_interval;
                Some(stoppable("witnessing", move |stopped| crate::witnessing::run(&app, interval, stopped))?)
            }
            false => None,
        };
        Ok(Pipeline {
            state,
            sql: sql_engine,
            entrance,
            hot_path: Some(hot_path),
            committer: Some(committer_handle),
            compactor: Some(compactor),
            retention: Some(retention),
            identity: Some(identity),
            health: Some(health),
            witnessing,
        })
    }

    /// Queues observations, waiting for room; the receiver resolves once they are durable.
    #[cfg(test)]
    fn submit_waiting(&self, observations: Vec<Observation>) -> anyhow::Result<Pending> {
        self.entrance.submit(observations, PushBack::Wait).map_err(|_| anyhow::anyhow!("the write-ahead log has stopped"))
    }

    /// Stops accepting records, lets the hot path finish and flushes the hot window to segments.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        // Sinks stop after the attempt in flight; what they have not delivered waits in the log.
        self.state.sharing.stop_all();
        if let Some((stop, handle)) = self.retention.take() {
            drop(stop);
            handle.join().map_err(|_| anyhow::anyhow!("retention purge panicked"))?;
        }
        if let Some((stop, handle)) = self.identity.take() {
            drop(stop);
            handle.join().map_err(|_| anyhow::anyhow!("identity audit panicked"))?;
        }
        if let Some((stop, handle)) = self.health.take() {
            drop(stop);
            handle.join().map_err(|_| anyhow::anyhow!("device health checks panicked"))?;
        }
        if let Some((stop, handle)) = self.witnessing.take() {
            drop(stop);
            handle.join().map_err(|_| anyhow::anyhow!("witnessing panicked"))?;
        }
        self.entrance.committer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = self.committer.take() {
            handle.join().map_err(|_| anyhow::anyhow!("wal committer panicked"))?;
        }
        if let Some(handle) = self.hot_path.take() {
            handle.join().map_err(|_| anyhow::anyhow!("hot path panicked"))?;
        }
        if let Some((stop, handle)) = self.compactor.take() {
            drop(stop);
            handle.join().map_err(|_| anyhow::anyhow!("compactor panicked"))?;
        }
        Ok(())
    }
}

/// Every store and book under a data directory, opened.
struct Stores {
    catalog: Catalog,
    store: Arc<Store>,
    alerts: Arc<AlertLog>,
    dead_letters: DeadLetterStore,
    images: glasshouse_store::ImageStore,
    audit: Arc<AuditLog>,
    policy: PurposePolicy,
    approvals: glasshouse_audit::approvals::ApprovalBook,
    warrants: glasshouse_audit::warrants::WarrantBook,
    cases: glasshouse_audit::cases::CaseBook,
    exigencies: glasshouse_audit::exigency::ExigencyBook,
    holds: glasshouse_audit::holds::HoldBook,
    changes: glasshouse_audit::changes::ChangeBook,
    retention: glasshouse_store::RetentionPolicy,
}

impl Stores {
    fn open(data_dir: &Path, fsync: FsyncPolicy) -> anyhow::Result<Stores> {
        Ok(Stores {
            catalog: Catalog::open(&data_dir.join("catalog")).context("opening the catalog")?,
            store: Arc::new(Store::new(SegmentStore::open(data_dir.join("segments")).context("opening the segment store")?)),
            alerts: Arc::new(AlertLog::open(&data_dir.join("alerts"), fsync).context("opening the alert log")?),
            dead_letters: DeadLetterStore::open(data_dir.join("dead_letter.ndjson")).context("opening the dead-letter store")?,
            images: glasshouse_store::ImageStore::open(&data_dir.join("images")).context("opening the image store")?,
            audit: Arc::new(AuditLog::open(&audit_dir(data_dir), &audit_keys_dir(data_dir)).context("opening the audit log")?),
            policy: load_policy(data_dir)?,
            approvals: glasshouse_audit::approvals::ApprovalBook::open(&data_dir.join("approvals")).context("opening the approvals")?,
            holds: glasshouse_audit::holds::HoldBook::open(&data_dir.join("holds")).context("opening the holds")?,
            warrants: glasshouse_audit::warrants::WarrantBook::open(&data_dir.join("warrants")).context("opening the warrants")?,
            cases: glasshouse_audit::cases::CaseBook::open(&data_dir.join("cases")).context("opening the cases")?,
            exigencies: glasshouse_audit::exigency::ExigencyBook::open(&data_dir.join("exigency_reviews"))
                .context("opening the exigency reviews")?,
            changes: glasshouse_audit::changes::ChangeBook::open(&data_dir.join("changes")).context("opening the change requests")?,
            retention: load_retention(data_dir)?,
        })
    }
}

/// The WAL reopened, what the committer knows of stored ids, and the WAL's unflushed tail.
struct Recovered {
    wal: Wal,
    seen: StoredIds,
    replayed: Vec<(Lsn, Observation)>,
}

/// Reopens the WAL after the last flushed position. Only the tail is read: the ids of records
/// already in segments are asked of the segments' id filters when a record arrives, so start-up
/// does not grow with the history.
fn recover(data_dir: &Path, fsync: FsyncPolicy, store: &Arc<Store>) -> anyhow::Result<Recovered> {
    let flushed_lsn = store.flushed_lsn();
    let mut replayed: Vec<(Lsn, Observation)> = Vec::new();
    let mut undecodable = 0usize;
    let wal_config = WalConfig { fsync, ..WalConfig::new(wal_dir(data_dir)) };
    let wal = Wal::open(wal_config, flushed_lsn, |lsn, payload| {
        let decoded = serde_json::from_slice::<RawRecord>(payload).ok().and_then(|raw| from_stored(&raw).ok());
        match decoded {
            Some(o) => replayed.push((lsn, o)),
            None => undecodable += 1,
        }
    })
    .context("opening the write-ahead log")?;
    if undecodable > 0 {
        anyhow::bail!("{undecodable} WAL records passed their checksum but do not decode; refusing to start");
    }
    let seen = StoredIds::new(store.clone(), replayed.iter().map(|(lsn, o)| (o.dedup_key(), *lsn)));
    info!(replayed = replayed.len(), flushed_lsn, ids_in_memory = seen.in_memory(), "wal recovered");
    Ok(Recovered { wal, seen, replayed })
}

/// Restores the rules' saved state and puts the replayed tail back: records the saved state
/// already reflects go to the hot window only (evaluating them again would step geofence
/// presences and sensor episodes twice), the rest are evaluated. This happens before `start`
/// returns, so the server never answers a search while an acknowledged record is still being
/// replayed.
fn restore_rules(
    data_dir: &Path,
    engine: &RwLock<Arc<Engine>>,
    alerts: &AlertLog,
    store: &Store,
    mut replayed: Vec<(Lsn, Observation)>,
) -> (EngineState, crate::engine_state::Keeper) {
    let (mut state, evaluated_through) = match crate::engine_state::load(data_dir) {
        Some(snapshot) => {
            let through = snapshot.evaluated_through;
            (EngineState::restored(snapshot, &engine.read().unwrap_or_else(|p| p.into_inner())), through)
        }
        None => (EngineState::default(), 0),
    };
    let replayed_through = replayed.last().map_or(0, |(lsn, _)| *lsn);
    let unevaluated = replayed.split_off(replayed.partition_point(|(lsn, _)| *lsn <= evaluated_through));
    if !replayed.is_empty() {
        store.insert(replayed);
    }
    if !unevaluated.is_empty() {
        evaluate(engine, &mut state, alerts, store, unevaluated);
    }
    (state, crate::engine_state::Keeper::new(data_dir, evaluated_through.max(replayed_through)))
}

/// Starts a worker for every outbound sink: the deployment's file and the approved sharing
/// changes, one name each.
fn start_sinks(data_dir: &Path, deployment: glasshouse_sinks::delivery::SinksConfig, alerts: &Arc<AlertLog>) -> anyhow::Result<Sharing> {
    let sharing_file = data_dir.join("sharing.json");
    let (approved, approved_config) = Sharing::load(&sharing_file).map_err(|e| anyhow::anyhow!(e))?;
    let names: Vec<String> = deployment.sinks.iter().map(|s| s.name.clone()).collect();
    if let Some(clash) = approved_config.sinks.iter().find(|s| names.contains(&s.name)) {
        anyhow::bail!("sink {:?} is both in the sinks file and in {}; rename one", clash.name, sharing_file.display());
    }
    let mut workers = Vec::new();
    for sink in deployment.sinks.into_iter().chain(approved_config.sinks) {
        let destination = glasshouse_sinks::delivery::destination(&sink).map_err(|e| anyhow::anyhow!("sink {}: {e}", sink.name))?;
        let name = sink.name.clone();
        let worker = glasshouse_sinks::delivery::SinkWorker::start(sink, &data_dir.join("outbox"), alerts.clone(), destination)
            .with_context(|| format!("starting sink {name}"))?;
        workers.push(worker);
    }
    Ok(Sharing::new(approved, Some(sharing_file), Some(data_dir.join("outbox")), names, workers))
}

/// A background thread that runs until the returned sender is dropped.
type Stoppable = (std::sync::mpsc::Sender<()>, JoinHandle<()>);

fn stoppable(name: &str, run: impl FnOnce(&Receiver<()>) + Send + 'static) -> std::io::Result<Stoppable> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new().name(name.into()).spawn(move || run(&stopped))?;
    Ok((stop, handle))
}

/// The rules as published now.
fn current(engine: &RwLock<Arc<Engine>>) -> Arc<Engine> {
    engine.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn evaluate(engine: &RwLock<Arc<Engine>>, state: &mut EngineState, alerts: &AlertLog, store: &Store, records: Committed<Observation>) {
    let engine = current(engine);
    let mut raised: Vec<Alert> = Vec::new();
    // One clock reading per durable group: the moment its alerts are raised.
    let now = glasshouse_model::Timestamp::now();
    for (_, o) in &records {
        engine.evaluate(state, o, now, &mut raised);
    }
    if !raised.is_empty()
        && let Err(e) = alerts.append(raised)
    {
        // The observations are durable in the WAL; a restart re-evaluates them and the
        // deterministic alert ids prevent duplicates.
        error!(error = %e, "alert log write failed; alerts will be re-raised on restart");
    }
    // Rules first, then the hot window: a record in a segment has always been evaluated.
    store.insert(records);
}

fn flush(store: &Store, wal_dir: &Path) {
    match store.flush() {
        Ok(Some(flushed)) => {
            if let Err(e) = glasshouse_wal::remove_through(wal_dir, flushed) {
                error!(error = %e, "removing flushed wal files failed; they will be skipped on replay");
            }
        }
        Ok(None) => {}
        Err(e) => error!(error = %e, "segment flush failed; records stay in the wal and the hot window"),
    }
}

/// Purges expired records hourly (first a minute after start) until `stopped` disconnects.
fn run_retention(app: &App, stopped: &std::sync::mpsc::Receiver<()>) {
    let system = Actor::new("system:retention", "custodian");
    let mut wait = RETENTION_FIRST_RUN;
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        wait = RETENTION_INTERVAL;
        match app.retention().purge_expired(&system, glasshouse_model::Timestamp::now()) {
            Ok(receipts) => info!(kinds = receipts.len(), "retention pass"),
            Err(e) => error!(error = %e, "retention purge failed; it will be retried"),
        }
    }
}

/// Checks for silent devices every few seconds until `stopped` disconnects.
fn run_silence_checks(app: &App, stopped: &std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(SILENCE_CHECK_INTERVAL) {
        match app.check_silence(glasshouse_model::Timestamp::now()) {
            Ok(check) if check.raised + check.closed > 0 => info!(raised = check.raised, closed = check.closed, "device silence"),
            Ok(_) => {}
            Err(e) => error!(error = %e, "device silence check failed; it will run again"),
        }
    }
}

/// Writes identity events to the audit log every couple of seconds (tokens the CLI created, role
/// changes and revocations, refused tokens), and once more when stopped.
fn run_identity_audit(state: &AppState, stopped: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(IDENTITY_AUDIT_INTERVAL) {
        state.audit_identity_events();
        state.app.log_audit_reads(glasshouse_model::Timestamp::now(), false);
    }
    state.audit_identity_events();
    state.app.log_audit_reads(glasshouse_model::Timestamp::now(), true);
}

/// Merges small segments in the background until `stopped` disconnects, and once more at the end
/// so a bulk load leaves one segment per kind and day.
fn run_compactor(store: &Store, stopped: &std::sync::mpsc::Receiver<()>) {
    warm_plate_dictionary(store);
    loop {
        let stopping = !matches!(stopped.recv_timeout(COMPACTION_INTERVAL), Err(std::sync::mpsc::RecvTimeoutError::Timeout));
        match store.compact(glasshouse_model::Timestamp::now()) {
            Ok(report) if report.segments_in > 0 => info!(?report, "compaction pass"),
            Ok(_) => {}
            Err(e) => error!(error = %e, "compaction failed; the segments stay as they are"),
        }
        if stopping {
            return;
        }
        // New segments since the last pass, or a rebuild after a purge dropped it.
        warm_plate_dictionary(store);
    }
}

/// The plate dictionary is built by this maintenance thread, not by an investigator's first
/// pattern search (seconds at a hundred million reads). A failure only means that search builds it.
fn warm_plate_dictionary(store: &Store) {
    if let Err(e) = store.warm_plate_dictionary() {
        warn!(error = %e, "could not build the plate dictionary; the next pattern search will try");
    }
}

#[allow(clippy::too_many_arguments)]
fn run_hot_path(
    mut state: EngineState,
    mut keeper: crate::engine_state::Keeper,
    receiver: Receiver<DurableGroup<Observation>>,
    engine: Arc<RwLock<Arc<Engine>>>,
    alerts: Arc<AlertLog>,
    store: Arc<Store>,
    metrics: Arc<Mutex<RuleMetrics>>,
    wal_dir: &Path,
    flush_interval: Duration,
) {
    let tick = flush_interval.min(Duration::from_secs(1));
    let mut published = std::time::Instant::now();
    let flusher = Flusher::start(store.clone(), wal_dir.to_owned(), flush_interval);
    loop {
        match receiver.recv_timeout(tick) {
            Ok(DurableGroup { records, acks }) => {
                if let Some(last) = records.last().map(|(lsn, _)| *lsn) {
                    let oldest = records.iter().map(|(_, o)| o.received_at).min().expect("a group with a last record");
                    evaluate(&engine, &mut state, &alerts, &store, records);
                    keeper.evaluated(last);
                    glasshouse_app::metrics::hot_path_evaluated(oldest);
                }
                // Only now, with the records searchable and their alerts raised, do the callers
                // hear "durable": an acknowledged record is visible to the next search.
                acks.send();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        keeper.save_if_due(&state, || current(&engine), false);
        // The counters are the hot path's own; readers get a copy at most a few times a second.
        if published.elapsed() >= METRICS_PUBLISH_INTERVAL {
            *metrics.lock().unwrap_or_else(|p| p.into_inner()) = state.metrics.clone();
            published = std::time::Instant::now();
        }
        flusher.keep_up(&store);
    }
    keeper.save_if_due(&state, || current(&engine), true);
    flusher.finish();
    info!("hot path stopped");
}

/// Writes the hot window to segments on a thread of its own, so a flush (a fifth of a second for
/// a full window) does not hold up the acknowledgements queued behind it on the hot path. It
/// flushes when the window is full or its oldest record has waited `flush_interval`. One flusher
/// at a time: a record is never written to two segments.
struct Flusher {
    /// Nudges the thread when the window is full; dropping it makes the last flush and stops it.
    nudge: std::sync::mpsc::SyncSender<()>,
    /// Hears each flush done.
    flushed: Receiver<()>,
    handle: JoinHandle<()>,
}

impl Flusher {
    fn start(store: Arc<Store>, wal_dir: PathBuf, flush_interval: Duration) -> Flusher {
        let (nudge, nudged) = sync_channel::<()>(1);
        let (done, flushed) = sync_channel::<()>(1);
        let tick = flush_interval.min(Duration::from_secs(1));
        let handle = std::thread::Builder::new()
            .name("flusher".into())
            .spawn(move || {
                loop {
                    let stopping = matches!(nudged.recv_timeout(tick), Err(RecvTimeoutError::Disconnected));
                    if stopping || store.hot_len() >= HOT_WINDOW_RECORDS_MAX || store.hot_age_secs() >= flush_interval.as_secs_f64() {
                        flush(&store, &wal_dir);
                        let _ = done.try_send(());
                    }
                    if stopping {
                        return;
                    }
                }
            })
            .expect("spawn the flusher thread");
        Flusher { nudge, flushed, handle }
    }

    /// Asks for a flush when the window is full, and holds the hot path while the window is more
    /// than [`HOT_WINDOW_BACKLOG`] times full (a disk slower than ingest), so memory stays bounded
    /// and the push back reaches producers as 503s.
    fn keep_up(&self, store: &Store) {
        if store.hot_len() >= HOT_WINDOW_RECORDS_MAX {
            let _ = self.nudge.try_send(());
        }
        while store.hot_len() >= HOT_WINDOW_BACKLOG * HOT_WINDOW_RECORDS_MAX {
            let _ = self.nudge.try_send(());
            if let Err(RecvTimeoutError::Disconnected) = self.flushed.recv_timeout(Duration::from_secs(1)) {
                return;
            }
        }
    }

    /// Makes the last flush and waits for it.
    fn finish(self) {
        drop(self.nudge);
        if self.handle.join().is_err() {
            error!("the flusher panicked; unflushed records stay in the wal");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> PipelineConfig {
        PipelineConfig {
            data_dir: dir.to_owned(),
            fsync: FsyncPolicy::Never,
            // Nothing reaches a segment during the test: every record stays in the WAL tail.
            flush_interval: Duration::from_secs(3600),
            basemap: None,
            sinks: Default::default(),
            map_style: None,
            trust_forwarded_for: false,
            console_idle_lock_minutes: 30.0,
            witnesses: Vec::new(),
            witness_interval: Duration::from_secs(10),
        }
    }

    fn observations(count: usize) -> Vec<Observation> {
        (0..count)
            .map(|i| {
                let line = format!(
                    r#"{{"id":"r-{i}","kind":"sensor_reading","device_id":"s-1","observed_at":"2026-11-29T10:00:00Z","lat":60.17,"lon":24.94,"quantity":"co","value":{i},"unit":"ppm"}}"#
                );
                let raw: RawRecord = serde_json::from_str(&line).expect("test record parses");
                from_stored(&raw).expect("test record is valid")
            })
            .collect()
    }

    fn positions(device: &str, from_s: i64, count: i64, lon: f64) -> Vec<Observation> {
        (from_s..from_s + count)
            .map(|s| {
                let line = format!(
                    r#"{{"id":"{device}-{s}","kind":"plate_read","device_id":"{device}","observed_at":"2026-11-29T10:{:02}:{:02}Z","lat":60.165,"lon":{lon},"plate":"ABC123"}}"#,
                    s / 60,
                    s % 60
                );
                from_stored(&serde_json::from_str::<RawRecord>(&line).expect("test record parses")).expect("test record is valid")
            })
            .collect()
    }

    /// A vehicle inside a fence when the server stops leaves it after the restart: the exit is
    /// raised because the presence was saved with the rules' state (the shutdown flushed every
    /// record to a segment, so nothing is replayed to rebuild it).
    #[test]
    fn a_presence_inside_a_fence_survives_a_restart() {
        use glasshouse_engine::{GeofenceSubjects, GeofenceTrigger, NewGeofenceRule};
        let dir = tempfile::tempdir().unwrap();
        {
            let mut catalog = Catalog::open(&dir.path().join("catalog")).unwrap();
            let rule = NewGeofenceRule {
                name: "harbour".into(),
                area: serde_json::json!({"type": "Polygon", "coordinates": [[[24.93, 60.16], [24.95, 60.16], [24.95, 60.17], [24.93, 60.17], [24.93, 60.16]]]}),
                triggers: vec![GeofenceTrigger::Enter, GeofenceTrigger::Exit],
                dwell_s: None,
                subjects: GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: false },
                margin_m: Some(15.0),
                confirm_s: Some(5),
                priority: None,
            }
            .into_rule("gf-1".into())
            .unwrap();
            catalog.record(glasshouse_store::CatalogEvent::GeofenceCreated { rule, actor: "test".into() }).unwrap();
        }
        let exits = |pipeline: &Pipeline| {
            pipeline
                .state
                .alerts
                .recent(100)
                .unwrap()
                .iter()
                .filter(|a| a.geofence.as_ref().is_some_and(|g| g.trigger.as_str() == "exit"))
                .count()
        };
        let first = Pipeline::start(config(dir.path())).unwrap();
        first.submit_waiting(positions("car-1", 0, 10, 24.94)).unwrap().blocking_recv().unwrap().unwrap();
        first.shutdown().unwrap();
        assert!(dir.path().join("engine-state.json").exists());

        let second = Pipeline::start(config(dir.path())).unwrap();
        assert_eq!(second.state.store.hot_len(), 0, "the shutdown flushed everything, so nothing was replayed");
        let before = second.state.alerts.len();
        second.submit_waiting(positions("car-1", 10, 10, 24.90)).unwrap().blocking_recv().unwrap().unwrap();
        second.state.alerts.wait_for_more_than(before, Duration::from_secs(10));
        assert_eq!(exits(&second), 1);
    }

    /// An acknowledged batch is in the hot window by the time its producer hears about it, for every
    /// batch of a stream (a search right after the acknowledgement found nothing when the hot path
    /// was slower than the producer).
    #[test]
    fn an_acknowledged_batch_is_searchable_when_the_acknowledgement_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = Pipeline::start(config(dir.path())).unwrap();
        let all = observations(2_000);
        for (round, batch) in all.chunks(100).enumerate() {
            let outcome = pipeline.submit_waiting(batch.to_vec()).unwrap().blocking_recv().unwrap().unwrap();
            assert_eq!(outcome.appended, 100);
            assert_eq!(pipeline.state.store.hot_len(), (round + 1) * 100, "round {round}");
        }
        // A repeat is acknowledged as a duplicate, after the group that holds its record.
        let again = pipeline.submit_waiting(all[..1].to_vec()).unwrap().blocking_recv().unwrap().unwrap();
        assert_eq!((again.appended, again.duplicates), (0, 1));
        pipeline.shutdown().unwrap();
    }

    /// Regression (kill -9 test, round 1): after a crash, a search right after start-up missed every
    /// record that was still being replayed on the hot-path thread.
    #[test]
    fn the_unflushed_tail_is_searchable_as_soon_as_start_returns() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pipeline::start(config(dir.path())).unwrap();
        let pending = first.submit_waiting(observations(5_000)).unwrap();
        let outcome = pending.blocking_recv().unwrap().unwrap();
        assert_eq!(outcome.appended, 5_000);
        // A crash: the first pipeline's threads are never joined, and its hot window never flushes.
        std::mem::forget(first);
        let second = Pipeline::start(config(dir.path())).unwrap();
        assert_eq!(second.state.store.hot_len(), 5_000, "every acknowledged record is visible when start returns");
    }
}
