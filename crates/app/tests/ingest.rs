//! Every source through one path: refused lines dead-lettered with the source named, good records
//! submitted and acknowledged, totals counted per source.

mod common;

use common::{app, read_line};
use glasshouse_app::{ErrorKind, PushBack};
use glasshouse_model::Timestamp;
use std::io::Write;
use std::sync::atomic::Ordering;

#[test]
fn refused_lines_are_dead_lettered_with_their_source_and_good_ones_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let body = [read_line("r-1", "ABC123", 1), "{not json".into(), read_line("r-2", "XYZ789", 2).replace("lpr-1", "lpr-404")].join("\n");
    let taken =
        f.app.ingest.take_ndjson("mqtt:site-7", body.as_bytes(), false, &f.app.devices(), Timestamp::now(), PushBack::Refuse).unwrap();
    let report = taken.wait().unwrap();
    assert_eq!((report.accepted, report.duplicates), (1, 0));
    assert_eq!(report.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3]);
    assert!(report.errors[1].error.contains("unknown device"), "{:?}", report.errors);
    assert_eq!(f.app.store.hot_len(), 1);

    let letters = f.app.ingest.dead_letters().list(10).unwrap();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|l| l.source == "mqtt:site-7"), "{letters:?}");

    let counters = f.app.ingest.counters();
    let site = counters["mqtt:site-7"];
    assert_eq!((site.batches, site.accepted, site.duplicates, site.rejected), (1, 1, 0, 2));
}

#[test]
fn each_source_has_its_own_totals() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    for (source, lines) in [("http", 2), ("file:reads.ndjson", 3), ("http", 1)] {
        let body: Vec<String> = (0..lines).map(|i| read_line(&format!("{source}-{i}-{lines}"), "ABC123", 1)).collect();
        let taken = f.app.ingest.take_ndjson(source, body.join("\n").as_bytes(), false, &f.app.devices(), Timestamp::now(), PushBack::Wait);
        taken.unwrap().wait().unwrap();
    }
    let counters = f.app.ingest.counters();
    assert_eq!((counters["http"].batches, counters["http"].accepted), (2, 3));
    assert_eq!((counters["file:reads.ndjson"].batches, counters["file:reads.ndjson"].accepted), (1, 3));
}

#[test]
fn a_full_queue_asks_the_producer_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    f.sink.busy.store(true, Ordering::Relaxed);
    let body = read_line("r-1", "ABC123", 1);
    let error =
        f.app.ingest.take_ndjson("http", body.as_bytes(), false, &f.app.devices(), Timestamp::now(), PushBack::Refuse).err().unwrap();
    assert_eq!(error.kind, ErrorKind::Unavailable { retry_after_secs: 1 });
    assert_eq!(f.app.store.hot_len(), 0);
}

#[test]
fn a_gzip_body_is_read_and_a_broken_one_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(read_line("r-1", "ABC123", 1).as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    let taken = f.app.ingest.take_ndjson("http", &body, true, &f.app.devices(), Timestamp::now(), PushBack::Refuse).unwrap();
    assert_eq!(taken.wait().unwrap().accepted, 1);
    let broken = f.app.ingest.take_ndjson("http", &body[..body.len() / 2], true, &f.app.devices(), Timestamp::now(), PushBack::Refuse);
    assert_eq!(broken.err().unwrap().kind, ErrorKind::Invalid);
    assert!(f.app.ingest.dead_letters().list(10).unwrap().is_empty(), "a body refused whole leaves no dead letters");
}

#[test]
fn an_openalpr_body_takes_its_reads_dead_letters_unknown_cameras_and_records_heartbeats() {
    use glasshouse_model::{Device, DeviceType};
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    f.app
        .upsert_device(
            &glasshouse_app::Actor::new("admin", "administrator"),
            Device::fixed("openalpr:42", DeviceType::PlateReader, 60.1, 24.9),
            Timestamp::now(),
        )
        .unwrap();
    let at_ms = Timestamp::now().plus_secs(-30).micros() / 1000;
    let group = |uuid: &str, camera: u64| {
        serde_json::json!({"data_type": "alpr_group", "camera_id": camera, "epoch_start": at_ms, "best_uuid": uuid,
            "best_plate_number": "ABC123", "best_confidence": 90.0})
        .to_string()
    };
    let beat = serde_json::json!({"data_type": "heartbeat", "agent_uid": "agent-1", "timestamp": at_ms + 1_000,
        "video_streams": [{"camera_id": 42}]})
    .to_string();
    let body = [group("g-1", 42), group("g-2", 7), beat].join("\n");
    let (taken, extras) =
        f.app.ingest.take_openalpr("openalpr", body.as_bytes(), &f.app.devices(), Timestamp::now(), PushBack::Refuse).unwrap();
    let report = taken.wait().unwrap();
    assert_eq!((report.accepted, extras.heartbeats), (1, 1));
    assert_eq!(report.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2]);
    assert!(report.errors[0].error.contains("camera 7 is not registered"), "{:?}", report.errors);
    let letters = f.app.ingest.dead_letters().list(10).unwrap();
    assert_eq!((letters.len(), letters[0].source.as_str()), (1, "openalpr"));
    let seen = f.app.ingest.seen()["openalpr:42"];
    assert_eq!(seen.last_observation_at, Some(Timestamp(at_ms * 1000)));
    assert_eq!(seen.last_heartbeat_at, Some(Timestamp((at_ms + 1_000) * 1000)));
    // An older heartbeat, delivered late, does not move the time back.
    let stale =
        serde_json::json!({"data_type": "heartbeat", "agent_uid": "agent-1", "timestamp": at_ms, "video_streams": [{"camera_id": 42}]});
    let (taken, _) =
        f.app.ingest.take_openalpr("openalpr", stale.to_string().as_bytes(), &f.app.devices(), Timestamp::now(), PushBack::Refuse).unwrap();
    taken.wait().unwrap();
    assert_eq!(f.app.ingest.seen()["openalpr:42"].last_heartbeat_at, Some(Timestamp((at_ms + 1_000) * 1000)));
}
