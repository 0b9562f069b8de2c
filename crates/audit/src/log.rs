//! The audit log: entries appended durably, a Merkle tree over them, and a signed checkpoint after
//! every append.
//!
//! Entries and checkpoints share one write-ahead log (a tag byte tells them apart), so a single
//! fsync makes an entry and the checkpoint that covers it durable together. The log holds none of
//! them in memory: an [`Index`] on disk says where each one is and keeps the tree's hashes, so
//! memory and opening time do not grow with the log. An append returns an
//! [`AuditReceipt`] only after that fsync; the receipt cannot be built anywhere else, so code that
//! demands one (a search, an export) cannot run unlogged. A failed write stops the log: every later
//! append fails, and with it every action that needs a receipt.

use crate::action::Action;
use crate::index::{Index, IndexError, Located};
use crate::keyed::KeyedHasher;
use crate::merkle::{self, Hash, leaf_hash};
use crate::note::{Checkpoint, NoteSigner, NoteVerifier};
use glasshouse_model::Timestamp;
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError, WalReader};
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
    /// What the action came through: `http`, `postgres`, `cli` or `system` (absent from entries
    /// logged before it was recorded).
    #[serde(default)]
    pub component: String,
    /// The client's address, for an action over the network; `null` for the system's own tasks and
    /// the CLI.
    #[serde(default)]
    pub address: Option<String>,
    /// What it did, e.g. `search.observations`, `device.upsert`.
    pub action: String,
    /// `ok`, `refused`, or another short outcome.
    pub outcome: String,
    /// The parameters and counts; plates and free text only as keyed hashes.
    pub details: serde_json::Value,
}

/// What an action came through, as its entry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The HTTP API and the console.
    Http,
    /// The Postgres wire listener (analysts' SQL).
    Postgres,
    /// A command run on the host (token changes, backup, restore).
    Cli,
    /// The server's own tasks (retention, witnessing, device health).
    System,
}

impl Component {
    /// The name entries store.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Http => "http",
            Component::Postgres => "postgres",
            Component::Cli => "cli",
            Component::System => "system",
        }
    }
}

/// An action to log; the log assigns `seq` and `at`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// The account that acted.
    pub actor: String,
    /// Its role.
    pub role: String,
    /// What it came through.
    pub component: Component,
    /// The client's address, for an action over the network.
    pub address: Option<String>,
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
    /// The index beside it failed.
    #[error(transparent)]
    Index(#[from] IndexError),
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
    /// The tree kept in the index does not give the root the log signed: the index is damaged. It
    /// is rebuilt from the WAL when the log opens without it (remove `index/` and restart).
    #[error(
        "the audit index disagrees with the signed checkpoint of size {size}; remove the log's index directory and restart to rebuild it"
    )]
    IndexDisagrees {
        /// The tree size whose root disagrees.
        size: u64,
    },
    /// An earlier write failed; nothing more is logged (and nothing that needs logging runs).
    #[error("the audit log stopped after a failed write")]
    Stopped,
    /// [`AuditLog::admit`] was given an action that is not a search.
    #[error("{0} is not a search action")]
    NotASearch(Action),
}

/// The audit WAL's rotation size: small, so opening (which reads the newest file) stays quick.
const WAL_FILE_BYTES: u64 = 8 * 1024 * 1024;

struct State {
    wal: Wal,
    reader: WalReader,
    index: Index,
    /// The newest signed note and the size it covers.
    latest: Option<(u64, String)>,
    stopped: bool,
    /// WAL records read when the log was opened (beyond the index's sealed point).
    replayed_on_open: u64,
}

impl State {
    /// The payload of a stored record, checked to carry `tag`, without it.
    fn read(&mut self, at: Located, tag: u8) -> Result<Vec<u8>, AuditError> {
        let mut payload = self.reader.read(at.position, at.lsn)?;
        if payload.first() != Some(&tag) {
            return Err(AuditError::Damaged { lsn: at.lsn, reason: "the index points at a record of another kind".into() });
        }
        payload.remove(0);
        Ok(payload)
    }

    fn note(&mut self, checkpoint: u64) -> Result<(u64, String), AuditError> {
        let stored = self.index.checkpoint(checkpoint)?;
        let bytes = self.read(stored.at, CHECKPOINT)?;
        let note = String::from_utf8(bytes).map_err(|e| AuditError::Damaged { lsn: stored.at.lsn, reason: e.to_string() })?;
        Ok((stored.size, note))
    }
}

/// The audit log of one deployment.
pub struct AuditLog {
    state: Mutex<State>,
    signer: NoteSigner,
    /// Opens the log's own notes, so what the index computes is checked against what was signed.
    verifier: NoteVerifier,
    hasher: KeyedHasher,
}

#[derive(Serialize, Deserialize)]
struct SigningKeyFile {
    origin: String,
    ed25519_seed_hex: String,
}

pub(crate) fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("os random source");
    bytes
}

pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> io::Result<()> {
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

fn tree_error(source: io::Error) -> AuditError {
    AuditError::Index(IndexError { path: PathBuf::from("index/level-*.hash"), source })
}

/// The verifier key of the log whose keys are in `keys_dir` (creating the keys on first use), without
/// opening the log itself, so it can be read while a server runs.
pub fn verifier_key(keys_dir: &Path) -> Result<String, AuditError> {
    Ok(load_keys(keys_dir)?.0.verifier_key())
}

impl AuditLog {
    /// Opens the log in `log_dir` with keys from `keys_dir` (kept apart so the log directory can be
    /// published or copied without the keys). Reads only the WAL records after the index's sealed
    /// point (the whole WAL once, if the index is missing or does not check out).
    pub fn open(log_dir: &Path, keys_dir: &Path) -> Result<AuditLog, AuditError> {
        let (signer, hasher) = load_keys(keys_dir)?;
        let (mut index, after) = Index::open(&log_dir.join("index"))?;
        let mut latest = None;
        let mut replayed_on_open = 0;
        let mut damage: Option<AuditError> = None;
        let config = WalConfig { fsync: FsyncPolicy::Always, file_bytes_max: WAL_FILE_BYTES, ..WalConfig::new(log_dir) };
        let wal = Wal::open_positioned(config, after, |position, lsn, payload| {
            if damage.is_some() {
                return;
            }
            let at = Located { lsn, position };
            replayed_on_open += 1;
            match payload.split_first() {
                Some((&ENTRY, entry)) => damage = index.push_entry(at, leaf_hash(entry)).err().map(AuditError::from),
                Some((&CHECKPOINT, note)) => match std::str::from_utf8(note) {
                    Ok(note) => {
                        index.push_checkpoint(at);
                        latest = Some((index.entries(), note.to_owned()));
                    }
                    Err(e) => damage = Some(AuditError::Damaged { lsn, reason: e.to_string() }),
                },
                _ => damage = Some(AuditError::Damaged { lsn, reason: "unknown record tag".into() }),
            }
        })?;
        if let Some(e) = damage {
            return Err(e);
        }
        index.seal(wal.next_lsn())?;
        let mut state = State { wal, reader: WalReader::new(log_dir), index, latest, stopped: false, replayed_on_open };
        if state.latest.is_none() && state.index.checkpoints() > 0 {
            state.latest = Some(state.note(state.index.checkpoints() - 1)?);
        }
        let verifier = NoteVerifier::parse(&signer.verifier_key()).expect("the log's own key parses");
        Ok(AuditLog { state: Mutex::new(state), signer, verifier, hasher })
    }

    /// Appends an entry and a checkpoint covering it, durably, and returns the receipt.
    pub fn append(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.stopped {
            crate::metrics::append_failed();
            return Err(AuditError::Stopped);
        }
        let started = std::time::Instant::now();
        let (action, outcome) = (event.action, event.outcome.clone());
        let seq = state.index.entries();
        let entry = AuditEntry {
            seq,
            at: Timestamp::now(),
            actor: event.actor,
            role: event.role,
            component: event.component.as_str().to_owned(),
            address: event.address,
            action: event.action.as_str().to_owned(),
            outcome: event.outcome,
            details: event.details,
        };
        let bytes = serde_json::to_vec(&entry).expect("entries serialise");
        let leaf = leaf_hash(&bytes);
        // The root after this entry, from a copy of the tree's edge: the index grows only once the
        // entry is durable.
        let mut next = state.index.frontier().clone();
        next.push(leaf);
        let checkpoint = Checkpoint { origin: self.signer.name().to_owned(), size: seq + 1, root: next.root() };
        let note = self.signer.sign(&checkpoint);
        let written = (|| {
            let (entry_lsn, entry_position) = state.wal.append_positioned(&[&[ENTRY][..], &bytes].concat())?;
            let (note_lsn, note_position) = state.wal.append_positioned(&[&[CHECKPOINT][..], note.as_bytes()].concat())?;
            state.wal.commit()?;
            let next_lsn = state.wal.next_lsn();
            state.index.push_entry(Located { lsn: entry_lsn, position: entry_position }, leaf)?;
            state.index.push_checkpoint(Located { lsn: note_lsn, position: note_position });
            state.index.write_out(next_lsn)?;
            Ok::<_, AuditError>(())
        })();
        if let Err(e) = written {
            // A failed WAL write leaves nothing covered; a failed index write leaves the WAL ahead of
            // the index, which the next open replays. Either way nothing more is logged until then.
            state.stopped = true;
            crate::metrics::append_failed();
            return Err(e);
        }
        state.latest = Some((seq + 1, note));
        crate::metrics::appended(action, &outcome, started.elapsed());
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
        let state = self.lock();
        match &state.latest {
            Some(latest) => latest.clone(),
            None => (0, self.signer.sign(&Checkpoint { origin: self.signer.name().to_owned(), size: 0, root: merkle::empty_root() })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries `[from, from + limit)` as their stored bytes.
    pub fn entries(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, AuditError> {
        let mut state = self.lock();
        let end = from.saturating_add(limit as u64).min(state.index.entries());
        (from..end).map(|index| state.index.entry(index).map_err(AuditError::from).and_then(|at| state.read(at, ENTRY))).collect()
    }

    /// Calls `each` with every entry's stored bytes in order, a part at a time, so the log is never
    /// read whole into memory nor locked for the whole pass.
    pub fn for_each_entry(&self, mut each: impl FnMut(&[u8])) -> Result<(), AuditError> {
        const PART: usize = 2_000;
        let end = self.size();
        let mut from = 0;
        while from < end {
            for bytes in self.entries(from, PART.min((end - from) as usize))? {
                each(&bytes);
            }
            from += PART as u64;
        }
        Ok(())
    }

    /// How many WAL records opening the log read: those after the index's sealed point, or all of
    /// them when the index was rebuilt.
    pub fn replayed_on_open(&self) -> u64 {
        self.lock().replayed_on_open
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.lock().index.entries()
    }

    /// The root of the first `size` entries, checked against the checkpoint signed for that size.
    pub fn root(&self, size: u64) -> Result<Option<Hash>, AuditError> {
        let mut state = self.lock();
        self.checked_root(&mut state, size)
    }

    /// The leaf hash of entry `index`, hashed from the entry's stored bytes.
    pub fn leaf(&self, index: u64) -> Result<Option<Hash>, AuditError> {
        let mut state = self.lock();
        if index >= state.index.entries() {
            return Ok(None);
        }
        let at = state.index.entry(index)?;
        Ok(Some(leaf_hash(&state.read(at, ENTRY)?)))
    }

    /// The audit path of entry `index` in the tree of `size` entries, checked before it is served:
    /// it leads from the entry's stored bytes to the root signed for `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Option<Vec<Hash>>, AuditError> {
        let mut state = self.lock();
        let Some(proof) = merkle::inclusion_proof(&state.index, index, size).map_err(tree_error)? else { return Ok(None) };
        let root = self.checked_root(&mut state, size)?.expect("size checked by the proof");
        let at = state.index.entry(index)?;
        let leaf = leaf_hash(&state.read(at, ENTRY)?);
        if !merkle::verify_inclusion(index, size, &leaf, &proof, &root) {
            return Err(AuditError::IndexDisagrees { size });
        }
        Ok(Some(proof))
    }

    /// The consistency proof between tree sizes `first` and `second`, checked against the roots
    /// signed for both before it is served.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Option<Vec<Hash>>, AuditError> {
        let mut state = self.lock();
        let Some(proof) = merkle::consistency_proof(&state.index, first, second).map_err(tree_error)? else { return Ok(None) };
        let first_root = self.checked_root(&mut state, first)?.expect("size checked by the proof");
        let second_root = self.checked_root(&mut state, second)?.expect("size checked by the proof");
        if !merkle::verify_consistency(first, second, &first_root, &second_root, &proof) {
            return Err(AuditError::IndexDisagrees { size: second });
        }
        Ok(Some(proof))
    }

    /// The root of `size` entries from the stored tree; where a checkpoint of that size is stored
    /// (every size but a few after a crash), the signed root must be the same.
    fn checked_root(&self, state: &mut State, size: u64) -> Result<Option<Hash>, AuditError> {
        let Some(root) = merkle::root(&state.index, size).map_err(tree_error)? else { return Ok(None) };
        if size == 0 {
            return Ok(Some(root));
        }
        let candidate = state.index.first_checkpoint_above(size - 1)?;
        if candidate < state.index.checkpoints() && state.index.checkpoint(candidate)?.size == size {
            let (_, note) = state.note(candidate)?;
            let signed = self.verifier.open(&note).map_err(|_| AuditError::IndexDisagrees { size })?;
            if signed.root != root {
                return Err(AuditError::IndexDisagrees { size });
            }
        }
        Ok(Some(root))
    }

    /// The whole log as NDJSON: each entry's exact bytes on its own line, and after the entries it
    /// covers, each checkpoint as `{"checkpoint":"<signed note>"}`. `glasshouse audit verify` reads it.
    pub fn export(&self) -> Result<Vec<u8>, AuditError> {
        let end = self.size() as usize;
        self.export_part(0, end, end)
    }

    /// Entries `from..min(from + entries_max, end)` of the export, each with the checkpoints that
    /// follow it there: concatenated in order, the parts of `0..end` are the export of the log's
    /// first `end` entries. A caller streams a large log a part at a time (the lock is held for one
    /// part) and fixes `end` first, so what it streams is one size of the log.
    pub fn export_part(&self, from: usize, entries_max: usize, end: usize) -> Result<Vec<u8>, AuditError> {
        let mut state = self.lock();
        let end = (end as u64).min(state.index.entries());
        let (from, to) = (from as u64, (from as u64).saturating_add(entries_max as u64).min(end));
        let mut out = Vec::new();
        // A checkpoint of size n follows entry n - 1.
        let mut checkpoint = state.index.first_checkpoint_above(from)?;
        let checkpoints = state.index.checkpoints();
        for index in from..to {
            let at = state.index.entry(index)?;
            out.extend_from_slice(&state.read(at, ENTRY)?);
            out.push(b'\n');
            while checkpoint < checkpoints {
                if state.index.checkpoint(checkpoint)?.size > index + 1 {
                    break;
                }
                let (_, note) = state.note(checkpoint)?;
                out.extend_from_slice(serde_json::json!({ "checkpoint": note }).to_string().as_bytes());
                out.push(b'\n');
                checkpoint += 1;
            }
        }
        Ok(out)
    }
}

impl Drop for AuditLog {
    /// Seals the index on the way out, so the next open replays nothing. A failure only means the
    /// next open replays more.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if !state.stopped {
            let next_lsn = state.wal.next_lsn();
            if let Err(e) = state.index.seal(next_lsn) {
                tracing::warn!(error = %e, "audit index not sealed on close");
            }
        }
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn every_action_is_logged_with_time_component_account_role_address_event_type_and_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("log"), &dir.path().join("keys")).unwrap();
        for (i, action) in Action::ALL.iter().enumerate() {
            let over_network = i % 2 == 0;
            let event = AuditEvent {
                actor: format!("account-{i}"),
                role: "auditor".into(),
                component: if over_network { Component::Http } else { Component::System },
                address: over_network.then(|| "192.0.2.7".to_owned()),
                action: *action,
                outcome: "ok".into(),
                details: serde_json::json!({}),
            };
            log.append(event).unwrap();
        }
        let entries = log.entries(0, Action::ALL.len()).unwrap();
        assert_eq!(entries.len(), Action::ALL.len());
        for (i, bytes) in entries.iter().enumerate() {
            let entry: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            let keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
            for field in ["seq", "at", "actor", "role", "component", "address", "action", "outcome", "details"] {
                assert!(keys.contains(&field), "{field} missing from {entry}");
            }
            assert_eq!(Action::parse(entry["action"].as_str().unwrap()), Some(Action::ALL[i]));
            assert!(Timestamp::parse_rfc3339(entry["at"].as_str().unwrap()).is_some());
            let expected = if i % 2 == 0 { ("http", serde_json::json!("192.0.2.7")) } else { ("system", serde_json::Value::Null) };
            assert_eq!((entry["component"].as_str().unwrap(), entry["address"].clone()), expected);
        }
    }

    #[test]
    fn an_entry_logged_before_components_were_recorded_still_reads() {
        let old = r#"{"seq":0,"at":"2026-11-01T00:00:00Z","actor":"a","role":"auditor","action":"sql.query","outcome":"ok","details":{}}"#;
        let entry: AuditEntry = serde_json::from_str(old).unwrap();
        assert_eq!((entry.component.as_str(), entry.address), ("", None));
    }
}
