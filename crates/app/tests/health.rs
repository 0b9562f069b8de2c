//! Device silence: one alert per outage, closed by the system when the device speaks again.

mod common;

use common::{app, read_line};
use glasshouse_app::catalog::NewRule;
use glasshouse_app::{Actor, PushBack};
use glasshouse_engine::AlertStatus;
use glasshouse_model::Timestamp;

#[test]
fn a_quiet_reader_raises_one_alert_per_outage_closed_when_it_reports_again() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let admin = Actor::new("admin", "administrator");
    let rule: NewRule =
        serde_json::from_value(serde_json::json!({"type": "device_silent", "name": "readers quiet", "minutes": 10})).unwrap();
    f.app.create_rule(&admin, rule).unwrap();
    let take = |line: String| {
        f.app
            .ingest
            .take_ndjson("http", line.as_bytes(), false, &f.app.devices(), Timestamp::now(), PushBack::Refuse)
            .unwrap()
            .wait()
            .unwrap()
    };
    let now = Timestamp::now();
    // Before a device is heard from, it is not silent: a restart does not call the city quiet.
    assert_eq!(f.app.check_silence(now.plus_secs(3600)).unwrap().raised, 0);
    take(read_line("r-1", "ABC123", 1));
    assert_eq!(f.app.check_silence(now).unwrap().raised, 0, "heard a minute ago");
    let first = f.app.check_silence(now.plus_secs(10 * 60)).unwrap();
    assert_eq!(first.raised, 1, "eleven minutes quiet");
    assert_eq!(f.app.check_silence(now.plus_secs(11 * 60)).unwrap().raised, 0, "the same outage, the same alert");
    let alert = f.app.alerts.recent(1).unwrap().remove(0);
    assert_eq!((alert.rule.as_str(), alert.device_id.as_str(), alert.status), ("device_silent", "lpr-1", AlertStatus::New));

    take(read_line("r-2", "ABC124", 0));
    let resumed = f.app.check_silence(now.plus_secs(60)).unwrap();
    assert_eq!((resumed.raised, resumed.closed), (0, 1));
    let closed = f.app.alerts.get(&alert.id).unwrap().unwrap();
    assert_eq!(closed.status, AlertStatus::Closed);
    let step = closed.history.last().unwrap();
    assert_eq!((step.actor.as_str(), step.note.as_deref()), ("system", Some(glasshouse_app::health::RESUMED_NOTE)));
    // Quiet again: a new outage, a new alert.
    assert_eq!(f.app.check_silence(now.plus_secs(20 * 60)).unwrap().raised, 1);
    assert_eq!(f.app.alerts.len(), 2);
}
