//! The store as the rest of the system sees it: the hot window in front of the segments.
//!
//! Records arrive here only after the WAL has made them durable, so the hot window is a cache of the
//! WAL's unflushed tail. A flush moves a prefix of it into segments; queries see both, under read
//! locks, so a record is visible in exactly one of the two at any moment.

use crate::neighbourhood::{self, IncidentContext, IncidentContextQuery, KindContext, NeighbourhoodQuery};
use crate::query::{ObservationQuery, QueryResult};
use crate::retention::{Keep, PurgePlan};
use crate::search::{AreaQuery, Page, PlateMatch, PlateQuery, PlateTally};
use crate::segments::{CompactionReport, SegmentStore, StoreError};
use glasshouse_audit::Admitted;
use glasshouse_model::Observation;
use glasshouse_wal::Lsn;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

/// A sensor's newest reading of one quantity, for the live map.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LatestReading {
    /// The sensor.
    pub device_id: String,
    /// What it measures.
    pub quantity: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// When it was measured.
    pub observed_at: glasshouse_model::Timestamp,
}

/// Segments plus the unflushed hot window.
pub struct Store {
    segments: RwLock<SegmentStore>,
    /// Held by compaction and purges, so a purge's plan, receipt and swap see one manifest.
    maintenance: Mutex<()>,
    /// Held by a flush from its snapshot to its manifest swap, so two flushes (the flusher's and
    /// the one at shutdown) never write the same records.
    flushing: Mutex<()>,
    hot: RwLock<Vec<(Lsn, Observation)>>,
    oldest_unflushed: RwLock<Option<Instant>>,
    /// Each (sensor, quantity)'s newest reading: environmental values, not personal, kept apart
    /// from history so the live map needs no search. Empty after a restart until sensors report.
    latest_readings: RwLock<std::collections::HashMap<(String, String), LatestReading>>,
}

impl Store {
    /// Wraps an opened segment store with an empty hot window.
    pub fn new(segments: SegmentStore) -> Store {
        Store {
            segments: RwLock::new(segments),
            maintenance: Mutex::new(()),
            flushing: Mutex::new(()),
            hot: RwLock::new(Vec::new()),
            oldest_unflushed: RwLock::new(None),
            latest_readings: RwLock::default(),
        }
    }

    /// Adds durable records to the hot window.
    pub fn insert(&self, records: impl IntoIterator<Item = (Lsn, Observation)>) {
        let mut hot = self.hot.write().unwrap_or_else(|p| p.into_inner());
        let before = hot.len();
        hot.extend(records);
        let mut latest = self.latest_readings.write().unwrap_or_else(|p| p.into_inner());
        for (_, o) in &hot[before..] {
            let glasshouse_model::Body::SensorReading(reading) = &o.body else { continue };
            let key = (o.device_id.clone(), reading.quantity.clone());
            if latest.get(&key).is_none_or(|l| l.observed_at <= o.observed_at) {
                let (device_id, quantity) = key.clone();
                latest.insert(
                    key,
                    LatestReading { device_id, quantity, value: reading.value, unit: reading.unit.clone(), observed_at: o.observed_at },
                );
            }
        }
        drop(latest);
        if before == 0 && !hot.is_empty() {
            *self.oldest_unflushed.write().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }

    /// Every sensor's newest reading per quantity, sensors in id order.
    pub fn latest_readings(&self) -> Vec<LatestReading> {
        let mut list: Vec<LatestReading> = self.latest_readings.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        list.sort_by(|a, b| (&a.device_id, &a.quantity).cmp(&(&b.device_id, &b.quantity)));
        list
    }

    /// Records waiting to be flushed.
    pub fn hot_len(&self) -> usize {
        self.hot.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Seconds since the oldest unflushed record arrived.
    pub fn hot_age_secs(&self) -> f64 {
        self.oldest_unflushed.read().unwrap_or_else(|p| p.into_inner()).map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// The highest WAL position in a segment.
    pub fn flushed_lsn(&self) -> Lsn {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).flushed_lsn()
    }

    /// Writes the whole hot window to segments. Returns the new flushed position, or `None` when
    /// there was nothing to flush.
    pub fn flush(&self) -> Result<Option<Lsn>, StoreError> {
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot: Vec<(Lsn, Observation)> = self.hot.read().unwrap_or_else(|p| p.into_inner()).clone();
        if snapshot.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        // The files are written under the read lock, so searches and ingest's duplicate check go
        // on; only the manifest swap takes the write lock. `flushing` keeps a second flush from
        // committing in between.
        let written = self.segments.read().unwrap_or_else(|p| p.into_inner()).write_flush(&snapshot)?;
        let mut segments = self.segments.write().unwrap_or_else(|p| p.into_inner());
        segments.commit_flush(written)?;
        let flushed = segments.flushed_lsn();
        let mut hot = self.hot.write().unwrap_or_else(|p| p.into_inner());
        hot.retain(|(lsn, _)| *lsn > flushed);
        *self.oldest_unflushed.write().unwrap_or_else(|p| p.into_inner()) = (!hot.is_empty()).then(Instant::now);
        crate::metrics::flushed(snapshot.len(), started.elapsed());
        Ok(Some(flushed))
    }

    /// Answers a query over segments and the hot window. Only a query the audit log admitted runs:
    /// there is no way to search without its entry.
    pub fn query(&self, admitted: &Admitted<ObservationQuery>) -> Result<QueryResult, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        segments.query(admitted.query(), &hot)
    }

    /// Where a plate was read (exact, wildcard or misread-tolerant).
    pub fn search_plates(&self, admitted: &Admitted<PlateQuery>) -> Result<Page<(Observation, PlateMatch)>, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        segments.search_plates(admitted.query(), &hot)
    }

    /// Every read matching any of the queries, each followed page by page to its end: no cap that
    /// silently drops a read. The locks are taken per page, so a long batch never stalls a flush.
    /// A read matching several queries is returned once.
    pub fn search_plates_exhaustive(&self, admitted: &Admitted<Vec<PlateQuery>>) -> Result<Vec<Observation>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for query in admitted.query() {
            let mut query = query.clone();
            loop {
                let page = {
                    let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
                    let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
                    segments.search_plates(&query, &hot)?
                };
                found.extend(page.items.into_iter().map(|(o, _)| o).filter(|o| seen.insert(o.id.clone())));
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(found)
    }

    /// Every observation the query matches, passed to `each` (no limit, no order). Returns how
    /// many were passed.
    pub fn scan(&self, admitted: &Admitted<ObservationQuery>, mut each: impl FnMut(Observation)) -> Result<usize, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        let query = admitted.query();
        let mut passed = 0;
        segments.scan_segments(query, &mut |o| {
            passed += 1;
            each(o)
        })?;
        for (_, o) in hot.iter().filter(|(_, o)| query.matches(o)) {
            passed += 1;
            each(o.clone());
        }
        Ok(passed)
    }

    /// For each observation (with its deduplication key), whether a segment already holds one with
    /// its id (see [`SegmentStore::held`]). Records still in the hot window are not asked about
    /// here: the WAL's committer knows those.
    pub fn held(&self, records: &[(u128, &Observation)]) -> Result<Vec<bool>, StoreError> {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).held(records)
    }

    /// How many reads match a plate query, in all and per plate.
    pub fn tally_plates(&self, admitted: &Admitted<PlateQuery>) -> Result<PlateTally, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        segments.tally_plates(admitted.query(), &hot)
    }

    /// What was observed inside an area in a time range.
    pub fn search_area(&self, admitted: &Admitted<AreaQuery>) -> Result<Page<Observation>, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        segments.search_area(admitted.query(), &hot)
    }

    /// Per kind, what was observed around a point and a moment.
    pub fn neighbourhood(&self, admitted: &Admitted<NeighbourhoodQuery>) -> Result<Vec<KindContext>, StoreError> {
        let q = admitted.query();
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        neighbourhood::search(&segments, &hot, q.center, q.at, &q.windows, &q.exclude, q.per_kind_max)
    }

    /// True when a report of this dispatch incident is stored. Whether an incident number exists is
    /// dispatch data, not personal data, so it needs no admitted query: the search gate asks it to
    /// accept the incident as a case.
    pub fn incident_exists(&self, incident_id: &str) -> Result<bool, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        Ok(!segments.find_incident(incident_id, &hot)?.is_empty())
    }

    /// A dispatch incident's reports and, around the first, what was observed per kind; `None` when
    /// no report of the incident is stored.
    pub fn incident_context(&self, admitted: &Admitted<IncidentContextQuery>) -> Result<Option<IncidentContext>, StoreError> {
        let q = admitted.query();
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        let reports = segments.find_incident(&q.incident_id, &hot)?;
        let Some(anchor) = reports.first() else { return Ok(None) };
        let center = glasshouse_model::LatLon::new(anchor.position.lat, anchor.position.lon);
        let exclude: Vec<String> = reports.iter().map(|r| r.id.clone()).collect();
        let neighbourhood = neighbourhood::search(&segments, &hot, center, anchor.observed_at, &q.windows, &exclude, q.per_kind_max)?;
        Ok(Some(IncidentContext { reports, neighbourhood }))
    }

    /// One compaction pass (see `segments::compact`). The merged files are written under the read
    /// lock, so searches go on; only the manifest swap takes the write lock.
    pub fn compact(&self, now: glasshouse_model::Timestamp) -> Result<CompactionReport, StoreError> {
        let _maintenance = self.maintenance.lock().unwrap_or_else(|p| p.into_inner());
        let mut report = CompactionReport::default();
        let plans = self.segments.read().unwrap_or_else(|p| p.into_inner()).plan_compaction(now);
        let mut merges = Vec::with_capacity(plans.len());
        for group in plans {
            let merged = self.segments.read().unwrap_or_else(|p| p.into_inner()).build_compacted(&group)?;
            merges.push((group, merged));
        }
        let (segments_in, rows) = (merges.iter().map(|(g, _)| g.len()).sum(), merges.iter().map(|(_, m)| m.rows).sum());
        let applied = self.segments.write().unwrap_or_else(|p| p.into_inner()).apply_compactions(merges)?;
        if applied > 0 {
            report = CompactionReport { segments_in, segments_out: applied, rows };
            crate::metrics::compacted(segments_in);
        }
        Ok(report)
    }

    /// Purges `kind` below `cutoff` (rows already flushed to segments), keeping what `keep` asks
    /// for. `receipt` runs after planning and before anything is deleted; if it fails, nothing is.
    pub fn purge<E: From<StoreError>>(
        &self,
        kind: glasshouse_model::Kind,
        days: u32,
        cutoff: glasshouse_model::Timestamp,
        keep: &dyn Fn(&Observation) -> Keep,
        receipt: impl FnOnce(&PurgePlan) -> Result<(), E>,
    ) -> Result<PurgeOutcome, E> {
        let _maintenance = self.maintenance.lock().unwrap_or_else(|p| p.into_inner());
        let plan = self.segments.read().unwrap_or_else(|p| p.into_inner()).plan_purge(kind, days, cutoff, keep)?;
        let (dropped, rewritten) = plan.segment_counts();
        let mut outcome = PurgeOutcome {
            deleted: plan.deleted_ids.len() as u64,
            kept_for_alerts: plan.kept_for_alerts,
            kept_for_holds: plan.kept_for_holds,
            segments_dropped: dropped,
            segments_rewritten: rewritten,
            ids_sha256: plan.ids_sha256(),
        };
        if plan.deleted_ids.is_empty() {
            return Ok(outcome);
        }
        receipt(&plan)?;
        outcome.deleted = self.segments.write().unwrap_or_else(|p| p.into_inner()).apply_purge(plan)?;
        crate::metrics::purged(kind, outcome.deleted);
        Ok(outcome)
    }

    /// Observations per (day, kind) in `[from, to)`: counts only, so no receipt is needed.
    pub fn count_by_day_and_kind(
        &self,
        from: glasshouse_model::Timestamp,
        to: glasshouse_model::Timestamp,
    ) -> Result<std::collections::BTreeMap<(glasshouse_model::Timestamp, glasshouse_model::Kind), u64>, StoreError> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let hot = self.hot.read().unwrap_or_else(|p| p.into_inner());
        segments.count_by_day_and_kind(from, to, &hot)
    }

    /// The segments now in the manifest, and the directory their paths are relative to: what an
    /// outside engine (the SQL layer) reads. Rows still in the hot window are not among them.
    pub fn segment_snapshot(&self) -> (std::path::PathBuf, Vec<crate::segments::SegmentMeta>) {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        (segments.root().to_owned(), segments.segments().to_vec())
    }

    /// Segments and bytes on disk, for status pages.
    pub fn stats(&self) -> (usize, u64, u64) {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let list = segments.segments();
        (list.len(), list.iter().map(|s| s.rows).sum(), list.iter().map(|s| s.size_bytes).sum())
    }

    /// Builds or extends the in-memory plate dictionary (the way into patterns with no fixed
    /// start), so a background thread pays for it rather than an investigator's first search.
    pub fn warm_plate_dictionary(&self) -> Result<(), StoreError> {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).plate_dictionary().map(|_| ())
    }

    /// Calls `each` for every observation in the segments (not the hot window).
    pub fn for_each_stored(&self, each: impl FnMut(&Observation)) -> Result<(), StoreError> {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).for_each(each)
    }
}

/// What a purge did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PurgeOutcome {
    /// Rows removed.
    pub deleted: u64,
    /// Expired rows kept because a confirmed alert rests on them.
    pub kept_for_alerts: u64,
    /// Expired rows kept because a hold covers them.
    pub kept_for_holds: u64,
    /// Segments removed whole.
    pub segments_dropped: usize,
    /// Segments rewritten without the purged rows.
    pub segments_rewritten: usize,
    /// SHA-256 over the sorted deleted ids.
    pub ids_sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::validate::{RawRecord, from_stored};

    fn reading(id: &str, device: &str, quantity: &str, at: &str, value: f64) -> (Lsn, Observation) {
        let line = format!(
            r#"{{"id":"{id}","kind":"sensor_reading","device_id":"{device}","observed_at":"{at}","lat":60.17,"lon":24.94,"quantity":"{quantity}","value":{value},"unit":"ppm"}}"#
        );
        let raw: RawRecord = serde_json::from_str(&line).unwrap();
        (1, from_stored(&raw).unwrap())
    }

    #[test]
    fn the_newest_reading_per_sensor_and_quantity_wins_whatever_the_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(SegmentStore::open(dir.path()).unwrap());
        store.insert(vec![
            reading("a", "s-1", "co", "2026-11-29T10:05:00Z", 12.0),
            reading("b", "s-1", "pm2_5", "2026-11-29T10:00:00Z", 30.0),
        ]);
        store.insert(vec![reading("c", "s-1", "co", "2026-11-29T10:01:00Z", 99.0), reading("d", "s-2", "co", "2026-11-29T10:02:00Z", 4.0)]);
        let latest: Vec<(String, String, f64)> = store.latest_readings().into_iter().map(|l| (l.device_id, l.quantity, l.value)).collect();
        assert_eq!(
            latest,
            vec![("s-1".into(), "co".into(), 12.0), ("s-1".into(), "pm2_5".into(), 30.0), ("s-2".into(), "co".into(), 4.0)],
            "a late, older co reading does not replace the newer one"
        );
    }
}
