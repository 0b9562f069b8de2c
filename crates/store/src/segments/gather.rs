//! Gathering a batch's rows into file order, a column per core at a time.
//!
//! A segment's rows arrive in time order and are written in space order, so each row of the output
//! comes from a different reader's stream than the row before, far away in the input: for a day's
//! segment (3.3M reads) nearly every value read is a cache miss. Arrow's `take` reads them one
//! after another, so the misses queue; the loops here start loading a value a few dozen rows
//! before they copy it (and, for text, its offsets first and its bytes next), so the misses
//! overlap. Columns with nulls, and types a segment does not have, still go through `take`.

use super::parallel::map_on_two_cores;
use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, StringArray, UInt32Array, new_null_array};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::take;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType, UInt8Type, UInt32Type,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// How many rows ahead a value starts loading (a text value's offsets; its bytes half as far).
const AHEAD: usize = 32;

/// `batch`'s rows in the order `indices` gives (each an index into `batch`), its columns shared
/// between two cores.
pub(super) fn gather_on_two_cores(batch: &RecordBatch, indices: &[u32]) -> Result<RecordBatch, ArrowError> {
    if let Some(bad) = indices.iter().find(|i| **i as usize >= batch.num_rows()) {
        return Err(ArrowError::InvalidArgumentError(format!("row {bad} of a batch of {}", batch.num_rows())));
    }
    let columns = batch.columns();
    let gathered = map_on_two_cores(columns.len(), |i| gather_column(&columns[i], indices))?;
    RecordBatch::try_new(batch.schema(), gathered)
}

/// One column in the order `indices` gives (every index already checked to be in range).
fn gather_column(column: &ArrayRef, indices: &[u32]) -> Result<ArrayRef, ArrowError> {
    if column.null_count() == column.len() {
        // A field no observation had (a reader that reports no vehicle colour, say).
        return Ok(new_null_array(column.data_type(), indices.len()));
    }
    if column.null_count() > 0 {
        return take(column.as_ref(), &UInt32Array::from(indices.to_vec()), None);
    }
    Ok(match column.data_type() {
        DataType::Utf8 => Arc::new(gather_strings(column.as_string::<i32>(), indices)?),
        DataType::Int64 => Arc::new(gather_primitive(column.as_primitive::<Int64Type>(), indices)),
        DataType::Float64 => Arc::new(gather_primitive(column.as_primitive::<Float64Type>(), indices)),
        DataType::Float32 => Arc::new(gather_primitive(column.as_primitive::<Float32Type>(), indices)),
        DataType::UInt32 => Arc::new(gather_primitive(column.as_primitive::<UInt32Type>(), indices)),
        DataType::UInt8 => Arc::new(gather_primitive(column.as_primitive::<UInt8Type>(), indices)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Arc::new(gather_primitive(column.as_primitive::<TimestampMicrosecondType>(), indices))
        }
        _ => return take(column.as_ref(), &UInt32Array::from(indices.to_vec()), None),
    })
}

/// A column without nulls, gathered.
fn gather_primitive<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, indices: &[u32]) -> PrimitiveArray<T> {
    let values = array.values();
    let mut out = Vec::with_capacity(indices.len());
    for (i, index) in indices.iter().enumerate() {
        if let Some(ahead) = indices.get(i + AHEAD) {
            prefetch(values[*ahead as usize..].as_ptr());
        }
        out.push(values[*index as usize]);
    }
    // The type as it was (a timestamp keeps its time zone).
    PrimitiveArray::<T>::new(ScalarBuffer::from(out), None).with_data_type(array.data_type().clone())
}

/// A text column without nulls, gathered.
fn gather_strings(array: &StringArray, indices: &[u32]) -> Result<StringArray, ArrowError> {
    let (offsets, bytes) = (array.value_offsets(), array.value_data());
    let mut out_offsets = Vec::with_capacity(indices.len() + 1);
    out_offsets.push(0i32);
    let mut out_bytes = Vec::with_capacity(bytes.len());
    for (i, index) in indices.iter().enumerate() {
        if let Some(ahead) = indices.get(i + AHEAD) {
            prefetch(offsets[*ahead as usize..].as_ptr());
        }
        if let Some(near) = indices.get(i + AHEAD / 2) {
            // Its offsets were asked for AHEAD / 2 rows ago.
            prefetch(bytes[offsets[*near as usize] as usize..].as_ptr());
        }
        let (start, end) = (offsets[*index as usize] as usize, offsets[*index as usize + 1] as usize);
        out_bytes.extend_from_slice(&bytes[start..end]);
        let end = i32::try_from(out_bytes.len()).map_err(|_| ArrowError::OffsetOverflowError(out_bytes.len()))?;
        out_offsets.push(end);
    }
    StringArray::try_new(OffsetBuffer::new(ScalarBuffer::from(out_offsets)), Buffer::from_vec(out_bytes), None)
}

/// Asks the CPU to start loading the cache line at `address`; a hint, never a fault.
#[inline(always)]
fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float32Array, Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};
    use proptest::prelude::*;

    fn batch(rows: &[(Option<String>, String, i64, Option<f32>)]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("maybe_text", DataType::Utf8, true),
            Field::new("text", DataType::Utf8, false),
            Field::new("number", DataType::Int64, false),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("maybe_number", DataType::Float32, true),
            Field::new("never", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(rows.iter().map(|r| r.0.clone()).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| Some(r.1.clone())).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
            Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()).with_timezone("UTC")),
            Arc::new(rows.iter().map(|r| r.3).collect::<Float32Array>()),
            new_null_array(&DataType::Utf8, rows.len()),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    proptest! {
        /// Gathering agrees with arrow's `take`, column by column, types and nulls included, also
        /// on a slice of a batch (whose arrays start at an offset).
        #[test]
        fn gathering_agrees_with_take(
            rows in proptest::collection::vec((proptest::option::of("[a-z]{0,12}"), "[A-Z0-9é]{0,9}", any::<i64>(), proptest::option::of(-1e6f32..1e6)), 1..200),
            picks in proptest::collection::vec(any::<u32>(), 0..300),
            skip in 0usize..5,
        ) {
            let whole = batch(&rows);
            let skip = skip.min(rows.len() - 1);
            let source = whole.slice(skip, rows.len() - skip);
            let indices: Vec<u32> = picks.iter().map(|p| p % source.num_rows() as u32).collect();
            let gathered = gather_on_two_cores(&source, &indices).unwrap();
            let expected = arrow::compute::take_record_batch(&source, &UInt32Array::from(indices.clone())).unwrap();
            prop_assert_eq!(gathered, expected);
        }
    }

    #[test]
    fn an_index_out_of_range_is_an_error_not_a_panic() {
        let source = batch(&[(None, "A".into(), 1, None)]);
        assert!(gather_on_two_cores(&source, &[0, 1]).is_err());
    }
}
