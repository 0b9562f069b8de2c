//! Witness cosignatures in the C2SP `tlog-cosignature` format (the Ed25519 `cosignature/v1` type).
//!
//! A witness that has checked a checkpoint extends what it saw before signs
//! `cosignature/v1\ntime <t>\n` followed by the checkpoint body, and adds one note signature line:
//! `— <witness name> base64(key id ‖ u64 big-endian t ‖ Ed25519 signature)`. The key id is the first
//! four bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key). The witness's verifier key is published as
//! `<name>+<key id hex>+<base64(0x04 ‖ public key)>`. Written here rather than taken from a crate
//! because no maintained Rust crate implements the cosignature type (the signed-note crates stop at
//! the log's own 0x01 signatures); the layout is checked against the specification's example.

use crate::note::{DASH, NoteError, encode_verifier_key, parse_verifier_key, typed_key_id};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// The signature type byte of an Ed25519 `cosignature/v1`.
const COSIGNATURE_V1: u8 = 0x04;

/// Bytes of a decoded cosignature: key id, timestamp, signature.
const BLOB_BYTES: usize = 4 + 8 + 64;

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    typed_key_id(name, COSIGNATURE_V1, public)
}

/// The message a cosignature signs: the header, the time, then the checkpoint body.
fn message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
}

/// A witness's signing key under its name.
pub struct Cosigner {
    name: String,
    key: SigningKey,
}

impl Cosigner {
    /// A cosigner from a 32-byte Ed25519 seed.
    pub fn new(name: impl Into<String>, seed: &[u8; 32]) -> Cosigner {
        Cosigner { name: name.into(), key: SigningKey::from_bytes(seed) }
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key logs and auditors configure to trust this witness.
    pub fn verifier_key(&self) -> String {
        encode_verifier_key(&self.name, COSIGNATURE_V1, &self.key.verifying_key().to_bytes())
    }

    /// The cosignature line (with its newline) for a checkpoint body, made at `timestamp` (POSIX seconds).
    pub fn cosign(&self, body: &str, timestamp: u64) -> String {
        let signature = self.key.sign(&message(body, timestamp)).to_bytes();
        let mut blob = key_id(&self.name, &self.key.verifying_key().to_bytes()).to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&signature);
        format!("{DASH}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// A witness's published key, to check its cosignatures.
#[derive(Debug, Clone)]
pub struct CosignatureVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses `<name>+<key id hex>+<base64(0x04 ‖ public key)>`.
    pub fn parse(text: &str) -> Result<CosignatureVerifier, NoteError> {
        let (name, id, key) = parse_verifier_key(text, COSIGNATURE_V1, "an Ed25519 cosignature/v1 key")?;
        Ok(CosignatureVerifier { name, id, key })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time of this witness's valid cosignature among `lines` over `body`, if there is one. Lines
    /// of other keys are ignored, as the specification asks.
    pub fn verify(&self, body: &str, lines: &[&str]) -> Option<u64> {
        lines.iter().find_map(|line| {
            let (name, encoded) = line.strip_prefix(DASH)?.split_once(' ')?;
            if name != self.name {
                return None;
            }
            let blob = STANDARD.decode(encoded.trim_end()).ok()?;
            if blob.len() != BLOB_BYTES || blob[..4] != self.id {
                return None;
            }
            let timestamp = u64::from_be_bytes(blob[4..12].try_into().expect("8 bytes"));
            let signature = Signature::from_bytes(blob[12..].try_into().expect("64 bytes"));
            self.key.verify(&message(body, timestamp), &signature).ok().map(|_| timestamp)
        })
    }
}

/// The timestamp a cosignature line carries, without checking it (for showing what a line claims).
pub fn claimed_time(line: &str) -> Option<u64> {
    let encoded = line.strip_prefix(DASH)?.split_once(' ')?.1;
    let blob = STANDARD.decode(encoded.trim_end()).ok()?;
    (blob.len() == BLOB_BYTES).then(|| u64::from_be_bytes(blob[4..12].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "glasshouse.test/audit\n12\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n";

    #[test]
    fn a_cosignature_verifies_with_the_published_key_and_only_over_its_body() {
        let witness = Cosigner::new("witness.test/w1", &[3u8; 32]);
        let line = witness.cosign(BODY, 1_679_315_147);
        assert!(line.starts_with("\u{2014} witness.test/w1 ") && line.ends_with('\n'), "{line}");
        let verifier = CosignatureVerifier::parse(&witness.verifier_key()).unwrap();
        assert_eq!(verifier.verify(BODY, &[line.trim_end()]), Some(1_679_315_147));
        assert_eq!(verifier.verify(&BODY.replace("\n12\n", "\n13\n"), &[line.trim_end()]), None, "another checkpoint");
        let other = Cosigner::new("witness.test/w1", &[4u8; 32]);
        assert_eq!(CosignatureVerifier::parse(&other.verifier_key()).unwrap().verify(BODY, &[line.trim_end()]), None, "another key");
        // The timestamp is signed: moving it breaks the signature.
        let mut blob = STANDARD.decode(line.trim_end().rsplit(' ').next().unwrap()).unwrap();
        blob[11] ^= 1;
        let moved = format!("{DASH}witness.test/w1 {}", STANDARD.encode(blob));
        assert_eq!(verifier.verify(BODY, &[moved.as_str()]), None);
    }

    #[test]
    fn the_layout_is_the_specifications_key_id_then_big_endian_time_then_signature() {
        // The example cosignature line of c2sp.org/tlog-cosignature, for a checkpoint whose signed
        // message carries `time 1679315147`.
        let example = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        assert_eq!(claimed_time(example), Some(1_679_315_147));
        let key = Cosigner::new("witness.example.com/w1", &[1u8; 32]).verifier_key();
        let algorithm = STANDARD.decode(key.rsplit('+').next().unwrap()).unwrap()[0];
        assert_eq!(algorithm, 0x04, "a cosigner's verifier key names the cosignature/v1 type");
        assert!(
            CosignatureVerifier::parse(&crate::note::NoteSigner::new("log.test", &[1u8; 32]).verifier_key()).is_err(),
            "a log key is not a witness key"
        );
    }
}
