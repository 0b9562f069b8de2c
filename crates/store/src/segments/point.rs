//! Index-selected rows read a value at a time from their pages ([`crate::pages`]), instead of
//! through parquet-rs's Arrow reader: a plate lookup wants a few rows of each day segment, and
//! the reader's set-up per column chunk cost more than decoding them.

use super::scan::RowConditions;
use crate::pages::{self, Codec, DeltaCursor, DeltaLengths, Hybrid, PageError, PageKind, corrupt};
use crate::parquet_codec::{self, Cell, Column, DecodeError};
use glasshouse_model::{Kind, Observation};
use parquet::basic::{ConvertedType, Encoding, LogicalType, Type as PhysicalType};
use parquet::file::metadata::ParquetMetaData;
use std::ops::Range;

/// At most this many rows of a segment are read value by value; more go through the Arrow
/// reader, which decodes pages front to back once rather than seeking within them row by row.
pub(crate) const POINT_ROWS_MAX: usize = 64;

/// How a segment's columns are read a value at a time. Made once per segment when it is opened;
/// absent when any column is outside what [`crate::pages`] reads.
#[derive(Debug)]
pub(crate) struct PointPlan {
    leaves: Vec<Leaf>,
}

#[derive(Debug, Clone, Copy)]
struct Leaf {
    position: usize,
    column: Column,
    physical: PhysicalType,
    /// Stored as INT32 but unsigned in Arrow (`UInt32`, `UInt8`).
    unsigned: bool,
    optional: bool,
}

impl PointPlan {
    /// The plan for a segment, or `None` when a column is nested, of another physical type,
    /// compressed or encoded otherwise, or the file has no offset index.
    pub(crate) fn of(metadata: &ParquetMetaData) -> Option<PointPlan> {
        let offsets = metadata.offset_index()?;
        let schema = metadata.file_metadata().schema_descr();
        let mut leaves = Vec::with_capacity(schema.num_columns());
        for (position, descriptor) in schema.columns().iter().enumerate() {
            let physical = descriptor.physical_type();
            let readable = matches!(
                physical,
                PhysicalType::INT32 | PhysicalType::INT64 | PhysicalType::FLOAT | PhysicalType::DOUBLE | PhysicalType::BYTE_ARRAY
            );
            if !readable || descriptor.max_rep_level() != 0 || descriptor.max_def_level() > 1 {
                return None;
            }
            let unsigned = matches!(descriptor.logical_type_ref(), Some(LogicalType::Integer(int)) if !int.is_signed)
                || matches!(descriptor.converted_type(), ConvertedType::UINT_8 | ConvertedType::UINT_16 | ConvertedType::UINT_32);
            leaves.push(Leaf {
                position,
                column: Column::named(descriptor.name())?,
                physical,
                unsigned,
                optional: descriptor.max_def_level() == 1,
            });
        }
        for (group, metadata) in metadata.row_groups().iter().enumerate() {
            if offsets.get(group).is_none_or(|columns| columns.len() != leaves.len()) {
                return None;
            }
            for chunk in metadata.columns() {
                let known = chunk.encodings().all(|e| {
                    matches!(
                        e,
                        Encoding::PLAIN
                            | Encoding::PLAIN_DICTIONARY
                            | Encoding::RLE_DICTIONARY
                            | Encoding::RLE
                            | Encoding::DELTA_BINARY_PACKED
                            | Encoding::DELTA_LENGTH_BYTE_ARRAY
                    )
                });
                if !known || Codec::of(chunk.compression()).is_none() {
                    return None;
                }
            }
        }
        Some(PointPlan { leaves })
    }
}

/// A page body: a range of the mapped file when stored uncompressed, else inflated.
#[derive(Debug)]
enum Body {
    Mapped(Range<usize>),
    Owned(Vec<u8>),
}

impl Body {
    fn bytes<'a>(&'a self, file: &'a [u8]) -> &'a [u8] {
        match self {
            Body::Mapped(range) => &file[range.clone()],
            Body::Owned(bytes) => bytes,
        }
    }

    /// Reads a page's body from `file` at `start` (`length` stored bytes), inflating it into `spare`'s
    /// allocation when compressed.
    fn load(file: &[u8], start: usize, header: &pages::PageHeader, codec: Codec, spare: Option<Body>) -> Result<Body, PageError> {
        let range = start + header.length..start + header.length + header.compressed_size;
        let stored = file.get(range.clone()).ok_or_else(|| corrupt("a page runs past the end of the file"))?;
        if codec == Codec::None {
            if header.uncompressed_size != header.compressed_size {
                return Err(corrupt("an uncompressed page with two sizes"));
            }
            return Ok(Body::Mapped(range));
        }
        let mut out = match spare {
            Some(Body::Owned(bytes)) => bytes,
            _ => Vec::new(),
        };
        pages::decompress(codec, stored, header.uncompressed_size, &mut out)?;
        Ok(Body::Owned(out))
    }
}

/// How a page's values are found by position.
#[derive(Debug)]
enum Values {
    /// Fixed-width values one after another.
    Plain,
    /// Plain text: where each value lies among the values.
    PlainText(Vec<Range<usize>>),
    /// Indices into the row group's dictionary, hybrid-encoded at this width.
    Dictionary(u8),
    /// Delta-packed integers, and the value last sought.
    Delta(DeltaCursor, i64),
    DeltaLength(DeltaLengths),
}

#[derive(Debug)]
struct OpenPage {
    group: usize,
    page: usize,
    first_row: usize,
    rows: usize,
    body: Body,
    /// Definition levels within the body (optional columns).
    levels: Range<usize>,
    /// Where the values start within the body.
    values_at: usize,
    values: Values,
}

#[derive(Debug)]
struct OpenDictionary {
    group: usize,
    body: Body,
    entries: usize,
}

/// Where one column's value of the current row is.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Null,
    Value(usize),
}

/// One column being read: the page it has open and its row group's dictionary.
struct Cursor {
    leaf: Leaf,
    page: Option<OpenPage>,
    dictionary: Option<OpenDictionary>,
    slot: Slot,
}

impl Cursor {
    fn new(leaf: Leaf) -> Cursor {
        Cursor { leaf, page: None, dictionary: None, slot: Slot::Null }
    }

    /// Finds the value of row `row` of row group `group`, opening its page (and dictionary) when
    /// the last row's was another.
    fn seek(&mut self, file: &[u8], metadata: &ParquetMetaData, group: usize, row: usize) -> Result<(), PageError> {
        let group_meta = metadata.row_group(group);
        let chunk = group_meta.column(self.leaf.position);
        let group_rows = usize::try_from(group_meta.num_rows()).map_err(|_| corrupt("a negative row count"))?;
        // A column null in every row of the group (an optional field no reader fills) is not read.
        if self.leaf.optional && chunk.statistics().and_then(|s| s.null_count_opt()).is_some_and(|n| n == group_rows as u64) {
            self.slot = Slot::Null;
            return Ok(());
        }
        let locations = metadata
            .offset_index()
            .and_then(|o| o.get(group))
            .and_then(|columns| columns.get(self.leaf.position))
            .ok_or_else(|| corrupt("no offset index"))?
            .page_locations();
        let page = locations
            .partition_point(|l| usize::try_from(l.first_row_index).is_ok_and(|first| first <= row))
            .checked_sub(1)
            .ok_or_else(|| corrupt("a row before the first page"))?;
        if self.page.as_ref().is_none_or(|p| (p.group, p.page) != (group, page)) {
            let end = locations
                .get(page + 1)
                .map_or(Ok(group_rows), |next| usize::try_from(next.first_row_index))
                .map_err(|_| corrupt("a negative row index"))?;
            self.open_page(file, metadata, group, page, end)?;
        }
        let open = self.page.as_mut().expect("opened above");
        let within = row - open.first_row;
        if within >= open.rows {
            return Err(corrupt(format!("row {row} is not in the page that the offset index names")));
        }
        let body = open.body.bytes(file);
        let index = if self.leaf.optional {
            let (level, defined_before) = Hybrid { data: &body[open.levels.clone()], width: 1 }.get(within, 1)?;
            if level == 0 {
                self.slot = Slot::Null;
                return Ok(());
            }
            defined_before
        } else {
            within
        };
        if let Values::Delta(cursor, value) = &mut open.values {
            *value = cursor.seek(&body[open.values_at..], index)?;
        }
        self.slot = Slot::Value(index);
        Ok(())
    }

    fn open_page(&mut self, file: &[u8], metadata: &ParquetMetaData, group: usize, page: usize, end: usize) -> Result<(), PageError> {
        let chunk = metadata.row_group(group).column(self.leaf.position);
        let codec = Codec::of(chunk.compression()).ok_or_else(|| PageError::Unsupported(format!("{:?}", chunk.compression())))?;
        let location = &metadata.offset_index().expect("checked by the caller")[group][self.leaf.position].page_locations()[page];
        let start = usize::try_from(location.offset).map_err(|_| corrupt("a negative page offset"))?;
        let first_row = usize::try_from(location.first_row_index).map_err(|_| corrupt("a negative row index"))?;
        let stored = file.get(start..).ok_or_else(|| corrupt("a page past the end of the file"))?;
        let header = pages::parse_header(stored)?;
        let PageKind::Data { values: count, encoding, level_encoding } = header.kind else {
            return Err(match header.kind {
                PageKind::DataV2 => PageError::Unsupported("a v2 data page".into()),
                other => corrupt(format!("the offset index names a {other:?} page")),
            });
        };
        let rows = end.checked_sub(first_row).ok_or_else(|| corrupt("pages out of order"))?;
        if count != rows {
            return Err(corrupt(format!("a page of {count} values holds {rows} rows of a flat column")));
        }
        let body = Body::load(file, start, &header, codec, self.page.take().map(|p| p.body))?;
        let bytes = body.bytes(file);
        let (levels, values_at) = if self.leaf.optional {
            if level_encoding != 3 {
                return Err(PageError::Unsupported(format!("definition levels in encoding {level_encoding}")));
            }
            let length = bytes
                .get(..4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or_else(|| corrupt("levels cut short"))?;
            if 4 + length > bytes.len() {
                return Err(corrupt("levels run past their page"));
            }
            (4..4 + length, 4 + length)
        } else {
            (0..0, 0)
        };
        let data = &bytes[values_at..];
        let text = self.leaf.physical == PhysicalType::BYTE_ARRAY;
        let integer = matches!(self.leaf.physical, PhysicalType::INT32 | PhysicalType::INT64);
        let values = match encoding {
            0 if text => Values::PlainText(plain_text_spans(data)?),
            0 => Values::Plain,
            2 | 8 => {
                let width = *data.first().ok_or_else(|| corrupt("dictionary indices without a width"))?;
                if self.dictionary.as_ref().is_none_or(|d| d.group != group) {
                    self.open_dictionary(file, metadata, group, codec)?;
                }
                Values::Dictionary(width)
            }
            5 if integer => Values::Delta(DeltaCursor::new(data)?, 0),
            6 if text => Values::DeltaLength(DeltaLengths::new(data, count)?),
            other => return Err(PageError::Unsupported(format!("encoding {other} of a {:?} column", self.leaf.physical))),
        };
        self.page = Some(OpenPage { group, page, first_row, rows, body, levels, values_at, values });
        Ok(())
    }

    fn open_dictionary(&mut self, file: &[u8], metadata: &ParquetMetaData, group: usize, codec: Codec) -> Result<(), PageError> {
        let chunk = metadata.row_group(group).column(self.leaf.position);
        let offset = chunk
            .dictionary_page_offset()
            .ok_or_else(|| PageError::Unsupported("dictionary indices without a dictionary offset".into()))?;
        let start = usize::try_from(offset).map_err(|_| corrupt("a negative dictionary offset"))?;
        let header = pages::parse_header(file.get(start..).ok_or_else(|| corrupt("a dictionary past the end of the file"))?)?;
        let PageKind::Dictionary { values: entries, encoding } = header.kind else {
            return Err(corrupt("the dictionary offset names another page"));
        };
        if encoding != 0 && encoding != 2 {
            return Err(PageError::Unsupported(format!("a dictionary in encoding {encoding}")));
        }
        let body = Body::load(file, start, &header, codec, self.dictionary.take().map(|d| d.body))?;
        self.dictionary = Some(OpenDictionary { group, body, entries });
        Ok(())
    }

    /// The value [`Cursor::seek`] found.
    fn cell<'a>(&'a self, file: &'a [u8]) -> Result<Cell<'a>, PageError> {
        let Slot::Value(index) = self.slot else { return Ok(Cell::Null) };
        let open = self.page.as_ref().ok_or_else(|| corrupt("no page open"))?;
        let data = &open.body.bytes(file)[open.values_at..];
        match &open.values {
            Values::Plain => self.fixed(fixed_value(data, index, self.width())?),
            Values::PlainText(spans) => text(data, spans, index),
            Values::Dictionary(width) => {
                let key = Hybrid { data: &data[1..], width: *width }.value(index)?;
                let dictionary = self.dictionary.as_ref().ok_or_else(|| corrupt("no dictionary open"))?;
                let key = usize::try_from(key)
                    .ok()
                    .filter(|k| *k < dictionary.entries)
                    .ok_or_else(|| corrupt("a dictionary index out of range"))?;
                let entries = dictionary.body.bytes(file);
                match self.leaf.physical {
                    // Walked to the entry rather than indexed: a lookup wants one entry of a row
                    // group's dictionary, and the next row is usually in another group.
                    PhysicalType::BYTE_ARRAY => utf8(plain_text_nth(entries, key)?),
                    _ => self.fixed(fixed_value(entries, key, self.width())?),
                }
            }
            Values::Delta(_, value) => {
                let value = *value;
                Ok(match self.leaf.physical {
                    PhysicalType::INT32 if self.leaf.unsigned => Cell::Int(i64::from(value as i32 as u32)),
                    PhysicalType::INT32 => Cell::Int(i64::from(value as i32)),
                    _ => Cell::Int(value),
                })
            }
            Values::DeltaLength(run) => utf8(run.get(data, index)?),
        }
    }

    fn width(&self) -> usize {
        match self.leaf.physical {
            PhysicalType::INT32 | PhysicalType::FLOAT => 4,
            _ => 8,
        }
    }

    fn fixed(&self, bytes: &[u8]) -> Result<Cell<'static>, PageError> {
        let four = || <[u8; 4]>::try_from(bytes).map_err(|_| corrupt("a value of the wrong width"));
        let eight = || <[u8; 8]>::try_from(bytes).map_err(|_| corrupt("a value of the wrong width"));
        Ok(match self.leaf.physical {
            PhysicalType::INT32 if self.leaf.unsigned => Cell::Int(i64::from(u32::from_le_bytes(four()?))),
            PhysicalType::INT32 => Cell::Int(i64::from(i32::from_le_bytes(four()?))),
            PhysicalType::INT64 => Cell::Int(i64::from_le_bytes(eight()?)),
            PhysicalType::FLOAT => Cell::Float(f64::from(f32::from_le_bytes(four()?))),
            PhysicalType::DOUBLE => Cell::Float(f64::from_le_bytes(eight()?)),
            other => return Err(PageError::Unsupported(format!("{other:?} values"))),
        })
    }
}

fn fixed_value(data: &[u8], index: usize, width: usize) -> Result<&[u8], PageError> {
    data.get(index * width..(index + 1) * width).ok_or_else(|| corrupt("a value past the end of its page"))
}

fn text<'a>(data: &'a [u8], spans: &[Range<usize>], index: usize) -> Result<Cell<'a>, PageError> {
    let span = spans.get(index).ok_or_else(|| corrupt("a text value past the end of its page"))?;
    utf8(&data[span.clone()])
}

fn utf8(bytes: &[u8]) -> Result<Cell<'_>, PageError> {
    std::str::from_utf8(bytes).map(Cell::Text).map_err(|_| corrupt("text that is not UTF-8"))
}

/// Plain text value `n` of `data` (each stored as a four-byte length and its bytes).
fn plain_text_nth(data: &[u8], n: usize) -> Result<&[u8], PageError> {
    let mut at = 0;
    for _ in 0..n {
        let length = data
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| corrupt("a text length cut short"))?;
        at += 4 + length;
    }
    let length = data
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .ok_or_else(|| corrupt("a text length cut short"))?;
    data.get(at + 4..at + 4 + length).ok_or_else(|| corrupt("text runs past its page"))
}

/// Where each plain text value lies: each is stored as a four-byte length and its bytes, to the
/// end of `data`.
fn plain_text_spans(data: &[u8]) -> Result<Vec<Range<usize>>, PageError> {
    let mut spans = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let length = data
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| corrupt("a text length cut short"))?;
        let end = at + 4 + length;
        if end > data.len() {
            return Err(corrupt("text runs past its page"));
        }
        spans.push(at + 4..end);
        at = end;
    }
    Ok(spans)
}

/// Why index-selected rows could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// A page is damaged.
    Corrupt(String),
    /// The values do not make an observation.
    Decode(DecodeError),
}

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> ReadError {
        ReadError::Decode(e)
    }
}

/// What [`read_rows`] reads: the segment and the rows wanted of it.
pub(crate) struct RowsWanted<'a> {
    pub kind: Kind,
    /// Row numbers in the file, in order.
    pub rows: &'a [u32],
    /// `plates[i]` is the plate of `rows[i]`, when the plate index told it.
    pub plates: Option<&'a [&'a str]>,
    /// The row groups left after pruning, in order: (group, its first row, the row after its last).
    pub groups: &'a [(usize, usize, usize)],
    /// Conditions a row must still pass (time, position), when the segment is not wholly inside them.
    pub filter: Option<&'a RowConditions>,
}

/// Reads the wanted rows value by value. `Ok(None)` when a page is valid Parquet that
/// [`crate::pages`] does not read: the caller reads the segment through the Arrow reader instead.
pub(crate) fn read_rows(
    plan: &PointPlan,
    file: &[u8],
    metadata: &ParquetMetaData,
    wanted: &RowsWanted<'_>,
) -> Result<Option<Vec<Observation>>, ReadError> {
    match read(plan, file, metadata, wanted) {
        Ok(found) => Ok(Some(found)),
        Err(Failure::Page(PageError::Unsupported(_))) => Ok(None),
        Err(Failure::Page(PageError::Corrupt(reason))) => Err(ReadError::Corrupt(reason)),
        Err(Failure::Decode(e)) => Err(ReadError::Decode(e)),
    }
}

enum Failure {
    Page(PageError),
    Decode(DecodeError),
}

impl From<PageError> for Failure {
    fn from(e: PageError) -> Failure {
        Failure::Page(e)
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Failure {
        Failure::Decode(e)
    }
}

fn read(plan: &PointPlan, file: &[u8], metadata: &ParquetMetaData, wanted: &RowsWanted<'_>) -> Result<Vec<Observation>, Failure> {
    let known_plates = wanted.plates.filter(|p| p.len() == wanted.rows.len());
    let mut cursors: Vec<Cursor> =
        plan.leaves.iter().filter(|l| l.column != Column::Plate || known_plates.is_none()).copied().map(Cursor::new).collect();
    let mut plate = known_plates.and(plan.leaves.iter().find(|l| l.column == Column::Plate)).copied().map(Cursor::new);
    let candidates = cursors.iter().position(|c| c.leaf.column == Column::CandidatesJson);
    let (mut found, mut group, mut previous) = (Vec::with_capacity(wanted.rows.len()), 0, None);
    for (i, &row) in wanted.rows.iter().enumerate() {
        let row = row as usize;
        if previous.replace(row) == Some(row) {
            continue;
        }
        while wanted.groups.get(group).is_some_and(|g| g.2 <= row) {
            group += 1;
        }
        // A row of a group the statistics pruned is not read.
        let Some(&(index, first, _)) = wanted.groups.get(group).filter(|g| g.1 <= row) else { continue };
        for cursor in &mut cursors {
            cursor.seek(file, metadata, index, row - first)?;
        }
        let key = known_plates.map(|p| p[i]);
        // The index also keys a row under each of its OCR candidates, so a row found by a key has
        // that plate unless its candidates hold the key: then its own plate is read.
        let own_plate = match (key, candidates) {
            (Some(key), Some(c)) => matches!(cursors[c].cell(file)?, Cell::Text(json) if json.contains(key)),
            _ => false,
        };
        if let Some(plate) = plate.as_mut().filter(|_| own_plate) {
            plate.seek(file, metadata, index, row - first)?;
        }
        let mut cells = [Cell::Null; Column::ALL.len()];
        for cursor in &cursors {
            cells[cursor.leaf.column.index()] = cursor.cell(file)?;
        }
        match (key, plate.as_ref()) {
            (Some(_), Some(plate)) if own_plate => cells[Column::Plate.index()] = plate.cell(file)?,
            (Some(key), _) => cells[Column::Plate.index()] = Cell::Text(key),
            (None, _) => {}
        }
        if let Some(filter) = wanted.filter {
            let (Cell::Int(at), Cell::Float(lat), Cell::Float(lon)) =
                (cells[Column::ObservedAt.index()], cells[Column::Lat.index()], cells[Column::Lon.index()])
            else {
                return Err(corrupt("a row without its time or position").into());
            };
            if !filter.keeps(at, lat, lon) {
                continue;
            }
        }
        found.push(parquet_codec::observation_from_cells(wanted.kind, |column| cells[column.index()])?);
    }
    Ok(found)
}
