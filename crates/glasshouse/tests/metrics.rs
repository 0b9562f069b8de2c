//! `/metrics` through the real server: only the metrics role may scrape it; ingest, alerts, sinks,
//! searches, audit appends, flushes and purges move their counters; no label or value names a
//! plate or a device; and every metric the Grafana dashboard in the repository queries is there.

mod common;

use common::{Server, eventually, in_days, token};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read(id: &str, plate: &str, days: i64) -> String {
    json!({"id": id, "kind": "plate_read", "device_id": "lpr-north-7", "observed_at": days_ago(days), "plate": plate}).to_string()
}

/// Each series (`name{labels}`) with its value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(series: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    series
        .iter()
        .filter(|(s, _)| s.split('{').next() == Some(name) && labels.iter().all(|(k, v)| s.contains(&format!("{k}=\"{v}\""))))
        .map(|(_, v)| v)
        .sum()
}

/// Every metric name the dashboard's queries use, histogram suffixes removed.
fn dashboard_metrics() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/glasshouse.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("glasshouse_") {
                let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[at + name.len()..];
                names.insert(name.trim_end_matches("_bucket").to_owned());
            }
        }
    }
    names
}

#[test]
fn metrics_count_what_happens_name_nothing_personal_and_cover_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let [admin, ingest, investigator, custodian, scraper, operator] =
        ["administrator", "ingest", "investigator", "custodian", "metrics", "operator"].map(|r| token(dir.path(), r));
    // A webhook sink to a port nobody listens on: its attempts fail and its backlog shows.
    let sinks = dir.path().join("sinks.json");
    let refused =
        json!({"sinks": [{"name": "dispatch", "webhook": {"url": "http://127.0.0.1:9/alerts", "secret": "s3cret-for-this-test-only"}}]});
    std::fs::write(&sinks, refused.to_string()).unwrap();
    let (server, _) = Server::start_with(dir.path(), &["--sinks", sinks.to_str().unwrap()], 0);
    common::open_cases(&server);
    let client = server.client();

    assert_eq!(client.request("GET", "/metrics", None, &[], Vec::new()).status, 401);
    assert_eq!(client.get("/metrics", &operator).status, 403, "only the metrics role scrapes");
    assert_eq!(client.get("/v1/alerts", &scraper).status, 403, "the metrics role sees no data");
    assert_eq!(client.get("/v1/status", "not-a-token").status, 401);

    assert_eq!(
        client.json("PUT", "/v1/devices/lpr-north-7", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status,
        201
    );
    let list = client.json("POST", "/v1/hotlists", &admin, json!({"name": "stolen", "source": "local", "match": "exact"}));
    let list_id = list.body["id"].as_str().unwrap().to_owned();
    let entry = json!([{"plate": "WNT123", "reason": "stolen_vehicle", "expires_at": in_days(180)}]);
    assert_eq!(client.json("POST", &format!("/v1/hotlists/{list_id}/entries"), &admin, entry).status, 200);
    let mut lines = vec![read("old-1", "OLD111", 40), read("new-1", "ZZZ999", 0), read("hit-1", "WNT123", 0)];
    lines.push("{\"id\": \"broken\"".into());
    let taken = client.ndjson(&ingest, &lines);
    assert_eq!((taken.body["accepted"].as_u64(), taken.body["errors"].as_array().map(Vec::len)), (Some(3), Some(1)), "{:?}", taken.body);
    // The listed car read again a minute later: folded into its open alert as a repeat.
    let again = json!({"id": "hit-2", "kind": "plate_read", "device_id": "lpr-north-7", "observed_at": (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "plate": "WNT123"});
    assert_eq!(client.ndjson(&ingest, &[again.to_string()]).body["accepted"], 1);
    assert_eq!(client.ndjson(&ingest, &lines[..1]).body["duplicates"], 1);

    let search = json!({
        "purpose": "criminal_investigation", "case_number": "HPD-2026-0042",
        "justification": "checking where the van from the robbery was parked last week",
        "plate": "ZZZ999", "from": days_ago(2), "to": days_ago(-1),
    });
    assert_eq!(client.json("POST", "/v1/search/plates", &investigator, search.clone()).status, 200);
    let mut vague = search.clone();
    vague["justification"] = json!("because");
    assert_eq!(client.json("POST", "/v1/search/plates", &investigator, vague).status, 400);

    eventually("the reads are flushed to segments", || client.get("/v1/status", &custodian).body["stored_observations"] == 4);
    let purge = client.json("POST", "/v1/retention/purge", &custodian, json!({}));
    assert_eq!(purge.status, 200, "{:?}", purge.body);

    let mut series = BTreeMap::new();
    eventually("the sink has tried and failed", || {
        series = parse(client.get("/metrics", &scraper).body.as_str().unwrap_or_default());
        value(&series, "glasshouse_sink_failed_attempts_total", &[("sink", "dispatch")]) >= 1.0
    });
    let text = client.get("/metrics", &scraper).body.as_str().unwrap_or_default().to_owned();
    for personal in ["WNT123", "ZZZ999", "OLD111", "lpr-north-7", "60.17", "HPD-2026", "s3cret"] {
        assert!(!text.contains(personal), "{personal} appears in /metrics");
    }

    let stored = |outcome| value(&series, "glasshouse_ingest_records_total", &[("source", "http"), ("outcome", outcome)]);
    assert_eq!((stored("stored"), stored("duplicate"), stored("rejected")), (4.0, 1.0, 1.0));
    assert_eq!(value(&series, "glasshouse_ingest_refused_batches_total", &[("source", "http")]), 0.0, "nothing refused, and it shows");
    assert!(value(&series, "glasshouse_wal_records_total", &[]) >= 4.0);
    assert!(value(&series, "glasshouse_wal_commit_seconds_count", &[]) >= 1.0);
    for histogram in [
        "glasshouse_wal_commit_seconds",
        "glasshouse_hot_path_lag_seconds",
        "glasshouse_audit_append_seconds",
        "glasshouse_segment_flush_seconds",
    ] {
        let buckets = series.keys().filter(|k| k.starts_with(&format!("{histogram}_bucket{{"))).count();
        assert!(buckets >= 10, "{histogram} is a histogram with buckets, as the dashboard's quantiles need ({buckets})");
    }
    assert!(value(&series, "glasshouse_hot_path_lag_seconds_count", &[]) >= 1.0);
    assert_eq!(value(&series, "glasshouse_alerts_raised_total", &[("rule", "hotlist")]), 1.0);
    assert_eq!(value(&series, "glasshouse_alert_repeats_total", &[("rule", "hotlist")]), 1.0);
    assert_eq!(
        value(&series, "glasshouse_rule_alerts_total", &[("family", "hotlist")]),
        2.0,
        "the hot path counts both sightings; the log folds the second"
    );
    assert!(value(&series, "glasshouse_rule_observations_total", &[("family", "hotlist")]) >= 4.0);
    assert_eq!(value(&series, "glasshouse_sink_backlog_alerts", &[("sink", "dispatch")]), 1.0);
    let searches = |outcome| value(&series, "glasshouse_searches_total", &[("kind", "plates"), ("export", "false"), ("outcome", outcome)]);
    assert_eq!((searches("ok"), searches("refused")), (1.0, 1.0));
    assert!(value(&series, "glasshouse_audit_appends_total", &[("outcome", "written")]) >= 4.0);
    assert!(value(&series, "glasshouse_segment_flushes_total", &[]) >= 1.0);
    assert_eq!(value(&series, "glasshouse_retention_purged_observations_total", &[("kind", "plate_read")]), 1.0);
    assert_eq!(value(&series, "glasshouse_stored_observations", &[]), 3.0);
    assert!(value(&series, "glasshouse_auth_refused_total", &[]) >= 2.0);

    let exposed: BTreeSet<String> = series
        .keys()
        .map(|s| s.split('{').next().unwrap().trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count").to_owned())
        .collect();
    let missing: Vec<_> = dashboard_metrics().difference(&exposed).cloned().collect();
    assert!(missing.is_empty(), "the dashboard queries metrics /metrics does not expose: {missing:?}");
    assert!(dashboard_metrics().len() >= 20);
    server.stop();
}
