//! Retention windows change only with two people, and the purge leaves its receipt first.

mod common;

use common::{app, entries, read};
use glasshouse_app::{Actor, ErrorKind};
use glasshouse_model::{Kind, Timestamp};
use std::collections::BTreeMap;

fn days(plate_read: u32) -> BTreeMap<String, u32> {
    [("plate_read".to_owned(), plate_read)].into_iter().collect()
}

#[test]
fn a_window_changes_only_when_a_second_person_approves_and_is_then_written_durably() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let (cara, sam) = (Actor::new("cara", "custodian"), Actor::new("sam", "supervisor"));
    let retention = f.app.retention();
    let short = retention.propose_change(&cara, days(14), "shorter".into(), Timestamp::now()).unwrap_err();
    assert_eq!(short.field.as_deref(), Some("reason"));
    let bad = retention.propose_change(&cara, days(0), "council resolution shortens plate retention".into(), Timestamp::now()).unwrap_err();
    assert_eq!(bad.field.as_deref(), Some("days"));
    let change = retention.propose_change(&cara, days(14), "council resolution shortens plate retention".into(), Timestamp::now()).unwrap();
    let own = retention.decide_change(&cara, &change.id, true, Timestamp::now()).unwrap_err();
    assert_eq!((own.kind, own.field.as_deref()), (ErrorKind::Forbidden, Some("approve")));
    assert_eq!(f.app.retention.current().days(Kind::PlateRead), 30, "nothing applied yet");
    retention.decide_change(&sam, &change.id, true, Timestamp::now()).unwrap();
    assert_eq!(f.app.retention.current().days(Kind::PlateRead), 14);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("retention.json")).unwrap()).unwrap();
    assert_eq!(written["days"]["plate_read"], 14);
    let actions: Vec<String> = entries(&f.app).iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["retention.change.propose", "retention.change.approve"]);
}

#[test]
fn the_purge_deletes_expired_reads_after_logging_its_receipt_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    f.app.store.insert([(1, read("old-1", "GONE11", now.plus_secs(-40 * 86_400))), (2, read("new-1", "KEPT22", now.plus_secs(-86_400)))]);
    f.app.store.flush().unwrap();
    let receipts = f.app.retention().purge_expired(&Actor::new("system:retention", "custodian"), now).unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!((receipts[0]["kind"].as_str(), receipts[0]["count"].as_u64()), (Some("plate_read"), Some(1)));
    let logged = &entries(&f.app)[receipts[0]["audit_seq"].as_u64().unwrap() as usize];
    assert_eq!(logged["action"], "retention.purge");
    assert_eq!(logged["details"]["ids_sha256"], receipts[0]["ids_sha256"]);
    let mut left = Vec::new();
    f.app.store.for_each_stored(|o| left.push(o.id.clone())).unwrap();
    assert_eq!(left, ["new-1"]);
}
