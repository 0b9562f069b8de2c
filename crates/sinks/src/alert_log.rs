//! The durable alert log: alerts appended to their own write-ahead log, held in memory for listing.

use glasshouse_engine::{Alert, AlertFilter, AlertStatus, Repeat, Transition, TransitionError, TransitionRequest};
use glasshouse_model::Timestamp;
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError};
use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

type RepeatKey = (String, String, String);

/// Frame tags: a raised alert, or a lifecycle step of one.
const ALERT: u8 = b'A';
const TRANSITION: u8 = b'T';
const REPEAT: u8 = b'R';

/// A sighting of the same listed plate within this long of an open alert's last sighting is folded
/// into that alert instead of raising another: a stolen car passing five readers in three minutes is
/// one thing for an operator to handle, not five.
pub const REPEAT_WINDOW_SECS: i64 = 600;

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

/// Why the alert log failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertLogError {
    /// The underlying log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
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

/// Durable, deduplicated alerts with a live feed.
pub struct AlertLog {
    wal: Mutex<Wal>,
    alerts: RwLock<Vec<Alert>>,
    index: RwLock<HashMap<String, usize>>,
    /// The newest alert for each repeat key, so folding a sighting is a lookup, not a scan of every
    /// alert. Only `append` (serialised by the `ids` lock) reads or writes it.
    latest_by_key: Mutex<HashMap<RepeatKey, usize>>,
    ids: Mutex<HashSet<String>>,
    live: broadcast::Sender<Alert>,
    /// How many alerts are stored, signalled on every raise: delivery workers wait on it.
    raised: (Mutex<usize>, Condvar),
}

impl AlertLog {
    /// Opens the log in `dir`, loading every stored alert.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<AlertLog, AlertLogError> {
        let mut alerts: Vec<Alert> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut folded: Vec<String> = Vec::new();
        let mut failure = None;
        let config = WalConfig { fsync, ..WalConfig::new(dir) };
        let wal = Wal::open(config, 0, |lsn, payload| {
            let decoded = match payload.split_first() {
                Some((&ALERT, json)) => serde_json::from_slice::<Alert>(json).map(|a| {
                    index.insert(a.id.clone(), alerts.len());
                    alerts.push(a);
                }),
                Some((&REPEAT, json)) => serde_json::from_slice::<Repeat>(json).map(|r| match index.get(&r.alert_id) {
                    Some(&i) => {
                        folded.push(r.folded_alert_id.clone());
                        alerts[i].repeats.push(r);
                    }
                    None => {
                        failure = failure
                            .take()
                            .or(Some(AlertLogError::Decode { lsn, reason: format!("repeat for unknown alert {}", r.alert_id) }))
                    }
                }),
                Some((&TRANSITION, json)) => serde_json::from_slice::<Transition>(json).map(|t| match index.get(&t.alert_id) {
                    Some(&i) if alerts[i].status == t.from => alerts[i].apply(t),
                    _ => {
                        failure = failure.take().or(Some(AlertLogError::Decode {
                            lsn,
                            reason: format!("transition for unknown or moved alert {}", t.alert_id),
                        }))
                    }
                }),
                _ => {
                    failure = failure.take().or(Some(AlertLogError::Decode { lsn, reason: "unknown record tag".into() }));
                    Ok(())
                }
            };
            if let Err(e) = decoded {
                failure = failure.take().or(Some(AlertLogError::Decode { lsn, reason: e.to_string() }));
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let ids = alerts.iter().map(|a| a.id.clone()).chain(folded).collect();
        let (live, _) = broadcast::channel(LIVE_BUFFER_ALERTS_MAX);
        let latest_by_key = alerts.iter().enumerate().filter_map(|(i, a)| a.repeat_key().map(|k| (k, i))).collect();
        let raised = (Mutex::new(alerts.len()), Condvar::new());
        Ok(AlertLog {
            raised,
            wal: Mutex::new(wal),
            alerts: RwLock::new(alerts),
            index: RwLock::new(index),
            latest_by_key: Mutex::new(latest_by_key),
            ids: Mutex::new(ids),
            live,
        })
    }

    /// Stores new alerts durably, then publishes them live. Alerts whose id is already stored are
    /// skipped (a replayed observation raises the same ids). A sighting of what an open alert is about
    /// within [`REPEAT_WINDOW_SECS`] is folded into it as a repeat. Returns how many alerts were raised.
    pub fn append(&self, alerts: Vec<Alert>) -> Result<usize, AlertLogError> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let fresh: Vec<Alert> = alerts.into_iter().filter(|a| !ids.contains(&a.id)).collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        // Decide which are repeats of an open alert (or of an alert earlier in this same batch).
        let mut records: Vec<Result<Alert, Repeat>> = Vec::with_capacity(fresh.len());
        {
            let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
            let latest = self.latest_by_key.lock().unwrap_or_else(|p| p.into_inner());
            for alert in fresh {
                let open = alert.repeat_key().and_then(|key| {
                    let in_batch = records.iter().rev().find_map(|r| match r {
                        Ok(a) if a.repeat_key().as_ref() == Some(&key) => Some((a.id.clone(), a.last_observed_at())),
                        _ => None,
                    });
                    in_batch.or_else(|| {
                        let i = *latest.get(&key)?;
                        let a = &stored[i];
                        matches!(a.status, AlertStatus::New | AlertStatus::Acknowledged).then(|| (a.id.clone(), a.last_observed_at()))
                    })
                });
                match open {
                    Some((open_id, last)) if (alert.observed_at.0 - last.0).abs() <= REPEAT_WINDOW_SECS * 1_000_000 => {
                        records.push(Err(Repeat {
                            alert_id: open_id,
                            folded_alert_id: alert.id.clone(),
                            observation_id: alert.observation_id.clone(),
                            device_id: alert.device_id.clone(),
                            observed_at: alert.observed_at,
                            lat: alert.lat,
                            lon: alert.lon,
                        }))
                    }
                    _ => records.push(Ok(alert)),
                }
            }
        }
        {
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            for record in &records {
                let bytes = match record {
                    Ok(alert) => [&[ALERT][..], &serde_json::to_vec(alert).expect("alerts serialise")].concat(),
                    Err(repeat) => [&[REPEAT][..], &serde_json::to_vec(repeat).expect("repeats serialise")].concat(),
                };
                wal.append(&bytes)?;
            }
            wal.commit()?;
        }
        let mut raised = 0;
        let mut stored = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for record in records {
            match record {
                Ok(alert) => {
                    raised += 1;
                    metrics::counter!(RAISED_METRIC, "rule" => alert.rule.clone()).increment(1);
                    ids.insert(alert.id.clone());
                    index.insert(alert.id.clone(), stored.len());
                    if let Some(key) = alert.repeat_key() {
                        self.latest_by_key.lock().unwrap_or_else(|p| p.into_inner()).insert(key, stored.len());
                    }
                    // No subscribers is normal (nobody has the console open).
                    let _ = self.live.send(alert.clone());
                    stored.push(alert);
                }
                Err(repeat) => {
                    ids.insert(repeat.folded_alert_id.clone());
                    // (A folded repeat is not a new alert: outbound sinks are not told again.)
                    if let Some(&i) = index.get(&repeat.alert_id) {
                        metrics::counter!(REPEATS_METRIC, "rule" => stored[i].rule.clone()).increment(1);
                        stored[i].repeats.push(repeat);
                        let _ = self.live.send(stored[i].clone());
                    }
                }
            }
        }
        let total = stored.len();
        drop(stored);
        let (lock, signal) = &self.raised;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = total;
        signal.notify_all();
        Ok(raised)
    }

    /// Up to `limit` alerts in the order they were raised, starting at position `from` (0 = the
    /// first ever). Positions are stable across restarts: the log replays in the same order.
    pub fn raised_from(&self, from: usize, limit: usize) -> Vec<Alert> {
        let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        stored.iter().skip(from).take(limit).cloned().collect()
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
    pub fn page(&self, filter: &AlertFilter, before: Option<usize>, limit: usize) -> (Vec<Alert>, Option<usize>) {
        let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        let end = before.unwrap_or(usize::MAX).min(stored.len());
        let mut kept = stored[..end].iter().enumerate().rev().filter(|(_, a)| filter.keeps(a));
        let page: Vec<(usize, &Alert)> = kept.by_ref().take(limit).collect();
        let next = match (page.last(), kept.next()) {
            (Some(&(last, _)), Some(_)) => Some(last),
            _ => None,
        };
        (page.into_iter().map(|(_, a)| a.clone()).collect(), next)
    }

    /// The newest `limit` alerts, newest first.
    pub fn recent(&self, limit: usize) -> Vec<Alert> {
        self.page(&AlertFilter::default(), None, limit).0
    }

    /// The alert with this id.
    pub fn get(&self, id: &str) -> Option<Alert> {
        // Lock order everywhere: alerts, then index.
        let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        index.get(id).map(|&i| stored[i].clone())
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
        // One writer at a time: the write lock spans check, audit, append and apply, so two
        // operators cannot both move the same alert from the same status.
        let mut stored = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        let i = *self.index.read().unwrap_or_else(|p| p.into_inner()).get(id).ok_or_else(|| AlertLogError::NotFound(id.to_owned()))?;
        let transition = stored[i].check_transition(request, actor, Timestamp::now())?;
        audit(&stored[i], &transition).map_err(AlertLogError::Audit)?;
        {
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            wal.append(&[&[TRANSITION][..], &serde_json::to_vec(&transition).expect("transitions serialise")].concat())?;
            wal.commit()?;
        }
        stored[i].apply(transition);
        let _ = self.live.send(stored[i].clone());
        Ok(stored[i].clone())
    }

    /// Closes, as the system, each alert not yet closed for which `resolved` holds (a silent device
    /// that spoke again), recording why in its history. Returns the alerts closed.
    pub fn close_resolved(&self, note: &str, now: Timestamp, resolved: impl Fn(&Alert) -> bool) -> Result<Vec<Alert>, AlertLogError> {
        let open = |alert: &Alert| alert.status != AlertStatus::Closed && resolved(alert);
        // Look under the read lock: most checks close nothing, and appends must not wait on them.
        if !self.alerts.read().unwrap_or_else(|p| p.into_inner()).iter().any(&open) {
            return Ok(Vec::new());
        }
        let mut stored = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        let closing: Vec<usize> = (0..stored.len()).filter(|&i| open(&stored[i])).collect();
        if closing.is_empty() {
            return Ok(Vec::new());
        }
        let transitions: Vec<(usize, Transition)> = closing
            .into_iter()
            .map(|i| {
                let alert = &stored[i];
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
                (i, transition)
            })
            .collect();
        {
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            for (_, transition) in &transitions {
                wal.append(&[&[TRANSITION][..], &serde_json::to_vec(transition).expect("transitions serialise")].concat())?;
            }
            wal.commit()?;
        }
        let mut closed = Vec::with_capacity(transitions.len());
        for (i, transition) in transitions {
            stored[i].apply(transition);
            let _ = self.live.send(stored[i].clone());
            closed.push(stored[i].clone());
        }
        Ok(closed)
    }

    /// Ids of every observation an alert rests on (the raising read and folded repeats): retention
    /// keeps these as long as their alert is kept.
    pub fn linked_observation_ids(&self) -> std::collections::HashSet<String> {
        let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        stored
            .iter()
            .flat_map(|a| std::iter::once(a.observation_id.clone()).chain(a.repeats.iter().map(|r| r.observation_id.clone())))
            .collect()
    }

    /// Number of stored alerts.
    pub fn len(&self) -> usize {
        self.alerts.read().unwrap_or_else(|p| p.into_inner()).len()
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

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_engine::AlertStatus;
    use glasshouse_model::Timestamp;

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
        assert_eq!(log.recent(10).iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), vec!["c", "b", "a"]);
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
            let (page, next) = log.page(&open, before, 7);
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
        let (empty, none) = log.page(&AlertFilter { device_id: Some("elsewhere".into()), ..AlertFilter::default() }, None, 10);
        assert!(empty.is_empty() && none.is_none());
    }

    #[test]
    fn repeats_within_the_window_fold_into_the_open_alert_once() {
        use glasshouse_engine::HotlistHit;
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        let sighting = |id: &str, secs: i64| {
            let mut a = alert(id);
            a.observed_at = Timestamp(secs * 1_000_000);
            a.hit = Some(HotlistHit {
                plate: "ABC123".into(),
                matched_plate: "ABC123".into(),
                from_candidate: false,
                region: None,
                hotlist_id: "hl".into(),
                hotlist_name: "hl".into(),
                entry_plate: "ABC123".into(),
                entry_region: None,
                reason: "stolen_vehicle".into(),
                entry_expires_at: Timestamp::parse_rfc3339("2027-01-01T00:00:00Z").unwrap(),
                match_policy: Default::default(),
                distance: 0,
                diffs: Vec::new(),
                image_ref: None,
                vehicle: Vec::new(),
            });
            a
        };
        assert_eq!(log.append(vec![sighting("a", 0), sighting("b", 120)]).unwrap(), 1);
        assert_eq!(log.append(vec![sighting("c", 500)]).unwrap(), 0);
        // Past the window from the last sighting (500 s): a new alert.
        assert_eq!(log.append(vec![sighting("d", 500 + REPEAT_WINDOW_SECS + 1)]).unwrap(), 1);
        // A replay of a folded sighting is not folded twice.
        assert_eq!(log.append(vec![sighting("b", 120)]).unwrap(), 0);
        let a = log.get("a").unwrap();
        assert_eq!(a.repeats.iter().map(|r| r.folded_alert_id.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        drop(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        assert_eq!(log.get("a").unwrap().repeats.len(), 2);
        assert_eq!(log.len(), 2);
        assert_eq!(log.append(vec![sighting("c", 500)]).unwrap(), 0, "folded ids survive a restart");
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
        assert_eq!(log.get("a").unwrap().status, AlertStatus::New);
        let updated = log.transition("a", &ack, "op", |_, _| Ok(())).unwrap();
        assert_eq!(updated.status, AlertStatus::Acknowledged);
        assert_eq!(live.try_recv().unwrap().status, AlertStatus::Acknowledged);
        assert!(matches!(log.transition("missing", &ack, "op", |_, _| Ok(())), Err(AlertLogError::NotFound(_))));
        drop(log);
        let log = AlertLog::open(dir.path(), FsyncPolicy::Always).unwrap();
        let a = log.get("a").unwrap();
        assert_eq!((a.status, a.history.len(), a.history[0].actor.as_str()), (AlertStatus::Acknowledged, 1, "op"));
    }
}
