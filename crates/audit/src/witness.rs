//! A witness (C2SP `tlog-witness`): it cosigns a log's checkpoint only if the checkpoint extends the
//! last one it cosigned for that log.
//!
//! The witness keeps, per log origin, the size and root it last cosigned. An `add-checkpoint`
//! request brings the size the log believes the witness has, a consistency proof from there, and
//! the new signed checkpoint. The witness refuses, and says why, a log it does not follow (404), a
//! checkpoint its key did not sign (403), a request it cannot read (400), an old size that is not
//! its own (409, answering its size so the log can retry), the same size with another root (409),
//! and a proof that does not verify (422): a fork. Otherwise it stores the new head, durably, and
//! only then answers the cosignature. The check and the store happen under one lock, so two requests
//! cannot roll the head back.

use crate::cosignature::Cosigner;
use crate::merkle::{self, Hash};
use crate::note::{Checkpoint, NoteVerifier, split_note};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most consistency proof lines a request may carry (the specification's limit).
pub const PROOF_LINES_MAX: usize = 63;

/// The content type of a 409 answer that carries the witness's size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why the witness did not cosign, with the HTTP status the protocol gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request is not `old N`, proof lines, a blank line and a checkpoint.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The witness does not follow this log.
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// No signature by the log's key verifies.
    #[error("the checkpoint is not signed by the key this witness trusts for {0:?}")]
    NotSigned(String),
    /// The old size is not the size this witness last cosigned.
    #[error("old size {given} is not the size this witness last cosigned for this log, {latest}")]
    StaleOldSize {
        /// The size the request gave.
        given: u64,
        /// The witness's size.
        latest: u64,
    },
    /// Same size, another root: the log shows two different trees of one size.
    #[error("the log already showed a tree of size {0} with another root: a fork")]
    RootMismatch(u64),
    /// The consistency proof does not lead from the cosigned head to the new one.
    #[error(
        "the consistency proof from size {from} to {to} does not verify against the head this witness cosigned: the log does not extend what it showed before"
    )]
    Inconsistent {
        /// The cosigned size.
        from: u64,
        /// The new size.
        to: u64,
    },
    /// The witness could not store the new head, so it did not cosign.
    #[error("the witness could not store its state: {0}")]
    Storage(String),
}

impl Refusal {
    /// The HTTP status the protocol gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::UnknownLog(_) => 404,
            Refusal::NotSigned(_) => 403,
            Refusal::StaleOldSize { .. } | Refusal::RootMismatch(_) => 409,
            Refusal::Inconsistent { .. } => 422,
            Refusal::Storage(_) => 503,
        }
    }
}

/// The head a witness last cosigned for one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Tree size.
    pub size: u64,
    /// Root hash, base64 in the state file.
    #[serde(with = "base64_hash")]
    pub root: Hash,
}

mod base64_hash {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(&text).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| serde::de::Error::custom("not a base64 SHA-256"))
    }
}

/// A parsed `add-checkpoint` request.
struct Request<'a> {
    old: u64,
    proof: Vec<Hash>,
    note: &'a str,
}

fn parse_request(body: &str) -> Result<Request<'_>, Refusal> {
    let malformed = |why: &str| Refusal::Malformed(why.to_owned());
    let (head, note) = body.split_once("\n\n").ok_or_else(|| malformed("no blank line before the checkpoint"))?;
    let mut lines = head.split('\n');
    let old_line = lines.next().unwrap_or_default();
    let old_text = old_line.strip_prefix("old ").ok_or_else(|| malformed("the first line must be `old <size>`"))?;
    if old_text.is_empty() || (old_text.len() > 1 && old_text.starts_with('0')) || !old_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the old size must be a decimal with no leading zeroes"));
    }
    let old = old_text.parse().map_err(|_| malformed("the old size does not fit 64 bits"))?;
    let proof = lines
        .map(|line| {
            STANDARD
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| malformed("a proof line is not a base64 SHA-256 hash"))
        })
        .collect::<Result<Vec<Hash>, Refusal>>()?;
    if proof.len() > PROOF_LINES_MAX {
        return Err(malformed("more than 63 consistency proof lines"));
    }
    Ok(Request { old, proof, note })
}

/// A witness: its key, the logs it follows, and the heads it cosigned.
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, NoteVerifier>,
    state_path: PathBuf,
    heads: Mutex<BTreeMap<String, Head>>,
}

impl Witness {
    /// A witness signing as `cosigner`, following the logs whose verifier keys are `logs` (each
    /// key's name is its log's origin), with its state in `state_path` (created when absent).
    pub fn open(cosigner: Cosigner, logs: Vec<NoteVerifier>, state_path: &Path) -> std::io::Result<Witness> {
        let heads = match std::fs::read(state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", state_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let logs = logs.into_iter().map(|v| (v.name().to_owned(), v)).collect();
        Ok(Witness { cosigner, logs, state_path: state_path.to_owned(), heads: Mutex::new(heads) })
    }

    /// The witness's own verifier key.
    pub fn verifier_key(&self) -> String {
        self.cosigner.verifier_key()
    }

    /// The head last cosigned for `origin`.
    pub fn head(&self, origin: &str) -> Option<Head> {
        self.heads.lock().unwrap_or_else(|p| p.into_inner()).get(origin).copied()
    }

    /// Handles an `add-checkpoint` request body at `now` (POSIX seconds): the cosignature line, or why not.
    pub fn add_checkpoint(&self, body: &str, now: u64) -> Result<String, Refusal> {
        let request = parse_request(body)?;
        let origin = request.note.split('\n').next().unwrap_or_default().to_owned();
        let log = self.logs.get(&origin).ok_or_else(|| Refusal::UnknownLog(origin.clone()))?;
        let checkpoint = log.open(request.note).map_err(|_| Refusal::NotSigned(origin.clone()))?;
        if request.old > checkpoint.size {
            return Err(Refusal::Malformed(format!("old size {} is above the checkpoint's size {}", request.old, checkpoint.size)));
        }
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        let latest = heads.get(&origin).copied();
        let latest_size = latest.map_or(0, |h| h.size);
        if request.old != latest_size {
            return Err(Refusal::StaleOldSize { given: request.old, latest: latest_size });
        }
        match latest {
            Some(head) if head.size == checkpoint.size && head.root != checkpoint.root => return Err(Refusal::RootMismatch(head.size)),
            Some(head) if !merkle::verify_consistency(head.size, checkpoint.size, &head.root, &checkpoint.root, &request.proof) => {
                return Err(Refusal::Inconsistent { from: head.size, to: checkpoint.size });
            }
            None if !request.proof.is_empty() => return Err(Refusal::Malformed("the proof must be empty when the old size is 0".into())),
            _ => {}
        }
        let mut next = heads.clone();
        next.insert(origin, Head { size: checkpoint.size, root: checkpoint.root });
        self.store(&next).map_err(|e| Refusal::Storage(e.to_string()))?;
        *heads = next;
        let (body, _) = split_note(request.note).map_err(|e| Refusal::Malformed(e.to_string()))?;
        Ok(self.cosigner.cosign(&body, now))
    }

    /// Replaces the state durably, so a crash leaves the old state or the new one.
    fn store(&self, heads: &BTreeMap<String, Head>) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(heads).expect("heads serialise");
        glasshouse_wal::files::replace(&self.state_path, &bytes, glasshouse_wal::files::Readers::Default)
    }
}

/// The witness's key file in its state directory: its name and Ed25519 seed, mode 0600.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    name: String,
    ed25519_seed_hex: String,
}

/// The witness's signing key from `dir/witness-key.json`, made on first use under `name` (required
/// then). A name given later must match the one the key was made with: a witness's name and key are
/// one identity.
pub fn load_or_create_cosigner(dir: &Path, name: Option<&str>) -> std::io::Result<Cosigner> {
    let path = dir.join("witness-key.json");
    std::fs::create_dir_all(dir)?;
    if !path.exists() {
        let name = name.ok_or_else(|| std::io::Error::other("a new witness needs a name (--name), e.g. witness.example.org/w1"))?;
        if name.is_empty() || name.contains(['+', ' ', '\n']) {
            return Err(std::io::Error::other("a witness name has no '+', space or newline"));
        }
        let file = KeyFile { name: name.to_owned(), ed25519_seed_hex: hex::encode(crate::log::random_32()) };
        crate::log::write_secret(&path, &serde_json::to_vec_pretty(&file).expect("serialises"))?;
    }
    let file: KeyFile = serde_json::from_slice(&std::fs::read(&path)?).map_err(std::io::Error::other)?;
    if let Some(given) = name
        && given != file.name
    {
        return Err(std::io::Error::other(format!("this witness is named {:?}, not {given:?}", file.name)));
    }
    let seed: [u8; 32] = hex::decode(&file.ed25519_seed_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| std::io::Error::other("the seed is not 32 bytes of hex"))?;
    Ok(Cosigner::new(file.name, &seed))
}

/// The `add-checkpoint` request body a log sends: its idea of the witness's size, the consistency
/// proof from there, and the signed checkpoint.
pub fn request_body(old: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&STANDARD.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// Parses a checkpoint note's body without checking signatures (the caller has).
pub fn checkpoint_of(note: &str) -> Option<Checkpoint> {
    Checkpoint::parse_body(&split_note(note).ok()?.0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::CosignatureVerifier;
    use crate::merkle::{Tree, leaf_hash};
    use crate::note::NoteSigner;

    const ORIGIN: &str = "glasshouse.test/audit";

    fn log_signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, &[7u8; 32])
    }

    fn tree(entries: &[&str]) -> Tree {
        let mut tree = Tree::new();
        for e in entries {
            tree.push(leaf_hash(e.as_bytes()));
        }
        tree
    }

    fn note(tree: &Tree) -> String {
        log_signer().sign(&Checkpoint { origin: ORIGIN.into(), size: tree.size(), root: tree.root(tree.size()) })
    }

    fn witness(dir: &Path) -> Witness {
        let log = NoteVerifier::parse(&log_signer().verifier_key()).unwrap();
        Witness::open(Cosigner::new("witness.test/w1", &[5u8; 32]), vec![log], &dir.join("witness-state.json")).unwrap()
    }

    #[test]
    fn a_log_that_grows_is_cosigned_and_the_head_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let verifier = CosignatureVerifier::parse(&w.verifier_key()).unwrap();
        let first = tree(&["a", "b", "c"]);
        let line = w.add_checkpoint(&request_body(0, &[], &note(&first)), 100).unwrap();
        let body = Checkpoint { origin: ORIGIN.into(), size: 3, root: first.root(3) }.body();
        assert_eq!(verifier.verify(&body, &[line.trim_end()]), Some(100));
        let grown = tree(&["a", "b", "c", "d", "e"]);
        let proof = grown.consistency_proof(3, 5).unwrap();
        w.add_checkpoint(&request_body(3, &proof, &note(&grown)), 101).unwrap();
        drop(w);
        let w = witness(dir.path());
        assert_eq!(w.head(ORIGIN).map(|h| h.size), Some(5));
        let stale = w.add_checkpoint(&request_body(3, &proof, &note(&grown)), 102).unwrap_err();
        assert_eq!((stale.status(), stale), (409, Refusal::StaleOldSize { given: 3, latest: 5 }));
        // The same head again is cosigned again.
        assert!(w.add_checkpoint(&request_body(5, &[], &note(&grown)), 103).is_ok());
    }

    #[test]
    fn a_fork_is_refused_whether_it_shrinks_rewrites_or_grows_from_a_rewritten_entry() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let honest = tree(&["a", "b", "c", "d"]);
        w.add_checkpoint(&request_body(0, &[], &note(&honest)), 100).unwrap();
        // The operator rewrites entry "b" and shows the witness a tree of the same size…
        let rewritten = tree(&["a", "B", "c", "d"]);
        assert_eq!(w.add_checkpoint(&request_body(4, &[], &note(&rewritten)), 101).unwrap_err(), Refusal::RootMismatch(4));
        // …or grows it, with the rewritten tree's own (valid for itself) proof.
        let grown = tree(&["a", "B", "c", "d", "e"]);
        let proof = grown.consistency_proof(4, 5).unwrap();
        let refused = w.add_checkpoint(&request_body(4, &proof, &note(&grown)), 102).unwrap_err();
        assert_eq!((refused.status(), refused), (422, Refusal::Inconsistent { from: 4, to: 5 }));
        assert_eq!(w.head(ORIGIN).unwrap().root, honest.root(4), "nothing the fork sent was kept");
        let shrunk = tree(&["a", "b"]);
        assert_eq!(w.add_checkpoint(&request_body(4, &[], &note(&shrunk)), 103).unwrap_err().status(), 400);
    }

    #[test]
    fn unknown_logs_unsigned_checkpoints_and_unreadable_requests_are_refused_by_status() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let t = tree(&["a"]);
        let other = NoteSigner::new("other.test/log", &[7u8; 32]);
        let foreign = other.sign(&Checkpoint { origin: "other.test/log".into(), size: 1, root: t.root(1) });
        assert_eq!(w.add_checkpoint(&request_body(0, &[], &foreign), 1).unwrap_err().status(), 404);
        let forged = NoteSigner::new(ORIGIN, &[8u8; 32]).sign(&Checkpoint { origin: ORIGIN.into(), size: 1, root: t.root(1) });
        assert_eq!(w.add_checkpoint(&request_body(0, &[], &forged), 1).unwrap_err().status(), 403);
        for bad in ["", "old 01\n\n", "new 0\n\n", "old 0\nnot base64!\n\n"] {
            assert_eq!(w.add_checkpoint(&format!("{bad}{}", note(&t)), 1).unwrap_err().status(), 400, "{bad:?}");
        }
        assert_eq!(w.add_checkpoint(&request_body(0, &[[0u8; 32]], &note(&t)), 1).unwrap_err().status(), 400, "a proof from nothing");
        assert_eq!(w.head(ORIGIN), None);
    }
}
