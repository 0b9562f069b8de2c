use super::*;
use crate::query::ObservationQuery;
use glasshouse_model::{Body, Candidate, Gunshot, Incident, PlateRead, Position, SensorReading, VideoEvent, VideoLabel};

fn t(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn observation(id: &str, at: &str, lon: f64, body: Body) -> Observation {
    Observation {
        id: id.into(),
        device_id: "dev-1".into(),
        observed_at: t(at),
        received_at: t(at).plus_secs(1),
        position: Position { lat: 60.17, lon, heading_deg: Some(45.0), accuracy_m: None },
        body,
    }
}

fn one_of_each() -> Vec<(Lsn, Observation)> {
    let read = PlateRead {
        plate: "ABC123".into(),
        region: Some("FI".into()),
        confidence: Some(0.9),
        candidates: vec![Candidate { plate: "A8C123".into(), confidence: Some(0.4) }],
        vehicle_color: Some("red".into()),
        ..PlateRead::default()
    };
    vec![
        (1, observation("r1", "2026-11-27T20:01:00Z", 24.94, Body::PlateRead(read))),
        (
            2,
            observation(
                "s1",
                "2026-11-27T20:02:00Z",
                24.95,
                Body::SensorReading(SensorReading { quantity: "gamma_dose_rate".into(), value: 0.12, unit: "uSv/h".into() }),
            ),
        ),
        (
            3,
            observation(
                "g1",
                "2026-11-27T21:03:00Z",
                24.96,
                Body::Gunshot(Gunshot { rounds: 3, confidence: Some(0.8), bearing_deg: None }),
            ),
        ),
        (
            4,
            observation(
                "i1",
                "2026-11-27T21:04:00Z",
                24.97,
                Body::Incident(Incident {
                    incident_id: "C-1".into(),
                    type_code: "ASSAULT".into(),
                    priority: Some(1),
                    status: None,
                    address: Some("Esplanadi 1".into()),
                }),
            ),
        ),
        (5, observation("v1", "2026-11-27T21:05:00Z", 24.98, Body::VideoEvent(VideoEvent { label: VideoLabel::Crowd, count: 40 }))),
    ]
}

fn all(limit: usize) -> ObservationQuery {
    ObservationQuery { kinds: vec![], from: None, to: None, bbox: None, limit }
}

#[test]
fn every_kind_round_trips_through_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SegmentStore::open(dir.path()).unwrap();
    let records = one_of_each();
    let written = store.flush(&records).unwrap();
    assert_eq!(written.len(), 5, "one segment per kind and day");
    assert_eq!(store.flushed_lsn(), 5);
    let result = store.query(&all(100), &[]).unwrap();
    let want: Vec<Observation> = records.into_iter().map(|(_, o)| o).collect();
    assert_eq!(result.observations, want);
}

#[test]
fn a_batch_of_one_kind_refuses_another_kind_without_a_panic() {
    let records = one_of_each();
    let error = crate::parquet_codec::encode(Kind::Gunshot, records.iter().map(|(_, o)| o)).unwrap_err();
    assert!(error.to_string().contains("a plate_read observation in a batch of gunshot"), "{error}");
    let gunshots: Vec<&Observation> = records.iter().map(|(_, o)| o).filter(|o| o.kind() == Kind::Gunshot).collect();
    assert_eq!(crate::parquet_codec::encode(Kind::Gunshot, gunshots.into_iter()).unwrap().num_rows(), 1);
}

#[test]
fn interleaved_kinds_and_days_each_get_one_segment_with_every_row() {
    // Runs of one kind and day, broken and resumed: a group must collect every run of its key.
    let days = ["2026-11-27T23:59:00Z", "2026-11-28T00:01:00Z"];
    let sensor = || Body::SensorReading(SensorReading { quantity: "co".into(), value: 1.0, unit: "ppm".into() });
    let records: Vec<(Lsn, Observation)> = (0..40u64)
        .map(|i| {
            let at = days[(i / 3 % 2) as usize];
            let body = if i % 5 < 2 { sensor() } else { Body::PlateRead(PlateRead { plate: format!("AB{i}"), ..PlateRead::default() }) };
            (i + 1, observation(&format!("o{i}"), at, 24.94, body))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut store = SegmentStore::open(dir.path()).unwrap();
    let written = store.flush(&records).unwrap();
    let mut keys: Vec<(String, String)> =
        written.iter().map(|s| (s.kind.clone(), s.min_observed_at.to_rfc3339()[..10].to_owned())).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "two kinds on two days");
    assert_eq!(written.len(), 4, "one segment each");
    assert_eq!(written.iter().map(|s| s.rows).sum::<u64>(), 40);
    for segment in &written {
        let expected = records
            .iter()
            .filter(|(_, o)| {
                o.kind().as_str() == segment.kind && o.observed_at.to_rfc3339()[..10] == segment.min_observed_at.to_rfc3339()[..10]
            })
            .count();
        assert_eq!(segment.rows, expected as u64, "{} on {}", segment.kind, segment.min_observed_at.to_rfc3339());
        assert_eq!(segment.min_observed_at, segment.max_observed_at, "one time per day here");
    }
}

#[test]
fn queries_prune_by_kind_time_and_box_and_include_the_hot_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SegmentStore::open(dir.path()).unwrap();
    store.flush(&one_of_each()).unwrap();
    let hot = vec![(
        6,
        observation("g2", "2026-11-27T21:30:00Z", 24.96, Body::Gunshot(Gunshot { rounds: 1, confidence: None, bearing_deg: None })),
    )];
    let query = ObservationQuery {
        kinds: vec![Kind::Gunshot],
        from: Some(t("2026-11-27T21:00:00Z")),
        to: Some(t("2026-11-27T22:00:00Z")),
        bbox: None,
        limit: 10,
    };
    let result = store.query(&query, &hot).unwrap();
    assert_eq!(result.observations.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["g1", "g2"]);
    assert_eq!((result.segments_scanned, result.segments_pruned, result.hot_matches), (1, 4, 1));
    let boxed = ObservationQuery { bbox: Some([24.955, 60.0, 24.975, 61.0]), ..all(10) };
    let ids: Vec<_> = store.query(&boxed, &[]).unwrap().observations.into_iter().map(|o| o.id).collect();
    assert_eq!(ids, vec!["g1", "i1"]);
    let limited = store.query(&all(2), &[]).unwrap();
    assert!(limited.truncated);
    assert_eq!(limited.observations.len(), 2);
}

#[test]
fn counts_by_day_and_kind_match_a_row_count_for_whole_and_partial_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SegmentStore::open(dir.path()).unwrap();
    store.flush(&one_of_each()).unwrap();
    let day = t("2026-11-27T00:00:00Z");
    let all = store.count_by_day_and_kind(t("2026-11-27T00:00:00Z"), t("2026-11-28T00:00:00Z"), &[]).unwrap();
    assert_eq!(all.values().sum::<u64>(), 5);
    assert_eq!(all.get(&(day, Kind::PlateRead)), Some(&1));
    // A period that cuts through segments: only 21:00–21:04:30 (the gunshot and the incident).
    let part = store.count_by_day_and_kind(t("2026-11-27T21:00:00Z"), t("2026-11-27T21:04:30Z"), &[]).unwrap();
    assert_eq!(part.into_iter().collect::<Vec<_>>(), vec![((day, Kind::Gunshot), 1), ((day, Kind::Incident), 1)]);
}

#[test]
fn files_left_out_of_the_manifest_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SegmentStore::open(dir.path()).unwrap();
    store.flush(&one_of_each()[..2]).unwrap();
    let orphan = dir.path().join("kind=gunshot/date=2026-11-27/seg-x.parquet");
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::write(&orphan, b"half a file").unwrap();
    let store = SegmentStore::open(dir.path()).unwrap();
    assert!(!orphan.exists());
    assert_eq!(store.flushed_lsn(), 2);
    assert_eq!(store.query(&all(10), &[]).unwrap().observations.len(), 2);
}
