//! Keyed hashes for identifiers in published entries: HMAC-SHA256 under a key kept apart from the
//! log, so the log can be published without revealing plates or free text, while the holder of the
//! key can still show that an entry concerns a given plate.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Computes keyed hashes; cheap to clone.
#[derive(Clone)]
pub struct KeyedHasher {
    key: [u8; 32],
}

impl KeyedHasher {
    /// A hasher under a 32-byte key.
    pub fn new(key: [u8; 32]) -> KeyedHasher {
        KeyedHasher { key }
    }

    /// `kh:` and the first 16 bytes of HMAC-SHA256(key, kind ‖ 0x1f ‖ value), in hex. The kind
    /// (`plate`, `text`, ...) keeps equal strings of different kinds apart.
    pub fn hash(&self, kind: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0x1f]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("kh:{}", hex::encode(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_kind_and_value() {
        let a = KeyedHasher::new([1; 32]);
        assert_eq!(a.hash("plate", "ABC123"), a.hash("plate", "ABC123"));
        assert_ne!(a.hash("plate", "ABC123"), a.hash("plate", "ABC124"));
        assert_ne!(a.hash("plate", "ABC123"), a.hash("text", "ABC123"));
        assert_ne!(a.hash("plate", "ABC123"), KeyedHasher::new([2; 32]).hash("plate", "ABC123"));
        assert!(!a.hash("plate", "ABC123").contains("ABC"));
    }
}
