//! Which observation ids a segment holds, as a binary fuse filter beside the segment (`.ids`).
//!
//! Ingest asks the filters of the segments covering a record's day whether the record is already
//! stored, instead of holding every id the node ever stored in memory (100M keys after a month of a
//! big city) and reading them all at start. A filter answers "no" for certain and "yes" wrongly
//! once in 65,536 (xorf's `BinaryFuse16`, about 18 bits an id); a "yes" is checked exactly against
//! the segment's id column, because refusing a real record as a duplicate would lose it.

use xorf::{BinaryFuse16, DmaSerializable, Filter};

const MAGIC: &[u8; 8] = b"GHIDS01\n";

/// A segment's ids, as their deduplication keys ([`glasshouse_model::Observation::dedup_key`]).
pub struct IdFilter(BinaryFuse16);

/// The filter's key for a deduplication key: its low half (the key is already a hash).
fn filter_key(key: u128) -> u64 {
    key as u64
}

impl IdFilter {
    /// The filter of `keys` (repeats allowed).
    ///
    /// # Errors
    /// When the filter cannot be built (xorf gives up after many seeds; not seen in practice).
    pub fn build(keys: impl Iterator<Item = u128>) -> Result<IdFilter, String> {
        let mut keys: Vec<u64> = keys.map(filter_key).collect();
        // The construction needs distinct keys.
        keys.sort_unstable();
        keys.dedup();
        BinaryFuse16::try_from(&keys).map(IdFilter).map_err(|e| format!("id filter: {e}"))
    }

    /// False when no id with this key is in the segment; true when one may be.
    pub fn may_hold(&self, key: u128) -> bool {
        self.0.contains(&filter_key(key))
    }

    /// The filter as stored: a magic line, xorf's descriptor, the fingerprints little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut descriptor = vec![0u8; BinaryFuse16::DESCRIPTOR_LEN];
        self.0.dma_copy_descriptor_to(&mut descriptor);
        let mut bytes = Vec::with_capacity(MAGIC.len() + descriptor.len() + self.0.fingerprints.len() * 2);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&descriptor);
        for fingerprint in self.0.fingerprints.iter() {
            bytes.extend_from_slice(&fingerprint.to_le_bytes());
        }
        bytes
    }

    /// A filter read back.
    ///
    /// # Errors
    /// When the bytes are not a filter this module wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<IdFilter, String> {
        let descriptor_end = MAGIC.len() + BinaryFuse16::DESCRIPTOR_LEN;
        if bytes.len() < descriptor_end || &bytes[..MAGIC.len()] != MAGIC || !(bytes.len() - descriptor_end).is_multiple_of(2) {
            return Err("not an id filter".into());
        }
        let field = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
        let at = MAGIC.len();
        let fingerprints: Box<[u16]> = bytes[descriptor_end..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let (segment_length, segment_length_mask, segment_count_length) = (field(at + 8), field(at + 12), field(at + 16));
        // A lookup reads up to two segments past the segment count, each index masked below the
        // segment length: a descriptor that promises more than the fingerprints hold is refused
        // here rather than read out of bounds later.
        let needed = u64::from(segment_count_length) + 2 * u64::from(segment_length);
        if segment_length == 0 || segment_length_mask >= segment_length || (fingerprints.len() as u64) < needed {
            return Err("id filter does not match its descriptor".into());
        }
        // xorf reads a descriptor back only into a borrowing filter whose buffer must be aligned;
        // its owned filter's descriptor type is not exported, but its fields are, so a filter of
        // one key is built and given the stored descriptor and fingerprints.
        let mut filter = BinaryFuse16::try_from(&[0u64][..]).map_err(|e| format!("id filter: {e}"))?;
        filter.descriptor.seed = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
        filter.descriptor.segment_length = segment_length;
        filter.descriptor.segment_length_mask = segment_length_mask;
        filter.descriptor.segment_count_length = segment_count_length;
        filter.fingerprints = fingerprints;
        Ok(IdFilter(filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::observation::dedup_key;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_stored_id_is_found_after_a_round_trip(ids in proptest::collection::vec("[a-z0-9-]{1,24}", 1..400)) {
            let filter = IdFilter::build(ids.iter().map(|id| dedup_key(id))).unwrap();
            let filter = IdFilter::from_bytes(&filter.to_bytes()).unwrap();
            for id in &ids {
                prop_assert!(filter.may_hold(dedup_key(id)), "{id} is stored");
            }
        }
    }

    #[test]
    fn absent_ids_are_rarely_taken_for_stored_ones() {
        let filter = IdFilter::build((0..100_000).map(|i| dedup_key(&format!("r-{i}")))).unwrap();
        let wrong = (0..200_000).filter(|i| filter.may_hold(dedup_key(&format!("new-{i}")))).count();
        // 1 in 65,536 expected: about 3 of 200,000.
        assert!(wrong < 20, "{wrong} false positives in 200,000");
        assert!(IdFilter::from_bytes(b"GHIDS01\nshort").is_err());
        assert!(IdFilter::from_bytes(b"something else entirely, long enough").is_err());
    }

    #[test]
    fn one_id_and_repeated_ids_build() {
        let one = IdFilter::build(std::iter::once(dedup_key("only"))).unwrap();
        assert!(one.may_hold(dedup_key("only")));
        let repeated = IdFilter::build(std::iter::repeat_n(dedup_key("same"), 5)).unwrap();
        assert!(repeated.may_hold(dedup_key("same")));
    }
}
