//! The durable alert log: alerts appended to their own write-ahead log, held in memory for listing.

use glasshouse_engine::{Alert, Transition, TransitionError, TransitionRequest};
use glasshouse_model::Timestamp;
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError};
use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, RwLock};
use tokio::sync::broadcast;

/// Frame tags: a raised alert, or a lifecycle step of one.
const ALERT: u8 = b'A';
const TRANSITION: u8 = b'T';

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
    ids: Mutex<HashSet<String>>,
    live: broadcast::Sender<Alert>,
}

impl AlertLog {
    /// Opens the log in `dir`, loading every stored alert.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<AlertLog, AlertLogError> {
        let mut alerts: Vec<Alert> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut failure = None;
        let config = WalConfig { fsync, ..WalConfig::new(dir) };
        let wal = Wal::open(config, 0, |lsn, payload| {
            let decoded = match payload.split_first() {
                Some((&ALERT, json)) => serde_json::from_slice::<Alert>(json).map(|a| {
                    index.insert(a.id.clone(), alerts.len());
                    alerts.push(a);
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
        let ids = alerts.iter().map(|a| a.id.clone()).collect();
        let (live, _) = broadcast::channel(LIVE_BUFFER_ALERTS_MAX);
        Ok(AlertLog { wal: Mutex::new(wal), alerts: RwLock::new(alerts), index: RwLock::new(index), ids: Mutex::new(ids), live })
    }

    /// Stores new alerts durably, then publishes them live. Alerts whose id is already stored are
    /// skipped (a replayed observation raises the same ids). Returns how many were new.
    pub fn append(&self, alerts: Vec<Alert>) -> Result<usize, AlertLogError> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let fresh: Vec<Alert> = alerts.into_iter().filter(|a| !ids.contains(&a.id)).collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        {
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            for alert in &fresh {
                wal.append(&[&[ALERT][..], &serde_json::to_vec(alert).expect("alerts serialise")].concat())?;
            }
            wal.commit()?;
        }
        let count = fresh.len();
        let mut stored = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for alert in fresh {
            ids.insert(alert.id.clone());
            index.insert(alert.id.clone(), stored.len());
            // No subscribers is normal (nobody has the console open).
            let _ = self.live.send(alert.clone());
            stored.push(alert);
        }
        Ok(count)
    }

    /// The newest `limit` alerts, newest first.
    pub fn recent(&self, limit: usize) -> Vec<Alert> {
        let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        stored.iter().rev().take(limit).cloned().collect()
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
            history: Vec::new(),
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
