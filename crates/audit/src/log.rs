//! The audit log: entries appended durably, a Merkle tree over them, and a signed checkpoint after
//! every append.
//!
//! Entries and checkpoints share one write-ahead log (a tag byte tells them apart), so a single
//! fsync makes an entry and the checkpoint that covers it durable together. An append returns an
//! [`AuditReceipt`] only after that fsync; the receipt cannot be built anywhere else, so code that
//! demands one (a search, an export) cannot run unlogged. A failed write stops the log: every later
//! append fails, and with it every action that needs a receipt.

use crate::action::Action;
use crate::keyed::KeyedHasher;
use crate::merkle::{Hash, Tree, leaf_hash};
use crate::note::{Checkpoint, NoteSigner};
use glasshouse_model::Timestamp;
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const ENTRY: u8 = b'E';
const CHECKPOINT: u8 = b'C';

/// One logged action, as stored and hashed. Field order is fixed, so the bytes are canonical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When it was logged.
    pub at: Timestamp,
    /// The account that acted.
    pub actor: String,
    /// Its role at the time.
    pub role: String,
    /// What it did, e.g. `search.observations`, `device.upsert`.
    pub action: String,
    /// `ok`, `refused`, or another short outcome.
    pub outcome: String,
    /// The parameters and counts; plates and free text only as keyed hashes.
    pub details: serde_json::Value,
}

/// An action to log; the log assigns `seq` and `at`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// The account that acted.
    pub actor: String,
    /// Its role.
    pub role: String,
    /// What it did.
    pub action: Action,
    /// How it ended.
    pub outcome: String,
    /// Parameters and counts (already keyed-hashed where personal).
    pub details: serde_json::Value,
}

/// Proof that an entry was durably sequenced. Only [`AuditLog::append`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReceipt {
    seq: u64,
    tree_size: u64,
}

impl AuditReceipt {
    /// The entry's position.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The tree size of the checkpoint that first covers it.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }
}

/// A search admitted by the log: its entry is durable, and the query it describes is the only one
/// it lets run. Only [`AuditLog::admit`] makes one, and the store's searches demand one, so a search
/// cannot run unlogged, nor under the entry of a different action or query.
#[derive(Debug)]
pub struct Admitted<Q> {
    query: Q,
    action: Action,
    receipt: AuditReceipt,
}

impl<Q> Admitted<Q> {
    /// The query the entry admits.
    pub fn query(&self) -> &Q {
        &self.query
    }

    /// The search action it was logged as.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The receipt of its entry.
    pub fn receipt(&self) -> &AuditReceipt {
        &self.receipt
    }
}

/// Why the audit log failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The underlying log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// Key files could not be read or written.
    #[error("audit keys in {path}: {source}")]
    Keys {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A stored record is damaged.
    #[error("audit log record {lsn} is damaged: {reason}")]
    Damaged {
        /// Its LSN.
        lsn: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write failed; nothing more is logged (and nothing that needs logging runs).
    #[error("the audit log stopped after a failed write")]
    Stopped,
    /// [`AuditLog::admit`] was given an action that is not a search.
    #[error("{0} is not a search action")]
    NotASearch(Action),
}

struct State {
    wal: Wal,
    tree: Tree,
    entries: Vec<Vec<u8>>,
    /// Every signed note in order, with the tree size it covers.
    checkpoints: Vec<(u64, String)>,
    stopped: bool,
}

/// The audit log of one deployment.
pub struct AuditLog {
    state: Mutex<State>,
    signer: NoteSigner,
    hasher: KeyedHasher,
}

#[derive(Serialize, Deserialize)]
struct SigningKeyFile {
    origin: String,
    ed25519_seed_hex: String,
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("os random source");
    bytes
}

fn write_secret(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().create_new(true).write(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Loads the signing key and the HMAC key from `keys_dir`, creating them on first use.
fn load_keys(keys_dir: &Path) -> Result<(NoteSigner, KeyedHasher), AuditError> {
    let keys_error = |path: &Path| {
        let path = path.to_owned();
        move |source| AuditError::Keys { path, source }
    };
    fs::create_dir_all(keys_dir).map_err(keys_error(keys_dir))?;
    let signing_path = keys_dir.join("signing.json");
    if !signing_path.exists() {
        let origin = format!("glasshouse.local/audit/{}", hex::encode(&random_32()[..4]));
        let file = SigningKeyFile { origin, ed25519_seed_hex: hex::encode(random_32()) };
        write_secret(&signing_path, &serde_json::to_vec_pretty(&file).expect("serialises")).map_err(keys_error(&signing_path))?;
    }
    let file: SigningKeyFile = serde_json::from_slice(&fs::read(&signing_path).map_err(keys_error(&signing_path))?)
        .map_err(|e| AuditError::Keys { path: signing_path.clone(), source: io::Error::other(e) })?;
    let seed: [u8; 32] = hex::decode(&file.ed25519_seed_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::Keys { path: signing_path.clone(), source: io::Error::other("seed is not 32 bytes of hex") })?;
    let hmac_path = keys_dir.join("hmac.key");
    if !hmac_path.exists() {
        write_secret(&hmac_path, hex::encode(random_32()).as_bytes()).map_err(keys_error(&hmac_path))?;
    }
    let hmac: [u8; 32] = hex::decode(fs::read_to_string(&hmac_path).map_err(keys_error(&hmac_path))?.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::Keys { path: hmac_path.clone(), source: io::Error::other("key is not 32 bytes of hex") })?;
    Ok((NoteSigner::new(file.origin, &seed), KeyedHasher::new(hmac)))
}

/// The verifier key of the log whose keys are in `keys_dir` (creating the keys on first use), without
/// opening the log itself, so it can be read while a server runs.
pub fn verifier_key(keys_dir: &Path) -> Result<String, AuditError> {
    Ok(load_keys(keys_dir)?.0.verifier_key())
}

impl AuditLog {
    /// Opens the log in `log_dir` with keys from `keys_dir` (kept apart so the log directory can be
    /// published or copied without the keys).
    pub fn open(log_dir: &Path, keys_dir: &Path) -> Result<AuditLog, AuditError> {
        let (signer, hasher) = load_keys(keys_dir)?;
        let mut tree = Tree::new();
        let mut entries = Vec::new();
        let mut checkpoints = Vec::new();
        let mut damage = None;
        let wal = Wal::open(WalConfig { fsync: FsyncPolicy::Always, ..WalConfig::new(log_dir) }, 0, |lsn, payload| {
            match payload.split_first() {
                Some((&ENTRY, entry)) => {
                    tree.push(leaf_hash(entry));
                    entries.push(entry.to_vec());
                }
                Some((&CHECKPOINT, note)) => match std::str::from_utf8(note) {
                    Ok(note) => checkpoints.push((tree.size(), note.to_owned())),
                    Err(e) => damage = damage.take().or(Some(AuditError::Damaged { lsn, reason: e.to_string() })),
                },
                _ => damage = damage.take().or(Some(AuditError::Damaged { lsn, reason: "unknown record tag".into() })),
            }
        })?;
        if let Some(e) = damage {
            return Err(e);
        }
        Ok(AuditLog { state: Mutex::new(State { wal, tree, entries, checkpoints, stopped: false }), signer, hasher })
    }

    /// Appends an entry and a checkpoint covering it, durably, and returns the receipt.
    pub fn append(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.stopped {
            return Err(AuditError::Stopped);
        }
        let seq = state.tree.size();
        let entry = AuditEntry {
            seq,
            at: Timestamp::now(),
            actor: event.actor,
            role: event.role,
            action: event.action.as_str().to_owned(),
            outcome: event.outcome,
            details: event.details,
        };
        let bytes = serde_json::to_vec(&entry).expect("entries serialise");
        // The tree grows before the write; if the write fails the log stops, so the unwritten leaf is
        // never covered by a checkpoint or served (a restart rebuilds the tree from disk).
        state.tree.push(leaf_hash(&bytes));
        let checkpoint = Checkpoint { origin: self.signer.name().to_owned(), size: seq + 1, root: state.tree.root(seq + 1) };
        let note = self.signer.sign(&checkpoint);
        let written = (|| {
            state.wal.append(&[&[ENTRY][..], &bytes].concat())?;
            state.wal.append(&[&[CHECKPOINT][..], note.as_bytes()].concat())?;
            state.wal.commit()
        })();
        if let Err(e) = written {
            state.stopped = true;
            return Err(e.into());
        }
        state.entries.push(bytes);
        state.checkpoints.push((seq + 1, note));
        Ok(AuditReceipt { seq, tree_size: seq + 1 })
    }

    /// Logs `event`, which must be a search (an action with a result entry), and ties its receipt
    /// to `query`.
    pub fn admit<Q>(&self, event: AuditEvent, query: Q) -> Result<Admitted<Q>, AuditError> {
        let action = event.action;
        if action.result().is_none() {
            return Err(AuditError::NotASearch(action));
        }
        let receipt = self.append(event)?;
        Ok(Admitted { query, action, receipt })
    }

    /// A keyed hash of a personal value (`kind` is `plate`, `text`, ...), for entry details.
    pub fn keyed(&self, kind: &str, value: &str) -> String {
        self.hasher.hash(kind, value)
    }

    /// The verifier key for this log's checkpoints.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The newest signed checkpoint, or a freshly signed one for the empty log.
    pub fn checkpoint(&self) -> (u64, String) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.checkpoints.last() {
            Some(latest) => latest.clone(),
            None => (0, self.signer.sign(&Checkpoint { origin: self.signer.name().to_owned(), size: 0, root: state.tree.root(0) })),
        }
    }

    /// Entries `[from, from + limit)` as their stored bytes.
    pub fn entries(&self, from: u64, limit: usize) -> Vec<Vec<u8>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let start = (from as usize).min(state.entries.len());
        state.entries[start..].iter().take(limit).cloned().collect()
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).tree.size()
    }

    /// The root of the first `size` entries.
    pub fn root(&self, size: u64) -> Option<Hash> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (size <= state.tree.size()).then(|| state.tree.root(size))
    }

    /// The leaf hash of entry `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).tree.leaf(index)
    }

    /// The audit path of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).tree.inclusion_proof(index, size)
    }

    /// The consistency proof between tree sizes `first` and `second`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Option<Vec<Hash>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).tree.consistency_proof(first, second)
    }

    /// The whole log as NDJSON: each entry's exact bytes on its own line, and after the entries it
    /// covers, each checkpoint as `{"checkpoint":"<signed note>"}`. `glasshouse audit verify` reads it.
    pub fn export(&self) -> Vec<u8> {
        let end = self.size() as usize;
        self.export_part(0, end, end)
    }

    /// Entries `from..min(from + entries_max, end)` of the export, each with the checkpoints that
    /// follow it there: concatenated in order, the parts of `0..end` are the export of the log's
    /// first `end` entries. A caller streams a large log a part at a time (the lock is held for one
    /// part) and fixes `end` first, so what it streams is one size of the log.
    pub fn export_part(&self, from: usize, entries_max: usize, end: usize) -> Vec<u8> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let end = end.min(state.entries.len());
        let to = from.saturating_add(entries_max).min(end);
        let mut out = Vec::new();
        // A checkpoint of size n follows entry n - 1 (one of size 0, the empty log, follows the first).
        let mut checkpoint = if from == 0 { 0 } else { state.checkpoints.partition_point(|(size, _)| (*size as usize) <= from) };
        for index in from..to {
            out.extend_from_slice(&state.entries[index]);
            out.push(b'\n');
            while let Some((size, note)) = state.checkpoints.get(checkpoint) {
                if *size as usize > index + 1 {
                    break;
                }
                out.extend_from_slice(serde_json::json!({ "checkpoint": note }).to_string().as_bytes());
                out.push(b'\n');
                checkpoint += 1;
            }
        }
        out
    }
}
