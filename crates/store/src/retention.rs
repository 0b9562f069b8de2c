//! Retention: how long each kind of observation is kept, and the purge that enforces it.
//!
//! A purge works on whole UTC days: the cutoff is the start of the day that the window reaches
//! back to, so a record lives at least its window and at most a day longer, and a purge only ever
//! touches segments of days that are wholly expired (no segment of the current window is rewritten
//! again and again). Rows that something still needs (an alert rests on them, or a legal hold covers
//! them) are kept: their segment is rewritten without the others, or left alone when nothing goes.
//!
//! The purge is planned under a shared lock, so searches go on; the caller logs the receipt and only
//! then applies the plan, so nothing is ever deleted without its receipt in the audit log.

use crate::segments::{SegmentMeta, SegmentStore, StoreError};
use glasshouse_model::image::StoredImages;
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Kind, Observation, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Days each class is kept: each kind of observation, and the classes below. Missing ones take
/// their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Days per class (`plate_read`, `sensor_reading`, …, `dead_letters`, `confirmed_alert_evidence`).
    pub days: BTreeMap<String, u32>,
}

/// Refused records in the dead-letter store: kept long enough to chase a misbehaving producer.
pub const DEAD_LETTERS: &str = "dead_letters";

/// How long a confirmed alert keeps the observations it rests on past their own window. A
/// dismissed or unworked alert keeps nothing: a misread is not evidence.
pub const CONFIRMED_ALERT_EVIDENCE: &str = "confirmed_alert_evidence";

/// The classes with windows that are not observation kinds, and their defaults.
pub const OTHER_CLASSES: [(&str, u32); 2] = [(DEAD_LETTERS, 30), (CONFIRMED_ALERT_EVIDENCE, 365)];

impl Default for RetentionPolicy {
    fn default() -> Self {
        let kinds = Kind::ALL.iter().map(|k| (k.as_str().to_owned(), default_days(*k)));
        RetentionPolicy { days: kinds.chain(OTHER_CLASSES.iter().map(|(c, d)| (c.to_string(), *d))).collect() }
    }
}

/// The defaults: plate reads that hit nothing go after 30 days (the common statutory limit); video
/// event counts after 90; sensor readings and gunshot detections are environmental and incident
/// evidence (5 and 3 years); dispatch records follow public-records schedules (30 years, the oldest
/// the ingest accepts).
pub fn default_days(kind: Kind) -> u32 {
    match kind {
        Kind::PlateRead => 30,
        Kind::VideoEvent => 90,
        Kind::SensorReading => 5 * 365,
        Kind::Gunshot => 3 * 365,
        Kind::Incident => 30 * 365,
    }
}

/// The most days any window may be.
pub const RETENTION_DAYS_MAX: u32 = 30 * 366;

impl RetentionPolicy {
    /// Days kept for `kind`.
    pub fn days(&self, kind: Kind) -> u32 {
        self.days.get(kind.as_str()).copied().unwrap_or_else(|| default_days(kind))
    }

    /// Start of the oldest UTC day still kept for `kind` at `now`.
    pub fn cutoff(&self, kind: Kind, now: Timestamp) -> Timestamp {
        day_cutoff(self.days(kind), now)
    }

    /// Days kept for one of [`OTHER_CLASSES`].
    pub fn class_days(&self, class: &str) -> u32 {
        let default = OTHER_CLASSES.iter().find(|(c, _)| *c == class).map_or(RETENTION_DAYS_MAX, |(_, d)| *d);
        self.days.get(class).copied().unwrap_or(default)
    }

    /// Start of the oldest UTC day still kept for one of [`OTHER_CLASSES`] at `now`.
    pub fn class_cutoff(&self, class: &str, now: Timestamp) -> Timestamp {
        day_cutoff(self.class_days(class), now)
    }

    /// Checks kinds and bounds (a configuration error is found at start, not at the first purge).
    pub fn validate(&self) -> Result<(), String> {
        for (kind, days) in &self.days {
            if Kind::parse(kind).is_none() && !OTHER_CLASSES.iter().any(|(c, _)| c == kind) {
                let classes: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).chain(OTHER_CLASSES.iter().map(|(c, _)| *c)).collect();
                return Err(format!("retention: unknown class {kind:?}; the classes are {}", classes.join(", ")));
            }
            if *days == 0 || *days > RETENTION_DAYS_MAX {
                return Err(format!("retention: {kind} must be kept 1..={RETENTION_DAYS_MAX} days, not {days}"));
            }
        }
        Ok(())
    }
}

/// The start of the UTC day `days` before `now`.
fn day_cutoff(days: u32, now: Timestamp) -> Timestamp {
    let edge = now.0 - i64::from(days) * MICROS_PER_DAY;
    Timestamp(edge.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY)
}

/// Why an expired row stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing needs it: it goes.
    No,
    /// A confirmed alert rests on it.
    Alert,
    /// A legal hold covers it.
    Hold,
}

/// What one purge of one kind will do.
#[derive(Debug)]
pub struct PurgePlan {
    /// The kind.
    pub kind: Kind,
    /// Its window in days.
    pub days: u32,
    /// Rows observed before this go, unless kept.
    pub cutoff: Timestamp,
    /// Segments to drop entirely.
    drop: Vec<SegmentMeta>,
    /// Segments to rewrite with only these rows.
    rewrite: Vec<(SegmentMeta, Vec<Observation>)>,
    /// Ids of the rows that go, sorted.
    pub deleted_ids: Vec<String>,
    /// The stored images (SHA-256) of the plate reads that go: they go with them.
    pub deleted_images: Vec<String>,
    /// Expired rows kept because a confirmed alert rests on them.
    pub kept_for_alerts: u64,
    /// Expired rows kept because a hold covers them.
    pub kept_for_holds: u64,
}

impl PurgePlan {
    /// SHA-256 over the sorted deleted ids, one per line: publishable, and checkable by anyone who
    /// kept a copy of the ids.
    pub fn ids_sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for id in &self.deleted_ids {
            hasher.update(id.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }

    /// Segments dropped and rewritten.
    pub fn segment_counts(&self) -> (usize, usize) {
        (self.drop.len(), self.rewrite.len())
    }
}

impl SegmentStore {
    /// Plans the purge of `kind` below `cutoff`, asking `keep` about each expired row.
    pub fn plan_purge(
        &self,
        kind: Kind,
        days: u32,
        cutoff: Timestamp,
        keep: &dyn Fn(&Observation) -> Keep,
    ) -> Result<PurgePlan, StoreError> {
        let mut plan = PurgePlan {
            kind,
            days,
            cutoff,
            drop: Vec::new(),
            rewrite: Vec::new(),
            deleted_ids: Vec::new(),
            deleted_images: Vec::new(),
            kept_for_alerts: 0,
            kept_for_holds: 0,
        };
        for segment in self.segments().iter().filter(|s| s.kind == kind.as_str() && s.min_observed_at < cutoff) {
            let mut kept = Vec::new();
            let mut deleted = 0usize;
            self.read_segment(segment, |o| {
                let decision = if o.observed_at >= cutoff { Keep::Hold } else { keep(&o) };
                match decision {
                    Keep::No => {
                        let images = o.plate_read().and_then(|r| r.image_ref.as_deref()).and_then(StoredImages::parse);
                        plan.deleted_images.extend(images.iter().flat_map(|i| i.hashes().map(str::to_owned)));
                        plan.deleted_ids.push(o.id.clone());
                        deleted += 1;
                    }
                    Keep::Alert | Keep::Hold => {
                        if o.observed_at < cutoff {
                            if decision == Keep::Alert {
                                plan.kept_for_alerts += 1;
                            } else {
                                plan.kept_for_holds += 1;
                            }
                        }
                        kept.push(o);
                    }
                }
                true
            })?;
            match (deleted, kept.is_empty()) {
                (0, _) => {}
                (_, true) => plan.drop.push(segment.clone()),
                (_, false) => plan.rewrite.push((segment.clone(), kept)),
            }
        }
        plan.deleted_ids.sort_unstable();
        plan.deleted_images.sort_unstable();
        plan.deleted_images.dedup();
        Ok(plan)
    }

    /// Carries out a plan: writes the rewritten segments, swaps the manifest once, deletes the old
    /// files and their indexes. Returns the rows removed.
    pub fn apply_purge(&mut self, plan: PurgePlan) -> Result<u64, StoreError> {
        let mut merges = Vec::new();
        for (segment, rows) in &plan.rewrite {
            merges.push((vec![segment.clone()], self.write_without(segment, rows)?));
        }
        let replaced = self.replace_segments(merges, &plan.drop)?;
        Ok(replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{PlateMode, PlateQuery};
    use glasshouse_model::{Body, PlateRead, Position};

    fn read(id: &str, plate: &str, at: &str) -> Observation {
        let t = Timestamp::parse_rfc3339(at).unwrap();
        Observation {
            id: id.into(),
            device_id: "alpr-1".into(),
            observed_at: t,
            received_at: t,
            position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
            body: Body::PlateRead(PlateRead { plate: plate.into(), ..PlateRead::default() }),
        }
    }

    fn exact(plate: &str) -> PlateQuery {
        PlateQuery { plate: plate.into(), mode: PlateMode::Exact, from: None, to: None, after: None, limit: 100 }
    }

    #[test]
    fn a_purge_removes_expired_rows_from_results_files_and_indexes_and_keeps_what_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SegmentStore::open(dir.path()).unwrap();
        let rows = vec![
            read("old-1", "GONE11", "2026-09-01T10:00:00Z"), // expired, alone in its day: the segment goes
            read("old-2", "GONE22", "2026-09-02T10:00:00Z"), // expired
            read("old-3", "HIT333", "2026-09-02T11:00:00Z"), // expired, but an alert rests on it
            read("old-4", "HELD44", "2026-09-02T12:00:00Z"), // expired, under a hold
            read("new-1", "GONE11", "2026-11-20T10:00:00Z"), // inside the window
        ];
        let records: Vec<(u64, Observation)> = rows.into_iter().enumerate().map(|(i, o)| (i as u64 + 1, o)).collect();
        store.flush(&records).unwrap();
        let policy = RetentionPolicy::default();
        let now = Timestamp::parse_rfc3339("2026-11-27T15:00:00Z").unwrap();
        let cutoff = policy.cutoff(Kind::PlateRead, now);
        let keep = |o: &Observation| match o.id.as_str() {
            "old-3" => Keep::Alert,
            "old-4" => Keep::Hold,
            _ => Keep::No,
        };
        let plan = store.plan_purge(Kind::PlateRead, 30, cutoff, &keep).unwrap();
        assert_eq!(plan.deleted_ids, ["old-1", "old-2"]);
        assert_eq!((plan.kept_for_alerts, plan.kept_for_holds), (1, 1));
        assert_eq!(plan.segment_counts(), (1, 1), "the 1 September segment goes, the 2 September one is rewritten");
        let mut hasher = Sha256::new();
        hasher.update(b"old-1\nold-2\n");
        assert_eq!(plan.ids_sha256(), hex::encode(hasher.finalize()));
        let old_files: Vec<String> = store.segments().iter().flat_map(|s| [s.path.clone(), s.plate_index.clone().unwrap()]).collect();
        assert_eq!(store.apply_purge(plan).unwrap(), 2);

        // Gone from results and from the index: the plate's key no longer matches in old segments.
        let page = store.search_plates(&exact("GONE11"), &[]).unwrap();
        assert_eq!(page.items.iter().map(|(o, _)| o.id.as_str()).collect::<Vec<_>>(), ["new-1"]);
        assert_eq!(page.explain.index_keys_matched, 1, "only the November segment still knows GONE11");
        assert!(store.search_plates(&exact("GONE22"), &[]).unwrap().items.is_empty());
        assert_eq!(store.search_plates(&exact("HELD44"), &[]).unwrap().items.len(), 1);
        // Gone from the files: the old files are deleted and no remaining row has the ids.
        let september: Vec<&String> = old_files.iter().filter(|p| p.contains("2026-09")).collect();
        assert!(september.iter().all(|p| !dir.path().join(p).exists()), "old segment files and indexes are deleted");
        let mut ids = Vec::new();
        store.for_each(|o| ids.push(o.id.clone())).unwrap();
        ids.sort();
        assert_eq!(ids, ["new-1", "old-3", "old-4"]);
        // A second purge finds nothing more to do.
        let again = store.plan_purge(Kind::PlateRead, 30, cutoff, &keep).unwrap();
        assert!(again.deleted_ids.is_empty());
        // Reopening sees the same store (the manifest was swapped durably).
        let reopened = SegmentStore::open(dir.path()).unwrap();
        assert_eq!(reopened.segments().len(), 2);
    }

    #[test]
    fn cutoffs_fall_on_day_starts_and_defaults_fill_gaps() {
        let policy = RetentionPolicy { days: [("plate_read".to_string(), 30)].into_iter().collect() };
        let now = Timestamp::parse_rfc3339("2026-11-27T15:30:00Z").unwrap();
        assert_eq!(policy.cutoff(Kind::PlateRead, now), Timestamp::parse_rfc3339("2026-10-28T00:00:00Z").unwrap());
        assert_eq!(policy.days(Kind::Gunshot), 3 * 365);
        assert!(policy.validate().is_ok());
        assert!(RetentionPolicy { days: [("plates".to_string(), 30)].into_iter().collect() }.validate().is_err());
        assert!(RetentionPolicy { days: [("gunshot".to_string(), 0)].into_iter().collect() }.validate().is_err());
    }
}
