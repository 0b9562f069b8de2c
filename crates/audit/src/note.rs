//! Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes with Ed25519.
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n`. The signed note appends a blank line and
//! one signature line `— <key name> <base64(key id ‖ signature)>\n`, where the key id is the first four
//! bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key) and 0x01 names the Ed25519 algorithm. The
//! verifier key is published as `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.

use crate::merkle::Hash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

const ED25519: u8 = 0x01;
/// What starts every signature line of a note.
pub(crate) const DASH: &str = "\u{2014} ";

/// A note's body (with its final newline) and its signature lines.
pub fn split_note(note: &str) -> Result<(String, Vec<&str>), NoteError> {
    let (body, signatures) = note.split_once("\n\n").ok_or_else(|| NoteError::Malformed("no blank line before signatures".into()))?;
    Ok((format!("{body}\n"), signatures.lines().filter(|l| l.starts_with(DASH)).collect()))
}

/// Why a note or key did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The verifier key string is malformed.
    #[error("verifier key is malformed: {0}")]
    BadKey(String),
    /// The note text is not a checkpoint followed by signatures.
    #[error("checkpoint note is malformed: {0}")]
    Malformed(String),
    /// No signature by the expected key, or a signature that does not verify.
    #[error("checkpoint signature does not verify with key {0}")]
    BadSignature(String),
}

/// A tree head: the log's origin, its size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique name.
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint body (without signatures).
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Parses a checkpoint body (`<origin>\n<size>\n<base64 root>\n`, extension lines ignored).
    pub fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| NoteError::Malformed("no origin line".into()))?;
        let size = lines.next().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| NoteError::Malformed("no tree size line".into()))?;
        let root_text = lines.next().ok_or_else(|| NoteError::Malformed("no root hash line".into()))?;
        let root: Hash = STANDARD
            .decode(root_text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| NoteError::Malformed("root hash is not 32 bytes of base64".into()))?;
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    typed_key_id(name, ED25519, public)
}

/// A signed-note key's id: the first four bytes of SHA-256(name ‖ "\n" ‖ signature type ‖ key).
pub(crate) fn typed_key_id(name: &str, signature_type: u8, public: &[u8; 32]) -> [u8; 4] {
    let digest =
        Sha256::new().chain_update(name.as_bytes()).chain_update(b"\n").chain_update([signature_type]).chain_update(public).finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A verifier key as signed notes publish it: `<name>+<key id hex>+<base64(type ‖ key)>`.
pub(crate) fn encode_verifier_key(name: &str, signature_type: u8, public: &[u8; 32]) -> String {
    let mut encoded = vec![signature_type];
    encoded.extend_from_slice(public);
    format!("{name}+{}+{}", hex::encode(typed_key_id(name, signature_type, public)), STANDARD.encode(encoded))
}

/// Parses a verifier key of `signature_type` (`what` names that type in the refusal): its name,
/// key id and Ed25519 key.
pub(crate) fn parse_verifier_key(text: &str, signature_type: u8, what: &str) -> Result<(String, [u8; 4], VerifyingKey), NoteError> {
    // Names cannot contain '+'; base64 can, so split from the left.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(id_hex), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadKey("expected name+keyid+key".into()));
    };
    let bytes = STANDARD.decode(encoded).map_err(|e| NoteError::BadKey(e.to_string()))?;
    let [found, public @ ..] = bytes.as_slice() else { return Err(NoteError::BadKey("empty key".into())) };
    if *found != signature_type {
        return Err(NoteError::BadKey(format!("signature type {found:#04x} is not {what} ({signature_type:#04x})")));
    }
    let public: [u8; 32] = public.try_into().map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes".into()))?;
    let id = typed_key_id(name, signature_type, &public);
    if hex::encode(id) != id_hex {
        return Err(NoteError::BadKey("key id does not match the key".into()));
    }
    let key = VerifyingKey::from_bytes(&public).map_err(|e| NoteError::BadKey(e.to_string()))?;
    Ok((name.to_owned(), id, key))
}

/// Signs checkpoints under a key name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn new(name: impl Into<String>, seed: &[u8; 32]) -> NoteSigner {
        NoteSigner { name: name.into(), key: SigningKey::from_bytes(seed) }
    }

    /// The key name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string anyone can use to check this signer's notes.
    pub fn verifier_key(&self) -> String {
        encode_verifier_key(&self.name, ED25519, &self.key.verifying_key().to_bytes())
    }

    /// The signed note for a checkpoint.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.key.sign(body.as_bytes()).to_bytes();
        let public = self.key.verifying_key().to_bytes();
        let mut blob = key_id(&self.name, &public).to_vec();
        blob.extend_from_slice(&signature);
        format!("{body}\n{DASH}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// A parsed verifier key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.
    pub fn parse(text: &str) -> Result<NoteVerifier, NoteError> {
        let (name, id, key) = parse_verifier_key(text, ED25519, "an Ed25519 signed-note key")?;
        Ok(NoteVerifier { name, id, key })
    }

    /// The key's name: the origin of the log it signs for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks a signed note and returns its checkpoint.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let (body, signatures) = split_note(note)?;
        for line in signatures {
            let Some(rest) = line.strip_prefix(DASH) else { continue };
            let Some((name, encoded)) = rest.split_once(' ') else { continue };
            if name != self.name {
                continue;
            }
            let blob = STANDARD.decode(encoded).map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            if blob.len() != 68 || blob[..4] != self.id {
                continue;
            }
            let signature = Signature::from_bytes(blob[4..].try_into().expect("64 bytes"));
            if self.key.verify(body.as_bytes(), &signature).is_ok() {
                let checkpoint = Checkpoint::parse_body(&body)?;
                if checkpoint.origin != self.name {
                    return Err(NoteError::Malformed(format!("origin {:?} is not the key's name", checkpoint.origin)));
                }
                return Ok(checkpoint);
            }
            return Err(NoteError::BadSignature(self.name.clone()));
        }
        Err(NoteError::BadSignature(self.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::new("glasshouse.test/audit", &[7u8; 32])
    }

    #[test]
    fn a_signed_checkpoint_opens_with_the_published_key() {
        let checkpoint = Checkpoint { origin: "glasshouse.test/audit".into(), size: 12, root: [9u8; 32] };
        let note = signer().sign(&checkpoint);
        assert!(note.starts_with("glasshouse.test/audit\n12\nCQkJ"), "{note}");
        assert!(note.contains("\n\n\u{2014} glasshouse.test/audit "));
        let verifier = NoteVerifier::parse(&signer().verifier_key()).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), checkpoint);
    }

    #[test]
    fn any_change_to_the_note_or_the_key_is_refused() {
        let checkpoint = Checkpoint { origin: "glasshouse.test/audit".into(), size: 12, root: [9u8; 32] };
        let note = signer().sign(&checkpoint);
        let verifier = NoteVerifier::parse(&signer().verifier_key()).unwrap();
        assert!(verifier.open(&note.replacen("\n12\n", "\n13\n", 1)).is_err());
        let other = NoteVerifier::parse(&NoteSigner::new("glasshouse.test/audit", &[8u8; 32]).verifier_key()).unwrap();
        assert!(matches!(other.open(&note), Err(NoteError::BadSignature(_))));
        let key = signer().verifier_key();
        let (name, rest) = key.split_once('+').unwrap();
        let wrong_id = format!("{name}+00000000+{}", rest.split_once('+').unwrap().1);
        assert_eq!(NoteVerifier::parse(&wrong_id).unwrap_err(), NoteError::BadKey("key id does not match the key".into()));
    }
}
