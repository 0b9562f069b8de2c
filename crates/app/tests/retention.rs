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

fn hold(now: Timestamp) -> glasshouse_audit::holds::Hold {
    use glasshouse_audit::holds::{Authority, Hold, HoldScope, HoldStatus};
    Hold {
        id: "hold-1".into(),
        case_number: "HPD-77-0042".into(),
        authority: Authority::Warrant,
        authority_reference: "W-1".into(),
        scope: HoldScope { plates: vec!["ABC123".into()], devices: vec![], from: now.plus_secs(-60 * 86_400), to: now },
        expires_at: now.plus_secs(90 * 86_400),
        proposed_by: "cara".into(),
        proposed_at: now,
        status: HoldStatus::Proposed,
        decided_by: None,
        decided_at: None,
        released_by: None,
        released_at: None,
    }
}

#[test]
fn a_hold_is_in_force_only_once_someone_else_approves_it_and_its_plates_are_logged_keyed() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    let (cara, sam) = (Actor::new("cara", "custodian"), Actor::new("sam", "supervisor"));
    let retention = f.app.retention();
    retention.propose_hold(&cara, hold(now)).unwrap();
    assert_eq!(retention.decide_hold(&cara, "hold-1", true, now).unwrap_err().kind, ErrorKind::Forbidden);
    assert!(f.app.holds.in_force(now).is_empty());
    retention.decide_hold(&sam, "hold-1", true, now).unwrap();
    assert_eq!(f.app.holds.in_force(now).len(), 1);
    assert_eq!(retention.decide_hold(&sam, "hold-1", true, now).unwrap_err().kind, ErrorKind::Conflict);
    retention.release_hold(&sam, "hold-1", now).unwrap();
    assert!(f.app.holds.in_force(now).is_empty());
    let log = entries(&f.app);
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["hold.propose", "hold.approve", "hold.release"]);
    assert!(!log[0].to_string().contains("ABC123"), "plates only as keyed hashes: {}", log[0]);
}

#[test]
fn an_expired_read_under_a_hold_in_force_is_kept_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    f.app
        .store
        .insert([(1, read("old-1", "ABC123", now.plus_secs(-40 * 86_400))), (2, read("old-2", "GONE22", now.plus_secs(-40 * 86_400)))]);
    f.app.store.flush().unwrap();
    let retention = f.app.retention();
    retention.propose_hold(&Actor::new("cara", "custodian"), hold(now)).unwrap();
    retention.decide_hold(&Actor::new("sam", "supervisor"), "hold-1", true, now).unwrap();
    let receipts = retention.purge_expired(&Actor::new("system:retention", "custodian"), now).unwrap();
    assert_eq!((receipts[0]["count"].as_u64(), receipts[0]["kept_for_holds"].as_u64()), (Some(1), Some(1)));
    assert_eq!(receipts[0]["holds_in_force"], serde_json::json!(["hold-1"]));
    let mut left = Vec::new();
    f.app.store.for_each_stored(|o| left.push(o.id.clone())).unwrap();
    assert_eq!(left, ["old-1"]);
}

#[test]
fn a_purged_read_takes_its_images_with_it_and_the_receipt_counts_them() {
    use base64::Engine;
    use glasshouse_model::image::StoredImages;
    use glasshouse_model::{Device, DeviceType};
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let admin = Actor::new("admin", "administrator");
    f.app.upsert_device(&admin, Device::fixed("openalpr:9", DeviceType::PlateReader, 60.1, 24.9), Timestamp::now()).unwrap();
    let jpeg = |tag: &[u8]| base64::engine::general_purpose::STANDARD.encode([&[0xff, 0xd8, 0xff, 0xe0][..], tag].concat());
    let group = serde_json::json!({"data_type": "alpr_group", "camera_id": 9, "epoch_start": Timestamp::now().plus_secs(-60).micros() / 1000,
        "best_uuid": "g-1", "best_plate_number": "ABC123", "best_plate": {"plate_crop_jpeg": jpeg(b"plate")}, "vehicle_crop_jpeg": jpeg(b"car")});
    let (taken, _) = f
        .app
        .ingest
        .take_openalpr("openalpr", group.to_string().as_bytes(), &f.app.devices(), Timestamp::now(), glasshouse_app::PushBack::Refuse)
        .unwrap();
    taken.wait().unwrap();
    let mut image_ref = None;
    f.app.store.flush().unwrap();
    f.app.store.for_each_stored(|o| image_ref = o.plate_read().and_then(|r| r.image_ref.clone())).unwrap();
    let stored = StoredImages::parse(&image_ref.expect("the read names its images")).unwrap();
    let hashes: Vec<String> = stored.hashes().map(str::to_owned).collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.iter().all(|h| f.app.ingest.images().get(h).unwrap().is_some()), "stored before the read");

    // A year on, the read is past its window: it goes, and its images with it.
    let receipts =
        f.app.retention().purge_expired(&Actor::new("system:retention", "custodian"), Timestamp::now().plus_secs(366 * 86_400)).unwrap();
    let plates = receipts.iter().find(|r| r["kind"] == "plate_read").unwrap();
    assert_eq!((plates["count"].as_u64(), plates["images"].as_u64()), (Some(1), Some(2)), "{plates}");
    assert!(hashes.iter().all(|h| f.app.ingest.images().get(h).unwrap().is_none()));
}

/// An alert on `observation` whose history ends at `status` (through acknowledged).
fn worked_alert(id: &str, observation: &str, observed_at: Timestamp, status: &str) -> glasshouse_engine::Alert {
    let step = |from: &str, to: &str| serde_json::json!({"alert_id": id, "from": from, "to": to, "actor": "olga", "at": observed_at});
    let history = match status {
        "new" => vec![],
        "dismissed" => vec![step("new", "acknowledged"), step("acknowledged", "dismissed")],
        _ => vec![step("new", "acknowledged"), step("acknowledged", "confirmed")],
    };
    serde_json::from_value(serde_json::json!({"id": id, "rule": "hotlist", "status": status, "priority": 1, "observed_at": observed_at,
        "raised_at": observed_at, "observation_id": observation, "device_id": "lpr-1", "lat": 60.17, "lon": 24.94, "history": history}))
    .unwrap()
}

#[test]
fn only_a_confirmed_alert_keeps_its_read_past_the_window_and_only_for_its_own_window() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    let (recent, long_ago) = (now.plus_secs(-40 * 86_400), now.plus_secs(-400 * 86_400));
    f.app.store.insert([
        (1, read("misread", "M1SREAD", recent)),
        (2, read("unworked", "UNW0RK", recent)),
        (3, read("confirmed", "C0NF1RM", recent)),
        (4, read("confirmed-long-ago", "0LDC0NF", long_ago)),
    ]);
    f.app.store.flush().unwrap();
    f.app
        .alerts
        .append(vec![
            worked_alert("al-1", "misread", recent, "dismissed"),
            worked_alert("al-2", "unworked", recent, "new"),
            worked_alert("al-3", "confirmed", recent, "confirmed"),
            worked_alert("al-4", "confirmed-long-ago", long_ago, "confirmed"),
        ])
        .unwrap();
    let receipts = f.app.retention().purge_expired(&Actor::new("system:retention", "custodian"), now).unwrap();
    let plates = receipts.iter().find(|r| r["kind"] == "plate_read").unwrap();
    assert_eq!((plates["count"].as_u64(), plates["kept_for_alerts"].as_u64()), (Some(3), Some(1)), "{plates}");
    assert_eq!(plates["confirmed_alert_evidence_days"], 365);
    let mut left = Vec::new();
    f.app.store.for_each_stored(|o| left.push(o.id.clone())).unwrap();
    assert_eq!(left, ["confirmed"], "a dismissed misread, an unworked hit and evidence past its own window all go");
}

#[test]
fn dead_letters_have_a_window_and_their_purge_leaves_a_receipt_first() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    let error = |raw: &str| glasshouse_ingest::decode::LineError { line: 1, error: "no such device".into(), raw: raw.into() };
    f.app.ingest.dead_letters().append("http", now.plus_secs(-45 * 86_400), &[error("OLDPLATE")]).unwrap();
    f.app.ingest.dead_letters().append("http", now.plus_secs(-86_400), &[error("NEWPLATE")]).unwrap();
    let receipts = f.app.retention().purge_expired(&Actor::new("system:retention", "custodian"), now).unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(
        (receipts[0]["kind"].as_str(), receipts[0]["count"].as_u64(), receipts[0]["window_days"].as_u64()),
        (Some("dead_letters"), Some(1), Some(30))
    );
    let logged = &entries(&f.app)[receipts[0]["audit_seq"].as_u64().unwrap() as usize];
    assert_eq!(
        (logged["action"].as_str(), logged["details"]["lines_sha256"].clone()),
        (Some("retention.purge"), receipts[0]["lines_sha256"].clone())
    );
    let left: Vec<String> = f.app.ingest.dead_letters().list(10).unwrap().into_iter().map(|l| l.raw).collect();
    assert_eq!(left, ["NEWPLATE"]);
    // Its window changes like any other, with two people.
    let windows = f.app.retention().windows(now);
    assert_eq!(windows["windows"]["dead_letters"]["days"], 30);
    let changed = f.app.retention().propose_change(
        &Actor::new("cara", "custodian"),
        [("dead_letters".to_owned(), 7)].into_iter().collect(),
        "keep refused records one week only".into(),
        now,
    );
    assert!(changed.is_ok(), "{changed:?}");
}
