//! The RLE / bit-packed hybrid encoding of Parquet's definition levels and dictionary indices:
//! runs of one repeated value and runs of packed groups of eight, read by position without
//! decoding the runs before it.

use super::{PageError, corrupt, unpack, varint};

/// Values of `width` bits in hybrid runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hybrid<'a> {
    pub data: &'a [u8],
    pub width: u8,
}

impl Hybrid<'_> {
    /// The value at `index`.
    pub(crate) fn value(&self, index: usize) -> Result<u64, PageError> {
        self.walk(index, None).map(|(value, _)| value)
    }

    /// The value at `index`, and how many values before it equal `counted` (for definition
    /// levels: the defined values before a row, which is where its value is among the values).
    pub(crate) fn get(&self, index: usize, counted: u64) -> Result<(u64, usize), PageError> {
        self.walk(index, Some(counted))
    }

    fn walk(&self, index: usize, counted: Option<u64>) -> Result<(u64, usize), PageError> {
        if self.width > 32 {
            return Err(corrupt(format!("a hybrid run of {}-bit values", self.width)));
        }
        let value_bytes = usize::from(self.width).div_ceil(8);
        let (mut at, mut position, mut before) = (0usize, 0usize, 0usize);
        loop {
            if at >= self.data.len() {
                return Err(corrupt(format!("value {index} is past the end of its runs")));
            }
            let header = varint(self.data, &mut at)?;
            let count = usize::try_from(header >> 1).map_err(|_| corrupt("a run is too long"))?;
            if header & 1 == 1 {
                // `count` groups of eight packed values; a final run may stop short of its groups.
                let values = count.checked_mul(8).ok_or_else(|| corrupt("a run is too long"))?;
                let bytes = count.saturating_mul(usize::from(self.width)).min(self.data.len() - at);
                let packed = &self.data[at..at + bytes];
                let available = if self.width == 0 { values } else { values.min(bytes * 8 / usize::from(self.width)) };
                // Counts come from the page: a damaged one may be near usize::MAX.
                if index < position.saturating_add(values) {
                    let k = index - position;
                    if k >= available {
                        return Err(corrupt(format!("value {index} is past the end of its runs")));
                    }
                    if let Some(counted) = counted {
                        before = before.saturating_add(count_equal(packed, self.width, k, counted));
                    }
                    return Ok((unpack(packed, self.width, k), before));
                }
                if let Some(counted) = counted {
                    before = before.saturating_add(count_equal(packed, self.width, available, counted));
                }
                position = position.saturating_add(values);
                at += bytes;
            } else {
                let raw = self.data.get(at..at + value_bytes).ok_or_else(|| corrupt("a repeated run is cut short"))?;
                let value = raw.iter().rev().fold(0u64, |v, b| (v << 8) | u64::from(*b));
                // The value's bytes can hold more than its width: more is damage, not a value.
                if value >> self.width != 0 {
                    return Err(corrupt(format!("a repeated value {value} wider than its {} bits", self.width)));
                }
                at += value_bytes;
                if index < position.saturating_add(count) {
                    return Ok((value, before + if Some(value) == counted { index - position } else { 0 }));
                }
                if Some(value) == counted {
                    before = before.saturating_add(count);
                }
                position = position.saturating_add(count);
            }
        }
    }
}

/// How many of the first `n` packed values equal `counted`.
fn count_equal(packed: &[u8], width: u8, n: usize, counted: u64) -> usize {
    if width == 0 {
        // Every value is 0, and a run of them takes no bytes: `n` is bounded by nothing but the
        // count a page gives, so it is not walked.
        return if counted == 0 { n } else { 0 };
    }
    if width == 1 && counted <= 1 {
        // One bit a value: count the ones in whole bytes, then in the last partial byte.
        let ones: usize = packed[..n / 8].iter().map(|b| b.count_ones() as usize).sum::<usize>()
            + if !n.is_multiple_of(8) { (packed[n / 8] & ((1u8 << (n % 8)) - 1)).count_ones() as usize } else { 0 };
        return if counted == 1 { ones } else { n - ones };
    }
    (0..n).filter(|&k| unpack(packed, width, k) == counted).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by the `parquet_pages` fuzz target: a repeated run of 1-bit values whose byte held 4.
    #[test]
    fn a_repeated_value_wider_than_its_width_is_damage() {
        let run = [4 << 1, 4]; // four repeats of the value 4
        assert!(matches!(Hybrid { data: &run, width: 1 }.value(0), Err(PageError::Corrupt(_))));
        assert_eq!(Hybrid { data: &run, width: 3 }.value(3), Ok(4));
    }

    /// Found by the `parquet_pages` fuzz target: packed runs of 0-bit values take no bytes, so two
    /// runs of 2^61 groups each overflowed the position sum.
    #[test]
    fn runs_counted_past_the_largest_position_do_not_overflow() {
        let mut run = Vec::new();
        for _ in 0..2 {
            let mut header = ((usize::MAX / 8) as u64) << 1 | 1;
            while header >= 0x80 {
                run.push((header as u8) | 0x80);
                header >>= 7;
            }
            run.push(header as u8);
        }
        let zeros = Hybrid { data: &run, width: 0 };
        assert_eq!(zeros.value(0), Ok(0));
        assert_eq!(zeros.value(usize::MAX - 1), Ok(0));
        assert_eq!(zeros.get(usize::MAX - 1, 0).map(|(v, _)| v), Ok(0));
    }

    /// Encodes values as hybrid runs: a repeated run where a value repeats eight times or more,
    /// packed groups of eight elsewhere (the last group padded with zeros).
    fn encode(values: &[u64], width: u8) -> Vec<u8> {
        fn header(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < values.len() {
            let repeat = values[i..].iter().take_while(|v| **v == values[i]).count();
            if repeat >= 8 {
                header(&mut out, (repeat as u64) << 1);
                out.extend_from_slice(&values[i].to_le_bytes()[..usize::from(width).div_ceil(8)]);
                i += repeat;
                continue;
            }
            let group: Vec<u64> = (0..8).map(|k| values.get(i + k).copied().unwrap_or(0)).collect();
            header(&mut out, (1 << 1) | 1);
            let mut bits = vec![0u8; usize::from(width)];
            for (k, v) in group.iter().enumerate() {
                for b in 0..usize::from(width) {
                    if v >> b & 1 == 1 {
                        let bit = k * usize::from(width) + b;
                        bits[bit / 8] |= 1 << (bit % 8);
                    }
                }
            }
            out.extend(bits);
            i += 8;
        }
        out
    }

    proptest! {
        #[test]
        fn any_position_reads_back_with_its_count_of_equal_values_before_it(
            width in 0u8..=20,
            runs in proptest::collection::vec((0u64..1 << 20, 1usize..30), 1..20),
        ) {
            let mask = if width == 0 { 0 } else { (1u64 << width) - 1 };
            let values: Vec<u64> = runs.iter().flat_map(|(v, n)| std::iter::repeat_n(v & mask, *n)).collect();
            let encoded = encode(&values, width);
            let hybrid = Hybrid { data: &encoded, width };
            let counted = values[0];
            for (i, v) in values.iter().enumerate() {
                let before = values[..i].iter().filter(|x| **x == counted).count();
                prop_assert_eq!(hybrid.get(i, counted), Ok((*v, before)), "position {}", i);
                prop_assert_eq!(hybrid.value(i), Ok(*v));
            }
        }

        #[test]
        fn one_bit_levels_count_the_defined_values_before_each_row(levels in proptest::collection::vec(0u64..=1, 1..300)) {
            let encoded = encode(&levels, 1);
            let hybrid = Hybrid { data: &encoded, width: 1 };
            for i in 0..levels.len() {
                let defined = levels[..i].iter().sum::<u64>() as usize;
                prop_assert_eq!(hybrid.get(i, 1), Ok((levels[i], defined)));
            }
        }
    }

    #[test]
    fn positions_past_the_runs_are_errors() {
        let encoded = encode(&[1; 20], 3);
        assert!(Hybrid { data: &encoded, width: 3 }.get(20, 1).is_err());
        assert!(Hybrid { data: &[], width: 1 }.get(0, 1).is_err());
    }
}
