//! `glasshouse bench city` at a small size: every stage of the whole-system benchmark runs and
//! reports figures that agree with what it loaded, so the benchmark cannot rot between the runs
//! that record its full-size figures.

mod common;

use common::BINARY;
use serde_json::Value;
use std::process::Command;

#[test]
fn a_small_city_loads_raises_alerts_restarts_and_reports_its_latency() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["bench", "city", "--work"])
        .arg(work.path())
        .args(["--days", "1", "--reads-per-day", "20000", "--fixed-readers", "20", "--patrol-cars", "3", "--cameras", "50"])
        .args(["--sensors", "10", "--vehicles", "5000", "--hotlist", "20000", "--hotlisted-vehicles", "200", "--geofences", "200"])
        .args(["--latency-rate", "2000", "--latency-secs", "3", "--starts", "2"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let saved: Value = serde_json::from_slice(&std::fs::read(work.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report, saved);

    let city = &report["city"];
    assert_eq!(city["plate_reads"], 20_000);
    assert_eq!(city["sensor_readings"], 10 * 1_440);
    let load = &report["load"];
    assert_eq!(load["accepted"], city["records"], "every record of the month is stored");
    assert_eq!(load["rejected"], 0);
    for family in ["hotlist", "threshold", "situation"] {
        assert!(load["alerts_by_family"][family].as_u64().unwrap_or(0) > 0, "no {family} alert: {load}");
    }
    assert!(load["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(report["disk"]["bytes_per_plate_read"].as_f64().unwrap() > 0.0);

    for node in ["loaded", "rules_only", "empty"] {
        let start_up = &report["start_up"][node];
        assert_eq!(start_up["ms"].as_array().unwrap().len(), 2, "{node}");
        assert!(start_up["median_ms"].as_f64().unwrap() > 0.0, "{node}");
        assert!(start_up["idle_rss_bytes"].as_u64().unwrap() > 0, "{node}");
    }

    // Every probe read was acknowledged and its alert reached the stream.
    let latency = &report["latency"];
    assert_eq!(latency["probes_sent"], 30);
    assert_eq!(latency["probes_alerted"], 30, "{latency}");
    assert_eq!(latency["requests_refused"], 0);
    assert_eq!(latency["records_acknowledged"], 30 * 201);
    let sent = &latency["sent_to_stream_ms"];
    assert!(sent["p50"].as_f64().unwrap() > 0.0 && sent["p50"].as_f64() <= sent["max"].as_f64());

    // The queries left for glasshouse-bench and the peers name plates the month read.
    let queries: Value = serde_json::from_slice(&std::fs::read(work.path().join("node/queries.json")).unwrap()).unwrap();
    let exact: Vec<&str> = queries["exact"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(exact.len(), 20);
    let month = std::fs::read_to_string(work.path().join("city.ndjson")).unwrap();
    let read = exact.iter().filter(|p| month.contains(&format!("\"plate\":\"{p}\""))).count();
    assert!(read >= 15, "only {read} of 20 query plates were read in the month");
}
