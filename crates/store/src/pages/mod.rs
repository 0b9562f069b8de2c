//! Single values read straight out of Parquet data pages, for lookups of a few rows.
//!
//! A plate lookup reads one to ten rows of each day segment. Through parquet-rs's Arrow reader
//! each such read builds a reader per column, a page reader with a fresh decompressor per column
//! chunk, record batches, and then skips to the row within a 4,096-row page: profiled at 100M
//! reads, three quarters of an exact lookup went to that machinery, not to decoding values. These
//! modules decode one value at a time from the pages the offset index names, with decompressors
//! kept per thread. They are written by hand because parquet-rs keeps its page header type and
//! its value decoders private (behind an unstable feature), and they cover only what the segment
//! builder writes: data pages v1, gzip, zstd or no compression, and the plain, dictionary,
//! delta-binary-packed and delta-length encodings of flat columns. A segment with anything else is
//! read through parquet-rs as before.

mod codec;
pub(crate) mod delta;
mod header;
mod hybrid;

pub(crate) use codec::{Codec, decompress};
pub(crate) use delta::{DeltaCursor, DeltaLengths};
pub(crate) use header::{PageHeader, PageKind, parse as parse_header};
pub(crate) use hybrid::Hybrid;

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageError {
    /// The page is damaged or does not say what its header claims.
    Corrupt(String),
    /// Valid Parquet that these decoders do not handle (the caller reads it another way).
    Unsupported(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Corrupt(reason) => write!(f, "damaged page: {reason}"),
            PageError::Unsupported(what) => write!(f, "not readable by the point reader: {what}"),
        }
    }
}

pub(crate) fn corrupt(reason: impl Into<String>) -> PageError {
    PageError::Corrupt(reason.into())
}

/// An unsigned LEB128 varint at `*at`, advancing past it.
pub(crate) fn varint(data: &[u8], at: &mut usize) -> Result<u64, PageError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at).ok_or_else(|| corrupt("a varint runs past the end"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("a varint is longer than ten bytes"))
}

/// A zigzag-encoded signed varint.
pub(crate) fn zigzag(data: &[u8], at: &mut usize) -> Result<i64, PageError> {
    let v = varint(data, at)?;
    Ok((v >> 1) as i64 ^ -((v & 1) as i64))
}

/// The `index`-th `width`-bit value of a little-endian bit-packed run (`width` ≤ 64). Bytes past
/// the end of `data` read as zero: a run's last byte may hold fewer values than it has room for.
pub(crate) fn unpack(data: &[u8], width: u8, index: usize) -> u64 {
    if width == 0 {
        return 0;
    }
    let bit = index * usize::from(width);
    let start = bit / 8;
    if start >= data.len() {
        return 0;
    }
    let mut window = [0u8; 16];
    let available = (data.len() - start).min(16);
    window[..available].copy_from_slice(&data[start..start + available]);
    let wide = u128::from_le_bytes(window) >> (bit % 8);
    let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
    (wide as u64) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip_known_values() {
        let mut at = 0;
        assert_eq!(varint(&[0x96, 0x01], &mut at), Ok(150));
        assert_eq!(at, 2);
        for (bytes, value) in [(&[0u8][..], 0i64), (&[1], -1), (&[2], 1), (&[3], -2), (&[0xfe, 0x01], 127)] {
            assert_eq!(zigzag(bytes, &mut 0), Ok(value));
        }
        assert!(varint(&[0x80, 0x80], &mut 0).is_err(), "a varint cut short is an error");
    }

    #[test]
    fn unpacking_reads_values_across_byte_boundaries() {
        // 3-bit values 0..8 packed: 0b10_001_000, 0b1_100_011_0, 0b111_110_10
        let packed = [0b1000_1000, 0b1100_0110, 0b1111_1010];
        for i in 0..8 {
            assert_eq!(unpack(&packed, 3, i), i as u64);
        }
        assert_eq!(unpack(&[0xff; 8], 64, 0), u64::MAX);
        assert_eq!(unpack(&[], 0, 5), 0);
        assert_eq!(unpack(&[0xff], 8, 3), 0, "past the end reads as zero");
    }
}
