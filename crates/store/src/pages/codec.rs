//! Page decompression with a decompressor kept per thread. parquet-rs makes a codec per column
//! chunk it reads, and its gzip path allocates a 32 KB read buffer and an inflate state per page;
//! for a lookup that inflates one small page per column, that set-up was most of the work.

use super::{PageError, corrupt};
use flate2::{Crc, Decompress, FlushDecompress, Status};
use parquet::basic::Compression;
use std::cell::RefCell;

/// The codecs the segment builder writes (zstd in segments from before deflate was chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Gzip,
    Zstd,
}

impl Codec {
    /// The codec of a column chunk, if this module reads it.
    pub(crate) fn of(compression: Compression) -> Option<Codec> {
        match compression {
            Compression::UNCOMPRESSED => Some(Codec::None),
            Compression::GZIP(_) => Some(Codec::Gzip),
            Compression::ZSTD(_) => Some(Codec::Zstd),
            _ => None,
        }
    }
}

thread_local! {
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
    static ZSTD: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Decompresses a page `body` of `size` bytes uncompressed into `out` (replacing its contents).
pub(crate) fn decompress(codec: Codec, body: &[u8], size: usize, out: &mut Vec<u8>) -> Result<(), PageError> {
    out.clear();
    out.reserve(size);
    match codec {
        Codec::None => out.extend_from_slice(body),
        Codec::Gzip => INFLATE.with(|inflate| gunzip(&mut inflate.borrow_mut(), body, size, out))?,
        Codec::Zstd => ZSTD.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                *cell = Some(zstd::bulk::Decompressor::new().map_err(|e| corrupt(format!("zstd: {e}")))?);
            }
            let decompressor = cell.as_mut().expect("set above");
            decompressor.decompress_to_buffer(body, out).map_err(|e| corrupt(format!("zstd: {e}")))?;
            Ok::<(), PageError>(())
        })?,
    }
    if out.len() != size {
        return Err(corrupt(format!("a page inflated to {} bytes, its header says {size}", out.len())));
    }
    Ok(())
}

/// Gzip members (RFC 1952) one after another until `size` bytes are out, each checked against
/// its CRC-32 and length.
fn gunzip(inflate: &mut Decompress, mut input: &[u8], size: usize, out: &mut Vec<u8>) -> Result<(), PageError> {
    while out.len() < size {
        let deflate = &input[gzip_header_length(input)?..];
        inflate.reset(false);
        let start = out.len();
        let status = inflate.decompress_vec(deflate, out, FlushDecompress::Finish).map_err(|e| corrupt(format!("deflate: {e}")))?;
        if status != Status::StreamEnd {
            return Err(corrupt("a gzip page does not end where its header says"));
        }
        let used = usize::try_from(inflate.total_in()).map_err(|_| corrupt("deflate input too long"))?;
        let trailer = deflate.get(used..used + 8).ok_or_else(|| corrupt("a gzip member has no trailer"))?;
        let mut crc = Crc::new();
        crc.update(&out[start..]);
        let (expected_crc, expected_length) =
            (u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes")), u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes")));
        if crc.sum() != expected_crc || (out.len() - start) as u32 != expected_length {
            return Err(corrupt("a gzip page fails its checksum"));
        }
        input = &deflate[used + 8..];
    }
    Ok(())
}

/// The length of a gzip member's header (RFC 1952 §2.3).
fn gzip_header_length(data: &[u8]) -> Result<usize, PageError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let fixed = data.get(..10).ok_or_else(|| corrupt("a gzip header is cut short"))?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b || fixed[2] != 8 {
        return Err(corrupt("not a gzip member"));
    }
    let flags = fixed[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let length = data.get(at..at + 2).ok_or_else(|| corrupt("a gzip header is cut short"))?;
        at += 2 + usize::from(u16::from_le_bytes([length[0], length[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end =
                data.get(at..).and_then(|rest| rest.iter().position(|b| *b == 0)).ok_or_else(|| corrupt("a gzip header is cut short"))?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > data.len() {
        return Err(corrupt("a gzip header is cut short"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(data).expect("in memory");
        encoder.finish().expect("in memory")
    }

    proptest! {
        #[test]
        fn gzip_and_zstd_pages_come_back_whole(data in proptest::collection::vec(any::<u8>(), 0..3000), two_members: bool) {
            // Parquet allows a gzip page of several members, one after another.
            let body = if two_members {
                let middle = data.len() / 2;
                [gzip(&data[..middle]), gzip(&data[middle..])].concat()
            } else {
                gzip(&data)
            };
            let mut out = Vec::new();
            decompress(Codec::Gzip, &body, data.len(), &mut out).expect("valid gzip");
            prop_assert_eq!(&out, &data);
            let packed = zstd::bulk::compress(&data, 3).expect("in memory");
            decompress(Codec::Zstd, &packed, data.len(), &mut out).expect("valid zstd");
            prop_assert_eq!(&out, &data);
        }
    }

    #[test]
    fn damaged_gzip_is_an_error_not_a_panic() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        let body = gzip(&data);
        let mut out = Vec::new();
        for cut in 0..body.len() {
            assert!(decompress(Codec::Gzip, &body[..cut], data.len(), &mut out).is_err(), "cut at {cut}");
        }
        let mut flipped = body.clone();
        let last = flipped.len() - 6; // inside the CRC
        flipped[last] ^= 1;
        assert!(decompress(Codec::Gzip, &flipped, data.len(), &mut out).is_err(), "a bad checksum is caught");
        assert!(decompress(Codec::Gzip, &body, data.len() + 1, &mut out).is_err(), "a wrong size is caught");
    }
}
