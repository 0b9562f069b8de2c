//! Misread-tolerant plate matching: confusable classes, substitutions and a ±1 length difference.
//!
//! Plates are first mapped to canonical keys: glyphs an OCR engine confuses collapse to one class
//! (0/O/D/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B), so those misreads cost nothing. Remaining differences are
//! counted as substitutions, plus at most one inserted or dropped character when the list allows it.
//!
//! Lookup never scans the list. Each entry is indexed under a few *variant keys* such that a read
//! within the budget shares at least one variant with the entry; a read looks up its own variants
//! and verifies the few candidates exactly. Two schemes, chosen per list:
//! - substitutions only: the key is cut into `2k + 2` blocks by position (the cut depends only on the
//!   length), and a variant leaves out `k` of them. `k` substitutions touch at most `k` blocks, so
//!   some variant keeps only untouched blocks and is equal in read and entry. One substitution makes
//!   4 variants per key (each keeping 5 or 6 of 7 characters, so a probe rarely turns up a
//!   stranger); deleting characters one at a time made 8.
//! - with a length difference: the symmetric deletion neighbourhood, every string obtained by
//!   deleting up to `k + 1` characters (an inserted character shifts the blocks).
//!
//! Keys are 64-bit FNV-1a hashes; a collision only adds a candidate, which verification rejects.

/// Maps a plate character to its confusable class (one table, [`CANONICAL_BYTES`], for chars and
/// bytes alike).
pub fn canonical_char(c: char) -> char {
    if c.is_ascii() { CANONICAL_BYTES[c as usize] as char } else { c }
}

/// The confusable classes for every byte (bytes outside them map to themselves): the one table,
/// read with a load per character.
const CANONICAL_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'O' | b'D' | b'Q' => b'0',
            b'I' | b'L' => b'1',
            b'Z' => b'2',
            b'S' => b'5',
            b'G' => b'6',
            b'B' => b'8',
            other => other,
        };
        b += 1;
    }
    table
};

/// The canonical key of a normalised plate.
pub fn canonical(plate: &str) -> String {
    plate.chars().map(canonical_char).collect()
}

/// A reading's canonical key, kept on the stack: every reading of every read needs one, and a
/// `String` each was a fair share of the matcher's time.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalKey {
    len: u8,
    bytes: [u8; KEY_BYTES + 1],
}

impl CanonicalKey {
    /// The key of a normalised plate; `None` when it is longer than any listed plate plus one
    /// character, so it is within reach of nothing.
    pub fn of(plate: &str) -> Option<CanonicalKey> {
        let plate = plate.as_bytes();
        if plate.len() > KEY_BYTES + 1 {
            return None;
        }
        let mut key = CanonicalKey { len: plate.len() as u8, bytes: [0; KEY_BYTES + 1] };
        for (slot, b) in key.bytes.iter_mut().zip(plate) {
            *slot = CANONICAL_BYTES[usize::from(*b)];
        }
        Some(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// How a read differs from a listed plate at one position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CharDiff {
    /// Position in the read (for an extra character in the listed plate: where it would be).
    pub position: usize,
    /// The read's character, `None` when the read dropped one.
    pub read: Option<char>,
    /// The listed character, `None` when the read has an extra one.
    pub listed: Option<char>,
    /// True when the two characters are OCR-confusable (cost nothing).
    pub confusable: bool,
}

/// A verified match: its cost and exactly what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzyMatch {
    /// Substitutions between canonical forms.
    pub substitutions: u8,
    /// 1 when one character was inserted or dropped.
    pub length_difference: u8,
    /// Every differing position, confusable ones included.
    pub diffs: Vec<CharDiff>,
}

impl FuzzyMatch {
    /// The ranking distance: substitutions plus the length difference.
    pub fn distance(&self) -> u8 {
        self.substitutions + self.length_difference
    }
}

/// Substitutions between `read` and `listed` (same length once `skip_read`/`skip_listed` is removed),
/// stopping early past `limit`. Confusable pairs cost nothing.
fn substitutions(read: &[u8], listed: &[u8], skip_read: Option<usize>, skip_listed: Option<usize>, limit: u8) -> Option<u8> {
    if skip_read.is_none() && skip_listed.is_none() {
        // Same length, nothing skipped: every verified misread-tolerant candidate, so kept to a plain loop.
        let count = read.iter().zip(listed).filter(|(a, b)| CANONICAL_BYTES[usize::from(**a)] != CANONICAL_BYTES[usize::from(**b)]).count();
        return u8::try_from(count).ok().filter(|c| *c <= limit);
    }
    let r = read.iter().enumerate().filter(|(i, _)| Some(*i) != skip_read).map(|(_, b)| *b);
    let l = listed.iter().enumerate().filter(|(i, _)| Some(*i) != skip_listed).map(|(_, b)| *b);
    let mut count = 0u8;
    for (a, b) in r.zip(l) {
        if a != b && canonical_char(a as char) != canonical_char(b as char) {
            count += 1;
            if count > limit {
                return None;
            }
        }
    }
    Some(count)
}

/// Every differing position, for the alert's evidence.
fn diffs(read: &[u8], listed: &[u8], skip_read: Option<usize>, skip_listed: Option<usize>) -> Vec<CharDiff> {
    let r = read.iter().enumerate().filter(|(i, _)| Some(*i) != skip_read);
    let l = listed.iter().enumerate().filter(|(i, _)| Some(*i) != skip_listed).map(|(_, b)| *b);
    let mut out: Vec<CharDiff> = r
        .zip(l)
        .filter(|((_, a), b)| **a != *b)
        .map(|((position, a), b)| CharDiff {
            position,
            read: Some(*a as char),
            listed: Some(b as char),
            confusable: canonical_char(*a as char) == canonical_char(b as char),
        })
        .collect();
    if let Some(i) = skip_read {
        out.push(CharDiff { position: i, read: Some(read[i] as char), listed: None, confusable: false });
    }
    if let Some(i) = skip_listed {
        out.push(CharDiff { position: i, read: None, listed: Some(listed[i] as char), confusable: false });
    }
    out.sort_by_key(|d| (d.position, d.read.is_some()));
    out
}

/// Compares a read with a listed plate (both normalised, so ASCII) under a budget; `None` when it is
/// exceeded. Allocates only for a match.
pub fn compare(read: &str, listed: &str, substitutions_max: u8, length_tolerance: bool) -> Option<FuzzyMatch> {
    let (r, l) = (read.as_bytes(), listed.as_bytes());
    if r.len() == l.len() {
        let substitutions = substitutions(r, l, None, None, substitutions_max)?;
        return Some(FuzzyMatch { substitutions, length_difference: 0, diffs: diffs(r, l, None, None) });
    }
    // The read has an extra character (try dropping each), or it dropped one (try each gap).
    let skip_read = match (r.len() as isize - l.len() as isize, length_tolerance) {
        (1, true) => true,
        (-1, true) => false,
        _ => return None,
    };
    (0..r.len().max(l.len()))
        .filter_map(|i| {
            let (sr, sl) = if skip_read { (Some(i), None) } else { (None, Some(i)) };
            substitutions(r, l, sr, sl, substitutions_max).map(|n| (n, sr, sl))
        })
        .min_by_key(|(n, _, _)| *n)
        .map(|(substitutions, sr, sl)| FuzzyMatch { substitutions, length_difference: 1, diffs: diffs(r, l, sr, sl) })
}

// Variant keys are 64-bit FNV-1a hashes, computed in `deletions` and `blocks`. Written by hand
// because the keys are at most ten bytes, where a keyed hasher's set-up costs more than the hashing,
// and collisions are harmless (candidates are verified).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

/// Calls `each` with the hash of every deletion variant of `key` with up to `depth` deletions, without
/// building the variants: positions are deleted in increasing order, and of a run of equal bytes only
/// the first is deleted, so each distinct variant is produced once (or, rarely, twice; harmless).
fn deletions(key: &[u8], depth: usize, each: &mut impl FnMut(u64)) {
    fn walk(key: &[u8], deleted: &mut [usize; 4], count: usize, from: usize, depth: usize, each: &mut impl FnMut(u64)) {
        let mut hash = FNV_OFFSET;
        for (i, b) in key.iter().enumerate() {
            if !deleted[..count].contains(&i) {
                hash = fnv(hash, *b);
            }
        }
        each(hash);
        if count == depth {
            return;
        }
        for i in from..key.len() {
            if i > from && key[i] == key[i - 1] {
                continue;
            }
            deleted[count] = i;
            walk(key, deleted, count + 1, i + 1, depth, each);
        }
    }
    assert!(depth <= 3, "deletion depth is substitutions (at most 2) plus one length difference");
    walk(key, &mut [usize::MAX; 4], 0, 0, depth, each);
}

/// Calls `each` with the hash of every block variant of `key` for `k` substitutions: the key cut into
/// [`block_count`] blocks, each variant leaving out `k` of them (which ones, and the length, are
/// hashed in, so variants of different shapes never meet). A variant is the packed key masked to its kept
/// blocks, then mixed: a few instructions, where hashing the kept bytes one by one (with a division
/// per byte to find its block) cost more than the table's cache misses. The masks and salts come
/// from [`VARIANT_SHAPES`], computed at compile time: choosing the kept blocks per reading (16 subsets
/// tried for four blocks) was a fair part of a lookup's own work.
fn blocks(key: &[u8], k: u8, each: &mut impl FnMut(u64)) {
    if key.len() > KEY_BYTES {
        return; // longer than any listed plate, and without a length tolerance nothing reaches it
    }
    let packed = pack(key);
    let shapes = &VARIANT_SHAPES[usize::from(k)][key.len()];
    for shape in &shapes.shapes[..usize::from(shapes.count)] {
        each(mix((packed & shape.mask) ^ shape.salt));
    }
}

/// Blocks a key is cut into for `k` substitutions. Fewer blocks make fewer variants but keep fewer
/// characters in each, and a variant that keeps few characters is shared by many listed plates: at
/// one substitution, three blocks kept four of seven characters, so on a 1M-entry list nearly every
/// probe found entries to check (44 % of probes passed the filter, four candidates each); four
/// blocks keep five or six, and a probe rarely finds a stranger.
const fn block_count(k: u8) -> u32 {
    if k == 0 { 1 } else { 2 * k as u32 + 2 }
}

/// Variants of one key shape: at most 15 (six blocks, two left out).
const SHAPES_MAX: usize = 15;

/// One block variant: the packed-key bits it keeps (the length and its kept blocks) and the salt
/// naming which blocks it kept.
#[derive(Clone, Copy)]
struct VariantShape {
    mask: u64,
    salt: u64,
}

#[derive(Clone, Copy)]
struct VariantShapes {
    shapes: [VariantShape; SHAPES_MAX],
    count: u8,
}

/// For `k` substitutions and a key of `n` characters, every variant's mask and salt. Character `i`
/// is in block `i * blocks / n`; a variant keeps every subset of `blocks - k` blocks.
const VARIANT_SHAPES: [[VariantShapes; KEY_BYTES + 1]; 3] = {
    let empty = VariantShapes { shapes: [VariantShape { mask: 0, salt: 0 }; SHAPES_MAX], count: 0 };
    let mut all = [[empty; KEY_BYTES + 1]; 3];
    let mut k = 0;
    while k < 3 {
        let count = block_count(k as u8);
        let mut n = 0;
        while n <= KEY_BYTES {
            let mut block_masks = [0u64; 6];
            let mut i = 0;
            while i < n {
                block_masks[i * count as usize / n] |= 63 << (LENGTH_BITS as usize + CHAR_BITS as usize * i);
                i += 1;
            }
            let mut kept: u32 = 0;
            while kept < 1 << count {
                if kept.count_ones() == count - k as u32 {
                    let mut mask = (1 << LENGTH_BITS) - 1;
                    let mut block = 0;
                    while block < count as usize {
                        if kept & (1 << block) != 0 {
                            mask |= block_masks[block];
                        }
                        block += 1;
                    }
                    let shapes = &mut all[k][n];
                    shapes.shapes[shapes.count as usize] = VariantShape { mask, salt: (kept as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) };
                    shapes.count += 1;
                }
                kept += 1;
            }
            n += 1;
        }
        k += 1;
    }
    all
};

/// A 64-bit finaliser (MurmurHash3's): packed keys differ in few bits, and the table needs every
/// bit of the hash to depend on all of them.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A variant-key index from canonical keys to entry ids.
///
/// The variants live in one flat open-addressing table of 16-byte slots: `fingerprint << 32 | id +
/// 1` (0 = empty), where the fingerprint is the variant hash's top 32 bits and also picks the home
/// slot, and the entry's canonical key packed into 64 bits. A national list makes millions of
/// variants, far beyond the caches, so each probe is a cache miss; the slot answers it alone (a
/// candidate is verified on the packed key, where a separate key array cost a second, dependent
/// miss per candidate: two thirds of the time), and all of a read's probes are prefetched before
/// any is read, so their misses overlap instead of queueing.
#[derive(Debug, Clone, Default)]
pub struct MisreadIndex {
    substitutions_max: u8,
    length_tolerance: bool,
    slots: HugeTable<[u64; 2]>,
    used: usize,
    /// One bit per fingerprint's low bits, four bits per slot (4 MB for a 1M-entry list, against
    /// 128 MB of slots, so it is far likelier to be cached): most probes of a read that matches
    /// nothing (78 % on the bench) stop here, without touching the table.
    filter: HugeTable<u64>,
}

/// A table slot: the tag (`fingerprint << 32 | id + 1`, 0 = empty) and the entry's packed key.
/// Stored as `[tag, key]`: a table of arrays of integers is allocated zeroed and left untouched
/// until written, after the kernel was asked for huge pages (a struct would be filled in first,
/// faulting every 4 KiB page in).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    tag: u64,
    key: u64,
}

impl Slot {
    fn load(raw: [u64; 2]) -> Slot {
        Slot { tag: raw[0], key: raw[1] }
    }
}

/// Longest canonical key (plates are at most this long).
const KEY_BYTES: usize = glasshouse_model::limits::PLATE_CHARS_MAX;

/// Grow when the table is this full: linear probing stays short below it.
const LOAD_MAX: f64 = 0.5;
const SLOTS_MIN: usize = 1 << 10;

impl MisreadIndex {
    /// An index for matching within `substitutions_max` substitutions (plus one indel with
    /// `length_tolerance`).
    ///
    /// # Panics
    /// Beyond two substitutions (lists are refused there, see `hotlist::SUBSTITUTIONS_MAX`).
    pub fn new(substitutions_max: u8, length_tolerance: bool) -> MisreadIndex {
        assert!(substitutions_max <= 2, "at most two substitutions");
        MisreadIndex { substitutions_max, length_tolerance, ..MisreadIndex::default() }
    }

    /// The variant hashes of a key, by the list's scheme (see the module's notes).
    fn variants(&self, key: &[u8], each: &mut impl FnMut(u64)) {
        if self.length_tolerance {
            deletions(key, usize::from(self.substitutions_max) + 1, each);
        } else {
            blocks(key, self.substitutions_max, each);
        }
    }

    /// Indexes entry `id` under its canonical key (a normalised plate's, so at most ten bytes;
    /// anything longer is cut there).
    pub fn insert(&mut self, canonical_key: &[u8], id: u32) {
        let bytes = &canonical_key[..canonical_key.len().min(KEY_BYTES)];
        let key = pack(bytes);
        let mut variants = Vec::new();
        self.variants(bytes, &mut |variant| variants.push(fingerprint(variant)));
        for fp in variants {
            if (self.used + 1) as f64 > self.slots.len() as f64 * LOAD_MAX {
                self.grow();
            }
            place(&mut self.slots, Slot { tag: (u64::from(fp) << 32) | u64::from(id + 1), key });
            set_bit(&mut self.filter, fp);
            self.used += 1;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(SLOTS_MIN);
        let old = std::mem::replace(&mut self.slots, HugeTable::new(size));
        self.filter = HugeTable::new(size * FILTER_BITS_PER_SLOT / 64);
        for slot in old.iter().map(|raw| Slot::load(*raw)).filter(|s| s.tag != 0) {
            place(&mut self.slots, slot);
            set_bit(&mut self.filter, (slot.tag >> 32) as u32);
        }
    }

    /// The first of three steps of a lookup (then [`MisreadIndex::filter`], then
    /// [`MisreadIndex::candidates_of`]): the key's variant fingerprints, with their filter words
    /// starting to load. A caller with several readings takes each step for all of them before
    /// the next, so the cache misses of all its readings overlap instead of queueing.
    pub fn probes(&self, canonical_key: &[u8]) -> Probes {
        let mut probes = Probes::default();
        if self.slots.is_empty() || canonical_key.len() > KEY_BYTES + 1 {
            return probes; // longer than any listed plate plus one character: nothing is within reach
        }
        self.variants(canonical_key, &mut |variant| {
            let fp = fingerprint(variant);
            prefetch(&self.filter[filter_word(&self.filter, fp)]);
            probes.push(fp);
        });
        probes
    }

    /// The second step: keeps the probes that pass the filter and starts loading their slots.
    pub fn filter(&self, probes: &mut Probes) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        probes.retain(|fp| {
            let pass = has_bit(&self.filter, fp);
            if pass {
                prefetch(&self.slots[fp as usize & mask]);
            }
            pass
        });
    }

    /// Calls `each` once with every entry id whose canonical key is within the budget of the
    /// read's (the caller verifies against the plate as written, for the evidence): all three
    /// steps for one key.
    pub fn candidates(&self, canonical_key: &[u8], each: &mut dyn FnMut(u32)) {
        let mut probes = self.probes(canonical_key);
        self.filter(&mut probes);
        self.candidates_of(canonical_key, &probes, each);
    }

    /// The last step: reads the slots of the probes that passed the filter and calls `each` once
    /// with every entry id within the budget of `canonical_key` (the key the probes came from).
    pub fn candidates_of(&self, canonical_key: &[u8], probes: &Probes, each: &mut dyn FnMut(u32)) {
        if self.slots.is_empty() || probes.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        let read = Read::new(canonical_key);
        // An entry equal on several variants (an exact match is equal on all) is reported once.
        let mut reported = [0u32; 8];
        let mut reported_count = 0;
        let mut reported_more = Vec::new();
        for &fp in probes.as_slice() {
            let mut i = fp as usize & mask;
            loop {
                let slot = Slot::load(self.slots[i]);
                if slot.tag == 0 {
                    break;
                }
                if (slot.tag >> 32) as u32 == fp {
                    let id = (slot.tag as u32) - 1;
                    if read.within_budget(slot.key, self.substitutions_max, self.length_tolerance)
                        && !reported[..reported_count].contains(&id)
                        && !reported_more.contains(&id)
                    {
                        if reported_count < reported.len() {
                            reported[reported_count] = id;
                            reported_count += 1;
                        } else {
                            reported_more.push(id);
                        }
                        each(id);
                    }
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// Variant keys stored (for sizing).
    pub fn keys(&self) -> usize {
        self.used
    }
}

/// A key's variant fingerprints, in the order of the three lookup steps (see
/// [`MisreadIndex::probes`]). Kept inline: a list without a length tolerance makes at most 15
/// variants a key; a deletion neighbourhood (up to 232) spills to the heap.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    inline: [u32; PROBES_INLINE],
    len: usize,
    spill: Vec<u32>,
}

/// Fingerprints a [`Probes`] holds without allocating: two substitutions cut a key into six blocks
/// and leave out two, 15 variants.
const PROBES_INLINE: usize = 15;

impl Probes {
    fn push(&mut self, fp: u32) {
        if self.spill.is_empty() && self.len < PROBES_INLINE {
            self.inline[self.len] = fp;
            self.len += 1;
            return;
        }
        if self.spill.is_empty() {
            // From here on the whole list lives in the spill.
            self.spill.extend_from_slice(&self.inline[..self.len]);
        }
        self.spill.push(fp);
    }

    fn as_slice(&self) -> &[u32] {
        if self.spill.is_empty() { &self.inline[..self.len] } else { &self.spill }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Keeps the fingerprints `keep` accepts, in order.
    fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        if !self.spill.is_empty() {
            self.spill.retain(|fp| keep(*fp));
            if self.spill.is_empty() {
                self.len = 0;
            }
            return;
        }
        let mut kept = 0;
        for i in 0..self.len {
            let fp = self.inline[i];
            if keep(fp) {
                self.inline[kept] = fp;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

// Packed keys: the length in the low four bits, then six bits per character (`byte & 63`: distinct
// for A–Z and 0–9, the only characters a normalised plate has), so ten characters fill 64 bits and
// a same-length comparison is an XOR and a population count.

const LENGTH_BITS: u32 = 4;
const CHAR_BITS: u32 = 6;

fn pack(key: &[u8]) -> u64 {
    debug_assert!(key.len() <= KEY_BYTES);
    key.iter().enumerate().fold(key.len() as u64, |packed, (i, b)| packed | (u64::from(b & 63) << (LENGTH_BITS + CHAR_BITS * i as u32)))
}

fn unpack(packed: u64) -> ([u8; KEY_BYTES], usize) {
    let len = (packed & ((1 << LENGTH_BITS) - 1)) as usize;
    let mut bytes = [0u8; KEY_BYTES];
    for (i, b) in bytes.iter_mut().enumerate().take(len) {
        *b = ((packed >> (LENGTH_BITS + CHAR_BITS * i as u32)) & 63) as u8;
    }
    (bytes, len)
}

/// The lowest bit of every character field.
const CHAR_LOW_BITS: u64 = {
    let mut bits = 0u64;
    let mut i = 0;
    while i < KEY_BYTES as u32 {
        bits |= 1 << (LENGTH_BITS + CHAR_BITS * i);
        i += 1;
    }
    bits
};

/// A read's canonical key in the forms verification needs.
struct Read<'a> {
    bytes: &'a [u8],
    /// Packed, when it fits (a read one longer than any listed plate does not).
    packed: Option<u64>,
}

impl<'a> Read<'a> {
    fn new(bytes: &'a [u8]) -> Read<'a> {
        Read { bytes, packed: (bytes.len() <= KEY_BYTES).then(|| pack(bytes)) }
    }

    /// Whether a listed key is within `k` substitutions (plus one indel when tolerated). On
    /// canonical keys a confusable pair is already equal, so this is the cost `compare` computes
    /// (`byte & 63` may merge characters a normalised plate never has: a looser filter, which the
    /// caller's `compare` on the plates as written settles).
    fn within_budget(&self, listed: u64, k: u8, length_tolerance: bool) -> bool {
        if let Some(read) = self.packed {
            let diff = read ^ listed;
            if diff & ((1 << LENGTH_BITS) - 1) == 0 {
                let fields = diff >> LENGTH_BITS << LENGTH_BITS;
                let any = fields | fields >> 1 | fields >> 2 | fields >> 3 | fields >> 4 | fields >> 5;
                return (any & CHAR_LOW_BITS).count_ones() <= u32::from(k);
            }
        }
        if !length_tolerance {
            return false;
        }
        let (listed, len) = unpack(listed);
        let read: [u8; KEY_BYTES + 1] = std::array::from_fn(|i| self.bytes.get(i).map_or(0, |b| b & 63));
        within_budget(&read[..self.bytes.len()], &listed[..len], k, length_tolerance)
    }
}

/// Whether two canonical keys are within `k` substitutions (plus one indel when tolerated). On
/// canonical keys a confusable pair is already equal, so this is the cost `compare` computes.
fn within_budget(read: &[u8], listed: &[u8], k: u8, length_tolerance: bool) -> bool {
    let mismatches = |skip_read: Option<usize>, skip_listed: Option<usize>| {
        let r = read.iter().enumerate().filter(|(i, _)| Some(*i) != skip_read).map(|(_, b)| b);
        let l = listed.iter().enumerate().filter(|(i, _)| Some(*i) != skip_listed).map(|(_, b)| b);
        r.zip(l).filter(|(a, b)| a != b).count() <= usize::from(k)
    };
    match read.len() as isize - listed.len() as isize {
        0 => mismatches(None, None),
        1 if length_tolerance => (0..read.len()).any(|i| mismatches(Some(i), None)),
        -1 if length_tolerance => (0..listed.len()).any(|i| mismatches(None, Some(i))),
        _ => false,
    }
}

/// The top 32 bits of a variant hash (FNV-1a mixes its last bytes into the low bits, so the top
/// bits are mixed again first).
fn fingerprint(hash: u64) -> u32 {
    let mixed = (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (mixed >> 32) as u32
}

/// Filter bits per table slot.
const FILTER_BITS_PER_SLOT: usize = 4;

fn filter_word(filter: &[u64], fp: u32) -> usize {
    (fp as usize >> 6) & (filter.len() - 1)
}

fn set_bit(filter: &mut [u64], fp: u32) {
    let word = filter_word(filter, fp);
    filter[word] |= 1 << (fp & 63);
}

fn has_bit(filter: &[u64], fp: u32) -> bool {
    filter[filter_word(filter, fp)] & (1 << (fp & 63)) != 0
}

/// Puts `slot` in the first empty place from its home slot on.
fn place(slots: &mut [[u64; 2]], slot: Slot) {
    let mask = slots.len() - 1;
    let mut i = (slot.tag >> 32) as usize & mask;
    while slots[i][0] != 0 {
        i = (i + 1) & mask;
    }
    slots[i] = [slot.tag, slot.key];
}

/// A zeroed table that a large size puts on 2 MiB pages. A probe lands anywhere in a table of a
/// hundred megabytes, so with 4 KiB pages nearly every probe also misses the TLB and walks the
/// page tables; with huge pages the whole table needs a few dozen TLB entries. The kernel backs
/// only whole, aligned 2 MiB ranges that it was asked to, and an allocation of a few megabytes
/// (the filter is 4 MiB) starts just past the allocator's header, so it would get one huge page
/// or none: the table is over-allocated by 2 MiB and starts at the first boundary inside. (2 MiB
/// more to hold.) Where transparent huge pages are off, nothing changes.
#[derive(Debug, Clone, Default)]
struct HugeTable<T> {
    storage: Vec<T>,
    start: usize,
    len: usize,
}

const HUGE_PAGE: usize = 2 << 20;

impl<T: Copy + Default> HugeTable<T> {
    fn new(len: usize) -> HugeTable<T> {
        let size = std::mem::size_of::<T>();
        if len * size < HUGE_PAGE {
            return HugeTable { storage: vec![T::default(); len], start: 0, len };
        }
        let storage = vec![T::default(); len + HUGE_PAGE / size];
        let address = storage.as_ptr() as usize;
        let start = (address.next_multiple_of(HUGE_PAGE) - address) / size;
        advise_huge_pages(&storage[start..start + len]);
        HugeTable { storage, start, len }
    }
}

impl<T> std::ops::Deref for HugeTable<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl<T> std::ops::DerefMut for HugeTable<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// How the platform is asked to back an aligned range (start, bytes) with huge pages. The engine
/// makes no system calls itself: the binary that runs it installs this once, before any list is
/// built (`glasshouse` with `madvise`); without it, tables are still aligned for huge pages, and a
/// system whose transparent huge pages are `always` backs them anyway.
static HUGE_PAGE_ADVICE: std::sync::OnceLock<fn(*const u8, usize)> = std::sync::OnceLock::new();

/// Installs the huge-page advice (see [`HUGE_PAGE_ADVICE`]); later calls change nothing.
pub fn set_huge_page_advice(advise: fn(*const u8, usize)) {
    let _ = HUGE_PAGE_ADVICE.set(advise);
}

/// Asks, through the installed advice, for `table`'s whole 2 MiB ranges to be backed by huge pages.
fn advise_huge_pages<T>(table: &[T]) {
    let Some(advise) = HUGE_PAGE_ADVICE.get() else { return };
    let (start, bytes) = (table.as_ptr() as usize, std::mem::size_of_val(table));
    let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        advise(start as *const u8, end - start);
    }
}

/// Asks the CPU to start loading the cache line at `slot`; a hint, never a fault.
#[inline(always)]
pub(crate) fn prefetch<T>(slot: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn confusable_glyphs_cost_nothing_and_are_shown() {
        let m = compare("A8C123", "ABC123", 0, false).unwrap();
        assert_eq!(m.distance(), 0);
        assert_eq!(m.diffs, vec![CharDiff { position: 1, read: Some('8'), listed: Some('B'), confusable: true }]);
        assert!(compare("ABC12O", "ABC120", 0, false).is_some());
    }

    #[test]
    fn substitutions_and_a_dropped_or_extra_character_are_counted() {
        assert_eq!(compare("ABC124", "ABC123", 1, false).unwrap().substitutions, 1);
        assert!(compare("ABX124", "ABC123", 1, false).is_none());
        assert!(compare("ABC12", "ABC123", 1, false).is_none(), "no length tolerance");
        let dropped = compare("AC123", "ABC123", 0, true).unwrap();
        assert_eq!((dropped.substitutions, dropped.length_difference), (0, 1));
        assert_eq!(dropped.diffs, vec![CharDiff { position: 1, read: None, listed: Some('B'), confusable: false }]);
        let extra = compare("ABCC123", "ABC123", 0, true).unwrap();
        assert_eq!(extra.length_difference, 1);
        assert!(compare("AB123", "ABC123X", 2, true).is_none(), "two characters shorter");
    }

    /// Brute force: every listed plate compared directly.
    fn oracle(read: &str, listed: &[String], k: u8, tolerance: bool) -> Vec<u32> {
        let mut ids: Vec<u32> =
            listed.iter().enumerate().filter(|(_, l)| compare(read, l, k, tolerance).is_some()).map(|(i, _)| i as u32).collect();
        ids.sort();
        ids
    }

    fn indexed(read: &str, listed: &[String], k: u8, tolerance: bool) -> Vec<u32> {
        let mut index = MisreadIndex::new(k, tolerance);
        for (i, l) in listed.iter().enumerate() {
            index.insert(canonical(l).as_bytes(), i as u32);
        }
        let mut ids = Vec::new();
        index.candidates(canonical(read).as_bytes(), &mut |id| {
            if compare(read, &listed[id as usize], k, tolerance).is_some() {
                ids.push(id);
            }
        });
        ids.sort();
        let reported = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), reported, "an entry was reported twice for one read");
        ids
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// The index finds exactly what comparing the read with every entry finds.
        #[test]
        fn the_index_agrees_with_brute_force(
            listed in proptest::collection::vec("[A-D0-3O8BSI]{4,7}", 1..40),
            read in "[A-D0-3O8BSI]{3,8}",
            k in 0u8..=2,
            tolerance in any::<bool>(),
        ) {
            prop_assert_eq!(indexed(&read, &listed, k, tolerance), oracle(&read, &listed, k, tolerance));
        }

        /// A read made from a listed plate by one substitution and one dropped character is found.
        #[test]
        fn a_misread_of_a_listed_plate_is_found(plate in "[A-Z0-9]{5,8}", at in 0usize..8, drop in 0usize..8, c in "[A-Z0-9]") {
            let mut chars: Vec<char> = plate.chars().collect();
            let at = at % chars.len();
            chars[at] = c.chars().next().unwrap();
            chars.remove(drop % chars.len());
            let read: String = chars.into_iter().collect();
            prop_assert_eq!(indexed(&read, std::slice::from_ref(&plate), 1, true), vec![0]);
        }
    }
}
