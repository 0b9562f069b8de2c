//! The durable alert log: alerts appended to their own write-ahead log, held in memory for listing.

use glasshouse_engine::Alert;
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, RwLock};
use tokio::sync::broadcast;

/// Alerts a live subscriber may fall behind by before it starts missing some.
pub const LIVE_BUFFER_ALERTS_MAX: usize = 4_096;

/// Why the alert log failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertLogError {
    /// The underlying log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
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
    ids: Mutex<HashSet<String>>,
    live: broadcast::Sender<Alert>,
}

impl AlertLog {
    /// Opens the log in `dir`, loading every stored alert.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<AlertLog, AlertLogError> {
        let mut alerts = Vec::new();
        let mut failure = None;
        let config = WalConfig { fsync, ..WalConfig::new(dir) };
        let wal = Wal::open(config, 0, |lsn, payload| match serde_json::from_slice::<Alert>(payload) {
            Ok(alert) => alerts.push(alert),
            Err(e) => failure = failure.take().or(Some(AlertLogError::Decode { lsn, reason: e.to_string() })),
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let ids = alerts.iter().map(|a| a.id.clone()).collect();
        let (live, _) = broadcast::channel(LIVE_BUFFER_ALERTS_MAX);
        Ok(AlertLog { wal: Mutex::new(wal), alerts: RwLock::new(alerts), ids: Mutex::new(ids), live })
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
                wal.append(&serde_json::to_vec(alert).expect("alerts serialise"))?;
            }
            wal.commit()?;
        }
        let count = fresh.len();
        let mut stored = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        for alert in fresh {
            ids.insert(alert.id.clone());
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
        let stored = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        stored.iter().rev().find(|a| a.id == id).cloned()
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
}
