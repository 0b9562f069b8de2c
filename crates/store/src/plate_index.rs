//! The sidecar plate index of a plate-read segment: every distinct plate, as read (the read's plate
//! or one of its OCR candidates), mapped to the rows that carry it.
//!
//! The keys live in an `fst` map, so exact lookups, wildcard patterns and misread-tolerant
//! automata ([`MisreadAutomaton`], which lets confusable characters differ for free) all walk
//! a compact sorted automaton instead of the rows. Keys are the plates themselves, not their
//! canonical forms, so a matched key says exactly which plate matched: a count of the reads of a
//! pattern comes from the index alone, without reading a row. The map's value is the key's ordinal:
//! the ordinals of neighbouring keys differ by one, so the automaton shares their suffixes, where
//! the row numbers themselves (random, since rows are in space order) made it nearly twice the
//! size. The rows follow as one array in key order, each a fixed number of bits, with a bit set
//! where a key's rows begin; a sample every [`SAMPLE_KEYS`] keys says where to start counting
//! those bits.
//!
//! File layout (`GHPLATE6`): the magic, the length of a zstd frame (u64), the frame, then the packed
//! rows as they are (random numbers, which zstd does not shrink). The payload is the frame's
//! contents followed by the packed rows; it is rebuilt once, when its segment is first opened, and
//! kept in memory. In it, all little-endian: the fst length, the number of keys, the number of row
//! entries and the bits per row, as u64; the fst bytes; the samples (u64 entry positions); the
//! key-start bits (u64 words, with one extra bit set after the last entry); the packed rows,
//! followed by eight zero bytes so every row is read with one 8-byte load. Written beside the
//! segment before the manifest names it, like the segment itself. It is the only layout any
//! deployment has written; a file of another layout is refused as damaged.

use bytes::Bytes;
use fst::{Automaton, IntoStreamer, Map, MapBuilder, Streamer};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"GHPLATE7";

/// Keys between position samples: a lookup counts at most this many key-start bits.
pub const SAMPLE_KEYS: usize = 128;

/// The rows of every key, bit-packed in key order; a key's fst value is its ordinal.
struct Rows {
    /// Where every [`SAMPLE_KEYS`]-th key's rows start.
    samples: Vec<u64>,
    /// A bit set where each key's rows start (and one after the last row).
    starts: Vec<u64>,
    packed: Bytes,
    bits: u32,
    entries: u64,
}

/// An opened plate index.
pub struct PlateIndex {
    /// The fst and the packed rows share one buffer, the file's decompressed payload.
    map: Map<Bytes>,
    rows: Rows,
}

/// Why an index file is unusable.
#[derive(Debug, thiserror::Error)]
#[error("plate index: {0}")]
pub struct IndexError(String);

/// Bits needed for row numbers below `rows_max` (at least one).
fn bits_for(rows_max: u32) -> u32 {
    (u32::BITS - rows_max.leading_zeros()).max(1)
}

/// Builds the index bytes from `(plate, row)` pairs in any order; duplicates collapse.
pub fn build<K: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (K, u32)>) -> Vec<u8> {
    // Keys of up to 16 bytes without NUL (every plate) sort as one big-endian integer each, zero
    // padded, which orders them as their bytes: several times faster than a map of strings, the
    // index's largest cost when a segment is written. Anything else sorts as bytes.
    let mut packed: Vec<(u128, u32)> = Vec::new();
    let mut other: Vec<(Vec<u8>, u32)> = Vec::new();
    for (key, row) in pairs {
        let key = key.as_ref();
        match pack_key(key) {
            Some(number) if other.is_empty() => packed.push((number, row)),
            _ => {
                other.extend(packed.drain(..).map(|(number, row)| (unpack_key(number).to_vec(), row)));
                other.push((key.to_vec(), row));
            }
        }
    }
    let mut emitter = Emitter::default();
    if other.is_empty() {
        packed.sort_unstable();
        packed.dedup();
        for (number, row) in packed {
            emitter.push(unpack_key(number).as_slice(), row);
        }
    } else {
        other.sort_unstable();
        other.dedup();
        for (key, row) in &other {
            emitter.push(key, *row);
        }
    }
    emitter.finish()
}

/// A key of at most 16 bytes, none of them NUL, as a big-endian integer padded with zero bytes.
fn pack_key(key: &[u8]) -> Option<u128> {
    if key.len() > 16 || key.contains(&0) {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..key.len()].copy_from_slice(key);
    Some(u128::from_be_bytes(bytes))
}

/// The key [`pack_key`] packed.
fn unpack_key(number: u128) -> KeyBytes {
    let bytes = number.to_be_bytes();
    let len = bytes.iter().position(|b| *b == 0).unwrap_or(16);
    KeyBytes { bytes, len }
}

struct KeyBytes {
    bytes: [u8; 16],
    len: usize,
}

impl KeyBytes {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }
}

/// Lays out the index from `(key, row)` pairs sorted by key, then row, without duplicates.
struct Emitter {
    builder: MapBuilder<Vec<u8>>,
    /// The key being emitted (meaningless before the first).
    last: Vec<u8>,
    keys: u64,
    entries: Vec<u32>,
    starts: Vec<u64>,
    samples: Vec<u64>,
}

impl Default for Emitter {
    fn default() -> Emitter {
        Emitter { builder: MapBuilder::memory(), last: Vec::new(), keys: 0, entries: Vec::new(), starts: Vec::new(), samples: Vec::new() }
    }
}

impl Emitter {
    fn mark(&mut self, position: usize) {
        self.starts.resize(self.starts.len().max(position / 64 + 1), 0);
        self.starts[position / 64] |= 1 << (position % 64);
    }

    fn push(&mut self, key: &[u8], row: u32) {
        if self.keys == 0 || self.last != key {
            if self.keys.is_multiple_of(SAMPLE_KEYS as u64) {
                self.samples.push(self.entries.len() as u64);
            }
            self.mark(self.entries.len());
            self.builder.insert(key, self.keys).expect("keys come sorted and distinct");
            self.keys += 1;
            self.last.clear();
            self.last.extend_from_slice(key);
        }
        self.entries.push(row);
    }

    fn finish(mut self) -> Vec<u8> {
        // The sentinel: the last key's rows end where this bit is.
        self.mark(self.entries.len());
        let bits = bits_for(self.entries.iter().copied().max().unwrap_or(0));
        let mut packed = vec![0u8; (self.entries.len() * bits as usize).div_ceil(8) + 8];
        for (i, row) in self.entries.iter().enumerate() {
            let at = i * bits as usize;
            let word = u64::from_le_bytes(packed[at / 8..at / 8 + 8].try_into().expect("eight bytes")) | (u64::from(*row) << (at % 8));
            packed[at / 8..at / 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        let fst = self.builder.into_inner().expect("an in-memory fst cannot fail to finish");
        let mut payload = Vec::with_capacity(64 + fst.len() + 8 * (self.samples.len() + self.starts.len()) + packed.len());
        for header in [fst.len() as u64, self.keys, self.entries.len() as u64, u64::from(bits)] {
            payload.extend_from_slice(&header.to_le_bytes());
        }
        payload.extend_from_slice(&Sha256::digest(&fst));
        payload.extend_from_slice(&fst);
        for word in self.samples.iter().chain(&self.starts) {
            payload.extend_from_slice(&word.to_le_bytes());
        }
        // The packed rows are row numbers in key order, as good as random: zstd gains nothing on
        // them, and they were 40 % of what it searched (the index's largest cost after the fst).
        let frame = zstd::bulk::compress(&payload, ZSTD_LEVEL).expect("compressing into memory cannot fail");
        let mut out = Vec::with_capacity(16 + frame.len() + packed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(frame.len() as u64).to_le_bytes());
        out.extend_from_slice(&frame);
        out.extend_from_slice(&packed);
        out
    }
}

/// zstd level of the index. Measured on a 10M-read day's index: level 9 is 2 % smaller than level 3
/// (about 0.1 byte per read) for four times its time, about 0.24 s per million reads; level 19 is
/// 4 % smaller but takes 2.3 s per million reads, which alone would hold a segment builder under
/// the 1M reads/s load target. Reading is as fast at any level (once per segment).
const ZSTD_LEVEL: i32 = 9;

/// The largest index payload accepted (a corrupt frame must not ask for unbounded memory): far
/// above a day's index of a city's reads (tens of MB).
const PAYLOAD_BYTES_MAX: usize = 1 << 32;

/// True when two digests are equal, compared byte by byte without an early exit (so neither a
/// timing nor a fuzzer's comparison tracing learns the expected bytes).
fn same_digest(computed: &[u8], stored: &[u8]) -> bool {
    computed.len() == stored.len() && std::hint::black_box(computed.iter().zip(stored).fold(0u8, |acc, (a, b)| acc | (a ^ b))) == 0
}

/// Reads consecutive little-endian u64 values from a byte cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or_else(|| IndexError("truncated".into()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("eight bytes")))
    }

    fn words(&mut self, count: u64) -> Result<Vec<u64>, IndexError> {
        let len = usize::try_from(count).ok().and_then(|c| c.checked_mul(8)).ok_or_else(|| IndexError("truncated".into()))?;
        Ok(self.take(len)?.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("eight bytes"))).collect())
    }
}

impl PlateIndex {
    /// Opens index bytes written by [`build`].
    pub fn from_bytes(bytes: &[u8]) -> Result<PlateIndex, IndexError> {
        let mut reader = Reader { bytes, at: 0 };
        let magic = reader.take(8).map_err(|_| IndexError("not a plate index (too short)".into()))?;
        if magic != MAGIC {
            return Err(IndexError("not a plate index (bad magic)".into()));
        }
        // The compressed part, then the packed rows as they are: one payload again.
        let frame_len = usize::try_from(reader.u64()?).map_err(|_| IndexError("truncated".into()))?;
        let mut payload = decompress(reader.take(frame_len)?)?;
        payload.extend_from_slice(&bytes[reader.at..]);
        let payload = Bytes::from(payload);
        let mut reader = Reader { bytes: &payload, at: 0 };
        let (fst_len, keys, entries, bits) = (reader.u64()?, reader.u64()?, reader.u64()?, reader.u64()?);
        if !(1..=32).contains(&bits) {
            return Err(IndexError(format!("{bits} bits per row")));
        }
        let digest = reader.take(32)?;
        let fst = reader.take(usize::try_from(fst_len).map_err(|_| IndexError("truncated".into()))?)?;
        // fst trusts its bytes: a damaged transition panics inside it (found by the `plate_index`
        // fuzz target). Its own CRC was not enough: the fuzzer forged a matching one, since a CRC is
        // compared in one step it can see. A SHA-256 of the map, compared without an early exit,
        // cannot be forged that way, so only a map this crate wrote reaches fst.
        if !same_digest(&Sha256::digest(fst), digest) {
            return Err(IndexError("damaged: the map's SHA-256 does not match".into()));
        }
        let map = Map::new(payload.slice_ref(fst)).map_err(|e| IndexError(e.to_string()))?;
        map.as_fst().verify().map_err(|e| IndexError(format!("damaged: {e}")))?;
        if map.len() as u64 != keys {
            return Err(IndexError(format!("the header says {keys} keys, the map has {}", map.len())));
        }
        let samples = reader.words(keys.div_ceil(SAMPLE_KEYS as u64))?;
        let starts = reader.words(entries / 64 + 1)?;
        let packed_len = entries
            .checked_mul(bits)
            .and_then(|total| usize::try_from(total.div_ceil(8)).ok())
            .ok_or_else(|| IndexError(format!("{entries} rows of {bits} bits")))?
            + 8;
        let packed = payload.slice_ref(reader.take(packed_len)?);
        Ok(PlateIndex { map, rows: Rows { samples, starts, packed, bits: bits as u32, entries } }).and_then(|index| {
            match reader.at == payload.len() {
                true => Ok(index),
                false => Err(IndexError(format!("{} bytes after the packed rows", payload.len() - reader.at))),
            }
        })
    }

    /// Distinct keys.
    pub fn keys(&self) -> usize {
        self.map.len()
    }

    /// Bytes held in memory.
    pub fn size_bytes(&self) -> usize {
        let Rows { samples, starts, packed, .. } = &self.rows;
        self.map.as_fst().as_bytes().len() + 8 * (samples.len() + starts.len()) + packed.len()
    }

    fn push_rows(&self, value: u64, out: &mut Vec<u32>) -> Result<(), IndexError> {
        let Rows { samples, starts, packed, bits, entries } = &self.rows;
        let corrupt = || IndexError(format!("rows of key {value} are corrupt"));
        let ordinal = usize::try_from(value).map_err(|_| corrupt())?;
        let sample = *samples.get(ordinal / SAMPLE_KEYS).ok_or_else(corrupt)?;
        // From the sampled key's first entry, pass the starts of the keys in between.
        let first = next_set_bit(starts, sample, (ordinal % SAMPLE_KEYS) as u32).ok_or_else(corrupt)?;
        let end = next_set_bit(starts, first + 1, 0).ok_or_else(corrupt)?;
        if end > *entries {
            return Err(corrupt());
        }
        let mask = (1u64 << bits) - 1;
        for entry in first..end {
            let at = (entry * u64::from(*bits)) as usize;
            let word = u64::from_le_bytes(packed[at / 8..at / 8 + 8].try_into().expect("the padding covers the last row"));
            out.push(((word >> (at % 8)) & mask) as u32);
        }
        Ok(())
    }

    /// Rows carrying the key `key`.
    pub fn rows_exact(&self, key: &str, out: &mut Vec<u32>) -> Result<(), IndexError> {
        match self.map.get(key.as_bytes()) {
            Some(value) => self.push_rows(value, out),
            None => Ok(()),
        }
    }

    /// Rows of every key the automaton accepts; returns how many keys matched.
    pub fn rows_matching<A: Automaton>(&self, automaton: A, out: &mut Vec<u32>) -> Result<usize, IndexError> {
        let mut keys = 0;
        self.each_matching(automaton, |_, rows| {
            keys += 1;
            out.extend_from_slice(rows);
        })?;
        Ok(keys)
    }

    /// Calls `each` with every key of `keys` the index holds, and its rows: one lookup
    /// each, for a few keys found elsewhere (the store's plate dictionary), where a walk would
    /// visit every branch of the upper nodes.
    pub fn each_listed(&self, keys: &[impl AsRef<[u8]>], mut each: impl FnMut(&[u8], &[u32])) -> Result<(), IndexError> {
        let mut rows = Vec::new();
        for key in keys {
            if let Some(value) = self.map.get(key.as_ref()) {
                rows.clear();
                self.push_rows(value, &mut rows)?;
                each(key.as_ref(), &rows);
            }
        }
        Ok(())
    }

    /// Calls `each` with every key, in byte order.
    pub fn each_key(&self, mut each: impl FnMut(&[u8])) {
        let mut stream = self.map.stream();
        while let Some((key, _)) = stream.next() {
            each(key);
        }
    }

    /// Calls `each` with every key the automaton accepts and the key's rows, in key order.
    pub fn each_matching<A: Automaton>(&self, automaton: A, mut each: impl FnMut(&[u8], &[u32])) -> Result<(), IndexError> {
        let mut stream = self.map.search(automaton).into_stream();
        let mut rows = Vec::new();
        while let Some((key, value)) = stream.next() {
            rows.clear();
            self.push_rows(value, &mut rows)?;
            each(key, &rows);
        }
        Ok(())
    }
}

/// The index payload out of its zstd frame, refusing a frame that claims more than
/// [`PAYLOAD_BYTES_MAX`].
fn decompress(frame: &[u8]) -> Result<Vec<u8>, IndexError> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(frame).map_err(|e| IndexError(format!("zstd: {e}")))?;
    let mut payload = Vec::new();
    decoder.take(PAYLOAD_BYTES_MAX as u64 + 1).read_to_end(&mut payload).map_err(|e| IndexError(format!("zstd: {e}")))?;
    if payload.len() > PAYLOAD_BYTES_MAX {
        return Err(IndexError("the index is larger than any day of reads".into()));
    }
    Ok(payload)
}

/// The position of the set bit that follows `skip` other set bits at or after `from`, if any.
fn next_set_bit(words: &[u64], from: u64, mut skip: u32) -> Option<u64> {
    let mut index = usize::try_from(from / 64).ok()?;
    let mut word = *words.get(index)? & (u64::MAX << (from % 64));
    loop {
        let ones = word.count_ones();
        if ones > skip {
            for _ in 0..skip {
                word &= word - 1;
            }
            return Some(index as u64 * 64 + u64::from(word.trailing_zeros()));
        }
        skip -= ones;
        index += 1;
        word = *words.get(index)?;
    }
}

/// The pattern language of [`glasshouse_model::plate::pattern`] as an `fst` automaton, so an index
/// walks only the keys a pattern can reach.
///
/// Written here because `fst` offers prefix and Levenshtein automata but no glob; the state is
/// the set of pattern positions reached, a bit set, so a pattern is at most 63 characters. Tested
/// against the pattern language's one definition.
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

/// Keys within `distance` edits of a plate, where trading a character for an OCR-confusable one
/// (see `glasshouse_engine::rules::misread`) is free: the misread-tolerant search over an index of
/// exact plates.
///
/// Written here because `fst`'s Levenshtein automaton counts every differing byte. A bit-parallel
/// simulation of the edit automaton: level `e` of the state holds the pattern positions reachable
/// with at most `e` edits, so a plate of up to 63 characters and three edits fit in four words.
#[derive(Debug, Clone)]
pub struct MisreadAutomaton {
    /// For each canonical byte, the pattern positions holding it.
    positions: Box<[u64; 256]>,
    len: u32,
    distance: usize,
}

/// The most edits [`MisreadAutomaton`] allows (two substitutions and a length difference).
pub const EDITS_MAX: usize = 3;

impl MisreadAutomaton {
    /// An automaton for `plate` (ASCII, at most [`WILDCARD_CHARS_MAX`] characters) and up to
    /// [`EDITS_MAX`] edits; `None` outside those bounds.
    pub fn new(plate: &str, distance: usize) -> Option<MisreadAutomaton> {
        if !plate.is_ascii() || plate.len() > WILDCARD_CHARS_MAX || distance > EDITS_MAX {
            return None;
        }
        let mut positions = Box::new([0u64; 256]);
        for (i, byte) in plate.bytes().enumerate() {
            positions[usize::from(confusable_class(byte))] |= 1 << i;
        }
        Some(MisreadAutomaton { positions, len: plate.len() as u32, distance })
    }

    fn reachable(&self) -> u64 {
        u64::MAX >> (63 - self.len)
    }
}

fn confusable_class(byte: u8) -> u8 {
    glasshouse_engine::rules::misread::canonical_char(char::from(byte)) as u8
}

impl Automaton for MisreadAutomaton {
    type State = [u64; EDITS_MAX + 1];

    fn start(&self) -> Self::State {
        // With `e` edits, up to `e` leading pattern characters may be dropped.
        let mut state = [0; EDITS_MAX + 1];
        for (e, level) in state.iter_mut().enumerate().take(self.distance + 1) {
            *level = ((1u64 << (e + 1)) - 1) & self.reachable();
        }
        state
    }

    fn is_match(&self, state: &Self::State) -> bool {
        state[self.distance] & (1 << self.len) != 0
    }

    fn can_match(&self, state: &Self::State) -> bool {
        state[self.distance] != 0
    }

    fn accept(&self, state: &Self::State, byte: u8) -> Self::State {
        let matching = self.positions[usize::from(confusable_class(byte))];
        let mut next = [0u64; EDITS_MAX + 1];
        for e in 0..=self.distance {
            let mut level = (state[e] & matching) << 1;
            if e > 0 {
                // An extra key character (stay), a substitution (advance), a dropped pattern
                // character (advance without reading, from this step's lower level).
                level |= state[e - 1] | (state[e - 1] << 1) | (next[e - 1] << 1);
            }
            next[e] = level & self.reachable();
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fst::automaton::Levenshtein;
    use proptest::prelude::*;

    fn index_of(keys: &[String]) -> PlateIndex {
        let bytes = build(keys.iter().enumerate().map(|(row, key)| (key.clone(), row as u32)));
        PlateIndex::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn a_map_whose_bytes_do_not_match_its_digest_is_refused_before_fst_reads_it() {
        let keys: Vec<String> = (0..200).map(|i| format!("K{i:05}")).collect();
        let bytes = build(keys.iter().enumerate().map(|(row, key)| (key.clone(), row as u32)));
        let frame_len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let mut payload = zstd::bulk::decompress(&bytes[16..16 + frame_len], PAYLOAD_BYTES_MAX).unwrap();
        // One byte inside the map (after the four header words and the digest).
        payload[32 + 32 + 10] ^= 0x40;
        let frame = zstd::bulk::compress(&payload, 3).unwrap();
        let mut damaged = MAGIC.to_vec();
        damaged.extend_from_slice(&(frame.len() as u64).to_le_bytes());
        damaged.extend_from_slice(&frame);
        damaged.extend_from_slice(&bytes[16 + frame_len..]);
        let refused = PlateIndex::from_bytes(&damaged).err().expect("a damaged map is refused");
        assert!(refused.0.contains("SHA-256"), "{}", refused.0);
        assert!(PlateIndex::from_bytes(&bytes).is_ok());
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
        assert!(PlateIndex::from_bytes(b"GHPLATE3").is_err(), "a layout no deployment wrote");
        assert!(PlateIndex::from_bytes(b"NOTANINDEX0000000000").is_err());
        let mut bytes = build([("ABC".to_string(), 1)]);
        bytes[8] = 0xff;
        assert!(PlateIndex::from_bytes(&bytes).is_err(), "a damaged frame");
        let good = build([("ABC".to_string(), 1)]);
        assert!(PlateIndex::from_bytes(&good[..good.len() - 1]).is_err(), "a truncated frame");
        let lying = with_payload(&good, |payload| payload[24] = 40); // 40 bits per row
        assert!(PlateIndex::from_bytes(&lying).is_err(), "a header out of range");
        let mut longer = good.clone();
        longer.push(0);
        assert!(PlateIndex::from_bytes(&longer).is_err(), "bytes after the rows");
        let mut short_frame = good.clone();
        short_frame[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(PlateIndex::from_bytes(&short_frame).is_err(), "a frame longer than the file");
        // Found by the `plate_index` fuzz target: a damaged byte inside the map made fst panic
        // when the keys were walked. Every byte of the map, flipped, is refused at open now.
        let keys: Vec<(String, u32)> = (0..40).map(|i| (format!("K{i:03}X"), i)).collect();
        let good = build(keys);
        let mut fst_len = 0;
        with_payload(&good, |payload| fst_len = u64::from_le_bytes(payload[..8].try_into().unwrap()) as usize);
        for at in 32..32 + fst_len {
            let file = with_payload(&good, |payload| payload[at] ^= 0x10);
            assert!(PlateIndex::from_bytes(&file).is_err(), "a flipped bit at {at} of the map");
        }
    }

    /// `index` with its compressed payload changed by `change`, compressed again.
    fn with_payload(index: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let frame_len = u64::from_le_bytes(index[8..16].try_into().unwrap()) as usize;
        let mut payload = decompress(&index[16..16 + frame_len]).unwrap();
        change(&mut payload);
        let frame = zstd::bulk::compress(&payload, 1).unwrap();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&(frame.len() as u64).to_le_bytes());
        file.extend(frame);
        file.extend_from_slice(&index[16 + frame_len..]);
        file
    }

    #[test]
    fn every_key_finds_its_rows_across_many_samples() {
        // Enough keys for several position samples, with repeats of uneven length.
        let keys: Vec<String> = (0..5_000u32).map(|row| format!("K{:05}", (row * 7919) % 1_777)).collect();
        let index = index_of(&keys);
        assert_eq!(index.keys(), 1_777);
        for key in ["K00000", "K00127", "K00128", "K00129", "K01776"] {
            let mut rows = Vec::new();
            index.rows_exact(key, &mut rows).unwrap();
            let expected: Vec<u32> = (0..5_000u32).filter(|row| keys[*row as usize] == key).collect();
            assert_eq!(rows, expected, "{key}");
        }
        let mut all = Vec::new();
        assert_eq!(index.rows_matching(Wildcard::new("K*").unwrap(), &mut all).unwrap(), 1_777);
        all.sort_unstable();
        assert_eq!(all, (0..5_000).collect::<Vec<u32>>());
    }

    #[test]
    fn rows_are_packed_in_as_few_bits_as_the_largest_needs() {
        let open = |shift: u32| PlateIndex::from_bytes(&build((0..1_000u32).map(|row| (format!("P{row}"), row << shift)))).unwrap();
        let (small, large) = (open(0), open(20));
        // 10 bits a row against 30: the difference in memory is the packed rows alone.
        assert_eq!(large.size_bytes() - small.size_bytes(), 1_000 * 20 / 8);
        let mut rows = Vec::new();
        large.rows_exact("P999", &mut rows).unwrap();
        assert_eq!(rows, [999 << 20]);
    }

    proptest! {
        #[test]
        fn the_wildcard_automaton_agrees_with_the_pattern_definition(pattern in "[AB?*]{1,8}", text in "[ABC]{0,8}") {
            let wildcard = Wildcard::new(&pattern).unwrap();
            prop_assert_eq!(wildcard.matches(&text), glasshouse_model::plate::pattern::matches(pattern.as_bytes(), text.as_bytes()));
        }

        #[test]
        fn the_misread_automaton_agrees_with_a_dynamic_programme(
            plate in "[0-9A-DOSZ]{0,7}",
            text in "[0-9A-DOSZ]{0,8}",
            distance in 0usize..=EDITS_MAX,
        ) {
            let automaton = MisreadAutomaton::new(&plate, distance).unwrap();
            let mut state = automaton.start();
            for byte in text.bytes() {
                state = automaton.accept(&state, byte);
            }
            prop_assert_eq!(automaton.is_match(&state), confusable_distance(&plate, &text) <= distance);
        }

        #[test]
        fn listed_keys_are_found_exactly(
            keys in proptest::collection::vec("[0-9A-C]{1,5}", 1..60),
            wanted in proptest::collection::btree_set("[0-9A-C]{0,5}", 0..20),
        ) {
            let index = index_of(&keys);
            let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let mut found = Vec::new();
            index.each_listed(&wanted, |key, rows| found.push((String::from_utf8(key.to_vec()).unwrap(), rows.to_vec()))).unwrap();
            let mut expected: Vec<(String, Vec<u32>)> = Vec::new();
            for (row, key) in keys.iter().enumerate() {
                if !wanted.contains(&key.as_str()) {
                    continue;
                }
                match expected.iter_mut().find(|(k, _)| k == key) {
                    Some((_, rows)) => rows.push(row as u32),
                    None => expected.push((key.clone(), vec![row as u32])),
                }
            }
            expected.sort();
            prop_assert_eq!(found, expected);
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

    /// Edit distance where a substitution between confusable characters costs nothing.
    fn confusable_distance(a: &str, b: &str) -> usize {
        distance_by(a, b, |x, y| confusable_class(x) == confusable_class(y))
    }

    #[test]
    fn confusable_levenshtein_lets_confusable_characters_differ_for_free() {
        let index = index_of(&["AB1234".into(), "A81234".into(), "AB1235".into(), "XB1234".into(), "AB123".into()]);
        let found = |plate: &str, distance: usize| {
            let mut rows = Vec::new();
            index.rows_matching(MisreadAutomaton::new(plate, distance).unwrap(), &mut rows).unwrap();
            rows.sort_unstable();
            rows
        };
        assert_eq!(found("A8I234", 0), [0, 1], "B/8 and 1/I are free");
        assert_eq!(found("AB1234", 1), [0, 1, 2, 3, 4]);
        assert!(MisreadAutomaton::new("AB1234", EDITS_MAX + 1).is_none());
    }

    #[test]
    fn keys_too_long_to_pack_index_like_the_rest() {
        // Short keys first (packed), then one past 16 bytes: everything moves to the byte sort.
        let keys: Vec<String> = ["AB1", "ZZ9", "AB1", "A_KEY_LONGER_THAN_16", "AB10", "A_KEY_LONGER_THAN_16X"].map(String::from).to_vec();
        let index = index_of(&keys);
        assert_eq!(index.keys(), 5);
        for key in &keys {
            let mut rows = Vec::new();
            index.rows_exact(key, &mut rows).unwrap();
            let expected: Vec<u32> = (0..keys.len() as u32).filter(|row| keys[*row as usize] == *key).collect();
            assert_eq!(rows, expected, "{key}");
        }
        let mut order = Vec::new();
        index.each_matching(Wildcard::new("*").unwrap(), |key, _| order.push(String::from_utf8(key.to_vec()).unwrap())).unwrap();
        assert_eq!(order, ["AB1", "AB10", "A_KEY_LONGER_THAN_16", "A_KEY_LONGER_THAN_16X", "ZZ9"]);
    }

    #[test]
    fn keys_are_the_plates_as_read_not_their_canonical_forms() {
        let pairs = vec![("AB1234".to_owned(), 0u32), ("A81234".to_owned(), 1)];
        assert_eq!(PlateIndex::from_bytes(&build(pairs)).unwrap().keys(), 2, "B and 8 are confusable, but both plates are kept");
    }

    fn edit_distance(a: &str, b: &str) -> usize {
        distance_by(a, b, |x, y| x == y)
    }

    /// Levenshtein distance in which a substitution of `x` by `y` costs nothing when `same(x, y)`.
    fn distance_by(a: &str, b: &str, same: impl Fn(u8, u8) -> bool) -> usize {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut previous = row[0];
            row[0] = i;
            for j in 1..=b.len() {
                let current = row[j];
                row[j] = (row[j] + 1).min(row[j - 1] + 1).min(previous + usize::from(!same(a[i - 1], b[j - 1])));
                previous = current;
            }
        }
        row[b.len()]
    }
}
