//! Parquet page headers: a Thrift struct in the compact protocol, read field by field. Only the
//! fields a reader of flat v1 data pages needs are kept; everything else is skipped by type.

use super::{PageError, corrupt, varint, zigzag};

/// What a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// A v1 data page: levels and values compressed together.
    Data { values: usize, encoding: i32, level_encoding: i32 },
    /// A dictionary page (always plain values).
    Dictionary { values: usize, encoding: i32 },
    /// A v2 data page (levels stored apart, uncompressed).
    DataV2,
    /// An index page or a page type from a later format.
    Other(i32),
}

/// A page header and where the page's body starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageHeader {
    pub kind: PageKind,
    pub uncompressed_size: usize,
    pub compressed_size: usize,
    /// Bytes of the header itself: the body follows.
    pub length: usize,
}

/// Thrift compact type codes.
mod ty {
    pub const TRUE: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
}

/// Deeper nesting than any page header has is treated as damage (and keeps a hostile file from
/// exhausting the stack).
const DEPTH_MAX: usize = 16;

struct Compact<'a> {
    data: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, PageError> {
        let b = *self.data.get(self.at).ok_or_else(|| corrupt("a page header runs past the end"))?;
        self.at += 1;
        Ok(b)
    }

    fn i32(&mut self) -> Result<i32, PageError> {
        i32::try_from(zigzag(self.data, &mut self.at)?).map_err(|_| corrupt("a 32-bit header field is out of range"))
    }

    fn size(&mut self) -> Result<usize, PageError> {
        usize::try_from(self.i32()?).map_err(|_| corrupt("a size in a page header is negative"))
    }

    /// The next field's id and type, or `None` at the struct's end.
    fn field(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, PageError> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let delta = i16::from(b >> 4);
        let id = if delta == 0 {
            i16::try_from(zigzag(self.data, &mut self.at)?).map_err(|_| corrupt("a field id is out of range"))?
        } else {
            last.checked_add(delta).ok_or_else(|| corrupt("a field id is out of range"))?
        };
        *last = id;
        Ok(Some((id, b & 0x0f)))
    }

    fn skip(&mut self, ty: u8, depth: usize) -> Result<(), PageError> {
        if depth > DEPTH_MAX {
            return Err(corrupt("a page header nests too deeply"));
        }
        match ty {
            ty::TRUE | ty::FALSE => {}
            ty::BYTE => self.at += 1,
            ty::I16 | ty::I32 | ty::I64 => {
                varint(self.data, &mut self.at)?;
            }
            ty::DOUBLE => self.at += 8,
            ty::BINARY => {
                let length = varint(self.data, &mut self.at)?;
                self.at = usize::try_from(length)
                    .ok()
                    .and_then(|l| self.at.checked_add(l))
                    .ok_or_else(|| corrupt("a binary field is too long"))?;
            }
            ty::LIST | ty::SET => {
                let b = self.byte()?;
                let count = match b >> 4 {
                    15 => varint(self.data, &mut self.at)?,
                    n => u64::from(n),
                };
                self.check_count(count)?;
                let element = b & 0x0f;
                for _ in 0..count {
                    // Booleans in a list take a byte each.
                    if element == ty::TRUE || element == ty::FALSE {
                        self.at += 1;
                    } else {
                        self.skip(element, depth + 1)?;
                    }
                    self.check()?;
                }
            }
            ty::MAP => {
                let count = varint(self.data, &mut self.at)?;
                if count > 0 {
                    let types = self.byte()?;
                    self.check_count(count)?;
                    for _ in 0..count {
                        for element in [types >> 4, types & 0x0f] {
                            // Booleans in a map take a byte each, as in a list.
                            if element == ty::TRUE || element == ty::FALSE {
                                self.at += 1;
                            } else {
                                self.skip(element, depth + 1)?;
                            }
                        }
                        self.check()?;
                    }
                }
            }
            ty::STRUCT => {
                let mut last = 0;
                while let Some((_, field)) = self.field(&mut last)? {
                    self.skip(field, depth + 1)?;
                }
            }
            other => return Err(corrupt(format!("unknown Thrift type {other} in a page header"))),
        }
        self.check()
    }

    /// Every element of a list or map takes at least a byte: a count beyond the bytes left is
    /// damage, refused before the loop (a map of booleans counted 2^60 once kept it spinning,
    /// found by the `parquet_pages` fuzz target).
    fn check_count(&self, count: u64) -> Result<(), PageError> {
        if count > (self.data.len() - self.at.min(self.data.len())) as u64 {
            return Err(corrupt(format!("a list of {count} elements in a page header of {} bytes", self.data.len())));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), PageError> {
        if self.at > self.data.len() { Err(corrupt("a page header runs past the end")) } else { Ok(()) }
    }

    /// A data or dictionary page header: (values, encoding, level encoding).
    fn page_struct(&mut self) -> Result<(usize, i32, i32), PageError> {
        let (mut values, mut encoding, mut levels) = (None, None, 0);
        let mut last = 0;
        while let Some((id, field)) = self.field(&mut last)? {
            match (id, field) {
                (1, ty::I32) => values = Some(self.size()?),
                (2, ty::I32) => encoding = Some(self.i32()?),
                (3, ty::I32) => levels = self.i32()?,
                _ => self.skip(field, 1)?,
            }
        }
        Ok((
            values.ok_or_else(|| corrupt("a page header has no value count"))?,
            encoding.ok_or_else(|| corrupt("a page header has no encoding"))?,
            levels,
        ))
    }
}

/// Reads the page header at the start of `data`.
pub(crate) fn parse(data: &[u8]) -> Result<PageHeader, PageError> {
    let mut c = Compact { data, at: 0 };
    let (mut page_type, mut uncompressed, mut compressed) = (None, None, None);
    let (mut data_page, mut dictionary, mut v2) = (None, None, false);
    let mut last = 0;
    while let Some((id, field)) = c.field(&mut last)? {
        match (id, field) {
            (1, ty::I32) => page_type = Some(c.i32()?),
            (2, ty::I32) => uncompressed = Some(c.size()?),
            (3, ty::I32) => compressed = Some(c.size()?),
            (5, ty::STRUCT) => data_page = Some(c.page_struct()?),
            (7, ty::STRUCT) => dictionary = Some(c.page_struct()?),
            (8, ty::STRUCT) => {
                v2 = true;
                c.skip(field, 1)?;
            }
            _ => c.skip(field, 1)?,
        }
    }
    let kind = match (page_type.ok_or_else(|| corrupt("a page header has no type"))?, data_page, dictionary) {
        (0, Some((values, encoding, level_encoding)), _) => PageKind::Data { values, encoding, level_encoding },
        (2, _, Some((values, encoding, _))) => PageKind::Dictionary { values, encoding },
        (3, _, _) if v2 => PageKind::DataV2,
        (0 | 2 | 3, _, _) => return Err(corrupt("a page header lacks its page type's fields")),
        (other, _, _) => PageKind::Other(other),
    };
    Ok(PageHeader {
        kind,
        uncompressed_size: uncompressed.ok_or_else(|| corrupt("a page header has no uncompressed size"))?,
        compressed_size: compressed.ok_or_else(|| corrupt("a page header has no compressed size"))?,
        length: c.at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact-protocol writer for the few shapes the tests need.
    struct Writer(Vec<u8>, Vec<i16>);

    impl Writer {
        fn varint(&mut self, mut v: u64) {
            while v >= 0x80 {
                self.0.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
        }
        fn field(&mut self, id: i16, ty: u8) {
            let last = *self.1.last().expect("in a struct");
            if id > last && id - last <= 15 {
                self.0.push((((id - last) as u8) << 4) | ty);
            } else {
                self.0.push(ty);
                self.varint(((id << 1) ^ (id >> 15)) as u16 as u64);
            }
            *self.1.last_mut().expect("in a struct") = id;
        }
        fn i32(&mut self, id: i16, v: i32) {
            self.field(id, ty::I32);
            self.varint(((v << 1) ^ (v >> 31)) as u32 as u64);
        }
        fn begin(&mut self, id: i16) {
            self.field(id, ty::STRUCT);
            self.1.push(0);
        }
        fn end(&mut self) {
            self.0.push(0);
            self.1.pop();
        }
    }

    fn data_page_header(with_statistics: bool) -> Vec<u8> {
        let mut w = Writer(Vec::new(), vec![0]);
        w.i32(1, 0);
        w.i32(2, 1234);
        w.i32(3, 567);
        w.i32(4, -99); // crc, skipped
        w.begin(5);
        w.i32(1, 4096);
        w.i32(2, 8);
        w.i32(3, 3);
        w.i32(4, 3);
        if with_statistics {
            w.begin(5);
            w.field(1, ty::BINARY);
            w.varint(3);
            w.0.extend_from_slice(b"max");
            w.field(3, ty::I64);
            w.varint(10);
            w.field(7, ty::TRUE);
            w.end();
        }
        w.end();
        // A field from a later format: a list of two structs, then a field id past 15.
        w.field(9, ty::LIST);
        w.0.push((2 << 4) | ty::STRUCT);
        w.0.extend_from_slice(&[0x15, 0x02, 0x00, 0x00]);
        w.field(40, ty::DOUBLE);
        w.0.extend_from_slice(&[0; 8]);
        w.end();
        w.0.extend_from_slice(b"body");
        w.0
    }

    #[test]
    fn data_page_headers_keep_sizes_and_encodings_and_skip_the_rest() {
        for with_statistics in [false, true] {
            let bytes = data_page_header(with_statistics);
            let header = parse(&bytes).expect("a valid header");
            assert_eq!(header.kind, PageKind::Data { values: 4096, encoding: 8, level_encoding: 3 });
            assert_eq!((header.uncompressed_size, header.compressed_size), (1234, 567));
            assert_eq!(&bytes[header.length..], b"body");
        }
    }

    /// Found by the `parquet_pages` fuzz target: a map of booleans claiming 2^60 entries (which
    /// took no bytes each) kept the parser spinning.
    #[test]
    fn a_list_or_map_longer_than_its_bytes_is_refused_at_once() {
        let mut map = Writer(Vec::new(), vec![0]);
        map.field(9, ty::MAP);
        map.varint(1 << 60);
        map.0.push((ty::TRUE << 4) | ty::FALSE);
        let mut list = Writer(Vec::new(), vec![0]);
        list.field(9, ty::LIST);
        list.0.push(0xf0 | ty::I32);
        list.varint(1 << 40);
        for bytes in [map.0, list.0] {
            let started = std::time::Instant::now();
            assert!(matches!(parse(&bytes), Err(PageError::Corrupt(_))));
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "refused by the count, not by walking it");
        }
        // A map of booleans reads a byte a value: one entry of two booleans, then the header's end.
        let mut small = Writer(Vec::new(), vec![0]);
        small.field(9, ty::MAP);
        small.varint(1);
        small.0.extend_from_slice(&[(ty::TRUE << 4) | ty::TRUE, 1, 1]);
        small.end();
        assert!(matches!(parse(&small.0), Err(PageError::Corrupt(reason)) if reason.contains("no value count") || reason.contains("type")));
    }

    #[test]
    fn dictionary_headers_are_told_apart_and_damage_is_an_error() {
        let mut w = Writer(Vec::new(), vec![0]);
        w.i32(1, 2);
        w.i32(2, 80);
        w.i32(3, 80);
        w.begin(7);
        w.i32(1, 10);
        w.i32(2, 0);
        w.end();
        w.end();
        assert_eq!(parse(&w.0).expect("valid").kind, PageKind::Dictionary { values: 10, encoding: 0 });
        let whole = data_page_header(true);
        for cut in 0..whole.len() - 4 {
            assert!(parse(&whole[..cut]).is_err(), "a header cut at {cut} bytes is an error, not a panic");
        }
    }
}
