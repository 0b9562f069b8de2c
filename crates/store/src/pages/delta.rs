//! DELTA_BINARY_PACKED integers and DELTA_LENGTH_BYTE_ARRAY text. A delta-packed value depends on
//! every value before it: [`DeltaCursor`] reaches one by summing the deltas before it (a miniblock
//! it passes is only summed, not stored), moving forward from the last value it reached, since a
//! lookup's rows come in order; [`decode_all`] decodes a whole run (text lengths).

use super::{PageError, corrupt, unpack, varint, zigzag};

/// Decodes a whole delta-packed run at the start of `data`: its values and the offset just past it.
/// A run of more than `values_max` values (its page's value count) is damage: miniblocks of
/// 0-bit deltas take no bytes, so without the bound a few damaged bytes could claim billions of
/// values (found by the `parquet_pages` fuzz target).
pub(crate) fn decode_all(data: &[u8], values_max: usize) -> Result<(Vec<i64>, usize), PageError> {
    let header = Header::read(data)?;
    if header.total > values_max {
        return Err(corrupt(format!("a delta run of {} values in a page of {values_max}", header.total)));
    }
    let mut values = Vec::with_capacity(header.total.min(data.len().saturating_mul(8) + 1));
    if header.total == 0 {
        return Ok((values, header.end));
    }
    values.push(header.first);
    let (mut at, mut last) = (header.end, header.first);
    let per_miniblock = header.block / header.miniblocks;
    while values.len() < header.total {
        let min_delta = zigzag(data, &mut at)?;
        let widths = data.get(at..at + header.miniblocks).ok_or_else(|| corrupt("a delta block is cut short"))?;
        at += header.miniblocks;
        for &width in widths {
            let remaining = header.total - values.len();
            if remaining == 0 {
                break; // the widths of unused miniblocks are present, their bodies are not
            }
            if width > 64 {
                return Err(corrupt(format!("a miniblock of {width}-bit deltas")));
            }
            let bytes = per_miniblock * usize::from(width) / 8;
            let body = data.get(at..at + bytes).ok_or_else(|| corrupt("a miniblock is cut short"))?;
            for k in 0..per_miniblock.min(remaining) {
                // Parquet defines the arithmetic as wrapping, in the column's width; wrapping in 64
                // bits and truncating gives the same 32-bit results.
                last = last.wrapping_add(min_delta).wrapping_add(unpack(body, width, k) as i64);
                values.push(last);
            }
            at += bytes;
        }
    }
    Ok((values, at))
}

/// The most values a block may hold.
const BLOCK_VALUES_MAX: usize = 1 << 16;

/// The header of a delta-packed run.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Where the first block starts.
    end: usize,
    block: usize,
    miniblocks: usize,
    total: usize,
    first: i64,
}

impl Header {
    fn read(data: &[u8]) -> Result<Header, PageError> {
        let mut at = 0;
        let size = |v: u64| usize::try_from(v).map_err(|_| corrupt("a delta header field is too large"));
        let block = size(varint(data, &mut at)?)?;
        let miniblocks = size(varint(data, &mut at)?)?;
        let total = size(varint(data, &mut at)?)?;
        let first = zigzag(data, &mut at)?;
        // Writers use blocks of 128 to 1,024 values; a far larger one is damage, and bounding it
        // keeps a miniblock's size (values × width) from overflowing (found by the fuzz target).
        if block == 0 || block > BLOCK_VALUES_MAX || miniblocks == 0 || block % miniblocks != 0 || (block / miniblocks) % 8 != 0 {
            return Err(corrupt(format!("a delta block of {block} values in {miniblocks} miniblocks")));
        }
        Ok(Header { end: at, block, miniblocks, total, first })
    }
}

/// A position in a delta-packed run: the value at `position` and where the deltas after it are.
#[derive(Debug, Clone)]
pub(crate) struct DeltaCursor {
    header: Header,
    position: usize,
    last: i64,
    /// The block being read: its minimum delta, where its widths are, the miniblock reached, where
    /// that miniblock's body starts, and how many of its deltas are summed in.
    block: Option<(i64, usize, usize, usize, usize)>,
    /// Where the next block starts.
    next_block: usize,
}

impl DeltaCursor {
    /// A cursor at the first value of the run at the start of `data`.
    pub(crate) fn new(data: &[u8]) -> Result<DeltaCursor, PageError> {
        let header = Header::read(data)?;
        Ok(DeltaCursor { header, position: 0, last: header.first, block: None, next_block: header.end })
    }

    /// Moves to value `index` (back to the start first when it lies behind) and returns it.
    pub(crate) fn seek(&mut self, data: &[u8], index: usize) -> Result<i64, PageError> {
        if index >= self.header.total {
            return Err(corrupt(format!("value {index} of a delta run of {}", self.header.total)));
        }
        if index < self.position {
            *self = DeltaCursor { position: 0, last: self.header.first, block: None, next_block: self.header.end, ..self.clone() };
        }
        let per_miniblock = self.header.block / self.header.miniblocks;
        while self.position < index {
            let (min_delta, widths, miniblock, body, used) = match self.block {
                Some(state) if state.2 < self.header.miniblocks => state,
                _ => {
                    let mut at = self.next_block;
                    let min_delta = zigzag(data, &mut at)?;
                    if at + self.header.miniblocks > data.len() {
                        return Err(corrupt("a delta block is cut short"));
                    }
                    (min_delta, at, 0, at + self.header.miniblocks, 0)
                }
            };
            let width = data[widths + miniblock];
            if width > 64 {
                return Err(corrupt(format!("a miniblock of {width}-bit deltas")));
            }
            let bytes = per_miniblock * usize::from(width) / 8;
            if body + bytes > data.len() {
                return Err(corrupt("a miniblock is cut short"));
            }
            // Deltas left in this miniblock, and how many of them this step sums.
            let take = (per_miniblock - used).min(index - self.position);
            let sum = sum_packed(data, body, width, used, take);
            // Wrapping, as Parquet defines the arithmetic (see `decode_all`).
            self.last = self.last.wrapping_add(min_delta.wrapping_mul(take as i64)).wrapping_add(sum as i64);
            self.position += take;
            self.block = Some(if used + take == per_miniblock {
                (min_delta, widths, miniblock + 1, body + bytes, 0)
            } else {
                (min_delta, widths, miniblock, body, used + take)
            });
            if used + take == per_miniblock && miniblock + 1 == self.header.miniblocks {
                self.next_block = body + bytes;
            }
        }
        Ok(self.last)
    }
}

/// The wrapping sum of `count` `width`-bit values starting with value `from` of the bit-packed
/// miniblock at `at` in `data`.
fn sum_packed(data: &[u8], at: usize, width: u8, from: usize, count: usize) -> u64 {
    if width == 0 || count == 0 {
        return 0;
    }
    let bits = usize::from(width);
    let last_byte = at + ((from + count) * bits).div_ceil(8);
    if width <= 56 && last_byte + 8 <= data.len() {
        // One unaligned eight-byte load a value; the sums are independent, so they pipeline.
        let mask = (1u64 << width) - 1;
        return (from..from + count).fold(0u64, |sum, k| {
            let bit = k * bits;
            let word = u64::from_le_bytes(data[at + bit / 8..at + bit / 8 + 8].try_into().expect("eight bytes"));
            sum.wrapping_add((word >> (bit % 8)) & mask)
        });
    }
    let body = &data[at..];
    (from..from + count).fold(0u64, |sum, k| sum.wrapping_add(unpack(body, width, k)))
}

/// Where each value of a DELTA_LENGTH_BYTE_ARRAY run lies: the lengths come delta-packed first,
/// then the bytes of all values one after another.
#[derive(Debug, Clone)]
pub(crate) struct DeltaLengths {
    /// `starts[i]..starts[i + 1]` holds value `i`.
    starts: Vec<usize>,
}

impl DeltaLengths {
    /// Decodes the lengths at the start of `data`, a page of at most `values_max` values.
    pub(crate) fn new(data: &[u8], values_max: usize) -> Result<DeltaLengths, PageError> {
        let (lengths, mut start) = decode_all(data, values_max)?;
        let mut starts = Vec::with_capacity(lengths.len() + 1);
        starts.push(start);
        for length in lengths {
            let length = usize::try_from(length).map_err(|_| corrupt("a negative text length"))?;
            start = start.checked_add(length).filter(|end| *end <= data.len()).ok_or_else(|| corrupt("text runs past its page"))?;
            starts.push(start);
        }
        Ok(DeltaLengths { starts })
    }

    /// The bytes of value `index` in `data` (the data [`DeltaLengths::new`] read).
    pub(crate) fn get<'d>(&self, data: &'d [u8], index: usize) -> Result<&'d [u8], PageError> {
        match (self.starts.get(index), self.starts.get(index + 1)) {
            (Some(&start), Some(&end)) => data.get(start..end).ok_or_else(|| corrupt("text runs past its page")),
            _ => Err(corrupt(format!("value {index} of {} texts", self.starts.len().saturating_sub(1)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plain encoder of the format, after the specification (blocks of 128 in 4 miniblocks, the
    /// last block's unused miniblocks with widths but no bodies).
    fn encode(values: &[i64]) -> Vec<u8> {
        fn uvarint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        fn svarint(out: &mut Vec<u8>, v: i64) {
            uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
        }
        let mut out = Vec::new();
        uvarint(&mut out, 128);
        uvarint(&mut out, 4);
        uvarint(&mut out, values.len() as u64);
        svarint(&mut out, values.first().copied().unwrap_or(0));
        let deltas: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        for block in deltas.chunks(128) {
            let min = *block.iter().min().expect("non-empty");
            svarint(&mut out, min);
            let relative: Vec<u64> = block.iter().map(|d| d.wrapping_sub(min) as u64).collect();
            let minis: Vec<&[u64]> = relative.chunks(32).collect();
            let widths: Vec<u8> =
                (0..4).map(|m| minis.get(m).map_or(0, |mb| mb.iter().map(|v| 64 - v.leading_zeros() as u8).max().unwrap_or(0))).collect();
            out.extend(&widths);
            for (m, mb) in minis.iter().enumerate() {
                let width = usize::from(widths[m]);
                let mut bits = vec![0u8; 32 * width / 8];
                for (k, v) in mb.iter().enumerate() {
                    for b in 0..width {
                        if v >> b & 1 == 1 {
                            let bit = k * width + b;
                            bits[bit / 8] |= 1 << (bit % 8);
                        }
                    }
                }
                out.extend(bits);
            }
        }
        out
    }

    /// Found by the `parquet_pages` fuzz target: a block of 2^59 values made a miniblock's size
    /// overflow.
    #[test]
    fn a_block_larger_than_any_writer_makes_is_refused() {
        let mut run = Vec::new();
        for v in [1u64 << 59, 1, 8] {
            let mut v = v;
            while v >= 0x80 {
                run.push((v as u8) | 0x80);
                v >>= 7;
            }
            run.push(v as u8);
        }
        run.extend([0, 0, 64, 0, 0]);
        assert!(matches!(decode_all(&run, 4096), Err(PageError::Corrupt(_))));
        assert!(DeltaCursor::new(&run).is_err());
    }

    /// Found by the `parquet_pages` fuzz target: a header claiming 2^40 values in blocks of 0-bit
    /// deltas, which take no bytes, kept the decoder busy until it ran out of memory.
    #[test]
    fn a_run_longer_than_its_page_is_refused_before_it_is_decoded() {
        let mut run = vec![0x80, 0x01, 4]; // blocks of 128 values in 4 miniblocks
        let mut total = 1u64 << 40;
        while total >= 0x80 {
            run.push((total as u8) | 0x80);
            total >>= 7;
        }
        run.extend([total as u8, 0, 0, 0, 0, 0, 0]); // first value 0, min delta 0, widths 0
        assert!(matches!(decode_all(&run, 4096), Err(PageError::Corrupt(_))));
        assert!(DeltaLengths::new(&run, 4096).is_err());
    }

    proptest! {
        #[test]
        fn delta_runs_decode_to_any_position(
            steps in proptest::collection::vec(any::<u64>(), 1..700),
            scale in 0u32..=64,
            probe in any::<prop::sample::Index>(),
        ) {
            // Deltas of up to `scale` bits, so every miniblock width (and each decoding path) occurs.
            let mut values = Vec::with_capacity(steps.len());
            let mut value = steps[0] as i64;
            for step in &steps {
                value = value.wrapping_add((step.checked_shr(64 - scale).unwrap_or(0)) as i64);
                values.push(value);
            }
            let data = encode(&values);
            let i = probe.index(values.len());
            prop_assert_eq!(decode_all(&data, values.len()), Ok((values.clone(), data.len())));

            // A cursor reaches any value, moving forward from the last (or back to the start).
            let mut cursor = DeltaCursor::new(&data).expect("valid");
            prop_assert_eq!(cursor.seek(&data, i), Ok(values[i]));
            for k in (i..values.len()).step_by(37).chain([values.len() - 1, 0, i / 2]) {
                prop_assert_eq!(cursor.seek(&data, k), Ok(values[k]), "value {}", k);
            }
            prop_assert!(cursor.seek(&data, values.len()).is_err());
        }

        #[test]
        fn delta_length_text_reads_back(texts in proptest::collection::vec("[A-Z0-9]{0,12}", 1..400)) {
            let lengths: Vec<i64> = texts.iter().map(|t| t.len() as i64).collect();
            let mut data = encode(&lengths);
            for t in &texts {
                data.extend_from_slice(t.as_bytes());
            }
            let run = DeltaLengths::new(&data, texts.len()).expect("valid");
            for (i, t) in texts.iter().enumerate() {
                prop_assert_eq!(run.get(&data, i), Ok(t.as_bytes()));
            }
            prop_assert!(run.get(&data, texts.len()).is_err());
            // Cut short anywhere in the text, the run is an error, not a panic.
            let cut = data.len() - 1;
            if texts.iter().any(|t| !t.is_empty()) {
                prop_assert!(DeltaLengths::new(&data[..cut], texts.len()).is_err());
            }
        }
    }
}
