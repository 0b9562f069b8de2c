//! Every distinct plate in the store's plate indexes, held in memory: the way into patterns with
//! no fixed start (`*BC?23*`, `?B*`).
//!
//! A segment's index is sorted, so a pattern with a fixed first two characters walks a sliver of
//! it; a pattern that starts with a wildcard walks every key of every day, about 75 ms a day at
//! 3.3M reads a day. The dictionary holds each distinct plate once, whatever the number of days,
//! packed into 64 bits (six bits a character), so a pattern becomes a few mask-and-compare tests
//! per plate over one flat array: 3.3M plates in a few milliseconds. The plates it finds are then
//! looked up in each day's index as exact keys ([`PlateIndex::each_listed`]), so rows and counts
//! still come from the segments themselves.
//!
//! It is derived data: built from the indexes, extended when segments are added, carried over to a
//! compaction's merged segment (which holds the same rows), and dropped as soon as a purge removes
//! a segment it covers, so a purged plate does not outlive its segment here either. A plate it
//! holds that no segment in a search's range has just finds no rows. A copy is kept on disk
//! between runs (`segments/plates.dict`, see `segments::dictionary`), so a node with a year of
//! history extends it at start instead of reading every key of every day again.

use crate::plate_index::PlateIndex;
use glasshouse_model::limits::PLATE_CHARS_MAX;
use std::collections::HashSet;

/// Distinct plates, by length, packed.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlateDictionary {
    /// The segments (paths) whose index keys are all here.
    covers: HashSet<String>,
    /// Plate-read segments it cannot hold (a key that is not a
    /// normalised plate): searches walk their indexes.
    left_out: HashSet<String>,
    /// `by_length[n]`: the packed plates of `n` characters, ascending (which is byte order).
    by_length: Vec<Vec<u64>>,
}

/// Bits per packed character: codes 1..=36 (0 is never a character).
const CHAR_BITS: usize = 6;

/// The code of a plate character, ordered as the bytes are (digits before letters), so packed
/// plates of one length sort as their text does.
fn code(byte: u8) -> Option<u64> {
    match byte {
        b'0'..=b'9' => Some(u64::from(byte - b'0') + 1),
        b'A'..=b'Z' => Some(u64::from(byte - b'A') + 11),
        _ => None,
    }
}

fn char_of(code: u64) -> u8 {
    match code {
        1..=10 => b'0' + (code - 1) as u8,
        _ => b'A' + (code - 11) as u8,
    }
}

/// Bit offset of character `i`: the first character in the highest bits.
fn shift(i: usize) -> usize {
    CHAR_BITS * (PLATE_CHARS_MAX - 1 - i)
}

/// A plate packed, or `None` when it is not a normalised plate (too long, or another character).
fn pack(plate: &[u8]) -> Option<u64> {
    if plate.is_empty() || plate.len() > PLATE_CHARS_MAX {
        return None;
    }
    plate.iter().enumerate().try_fold(0u64, |packed, (i, b)| Some(packed | code(*b)? << shift(i)))
}

/// True when `packed` is a plate of `len` characters as [`pack`] makes them: a code of 1..=36 for
/// each character and nothing after them.
fn is_packed_plate(packed: u64, len: usize) -> bool {
    if len == 0 || len > PLATE_CHARS_MAX {
        return false;
    }
    let unused_bits = shift(len - 1);
    (0..len).all(|i| matches!((packed >> shift(i)) & 63, 1..=36))
        && packed & ((1u64 << unused_bits) - 1) == 0
        && packed >> (shift(0) + CHAR_BITS) == 0
}

fn unpack(packed: u64, len: usize) -> String {
    (0..len).map(|i| char::from(char_of((packed >> shift(i)) & 63))).collect()
}

/// The file form's first bytes; a CRC-32C of the rest follows them.
const MAGIC: &[u8; 8] = b"GHDICT1\n";

impl PlateDictionary {
    /// Every segment it knows, covered or left out.
    pub(crate) fn known_segments(&self) -> impl Iterator<Item = &String> {
        self.covers.iter().chain(&self.left_out)
    }

    /// The file form: the magic, a CRC-32C of the body, then the covered and left-out segment
    /// paths and each length's packed plates, little-endian.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.size_bytes() + 64 * (self.covers.len() + self.left_out.len()) + 128);
        for paths in [&self.covers, &self.left_out] {
            let mut paths: Vec<&String> = paths.iter().collect();
            paths.sort();
            body.extend_from_slice(&(paths.len() as u32).to_le_bytes());
            for path in paths {
                body.extend_from_slice(&(path.len() as u32).to_le_bytes());
                body.extend_from_slice(path.as_bytes());
            }
        }
        body.extend_from_slice(&(self.by_length.len() as u32).to_le_bytes());
        for plates in &self.by_length {
            body.extend_from_slice(&(plates.len() as u64).to_le_bytes());
            for packed in plates {
                body.extend_from_slice(&packed.to_le_bytes());
            }
        }
        Self::file_of(&body)
    }

    /// The file holding `body`: the magic, then the body's checksum, then the body.
    pub(crate) fn file_of(body: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    /// The dictionary of a file [`PlateDictionary::to_bytes`] wrote.
    ///
    /// # Errors
    /// When the bytes are not such a file, or were damaged.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<PlateDictionary, String> {
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a plate dictionary")?;
        let (crc, body) = body.split_first_chunk::<4>().ok_or("truncated")?;
        if u32::from_le_bytes(*crc) != crc32c::crc32c(body) {
            return Err("damaged (checksum)".into());
        }
        let mut rest = body;
        let mut take = |n: usize| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err("truncated".into());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let mut dictionary = PlateDictionary::default();
        for into_covers in [true, false] {
            let count = u32::from_le_bytes(take(4)?.try_into().expect("four bytes"));
            for _ in 0..count {
                let len = u32::from_le_bytes(take(4)?.try_into().expect("four bytes")) as usize;
                let path = String::from_utf8(take(len)?.to_vec()).map_err(|_| "a segment path is not UTF-8")?;
                if into_covers {
                    dictionary.covers.insert(path)
                } else {
                    dictionary.left_out.insert(path)
                };
            }
        }
        let lengths = u32::from_le_bytes(take(4)?.try_into().expect("four bytes")) as usize;
        if lengths > PLATE_CHARS_MAX + 1 {
            return Err(format!("{lengths} plate lengths"));
        }
        for _ in 0..lengths {
            let count = u64::from_le_bytes(take(8)?.try_into().expect("eight bytes"));
            let count = usize::try_from(count).map_err(|_| "too many plates")?;
            let run = take(count.checked_mul(8).ok_or("too many plates")?)?;
            let plates: Vec<u64> = run.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("eight bytes"))).collect();
            // The checksum catches damage on disk, not a writer's mistake; searches rely on each
            // run holding plates, ascending (a garbage code once panicked in `unpack`, found by
            // the `plate_dictionary` fuzz target).
            let len = dictionary.by_length.len();
            if !plates.iter().all(|p| is_packed_plate(*p, len)) || !plates.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!("the plates of {len} characters are not sorted plates"));
            }
            dictionary.by_length.push(plates);
        }
        if !rest.is_empty() {
            return Err("bytes after the plates".into());
        }
        Ok(dictionary)
    }

    /// True when it holds every key of the segment's index.
    pub(crate) fn covers(&self, segment_path: &str) -> bool {
        self.covers.contains(segment_path)
    }

    /// True when the segment is covered or known to be left out.
    pub(crate) fn knows(&self, segment_path: &str) -> bool {
        self.covers.contains(segment_path) || self.left_out.contains(segment_path)
    }

    /// Leaves a segment out: searches walk its index.
    pub(crate) fn leave_out(&mut self, segment_path: &str) {
        self.left_out.insert(segment_path.to_owned());
    }

    /// Moves coverage from `from` to `to`, a segment holding exactly their rows (a compaction's
    /// merge). When every one of `from` is covered, `to` is covered at once: its index holds the
    /// union of theirs, all of it here already. Otherwise `to` is left unknown, for the next
    /// extension to read, and `from` is forgotten: the plates of those covered stay, since `to`
    /// still holds every one of them. (Dropping the dictionary instead made a busy node, whose
    /// merges often take in a segment flushed since the last extension, read every key of every
    /// day again after most compactions.) Returns whether anything changed.
    pub(crate) fn transfer(&mut self, from: &[String], to: &str) -> bool {
        let all_covered = from.iter().all(|p| self.covers.contains(p));
        let mut changed = false;
        for p in from {
            changed |= self.covers.remove(p) | self.left_out.remove(p);
        }
        if all_covered {
            self.covers.insert(to.to_owned());
        }
        changed
    }

    /// True when it holds a segment that is now gone.
    pub(crate) fn holds_any(&self, segment_paths: &[String]) -> bool {
        segment_paths.iter().any(|p| self.covers.contains(p))
    }

    /// How many segments it covers.
    pub(crate) fn segments(&self) -> usize {
        self.covers.len()
    }

    /// Distinct plates held.
    pub(crate) fn plates(&self) -> usize {
        self.by_length.iter().map(Vec::len).sum()
    }

    /// Bytes of plates held in memory.
    pub(crate) fn size_bytes(&self) -> usize {
        self.by_length.iter().map(|v| v.capacity() * 8).sum()
    }

    /// Adds the keys of a segment's index (one of plates as read). Returns false, covering
    /// nothing, when a key is not a normalised plate: that segment is left out.
    pub(crate) fn add(&mut self, segment_path: &str, index: &PlateIndex) -> bool {
        let mut fresh: Vec<Vec<u64>> = vec![Vec::new(); PLATE_CHARS_MAX + 1];
        let mut representable = true;
        // Keys stream in byte order, so each length's run comes out ascending.
        index.each_key(|key| match pack(key) {
            Some(packed) => fresh[key.len()].push(packed),
            None => representable = false,
        });
        if !representable {
            self.leave_out(segment_path);
            return false;
        }
        let mut covers = HashSet::new();
        covers.insert(segment_path.to_owned());
        self.absorb(PlateDictionary { covers, left_out: HashSet::new(), by_length: fresh });
        true
    }

    /// Takes in another dictionary's segments and plates (built from other segments).
    pub(crate) fn absorb(&mut self, other: PlateDictionary) {
        self.covers.extend(other.covers);
        self.left_out.extend(other.left_out);
        self.by_length.resize_with(PLATE_CHARS_MAX + 1, Vec::new);
        for (held, new) in self.by_length.iter_mut().zip(other.by_length) {
            if held.is_empty() {
                *held = new;
            } else if !new.is_empty() {
                *held = merge_distinct(held, &new);
            }
        }
    }

    /// Every plate held that matches a wildcard pattern (`?` one character, `*` any run), in byte
    /// order. A pattern with a character no plate has matches nothing.
    pub(crate) fn matching(&self, pattern: &str) -> Vec<String> {
        let Some(pattern) = Pattern::parse(pattern) else { return Vec::new() };
        let mut found = Vec::new();
        for (len, plates) in self.by_length.iter().enumerate() {
            let tests = pattern.tests_for_length(len);
            if tests.is_empty() || plates.is_empty() {
                continue;
            }
            let mut passed = Vec::new();
            scan(plates, &tests, len, &mut passed);
            if !pattern.exact_by_tests {
                let verify = crate::plate_index::Wildcard::new(&pattern.text).expect("parsed");
                passed.retain(|plate| verify.matches(plate));
            }
            found.append(&mut passed);
        }
        found.sort_unstable();
        found
    }
}

/// The plates of one length that pass any of `tests` (mask, value), unpacked onto `out`. A large
/// run is split between the cores.
fn scan(plates: &[u64], tests: &[(u64, u64)], len: usize, out: &mut Vec<String>) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || plates.len() < PARALLEL_PLATES_MIN {
        return scan_run(plates, tests, len, out);
    }
    let share = plates.len().div_ceil(threads);
    let found: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = plates
            .chunks(share)
            .map(|run| {
                scope.spawn(move || {
                    let mut found = Vec::new();
                    scan_run(run, tests, len, &mut found);
                    found
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    out.extend(found.into_iter().flatten());
}

/// Below this many plates one core scans them (a thread costs more than it saves).
const PARALLEL_PLATES_MIN: usize = 1 << 18;

/// One core's part of [`scan`]: the tests of a pattern at each place it can start (at most
/// [`PLATE_CHARS_MAX`]) as a fixed-size array, so each plate is tested by all of them in one
/// pass the compiler turns into vector compares; then the rare hits are picked out.
fn scan_run(plates: &[u64], tests: &[(u64, u64)], len: usize, out: &mut Vec<String>) {
    match tests.len() {
        1 => scan_fixed::<1>(plates, tests, len, out),
        2 => scan_fixed::<2>(plates, tests, len, out),
        3 => scan_fixed::<3>(plates, tests, len, out),
        4 => scan_fixed::<4>(plates, tests, len, out),
        5 => scan_fixed::<5>(plates, tests, len, out),
        _ => {
            let mut found = Vec::new();
            for chunk in tests.chunks(5) {
                scan_run(plates, chunk, len, &mut found);
            }
            // A plate passing tests of two chunks was found twice.
            found.sort_unstable();
            found.dedup();
            out.append(&mut found);
        }
    }
}

fn scan_fixed<const N: usize>(plates: &[u64], tests: &[(u64, u64)], len: usize, out: &mut Vec<String>) {
    let tests: [(u64, u64); N] = tests.try_into().expect("N tests");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been found to support AVX2.
        return unsafe { scan_blocks_avx2(plates, &tests, len, out) };
    }
    scan_blocks(plates, &tests, len, out)
}

/// [`scan_blocks`] compiled for AVX2, which compares four 64-bit lanes at once (the baseline,
/// SSE2, has no 64-bit compare and emulates it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_blocks_avx2<const N: usize>(plates: &[u64], tests: &[(u64, u64); N], len: usize, out: &mut Vec<String>) {
    scan_blocks(plates, tests, len, out)
}

#[inline(always)]
fn scan_blocks<const N: usize>(plates: &[u64], tests: &[(u64, u64); N], len: usize, out: &mut Vec<String>) {
    const BLOCK: usize = 256;
    let mut hit = [0u64; BLOCK];
    for block in plates.chunks(BLOCK) {
        let hit = &mut hit[..block.len()];
        for (h, packed) in hit.iter_mut().zip(block) {
            *h = tests.iter().fold(0, |any, (mask, value)| any | u64::from(packed & mask == *value));
        }
        if hit.iter().fold(0, |any, h| any | h) != 0 {
            out.extend(block.iter().zip(hit.iter()).filter(|(_, h)| **h != 0).map(|(packed, _)| unpack(*packed, len)));
        }
    }
}

/// Two ascending runs merged, each value once.
fn merge_distinct(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let next = a[i].min(b[j]);
        i += usize::from(a[i] == next);
        j += usize::from(b[j] == next);
        if out.last() != Some(&next) {
            out.push(next);
        }
    }
    for &v in a[i..].iter().chain(&b[j..]) {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

/// A wildcard pattern cut at its `*`s into parts of literal characters and `?`.
struct Pattern {
    text: String,
    parts: Vec<Vec<Option<u64>>>,
    anchored_start: bool,
    anchored_end: bool,
    /// The part whose literals are tested (the one with most of them).
    anchor: usize,
    /// True when passing a test is matching (one part): no verification is needed.
    exact_by_tests: bool,
}

impl Pattern {
    fn parse(text: &str) -> Option<Pattern> {
        let mut parts = Vec::new();
        for part in text.split('*') {
            let codes = part.bytes().map(|b| if b == b'?' { Some(None) } else { code(b).map(Some) }).collect::<Option<Vec<_>>>()?;
            parts.push(codes);
        }
        let anchored_start = !text.starts_with('*');
        let anchored_end = !text.ends_with('*');
        let literals = |p: &Vec<Option<u64>>| p.iter().filter(|c| c.is_some()).count();
        let anchor = (0..parts.len()).max_by_key(|&i| (literals(&parts[i]), std::cmp::Reverse(i))).unwrap_or(0);
        let nonempty = parts.iter().filter(|p| !p.is_empty()).count();
        Some(Pattern { text: text.to_owned(), exact_by_tests: nonempty <= 1, parts, anchored_start, anchored_end, anchor })
    }

    /// The (mask, value) tests a packed plate of `len` characters must pass one of: the anchor
    /// part at each place it can start. Empty when no plate of that length can match.
    fn tests_for_length(&self, len: usize) -> Vec<(u64, u64)> {
        let lens: Vec<usize> = self.parts.iter().map(Vec::len).collect();
        let total: usize = lens.iter().sum();
        let starred = self.parts.len() > 1;
        if len == 0 || len < total || (!starred && len != total) {
            return Vec::new();
        }
        let before: usize = lens[..self.anchor].iter().sum();
        let after: usize = lens[self.anchor + 1..].iter().sum();
        let first = self.anchor == 0 && self.anchored_start;
        let last = self.anchor + 1 == self.parts.len() && self.anchored_end;
        let starts = match (first, last) {
            (true, _) => 0..=0,
            (false, true) => (len - lens[self.anchor])..=(len - lens[self.anchor]),
            (false, false) => before..=(len - lens[self.anchor] - after),
        };
        starts
            .map(|start| {
                self.parts[self.anchor].iter().enumerate().fold((0u64, 0u64), |(mask, value), (i, c)| match c {
                    Some(code) => (mask | 63 << shift(start + i), value | code << shift(start + i)),
                    None => (mask, value),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plate_index;
    use proptest::prelude::*;

    fn dictionary(plates: &[&str]) -> PlateDictionary {
        let index = PlateIndex::from_bytes(&plate_index::build(plates.iter().enumerate().map(|(i, p)| (*p, i as u32)))).unwrap();
        let mut dictionary = PlateDictionary::default();
        assert!(dictionary.add("seg", &index));
        dictionary
    }

    #[test]
    fn packing_keeps_byte_order_and_round_trips() {
        let plates = ["0", "09", "9Z", "A", "A0", "AZ", "Z9", "ZZZZZZZZZZ"];
        for pair in plates.windows(2) {
            if pair[0].len() == pair[1].len() {
                assert!(pack(pair[0].as_bytes()) < pack(pair[1].as_bytes()), "{pair:?}");
            }
        }
        for plate in plates {
            assert_eq!(unpack(pack(plate.as_bytes()).unwrap(), plate.len()), plate);
        }
        assert_eq!(pack(b"AB-1"), None);
        assert_eq!(pack(b"ABCDEFGHIJK"), None, "longer than a plate");
    }

    proptest! {
        #[test]
        fn the_file_form_round_trips_and_damage_is_refused(plates in proptest::collection::btree_set("[A-Z0-9]{1,8}", 1..200), flip in any::<usize>()) {
            let plates: Vec<&str> = plates.iter().map(String::as_str).collect();
            let mut held = dictionary(&plates);
            held.leave_out("other-seg");
            let bytes = held.to_bytes();
            let back = PlateDictionary::from_bytes(&bytes).unwrap();
            prop_assert_eq!(&back.by_length, &held.by_length);
            prop_assert_eq!(back.plates(), plates.len());
            prop_assert!(back.covers("seg") && back.knows("other-seg") && !back.covers("other-seg"));
            let mut damaged = bytes.clone();
            let at = MAGIC.len() + flip % (damaged.len() - MAGIC.len());
            damaged[at] ^= 0x40;
            prop_assert!(PlateDictionary::from_bytes(&damaged).is_err());
            prop_assert!(PlateDictionary::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    /// Found by the `plate_dictionary` fuzz target: a file with a sound checksum whose plates are
    /// not plates (a character code of 0) panicked when a search unpacked them.
    #[test]
    fn a_file_whose_plates_are_not_plates_is_refused() {
        let sound = dictionary(&["ABC", "ABD"]).to_bytes();
        let body = &sound[MAGIC.len() + 4..];
        let first = pack(b"ABC").unwrap().to_le_bytes();
        let at = body.windows(8).position(|w| w == first).expect("the first plate is in the file");
        for bad in [0u64, pack(b"ABD").unwrap()] {
            // A code of 0 for every character; then the two plates out of order.
            let mut changed = body.to_vec();
            changed[at..at + 8].copy_from_slice(&bad.to_le_bytes());
            let error = PlateDictionary::from_bytes(&PlateDictionary::file_of(&changed)).unwrap_err();
            assert!(error.contains("not sorted plates"), "{error}");
        }
        assert!(PlateDictionary::from_bytes(&PlateDictionary::file_of(body)).is_ok());
    }

    #[test]
    fn a_merge_of_covered_and_unread_segments_keeps_the_plates_and_leaves_the_merge_to_be_read() {
        let mut held = dictionary(&["ABC123", "XYZ9"]);
        held.leave_out("odd");
        let merged_from = ["seg".to_owned(), "unread".to_owned(), "odd".to_owned()];
        assert!(held.transfer(&merged_from, "merged"));
        assert!(!held.holds_any(&merged_from), "nothing gone is held, so nothing is dropped");
        assert!(!held.knows("merged"), "the merge is read at the next extension");
        assert_eq!(held.matching("*"), vec!["ABC123", "XYZ9"], "plates the merge still holds stay");
        let mut whole = dictionary(&["ABC123"]);
        assert!(whole.transfer(&["seg".to_owned()], "merged"));
        assert!(whole.covers("merged") && !whole.knows("seg"));
    }

    #[test]
    fn segments_merge_into_distinct_plates() {
        let mut held = dictionary(&["ABC123", "XYZ9"]);
        let other = PlateIndex::from_bytes(&plate_index::build([("ABC123", 0), ("ABD123", 1)])).unwrap();
        assert!(held.add("seg2", &other));
        assert_eq!(held.plates(), 3);
        assert!(held.covers("seg") && held.covers("seg2") && !held.covers("seg3"));
        assert_eq!(held.matching("*"), vec!["ABC123", "ABD123", "XYZ9"]);
    }

    #[test]
    fn patterns_without_a_fixed_start_are_found() {
        let held = dictionary(&["ABC1234", "XBC9234", "BC1234", "ABC12345", "AB1234"]);
        assert_eq!(held.matching("*BC?23*"), vec!["ABC1234", "ABC12345", "BC1234", "XBC9234"]);
        assert_eq!(held.matching("?BC*4"), vec!["ABC1234", "XBC9234"]);
        assert_eq!(held.matching("*B*3*5"), vec!["ABC12345"]);
        assert_eq!(held.matching("AB1234"), vec!["AB1234"]);
        assert!(held.matching("*b*").is_empty(), "no plate has a lower-case character");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// The dictionary finds exactly the plates the pattern language matches.
        #[test]
        fn matching_agrees_with_the_pattern_definition(
            plates in proptest::collection::btree_set("[A-C0-2]{1,10}", 1..60),
            pattern in "[A-C0-2?*]{1,8}",
        ) {
            let list: Vec<&str> = plates.iter().map(String::as_str).collect();
            let expected: Vec<String> =
                plates.iter().filter(|p| glasshouse_model::plate::pattern::matches(pattern.as_bytes(), p.as_bytes())).cloned().collect();
            prop_assert_eq!(dictionary(&list).matching(&pattern), expected);
        }
    }
}
