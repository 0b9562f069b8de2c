//! The durable alert log: alerts appended to their own write-ahead log and read back from it, so
//! memory holds two bytes for each alert not yet closed (its status and family, for the queue and
//! closing outages), the repeat keys of the last day's alerts awaiting an operator (for folding
//! repeats), and one small key per alert id.
//!
//! Records: `A`, an alert as raised (with any repeats folded into it in the same batch), and `S`,
//! an alert's whole state after a change (a repeat folded in, a lifecycle step). An index on disk
//! ([`index`]) keeps one summary per alert, pointing at its latest record, so any alert is one read
//! and a page of `GET /v1/alerts` reads summaries and only the alerts it returns. Logs written
//! before `S` existed hold `R` (a repeat) and `T` (a transition) records instead: they are read
//! once, when the index is built, and each alert they changed gets its `S`.
//!
//! Writers (appends, lifecycle steps, closing outages) take turns: each decides on what is stored,
//! writes and syncs the WAL, then applies the change to the index under a short write lock, so
//! readers never wait on a sync.

pub mod index;

use glasshouse_engine::{Alert, AlertFilter, AlertStatus, Repeat, Transition, TransitionError, TransitionRequest};
use glasshouse_model::Timestamp;
use glasshouse_wal::{FsyncPolicy, Lsn, Wal, WalConfig, WalError, WalReader};
use index::{Foldable, HashedFilter, IndexFiles, Located, Open, Summary, family_byte, key, repeat_key_hash};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// Frame tags: a raised alert, an alert's state after a change, and the older per-change records.
const ALERT: u8 = b'A';
const STATE: u8 = b'S';
const TRANSITION: u8 = b'T';
const REPEAT: u8 = b'R';

/// A sighting of the same listed plate within this long of an open alert's last sighting is folded
/// into that alert instead of raising another: a stolen car passing five readers in three minutes is
/// one thing for an operator to handle, not five.
pub const REPEAT_WINDOW_SECS: i64 = 600;

/// How long before the newest sighting an open alert stays foldable in memory. A sighting that
/// arrives later than this (a reader uploading a day-old backlog) raises an alert of its own rather
/// than folding into one last seen a day earlier: one more alert to work, never one lost.
pub const FOLD_MEMORY_SECS: i64 = 24 * 3_600;

/// Who a step the system takes by itself is recorded as (closing a resolved outage).
pub const SYSTEM_ACTOR: &str = "system";

/// Alerts raised, by rule family (`hotlist`, `geofence`, …); rendered by the server at `/metrics`.
pub const RAISED_METRIC: &str = "glasshouse_alerts_raised_total";
/// Sightings folded into an open alert instead of raising another, by rule family.
pub const REPEATS_METRIC: &str = "glasshouse_alert_repeats_total";

/// Gives the alert log's metrics their help text (call once the recorder is installed).
pub fn describe_metrics() {
    metrics::describe_counter!(RAISED_METRIC, "alerts raised, by rule family");
    metrics::describe_counter!(REPEATS_METRIC, "sightings folded into an open alert, by rule family");
}

/// Alerts a live subscriber may fall behind by before it starts missing some.
pub const LIVE_BUFFER_ALERTS_MAX: usize = 4_096;

/// The alert WAL's rotation size: small, so opening (which reads the newest file) stays quick.
const WAL_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Summaries read at a time when a page or a pass walks the index.
const SUMMARIES_PER_READ: u32 = 4_096;

/// Why the alert log failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertLogError {
    /// The underlying log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The index beside it failed; the log takes no more changes until it is reopened (which
    /// replays the WAL into the index).
    #[error("alert index: {0}")]
    Index(#[from] std::io::Error),
    /// An earlier index write failed.
    #[error("the alert log stopped after a failed index write; restart to rebuild its index")]
    Stopped,
    /// No alert has this id.
    #[error("no alert {0}")]
    NotFound(String),
    /// The lifecycle or the evidence rules refuse the step.
    #[error(transparent)]
    Refused(#[from] TransitionError),
    /// The step could not be logged for audit, so it was not taken.
    #[error("audit: {0}")]
    Audit(String),
    /// A stored alert no longer decodes.
    #[error("alert log record {lsn} does not decode: {reason}")]
    Decode {
        /// The record's LSN.
        lsn: u64,
        /// The decode error.
        reason: String,
    },
}

/// What is held in memory, and the index files.
struct State {
    files: IndexFiles,
    /// Id key → the position of the alert with that id, or that a repeat with that id was folded
    /// into.
    ids: HashMap<u64, u32>,
    /// The rare ids whose key another id already has, exactly.
    collided: HashMap<String, u32>,
    /// Alerts not yet closed, by position.
    unclosed: BTreeMap<u32, Open>,
    /// For each repeat key (by [`repeat_key_hash`]), the newest alert awaiting an operator with it,
    /// while its last sighting is within [`FOLD_MEMORY_SECS`] of the newest sighting: older ones
    /// are forgotten, so memory follows the alerts of the last day, not every alert nobody worked.
    foldable: HashMap<u64, Foldable>,
    /// The newest sighting of any alert, and where `foldable` was last trimmed to.
    newest_sighting: Timestamp,
    trimmed_at: Timestamp,
    records_since_seal: u64,
    stopped: bool,
}

impl State {
    fn note_unclosed(&mut self, alert: &Alert, position: u32) {
        let hash = alert.repeat_key().map(|k| repeat_key_hash(&k));
        let open = Open::of(alert);
        match open {
            Some(open) => self.unclosed.insert(position, open),
            None => self.unclosed.remove(&position),
        };
        let Some(hash) = hash else { return };
        if open.is_some_and(Open::awaits_operator) {
            let last_observed_at = alert.last_observed_at();
            self.newest_sighting = self.newest_sighting.max(last_observed_at);
            let entry = self.foldable.entry(hash).or_insert(Foldable { position, last_observed_at });
            if position >= entry.position {
                *entry = Foldable { position, last_observed_at };
            }
        } else if self.foldable.get(&hash).is_some_and(|f| f.position == position) {
            self.foldable.remove(&hash);
        }
    }

    /// Forgets foldable alerts last seen more than [`FOLD_MEMORY_SECS`] before the newest sighting
    /// (at most once an hour of sightings, so the walk costs nothing per alert).
    fn trim_foldable(&mut self) {
        const HOUR: i64 = 3_600 * 1_000_000;
        if self.newest_sighting.0.saturating_sub(self.trimmed_at.0) < HOUR {
            return;
        }
        let horizon = self.newest_sighting.0.saturating_sub(FOLD_MEMORY_SECS * 1_000_000);
        self.foldable.retain(|_, f| f.last_observed_at.0 >= horizon);
        self.trimmed_at = self.newest_sighting;
    }

    /// Records that `id` names the alert at `position`.
    fn note_id(&mut self, id: &str, position: u32) -> std::io::Result<()> {
        let k = key(id);
        self.files.push_key(k, position)?;
        if self.ids.get(&k).is_some_and(|p| *p != position) {
            self.collided.insert(id.to_owned(), position);
        } else {
            self.ids.insert(k, position);
        }
        Ok(())
    }

    /// Stores a new alert's summary and ids; returns its position.
    fn add(&mut self, alert: &Alert, at: Located) -> std::io::Result<u32> {
        let position = self.files.push(Summary::of(alert, at))?;
        self.note_id(&alert.id, position)?;
        for repeat in &alert.repeats {
            self.note_id(&repeat.folded_alert_id, position)?;
        }
        self.note_unclosed(alert, position);
        Ok(position)
    }

    /// Points the alert at `position` at its new state, recording ids folded into it since.
    fn update(&mut self, alert: &Alert, position: u32, at: Located, new_ids: &[String]) -> std::io::Result<()> {
        self.files.set(position, Summary::of(alert, at))?;
        for id in new_ids {
            self.note_id(id, position)?;
        }
        self.note_unclosed(alert, position);
        Ok(())
    }

    fn seal(&mut self, next_lsn: Lsn) -> std::io::Result<()> {
        self.trim_foldable();
        let open = self.unclosed.iter().map(|(p, o)| (*p, *o)).collect();
        let foldable = self.foldable.iter().map(|(h, f)| (*h, *f)).collect();
        self.files.seal(next_lsn, open, foldable)?;
        self.records_since_seal = 0;
        Ok(())
    }
}

/// Durable, deduplicated alerts with a live feed.
pub struct AlertLog {
    dir: PathBuf,
    /// Serialises writers and owns the WAL.
    writer: Mutex<Wal>,
    state: RwLock<State>,
    live: broadcast::Sender<Alert>,
    /// How many alerts are stored, signalled on every raise: delivery workers wait on it.
    raised: (Mutex<usize>, Condvar),
}

fn decode(tag_and_json: &[u8], lsn: Lsn) -> Result<Alert, AlertLogError> {
    match tag_and_json.split_first() {
        Some((&ALERT | &STATE, json)) => serde_json::from_slice(json).map_err(|e| AlertLogError::Decode { lsn, reason: e.to_string() }),
        _ => Err(AlertLogError::Decode { lsn, reason: "the index points at a record that is not an alert".into() }),
    }
}

fn record(tag: u8, alert: &Alert) -> Vec<u8> {
    [&[tag][..], &serde_json::to_vec(alert).expect("alerts serialise")].concat()
}

impl AlertLog {
    /// Opens the log in `dir`. Reads the WAL only after the index's seal; builds the index from the
    /// whole WAL when there is none (a log from before it, or one lost), once.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<AlertLog, AlertLogError> {
        let index_dir = dir.join("index");
        let sync = fsync == FsyncPolicy::Always;
        let config = WalConfig { fsync, file_bytes_max: WAL_FILE_BYTES, ..WalConfig::new(dir) };
        let sealed = match IndexFiles::read_seal(&index_dir) {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(error = %e, "alert index seal unreadable; rebuilding the index from the log");
                None
            }
        };
        let opened = match sealed {
            Some(sealed) => match AlertLog::open_sealed(dir, &index_dir, config.clone(), sealed, sync) {
                Ok(opened) => Some(opened),
                Err(AlertLogError::Index(e)) => {
                    tracing::warn!(error = %e, "alert index unusable; rebuilding it from the log");
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let (wal, mut state) = match opened {
            Some(opened) => opened,
            None => AlertLog::rebuild(&index_dir, config, sync)?,
        };
        state.seal(wal.next_lsn())?;
        let (live, _) = broadcast::channel(LIVE_BUFFER_ALERTS_MAX);
        let raised = (Mutex::new(state.files.alerts() as usize), Condvar::new());
        Ok(AlertLog { dir: dir.to_owned(), writer: Mutex::new(wal), state: RwLock::new(state), live, raised })
    }

    fn empty_state(files: IndexFiles) -> State {
        State {
            files,
            ids: HashMap::new(),
            collided: HashMap::new(),
            unclosed: BTreeMap::new(),
            foldable: HashMap::new(),
            newest_sighting: Timestamp(i64::MIN),
            trimmed_at: Timestamp(i64::MIN),
            records_since_seal: 0,
            stopped: false,
        }
    }

    /// Opens from a seal: the files cut back to it, the ids read, the WAL after it replayed.
    fn open_sealed(
        dir: &Path,
        index_dir: &Path,
        config: WalConfig,
        sealed: index::Sealed,
        sync: bool,
    ) -> Result<(Wal, State), AlertLogError> {
        let files = IndexFiles::open(index_dir, Some(&sealed), sync)?;
        let mut state = AlertLog::empty_state(files);
        let mut reader = WalReader::new(dir);
        for (k, position) in state.files.all_keys()? {
            if state.ids.get(&k).is_some_and(|p| *p != position) {
                // Two ids with one key: find which id of the later alert has it.
                let alert = load(&state, &mut reader, position)?;
                let ids = std::iter::once(alert.id.clone()).chain(alert.repeats.iter().map(|r| r.folded_alert_id.clone()));
                for id in ids.filter(|id| key(id) == k) {
                    state.collided.insert(id, position);
                }
            } else {
                state.ids.insert(k, position);
            }
        }
        state.unclosed.extend(sealed.open);
        for (hash, foldable) in sealed.foldable {
            state.newest_sighting = state.newest_sighting.max(foldable.last_observed_at);
            state.foldable.insert(hash, foldable);
        }
        state.trimmed_at = state.newest_sighting;
        let mut failure: Option<AlertLogError> = None;
        let wal = Wal::open_positioned(config, sealed.next_lsn.saturating_sub(1), |position, lsn, payload| {
            if failure.is_some() {
                return;
            }
            let at = Located { lsn, position };
            let applied = (|| -> Result<(), AlertLogError> {
                let alert = match payload.split_first() {
                    Some((&ALERT | &STATE, _)) => decode(payload, lsn)?,
                    _ => return Err(AlertLogError::Decode { lsn, reason: "only raised alerts and states follow a seal".into() }),
                };
                match find(&state, &mut reader, &alert.id)? {
                    Some((stored, position)) if payload[0] == STATE && stored.id == alert.id => {
                        let known: HashSet<String> = stored.repeats.iter().map(|r| r.folded_alert_id.clone()).collect();
                        let new_ids: Vec<String> =
                            alert.repeats.iter().map(|r| r.folded_alert_id.clone()).filter(|id| !known.contains(id)).collect();
                        state.update(&alert, position, at, &new_ids)?;
                    }
                    Some(_) => return Err(AlertLogError::Decode { lsn, reason: format!("alert {} raised twice", alert.id) }),
                    None if payload[0] == ALERT => {
                        state.add(&alert, at)?;
                    }
                    None => return Err(AlertLogError::Decode { lsn, reason: format!("state of unknown alert {}", alert.id) }),
                }
                state.records_since_seal += 1;
                Ok(())
            })();
            if let Err(e) = applied {
                failure = Some(e);
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok((wal, state)),
        }
    }

    /// Builds the index from the whole WAL (any record kind), giving each alert changed by older
    /// per-change records an `S` record of its state, so every alert is one record from now on.
    fn rebuild(index_dir: &Path, config: WalConfig, sync: bool) -> Result<(Wal, State), AlertLogError> {
        let mut alerts: Vec<(Alert, Located, bool)> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut failure = None;
        let mut wal = Wal::open_positioned(config, 0, |position, lsn, payload| {
            let at = Located { lsn, position };
            let fail = |reason: String| Some(AlertLogError::Decode { lsn, reason });
            let applied = match payload.split_first() {
                Some((&ALERT, _)) => decode(payload, lsn).map(|a| {
                    by_id.insert(a.id.clone(), alerts.len());
                    alerts.push((a, at, false));
                }),
                Some((&STATE, _)) => decode(payload, lsn).map(|a| match by_id.get(&a.id) {
                    Some(&i) => alerts[i] = (a, at, false),
                    None => failure = failure.take().or(fail(format!("state of unknown alert {}", a.id))),
                }),
                Some((&REPEAT, json)) => serde_json::from_slice::<Repeat>(json).map_err(|e| e.to_string()).map_or_else(
                    |e| Err(AlertLogError::Decode { lsn, reason: e }),
                    |r| {
                        match by_id.get(&r.alert_id) {
                            Some(&i) => {
                                alerts[i].0.repeats.push(r);
                                alerts[i].2 = true;
                            }
                            None => failure = failure.take().or(fail(format!("repeat for unknown alert {}", r.alert_id))),
                        }
                        Ok(())
                    },
                ),
                Some((&TRANSITION, json)) => serde_json::from_slice::<Transition>(json).map_err(|e| e.to_string()).map_or_else(
                    |e| Err(AlertLogError::Decode { lsn, reason: e }),
                    |t| {
                        match by_id.get(&t.alert_id) {
                            Some(&i) if alerts[i].0.status == t.from => {
                                alerts[i].0.apply(t);
                                alerts[i].2 = true;
                            }
                            _ => failure = failure.take().or(fail(format!("transition for unknown or moved alert {}", t.alert_id))),
                        }
                        Ok(())
                    },
                ),
                _ => Err(AlertLogError::Decode { lsn, reason: "unknown record tag".into() }),
            };
            if let Err(e) = applied {
                failure = failure.take().or(Some(e));
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let mut changed = false;
        for (alert, at, dirty) in alerts.iter_mut().filter(|(_, _, dirty)| *dirty) {
            let (lsn, position) = wal.append_positioned(&record(STATE, alert))?;
            (*at, *dirty, changed) = (Located { lsn, position }, false, true);
        }
        if changed {
            wal.commit()?;
        }
        let mut state = AlertLog::empty_state(IndexFiles::open(index_dir, None, sync)?);
        for (alert, at, _) in &alerts {
            state.add(alert, *at)?;
        }
        tracing::info!(alerts = alerts.len(), "alert index built from the log");
        Ok((wal, state))
    }

    /// Stores new alerts durably, then publishes them live. Alerts whose id is already stored are
    /// skipped (a replayed observation raises the same ids). A sighting of what an open alert is about
    /// within [`REPEAT_WINDOW_SECS`] is folded into it as a repeat. Returns how many alerts were raised.
    pub fn append(&self, alerts: Vec<Alert>) -> Result<usize, AlertLogError> {
        let mut wal = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut reader = WalReader::new(&self.dir);
        // Decide, on what is stored: new alerts (with repeats of each other folded in), and
        // stored alerts with repeats to fold in.
        let mut raised: Vec<Alert> = Vec::new();
        let mut folded: BTreeMap<u32, (Alert, Vec<String>)> = BTreeMap::new();
        {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.stopped {
                return Err(AlertLogError::Stopped);
            }
            let mut batch_ids = HashSet::new();
            for alert in alerts {
                if !batch_ids.insert(alert.id.clone()) || find(&state, &mut reader, &alert.id)?.is_some() {
                    continue;
                }
                let Some(key) = alert.repeat_key() else {
                    raised.push(alert);
                    continue;
                };
                let within = |last: Timestamp| (alert.observed_at.0 - last.0).abs() <= REPEAT_WINDOW_SECS * 1_000_000;
                let repeat = |into: &Alert| Repeat {
                    alert_id: into.id.clone(),
                    folded_alert_id: alert.id.clone(),
                    observation_id: alert.observation_id.clone(),
                    device_id: alert.device_id.clone(),
                    observed_at: alert.observed_at,
                    lat: alert.lat,
                    lon: alert.lon,
                };
                // The newest open alert about the same thing: one raised earlier in this batch, or
                // a stored one awaiting an operator.
                if let Some(open) = raised.iter_mut().rev().find(|a| a.repeat_key().as_ref() == Some(&key)) {
                    if within(open.last_observed_at()) {
                        let folded_in = repeat(open);
                        open.repeats.push(folded_in);
                        continue;
                    }
                } else if let Some(foldable) = state.foldable.get(&repeat_key_hash(&key)).copied() {
                    let position = foldable.position;
                    let last = folded.get(&position).map_or(foldable.last_observed_at, |(a, _)| a.last_observed_at());
                    if within(last) {
                        let into = match folded.entry(position) {
                            std::collections::btree_map::Entry::Occupied(stored) => Some(stored.into_mut()),
                            std::collections::btree_map::Entry::Vacant(slot) => {
                                // The key is a hash: fold only into an alert about the same thing.
                                let stored = load(&state, &mut reader, position)?;
                                (stored.repeat_key().as_ref() == Some(&key)).then(|| slot.insert((stored, Vec::new())))
                            }
                        };
                        if let Some((into, ids)) = into {
                            let folded_in = repeat(into);
                            into.repeats.push(folded_in);
                            ids.push(alert.id.clone());
                            continue;
                        }
                    }
                }
                raised.push(alert);
            }
        }
        if raised.is_empty() && folded.is_empty() {
            return Ok(0);
        }
        let mut written = Vec::with_capacity(raised.len());
        for alert in &raised {
            written.push(wal.append_positioned(&record(ALERT, alert))?);
        }
        let mut states = Vec::with_capacity(folded.len());
        for (alert, _) in folded.values() {
            states.push(wal.append_positioned(&record(STATE, alert))?);
        }
        wal.commit()?;
        let next_lsn = wal.next_lsn();
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            let applied = (|| -> std::io::Result<()> {
                for (alert, (lsn, position)) in raised.iter().zip(written) {
                    state.add(alert, Located { lsn, position })?;
                }
                for ((position, (alert, ids)), (lsn, at)) in folded.iter().zip(states) {
                    state.update(alert, *position, Located { lsn, position: at }, ids)?;
                }
                state.records_since_seal += (raised.len() + folded.len()) as u64;
                if state.records_since_seal >= index::SEAL_EVERY_RECORDS {
                    state.seal(next_lsn)?;
                }
                Ok(())
            })();
            if let Err(e) = applied {
                state.stopped = true;
                return Err(e.into());
            }
        }
        // Counted once durable. A repeat folded into an alert of the same batch is in its `repeats`.
        for alert in &raised {
            metrics::counter!(RAISED_METRIC, "rule" => alert.rule.clone()).increment(1);
            if !alert.repeats.is_empty() {
                metrics::counter!(REPEATS_METRIC, "rule" => alert.rule.clone()).increment(alert.repeats.len() as u64);
            }
            // No subscribers is normal (nobody has the console open).
            let _ = self.live.send(alert.clone());
        }
        // (A folded repeat is not a new alert: outbound sinks are not told again.)
        for (alert, ids) in folded.into_values() {
            metrics::counter!(REPEATS_METRIC, "rule" => alert.rule.clone()).increment(ids.len() as u64);
            let _ = self.live.send(alert);
        }
        let (lock, signal) = &self.raised;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = self.len();
        signal.notify_all();
        Ok(raised.len())
    }

    /// Up to `limit` alerts in the order they were raised, starting at position `from` (0 = the
    /// first ever). Positions are stable across restarts.
    pub fn raised_from(&self, from: usize, limit: usize) -> Result<Vec<Alert>, AlertLogError> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut reader = WalReader::new(&self.dir);
        let end = from.saturating_add(limit).min(state.files.alerts() as usize);
        (from..end).map(|p| load(&state, &mut reader, p as u32)).collect()
    }

    /// Waits until more than `count` alerts are stored or `timeout` passes; returns how many are.
    pub fn wait_for_more_than(&self, count: usize, timeout: Duration) -> usize {
        let (lock, signal) = &self.raised;
        let stored = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (stored, _) = signal.wait_timeout_while(stored, timeout, |n| *n <= count).unwrap_or_else(|p| p.into_inner());
        *stored
    }

    /// A page of the alerts `filter` keeps, newest first: those raised before position `before`
    /// (`None`: from the newest), at most `limit`. Also returns the position to pass as `before`
    /// for the next page, when a further alert is kept. Positions only grow as alerts are raised,
    /// so following the positions returns each alert once even while new ones arrive (those land
    /// ahead of the first page, where the live stream shows them).
    pub fn page(&self, filter: &AlertFilter, before: Option<usize>, limit: usize) -> Result<(Vec<Alert>, Option<usize>), AlertLogError> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut reader = WalReader::new(&self.dir);
        let hashed = HashedFilter::of(filter);
        let end = before.unwrap_or(usize::MAX).min(state.files.alerts() as usize) as u32;
        let mut kept: Vec<(u32, Alert)> = Vec::new();
        let mut consider = |position: u32, summary: &Summary| -> Result<bool, AlertLogError> {
            if summary.may_pass(filter, &hashed) {
                let alert = load_at(&mut reader, summary.at)?;
                if filter.keeps(&alert) {
                    kept.push((position, alert));
                }
            }
            // One more than the page tells whether a further page exists.
            Ok(kept.len() > limit)
        };
        if !filter.statuses.is_empty() && !filter.statuses.contains(&AlertStatus::Closed) {
            // Only alerts not yet closed can pass: walk those, not the whole history.
            for &position in state.unclosed.range(..end).map(|(p, _)| p).rev() {
                if consider(position, &state.files.get(position)?)? {
                    break;
                }
            }
        } else {
            let mut to = end;
            'walk: while to > 0 {
                let from = to.saturating_sub(SUMMARIES_PER_READ);
                for (offset, summary) in state.files.range(from, to)?.iter().enumerate().rev() {
                    if consider(from + offset as u32, summary)? {
                        break 'walk;
                    }
                }
                to = from;
            }
        }
        let next = if kept.len() > limit {
            kept.truncate(limit);
            kept.last().map(|(p, _)| *p as usize)
        } else {
            None
        };
        Ok((kept.into_iter().map(|(_, a)| a).collect(), next))
    }

    /// The newest `limit` alerts, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<Alert>, AlertLogError> {
        Ok(self.page(&AlertFilter::default(), None, limit)?.0)
    }

    /// Calls `each` with every alert in the order raised, reading a part at a time (the read lock
    /// is held for one part), so the log is never in memory whole.
    pub fn for_each(&self, mut each: impl FnMut(&Alert)) -> Result<(), AlertLogError> {
        let mut from = 0u32;
        loop {
            let part = {
                let state = self.state.read().unwrap_or_else(|p| p.into_inner());
                let to = (from + SUMMARIES_PER_READ).min(state.files.alerts() as u32);
                if from >= to {
                    return Ok(());
                }
                let mut reader = WalReader::new(&self.dir);
                let summaries = state.files.range(from, to)?;
                let part = summaries.iter().map(|s| load_at(&mut reader, s.at)).collect::<Result<Vec<_>, _>>()?;
                from = to;
                part
            };
            part.iter().for_each(&mut each);
        }
    }

    /// The alert with this id.
    pub fn get(&self, id: &str) -> Result<Option<Alert>, AlertLogError> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut reader = WalReader::new(&self.dir);
        Ok(find(&state, &mut reader, id)?.filter(|(alert, _)| alert.id == id).map(|(alert, _)| alert))
    }

    /// Moves an alert along its lifecycle. `audit` runs after the step is checked and before it is
    /// stored: if it fails, nothing changes. The updated alert is stored durably, then published live.
    pub fn transition(
        &self,
        id: &str,
        request: &TransitionRequest,
        actor: &str,
        audit: impl FnOnce(&Alert, &Transition) -> Result<(), String>,
    ) -> Result<Alert, AlertLogError> {
        // One writer at a time, from check through audit, append and apply, so two operators
        // cannot both move the same alert from the same status.
        let mut wal = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (mut alert, position) = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.stopped {
                return Err(AlertLogError::Stopped);
            }
            let mut reader = WalReader::new(&self.dir);
            find(&state, &mut reader, id)?.filter(|(alert, _)| alert.id == id).ok_or_else(|| AlertLogError::NotFound(id.to_owned()))?
        };
        let transition = alert.check_transition(request, actor, Timestamp::now())?;
        audit(&alert, &transition).map_err(AlertLogError::Audit)?;
        alert.apply(transition);
        self.store_states(&mut wal, vec![(position, alert.clone())])?;
        let _ = self.live.send(alert.clone());
        Ok(alert)
    }

    /// Writes new states of stored alerts durably and points the index at them.
    fn store_states(&self, wal: &mut Wal, changed: Vec<(u32, Alert)>) -> Result<(), AlertLogError> {
        let mut written = Vec::with_capacity(changed.len());
        for (_, alert) in &changed {
            written.push(wal.append_positioned(&record(STATE, alert))?);
        }
        wal.commit()?;
        let next_lsn = wal.next_lsn();
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let applied = (|| -> std::io::Result<()> {
            for ((position, alert), (lsn, at)) in changed.iter().zip(written) {
                state.update(alert, *position, Located { lsn, position: at }, &[])?;
            }
            state.records_since_seal += changed.len() as u64;
            if state.records_since_seal >= index::SEAL_EVERY_RECORDS {
                state.seal(next_lsn)?;
            }
            Ok(())
        })();
        if let Err(e) = applied {
            state.stopped = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Closes, as the system, each alert of family `rule` not yet closed for which `resolved` holds
    /// (a silent device that spoke again), recording why in its history. Returns the alerts closed.
    pub fn close_resolved(
        &self,
        rule: &str,
        note: &str,
        now: Timestamp,
        resolved: impl Fn(&Alert) -> bool,
    ) -> Result<Vec<Alert>, AlertLogError> {
        let candidates = |state: &State| -> Result<Vec<(u32, Alert)>, AlertLogError> {
            let mut reader = WalReader::new(&self.dir);
            let family = family_byte(rule);
            let positions: Vec<u32> = state.unclosed.iter().filter(|(_, o)| o.family == family).map(|(p, _)| *p).collect();
            let mut found = Vec::new();
            for position in positions {
                let alert = load(state, &mut reader, position)?;
                if alert.rule == rule && resolved(&alert) {
                    found.push((position, alert));
                }
            }
            Ok(found)
        };
        // Look first without taking the writer's turn: most checks close nothing.
        if candidates(&self.state.read().unwrap_or_else(|p| p.into_inner()))?.is_empty() {
            return Ok(Vec::new());
        }
        let mut wal = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let closing = candidates(&self.state.read().unwrap_or_else(|p| p.into_inner()))?;
        if closing.is_empty() {
            return Ok(Vec::new());
        }
        let closed: Vec<(u32, Alert)> = closing
            .into_iter()
            .map(|(position, mut alert)| {
                let transition = Transition {
                    alert_id: alert.id.clone(),
                    from: alert.status,
                    to: AlertStatus::Closed,
                    actor: SYSTEM_ACTOR.into(),
                    at: now,
                    disposition: None,
                    visual_check: false,
                    source_check: false,
                    note: Some(note.into()),
                };
                alert.apply(transition);
                (position, alert)
            })
            .collect();
        self.store_states(&mut wal, closed.clone())?;
        for (_, alert) in &closed {
            let _ = self.live.send(alert.clone());
        }
        Ok(closed.into_iter().map(|(_, a)| a).collect())
    }

    /// The observations that confirmed alerts observed at or after `since` rest on (their own and
    /// their repeats'). A dismissed or unworked alert keeps nothing past its reads' window: a
    /// misread is not evidence.
    pub fn confirmed_evidence_ids(&self, since: Timestamp) -> Result<HashSet<String>, AlertLogError> {
        let mut ids = HashSet::new();
        self.for_each(|a| {
            if a.observed_at >= since && a.history.iter().any(|t| t.to == AlertStatus::Confirmed) {
                ids.insert(a.observation_id.clone());
                ids.extend(a.repeats.iter().map(|r| r.observation_id.clone()));
            }
        })?;
        Ok(ids)
    }

    /// Number of stored alerts.
    pub fn len(&self) -> usize {
        self.state.read().unwrap_or_else(|p| p.into_inner()).files.alerts() as usize
    }

    /// True when no alert is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A live feed of alerts stored from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.live.subscribe()
    }
}

impl Drop for AlertLog {
    /// Seals the index on the way out, so the next open replays nothing. A failure only means the
    /// next open replays more.
    fn drop(&mut self) {
        let next_lsn = self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).next_lsn();
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if !state.stopped
            && let Err(e) = state.seal(next_lsn)
        {
            tracing::warn!(error = %e, "alert index not sealed on close");
        }
    }
}

/// The alert whose latest state is at `at`.
fn load_at(reader: &mut WalReader, at: Located) -> Result<Alert, AlertLogError> {
    decode(&reader.read(at.position, at.lsn)?, at.lsn)
}

/// The alert at `position`.
fn load(state: &State, reader: &mut WalReader, position: u32) -> Result<Alert, AlertLogError> {
    load_at(reader, state.files.get(position)?.at)
}

/// The stored alert that `id` names (its own id, or a repeat folded into it) and its position.
fn find(state: &State, reader: &mut WalReader, id: &str) -> Result<Option<(Alert, u32)>, AlertLogError> {
    let names = |alert: &Alert| alert.id == id || alert.repeats.iter().any(|r| r.folded_alert_id == id);
    if let Some(&position) = state.ids.get(&key(id)) {
        let alert = load(state, reader, position)?;
        if names(&alert) {
            return Ok(Some((alert, position)));
        }
    }
    match state.collided.get(id) {
        Some(&position) => Ok(Some((load(state, reader, position)?, position))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_engine::AlertStatus;
    use glasshouse_model::Timestamp;

    /// A hit on ABC123 in list `hl`, listed until a year from now.
    fn hit() -> glasshouse_engine::HotlistHit {
        glasshouse_engine::HotlistHit {
            plate: "ABC123".into(),
            matched_plate: "ABC123".into(),
            from_candidate: false,
            region: None,
            hotlist_id: "hl".into(),
            hotlist_name: "hl".into(),
            entry_plate: "ABC123".into(),
            entry_region: None,
            reason: "stolen_vehicle".into(),
            entry_expires_at: Timestamp::now().plus_secs(365 * 86_400),
            match_policy: Default::default(),
            distance: 0,
            diffs: Vec::new(),
            image_ref: None,
            vehicle: Vec::new(),
        }
    }

    fn alert(id: &str) -> Alert {
        Alert {
            id: id.into(),
            rule: "hotlist".into(),
            status: AlertStatus::New,
            priority: 2,
            observed_at: Timestamp(1),
            raised_at: Timestamp(2),
            observation_id: "o".into(),
            device_id: "d".into(),
            lat: 60.0,
            lon: 25.0,
            plate: Some("ABC123".into()),
            hotlist_id: Some("hl".into()),
            hit: None,
            threshold: None,
            situation: None,
            geofence: None,
            silence: None,
            history: Vec::new(),
            repeats: Vec::new(),
            retroactive: false,
        }
    }

    #[test]
    fn alerts_are_durable_deduplicated_and_published() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        let mut live = log.subscribe();
        assert_eq!(log.append(vec![alert("a"), alert("b")]).unwrap(), 2);
        assert_eq!(log.append(vec![alert("b"), alert("c")]).unwrap(), 1);
        assert_eq!(live.try_recv().unwrap().id, "a");
        drop(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        assert_eq!(log.recent(10).unwrap().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), vec!["c", "b", "a"]);
        assert_eq!(log.append(vec![alert("a")]).unwrap(), 0);
    }

    #[test]
    fn paging_returns_each_kept_alert_once_while_new_ones_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::sync::Arc::new(AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap());
        let numbered = |i: usize| {
            let mut a = alert(&format!("a-{i}"));
            a.status = if i.is_multiple_of(3) { AlertStatus::Closed } else { AlertStatus::New };
            a
        };
        log.append((0..500).map(numbered).collect()).unwrap();
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 500..1_500 {
                    log.append(vec![numbered(i)]).unwrap();
                }
            })
        };
        let open = AlertFilter { statuses: vec![AlertStatus::New], ..AlertFilter::default() };
        let (mut seen, mut before, mut first_page_top) = (Vec::new(), None, None);
        loop {
            let (page, next) = log.page(&open, before, 7).unwrap();
            assert!(page.iter().all(|a| a.status == AlertStatus::New), "only what the filter keeps");
            first_page_top = first_page_top.or(page.first().map(|a| a.id.clone()));
            seen.extend(page.into_iter().map(|a| a.id));
            match next {
                Some(position) => before = Some(position),
                None => break,
            }
        }
        writer.join().unwrap();
        // Every open alert raised up to the first page's newest, each exactly once, newest first.
        let top: usize = first_page_top.unwrap()[2..].parse().unwrap();
        let expected: Vec<String> = (0..=top).rev().filter(|i| i % 3 != 0).map(|i| format!("a-{i}")).collect();
        assert_eq!(seen, expected);
        let (empty, none) = log.page(&AlertFilter { device_id: Some("elsewhere".into()), ..AlertFilter::default() }, None, 10).unwrap();
        assert!(empty.is_empty() && none.is_none());
    }

    #[test]
    fn repeats_within_the_window_fold_into_the_open_alert_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        let sighting = |id: &str, secs: i64| {
            let mut a = alert(id);
            a.observed_at = Timestamp(secs * 1_000_000);
            a.hit = Some(hit());
            a
        };
        assert_eq!(log.append(vec![sighting("a", 0), sighting("b", 120)]).unwrap(), 1);
        assert_eq!(log.append(vec![sighting("c", 500)]).unwrap(), 0);
        // Past the window from the last sighting (500 s): a new alert.
        assert_eq!(log.append(vec![sighting("d", 500 + REPEAT_WINDOW_SECS + 1)]).unwrap(), 1);
        // A replay of a folded sighting is not folded twice.
        assert_eq!(log.append(vec![sighting("b", 120)]).unwrap(), 0);
        let a = log.get("a").unwrap().unwrap();
        assert_eq!(a.repeats.iter().map(|r| r.folded_alert_id.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        drop(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        assert_eq!(log.get("a").unwrap().unwrap().repeats.len(), 2);
        assert_eq!(log.len(), 2);
        assert_eq!(log.append(vec![sighting("c", 500)]).unwrap(), 0, "folded ids survive a restart");
    }

    #[test]
    fn alerts_nobody_works_are_foldable_for_a_day_and_then_cost_two_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap();
        // Three days of hits on 300 listed plates, one every 15 minutes, none worked.
        const QUARTER: i64 = 900;
        let sighting = |id: String, plate: usize, secs: i64| {
            let mut a = alert(&id);
            a.observed_at = Timestamp(secs * 1_000_000);
            a.hit = Some(glasshouse_engine::HotlistHit { entry_plate: format!("P{plate:03}"), ..hit() });
            a
        };
        for i in 0..288 {
            log.append(vec![sighting(format!("a-{i}"), i, i as i64 * QUARTER)]).unwrap();
        }
        let newest = 287 * QUARTER;
        let foldable_of = |log: &AlertLog| {
            let state = log.state.read().unwrap();
            (state.unclosed.len(), state.foldable.len())
        };
        let reopen = |log: AlertLog| {
            drop(log);
            AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap()
        };
        let log = reopen(log);
        let (open, foldable) = foldable_of(&log);
        assert_eq!(open, 288, "every alert stays in the queue");
        // Within a day of the newest sighting, and at most an hour's more before the next trim.
        let day = (FOLD_MEMORY_SECS / QUARTER) as usize;
        assert!((day..=day + 4).contains(&foldable), "{foldable} foldable, a day is {day}");
        // A late sighting of a plate last seen two days before the newest raises its own alert…
        assert_eq!(log.append(vec![sighting("late".into(), 10, 10 * QUARTER + 60)]).unwrap(), 1);
        // …and one of a plate seen within the day folds into its alert, after the restart too.
        assert_eq!(log.append(vec![sighting("again".into(), 280, 280 * QUARTER + 60)]).unwrap(), 0);
        assert_eq!(log.get("a-280").unwrap().unwrap().repeats.len(), 1);
        assert!(newest - 280 * QUARTER < FOLD_MEMORY_SECS);
        // Working an alert takes it out of what can be folded into.
        let ack =
            TransitionRequest { to: AlertStatus::Acknowledged, disposition: None, visual_check: false, source_check: false, note: None };
        let dismiss = TransitionRequest { to: AlertStatus::Dismissed, disposition: Some("misread".into()), ..ack.clone() };
        log.transition("a-285", &ack, "op", |_, _| Ok(())).unwrap();
        log.transition("a-285", &dismiss, "op", |_, _| Ok(())).unwrap();
        assert_eq!(log.append(vec![sighting("after".into(), 285, 285 * QUARTER + 60)]).unwrap(), 1);
    }

    proptest::proptest! {
        #[test]
        fn a_seal_reads_back_as_written(
            counts in (0u64..1_000_000, 0u64..1_000_000, 1u64..u64::MAX),
            open in proptest::collection::vec((proptest::prelude::any::<u32>(), 0usize..4, proptest::prelude::any::<u8>()), 0..50),
            foldable in proptest::collection::vec(proptest::prelude::any::<(u64, u32, i64)>(), 0..50),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let sealed = index::Sealed {
                alerts: counts.0,
                keys: counts.1,
                next_lsn: counts.2,
                open: open.into_iter().map(|(p, s, family)| (p, Open { status: AlertStatus::ALL[s], family })).collect(),
                foldable: foldable.into_iter().map(|(h, position, at)| (h, Foldable { position, last_observed_at: Timestamp(at) })).collect(),
            };
            let bytes = sealed.to_bytes();
            proptest::prop_assert_eq!(index::Sealed::from_bytes(&bytes).unwrap(), sealed.clone());
            // A torn or damaged seal is refused (and the index rebuilt), never misread.
            let torn = &bytes[..cut.index(bytes.len())];
            proptest::prop_assert!(index::Sealed::from_bytes(torn).is_err());
        }
    }

    #[test]
    fn a_seal_of_the_format_before_is_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = busy_log(dir.path(), 600);
        let before = answers(&log);
        drop(log);
        // Format 1: one JSON object, every unclosed alert's strings in it.
        let old = r#"{"alerts":600,"keys":600,"next_lsn":1,"unclosed":[{"position":0,"status":"new","rule":"hotlist","repeat_key":null,"last_observed_at":0}]}"#;
        std::fs::write(dir.path().join("index/sealed"), old).unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap();
        assert_eq!(answers(&log), before);
        assert!(index::IndexFiles::read_seal(&dir.path().join("index")).unwrap().is_some(), "sealed again in the new format");
    }

    #[test]
    fn transitions_are_durable_published_and_refused_when_audit_fails() {
        use glasshouse_engine::{AlertStatus, TransitionRequest};
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        log.append(vec![alert("a")]).unwrap();
        let mut live = log.subscribe();
        let ack =
            TransitionRequest { to: AlertStatus::Acknowledged, disposition: None, visual_check: false, source_check: false, note: None };
        let refused = log.transition("a", &ack, "op", |_, _| Err("log down".into()));
        assert!(matches!(refused, Err(AlertLogError::Audit(_))));
        assert_eq!(log.get("a").unwrap().unwrap().status, AlertStatus::New);
        let updated = log.transition("a", &ack, "op", |_, _| Ok(())).unwrap();
        assert_eq!(updated.status, AlertStatus::Acknowledged);
        assert_eq!(live.try_recv().unwrap().status, AlertStatus::Acknowledged);
        assert!(matches!(log.transition("missing", &ack, "op", |_, _| Ok(())), Err(AlertLogError::NotFound(_))));
        drop(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        let a = log.get("a").unwrap().unwrap();
        assert_eq!((a.status, a.history.len(), a.history[0].actor.as_str()), (AlertStatus::Acknowledged, 1, "op"));
    }

    /// Alerts of every shape the log keeps: plain ones, repeats folded in, each lifecycle step.
    fn busy_log(dir: &Path, alerts: usize) -> AlertLog {
        let log = AlertLog::open(dir, FsyncPolicy::Never).unwrap();
        let ack =
            TransitionRequest { to: AlertStatus::Acknowledged, disposition: None, visual_check: false, source_check: false, note: None };
        for i in 0..alerts {
            let mut a = alert(&format!("al-{i}"));
            a.device_id = format!("lpr-{}", i % 5);
            a.observed_at = Timestamp(i as i64 * 1_000_000);
            log.append(vec![a]).unwrap();
            if i % 4 == 1 {
                log.transition(&format!("al-{i}"), &ack, "op", |_, _| Ok(())).unwrap();
            }
        }
        log
    }

    /// What the log answers: every alert in raise order, pages under three filters, and lookups.
    fn answers(log: &AlertLog) -> (Vec<Alert>, Vec<Vec<String>>, Vec<Option<Alert>>) {
        let mut all = Vec::new();
        log.for_each(|a| all.push(a.clone())).unwrap();
        assert_eq!(log.raised_from(0, usize::MAX).unwrap(), all);
        let filters = [
            AlertFilter::default(),
            AlertFilter { statuses: vec![AlertStatus::Acknowledged], ..AlertFilter::default() },
            AlertFilter { device_id: Some("lpr-3".into()), statuses: vec![AlertStatus::New], ..AlertFilter::default() },
        ];
        let pages = filters
            .iter()
            .map(|f| {
                let (mut ids, mut before) = (Vec::new(), None);
                loop {
                    let (page, next) = log.page(f, before, 50).unwrap();
                    ids.extend(page.into_iter().map(|a| a.id));
                    match next {
                        Some(p) => before = Some(p),
                        None => break ids,
                    }
                }
            })
            .collect();
        let lookups = ["al-0", "al-1", "al-1000", "nothing"].iter().map(|id| log.get(id).unwrap()).collect();
        (all, pages, lookups)
    }

    #[test]
    fn restarts_crashes_and_a_lost_index_answer_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let log = busy_log(dir.path(), index::SEAL_EVERY_RECORDS as usize + 700);
        let before = answers(&log);
        assert_eq!(before.1[1].len(), (index::SEAL_EVERY_RECORDS as usize + 700).div_ceil(4), "every fourth acknowledged");
        assert!(before.1[2].iter().all(|id| id.ends_with('3') || id.ends_with('8')));
        // As a crash leaves it: written past the last seal, not sealed.
        std::mem::forget(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap();
        assert_eq!(answers(&log), before);
        assert_eq!(log.append(vec![alert("al-5")]).unwrap(), 0, "ids replayed from the tail are known");
        drop(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap();
        assert_eq!(answers(&log), before);
        drop(log);
        std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap();
        assert_eq!(answers(&log), before);
    }

    #[test]
    fn a_log_of_per_change_records_is_read_once_and_then_kept_as_states() {
        let dir = tempfile::tempdir().unwrap();
        // Written the way the log wrote before it kept states: an alert, a repeat, a transition.
        let mut a = alert("old");
        a.hit = Some(hit());
        let repeat = Repeat {
            alert_id: "old".into(),
            folded_alert_id: "old-again".into(),
            observation_id: "o2".into(),
            device_id: "d".into(),
            observed_at: Timestamp(5),
            lat: 60.0,
            lon: 25.0,
        };
        let ack = Transition {
            alert_id: "old".into(),
            from: AlertStatus::New,
            to: AlertStatus::Acknowledged,
            actor: "op".into(),
            at: Timestamp(9),
            disposition: None,
            visual_check: false,
            source_check: false,
            note: None,
        };
        let mut wal = Wal::open(WalConfig::new(dir.path()), 0, |_, _| {}).unwrap();
        wal.append(&record(ALERT, &a)).unwrap();
        wal.append(&[&[REPEAT][..], &serde_json::to_vec(&repeat).unwrap()].concat()).unwrap();
        wal.append(&[&[TRANSITION][..], &serde_json::to_vec(&ack).unwrap()].concat()).unwrap();
        wal.commit().unwrap();
        drop(wal);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        let old = log.get("old").unwrap().unwrap();
        assert_eq!((old.status, old.repeats.len(), old.history.len()), (AlertStatus::Acknowledged, 1, 1));
        assert_eq!(log.append(vec![alert("old-again")]).unwrap(), 0, "the folded id is known");
        drop(log);
        // Its state was written as one record: the index is sealed and nothing is replayed again.
        let mut tags = Vec::new();
        Wal::open(WalConfig::new(dir.path()), 0, |_, p| tags.push(p[0])).unwrap();
        assert_eq!(tags, vec![ALERT, REPEAT, TRANSITION, STATE]);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        assert_eq!(log.get("old").unwrap().unwrap(), old);
        assert_eq!(
            log.page(&AlertFilter { statuses: vec![AlertStatus::Acknowledged], ..AlertFilter::default() }, None, 5).unwrap().0,
            vec![old]
        );
    }

    #[test]
    fn closing_resolved_outages_touches_only_that_family() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Never).unwrap();
        let mut quiet = alert("quiet");
        quiet.rule = "device_silent".into();
        log.append(vec![quiet, alert("plate")]).unwrap();
        let looked = std::cell::RefCell::new(HashSet::new());
        let closed = log
            .close_resolved("device_silent", "spoke", Timestamp(10), |a| {
                looked.borrow_mut().insert(a.id.clone());
                a.id == "quiet" || a.id == "plate"
            })
            .unwrap();
        assert_eq!(closed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["quiet"]);
        assert_eq!(log.get("quiet").unwrap().unwrap().status, AlertStatus::Closed);
        assert_eq!(log.get("plate").unwrap().unwrap().status, AlertStatus::New);
        assert!(log.close_resolved("device_silent", "spoke", Timestamp(11), |_| true).unwrap().is_empty(), "closed stays closed");
        assert_eq!(looked.into_inner(), HashSet::from(["quiet".to_owned()]), "only the family's unclosed alerts are read");
    }
}
