//! Reads of the audit log, themselves logged: one `audit.read` entry per account per hour.
//!
//! CJIS asks that reading the audit log is logged too. One entry per page or proof would let an
//! auditor's script flood the log it reads, so reads are counted per account and hour in memory and
//! logged once the hour is over (and whatever is counted when the server stops). A count that cannot
//! be logged is kept and tried again.

use crate::{Action, Actor, App};
use glasshouse_model::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditRead {
    /// A page of entries, with how many it returned.
    Entries(u64),
    /// An inclusion proof.
    InclusionProof,
    /// A consistency proof.
    ConsistencyProof,
    /// The whole log, exported.
    Export,
}

/// One account's reads in one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    entry_pages: u64,
    entries_returned: u64,
    inclusion_proofs: u64,
    consistency_proofs: u64,
    exports: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.entry_pages += other.entry_pages;
        self.entries_returned += other.entries_returned;
        self.inclusion_proofs += other.inclusion_proofs;
        self.consistency_proofs += other.consistency_proofs;
        self.exports += other.exports;
    }
}

/// Whose reads, in which hour (the entry names the latest address they came from).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reader {
    hour: i64,
    name: String,
    role: String,
}

/// Reads counted and not yet logged.
#[derive(Default)]
pub struct AuditReads {
    pending: Mutex<BTreeMap<Reader, (Counts, Actor)>>,
}

const HOUR_MICROS: i64 = 3_600_000_000;

impl AuditReads {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Reader, (Counts, Actor)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl App {
    /// Counts a read of the audit log by `actor` at `now`, logging earlier hours' counts first.
    pub fn note_audit_read(&self, actor: &Actor, read: AuditRead, now: Timestamp) {
        let reader = Reader { hour: now.0.div_euclid(HOUR_MICROS), name: actor.name.clone(), role: actor.role.clone() };
        {
            let mut pending = self.audit_reads.lock();
            let (counts, latest) = pending.entry(reader).or_insert_with(|| (Counts::default(), actor.clone()));
            *latest = actor.clone();
            match read {
                AuditRead::Entries(returned) => {
                    counts.entry_pages += 1;
                    counts.entries_returned += returned;
                }
                AuditRead::InclusionProof => counts.inclusion_proofs += 1,
                AuditRead::ConsistencyProof => counts.consistency_proofs += 1,
                AuditRead::Export => counts.exports += 1,
            }
        }
        self.log_audit_reads(now, false);
    }

    /// Logs the counts of hours that are over at `now`, or all of them when `everything` (at
    /// shutdown). Counts that cannot be logged are kept for the next try.
    pub fn log_audit_reads(&self, now: Timestamp, everything: bool) {
        let hour = now.0.div_euclid(HOUR_MICROS);
        let due: Vec<(Reader, (Counts, Actor))> = {
            let mut pending = self.audit_reads.lock();
            let keys: Vec<Reader> = pending.keys().filter(|r| everything || r.hour < hour).cloned().collect();
            keys.into_iter().filter_map(|k| pending.remove_entry(&k)).collect()
        };
        for (reader, (counts, actor)) in due {
            let details = json!({
                "hour_from": Timestamp(reader.hour * HOUR_MICROS),
                "hour_to": Timestamp((reader.hour + 1) * HOUR_MICROS),
                "entry_pages": counts.entry_pages,
                "entries_returned": counts.entries_returned,
                "inclusion_proofs": counts.inclusion_proofs,
                "consistency_proofs": counts.consistency_proofs,
                "exports": counts.exports,
            });
            if self.record(&actor, Action::AuditRead, "ok", details).is_err() {
                let mut pending = self.audit_reads.lock();
                let kept = pending.entry(reader).or_insert_with(|| (Counts::default(), actor));
                kept.0.add(&counts);
            }
        }
    }
}
