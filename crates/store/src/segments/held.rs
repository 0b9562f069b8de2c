//! Whether records are already in a segment, for ingest's duplicate check: the id filters of the
//! segments covering each record's day, and on a filter's "maybe", the segment's own ids.

use super::{SegmentMeta, SegmentStore, StoreError, io_error, parquet_error};
use crate::id_filter::IdFilter;
use arrow::array::{Array, StringArray};
use glasshouse_model::observation::dedup_key;
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Kind, Observation};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::{Arc, OnceLock};

/// The segments of each (kind, UTC day): their position in the manifest and their id filter,
/// loaded on first use. One map lookup finds what a record's check needs, with no lock per segment.
pub(super) type DayIndex = HashMap<(Kind, i64), Vec<(usize, Arc<OnceLock<Arc<IdFilter>>>)>>;

/// The day index, the loaded filters and the ids of the segment checked last, kept between calls.
#[derive(Default)]
pub(super) struct HeldCaches {
    days: Option<Arc<DayIndex>>,
    /// Each segment's filter slot, shared with the day index; kept across manifest changes for the
    /// segments that remain.
    filters: HashMap<String, Arc<OnceLock<Arc<IdFilter>>>>,
    /// A filter's "maybe" is usually a real duplicate, and duplicates come in runs (a device
    /// re-sending its last hour): the ids of the segments checked last answer the rest of the run.
    /// Most recent first, up to [`EXACT_IDS_MAX`] ids in all.
    exact: Vec<(String, Arc<HashSet<u128>>)>,
}

/// Ids kept from the segments checked last: a day of a big city's reads, about 200 MB.
const EXACT_IDS_MAX: usize = 4_000_000;

fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

impl SegmentStore {
    /// For each observation, given with its deduplication key ([`Observation::dedup_key`], which
    /// the caller has already computed), whether a segment already holds one with its id. Only
    /// segments of its kind whose time range holds its time are asked: a repeat of a record has the
    /// record's time. Never a false "held": a filter's "maybe" is checked against the segment's ids.
    ///
    /// # Errors
    /// When a filter or an id column cannot be read.
    pub fn held(&self, records: &[(u128, &Observation)]) -> Result<Vec<bool>, StoreError> {
        let days = self.day_index();
        records
            .iter()
            .map(|&(key, o)| {
                let Some(positions) = days.get(&(o.kind(), day_of(o.observed_at.0))) else { return Ok(false) };
                for (position, filter) in positions {
                    let segment = &self.manifest.segments[*position];
                    if o.observed_at < segment.min_observed_at || o.observed_at > segment.max_observed_at {
                        continue;
                    }
                    let filter = match filter.get() {
                        Some(loaded) => loaded.clone(),
                        None => {
                            let loaded = Arc::new(self.load_id_filter(segment)?);
                            filter.get_or_init(|| loaded).clone()
                        }
                    };
                    if filter.may_hold(key) && self.segment_ids(segment)?.contains(&key) {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .collect()
    }

    /// Called whenever the manifest changes: the day index is rebuilt on next use, and the filters
    /// and ids of segments no longer in the manifest are dropped (the others stay right: segments
    /// never change once written).
    pub(super) fn forget_held(&self) {
        let current: HashSet<&str> = self.manifest.segments.iter().map(|s| s.path.as_str()).collect();
        let mut caches = self.held.lock().unwrap_or_else(|p| p.into_inner());
        caches.days = None;
        caches.filters.retain(|path, _| current.contains(path.as_str()));
        caches.exact.retain(|(path, _)| current.contains(path.as_str()));
    }

    fn day_index(&self) -> Arc<DayIndex> {
        let mut caches = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(days) = &caches.days {
            return days.clone();
        }
        let mut days = DayIndex::new();
        for (position, segment) in self.manifest.segments.iter().enumerate() {
            let Some(kind) = Kind::parse(&segment.kind) else { continue };
            let slot = caches.filters.entry(segment.path.clone()).or_default().clone();
            for day in day_of(segment.min_observed_at.0)..=day_of(segment.max_observed_at.0) {
                days.entry((kind, day)).or_default().push((position, slot.clone()));
            }
        }
        let days = Arc::new(days);
        caches.days = Some(days.clone());
        days
    }

    /// A segment's id filter from its file, or for a segment written before filters, from its ids.
    fn load_id_filter(&self, segment: &SegmentMeta) -> Result<IdFilter, StoreError> {
        match &segment.id_filter {
            Some(relative) => {
                let path = self.root.join(relative);
                let bytes = std::fs::read(&path).map_err(io_error(&path))?;
                IdFilter::from_bytes(&bytes).map_err(|reason| StoreError::Manifest { path, reason })
            }
            // Written before segments had filters: built from the ids, once per process.
            None => {
                let ids = self.segment_ids(segment)?;
                IdFilter::build(ids.iter().copied()).map_err(|reason| StoreError::Manifest { path: self.root.join(&segment.path), reason })
            }
        }
    }

    /// The deduplication keys of every id in the segment, read from its id column alone.
    fn segment_ids(&self, segment: &SegmentMeta) -> Result<Arc<HashSet<u128>>, StoreError> {
        {
            let mut caches = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = caches.exact.iter().position(|(path, _)| *path == segment.path) {
                // Most recent first; a run of repeats from one segment finds it in front.
                if at > 0 {
                    let hit = caches.exact.remove(at);
                    caches.exact.insert(0, hit);
                }
                return Ok(caches.exact[0].1.clone());
            }
        }
        let path = self.root.join(&segment.path);
        let file = File::open(&path).map_err(io_error(&path))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(&path))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["id"]);
        let reader = builder.with_projection(mask).build().map_err(parquet_error(&path))?;
        let mut ids = HashSet::with_capacity(segment.rows as usize);
        for batch in reader {
            let batch = batch.map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
            let column = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| StoreError::Parquet { path: path.clone(), reason: "the id column is not text".into() })?;
            ids.extend((0..column.len()).filter(|&i| column.is_valid(i)).map(|i| dedup_key(column.value(i))));
        }
        let ids = Arc::new(ids);
        let mut caches = self.held.lock().unwrap_or_else(|p| p.into_inner());
        caches.exact.insert(0, (segment.path.clone(), ids.clone()));
        // The newest stays whatever its size; older ones go once the total passes the budget.
        let mut total = 0;
        caches.exact.retain(|(_, kept)| {
            total += kept.len();
            total == kept.len() || total <= EXACT_IDS_MAX
        });
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Body, PlateRead, Position, SensorReading, Timestamp};
    use proptest::prelude::*;

    fn reading(id: String, at: Timestamp, plate: bool) -> Observation {
        let body = if plate {
            Body::PlateRead(PlateRead { plate: "ABC123".into(), ..PlateRead::default() })
        } else {
            Body::SensorReading(SensorReading { quantity: "co".into(), value: 1.0, unit: "ppm".into() })
        };
        Observation {
            id,
            device_id: "dev-1".into(),
            observed_at: at,
            received_at: at,
            position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
            body,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// After records are flushed in several rounds over several days and kinds, and the store is
        /// opened again (a restart), every stored record is held and no new one is: new ones share
        /// times, days and kinds with stored ones, so only their ids tell them apart.
        #[test]
        fn every_stored_record_is_held_and_no_new_one(
            count in 1usize..2_000,
            days in 1i64..4,
            rounds in 1usize..4,
            spacing_s in 1i64..400,
        ) {
            let dir = tempfile::tempdir().unwrap();
            // 22:00 UTC ten days back, so a spread of hours crosses midnight into the next day.
            let start = Timestamp(Timestamp::now().plus_secs(-10 * 86_400).0.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY).plus_secs(22 * 3600);
            let at = |i: usize| start.plus_secs((i as i64 * spacing_s) % (days * 86_400));
            let stored: Vec<(u64, Observation)> =
                (0..count).map(|i| (i as u64 + 1, reading(format!("s-{i}"), at(i), i % 3 != 0))).collect();
            {
                let mut store = SegmentStore::open(dir.path()).unwrap();
                for chunk in stored.chunks(count.div_ceil(rounds)) {
                    store.flush(chunk).unwrap();
                }
            }
            let store = SegmentStore::open(dir.path()).unwrap();
            let fresh: Vec<Observation> = (0..count).map(|i| reading(format!("n-{i}"), at(i), i % 3 != 0)).collect();
            let asked: Vec<(u128, &Observation)> = stored.iter().map(|(_, o)| o).chain(&fresh).map(|o| (o.dedup_key(), o)).collect();
            let held = store.held(&asked).unwrap();
            prop_assert!(held[..count].iter().all(|h| *h), "every stored record is held");
            prop_assert!(held[count..].iter().all(|h| !*h), "no new record is held");
        }
    }

    #[test]
    fn a_segment_written_before_filters_is_checked_by_its_ids() {
        let dir = tempfile::tempdir().unwrap();
        let at = Timestamp::now().plus_secs(-10 * 86_400);
        let mut store = SegmentStore::open(dir.path()).unwrap();
        store.flush(&[(1, reading("old-1".into(), at, true))]).unwrap();
        // As an older version wrote it: no filter named in the manifest, no filter file.
        let mut manifest = super::super::Manifest { flushed_lsn: 1, segments: store.segments().to_vec() };
        std::fs::remove_file(dir.path().join(manifest.segments[0].id_filter.take().unwrap())).unwrap();
        store.write_manifest(&manifest).unwrap();
        let store = SegmentStore::open(dir.path()).unwrap();
        let (old, new) = (reading("old-1".into(), at, true), reading("new-1".into(), at, true));
        assert_eq!(store.held(&[(old.dedup_key(), &old), (new.dedup_key(), &new)]).unwrap(), [true, false]);
    }
}
