//! Keeping the store's plate dictionary in step with the manifest.

use super::{SegmentStore, StoreError};
use crate::plate_dictionary::PlateDictionary;
use glasshouse_model::Kind;
use std::sync::Arc;
use tracing::info;

impl SegmentStore {
    /// The plate dictionary, covering every plate-read segment whose index holds plates as read
    /// (older indexes of canonical plates cannot be; searches walk those). Built on first use,
    /// extended here by segments flushed since; a removal dropped it (see [`SegmentStore::evict`]),
    /// so the next use rebuilds it without the removed plates.
    pub(crate) fn plate_dictionary(&self) -> Result<Arc<PlateDictionary>, StoreError> {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        let dictionary = held.get_or_insert_with(Default::default);
        let started = std::time::Instant::now();
        let mut added = 0;
        for segment in &self.manifest.segments {
            if segment.kind != Kind::PlateRead.as_str() || dictionary.knows(&segment.path) {
                continue;
            }
            let handle = self.handle(segment)?;
            let Some(index) = handle.plates().filter(|i| !i.keys_are_canonical()) else {
                Arc::make_mut(dictionary).skip(&segment.path);
                continue;
            };
            // Copy-on-write: a search still holding the last version keeps it unchanged.
            Arc::make_mut(dictionary)
                .add(&segment.path, index)
                .map_err(|e| StoreError::Parquet { path: self.root.join(&segment.path), reason: e.to_string() })?;
            added += 1;
        }
        if added > 0 {
            info!(
                segments_added = added,
                segments = dictionary.segments(),
                plates = dictionary.plates(),
                bytes = dictionary.size_bytes(),
                ms = started.elapsed().as_millis() as u64,
                "plate dictionary extended"
            );
        }
        Ok(dictionary.clone())
    }

    /// Drops the dictionary when it covers a segment that is gone, so plates held only there do
    /// not outlive it in memory.
    pub(crate) fn forget_dictionary_of(&self, paths: &[String]) {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        if held.as_ref().is_some_and(|d| d.holds_any(paths)) {
            *held = None;
        }
    }
}
