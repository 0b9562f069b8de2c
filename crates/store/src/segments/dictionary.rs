//! Keeping the store's plate dictionary in step with the manifest.

use super::{SegmentStore, StoreError};
use crate::plate_dictionary::PlateDictionary;
use glasshouse_model::Kind;
use std::sync::Arc;
use tracing::info;

impl SegmentStore {
    /// The plate dictionary, covering every plate-read segment whose keys are all normalised plates
    /// (searches walk the indexes of any other). Built on first use,
    /// extended here by segments flushed since; a removal dropped it (see [`SegmentStore::evict`]),
    /// so the next use rebuilds it without the removed plates.
    pub(crate) fn plate_dictionary(&self) -> Result<Arc<PlateDictionary>, StoreError> {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        let dictionary = held.get_or_insert_with(Default::default);
        let started = std::time::Instant::now();
        let new: Vec<&super::SegmentMeta> =
            self.manifest.segments.iter().filter(|s| s.kind == Kind::PlateRead.as_str() && !dictionary.knows(&s.path)).collect();
        if new.is_empty() {
            return Ok(dictionary.clone());
        }
        // Each core reads the keys of its share of the segments into a dictionary of its own;
        // those are merged (a first build reads every key of every day: seconds at 100M reads).
        let work = |segment: &super::SegmentMeta, _: &mut crate::search::Explain, part: &mut PlateDictionary| {
            let handle = self.handle(segment)?;
            match handle.plates() {
                Some(index) => {
                    part.add(&segment.path, index);
                }
                None => part.leave_out(&segment.path),
            }
            Ok(())
        };
        let parts = super::find::fan_out_with(&new, PlateDictionary::default, &work)?;
        // Copy-on-write: a search still holding the last version keeps it unchanged.
        let updated = Arc::make_mut(dictionary);
        for (part, _) in parts {
            updated.absorb(part);
        }
        info!(
            segments_added = new.len(),
            segments = dictionary.segments(),
            plates = dictionary.plates(),
            bytes = dictionary.size_bytes(),
            ms = started.elapsed().as_millis() as u64,
            "plate dictionary extended"
        );
        Ok(dictionary.clone())
    }

    /// After a compaction: each merged segment holds exactly the rows of the segments it
    /// replaced, so the dictionary covers it as it covered them (nothing to rebuild).
    pub(crate) fn carry_dictionary(&self, merges: &[(Vec<super::SegmentMeta>, super::SegmentMeta)]) {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        let Some(dictionary) = held.as_mut() else { return };
        for (group, merged) in merges {
            let from: Vec<String> = group.iter().map(|s| s.path.clone()).collect();
            if from.iter().any(|p| dictionary.covers(p)) {
                Arc::make_mut(dictionary).transfer(&from, &merged.path);
            }
        }
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
