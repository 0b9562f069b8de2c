//! The audit log end to end: append, persist, export, and the verifier naming each tampering.

use glasshouse_audit::note::NoteVerifier;
use glasshouse_audit::verify::{Problem, verify_export};
use glasshouse_audit::{AuditEvent, AuditLog};
use serde_json::json;

const ENTRIES: u64 = 20;

fn log_with_entries() -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&dir.path().join("log"), &dir.path().join("keys")).unwrap();
    for i in 0..ENTRIES {
        let plate = log.keyed("plate", &format!("ABC{i:03}"));
        let receipt = log
            .append(AuditEvent {
                actor: format!("user{i}"),
                role: "investigator".into(),
                component: glasshouse_audit::Component::System,
                address: None,
                action: glasshouse_audit::Action::SearchPlates,
                outcome: "ok".into(),
                details: json!({ "plate": plate, "results": i }),
            })
            .unwrap();
        assert_eq!(receipt.seq(), i);
    }
    (dir, log)
}

fn lines(export: &[u8]) -> Vec<String> {
    String::from_utf8(export.to_vec()).unwrap().lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn entry_line(lines: &[String], seq: u64) -> usize {
    lines.iter().position(|l| l.starts_with(&format!("{{\"seq\":{seq},"))).unwrap()
}

fn verify(log: &AuditLog, export: &[u8], known: &[String]) -> Vec<Problem> {
    let verifier = NoteVerifier::parse(&log.verifier_key()).unwrap();
    verify_export(export, &verifier, known).problems
}

#[test]
fn an_honest_log_verifies_and_survives_reopening() {
    let (dir, log) = log_with_entries();
    let export = log.export().unwrap();
    let verifier = NoteVerifier::parse(&log.verifier_key()).unwrap();
    let report = verify_export(&export, &verifier, &[]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.entries, report.checkpoints as u64, report.inclusions_checked), (ENTRIES, ENTRIES, ENTRIES));
    assert_eq!(report.consistencies_checked as u64, ENTRIES - 1);
    let text = String::from_utf8(export.clone()).unwrap();
    assert!(!text.contains("ABC0"), "plates appear only as keyed hashes");
    let (size, note) = log.checkpoint();
    drop(log);
    let reopened = AuditLog::open(&dir.path().join("log"), &dir.path().join("keys")).unwrap();
    assert_eq!(reopened.checkpoint(), (size, note));
    assert_eq!(reopened.export().unwrap(), export);
    assert_eq!(
        reopened
            .append(AuditEvent {
                actor: "a".into(),
                role: "auditor".into(),
                component: glasshouse_audit::Component::System,
                address: None,
                action: glasshouse_audit::Action::DeviceUpsert,
                outcome: "ok".into(),
                details: json!({})
            })
            .unwrap()
            .seq(),
        ENTRIES
    );
}

#[test]
fn a_changed_byte_is_named_with_its_entry() {
    let (_dir, log) = log_with_entries();
    let mut lines = lines(&log.export().unwrap());
    let at = entry_line(&lines, 7);
    lines[at] = lines[at].replacen("user7", "user8", 1);
    assert_eq!(verify(&log, &join(&lines), &[]), vec![Problem::Modified { from_seq: 7, to_seq: 7 }]);
}

#[test]
fn a_deleted_entry_is_named() {
    let (_dir, log) = log_with_entries();
    let mut lines = lines(&log.export().unwrap());
    lines.remove(entry_line(&lines, 5));
    assert_eq!(verify(&log, &join(&lines), &[]), vec![Problem::Deleted { seqs: vec![5] }]);
}

#[test]
fn swapped_entries_are_named() {
    let (_dir, log) = log_with_entries();
    let mut lines = lines(&log.export().unwrap());
    let (a, b) = (entry_line(&lines, 3), entry_line(&lines, 4));
    lines.swap(a, b);
    assert_eq!(verify(&log, &join(&lines), &[]), vec![Problem::Reordered { seqs: vec![4, 3] }]);
}

#[test]
fn a_truncated_tail_is_named_against_a_checkpoint_kept_apart() {
    let (_dir, log) = log_with_entries();
    let (_, latest) = log.checkpoint();
    let lines = lines(&log.export().unwrap());
    // Drop the last three entries and the checkpoints that cover them: the file alone looks whole.
    let cut = entry_line(&lines, ENTRIES - 3);
    let truncated = join(&lines[..cut]);
    assert!(verify(&log, &truncated, &[]).is_empty());
    assert_eq!(verify(&log, &truncated, &[latest]), vec![Problem::Truncated { checkpoint_size: ENTRIES, entries: ENTRIES - 3 }]);
}

#[test]
fn a_forged_checkpoint_is_named() {
    let (_dir, log) = log_with_entries();
    let mut lines = lines(&log.export().unwrap());
    let last = lines.len() - 1;
    lines[last] = lines[last].replacen(&format!("\\n{ENTRIES}\\n"), &format!("\\n{}\\n", ENTRIES + 1), 1);
    assert_eq!(verify(&log, &join(&lines), &[]), vec![Problem::BadSignature { line: last + 1 }]);
}

#[test]
fn the_export_streamed_in_parts_is_the_export_of_one_size_of_the_log() {
    let (_dir, log) = log_with_entries();
    let whole = log.export().unwrap();
    let end = log.size() as usize;
    for part in [1, 2, 3, 7, 19, 20, 64] {
        let mut streamed = Vec::new();
        let mut from = 0;
        while from < end {
            streamed.extend(log.export_part(from, part, end).unwrap());
            from += part;
        }
        assert_eq!(streamed, whole, "parts of {part} entries");
    }
    // An entry appended while a stream is under way is not in it: the stream is of the size it began at.
    log.append(AuditEvent {
        actor: "late".into(),
        role: "auditor".into(),
        component: glasshouse_audit::Component::System,
        address: None,
        action: glasshouse_audit::Action::SearchPlates,
        outcome: "ok".into(),
        details: json!({}),
    })
    .unwrap();
    assert_eq!(log.export_part(end - 1, 10, end).unwrap(), log.export_part(end - 1, 1, end).unwrap());
    assert!(log.export_part(0, 100, end + 1).unwrap().len() > whole.len(), "the next size has one more entry and checkpoint");
}
