//! A plate hit's images: served only for the hit, each viewing logged first.

mod common;

use common::{app, entries};
use glasshouse_app::{Actor, ErrorKind};
use glasshouse_engine::{Alert, AlertStatus, HotlistHit, MatchPolicy};
use glasshouse_model::Timestamp;
use glasshouse_model::image::{ImageRole, StoredImages};

fn hit_alert(id: &str, image_ref: Option<String>) -> Alert {
    let alert = serde_json::json!({"id": id, "rule": "hotlist", "status": "new", "priority": 1, "observed_at": Timestamp::now(),
        "raised_at": Timestamp::now(), "observation_id": "o-1", "device_id": "lpr-1", "lat": 60.1, "lon": 24.9});
    let mut alert: Alert = serde_json::from_value(alert).unwrap();
    alert.hit = Some(HotlistHit {
        plate: "ABC123".into(),
        matched_plate: "ABC123".into(),
        from_candidate: false,
        region: None,
        hotlist_id: "hl-1".into(),
        hotlist_name: "stolen".into(),
        entry_plate: "ABC123".into(),
        entry_region: None,
        reason: "stolen_vehicle".into(),
        entry_expires_at: Timestamp::now().plus_secs(86_400),
        match_policy: MatchPolicy::Exact,
        distance: 0,
        diffs: Vec::new(),
        image_ref,
        vehicle: Vec::new(),
    });
    assert_eq!(alert.status, AlertStatus::New);
    alert
}

#[test]
fn a_hit_image_is_served_after_its_viewing_is_logged_and_never_for_what_the_hit_does_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let crop = [&[0xff, 0xd8, 0xff, 0xe0][..], b"plate"].concat();
    let hash = f.app.ingest.images().put(&crop).unwrap();
    let image_ref = StoredImages { plate: Some(hash.clone()), vehicle: None }.to_ref();
    f.app.alerts.append(vec![hit_alert("al-1", image_ref), hit_alert("al-2", None)]).unwrap();
    let operator = Actor::new("olga", "operator");

    assert_eq!(f.app.alert_image(&operator, "al-1", ImageRole::Plate).unwrap(), crop);
    let viewed: Vec<serde_json::Value> = entries(&f.app).into_iter().filter(|e| e["action"] == "alert.image_view").collect();
    assert_eq!(viewed.len(), 1);
    assert_eq!((viewed[0]["actor"].as_str(), viewed[0]["details"]["sha256"].as_str()), (Some("olga"), Some(hash.as_str())), "{viewed:?}");

    for (alert, role) in [("al-1", ImageRole::Vehicle), ("al-2", ImageRole::Plate), ("al-404", ImageRole::Plate)] {
        assert_eq!(f.app.alert_image(&operator, alert, role).unwrap_err().kind, ErrorKind::NotFound, "{alert} {role:?}");
    }
    f.app.ingest.images().remove(&hash).unwrap();
    let gone = f.app.alert_image(&operator, "al-1", ImageRole::Plate).unwrap_err();
    assert!(gone.message.contains("no longer kept"), "{gone:?}");
    assert_eq!(
        entries(&f.app).iter().filter(|e| e["action"] == "alert.image_view").count(),
        1,
        "refusals serve nothing and log no viewing"
    );
}
