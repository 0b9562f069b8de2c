//! Compaction: every flush writes one small segment per kind and day, so a live day collects
//! thousands of them. Merging is size-tiered (four segments of the same size class become one),
//! which bounds how often a row is rewritten to about log4 of a day's flush count; once a day is
//! over, its segments merge into one.
//!
//! Planning and building read only immutable files, so they run beside queries; only the swap into
//! the manifest needs the store exclusively. A crash before the swap leaves an orphan file that the
//! next open deletes; after it, the replaced files are orphans and go the same way.

use super::{SegmentMeta, SegmentStore, StoreError, io_error, write_segment_file};
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Kind, Observation, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use tracing::debug;

/// Segments of one size class merge when this many have gathered.
const TIER_WIDTH: usize = 4;

/// A day is closed (merge everything) this long after it ends, leaving room for late records.
const CLOSE_AFTER_MICROS: i64 = 3_600_000_000;

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CompactionReport {
    /// Segments replaced.
    pub segments_in: usize,
    /// Segments written in their place.
    pub segments_out: usize,
    /// Rows rewritten.
    pub rows: u64,
}

fn size_class(rows: u64) -> u32 {
    rows.max(1).ilog(TIER_WIDTH as u64)
}

impl SegmentStore {
    /// Groups of segments that should merge, each within one kind and day.
    pub fn plan_compaction(&self, now: Timestamp) -> Vec<Vec<SegmentMeta>> {
        let mut by_partition: BTreeMap<(&str, &str), Vec<&SegmentMeta>> = BTreeMap::new();
        for segment in &self.manifest.segments {
            by_partition.entry((segment.kind.as_str(), segment.date())).or_default().push(segment);
        }
        let mut plans = Vec::new();
        for segments in by_partition.into_values() {
            if segments.len() < 2 {
                continue;
            }
            let day_start = segments[0].min_observed_at.0.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
            if now.0 >= day_start + MICROS_PER_DAY + CLOSE_AFTER_MICROS {
                plans.push(segments.into_iter().cloned().collect());
                continue;
            }
            let mut by_class: BTreeMap<u32, Vec<&SegmentMeta>> = BTreeMap::new();
            for segment in segments {
                by_class.entry(size_class(segment.rows)).or_default().push(segment);
            }
            plans.extend(by_class.into_values().filter(|g| g.len() >= TIER_WIDTH).map(|g| g.into_iter().cloned().collect()));
        }
        plans
    }

    /// Writes the rows of `group` as one new segment. Reads only; the manifest is untouched.
    pub fn build_compacted(&self, group: &[SegmentMeta]) -> Result<SegmentMeta, StoreError> {
        let first = &group[0];
        let kind = Kind::parse(&first.kind)
            .ok_or_else(|| StoreError::Manifest { path: self.root.join(&first.path), reason: format!("unknown kind {}", first.kind) })?;
        let ranges: Vec<(u64, u64)> = group
            .iter()
            .map(|s| s.lsn_range().ok_or_else(|| StoreError::Manifest { path: self.root.join(&s.path), reason: "unnamed segment".into() }))
            .collect::<Result<_, _>>()?;
        let low = ranges.iter().map(|r| r.0).min().expect("a group is not empty");
        let high = ranges.iter().map(|r| r.1).max().expect("a group is not empty");
        let mut rows: Vec<Observation> = Vec::with_capacity(group.iter().map(|s| s.rows as usize).sum());
        for segment in group {
            self.read_segment(segment, |o| {
                rows.push(o);
                true
            })?;
        }
        // The time suffix keeps a merged name from ever equalling one of its inputs (tiered merges
        // can produce overlapping LSN ranges within a partition).
        let generation = Timestamp::now().0;
        let relative = format!("kind={}/date={}/seg-{low:020}-{high:020}-m{generation}.parquet", kind.as_str(), first.date());
        let refs: Vec<&Observation> = rows.iter().collect();
        write_segment_file(&self.root, relative, kind, &refs)
    }

    /// Replaces each group by its merged segment in one manifest write (a bulk load can close
    /// thousands of days at once), then deletes the replaced files. A group whose segments are no
    /// longer all in the manifest is skipped and its merged file deleted. Returns the groups applied.
    pub fn apply_compactions(&mut self, merges: Vec<(Vec<SegmentMeta>, SegmentMeta)>) -> Result<usize, StoreError> {
        let mut sound = Vec::with_capacity(merges.len());
        for (group, merged) in merges {
            if merged.rows == group.iter().map(|s| s.rows).sum::<u64>() {
                sound.push((group, merged));
            } else {
                self.remove_files(&merged)?;
            }
        }
        let count = sound.len();
        self.replace_segments(sound, &[])?;
        Ok(count)
    }

    /// Writes `rows` (a subset of `segment`'s) as a new segment in the same partition.
    pub(crate) fn write_without(&self, segment: &SegmentMeta, rows: &[Observation]) -> Result<SegmentMeta, StoreError> {
        let kind = Kind::parse(&segment.kind).ok_or_else(|| StoreError::Manifest {
            path: self.root.join(&segment.path),
            reason: format!("unknown kind {}", segment.kind),
        })?;
        let (low, high) = segment
            .lsn_range()
            .ok_or_else(|| StoreError::Manifest { path: self.root.join(&segment.path), reason: "unnamed segment".into() })?;
        let generation = Timestamp::now().0;
        let relative = format!("kind={}/date={}/seg-{low:020}-{high:020}-p{generation}.parquet", kind.as_str(), segment.date());
        let refs: Vec<&Observation> = rows.iter().collect();
        write_segment_file(&self.root, relative, kind, &refs)
    }

    /// Swaps segments in one manifest write: each group for its replacement, and `drops` for
    /// nothing. A group or drop whose segments left the manifest meanwhile is skipped (its new file
    /// deleted). Then the old files go. Returns the rows that left the store.
    pub(crate) fn replace_segments(
        &mut self,
        merges: Vec<(Vec<SegmentMeta>, SegmentMeta)>,
        drops: &[SegmentMeta],
    ) -> Result<u64, StoreError> {
        let present = |path: &str| self.manifest.segments.iter().any(|s| s.path == path);
        let mut replaced_by: HashMap<String, Option<usize>> = HashMap::new();
        let mut applied: Vec<(Vec<SegmentMeta>, SegmentMeta)> = Vec::new();
        let mut stale = Vec::new();
        for (group, merged) in merges {
            if group.iter().all(|g| present(&g.path) && !replaced_by.contains_key(&g.path)) {
                for g in &group {
                    replaced_by.insert(g.path.clone(), Some(applied.len()));
                }
                applied.push((group, merged));
            } else {
                stale.push(merged);
            }
        }
        let dropped: Vec<&SegmentMeta> = drops.iter().filter(|d| present(&d.path) && !replaced_by.contains_key(&d.path)).collect();
        for d in &dropped {
            replaced_by.insert(d.path.clone(), None);
        }
        for merged in &stale {
            self.remove_files(merged)?;
        }
        if replaced_by.is_empty() {
            return Ok(0);
        }
        let mut manifest = super::Manifest { flushed_lsn: self.manifest.flushed_lsn, segments: Vec::new() };
        let mut placed = vec![false; applied.len()];
        for segment in &self.manifest.segments {
            match replaced_by.get(&segment.path) {
                Some(Some(i)) if !placed[*i] => {
                    manifest.segments.push(applied[*i].1.clone());
                    placed[*i] = true;
                }
                Some(_) => {}
                None => manifest.segments.push(segment.clone()),
            }
        }
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        self.forget_held();
        let mut removed = 0u64;
        for (group, merged) in &applied {
            for segment in group {
                self.remove_files(segment)?;
            }
            removed += group.iter().map(|s| s.rows).sum::<u64>() - merged.rows;
            debug!(segments_in = group.len(), rows = merged.rows, segment = %merged.path, "replaced segments");
        }
        for segment in dropped {
            self.remove_files(segment)?;
            removed += segment.rows;
        }
        if removed == 0 {
            // A compaction: no row left, so no plate did.
            self.carry_dictionary(&applied);
        }
        self.evict(&replaced_by.into_keys().collect::<Vec<_>>());
        Ok(removed)
    }

    /// Deletes a segment's files (after the manifest stopped naming them).
    pub(crate) fn remove_files(&self, segment: &SegmentMeta) -> Result<(), StoreError> {
        for relative in segment.files() {
            let path = self.root.join(relative);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_grow_by_the_tier_width() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(3), 0);
        assert_eq!(size_class(4), 1);
        assert_eq!(size_class(15), 1);
        assert_eq!(size_class(16), 2);
    }
}
