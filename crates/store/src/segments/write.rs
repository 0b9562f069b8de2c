//! Writing one segment: rows in space-filling order, row groups small enough to prune, a bloom
//! filter on the plate column, and for plate reads the sidecar plate index.

use super::parallel::{map_on_two_cores, sort_on_two_cores};
use super::{SegmentMeta, StoreError, io_error, parquet_error};
use crate::id_filter::IdFilter;
use crate::parquet_codec;
use crate::plate_index;
use arrow::record_batch::RecordBatch;
use glasshouse_model::{Body, Kind, Observation, Timestamp};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::{self, File};
use std::path::Path;
use std::sync::Mutex;

/// Rows per row group. Each group carries min/max statistics for every column; with rows in
/// space-filling order, a group covers a small patch of the city, so an area search skips most
/// groups from the footer alone. Smaller groups prune better but cost footer space and per-group
/// overhead; 32 Ki rows is about 500 KB of plate reads.
pub const ROW_GROUP_ROWS: usize = 32 * 1024;

/// Rows per data page. A plate lookup selects single rows, and reads one page of every column it
/// returns (the offset index names it). Uncompressed pages are read in place, so they are long
/// enough that their headers stay a small share of the file (all-null optional columns cost ~30
/// bytes a page); the compressed text columns get short pages of their own ([`ID_PAGE_BYTES`],
/// [`PLATE_PAGE_BYTES`]), since decompressing them is most of a lookup's time, and so do the
/// delta-packed times ([`TIME_PAGE_BYTES`]).
const PAGE_ROWS: usize = 4096;

/// Uncompressed bytes per page of `plate` (a page is cut at the first write batch past it, so
/// pages hold 3 to 4 KB, about 430 to 570 plates): area and pattern searches decode whole pages, and
/// smaller ones cost bytes (docs/decisions/0005-page-sizes.md).
const PLATE_PAGE_BYTES: usize = 3072;

/// Uncompressed bytes per page of `id` (about 200 ids), the one compressed column an exact plate
/// lookup decompresses, a page per day segment (docs/decisions/0005-page-sizes.md).
const ID_PAGE_BYTES: usize = 1536;

/// The codec of the text columns: gzip level 6, because parquet-rs creates a codec per column chunk
/// it reads, and a zstd codec's set-up (a `cpuid` that traps in a virtual machine) would dominate a
/// point lookup (docs/decisions/0001-text-column-codecs.md). Segments with zstd text still read.
fn text_codec() -> Compression {
    Compression::GZIP(GzipLevel::try_new(6).expect("level 6 is valid"))
}

/// The codec of `id`: zstd, read by the point reader ([`super::point`]) with one decompressor per
/// thread, so the set-up cost above is paid once per thread (docs/decisions/0001-text-column-codecs.md).
fn id_codec() -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(3).expect("level 3 is valid"))
}

/// Bytes per page of `observed_at` (about three a time, delta-packed), so a page holds about 1,000
/// rows where the other columns' pages hold [`PAGE_ROWS`]: a lookup sums the deltas before its row
/// (docs/decisions/0005-page-sizes.md).
const TIME_PAGE_BYTES: usize = 3072;

/// Rows the writer buffers before it checks a page's size: a page is cut at the first check past
/// its limit, so this bounds how far a text page overshoots its limit (128 ids are about 1.2 KB).
const WRITE_BATCH_ROWS: usize = 128;

/// False-positive rate of the plate bloom filter: 5 % keeps it near 6 bits per distinct plate.
const BLOOM_FPP: f64 = 0.05;

/// Interleaves the bits of a position quantised to 2^20 steps per axis (about 38 m of longitude at
/// the equator): nearby points get nearby keys, so sorting by it clusters rows by area.
pub fn morton_key(lat: f64, lon: f64) -> u64 {
    let quantise = |v: f64, lo: f64, span: f64| (((v - lo) / span).clamp(0.0, 1.0) * f64::from((1u32 << 20) - 1)) as u64;
    let (x, y) = (quantise(lon, -180.0, 360.0), quantise(lat, -90.0, 180.0));
    let spread = |mut v: u64| {
        v &= 0xF_FFFF;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    };
    spread(x) | (spread(y) << 1)
}

/// Writes `rows` as the segment at `relative` (and its plate index), durably, and describes it.
pub(super) fn write_segment_file(root: &Path, relative: String, kind: Kind, rows: &[&Observation]) -> Result<SegmentMeta, StoreError> {
    let path = root.join(&relative);
    if rows.is_empty() {
        return Err(StoreError::Parquet { path, reason: "a segment needs at least one row".into() });
    }
    let dir = path.parent().expect("segment path has a parent");
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    // Space, then time, then id (ids are compared only on ties, so no key holds a copy of one).
    // The segment's extent is gathered in the same pass: each pass over a large segment's
    // observations costs a visit to every one of them.
    let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    let mut times = (i64::MAX, i64::MIN);
    let order: Vec<(u64, i64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (lat, lon, at) = (o.position.lat, o.position.lon, o.observed_at.0);
            bbox = [bbox[0].min(lon), bbox[1].min(lat), bbox[2].max(lon), bbox[3].max(lat)];
            times = (times.0.min(at), times.1.max(at));
            (morton_key(lat, lon), at, i as u32)
        })
        .collect();
    let order =
        sort_on_two_cores(order, |a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| rows[a.2 as usize].id.cmp(&rows[b.2 as usize].id)));

    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // Page statistics (the column index) for time and position only: rows are in space-filling
        // order, so an area search skips the pages of a row group away from its circle. They cost
        // about 0.015 bytes per read; on every column they would cost more than they save.
        .set_column_statistics_enabled(ColumnPath::from("observed_at"), EnabledStatistics::Page)
        .set_column_statistics_enabled(ColumnPath::from("lat"), EnabledStatistics::Page)
        .set_column_statistics_enabled(ColumnPath::from("lon"), EnabledStatistics::Page)
        // Times are unique per row, so a dictionary only adds a layer; within a reader's run (rows
        // are in space, then time order) the deltas are small.
        .set_column_dictionary_enabled(ColumnPath::from("observed_at"), false)
        .set_column_encoding(ColumnPath::from("observed_at"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("receive_delay_ms"), false)
        .set_column_encoding(ColumnPath::from("receive_delay_ms"), Encoding::DELTA_BINARY_PACKED);
    // Near-unique text gains nothing from a dictionary, and a lookup of one row would have to
    // decode the whole dictionary page of its row group first.
    for unique in ["id", "plate", "candidates_json", "image_ref"] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(unique), false);
    }
    // Plain text stores a four-byte length before every value, which a compressor only half
    // removes; this encoding keeps the lengths apart, delta-packed (plates are mostly one length),
    // and leaves the characters alone for the entropy coder.
    for text in ["id", "plate"] {
        props = props.set_column_encoding(ColumnPath::from(text), Encoding::DELTA_LENGTH_BYTE_ARRAY);
        let limit = if text == "id" { ID_PAGE_BYTES } else { PLATE_PAGE_BYTES };
        props = props.set_column_data_page_size_limit(ColumnPath::from(text), limit);
    }
    props = props.set_write_batch_size(WRITE_BATCH_ROWS);
    // Only the text columns below are compressed. The rest are dictionary indices in runs (readers,
    // positions, categories) or delta-packed times, which a compressor does not shrink (zstd made
    // the times 0.2 % larger), and every compressed column chunk a lookup touches costs the reader
    // a fresh codec.
    props = props.set_compression(Compression::UNCOMPRESSED);
    for compressed in ["plate", "candidates_json", "image_ref", "address", "value"] {
        props = props.set_column_compression(ColumnPath::from(compressed), text_codec());
    }
    props = props.set_column_compression(ColumnPath::from("id"), id_codec());
    // Time pages a quarter of the other columns' rows: a lookup of one row sums the deltas before
    // it in its page.
    props = props.set_column_data_page_size_limit(ColumnPath::from("observed_at"), TIME_PAGE_BYTES);
    if kind == Kind::PlateRead {
        let plate = ColumnPath::from("plate");
        props = props
            .set_column_bloom_filter_enabled(plate.clone(), true)
            .set_column_bloom_filter_fpp(plate.clone(), BLOOM_FPP)
            .set_column_bloom_filter_max_ndv(plate, rows.len().min(ROW_GROUP_ROWS) as u64);
    }
    let temporary = path.with_extension("tmp");
    let write_parquet = || -> Result<(), StoreError> {
        let arrow_error = |e: arrow::error::ArrowError| StoreError::Parquet { path: path.clone(), reason: e.to_string() };
        let arrival = parquet_codec::encode(kind, rows.iter().copied()).map_err(arrow_error)?;
        let in_file_order: Vec<u32> = order.iter().map(|(_, _, arrived)| *arrived).collect();
        let batch = super::gather::gather_on_two_cores(&arrival, &in_file_order).map_err(arrow_error)?;
        drop(arrival);
        let file = File::create(&temporary).map_err(io_error(&temporary))?;
        let writer = ArrowWriter::try_new(file, batch.schema(), Some(props.build())).map_err(parquet_error(&path))?;
        let (mut file_writer, factory) = writer.into_serialized_writer().map_err(parquet_error(&path))?;
        for (group, start) in (0..batch.num_rows()).step_by(ROW_GROUP_ROWS).enumerate() {
            let slice = batch.slice(start, ROW_GROUP_ROWS.min(batch.num_rows() - start));
            let writers = factory.create_column_writers(group).map_err(parquet_error(&path))?;
            let chunks = encode_columns(&slice, writers).map_err(parquet_error(&path))?;
            let mut row_group = file_writer.next_row_group().map_err(parquet_error(&path))?;
            for chunk in chunks {
                chunk.append_to_row_group(&mut row_group).map_err(parquet_error(&path))?;
            }
            row_group.close().map_err(parquet_error(&path))?;
        }
        let file = file_writer.into_inner().map_err(parquet_error(&path))?;
        file.sync_all().map_err(io_error(&temporary))
    };
    // The plate index is built on a second core while the Parquet file is written: together they
    // are the segment builder's work, and the index is a fifth of it.
    let (index, parquet) = std::thread::scope(|scope| {
        let index = scope.spawn(|| match kind {
            Kind::PlateRead => write_plate_index(root, &relative, rows, &order).map(|(path, bytes)| (Some(path), bytes)),
            _ => Ok((None, 0)),
        });
        let parquet = write_parquet();
        (index.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), parquet)
    });
    parquet?;
    let (plate_index, index_bytes) = index?;
    let (id_filter, id_filter_bytes) = write_id_filter(root, &relative, rows)?;
    fs::rename(&temporary, &path).map_err(io_error(&path))?;
    glasshouse_wal::files::sync_parent(&path).map_err(io_error(&path))?;
    let size_bytes = fs::metadata(&path).map_err(io_error(&path))?.len();
    Ok(SegmentMeta {
        path: relative,
        kind: kind.as_str().into(),
        min_observed_at: Timestamp(times.0),
        max_observed_at: Timestamp(times.1),
        rows: rows.len() as u64,
        bbox,
        size_bytes,
        plate_index,
        index_bytes,
        id_filter: Some(id_filter),
        id_filter_bytes,
    })
}

/// Writes the filter of the segment's ids beside it, durably. Returns its relative path and size.
fn write_id_filter(root: &Path, relative: &str, rows: &[&Observation]) -> Result<(String, u64), StoreError> {
    let filter_relative = relative.replace(".parquet", ".ids");
    let path = root.join(&filter_relative);
    let filter =
        IdFilter::build(rows.iter().map(|o| o.dedup_key())).map_err(|reason| StoreError::Parquet { path: path.clone(), reason })?;
    let bytes = filter.to_bytes();
    glasshouse_wal::files::replace(&path, &bytes, glasshouse_wal::files::Readers::Default).map_err(io_error(&path))?;
    Ok((filter_relative, bytes.len() as u64))
}

/// Encodes one row group's columns on two cores (parquet-rs's `ArrowWriter` encodes them one after
/// another; with the plate index on the other core, the Parquet file was the builder's critical
/// path). The chunks come back in column order.
fn encode_columns(batch: &RecordBatch, writers: Vec<ArrowColumnWriter>) -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
    let mut work = Vec::with_capacity(writers.len());
    let mut writers = writers.into_iter();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        for leaf in compute_leaves(field, column)? {
            let writer = writers.next().ok_or_else(|| parquet::errors::ParquetError::General("fewer column writers than leaves".into()))?;
            work.push(Mutex::new(Some((writer, leaf))));
        }
    }
    map_on_two_cores(work.len(), |i| {
        let (mut writer, leaf) = work[i].lock().unwrap_or_else(|p| p.into_inner()).take().expect("each column is taken once");
        writer.write(&leaf)?;
        writer.close()
    })
}

/// Writes the plate index of a segment's rows (in arrival order; `order` lists them in file order,
/// each as `(_, _, arrival position)`) beside it, durably. Returns its relative path and size.
fn write_plate_index(root: &Path, relative: &str, rows: &[&Observation], order: &[(u64, i64, u32)]) -> Result<(String, u64), StoreError> {
    let index_relative = relative.replace(".parquet", ".plates");
    let mut row_of = vec![0u32; rows.len()];
    for (row, (_, _, arrived)) in order.iter().enumerate() {
        row_of[*arrived as usize] = row as u32;
    }
    let mut pairs = Vec::with_capacity(rows.len());
    for (o, row) in rows.iter().zip(row_of) {
        if let Body::PlateRead(read) = &o.body {
            pairs.extend(std::iter::once(&read.plate).chain(read.candidates.iter().map(|c| &c.plate)).map(|p| (p.as_str(), row)));
        }
    }
    let bytes = plate_index::build(pairs);
    let index_path = root.join(&index_relative);
    glasshouse_wal::files::replace(&index_path, &bytes, glasshouse_wal::files::Readers::Default).map_err(io_error(&index_path))?;
    Ok((index_relative, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::morton_key;

    #[test]
    fn morton_keys_keep_neighbours_close_and_order_each_axis() {
        let here = morton_key(60.17, 24.94);
        assert!(morton_key(60.17, 24.95) > here, "east sorts after");
        assert!(morton_key(60.18, 24.94) > here, "north sorts after");
        assert_eq!(morton_key(60.170_000_1, 24.940_000_1), here, "within one cell");
        assert!(morton_key(95.0, 200.0) >= morton_key(90.0, 180.0), "out-of-range values clamp");
    }
}
