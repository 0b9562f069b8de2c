//! The offline verifier: checks an exported log against its signed checkpoints.
//!
//! Every checkpoint's signature is checked with the published key. Every entry must sit at the
//! position its `seq` names, so deletions and reorderings are named as such. The root of the first
//! `size` entries must equal each checkpoint's root (which proves every entry's inclusion), and each
//! pair of consecutive checkpoints must be consistent (the log only grew). A modified entry is
//! located between the last checkpoint that still matches and the first that does not.

use crate::merkle::{Tree, leaf_hash, verify_consistency, verify_inclusion};
use crate::note::{Checkpoint, NoteVerifier};
use std::collections::BTreeSet;

/// One thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A line is neither an entry nor a checkpoint.
    Unreadable {
        /// 1-based line number.
        line: usize,
    },
    /// A checkpoint whose signature does not verify.
    BadSignature {
        /// 1-based line number.
        line: usize,
    },
    /// Entries missing from the sequence.
    Deleted {
        /// The missing sequence numbers.
        seqs: Vec<u64>,
    },
    /// Entries present but out of place.
    Reordered {
        /// The sequence numbers found at the wrong position.
        seqs: Vec<u64>,
    },
    /// A checkpoint covers more entries than the log holds.
    Truncated {
        /// The checkpoint's size.
        checkpoint_size: u64,
        /// Entries present.
        entries: u64,
    },
    /// Entry content differs from what a checkpoint signed.
    Modified {
        /// The first entry that can have changed.
        from_seq: u64,
        /// The last entry that can have changed.
        to_seq: u64,
    },
    /// Two checkpoints that are not consistent: the log was rewritten between them.
    Inconsistent {
        /// The earlier size.
        first: u64,
        /// The later size.
        second: u64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unreadable { line } => write!(f, "line {line} is neither an entry nor a checkpoint"),
            Problem::BadSignature { line: 0 } => {
                write!(f, "a checkpoint given apart from the export has no valid signature by the log's key")
            }
            Problem::BadSignature { line } => write!(f, "the checkpoint on line {line} has no valid signature by the log's key"),
            Problem::Deleted { seqs } => write!(f, "entries deleted: {}", list(seqs)),
            Problem::Reordered { seqs } => write!(f, "entries out of order (swapped or moved): {}", list(seqs)),
            Problem::Truncated { checkpoint_size, entries } => {
                write!(f, "log truncated: a signed checkpoint covers {checkpoint_size} entries but only {entries} are present")
            }
            Problem::Modified { from_seq, to_seq } if from_seq == to_seq => write!(f, "entry {from_seq} was modified after it was signed"),
            Problem::Modified { from_seq, to_seq } => {
                write!(f, "an entry between {from_seq} and {to_seq} was modified after it was signed")
            }
            Problem::Inconsistent { first, second } => {
                write!(f, "checkpoints {first} and {second} are not consistent: history was rewritten")
            }
        }
    }
}

fn list(seqs: &[u64]) -> String {
    seqs.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// What the verifier found.
#[derive(Debug, Default)]
pub struct Report {
    /// Entries read.
    pub entries: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints: usize,
    /// Inclusion proofs checked (one per entry, against the newest checkpoint covering it).
    pub inclusions_checked: u64,
    /// Consistency proofs checked between consecutive checkpoints.
    pub consistencies_checked: usize,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
    /// The newest valid checkpoint.
    pub latest: Option<Checkpoint>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(serde::Deserialize)]
struct CheckpointLine {
    checkpoint: String,
}

#[derive(serde::Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// Verifies an export (the NDJSON of `AuditLog::export`) against the log's verifier key.
///
/// `known` are signed checkpoints obtained apart from the export (saved earlier, or fetched from the
/// live server or a witness). They catch a truncation that also removed the checkpoints in the file.
pub fn verify_export(export: &[u8], verifier: &NoteVerifier, known: &[String]) -> Report {
    let mut report = Report::default();
    let mut leaves = Vec::new();
    let mut seqs = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    for (index, line) in export.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Ok(c) = serde_json::from_slice::<CheckpointLine>(line) {
            match verifier.open(&c.checkpoint) {
                Ok(checkpoint) => checkpoints.push(checkpoint),
                Err(_) => report.problems.push(Problem::BadSignature { line: index + 1 }),
            }
        } else if let Ok(entry) = serde_json::from_slice::<SeqOnly>(line) {
            leaves.push(leaf_hash(line));
            seqs.push(entry.seq);
        } else {
            // A damaged entry still occupies its place in the tree: hash it as it stands so the
            // checkpoints catch it, and name the line.
            leaves.push(leaf_hash(line));
            seqs.push(u64::MAX);
            report.problems.push(Problem::Unreadable { line: index + 1 });
        }
    }
    for note in known {
        match verifier.open(note) {
            Ok(checkpoint) => checkpoints.push(checkpoint),
            Err(_) => report.problems.push(Problem::BadSignature { line: 0 }),
        }
    }
    checkpoints.sort_by_key(|c| c.size);
    report.entries = leaves.len() as u64;
    report.checkpoints = checkpoints.len();

    // Positions: a gap below the highest seq is a deletion (a missing tail shows up as truncation
    // against the checkpoints); with no gap, a seq away from its position is a reordering.
    let present: BTreeSet<u64> = seqs.iter().copied().filter(|s| *s != u64::MAX).collect();
    let deleted: Vec<u64> = match present.iter().next_back() {
        // Bounded by the entry count, so a forged huge seq cannot make the verifier loop.
        Some(&highest) => (0..highest.min(seqs.len() as u64 + 1)).filter(|s| !present.contains(s)).collect(),
        None => Vec::new(),
    };
    if !deleted.is_empty() {
        report.problems.push(Problem::Deleted { seqs: deleted });
    } else {
        let misplaced: Vec<u64> = seqs.iter().enumerate().filter(|(i, s)| **s != u64::MAX && **s != *i as u64).map(|(_, s)| *s).collect();
        if !misplaced.is_empty() {
            report.problems.push(Problem::Reordered { seqs: misplaced });
        }
    }
    let explained = !report.problems.is_empty();
    let deleted_count = report.problems.iter().map(|p| if let Problem::Deleted { seqs } = p { seqs.len() as u64 } else { 0 }).sum::<u64>();

    let mut tree = Tree::new();
    for leaf in &leaves {
        tree.push(*leaf);
    }
    // Roots: each checkpoint against the entries as they stand.
    let mut last_good: u64 = 0;
    let mut modified_reported = false;
    for checkpoint in &checkpoints {
        if checkpoint.size > tree.size() {
            // Entries deleted from the middle already account for part of the shortfall.
            if checkpoint.size > tree.size() + deleted_count {
                report.problems.push(Problem::Truncated { checkpoint_size: checkpoint.size, entries: tree.size() });
            }
            break;
        }
        if tree.root(checkpoint.size) == checkpoint.root {
            last_good = checkpoint.size;
            report.latest = Some(checkpoint.clone());
        } else if !modified_reported {
            // A deletion or reordering already explains a root mismatch; otherwise content changed.
            modified_reported = true;
            if !explained {
                report.problems.push(Problem::Modified { from_seq: last_good, to_seq: checkpoint.size - 1 });
            }
        }
    }
    // Inclusion of every entry in the newest good checkpoint, and consistency between good ones.
    if let Some(latest) = report.latest.clone() {
        for index in 0..latest.size {
            let proof = tree.inclusion_proof(index, latest.size).expect("index within size");
            if verify_inclusion(index, latest.size, &leaves[index as usize], &proof, &latest.root) {
                report.inclusions_checked += 1;
            }
        }
    }
    let good: Vec<&Checkpoint> = checkpoints.iter().filter(|c| c.size <= tree.size() && tree.root(c.size) == c.root).collect();
    for pair in good.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.size == 0 || a.size > b.size {
            continue;
        }
        let proof = tree.consistency_proof(a.size, b.size).expect("sizes within tree");
        if verify_consistency(a.size, b.size, &a.root, &b.root, &proof) {
            report.consistencies_checked += 1;
        } else {
            report.problems.push(Problem::Inconsistent { first: a.size, second: b.size });
        }
    }
    report
}

/// A checkpoint the log signed and independent witnesses cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The witnesses whose cosignatures on it verify.
    pub witnesses: Vec<String>,
}

/// Why a checkpoint is not witnessed enough: how many valid cosignatures it has, and the words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Shortfall {
    /// Valid cosignatures found (0 when the note is not the log's).
    pub found: usize,
    /// What is missing.
    pub reason: String,
}

/// Checks that `note` is the log's signed checkpoint and carries valid cosignatures from at least
/// `required` of `witnesses`. The refusal names what is missing.
pub fn check_witnessed(
    note: &str,
    log: &NoteVerifier,
    witnesses: &[crate::cosignature::CosignatureVerifier],
    required: usize,
) -> Result<Witnessed, Shortfall> {
    let shortfall = |found, reason: String| Shortfall { found, reason };
    let checkpoint = log.open(note).map_err(|e| shortfall(0, format!("not the log's signed checkpoint: {e}")))?;
    let (body, lines) = crate::note::split_note(note).map_err(|e| shortfall(0, e.to_string()))?;
    let cosigned: Vec<String> = witnesses.iter().filter(|w| w.verify(&body, &lines).is_some()).map(|w| w.name().to_owned()).collect();
    if cosigned.len() < required {
        let named = if cosigned.is_empty() { String::new() } else { format!(" ({})", cosigned.join(", ")) };
        let reason = format!(
            "checkpoint of size {} carries {} of the {required} witness cosignatures required{named}",
            checkpoint.size,
            cosigned.len()
        );
        return Err(shortfall(cosigned.len(), reason));
    }
    Ok(Witnessed { checkpoint, witnesses: cosigned })
}

#[cfg(test)]
mod witnessed_tests {
    use super::*;
    use crate::cosignature::{CosignatureVerifier, Cosigner};
    use crate::note::NoteSigner;

    #[test]
    fn k_of_n_witnesses_are_required_and_a_bare_or_forged_checkpoint_is_rejected() {
        let log = NoteSigner::new("glasshouse.test/audit", &[7u8; 32]);
        let checkpoint = Checkpoint { origin: "glasshouse.test/audit".into(), size: 5, root: [1u8; 32] };
        let note = log.sign(&checkpoint);
        let (w1, w2, w3) =
            (Cosigner::new("w.test/1", &[1u8; 32]), Cosigner::new("w.test/2", &[2u8; 32]), Cosigner::new("w.test/3", &[3u8; 32]));
        let keys: Vec<CosignatureVerifier> =
            [&w1, &w2, &w3].iter().map(|w| CosignatureVerifier::parse(&w.verifier_key()).unwrap()).collect();
        let body = checkpoint.body();
        let cosigned = format!("{note}{}{}", w1.cosign(&body, 10), w3.cosign(&body, 11));
        let log_key = NoteVerifier::parse(&log.verifier_key()).unwrap();
        assert_eq!(check_witnessed(&cosigned, &log_key, &keys, 2).unwrap().witnesses, ["w.test/1", "w.test/3"]);
        assert!(check_witnessed(&cosigned, &log_key, &keys, 3).unwrap_err().reason.contains("2 of the 3"));
        assert!(
            check_witnessed(&note, &log_key, &keys, 1).unwrap_err().reason.contains("0 of the 1"),
            "a checkpoint without its cosignatures"
        );
        // A cosignature of another checkpoint, pasted under this one, does not count.
        let other = Checkpoint { size: 6, ..checkpoint.clone() }.body();
        let pasted = format!("{note}{}", w2.cosign(&other, 12));
        assert!(check_witnessed(&pasted, &log_key, &keys, 1).is_err());
    }
}
