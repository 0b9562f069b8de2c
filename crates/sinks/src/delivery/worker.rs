//! One thread per sink: read the alert log from the sink's cursor, deliver in order, retry with
//! backoff, dead-letter what cannot be delivered, advance the cursor durably.

use super::{DeliveryError, Destination, Envelope, SinkConfig, SinkMetrics, SinkStatus};
use crate::AlertLog;
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Alerts read from the log per batch.
const BATCH_ALERTS: usize = 64;
/// How often an idle worker looks at its stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// How long a worker waits before reading the alert log again after a failed read.
const READ_RETRY: Duration = Duration::from_secs(5);

/// An alert a sink gave up on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its position in the alert log.
    pub position: usize,
    /// The alert.
    pub alert_id: String,
    /// Its rule.
    pub rule: String,
    /// The last failure.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was given up on.
    pub at: Timestamp,
}

type StopFlag = Arc<(Mutex<bool>, Condvar)>;

/// A running sink. Dropping it stops the thread after the attempt in flight.
pub struct SinkWorker {
    config: SinkConfig,
    dir: PathBuf,
    metrics: Arc<SinkMetrics>,
    stop: StopFlag,
    handle: Option<JoinHandle<()>>,
}

impl SinkWorker {
    /// Starts delivering to `destination` from the sink's cursor under `outbox_dir/<name>/`. A sink
    /// with no cursor yet starts at the end of the log: a newly added sink receives new alerts, not
    /// the whole history.
    pub fn start(config: SinkConfig, outbox_dir: &Path, log: Arc<AlertLog>, destination: Box<dyn Destination>) -> io::Result<SinkWorker> {
        let dir = outbox_dir.join(&config.name);
        fs::create_dir_all(&dir)?;
        let cursor = match read_cursor(&dir)? {
            Some(position) => position,
            None => {
                let end = log.len();
                write_cursor(&dir, end)?;
                end
            }
        };
        let metrics = Arc::new(SinkMetrics::default());
        metrics.set_next_position(cursor);
        for _ in 0..read_dead_letters(&dir)?.len() {
            metrics.dead_lettered();
        }
        let stop: StopFlag = Arc::new((Mutex::new(false), Condvar::new()));
        let run = Run { config: config.clone(), dir: dir.clone(), log, destination, metrics: metrics.clone(), stop: stop.clone() };
        let handle = std::thread::Builder::new().name(format!("sink-{}", config.name)).spawn(move || run.run(cursor))?;
        info!(sink = %config.name, target = %config.target(), from = cursor, "alert sink started");
        Ok(SinkWorker { config, dir, metrics, stop, handle: Some(handle) })
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its counters; `raised` is the alert log's length.
    pub fn status(&self, raised: usize) -> SinkStatus {
        self.metrics.status(&self.config.name, &self.config.target(), raised)
    }

    /// Every alert this sink gave up on, oldest first.
    pub fn dead_letters(&self) -> io::Result<Vec<DeadLetter>> {
        read_dead_letters(&self.dir)
    }
}

impl Drop for SinkWorker {
    fn drop(&mut self) {
        let (flag, signal) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        signal.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

struct Run {
    config: SinkConfig,
    dir: PathBuf,
    log: Arc<AlertLog>,
    destination: Box<dyn Destination>,
    metrics: Arc<SinkMetrics>,
    stop: StopFlag,
}

impl Run {
    fn stopped(&self) -> bool {
        *self.stop.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps up to `duration`; false if asked to stop meanwhile.
    fn pause(&self, duration: Duration) -> bool {
        let (flag, signal) = &*self.stop;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = signal.wait_timeout_while(guard, duration, |stop| !*stop).unwrap_or_else(|p| p.into_inner());
        !*guard
    }

    fn run(mut self, mut next: usize) {
        while !self.stopped() {
            let batch = match self.log.raised_from(next, BATCH_ALERTS) {
                Ok(batch) => batch,
                Err(e) => {
                    // The alerts are stored; reading them failed. Try again after a pause.
                    self.metrics.failed(&format!("reading the alert log: {e}"));
                    warn!(sink = %self.config.name, error = %e, "could not read alerts to deliver");
                    if !self.pause(READ_RETRY) {
                        return;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                self.log.wait_for_more_than(next, IDLE_WAIT);
                continue;
            }
            for alert in batch {
                if self.config.wants(&alert) {
                    let envelope = Envelope::new(next, &alert);
                    if !self.deliver(&envelope) {
                        return; // stopping: the cursor stays, the alert is delivered after restart
                    }
                } else {
                    self.metrics.skipped();
                }
                next += 1;
                if let Err(e) = write_cursor(&self.dir, next) {
                    // The alert went out; if the cursor cannot be saved it goes out again after a
                    // restart, which receivers deduplicate by key.
                    warn!(sink = %self.config.name, error = %e, "could not save the sink's cursor");
                }
                self.metrics.set_next_position(next);
            }
        }
    }

    /// Delivers one envelope, retrying; false only when asked to stop before it was settled.
    fn deliver(&mut self, envelope: &Envelope) -> bool {
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self.destination.deliver(envelope) {
                Ok(()) => {
                    self.metrics.delivered(started.elapsed().as_millis() as u64);
                    return true;
                }
                Err(e) => e,
            };
            self.metrics.failed(&failure.to_string());
            let give_up = match &failure {
                DeliveryError::Permanent(_) => true,
                DeliveryError::Transient(_) => started.elapsed() >= Duration::from_secs(self.config.retry.give_up_after_s),
            };
            if give_up {
                self.dead_letter(envelope, &failure, attempts);
                return true;
            }
            let jitter =
                ((envelope.position as u64).wrapping_mul(2_654_435_761).wrapping_add(attempts as u64 * 40_503) % 1_000) as f64 / 1_000.0;
            let delay = Duration::from_millis(self.config.retry.delay_ms(attempts, jitter));
            warn!(sink = %self.config.name, alert = %envelope.idempotency_key, attempts, retry_in_ms = delay.as_millis() as u64, error = %failure, "alert delivery failed");
            if !self.pause(delay) {
                return false;
            }
        }
    }

    fn dead_letter(&self, envelope: &Envelope, failure: &DeliveryError, attempts: u32) {
        let letter = DeadLetter {
            position: envelope.position,
            alert_id: envelope.idempotency_key.clone(),
            rule: envelope.rule.clone(),
            reason: failure.to_string(),
            attempts,
            at: Timestamp::now(),
        };
        warn!(sink = %self.config.name, alert = %letter.alert_id, reason = %letter.reason, "alert moved to the sink's dead letters");
        let line = serde_json::to_string(&letter).expect("dead letters serialise") + "\n";
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(DEAD_LETTERS_FILE))
            .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|()| f.sync_data()));
        if let Err(e) = written {
            warn!(sink = %self.config.name, error = %e, "could not write a dead letter");
        }
        self.metrics.dead_lettered();
    }
}

const CURSOR_FILE: &str = "cursor";
const DEAD_LETTERS_FILE: &str = "dead_letters.ndjson";

fn read_cursor(dir: &Path) -> io::Result<Option<usize>> {
    match fs::read_to_string(dir.join(CURSOR_FILE)) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("sink cursor {}: {e}", dir.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the cursor atomically: a crash leaves the old or the new position, never a torn one.
fn write_cursor(dir: &Path, position: usize) -> io::Result<()> {
    glasshouse_wal::files::replace(&dir.join(CURSOR_FILE), format!("{position}\n").as_bytes(), glasshouse_wal::files::Readers::Default)
}

fn read_dead_letters(dir: &Path) -> io::Result<Vec<DeadLetter>> {
    let file = match File::open(dir.join(DEAD_LETTERS_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // A torn last line (a crash mid-write) is skipped, not fatal.
    Ok(io::BufReader::new(file).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{RetryPolicy, SinkKind};
    use glasshouse_engine::{Alert, AlertStatus};
    use glasshouse_wal::FsyncPolicy;
    use std::sync::mpsc;

    fn alert(id: &str, rule: &str) -> Alert {
        let observation = glasshouse_model::Observation {
            id: format!("o-{id}"),
            device_id: "d".into(),
            observed_at: Timestamp(1),
            received_at: Timestamp(1),
            position: glasshouse_model::Position { lat: 60.0, lon: 25.0, heading_deg: None, accuracy_m: None },
            body: glasshouse_model::Body::Gunshot(glasshouse_model::Gunshot { rounds: 1, confidence: None, bearing_deg: None }),
        };
        let mut a = Alert::raised(id.into(), rule, 1, &observation, Timestamp(0));
        a.status = AlertStatus::New;
        a
    }

    /// Fails the first `failures` attempts (transiently), refuses ids in `refuse`, reports the rest.
    struct Flaky {
        failures: usize,
        refuse: Vec<String>,
        delivered: mpsc::Sender<String>,
    }

    impl Destination for Flaky {
        fn deliver(&mut self, envelope: &Envelope) -> Result<(), DeliveryError> {
            if self.refuse.contains(&envelope.idempotency_key) {
                return Err(DeliveryError::Permanent("400 bad request".into()));
            }
            if self.failures > 0 {
                self.failures -= 1;
                return Err(DeliveryError::Transient("connection refused".into()));
            }
            self.delivered.send(envelope.idempotency_key.clone()).unwrap();
            Ok(())
        }
    }

    fn config(rules: Vec<String>) -> SinkConfig {
        SinkConfig {
            name: "test".into(),
            kind: SinkKind::Nats { url: "unused".into(), subject: "unused".into(), jetstream: false },
            rules,
            priority_max: None,
            retry: RetryPolicy { initial_ms: 5, max_ms: 20, give_up_after_s: 60 },
        }
    }

    /// The worker's status once it has settled every raised alert.
    fn settled(worker: &SinkWorker, log: &AlertLog) -> SinkStatus {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = worker.status(log.len());
            if status.pending == 0 || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn received(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
        (0..n).map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("delivered in time")).collect()
    }

    #[test]
    fn an_outage_delays_delivery_in_order_and_a_restart_resumes_at_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AlertLog::open(&dir.path().join("alerts"), FsyncPolicy::Never).unwrap());
        log.append(vec![alert("old", "hotlist")]).unwrap();
        let (tx, rx) = mpsc::channel();
        let outbox = dir.path().join("outbox");
        let worker =
            SinkWorker::start(config(vec![]), &outbox, log.clone(), Box::new(Flaky { failures: 4, refuse: vec![], delivered: tx.clone() }))
                .unwrap();
        log.append(vec![alert("a1", "hotlist"), alert("a2", "geofence")]).unwrap();
        assert_eq!(received(&rx, 2), vec!["a1", "a2"], "a new sink starts at the end of the log; order is kept");
        let status = settled(&worker, &log);
        assert_eq!((status.delivered, status.failed_attempts, status.pending, status.last_error), (2, 4, 0, None));
        drop(worker);
        log.append(vec![alert("a3", "hotlist")]).unwrap();
        let worker =
            SinkWorker::start(config(vec![]), &outbox, log.clone(), Box::new(Flaky { failures: 0, refuse: vec![], delivered: tx }))
                .unwrap();
        assert_eq!(received(&rx, 1), vec!["a3"], "raised while the sink was down, delivered after, and nothing twice");
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(worker);
    }

    #[test]
    fn refused_alerts_are_dead_lettered_and_filters_skip() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AlertLog::open(&dir.path().join("alerts"), FsyncPolicy::Never).unwrap());
        let (tx, rx) = mpsc::channel();
        let flaky = Flaky { failures: 0, refuse: vec!["bad".into()], delivered: tx };
        let worker = SinkWorker::start(config(vec!["hotlist".into()]), &dir.path().join("outbox"), log.clone(), Box::new(flaky)).unwrap();
        log.append(vec![alert("bad", "hotlist"), alert("fence", "geofence"), alert("good", "hotlist")]).unwrap();
        assert_eq!(received(&rx, 1), vec!["good"]);
        let letters = worker.dead_letters().unwrap();
        assert_eq!(letters.iter().map(|l| (l.alert_id.as_str(), l.attempts)).collect::<Vec<_>>(), vec![("bad", 1)]);
        assert!(letters[0].reason.contains("400"));
        let status = settled(&worker, &log);
        assert_eq!((status.delivered, status.dead_lettered, status.skipped, status.pending), (1, 1, 1, 0));
    }

    #[test]
    fn an_alert_failing_past_the_give_up_time_is_dead_lettered_and_the_sink_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AlertLog::open(&dir.path().join("alerts"), FsyncPolicy::Never).unwrap());
        let (tx, rx) = mpsc::channel();
        let mut config = config(vec![]);
        config.retry.give_up_after_s = 0;
        let worker = SinkWorker::start(
            config,
            &dir.path().join("outbox"),
            log.clone(),
            Box::new(Flaky { failures: 1, refuse: vec![], delivered: tx }),
        )
        .unwrap();
        log.append(vec![alert("late", "hotlist"), alert("next", "hotlist")]).unwrap();
        assert_eq!(received(&rx, 1), vec!["next"]);
        assert_eq!(worker.dead_letters().unwrap()[0].alert_id, "late");
    }
}
