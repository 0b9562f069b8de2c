//! What the WAL's committer knows of stored ids, in memory only as far as it must be.
//!
//! A record is already durable when its key was appended since the last flush (held here), or when
//! a segment holds it (the segments' id filters, checked exactly on a "maybe"). Keys the segments
//! cover are dropped from memory after each flush, so memory follows the hot window, not the
//! history, and start-up reads only the WAL's tail.

use glasshouse_model::Observation;
use glasshouse_store::Store;
use glasshouse_wal::Lsn;
use glasshouse_wal::committer::Seen;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::error;

/// Appends between two looks at the store's flushed position.
const PRUNE_EVERY_APPENDS: usize = 1 << 16;

/// The committer's view of stored ids: recent keys in memory, the rest in the segments.
pub struct StoredIds {
    /// Keys appended and not yet known to be in a segment, with the position they were appended at.
    recent: HashMap<u128, Lsn>,
    store: Arc<Store>,
    appends_since_prune: usize,
}

impl StoredIds {
    /// The view at start: `tail` holds the keys of the WAL records not yet flushed.
    pub fn new(store: Arc<Store>, tail: impl IntoIterator<Item = (u128, Lsn)>) -> StoredIds {
        StoredIds { recent: tail.into_iter().collect(), store, appends_since_prune: 0 }
    }

    /// Keys held in memory: the unflushed records' (and those appended since the last prune).
    pub fn in_memory(&self) -> usize {
        self.recent.len()
    }

    /// Drops the keys the segments now hold. A flush publishes its segments, their id filters and
    /// the new flushed position together, so a key dropped here is already answerable there.
    fn prune(&mut self) {
        let flushed = self.store.flushed_lsn();
        self.recent.retain(|_, lsn| *lsn > flushed);
        self.appends_since_prune = 0;
    }
}

impl Seen<Observation> for StoredIds {
    fn held(&mut self, records: &[(u128, &Observation)]) -> Vec<bool> {
        let mut held: Vec<bool> = records.iter().map(|(key, _)| self.recent.contains_key(key)).collect();
        let asked: Vec<usize> = (0..records.len()).filter(|&i| !held[i]).collect();
        if asked.is_empty() {
            return held;
        }
        let unknown: Vec<(u128, &Observation)> = asked.iter().map(|&i| records[i]).collect();
        match self.store.held(&unknown) {
            Ok(answers) => {
                for (i, answer) in asked.into_iter().zip(answers) {
                    held[i] = answer;
                }
            }
            // A stored repeat is better than a dropped record: when the segments cannot answer,
            // the records are taken as new.
            Err(e) => error!(error = %e, records = unknown.len(), "duplicate check against the segments failed; taking the records as new"),
        }
        held
    }

    fn insert(&mut self, key: u128, lsn: Lsn) {
        self.recent.insert(key, lsn);
        self.appends_since_prune += 1;
        if self.appends_since_prune >= PRUNE_EVERY_APPENDS {
            self.prune();
        }
    }

    fn remove(&mut self, key: u128) {
        self.recent.remove(&key);
    }
}
