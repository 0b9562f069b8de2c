//! Immutable Parquet segments and the manifest that lists them.
//!
//! A flush writes one file per (kind, UTC day) present in the hot window, under
//! `kind=<kind>/date=<YYYY-MM-DD>/seg-<first_lsn>-<last_lsn>.parquet` (hive-style, so DuckDB and
//! DataFusion see the partitions), then atomically replaces `manifest.json`, which lists every segment
//! with its exact time range and bounding box, and the highest WAL position flushed.
//!
//! Day rather than hour files: a bulk load of history (the Toronto incidents span eight years, about
//! 70,000 hours) would otherwise write one tiny file per hour of history. The manifest's exact time
//! range prunes as well as an hour bucket would. A crash between the two leaves files the manifest does
//! not name; they are deleted at open, and the WAL still holds their records, so each record ends up
//! in exactly one segment.

use crate::parquet_codec::{self, DecodeError};
use glasshouse_model::time::MICROS_PER_DAY;
use glasshouse_model::{Kind, Observation, Timestamp};
use glasshouse_wal::Lsn;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

const MANIFEST: &str = "manifest.json";

/// Why the cold store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File system trouble.
    #[error("store i/o on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Parquet encoding or decoding failed.
    #[error("parquet {path}: {reason}")]
    Parquet {
        /// The segment.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// A segment's rows do not decode.
    #[error("segment {path}: {source}")]
    Decode {
        /// The segment.
        path: PathBuf,
        /// The cause.
        source: DecodeError,
    },
    /// The manifest is unreadable.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// Its path.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

fn parquet_error(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> StoreError + '_ {
    move |e| StoreError::Parquet { path: path.to_owned(), reason: e.to_string() }
}

/// What the manifest records about one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Path relative to the store root.
    pub path: String,
    /// The kind of every row.
    pub kind: String,
    /// Earliest `observed_at` in the file.
    pub min_observed_at: Timestamp,
    /// Latest `observed_at` in the file.
    pub max_observed_at: Timestamp,
    /// Rows in the file.
    pub rows: u64,
    /// Bounding box of the rows: `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: [f64; 4],
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Plate reads: the sidecar plate index, relative to the store root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_index: Option<String>,
    /// Bytes of the sidecar index on disk.
    #[serde(default)]
    pub index_bytes: u64,
    /// The filter of the segment's ids (`.ids`, see [`crate::id_filter`]), relative to the store
    /// root. Segments written before filters existed have none and are checked by their id column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_filter: Option<String>,
    /// Bytes of the id filter on disk.
    #[serde(default)]
    pub id_filter_bytes: u64,
}

impl SegmentMeta {
    /// The segment's files: the Parquet file and its sidecars.
    pub fn files(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.path).chain(self.plate_index.as_ref()).chain(self.id_filter.as_ref())
    }
}

impl SegmentMeta {
    /// The WAL positions `(first, last)` the segment's file name records.
    pub fn lsn_range(&self) -> Option<(Lsn, Lsn)> {
        let name = self.path.rsplit('/').next()?.strip_prefix("seg-")?.strip_suffix(".parquet")?;
        let mut parts = name.split('-');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }

    /// The UTC day the segment belongs to, as its `date=` partition.
    pub fn date(&self) -> &str {
        self.path.split('/').find_map(|part| part.strip_prefix("date=")).unwrap_or("")
    }
}

/// The manifest as a reader beside a running server sees it (a backup): the bytes read, and what
/// they name. Nothing is opened or cleaned up, unlike [`SegmentStore::open`].
#[derive(Debug)]
pub struct ManifestSnapshot {
    /// The manifest file's bytes as read.
    pub bytes: Vec<u8>,
    /// The highest WAL position whose record is in a segment it names.
    pub flushed_lsn: Lsn,
    /// Every file of every segment it names, relative to the store root.
    pub files: Vec<String>,
}

/// The manifest's file name in the store root.
pub const MANIFEST_FILE: &str = MANIFEST;

/// The plate dictionary's file name in the store root: derived data that checks itself against the
/// manifest when loaded, so a copy taken beside the manifest is safe to keep.
pub const DICTIONARY_FILE: &str = dictionary::DICTIONARY_FILE;

/// Reads the manifest of the store at `root` without opening the store; `None` when the store has
/// never flushed.
pub fn read_manifest(root: &Path) -> Result<Option<ManifestSnapshot>, StoreError> {
    let path = root.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::Io { path, source: e }),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest { path, reason: e.to_string() })?;
    let files = manifest.segments.iter().flat_map(SegmentMeta::files).cloned().collect();
    Ok(Some(ManifestSnapshot { bytes, flushed_lsn: manifest.flushed_lsn, files }))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    flushed_lsn: Lsn,
    segments: Vec<SegmentMeta>,
}

/// Segment files a flush has written and not yet committed to the manifest.
#[derive(Debug, Default)]
pub struct WrittenFlush {
    segments: Vec<SegmentMeta>,
    last_lsn: Option<Lsn>,
    records: usize,
}

/// The cold store: segments on disk and the manifest in memory.
pub struct SegmentStore {
    root: PathBuf,
    manifest: Manifest,
    /// Parsed footers and plate indexes, loaded on first use; segments are immutable, so an entry
    /// stays right until its segment is compacted away or purged.
    handles: Mutex<HashMap<String, Arc<scan::SegmentHandle>>>,
    /// Every distinct plate of the plate-read segments, for patterns with no fixed start; built
    /// on first use, carried over by compactions, dropped when a purge removes a segment it covers.
    dictionary: Mutex<Option<Arc<crate::plate_dictionary::PlateDictionary>>>,
    /// What ingest's duplicate check has loaded (see `held`); reset when the manifest changes.
    held: Mutex<held::HeldCaches>,
}

impl SegmentStore {
    /// Opens the store at `root`, removing segment files that a crash left out of the manifest.
    pub fn open(root: impl Into<PathBuf>) -> Result<SegmentStore, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_error(&root))?;
        let manifest_path = root.join(MANIFEST);
        let manifest = match fs::read(&manifest_path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest { path: manifest_path.clone(), reason: e.to_string() })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(StoreError::Io { path: manifest_path, source: e }),
        };
        let store = SegmentStore {
            root,
            manifest,
            handles: Mutex::new(HashMap::new()),
            dictionary: Mutex::new(None),
            held: Mutex::new(held::HeldCaches::default()),
        };
        store.remove_orphans()?;
        Ok(store)
    }

    /// The highest WAL position whose record is in a segment.
    pub fn flushed_lsn(&self) -> Lsn {
        self.manifest.flushed_lsn
    }

    /// Every segment, in flush order.
    pub fn segments(&self) -> &[SegmentMeta] {
        &self.manifest.segments
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn remove_orphans(&self) -> Result<(), StoreError> {
        let known: HashSet<PathBuf> = self.manifest.segments.iter().flat_map(SegmentMeta::files).map(|p| self.root.join(p)).collect();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
                let path = entry.map_err(io_error(&dir))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet" || e == "plates" || e == "ids" || e == "tmp")
                    && !known.contains(&path)
                {
                    warn!(segment = %path.display(), "removing segment not in the manifest (interrupted flush)");
                    fs::remove_file(&path).map_err(io_error(&path))?;
                }
            }
        }
        Ok(())
    }

    /// Writes `records` (all with LSN above [`SegmentStore::flushed_lsn`]) as new segments and
    /// records the new flushed position. Returns the segments written.
    pub fn flush(&mut self, records: &[(Lsn, Observation)]) -> Result<Vec<SegmentMeta>, StoreError> {
        let written = self.write_flush(records)?;
        self.commit_flush(written)
    }

    /// The first half of [`SegmentStore::flush`]: the segment files, written with only shared
    /// access, so searches and ingest's duplicate check go on meanwhile. Nothing names them until
    /// [`SegmentStore::commit_flush`]; a crash in between leaves files that the next open removes.
    pub fn write_flush(&self, records: &[(Lsn, Observation)]) -> Result<WrittenFlush, StoreError> {
        let Some(last_lsn) = records.iter().map(|(lsn, _)| *lsn).max() else { return Ok(WrittenFlush::default()) };
        assert!(records.iter().all(|(lsn, _)| *lsn > self.manifest.flushed_lsn), "flush: record already flushed");
        let first_lsn = records.iter().map(|(lsn, _)| *lsn).min().expect("non-empty");
        // Records mostly arrive in runs of one kind and day, so each is first tried against the
        // group of the one before: a map lookup per record took 0.18 s of a 3.3M-read day's flush.
        let mut groups: BTreeMap<(Kind, i64), Vec<&Observation>> = BTreeMap::new();
        let mut run: Option<((Kind, i64), Vec<&Observation>)> = None;
        for (_, o) in records {
            let key = (o.kind(), o.observed_at.0.div_euclid(MICROS_PER_DAY));
            match &mut run {
                Some((run_key, rows)) if *run_key == key => rows.push(o),
                _ => {
                    if let Some((run_key, rows)) = run.replace((key, groups.remove(&key).unwrap_or_default())) {
                        groups.insert(run_key, rows);
                    }
                    run.as_mut().expect("just set").1.push(o);
                }
            }
        }
        if let Some((run_key, rows)) = run {
            groups.insert(run_key, rows);
        }
        let mut written = Vec::new();
        for ((kind, day), rows) in groups {
            written.push(self.write_segment(kind, Timestamp(day * MICROS_PER_DAY), &rows, first_lsn, last_lsn)?);
        }
        Ok(WrittenFlush { segments: written, last_lsn: Some(last_lsn), records: records.len() })
    }

    /// The second half of [`SegmentStore::flush`]: the manifest names the written segments and the
    /// new flushed position, in one durable replace. Returns the segments.
    pub fn commit_flush(&mut self, flush: WrittenFlush) -> Result<Vec<SegmentMeta>, StoreError> {
        let WrittenFlush { segments: written, last_lsn, records } = flush;
        let Some(last_lsn) = last_lsn else { return Ok(Vec::new()) };
        assert!(last_lsn > self.manifest.flushed_lsn, "commit_flush: a later flush was committed first");
        let mut manifest = Manifest { flushed_lsn: last_lsn, segments: self.manifest.segments.clone() };
        manifest.segments.extend(written.iter().cloned());
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        self.forget_held();
        info!(segments = written.len(), records, flushed_lsn = last_lsn, "flushed hot window");
        Ok(written)
    }

    fn write_segment(&self, kind: Kind, day: Timestamp, rows: &[&Observation], first: Lsn, last: Lsn) -> Result<SegmentMeta, StoreError> {
        let text = day.to_rfc3339();
        let relative = format!("kind={}/date={}/seg-{first:020}-{last:020}.parquet", kind.as_str(), &text[..10]);
        write_segment_file(&self.root, relative, kind, rows)
    }

    fn write_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let path = self.root.join(MANIFEST);
        let bytes = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        glasshouse_wal::files::replace(&path, &bytes, glasshouse_wal::files::Readers::Default).map_err(io_error(&path))
    }

    /// Reads every segment's observations, passing each to `each`: a whole-store walk for checks
    /// and tests (start-up no longer reads the segments; ingest's duplicate check asks `held`).
    pub fn for_each(&self, mut each: impl FnMut(&Observation)) -> Result<(), StoreError> {
        for segment in &self.manifest.segments {
            self.read_segment(segment, |o| {
                each(&o);
                true
            })?;
        }
        Ok(())
    }

    pub(crate) fn read_segment(&self, segment: &SegmentMeta, mut each: impl FnMut(Observation) -> bool) -> Result<usize, StoreError> {
        let path = self.root.join(&segment.path);
        let kind = Kind::parse(&segment.kind)
            .ok_or_else(|| StoreError::Manifest { path: path.clone(), reason: format!("unknown kind {}", segment.kind) })?;
        let file = File::open(&path).map_err(io_error(&path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(&path))?.build().map_err(parquet_error(&path))?;
        let mut rows = 0;
        let mut going = true;
        for batch in reader {
            let batch = batch.map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
            rows += batch.num_rows();
            parquet_codec::decode(kind, &batch, |o| {
                going = each(o);
                going
            })
            .map_err(|source| StoreError::Decode { path: path.clone(), source })?;
            if !going {
                break;
            }
        }
        Ok(rows)
    }

    /// Observations per (UTC day start, kind) with `observed_at` in `[from, to)`, from the segments and
    /// `hot`. Segments wholly inside the period count from the manifest; others read only their
    /// `observed_at` column. Counts, not rows: nothing personal leaves this function.
    pub fn count_by_day_and_kind(
        &self,
        from: Timestamp,
        to: Timestamp,
        hot: &[(Lsn, Observation)],
    ) -> Result<BTreeMap<(Timestamp, Kind), u64>, StoreError> {
        let mut counts: BTreeMap<(Timestamp, Kind), u64> = BTreeMap::new();
        let day_of = |t: Timestamp| Timestamp(t.0.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY);
        for segment in &self.manifest.segments {
            let Some(kind) = Kind::parse(&segment.kind) else { continue };
            if segment.max_observed_at < from || segment.min_observed_at >= to {
                continue;
            }
            let day = day_of(segment.min_observed_at);
            if segment.min_observed_at >= from && segment.max_observed_at < to {
                *counts.entry((day, kind)).or_default() += segment.rows;
                continue;
            }
            let path = self.root.join(&segment.path);
            let file = File::open(&path).map_err(io_error(&path))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(&path))?;
            let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), ["observed_at"]);
            for batch in builder.with_projection(mask).build().map_err(parquet_error(&path))? {
                let batch = batch.map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
                let times =
                    batch.column(0).as_any().downcast_ref::<arrow::array::TimestampMicrosecondArray>().ok_or_else(|| {
                        StoreError::Parquet { path: path.clone(), reason: "observed_at is not a timestamp column".into() }
                    })?;
                let inside = times.values().iter().filter(|t| (from.0..to.0).contains(t)).count() as u64;
                if inside > 0 {
                    *counts.entry((day, kind)).or_default() += inside;
                }
            }
        }
        for (_, o) in hot {
            if o.observed_at >= from && o.observed_at < to {
                *counts.entry((day_of(o.observed_at), o.kind())).or_default() += 1;
            }
        }
        Ok(counts)
    }
}

mod compact;
mod dictionary;
mod find;
mod gather;
mod held;
mod parallel;
mod point;
mod scan;
mod write;

pub use compact::CompactionReport;
use write::write_segment_file;

#[cfg(test)]
mod point_tests;
#[cfg(test)]
mod search_tests;
#[cfg(test)]
mod tests;
