//! The log kept on disk: after a clean restart, a crash, a lost index or a damaged one, its roots,
//! proofs, export and verifier's verdict are what they were before.

use glasshouse_audit::index::SEAL_EVERY_ENTRIES;
use glasshouse_audit::merkle::Hash;
use glasshouse_audit::note::NoteVerifier;
use glasshouse_audit::verify::verify_export;
use glasshouse_audit::{AuditError, AuditEvent, AuditLog};
use serde_json::json;
use std::path::Path;

/// Past one seal, so a crash leaves an unsealed tail to replay.
const ENTRIES: u64 = SEAL_EVERY_ENTRIES + 150;

fn open(dir: &Path) -> AuditLog {
    AuditLog::open(&dir.join("log"), &dir.join("keys")).unwrap()
}

fn append(log: &AuditLog, i: u64) {
    let receipt = log
        .append(AuditEvent {
            actor: format!("user{}", i % 7),
            role: "investigator".into(),
            component: glasshouse_audit::Component::System,
            address: None,
            action: glasshouse_audit::Action::SearchPlates,
            outcome: "ok".into(),
            details: json!({ "plate": log.keyed("plate", &format!("P{i}")), "results": i }),
        })
        .unwrap();
    assert_eq!(receipt.seq(), i);
}

/// Everything the log answers about itself, at sizes and indexes spread over the whole log.
#[derive(Debug, PartialEq)]
struct Answers {
    size: u64,
    checkpoint: (u64, String),
    roots: Vec<Option<Hash>>,
    inclusions: Vec<Option<Vec<Hash>>>,
    consistencies: Vec<Option<Vec<Hash>>>,
    entries: Vec<Vec<u8>>,
    export: Vec<u8>,
}

fn answers(log: &AuditLog) -> Answers {
    let size = log.size();
    let sizes = [0, 1, 2, 3, 1_000, 1_024, SEAL_EVERY_ENTRIES - 1, SEAL_EVERY_ENTRIES, SEAL_EVERY_ENTRIES + 1, size - 1, size, size + 1];
    let indexes = [0, 1, 511, 1_000, SEAL_EVERY_ENTRIES, size - 1, size];
    let export = log.export().unwrap();
    let verifier = NoteVerifier::parse(&log.verifier_key()).unwrap();
    let report = verify_export(&export, &verifier, &[log.checkpoint().1]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.entries, size);
    Answers {
        size,
        checkpoint: log.checkpoint(),
        roots: sizes.iter().map(|&s| log.root(s).unwrap()).collect(),
        inclusions: indexes
            .iter()
            .flat_map(|&i| sizes.iter().map(move |&s| (i, s)))
            .map(|(i, s)| log.inclusion_proof(i, s).unwrap())
            .collect(),
        consistencies: sizes.iter().map(|&s| log.consistency_proof(s, size).unwrap()).collect(),
        entries: log.entries(size - 300, 1_000).unwrap(),
        export,
    }
}

fn copy(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp").arg("-a").arg(from.join("log")).arg(from.join("keys")).arg(to.path()).status().unwrap();
    assert!(status.success());
    to
}

/// One log filled once (each append is an fsync, so it is not cheap) and left as a crash leaves it;
/// each case runs on a copy of it.
#[test]
fn restarts_crashes_and_lost_or_damaged_indexes_leave_every_answer_unchanged() {
    let crashed = tempfile::tempdir().unwrap();
    let log = open(crashed.path());
    for i in 0..ENTRIES {
        append(&log, i);
    }
    let before = answers(&log);
    assert!(before.inclusions.iter().filter(|p| p.is_some()).count() > 30);
    // No close: the index is as a crash leaves it, written past its last seal but not sealed there.
    std::mem::forget(log);

    // After a crash only the unsealed tail is replayed.
    let dir = copy(crashed.path());
    let log = open(dir.path());
    assert_eq!(log.replayed_on_open(), 2 * (ENTRIES - SEAL_EVERY_ENTRIES), "each entry and its checkpoint after the seal");
    assert_eq!(answers(&log), before);
    drop(log);

    // A clean restart reads no history, and the log goes on from where it was.
    let log = open(dir.path());
    assert_eq!(log.replayed_on_open(), 0, "closing sealed the index");
    assert_eq!(answers(&log), before);
    append(&log, ENTRIES);
    let proof = log.consistency_proof(ENTRIES, ENTRIES + 1).unwrap().unwrap();
    let (old, new) = (log.root(ENTRIES).unwrap().unwrap(), log.root(ENTRIES + 1).unwrap().unwrap());
    assert_eq!(Some(old), before.roots[before.roots.len() - 2]);
    assert!(glasshouse_audit::merkle::verify_consistency(ENTRIES, ENTRIES + 1, &old, &new, &proof));
    assert_eq!(log.checkpoint().0, ENTRIES + 1);
    drop(log);

    // A lost index is rebuilt from the log.
    let dir = copy(crashed.path());
    std::fs::remove_dir_all(dir.path().join("log/index")).unwrap();
    let log = open(dir.path());
    assert_eq!(log.replayed_on_open(), 2 * ENTRIES);
    assert_eq!(answers(&log), before);
    drop(log);

    // A damaged leaf hash inside the tree (opening checks only the right edge) is refused when a
    // root or proof would use it, never served.
    let dir = copy(crashed.path());
    let leaves = dir.path().join("log/index/level-00.hash");
    let mut bytes = std::fs::read(&leaves).unwrap();
    bytes[1_000 * 32 + 5] ^= 0x40;
    std::fs::write(&leaves, &bytes).unwrap();
    let log = open(dir.path());
    let refused = log.inclusion_proof(1_001, ENTRIES).expect_err("a proof through a damaged leaf is refused");
    assert!(matches!(refused, AuditError::IndexDisagrees { size: ENTRIES }), "{refused}");
    assert!(matches!(log.root(1_001), Err(AuditError::IndexDisagrees { size: 1_001 })));
    drop(log);

    // A damaged hash on the sealed tree's right edge (here its one perfect subtree) fails the
    // sealed root at open, and the index is rebuilt.
    let dir = copy(crashed.path());
    let edge = dir.path().join(format!("log/index/level-{:02}.hash", SEAL_EVERY_ENTRIES.trailing_zeros()));
    let mut bytes = std::fs::read(&edge).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&edge, &bytes).unwrap();
    let log = open(dir.path());
    assert_eq!(log.replayed_on_open(), 2 * ENTRIES, "rebuilt");
    assert_eq!(answers(&log), before);
}
