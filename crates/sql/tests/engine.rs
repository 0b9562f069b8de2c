//! The SQL engine over real segments: figures that match a count by hand, and refusals for anything
//! that would hand back rows or change state.

use glasshouse_model::{Body, Incident, Observation, PlateRead, Position, Timestamp};
use glasshouse_sql::{SqlEngine, SqlError};
use glasshouse_store::{SegmentStore, Store};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const HOUR: i64 = 3_600_000_000;
const START: i64 = 1_795_000_000_000_000 / HOUR * HOUR;

fn read(n: usize) -> Observation {
    let at = Timestamp(START + (n as i64 % 5) * HOUR + n as i64 * 1_000_000);
    Observation {
        id: format!("r{n}"),
        device_id: format!("alpr-{}", n % 3),
        observed_at: at,
        received_at: at,
        position: Position { lat: 60.1 + (n % 4) as f64 * 0.01, lon: 24.9, heading_deg: None, accuracy_m: None },
        body: Body::PlateRead(PlateRead { plate: format!("ABC{:03}", n % 50), ..PlateRead::default() }),
    }
}

fn incident(n: usize, type_code: &str) -> Observation {
    let at = Timestamp(START + (n as i64 % 3) * HOUR);
    Observation {
        id: format!("i{n}"),
        device_id: "cad".into(),
        observed_at: at,
        received_at: at,
        position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
        body: Body::Incident(Incident {
            incident_id: format!("C-{n}"),
            type_code: type_code.into(),
            priority: None,
            status: None,
            address: None,
        }),
    }
}

fn engine(observations: Vec<Observation>) -> (SqlEngine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut segments = SegmentStore::open(dir.path()).unwrap();
    let records: Vec<(u64, Observation)> = observations.into_iter().enumerate().map(|(i, o)| (i as u64 + 1, o)).collect();
    for chunk in records.chunks(200) {
        segments.flush(chunk).unwrap();
    }
    (SqlEngine::new(Arc::new(Store::new(segments))), dir)
}

fn city() -> (SqlEngine, tempfile::TempDir, Vec<Observation>) {
    let mut observations: Vec<Observation> = (0..500).map(read).collect();
    observations.extend((0..30).map(|n| incident(n, if n % 3 == 0 { "ASSAULT" } else { "THEFT" })));
    let (engine, dir) = engine(observations.clone());
    (engine, dir, observations)
}

async fn ok(engine: &SqlEngine, sql: &str) -> serde_json::Value {
    engine.query(sql, |_| Ok(())).await.unwrap_or_else(|e| panic!("{sql}: {e}")).to_json()
}

#[tokio::test]
async fn hourly_counts_match_a_count_by_hand() {
    let (engine, _dir, observations) = city();
    assert_eq!(ok(&engine, "select count(*) as n from plate_reads").await["rows"], json!([[500]]));
    let answer = ok(&engine, "select date_trunc('hour', observed_at) as hour, count(*) as n from plate_reads group by 1 order by 1").await;
    let mut by_hand: BTreeMap<i64, u64> = BTreeMap::new();
    for o in observations.iter().filter(|o| matches!(o.body, Body::PlateRead(_))) {
        *by_hand.entry(o.observed_at.0 / HOUR).or_default() += 1;
    }
    let counts: Vec<u64> = answer["rows"].as_array().unwrap().iter().map(|r| r[1].as_u64().unwrap()).collect();
    assert_eq!(counts, by_hand.values().copied().collect::<Vec<_>>());
    let types = ok(&engine, "select type_code, count(*) from incidents group by type_code order by type_code").await;
    assert_eq!(types["rows"], json!([["ASSAULT", 10], ["THEFT", 20]]));
    // A time filter prunes and still counts right.
    let from = Timestamp(START + HOUR).to_rfc3339();
    let to = Timestamp(START + 2 * HOUR).to_rfc3339();
    let hour = ok(&engine, &format!("select count(*) from plate_reads where observed_at >= '{from}' and observed_at < '{to}'")).await;
    assert_eq!(hour["rows"][0][0].as_u64().unwrap(), by_hand[&(START / HOUR + 1)]);
}

#[tokio::test]
async fn rows_plates_and_changes_are_refused() {
    let (engine, _dir, _) = city();
    for sql in [
        "select * from plate_reads",
        "select device_id, observed_at from plate_reads limit 5",
        "select array_agg(device_id) from plate_reads",
        "select device_id, row_number() over (order by observed_at) from plate_reads",
        "select * from plate_reads where device_id in (select device_id from plate_reads group by device_id)",
    ] {
        assert!(matches!(engine.query(sql, |_| Ok(())).await, Err(SqlError::Refused(_))), "{sql}");
    }
    for sql in [
        "select count(plate) from plate_reads",
        "select count(id) from plate_reads",
        "create table x as select 1",
        "drop table plate_reads",
        "copy plate_reads to '/tmp/x.csv'",
    ] {
        assert!(matches!(engine.query(sql, |_| Ok(())).await, Err(SqlError::Invalid(_)) | Err(SqlError::Refused(_))), "{sql}");
    }
    // An aggregate over a subquery is fine.
    assert_eq!(ok(&engine, "select count(*) from (select device_id from plate_reads where lat > 60.115)").await["rows"], json!([[250]]));
}

#[tokio::test]
async fn vehicles_are_counted_by_keyed_plate_hashes_and_never_listed() {
    let (engine, _dir, observations) = city();
    let distinct = ok(&engine, "select count(distinct plate_key) as vehicles from plate_reads").await;
    assert_eq!(distinct["rows"], json!([[50]]), "plates ABC000..ABC049");
    let approx = ok(&engine, "select approx_distinct(plate_key) from plate_reads").await;
    assert!((approx["rows"][0][0].as_i64().unwrap() - 50).abs() <= 2, "{approx}");
    // Per device, against a count by hand.
    let per_device =
        ok(&engine, "select device_id, count(distinct plate_key) from plate_reads group by device_id order by device_id").await;
    let mut by_hand: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for o in &observations {
        if let Body::PlateRead(read) = &o.body {
            by_hand.entry(o.device_id.clone()).or_default().insert(read.plate.clone());
        }
    }
    let want: Vec<serde_json::Value> = by_hand.iter().map(|(device, plates)| json!([device, plates.len()])).collect();
    assert_eq!(per_device["rows"], json!(want));
    // With a time filter and a having clause on the count, still only counts.
    let from = Timestamp(START + HOUR).to_rfc3339();
    let hour = ok(
        &engine,
        &format!("select device_id, count(distinct plate_key) as n from plate_reads where observed_at >= '{from}' group by 1 having count(distinct plate_key) > 0 order by 1"),
    )
    .await;
    assert_eq!(hour["rows"].as_array().unwrap().len(), 3);
    for sql in [
        "select plate_key, count(*) from plate_reads group by plate_key",
        "select count(*) from plate_reads where plate_key = 1",
        "select max(plate_key) from plate_reads",
        "select count(plate_key) from plate_reads",
        "select count(distinct plate_key + 1) from plate_reads",
        "select count(*) from (select plate_key from plate_reads) t",
        "select count(*) from plate_reads a join plate_reads b on a.plate_key = b.plate_key",
        "select device_id, count(*) from plate_reads group by device_id order by min(plate_key)",
    ] {
        match engine.query(sql, |_| Ok(())).await {
            Err(SqlError::Refused(reason)) => assert!(reason.contains("plate_key"), "{sql}: {reason}"),
            other => panic!("{sql}: {:?}", other.map(|a| a.to_json())),
        }
    }
}

#[tokio::test]
async fn nothing_runs_when_the_audit_entry_cannot_be_written() {
    let (engine, _dir, _) = city();
    let mut seen = None;
    let result = engine
        .query("select device_id, count(*) from plate_reads group by device_id", |checked| {
            seen = Some(checked.tables.clone());
            Err("disk full".into())
        })
        .await;
    assert!(matches!(result, Err(SqlError::Audit(_))));
    assert_eq!(seen, Some(vec!["plate_reads".to_string()]), "the audit entry names the tables read");
}
