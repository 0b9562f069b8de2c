//! Entry points for the fuzz targets in `fuzz/`: the decoders of bytes read back from disk that are
//! private to this crate. Built only with the `fuzzing` feature; nothing else calls them.
//!
//! Each runs a decoder the way the store does and checks what must hold whatever the bytes: no
//! panic, and where two decoders read the same thing, the same answer.

use crate::pages::{self, Codec, DeltaCursor, DeltaLengths, Hybrid};
use crate::plate_dictionary::PlateDictionary;

/// A page's value count, as the point reader passes it (the segment builder writes pages of 4,096
/// rows; other writers more).
const VALUES_MAX: usize = 1 << 16;

/// The point reader's page decoders over `data`: the page header (then the body it names through
/// each codec), a delta-binary-packed run read whole and by cursor, a delta-length text run, and
/// hybrid runs of every width.
pub fn page_decoders(data: &[u8]) {
    if let Ok(header) = pages::parse_header(data) {
        let body = data.get(header.length..).unwrap_or_default();
        let body = &body[..body.len().min(header.compressed_size)];
        // A header may claim any size; the reader takes it from a file whose pages it bounds.
        let size = header.uncompressed_size.min(1 << 20);
        let mut out = Vec::new();
        for codec in [Codec::None, Codec::Gzip, Codec::Zstd] {
            if pages::decompress(codec, body, size, &mut out).is_ok() {
                assert_eq!(out.len(), size, "a page inflates to the size its header gives");
            }
        }
    }
    if let Ok((values, _)) = pages::delta::decode_all(data, VALUES_MAX) {
        let mut cursor = DeltaCursor::new(data).expect("a run decode_all reads has a header");
        // Forwards, then one step back (the cursor restarts): each value as the whole decode has it.
        for (index, value) in values.iter().enumerate().take(4096) {
            assert_eq!(cursor.seek(data, index).ok(), Some(*value), "value {index} by cursor");
        }
        if let Some(first) = values.first() {
            assert_eq!(cursor.seek(data, 0).ok(), Some(*first));
        }
    }
    if let Ok(lengths) = DeltaLengths::new(data, VALUES_MAX) {
        let mut index = 0;
        while let Ok(text) = lengths.get(data, index) {
            assert!(text.len() <= data.len());
            index += 1;
        }
    }
    for width in [0u8, 1, 3, 8, 13, 32, 33] {
        let hybrid = Hybrid { data, width };
        for index in [0usize, 1, 7, 8, 9, 100, 4095] {
            if let Ok(value) = hybrid.value(index) {
                assert!(width >= 64 || value < 1u64 << width, "a {width}-bit value of {value}");
                assert_eq!(hybrid.get(index, value).ok().map(|(v, _)| v), Some(value), "value and get agree");
            }
        }
    }
}

/// The plate dictionary's reader over a file holding `body` with a correct checksum (so the fuzzer
/// reaches past the checksum), then its lookups.
pub fn plate_dictionary(body: &[u8]) {
    let bytes = PlateDictionary::file_of(body);
    if let Ok(dictionary) = PlateDictionary::from_bytes(&bytes) {
        let _ = dictionary.matching("*AB*");
        let _ = dictionary.known_segments().count();
        let _ = PlateDictionary::from_bytes(&dictionary.to_bytes()).expect("what it writes it reads");
    }
}
