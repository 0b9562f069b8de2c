//! What oversight reads: the audit log (its signed checkpoint, entries, proofs and export), the
//! system's counts, and the logging of analysts' SQL, which both SQL interfaces (HTTP and the
//! Postgres listener) share.

use crate::audit_reads::AuditRead;
use crate::{Action, Actor, App, AppError};
use glasshouse_audit::merkle::leaf_hash;
use glasshouse_model::Timestamp;
use serde_json::{Value, json};

/// Most audit entries one page returns.
pub const ENTRIES_PAGE_MAX: usize = 1_000;

fn b64(hash: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hash)
}

impl App {
    /// The newest signed checkpoint and the key to check it with.
    pub fn audit_checkpoint(&self) -> Value {
        let (size, note) = self.audit.checkpoint();
        json!({
            "size": size,
            "note": note,
            "verifier_key": self.audit.verifier_key(),
            "cosigned": self.witnessing.cosigned(),
            "witnesses": self.witnessing.statuses(),
        })
    }

    /// The origin line of the log's checkpoints: the deployment's name for outside systems.
    pub fn origin(&self) -> String {
        let (_, note) = self.audit.checkpoint();
        note.lines().next().unwrap_or("glasshouse").to_owned()
    }

    /// Up to `limit` entries from `from`, with their exact text (a leaf is the hash of that text).
    pub fn audit_entries(&self, actor: &Actor, from: u64, limit: usize) -> Result<Value, AppError> {
        let limit = limit.clamp(1, ENTRIES_PAGE_MAX);
        let list: Vec<Value> = self
            .audit
            .entries(from, limit)
            .map_err(AppError::internal)?
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                json!({ "seq": from + i as u64, "leaf_hash": b64(&leaf_hash(&bytes)), "entry": text })
            })
            .collect();
        self.note_audit_read(actor, AuditRead::Entries(list.len() as u64), Timestamp::now());
        Ok(json!({ "size": self.audit.size(), "entries": list }))
    }

    /// The audit path of entry `index` in the tree of `size` entries (the log's size by default).
    pub fn inclusion_proof(&self, actor: &Actor, index: u64, size: Option<u64>) -> Result<Value, AppError> {
        self.note_audit_read(actor, AuditRead::InclusionProof, Timestamp::now());
        let size = size.unwrap_or_else(|| self.audit.size());
        let proof = self
            .audit
            .inclusion_proof(index, size)
            .map_err(AppError::internal)?
            .ok_or_else(|| AppError::invalid("index", "index must be below size, and size at most the log's size"))?;
        let leaf = self.audit.leaf(index).map_err(AppError::internal)?.expect("index checked by the proof");
        let root = self.audit.root(size).map_err(AppError::internal)?.expect("size checked by the proof");
        Ok(json!({
            "index": index,
            "size": size,
            "leaf_hash": b64(&leaf),
            "root": b64(&root),
            "proof": proof.iter().map(b64).collect::<Vec<_>>(),
        }))
    }

    /// Proof that the log of `first` entries is a prefix of the log of `second` (its size by default).
    pub fn consistency_proof(&self, actor: &Actor, first: u64, second: Option<u64>) -> Result<Value, AppError> {
        self.note_audit_read(actor, AuditRead::ConsistencyProof, Timestamp::now());
        let second = second.unwrap_or_else(|| self.audit.size());
        let proof = self
            .audit
            .consistency_proof(first, second)
            .map_err(AppError::internal)?
            .ok_or_else(|| AppError::invalid("first", "need 0 < first <= second <= the log's size"))?;
        let first_root = self.audit.root(first).map_err(AppError::internal)?.expect("checked by the proof");
        let second_root = self.audit.root(second).map_err(AppError::internal)?.expect("checked by the proof");
        Ok(json!({
            "first": first,
            "second": second,
            "first_root": b64(&first_root),
            "second_root": b64(&second_root),
            "proof": proof.iter().map(b64).collect::<Vec<_>>(),
        }))
    }

    /// Starts an export for `actor` (counted as one read): the log's size now, which the export
    /// streamed in parts is of.
    pub fn audit_export_start(&self, actor: &Actor) -> usize {
        self.note_audit_read(actor, AuditRead::Export, Timestamp::now());
        self.audit.size() as usize
    }

    /// Entries `from..from + entries_max` (below `end`) of the export, with their checkpoints.
    pub fn audit_export_part(&self, from: usize, entries_max: usize, end: usize) -> Result<Vec<u8>, AppError> {
        self.audit.export_part(from, entries_max, end).map_err(AppError::internal)
    }

    /// Counts only, nothing personal: devices, lists, alerts, storage, and each source's ingest totals.
    pub fn status(&self) -> Value {
        let (segments, stored_rows, stored_bytes) = self.store.stats();
        let hotlists = self.engine.read().unwrap_or_else(|p| p.into_inner()).hotlists.lists().len();
        json!({
            "devices": self.devices().len(),
            "hotlists": hotlists,
            "alerts": self.alerts.len(),
            "segments": segments,
            "stored_observations": stored_rows,
            "stored_bytes": stored_bytes,
            "hot_window_observations": self.store.hot_len(),
            "flushed_lsn": self.store.flushed_lsn(),
            "ingest_sources": self.ingest.counters(),
        })
    }

    /// Logs an analyst's SQL query before it runs: the text only as a keyed hash, with the tables it
    /// reads and the interface it came through (`http` or `postgres`). Returns the entry's position.
    pub fn log_sql(&self, actor: &Actor, sql: &str, tables: &[String], via: &str) -> Result<u64, AppError> {
        let mut details = json!({ "sql": self.audit.keyed("text", sql), "tables": tables });
        if via != "http" {
            details["via"] = json!(via);
        }
        self.record(actor, Action::SqlQuery, "ok", details).map(|r| r.seq())
    }
}
