//! Keeping the store's plate dictionary in step with the manifest, in memory and on disk.
//!
//! The copy on disk (`plates.dict`, owner-only, beside the manifest) saves a restarted node from
//! reading every key of every day again. It is written when building or extending it was costly,
//! kept in step through compactions, and deleted as soon as a purge removes a segment: a purged
//! plate must not outlive its segment in a file either. A copy that names a segment the manifest
//! no longer has, or that fails its checksum, is deleted and the dictionary is built again.

use super::{SegmentStore, StoreError};
use crate::plate_dictionary::PlateDictionary;
use glasshouse_model::Kind;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The dictionary's file, in the store's root.
pub(crate) const DICTIONARY_FILE: &str = "plates.dict";

/// An extension that took this long is written out, since the next start would pay it again;
/// cheaper ones are redone at start rather than written after every flush.
const PERSIST_AFTER: Duration = Duration::from_millis(250);

impl SegmentStore {
    /// The plate dictionary, covering every plate-read segment whose keys are all normalised plates
    /// (searches walk the indexes of any other). Loaded from its file or built on first use,
    /// extended here by segments flushed since; a removal dropped it (see [`SegmentStore::evict`]),
    /// so the next use rebuilds it without the removed plates.
    pub(crate) fn plate_dictionary(&self) -> Result<Arc<PlateDictionary>, StoreError> {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        let dictionary = held.get_or_insert_with(|| Arc::new(self.load_dictionary().unwrap_or_default()));
        let started = std::time::Instant::now();
        let new: Vec<&super::SegmentMeta> =
            self.manifest.segments.iter().filter(|s| s.kind == Kind::PlateRead.as_str() && !dictionary.knows(&s.path)).collect();
        if new.is_empty() {
            return Ok(dictionary.clone());
        }
        // Loading deletes a stale or damaged copy, so this is asked after it.
        let on_disk = self.dictionary_path().exists();
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
        let took = started.elapsed();
        if !on_disk || took >= PERSIST_AFTER {
            self.save_dictionary(dictionary);
        }
        info!(
            segments_added = new.len(),
            segments = dictionary.segments(),
            plates = dictionary.plates(),
            bytes = dictionary.size_bytes(),
            ms = took.as_millis() as u64,
            "plate dictionary extended"
        );
        Ok(dictionary.clone())
    }

    /// After a compaction: each merged segment holds exactly the rows of the segments it
    /// replaced, so the dictionary covers it as it covered them (nothing to rebuild), or, when it
    /// had not yet read all of them, reads the merged one at its next extension. The copy on disk
    /// is brought along, so it does not go stale by naming the replaced segments.
    pub(crate) fn carry_dictionary(&self, merges: &[(Vec<super::SegmentMeta>, super::SegmentMeta)]) {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            *held = self.load_dictionary_before(merges).map(Arc::new);
        }
        let Some(dictionary) = held.as_mut() else { return };
        let mut moved = false;
        for (group, merged) in merges {
            let from: Vec<String> = group.iter().map(|s| s.path.clone()).collect();
            if from.iter().any(|p| dictionary.knows(p)) {
                moved |= Arc::make_mut(dictionary).transfer(&from, &merged.path);
            }
        }
        if moved && self.dictionary_path().exists() {
            self.save_dictionary(dictionary);
        }
    }

    /// Drops the dictionary when it covers a segment that is gone, so plates held only there do
    /// not outlive it, in memory or on disk. Without a dictionary in memory, the file is deleted
    /// whenever a plate-read segment goes: it may cover it.
    pub(crate) fn forget_dictionary_of(&self, paths: &[String]) {
        let mut held = self.dictionary.lock().unwrap_or_else(|p| p.into_inner());
        let forget = match held.as_ref() {
            Some(dictionary) => dictionary.holds_any(paths),
            None => paths.iter().any(|p| p.starts_with(&format!("kind={}/", Kind::PlateRead.as_str()))),
        };
        if forget {
            *held = None;
            self.remove_dictionary_file();
        }
    }

    fn dictionary_path(&self) -> PathBuf {
        self.root.join(DICTIONARY_FILE)
    }

    /// The copy on disk, if there is a sound one for the current manifest.
    fn load_dictionary(&self) -> Option<PlateDictionary> {
        let present: HashSet<&str> = self.manifest.segments.iter().map(|s| s.path.as_str()).collect();
        self.read_dictionary_file(|path| present.contains(path))
    }

    /// The copy on disk as it was before `merges` were applied to the manifest: it may name their
    /// replaced segments, and no other absent one.
    fn load_dictionary_before(&self, merges: &[(Vec<super::SegmentMeta>, super::SegmentMeta)]) -> Option<PlateDictionary> {
        let mut present: HashSet<&str> = self.manifest.segments.iter().map(|s| s.path.as_str()).collect();
        present.extend(merges.iter().flat_map(|(group, _)| group.iter().map(|s| s.path.as_str())));
        self.read_dictionary_file(|path| present.contains(path))
    }

    fn read_dictionary_file(&self, present: impl Fn(&str) -> bool) -> Option<PlateDictionary> {
        let path = self.dictionary_path();
        let bytes = std::fs::read(&path).ok()?;
        match PlateDictionary::from_bytes(&bytes) {
            Ok(dictionary) if dictionary.known_segments().all(|s| present(s)) => {
                info!(segments = dictionary.segments(), plates = dictionary.plates(), "plate dictionary loaded");
                Some(dictionary)
            }
            Ok(_) => {
                info!("plate dictionary on disk names segments that are gone; building it again");
                self.remove_dictionary_file();
                None
            }
            Err(reason) => {
                warn!(reason, "plate dictionary on disk is unreadable; building it again");
                self.remove_dictionary_file();
                None
            }
        }
    }

    /// Writes the copy on disk. It is derived data: a failed write only costs a rebuild later.
    fn save_dictionary(&self, dictionary: &PlateDictionary) {
        let path = self.dictionary_path();
        if let Err(e) = glasshouse_wal::files::replace(&path, &dictionary.to_bytes(), glasshouse_wal::files::Readers::OwnerOnly) {
            warn!(error = %e, "plate dictionary not written; it will be built again at the next start");
            self.remove_dictionary_file();
        }
    }

    fn remove_dictionary_file(&self) {
        let path = self.dictionary_path();
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(error = %e, path = %path.display(), "plate dictionary file not removed");
        }
    }
}
