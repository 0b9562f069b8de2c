//! Reading segments selectively: cached footers and plate indexes, row groups pruned by their
//! statistics, pages pruned by theirs (the column index of time and position), rows chosen by the
//! plate index, and a row filter that decodes only time and position before deciding whether to
//! decode the rest of a row.

use super::point::{self, POINT_ROWS_MAX, PointPlan, ReadError, RowsWanted};
use super::{SegmentMeta, SegmentStore, StoreError, io_error, parquet_error};
use crate::parquet_codec;
use crate::plate_index::PlateIndex;
use crate::search::{Explain, Shape};
use arrow::array::{Array, BooleanArray, BooleanBuilder, Float64Array, StringArray, TimestampMicrosecondArray};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use glasshouse_model::{Kind, Observation, Timestamp};
use memmap2::Mmap;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowFilter, RowSelection, RowSelector,
};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, RowGroupMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use std::fs::{self, File};
use std::ops::Range;
use std::sync::Arc;

/// What is kept of an opened segment between searches.
pub(crate) struct SegmentHandle {
    /// The file, mapped: a search reads a page or two of each of a dozen columns per segment, and
    /// a system call per page (plus an `open` per search) cost more than decoding them.
    bytes: Bytes,
    metadata: ArrowReaderMetadata,
    plates: Option<PlateIndex>,
    /// How to read single rows from the pages, when every column allows it.
    point: Option<PointPlan>,
    /// Leaf column positions of `observed_at`, `lat` and `lon`, for row-group statistics.
    time_column: usize,
    lat_column: usize,
    lon_column: usize,
}

impl SegmentHandle {
    /// The plate index, for plate-read segments.
    pub(crate) fn plates(&self) -> Option<&PlateIndex> {
        self.plates.as_ref()
    }
}

/// Row-level conditions evaluated on the cheap columns before the rest of a row is decoded.
#[derive(Clone, Default)]
pub(crate) struct RowConditions {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    pub shape: Option<Arc<Shape>>,
    /// Incidents: the dispatch system's incident number.
    pub incident_id: Option<String>,
}

impl RowConditions {
    pub(crate) fn keeps(&self, at: i64, lat: f64, lon: f64) -> bool {
        self.from.is_none_or(|f| at >= f.0)
            && self.to.is_none_or(|t| at < t.0)
            && self.bbox.is_none_or(|b| (b[0]..=b[2]).contains(&lon) && (b[1]..=b[3]).contains(&lat))
            && self.shape.as_ref().is_none_or(|s| s.contains(lat, lon))
    }

    fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.bbox.is_none() && self.shape.is_none() && self.incident_id.is_none()
    }

    /// False when the row group's statistics rule out every row.
    fn may_match(&self, group: &RowGroupMetaData, handle: &SegmentHandle) -> bool {
        let int_range = |column: usize| match group.column(column).statistics() {
            Some(Statistics::Int64(s)) => s.min_opt().copied().zip(s.max_opt().copied()),
            _ => None,
        };
        let float_range = |column: usize| match group.column(column).statistics() {
            Some(Statistics::Double(s)) => s.min_opt().copied().zip(s.max_opt().copied()),
            _ => None,
        };
        if let Some((min, max)) = int_range(handle.time_column)
            && (self.from.is_some_and(|f| max < f.0) || self.to.is_some_and(|t| min >= t.0))
        {
            return false;
        }
        if let Some(b) = self.bbox {
            if let Some((min, max)) = float_range(handle.lon_column)
                && (max < b[0] || min > b[2])
            {
                return false;
            }
            if let Some((min, max)) = float_range(handle.lat_column)
                && (max < b[1] || min > b[3])
            {
                return false;
            }
        }
        true
    }

    /// Row ranges of row group `group` (counted from its first row) that the page statistics of
    /// the time and position columns leave possible, in order; `None` when the file has none or
    /// no condition concerns time or position.
    /// Rows are in space-filling order, so a page of positions covers a small patch and an area
    /// search decodes the few pages near it rather than the whole row group.
    fn page_survivors(&self, metadata: &ParquetMetaData, group: usize, handle: &SegmentHandle) -> Option<Vec<Range<usize>>> {
        if self.from.is_none() && self.to.is_none() && self.bbox.is_none() {
            return None;
        }
        let (indexes, offsets) = (metadata.column_index()?.get(group)?, metadata.offset_index()?.get(group)?);
        let rows = usize::try_from(metadata.row_group(group).num_rows()).ok()?;
        let mut survivors: Option<Vec<Range<usize>>> = None;
        for column in [handle.time_column, handle.lat_column, handle.lon_column] {
            let (Some(index), Some(offsets)) = (indexes.get(column), offsets.get(column)) else { continue };
            // Whether page `page` may hold a matching row; unknown bounds (a null page) admit it.
            let admits = |page: usize| -> Option<bool> {
                match index {
                    ColumnIndexMetaData::INT64(pages) if column == handle.time_column => {
                        let (Some(min), Some(max)) = (pages.min_value(page), pages.max_value(page)) else { return Some(true) };
                        Some(!(self.from.is_some_and(|f| *max < f.0) || self.to.is_some_and(|t| *min >= t.0)))
                    }
                    ColumnIndexMetaData::DOUBLE(pages) if column != handle.time_column => {
                        let Some(b) = self.bbox else { return Some(true) };
                        let (low, high) = if column == handle.lat_column { (b[1], b[3]) } else { (b[0], b[2]) };
                        let (Some(min), Some(max)) = (pages.min_value(page), pages.max_value(page)) else { return Some(true) };
                        Some(!(*max < low || *min > high))
                    }
                    _ => None,
                }
            };
            let locations = offsets.page_locations();
            let mut kept: Vec<Range<usize>> = Vec::new();
            for (page, location) in locations.iter().enumerate() {
                let Some(admitted) = admits(page) else {
                    kept.clear();
                    kept.push(0..rows);
                    break;
                };
                if !admitted {
                    continue;
                }
                let start = usize::try_from(location.first_row_index).ok()?;
                let end = match locations.get(page + 1) {
                    Some(next) => usize::try_from(next.first_row_index).ok()?,
                    None => rows,
                };
                match kept.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => kept.push(start..end),
                }
            }
            survivors = Some(match survivors {
                None => kept,
                Some(earlier) => intersect_ranges(&earlier, &kept),
            });
        }
        survivors
    }

    fn predicate(&self, batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
        fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<T>())
                .ok_or_else(|| ArrowError::SchemaError(format!("segment column {name} is missing or mistyped")))
        }
        let times = column::<TimestampMicrosecondArray>(batch, "observed_at")?;
        let lat = column::<Float64Array>(batch, "lat")?;
        let lon = column::<Float64Array>(batch, "lon")?;
        let incidents = match &self.incident_id {
            Some(_) => Some(column::<StringArray>(batch, "incident_id")?),
            None => None,
        };
        let mut keep = BooleanBuilder::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let incident_ok = match (&self.incident_id, incidents) {
                (Some(wanted), Some(ids)) => ids.is_valid(i) && ids.value(i) == wanted,
                _ => true,
            };
            keep.append_value(incident_ok && self.keeps(times.value(i), lat.value(i), lon.value(i)));
        }
        Ok(keep.finish())
    }
}

/// The rows in both of two ordered lists of disjoint ranges.
fn intersect_ranges(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].start.max(b[j].start), a[i].end.min(b[j].end));
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Rows per decoded batch (the reader's default).
const BATCH_ROWS: usize = 1024;

/// Turns sorted file-wide row numbers into a selection over the kept row groups.
fn selection_for(rows: &[u32], groups: &[(usize, usize)]) -> RowSelection {
    let mut selectors = Vec::new();
    let mut rows = rows.iter().map(|r| *r as usize).peekable();
    for &(start, end) in groups {
        let mut position = start;
        while let Some(&row) = rows.peek() {
            if row >= end {
                break;
            }
            rows.next();
            if row < position {
                continue; // a duplicate row number
            }
            if row > position {
                selectors.push(RowSelector::skip(row - position));
            }
            selectors.push(RowSelector::select(1));
            position = row + 1;
        }
        if end > position {
            selectors.push(RowSelector::skip(end - position));
        }
    }
    RowSelection::from(selectors)
}

impl SegmentStore {
    /// The segment's cached footer and index, loading them on first use.
    pub(crate) fn handle(&self, segment: &SegmentMeta) -> Result<Arc<SegmentHandle>, StoreError> {
        if let Some(handle) = self.handles.lock().unwrap_or_else(|p| p.into_inner()).get(&segment.path) {
            return Ok(handle.clone());
        }
        let path = self.root.join(&segment.path);
        let file = File::open(&path).map_err(io_error(&path))?;
        // SAFETY: a segment is immutable once the manifest names it: it is written under a
        // temporary name and renamed into place, never written again (a purge or a compaction
        // writes another file and unlinks this one, and an unlinked file stays mapped, unchanged,
        // until the last handle is dropped).
        let map = unsafe { Mmap::map(&file) }.map_err(io_error(&path))?;
        let bytes = Bytes::from_owner(map);
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional))
            .map_err(parquet_error(&path))?;
        let leaf = |name: &str| {
            metadata
                .metadata()
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .position(|c| c.name() == name)
                .ok_or_else(|| StoreError::Parquet { path: path.clone(), reason: format!("no column {name}") })
        };
        let (time_column, lat_column, lon_column) = (leaf("observed_at")?, leaf("lat")?, leaf("lon")?);
        let plates = match &segment.plate_index {
            Some(relative) => {
                let index_path = self.root.join(relative);
                let bytes = fs::read(&index_path).map_err(io_error(&index_path))?;
                Some(PlateIndex::from_bytes(&bytes).map_err(|e| StoreError::Parquet { path: index_path, reason: e.to_string() })?)
            }
            None => None,
        };
        let point = PointPlan::of(metadata.metadata());
        let handle = Arc::new(SegmentHandle { bytes, metadata, plates, point, time_column, lat_column, lon_column });
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).insert(segment.path.clone(), handle.clone());
        Ok(handle)
    }

    /// Forgets cached state of segments that no longer exist.
    pub(crate) fn evict(&self, paths: &[String]) {
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        for path in paths {
            handles.remove(path);
        }
        drop(handles);
        self.forget_dictionary_of(paths);
    }

    /// Decodes the rows of one segment that pass `conditions`, restricted to `rows` (sorted row
    /// numbers from an index) when given, passing each to `each`.
    pub(crate) fn scan_segment(
        &self,
        segment: &SegmentMeta,
        conditions: &RowConditions,
        rows: Option<&[u32]>,
        explain: &mut Explain,
        each: &mut dyn FnMut(Observation),
    ) -> Result<(), StoreError> {
        let selection = rows.map_or(Selection::All, Selection::Rows);
        self.scan_segment_rows(segment, conditions, selection, explain, each)
    }

    /// [`SegmentStore::scan_segment`] of index-selected rows whose plates the index told:
    /// `plates[i]` is the plate of `rows[i]`. When every selected row is read (no row filter, no
    /// page pruned), the plate column is not read at all and the plates are filled in from here.
    pub(crate) fn scan_segment_with_plates(
        &self,
        segment: &SegmentMeta,
        conditions: &RowConditions,
        rows: &[u32],
        plates: &[&str],
        explain: &mut Explain,
        each: &mut dyn FnMut(Observation),
    ) -> Result<(), StoreError> {
        self.scan_segment_rows(segment, conditions, Selection::RowsWithPlates { rows, plates }, explain, each)
    }

    /// Three steps: the row groups and pages the statistics leave; then a few index-selected rows
    /// read value by value (the point reader); else everything left through parquet-rs's Arrow
    /// reader.
    fn scan_segment_rows(
        &self,
        segment: &SegmentMeta,
        conditions: &RowConditions,
        selection: Selection<'_>,
        explain: &mut Explain,
        each: &mut dyn FnMut(Observation),
    ) -> Result<(), StoreError> {
        let path = self.root.join(&segment.path);
        let kind = Kind::parse(&segment.kind)
            .ok_or_else(|| StoreError::Manifest { path: path.clone(), reason: format!("unknown kind {}", segment.kind) })?;
        let handle = self.handle(segment)?;
        let Some(groups) = GroupPlan::of(&handle, segment, conditions, selection.rows(), explain) else {
            explain.segments_pruned += 1;
            return Ok(());
        };
        if let (Some(rows), Some(plan)) = (selection.rows(), handle.point.as_ref())
            && rows.len() <= POINT_ROWS_MAX
            && conditions.incident_id.is_none()
        {
            let located: Vec<(usize, usize, usize)> =
                groups.kept.iter().zip(&groups.bounds).map(|(g, (start, end))| (*g, *start, *end)).collect();
            let filter = groups.needs_filter.then_some(conditions);
            let wanted = RowsWanted { kind, rows, plates: selection.plates(), groups: &located, filter };
            match point::read_rows(plan, &handle.bytes, handle.metadata.metadata(), &wanted) {
                Ok(Some(found)) => {
                    explain.segments_scanned += 1;
                    explain.row_groups_scanned += groups.kept.len();
                    explain.rows_scanned +=
                        rows.iter().filter(|r| groups.bounds.iter().any(|(s, e)| (*s..*e).contains(&(**r as usize)))).count();
                    found.into_iter().for_each(each);
                    return Ok(());
                }
                Ok(None) => {} // a page the point reader does not read: the Arrow reader does
                Err(ReadError::Corrupt(reason)) => return Err(StoreError::Parquet { path, reason }),
                Err(ReadError::Decode(source)) => return Err(StoreError::Decode { path, source }),
            }
        }
        self.read_with_arrow(segment, kind, &handle, conditions, selection, groups, explain, each)
    }

    /// Reads the row groups (and rows) `groups` left through parquet-rs's Arrow reader, with the
    /// time and position filter when the segment is not wholly inside the conditions.
    #[allow(clippy::too_many_arguments)]
    fn read_with_arrow(
        &self,
        segment: &SegmentMeta,
        kind: Kind,
        handle: &SegmentHandle,
        conditions: &RowConditions,
        selection: Selection<'_>,
        groups: GroupPlan,
        explain: &mut Explain,
        each: &mut dyn FnMut(Observation),
    ) -> Result<(), StoreError> {
        let path = self.root.join(&segment.path);
        let metadata = handle.metadata.metadata();
        let GroupPlan { kept, bounds, page_ranges, paged, kept_rows, needs_filter } = groups;
        let rows = selection.rows();
        let row_selection = match (rows, paged) {
            (Some(rows), false) => Some(selection_for(rows, &bounds)),
            (Some(rows), true) => {
                Some(selection_for(rows, &bounds).intersection(&RowSelection::from_consecutive_ranges(page_ranges.into_iter(), kept_rows)))
            }
            (None, true) => Some(RowSelection::from_consecutive_ranges(page_ranges.into_iter(), kept_rows)),
            (None, false) => None,
        };
        explain.segments_scanned += 1;
        explain.row_groups_scanned += kept.len();
        let rows_read = row_selection.as_ref().map_or(kept_rows, RowSelection::row_count);
        explain.rows_scanned += rows_read;
        // Columns that are null in every row read (optional fields a reader never fills) are not
        // read at all: each column costs a page read and a decompressor per row group.
        let columns = metadata.file_metadata().schema_descr().num_columns();
        let filled: Vec<usize> = (0..columns)
            .filter(|&c| {
                kept.iter().any(|&g| {
                    let chunk = metadata.row_group(g).column(c);
                    chunk.statistics().and_then(|s| s.null_count_opt()).is_none_or(|nulls| nulls < metadata.row_group(g).num_rows() as u64)
                })
            })
            .collect();
        // The index's plates stand in for the plate column only when the rows decoded are exactly
        // the rows selected, in order: nothing filtered, every selected row kept.
        let position = |name: &str| metadata.file_metadata().schema_descr().columns().iter().position(|c| c.name() == name);
        let (plate_column, candidates_column) = (position("plate"), position("candidates_json"));
        let known_plates = match (rows, selection.plates()) {
            (Some(rows), Some(plates)) if !needs_filter && plates.len() == rows.len() && rows_read == rows.len() => Some(plates),
            _ => None,
        };
        // The index also keys a row under each of its OCR candidates, and a row found through one
        // has another plate than its key. Such a row shows as a read whose candidates hold the
        // plate filled in; where these row groups have candidates at all, the rows are held back
        // until all are seen, and at the first such row the segment is read again with the column.
        let check_candidates = known_plates.is_some() && candidates_column.is_some_and(|c| filled.contains(&c));
        let filled: Vec<usize> = filled.into_iter().filter(|c| known_plates.is_none() || Some(*c) != plate_column).collect();
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(handle.bytes.clone(), handle.metadata.clone()).with_row_groups(kept);
        let mask = ProjectionMask::leaves(builder.parquet_schema(), filled);
        builder = builder.with_projection(mask);
        if let Some(row_selection) = row_selection {
            builder = builder.with_row_selection(row_selection);
        }
        // Batches no larger than the rows read: the reader sizes every column's buffers for a
        // whole batch, and a lookup reads a row or two a segment.
        builder = builder.with_batch_size(rows_read.clamp(1, BATCH_ROWS));
        if needs_filter && !conditions.is_empty() {
            let mut names = vec!["observed_at", "lat", "lon"];
            if conditions.incident_id.is_some() {
                names.push("incident_id");
            }
            let mask = ProjectionMask::columns(builder.parquet_schema(), names);
            let owned = conditions.clone();
            let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| owned.predicate(&batch));
            builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
        }
        let (mut decoded, mut held, mut ambiguous) = (0, Vec::new(), false);
        for batch in builder.build().map_err(parquet_error(&path))? {
            let batch = batch.map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
            let plates = known_plates.map(|p| p.get(decoded..decoded + batch.num_rows()).unwrap_or_default());
            decoded += batch.num_rows();
            parquet_codec::decode_with_plates(kind, &batch, plates, |o| {
                if !check_candidates {
                    each(o);
                    return true;
                }
                ambiguous = o.plate_read().is_some_and(|read| read.candidates.iter().any(|c| c.plate == read.plate));
                held.push(o);
                !ambiguous
            })
            .map_err(|source| StoreError::Decode { path: path.clone(), source })?;
            if ambiguous {
                // Counted again in `explain`: the rows are read twice, with the plate column.
                let without_plates = rows.map_or(Selection::All, Selection::Rows);
                return self.scan_segment_rows(segment, conditions, without_plates, explain, each);
            }
        }
        held.into_iter().for_each(each);
        Ok(())
    }
}

/// Which rows of a segment a scan reads.
#[derive(Debug, Clone, Copy)]
enum Selection<'a> {
    /// Every row that passes the conditions.
    All,
    /// The rows an index selected (sorted row numbers).
    Rows(&'a [u32]),
    /// The rows an index selected, with the plate each carries (`plates[i]` of `rows[i]`).
    RowsWithPlates { rows: &'a [u32], plates: &'a [&'a str] },
}

impl<'a> Selection<'a> {
    fn rows(self) -> Option<&'a [u32]> {
        match self {
            Selection::All => None,
            Selection::Rows(rows) | Selection::RowsWithPlates { rows, .. } => Some(rows),
        }
    }

    fn plates(self) -> Option<&'a [&'a str]> {
        match self {
            Selection::RowsWithPlates { plates, .. } => Some(plates),
            _ => None,
        }
    }
}

/// The row groups of a segment a scan reads, and the rows within them that page statistics leave.
struct GroupPlan {
    /// Row groups kept, in order.
    kept: Vec<usize>,
    /// Each kept group's first row and the row after its last, in the file.
    bounds: Vec<(usize, usize)>,
    /// Rows the page statistics leave, as positions in the kept groups' rows laid end to end (how
    /// a selection counts).
    page_ranges: Vec<std::ops::Range<usize>>,
    /// True once any group had page statistics to prune with.
    paged: bool,
    /// Rows in the kept groups.
    kept_rows: usize,
    /// False when the whole segment lies inside the conditions, so no row needs the filter.
    needs_filter: bool,
}

impl GroupPlan {
    /// `None` when no row group can hold a wanted row (each pruned group is counted in `explain`).
    fn of(
        handle: &SegmentHandle,
        segment: &SegmentMeta,
        conditions: &RowConditions,
        rows: Option<&[u32]>,
        explain: &mut Explain,
    ) -> Option<GroupPlan> {
        let metadata = handle.metadata.metadata();
        // Time bounds that the whole segment satisfies need no row filter, nor page statistics.
        let inside =
            conditions.from.is_none_or(|f| segment.min_observed_at >= f) && conditions.to.is_none_or(|t| segment.max_observed_at < t);
        let needs_filter = !(inside && conditions.bbox.is_none() && conditions.shape.is_none() && conditions.incident_id.is_none());
        let untimed;
        let pruning = if inside && (conditions.from.is_some() || conditions.to.is_some()) {
            untimed = RowConditions { from: None, to: None, ..conditions.clone() };
            &untimed
        } else {
            conditions
        };
        let mut plan =
            GroupPlan { kept: Vec::new(), bounds: Vec::new(), page_ranges: Vec::new(), paged: false, kept_rows: 0, needs_filter };
        let mut wanted = rows.map(|r| r.iter().map(|r| *r as usize).peekable());
        let mut start = 0usize;
        for (i, group) in metadata.row_groups().iter().enumerate() {
            let end = start + group.num_rows() as usize;
            let holds_a_selected_row = match wanted.as_mut() {
                None => true,
                Some(rows) => {
                    while rows.next_if(|r| *r < start).is_some() {}
                    rows.peek().is_some_and(|r| *r < end)
                }
            };
            // Without page statistics, the whole group is one range of rows.
            #[allow(clippy::single_range_in_vec_init)]
            let survivors = (holds_a_selected_row && pruning.may_match(group, handle))
                .then(|| pruning.page_survivors(metadata, i, handle).unwrap_or_else(|| vec![0..end - start]));
            match survivors {
                Some(ranges) if !ranges.is_empty() => {
                    plan.paged |= ranges.len() != 1 || ranges[0] != (0..end - start);
                    plan.page_ranges.extend(ranges.into_iter().map(|r| plan.kept_rows + r.start..plan.kept_rows + r.end));
                    plan.kept_rows += end - start;
                    plan.kept.push(i);
                    plan.bounds.push((start, end));
                }
                _ => explain.row_groups_pruned += 1,
            }
            start = end;
        }
        (!plan.kept.is_empty()).then_some(plan)
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one-range selections are the cases under test
mod tests {
    use super::*;

    #[test]
    fn range_lists_intersect_to_the_rows_in_both() {
        assert_eq!(intersect_ranges(&[0..10, 20..30], &[5..25]), [5..10, 20..25]);
        assert_eq!(intersect_ranges(&[0..4], &[4..8]), Vec::<Range<usize>>::new());
        assert_eq!(intersect_ranges(&[0..100], &[1..2, 3..4, 99..120]), [1..2, 3..4, 99..100]);
        assert_eq!(intersect_ranges(&[], &[0..5]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn selections_skip_between_selected_rows_across_groups() {
        // Two kept groups: rows 0..4 and 10..14 (a pruned group in between is not part of the read).
        let selection = selection_for(&[1, 1, 3, 12], &[(0, 4), (10, 14)]);
        let selectors: Vec<RowSelector> = selection.into();
        assert_eq!(
            selectors,
            [
                RowSelector::skip(1),
                RowSelector::select(1),
                RowSelector::skip(1),
                RowSelector::select(1),
                RowSelector::skip(2),
                RowSelector::select(1),
                RowSelector::skip(1)
            ]
        );
    }
}
