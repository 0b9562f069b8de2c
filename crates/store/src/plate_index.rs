//! The sidecar plate index of a plate-read segment: every distinct canonical plate (the hot path's
//! confusable classes folded, see `glasshouse_engine::rules::fuzzy`) mapped to the rows that carry
//! it, as the read's plate or one of its OCR candidates.
//!
//! The keys live in an `fst` map, so exact lookups, wildcard patterns and Levenshtein automata all
//! walk a compact sorted automaton instead of the rows. The map's value is the row itself when the
//! plate has one row (low bit set), else an offset into a postings area that holds a varint count
//! and varint row-number deltas.
//!
//! File layout: the magic `GHPLATE3`, the fst length as a little-endian u64, the fst bytes, then
//! the postings. Written beside the segment before the manifest names it, like the segment itself.

use fst::{Automaton, IntoStreamer, Map, MapBuilder, Streamer};
use std::collections::BTreeMap;

const MAGIC: &[u8; 8] = b"GHPLATE3";

/// The low bit of a value: set when the rest is a row number, clear when it is an offset into the
/// postings. (Low, not high: the fst stores small values in fewer bytes.)
const INLINE: u64 = 1;

/// An opened plate index.
pub struct PlateIndex {
    map: Map<Vec<u8>>,
    postings: Vec<u8>,
}

/// Why an index file is unusable.
#[derive(Debug, thiserror::Error)]
#[error("plate index: {0}")]
pub struct IndexError(String);

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Builds the index bytes from `(canonical plate, row)` pairs in any order; duplicates collapse.
pub fn build(pairs: impl IntoIterator<Item = (String, u32)>) -> Vec<u8> {
    let mut by_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (key, row) in pairs {
        by_key.entry(key).or_default().push(row);
    }
    let mut postings = Vec::new();
    let mut builder = MapBuilder::memory();
    for (key, mut rows) in by_key {
        rows.sort_unstable();
        rows.dedup();
        if let [row] = rows[..] {
            // Most plates appear once in a day's segment: the row goes in the value itself.
            builder.insert(key.as_bytes(), (u64::from(row) << 1) | INLINE).expect("keys come sorted and distinct from the BTreeMap");
            continue;
        }
        let offset = postings.len() as u64;
        put_varint(&mut postings, rows.len() as u64);
        let mut previous = 0u32;
        for row in rows {
            put_varint(&mut postings, u64::from(row - previous));
            previous = row;
        }
        builder.insert(key.as_bytes(), offset << 1).expect("keys come sorted and distinct from the BTreeMap");
    }
    let fst = builder.into_inner().expect("an in-memory fst cannot fail to finish");
    let mut out = Vec::with_capacity(16 + fst.len() + postings.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(fst.len() as u64).to_le_bytes());
    out.extend_from_slice(&fst);
    out.extend_from_slice(&postings);
    out
}

impl PlateIndex {
    /// Opens index bytes written by [`build`].
    pub fn from_bytes(bytes: &[u8]) -> Result<PlateIndex, IndexError> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(IndexError("not a plate index (bad magic)".into()));
        }
        let fst_len = u64::from_le_bytes(bytes[8..16].try_into().expect("eight bytes")) as usize;
        let fst_end = 16usize.checked_add(fst_len).filter(|end| *end <= bytes.len()).ok_or_else(|| IndexError("truncated".into()))?;
        let map = Map::new(bytes[16..fst_end].to_vec()).map_err(|e| IndexError(e.to_string()))?;
        Ok(PlateIndex { map, postings: bytes[fst_end..].to_vec() })
    }

    /// Distinct canonical plates.
    pub fn keys(&self) -> usize {
        self.map.len()
    }

    /// Bytes held in memory.
    pub fn size_bytes(&self) -> usize {
        self.map.as_fst().as_bytes().len() + self.postings.len()
    }

    fn push_rows(&self, value: u64, out: &mut Vec<u32>) -> Result<(), IndexError> {
        if value & INLINE != 0 {
            out.push(u32::try_from(value >> 1).map_err(|_| IndexError(format!("inline row {value:#x} is corrupt")))?);
            return Ok(());
        }
        let offset = value >> 1;
        let corrupt = || IndexError(format!("postings at {offset} are corrupt"));
        let mut at = usize::try_from(offset).map_err(|_| corrupt())?;
        let count = get_varint(&self.postings, &mut at).ok_or_else(corrupt)?;
        let mut row = 0u64;
        for _ in 0..count {
            row += get_varint(&self.postings, &mut at).ok_or_else(corrupt)?;
            out.push(u32::try_from(row).map_err(|_| corrupt())?);
        }
        Ok(())
    }

    /// Rows whose canonical plate is `key`.
    pub fn rows_exact(&self, key: &str, out: &mut Vec<u32>) -> Result<(), IndexError> {
        match self.map.get(key.as_bytes()) {
            Some(offset) => self.push_rows(offset, out),
            None => Ok(()),
        }
    }

    /// Rows of every key the automaton accepts; returns how many keys matched.
    pub fn rows_matching<A: Automaton>(&self, automaton: A, out: &mut Vec<u32>) -> Result<usize, IndexError> {
        let mut stream = self.map.search(automaton).into_stream();
        let mut keys = 0;
        while let Some((_, offset)) = stream.next() {
            keys += 1;
            self.push_rows(offset, out)?;
        }
        Ok(keys)
    }
}

/// A wildcard pattern over plate characters: `?` is any one character, `*` any run (also empty).
///
/// Written here because `fst` offers prefix and Levenshtein automata but no glob; the state is
/// the set of pattern positions reached, a bit set, so a pattern is at most 63 characters.
#[derive(Debug, Clone)]
pub struct Wildcard {
    pattern: Vec<u8>,
}

/// The most characters a wildcard pattern may have.
pub const WILDCARD_CHARS_MAX: usize = 63;

impl Wildcard {
    /// A pattern of ASCII characters, `?` and `*`; `None` when it is empty or too long.
    pub fn new(pattern: &str) -> Option<Wildcard> {
        (!pattern.is_empty() && pattern.len() <= WILDCARD_CHARS_MAX && pattern.is_ascii())
            .then(|| Wildcard { pattern: pattern.as_bytes().to_vec() })
    }

    /// Adds the positions reachable through `*` (which may match nothing).
    fn closure(&self, mut state: u64) -> u64 {
        for (i, c) in self.pattern.iter().enumerate() {
            if *c == b'*' && state & (1 << i) != 0 {
                state |= 1 << (i + 1);
            }
        }
        state
    }

    /// True when the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let mut state = self.start();
        for byte in text.bytes() {
            state = self.accept(&state, byte);
            if state == 0 {
                return false;
            }
        }
        self.is_match(&state)
    }
}

impl Automaton for Wildcard {
    type State = u64;

    fn start(&self) -> u64 {
        self.closure(1)
    }

    fn is_match(&self, state: &u64) -> bool {
        state & (1 << self.pattern.len()) != 0
    }

    fn can_match(&self, state: &u64) -> bool {
        *state != 0
    }

    fn accept(&self, state: &u64, byte: u8) -> u64 {
        let mut next = 0u64;
        for (i, c) in self.pattern.iter().enumerate() {
            if state & (1 << i) == 0 {
                continue;
            }
            match *c {
                b'*' => next |= 1 << i,
                b'?' => next |= 1 << (i + 1),
                literal if literal == byte => next |= 1 << (i + 1),
                _ => {}
            }
        }
        self.closure(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fst::automaton::Levenshtein;
    use proptest::prelude::*;

    fn glob_oracle(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, _) => text.is_empty(),
            (Some(b'*'), _) => glob_oracle(&pattern[1..], text) || (!text.is_empty() && glob_oracle(pattern, &text[1..])),
            (Some(_), None) => false,
            (Some(b'?'), Some(_)) => glob_oracle(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) => p == t && glob_oracle(&pattern[1..], &text[1..]),
        }
    }

    fn index_of(keys: &[String]) -> PlateIndex {
        let bytes = build(keys.iter().enumerate().map(|(row, key)| (key.clone(), row as u32)));
        PlateIndex::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn rows_come_back_per_key_in_order_including_repeats() {
        let index = index_of(&["ABC".into(), "XYZ".into(), "ABC".into(), "AB".into()]);
        let mut rows = Vec::new();
        index.rows_exact("ABC", &mut rows).unwrap();
        assert_eq!(rows, [0, 2]);
        rows.clear();
        index.rows_exact("ABD", &mut rows).unwrap();
        assert!(rows.is_empty());
        assert_eq!(index.keys(), 3);
    }

    #[test]
    fn corrupt_files_are_refused_not_trusted() {
        assert!(PlateIndex::from_bytes(b"GHPLATE3").is_err());
        assert!(PlateIndex::from_bytes(b"NOTANINDEX0000000000").is_err());
        let mut bytes = build([("ABC".to_string(), 1)]);
        bytes[8] = 0xff;
        assert!(PlateIndex::from_bytes(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn wildcard_agrees_with_a_recursive_oracle(pattern in "[AB?*]{1,8}", text in "[ABC]{0,8}") {
            let wildcard = Wildcard::new(&pattern).unwrap();
            prop_assert_eq!(wildcard.matches(&text), glob_oracle(pattern.as_bytes(), text.as_bytes()));
        }

        #[test]
        fn the_index_finds_exactly_what_a_scan_finds(
            keys in proptest::collection::vec("[0-9A-C]{2,5}", 1..60),
            pattern in "[0-9A-C?*]{1,5}",
            query in "[0-9A-C]{2,5}",
        ) {
            let index = index_of(&keys);
            let wildcard = Wildcard::new(&pattern).unwrap();
            let mut rows = Vec::new();
            index.rows_matching(wildcard.clone(), &mut rows).unwrap();
            rows.sort_unstable();
            let scanned: Vec<u32> = keys.iter().enumerate().filter(|(_, k)| wildcard.matches(k)).map(|(i, _)| i as u32).collect();
            prop_assert_eq!(rows, scanned);

            let mut near = Vec::new();
            index.rows_matching(Levenshtein::new(&query, 1).unwrap(), &mut near).unwrap();
            near.sort_unstable();
            let within_one: Vec<u32> = keys.iter().enumerate().filter(|(_, k)| edit_distance(k, &query) <= 1).map(|(i, _)| i as u32).collect();
            prop_assert_eq!(near, within_one);
        }
    }

    fn edit_distance(a: &str, b: &str) -> usize {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut previous = row[0];
            row[0] = i;
            for j in 1..=b.len() {
                let current = row[j];
                row[j] = (row[j] + 1).min(row[j - 1] + 1).min(previous + usize::from(a[i - 1] != b[j - 1]));
                previous = current;
            }
        }
        row[b.len()]
    }
}
