//! DELTA_BINARY_PACKED integers and DELTA_LENGTH_BYTE_ARRAY text. A delta-packed value depends on
//! every value before it, so a run is decoded a block at a time, only as far as a lookup needs,
//! and what was decoded is kept for the next row of the same page.

use super::{PageError, corrupt, unpack, varint, zigzag};

/// A delta-packed run being decoded from the front. It holds positions, not the bytes, so the page
/// that owns the bytes can keep it beside them.
#[derive(Debug, Clone)]
pub(crate) struct DeltaPacked {
    /// Where the next block starts.
    at: usize,
    block: usize,
    miniblocks: usize,
    total: usize,
    values: Vec<i64>,
}

impl DeltaPacked {
    /// Reads the run's header at the start of `data`.
    pub(crate) fn new(data: &[u8]) -> Result<DeltaPacked, PageError> {
        let mut at = 0;
        let size = |v: u64| usize::try_from(v).map_err(|_| corrupt("a delta header field is too large"));
        let block = size(varint(data, &mut at)?)?;
        let miniblocks = size(varint(data, &mut at)?)?;
        let total = size(varint(data, &mut at)?)?;
        let first = zigzag(data, &mut at)?;
        if block == 0 || miniblocks == 0 || block % miniblocks != 0 || (block / miniblocks) % 8 != 0 {
            return Err(corrupt(format!("a delta block of {block} values in {miniblocks} miniblocks")));
        }
        let mut values = Vec::new();
        if total > 0 {
            values.reserve(total.min(block + 1));
            values.push(first);
        }
        Ok(DeltaPacked { at, block, miniblocks, total, values })
    }

    /// Values in the run.
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// Decodes blocks of `data` until value `index` is known.
    pub(crate) fn decode_to(&mut self, data: &[u8], index: usize) -> Result<(), PageError> {
        if index >= self.total {
            return Err(corrupt(format!("value {index} of a delta run of {}", self.total)));
        }
        while self.values.len() <= index {
            self.next_block(data)?;
        }
        Ok(())
    }

    /// Value `index`, once [`DeltaPacked::decode_to`] has reached it.
    pub(crate) fn value(&self, index: usize) -> Option<i64> {
        self.values.get(index).copied()
    }

    /// Decodes the whole run and returns the offset just past it.
    pub(crate) fn finish(&mut self, data: &[u8]) -> Result<usize, PageError> {
        while self.values.len() < self.total {
            self.next_block(data)?;
        }
        Ok(self.at)
    }

    fn next_block(&mut self, data: &[u8]) -> Result<(), PageError> {
        let min_delta = zigzag(data, &mut self.at)?;
        let widths = data.get(self.at..self.at + self.miniblocks).ok_or_else(|| corrupt("a delta block is cut short"))?;
        self.at += self.miniblocks;
        let per_miniblock = self.block / self.miniblocks;
        let mut last = *self.values.last().ok_or_else(|| corrupt("a delta run with no first value"))?;
        for &width in widths {
            let remaining = self.total - self.values.len();
            if remaining == 0 {
                break; // the widths of unused miniblocks are present, their bodies are not
            }
            if width > 64 {
                return Err(corrupt(format!("a miniblock of {width}-bit deltas")));
            }
            let bytes = per_miniblock * usize::from(width) / 8;
            let body = data.get(self.at..self.at + bytes).ok_or_else(|| corrupt("a miniblock is cut short"))?;
            for k in 0..per_miniblock.min(remaining) {
                // Parquet defines the arithmetic as wrapping, in the column's width; wrapping in 64
                // bits and truncating gives the same 32-bit results.
                last = last.wrapping_add(min_delta).wrapping_add(unpack(body, width, k) as i64);
                self.values.push(last);
            }
            self.at += bytes;
        }
        Ok(())
    }
}

/// Where each value of a DELTA_LENGTH_BYTE_ARRAY run lies: the lengths come delta-packed first,
/// then the bytes of all values one after another.
#[derive(Debug, Clone)]
pub(crate) struct DeltaLengths {
    /// `starts[i]..starts[i + 1]` holds value `i`.
    starts: Vec<usize>,
}

impl DeltaLengths {
    /// Decodes the lengths at the start of `data`.
    pub(crate) fn new(data: &[u8]) -> Result<DeltaLengths, PageError> {
        let mut lengths = DeltaPacked::new(data)?;
        let mut start = lengths.finish(data)?;
        let mut starts = Vec::with_capacity(lengths.len() + 1);
        starts.push(start);
        for i in 0..lengths.len() {
            let length = usize::try_from(lengths.value(i).unwrap_or(-1)).map_err(|_| corrupt("a negative text length"))?;
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

    proptest! {
        #[test]
        fn delta_runs_decode_to_any_position(values in proptest::collection::vec(any::<i64>(), 1..700), probe in any::<prop::sample::Index>()) {
            let data = encode(&values);
            let mut run = DeltaPacked::new(&data).expect("valid");
            let i = probe.index(values.len());
            run.decode_to(&data, i).expect("in range");
            prop_assert_eq!(run.value(i), Some(values[i]));
            prop_assert_eq!(run.finish(&data), Ok(data.len()));
            for (k, v) in values.iter().enumerate() {
                prop_assert_eq!(run.value(k), Some(*v));
            }
            prop_assert!(run.decode_to(&data, values.len()).is_err());
        }

        #[test]
        fn delta_length_text_reads_back(texts in proptest::collection::vec("[A-Z0-9]{0,12}", 1..400)) {
            let lengths: Vec<i64> = texts.iter().map(|t| t.len() as i64).collect();
            let mut data = encode(&lengths);
            for t in &texts {
                data.extend_from_slice(t.as_bytes());
            }
            let run = DeltaLengths::new(&data).expect("valid");
            for (i, t) in texts.iter().enumerate() {
                prop_assert_eq!(run.get(&data, i), Ok(t.as_bytes()));
            }
            prop_assert!(run.get(&data, texts.len()).is_err());
            // Cut short anywhere in the text, the run is an error, not a panic.
            let cut = data.len() - 1;
            if texts.iter().any(|t| !t.is_empty()) {
                prop_assert!(DeltaLengths::new(&data[..cut]).is_err());
            }
        }
    }
}
