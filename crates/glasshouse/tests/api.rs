//! The HTTP API end to end, over a real socket, against the real binary and its real WAL.

mod common;

use common::{BINARY, PURPOSE, Server, in_days, read_line, token};
use serde_json::json;
use std::io::Read;

/// Alerts are raised by the hot path just after ingest answers; wait for them as a console would.
fn wait_for_alerts(client: &common::Client, operator: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let alerts = client.get("/v1/alerts", operator).body["alerts"].as_array().unwrap().clone();
        if alerts.len() >= count || std::time::Instant::now() > deadline {
            assert_eq!(alerts.len(), count);
            return alerts;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

struct Setup {
    server: Server,
    admin: String,
    ingest: String,
    operator: String,
    investigator: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (admin, ingest, operator, investigator) =
        (token(dir.path(), "administrator"), token(dir.path(), "ingest"), token(dir.path(), "operator"), token(dir.path(), "investigator"));
    let server = Server::start(dir.path());
    common::open_cases(&server);
    let client = server.client();
    let reply = client.json("PUT", "/v1/devices/lpr-17", &admin, json!({"type": "plate_reader", "lat": 60.1699, "lon": 24.9384}));
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let reply = client.json(
        "PUT",
        "/v1/devices/cam-1",
        &admin,
        json!({"type": "camera", "lat": 60.17, "lon": 24.94, "bearing_deg": 90, "fov_deg": 60, "range_m": 80}),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    Setup { server, admin, ingest, operator, investigator, _dir: dir }
}

#[test]
fn a_batch_with_bad_lines_stores_the_good_ones_and_names_the_bad() {
    let s = setup();
    let client = s.server.client();
    let good = read_line("good-1", "lpr-17", "ABC123");
    let lines = vec![
        good.clone(),
        "{this is not json".to_string(),
        good.replace("good-1", "nan-1").replace(r#""confidence":0.9"#, r#""confidence":0.9,"lat":NaN,"lon":24.9"#),
        good.replace("good-1", "lat-1").replace(r#""confidence":0.9"#, r#""confidence":0.9,"lat":95.0,"lon":24.9"#),
        good.replace("good-1", "dev-1").replace("lpr-17", "lpr-404"),
        good.replace("good-1", "big-1").replace("ABC123", &"X".repeat(100_000)),
        read_line("good-2", "lpr-17", "XYZ789"),
    ];
    let reply = client.ndjson(&s.ingest, &lines);
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["accepted"], 2);
    assert_eq!(reply.body["rejected"], 5);
    let errors: Vec<(u64, String)> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["error"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
    assert!(errors[0].1.contains("invalid JSON"), "{errors:?}");
    assert!(errors[2].1.contains("`lat`"), "{errors:?}");
    assert!(errors[3].1.contains("unknown device"), "{errors:?}");
    assert!(errors[4].1.contains("limit is 16384"), "{errors:?}");

    let found = client.get(&format!("/v1/observations?kind=plate_read&{PURPOSE}"), &s.investigator);
    assert_eq!(found.status, 200, "{:?}", found.body);
    let ids: Vec<&str> = found.body["observations"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"good-1") && ids.contains(&"good-2"));

    let letters = client.get("/v1/dead_letters", &s.ingest);
    assert_eq!(letters.body["dead_letters"].as_array().unwrap().len(), 5);
    let http = &client.get("/v1/status", &s.ingest).body["ingest_sources"]["http"];
    assert_eq!((http["batches"].as_u64(), http["accepted"].as_u64(), http["rejected"].as_u64()), (Some(1), Some(2), Some(5)), "{http}");

    // A replay of the same batch is idempotent.
    let again = client.ndjson(&s.ingest, &lines[..1]);
    assert_eq!((again.body["accepted"].as_u64(), again.body["duplicates"].as_u64()), (Some(1), Some(1)));
    let found = client.get(&format!("/v1/observations?kind=plate_read&{PURPOSE}"), &s.investigator);
    assert_eq!(found.body["observations"].as_array().unwrap().len(), 2);
}

#[test]
fn a_hotlist_hit_becomes_a_durable_alert_that_is_also_streamed() {
    let s = setup();
    let client = s.server.client();
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen", "source": "local", "match": "exact"}));
    assert_eq!(created.status, 201, "{:?}", created.body);
    let hotlist_id = created.body["id"].as_str().unwrap().to_owned();
    let added = client.json(
        "POST",
        &format!("/v1/hotlists/{hotlist_id}/entries"),
        &s.admin,
        json!([{"plate": "ABC-123", "region": "FI", "reason": "stolen_vehicle", "expires_at": in_days(180)}]),
    );
    assert_eq!(added.status, 200, "{:?}", added.body);

    // Subscribe before the hit, over a raw socket, so the live event is seen as a browser would.
    let address = s.server.base.trim_start_matches("http://").to_owned();
    let operator = s.operator.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stream = std::thread::spawn(move || {
        use std::io::Write;
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        write!(
            socket,
            "GET /v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {operator}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 4096];
        let mut signalled = false;
        while !seen.contains("event: alert") {
            let n = socket.read(&mut buffer).unwrap();
            assert!(n > 0, "stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
            if !signalled && seen.contains("event: ready") {
                ready_tx.send(()).unwrap();
                signalled = true;
            }
        }
        seen
    });
    ready_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("stream ready");

    let reply = client.ndjson(&s.ingest, &[read_line("hit-1", "lpr-17", "ABC123"), read_line("miss-1", "lpr-17", "ZZZ999")]);
    assert_eq!(reply.body["accepted"], 2, "{:?}", reply.body);
    let streamed = stream.join().unwrap();
    assert!(streamed.contains("ABC123"), "{streamed}");

    let alerts = client.get("/v1/alerts", &s.operator);
    let list = alerts.body["alerts"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["plate"], "ABC123");
    assert_eq!(list[0]["hotlist_id"], hotlist_id.as_str());
    assert_eq!(list[0]["rule"], "hotlist");
    assert_eq!(list[0]["status"], "new");
    assert!(list[0]["observed_at"].is_string() && list[0]["id"].is_string());

    // Restart: alerts, devices, hotlists and observations are all still there.
    let data_dir = s.server.data_dir.clone();
    s.server.stop();
    let server = Server::start(&data_dir);
    let client = server.client();
    assert_eq!(client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(client.get("/v1/devices", &s.admin).body["devices"].as_array().unwrap().len(), 2);
    assert_eq!(client.get("/v1/hotlists", &s.admin).body["hotlists"][0]["entries"], 1);
    let found = client.get(&format!("/v1/observations?kind=plate_read&bbox=24.9,60.1,25.0,60.2&{PURPOSE}"), &s.investigator);
    assert_eq!(found.body["observations"].as_array().unwrap().len(), 2, "{:?}", found.body);
    assert!(found.body["explain"]["segments_scanned"].as_u64().unwrap() >= 1, "{:?}", found.body["explain"]);
    // Re-evaluating nothing new raises nothing new.
    client.ndjson(&s.ingest, &[read_line("hit-1", "lpr-17", "ABC123")]);
    assert_eq!(client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().len(), 1);
}

#[test]
fn tokens_roles_and_error_shapes_hold_over_a_real_socket() {
    let s = setup();
    let client = s.server.client();
    assert_eq!(client.request("GET", "/healthz", None, &[], vec![]).status, 200);
    let unauthenticated = client.request("GET", "/v1/alerts", None, &[], vec![]);
    assert_eq!(unauthenticated.status, 401);
    assert!(unauthenticated.body["error"].is_string());
    // The administrator manages devices but has no data access.
    let forbidden = client.get("/v1/observations", &s.admin);
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.body["error"].as_str().unwrap().contains("administrator"));
    assert_eq!(client.ndjson(&s.operator, &[read_line("x", "lpr-17", "A1")]).status, 403);
    // Bad device registrations name the field.
    let bad = client.json(
        "PUT",
        "/v1/devices/cam-2",
        &s.admin,
        json!({"type": "camera", "lat": 60.0, "lon": 24.0, "bearing_deg": 400, "fov_deg": 60, "range_m": 50}),
    );
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("bearing_deg")));
    let malformed = client.request("PUT", "/v1/devices/cam-2", Some(&s.admin), &[("Content-Type", "application/json")], b"{".to_vec());
    assert_eq!(malformed.status, 400);
    assert!(malformed.body["error"].as_str().unwrap().starts_with("invalid JSON body"));
    let bad_query = client.get(&format!("/v1/observations?bbox=1,2,3&{PURPOSE}"), &s.investigator);
    assert_eq!((bad_query.status, bad_query.body["field"].as_str()), (400, Some("bbox")));
    let openapi = client.get("/v1/openapi.json", &s.operator);
    assert_eq!(openapi.body["openapi"], "3.1.0");
}

#[test]
fn gzip_bodies_are_accepted_and_oversized_bodies_get_413() {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let s = setup();
    let client = s.server.client();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for i in 0..100 {
        writeln!(encoder, "{}", read_line(&format!("gz-{i}"), "lpr-17", "GZP100")).unwrap();
    }
    let reply = client.request("POST", "/v1/observations", Some(&s.ingest), &[("Content-Encoding", "gzip")], encoder.finish().unwrap());
    assert_eq!((reply.status, reply.body["accepted"].as_u64()), (200, Some(100)), "{:?}", reply.body);
    let huge = vec![b' '; 65 * 1024 * 1024];
    let reply = client.request("POST", "/v1/observations", Some(&s.ingest), &[], huge);
    assert_eq!(reply.status, 413);
    assert!(reply.body["error"].is_string());
}

#[test]
fn searches_need_a_purpose_and_every_privileged_action_is_in_a_verifiable_log() {
    let s = setup();
    let client = s.server.client();
    let auditor = token(&s.server.data_dir, "auditor");
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen", "source": "local"}));
    let hotlist_id = created.body["id"].as_str().unwrap().to_owned();
    let added = client.json(
        "POST",
        &format!("/v1/hotlists/{hotlist_id}/entries"),
        &s.admin,
        json!([{"plate": "SEC123", "reason": "stolen_vehicle", "expires_at": in_days(180)}]),
    );
    assert_eq!(added.status, 200);
    client.ndjson(&s.ingest, &[read_line("a-1", "lpr-17", "SEC123")]);

    let missing = client.get("/v1/observations?kind=plate_read", &s.investigator);
    assert_eq!((missing.status, missing.body["field"].as_str()), (400, Some("purpose")));
    let vague = client
        .get("/v1/observations?purpose=criminal_investigation&case_number=HPD-2026-0001&justification=Investigation", &s.investigator);
    assert_eq!((vague.status, vague.body["field"].as_str()), (400, Some("justification")), "{:?}", vague.body);
    let bad_case = client.get(
        "/v1/observations?purpose=criminal_investigation&case_number=42&justification=tracing+the+white+van+seen+leaving+the+burglary",
        &s.investigator,
    );
    assert_eq!((bad_case.status, bad_case.body["field"].as_str()), (400, Some("case_number")));
    let prohibited = client.get("/v1/observations?purpose=immigration_enforcement&case_number=HPD-2026-0001&justification=tracing+the+white+van+seen+leaving+the+burglary", &s.investigator);
    assert_eq!(prohibited.status, 403);
    let found = client.get(&format!("/v1/observations?kind=plate_read&{PURPOSE}"), &s.investigator);
    assert_eq!(found.status, 200, "{:?}", found.body);
    let search_seq = found.body["audit_seq"].as_u64().unwrap();

    // The auditor sees every action; plates and justifications only as keyed hashes.
    assert_eq!(client.get("/v1/audit/export", &s.investigator).status, 403);
    let export = client.request("GET", "/v1/audit/export", Some(&auditor), &[], vec![]);
    let text = match &export.body {
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    assert!(!text.contains("SEC123"), "a plate leaked into the audit log");
    assert!(!text.contains("white van"), "free text leaked into the audit log");
    let entries: Vec<serde_json::Value> =
        text.lines().filter(|l| l.starts_with("{\"seq\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<(&str, &str)> = entries.iter().map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    for expected in [
        ("device.upsert", "ok"),
        ("hotlist.create", "ok"),
        ("hotlist.entries_add", "ok"),
        ("search.observations", "refused"),
        ("search.observations", "ok"),
        ("search.observations.result", "ok"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} not in {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| **a == ("search.observations", "refused")).count(), 4);
    let result = entries.iter().find(|e| e["action"] == "search.observations.result").unwrap();
    assert_eq!((result["details"]["search_seq"].as_u64(), result["details"]["results"].as_u64()), (Some(search_seq), Some(1)));
    assert_eq!(entries[search_seq as usize]["actor"], "test-investigator");

    // An inclusion proof for the search entry checks out against the signed checkpoint.
    let proof = client.get(&format!("/v1/audit/proof/inclusion?index={search_seq}"), &auditor);
    assert_eq!(proof.status, 200, "{:?}", proof.body);
    let checkpoint = client.get("/v1/audit/checkpoint", &auditor);
    assert_eq!(checkpoint.body["size"], proof.body["size"]);
    assert!(checkpoint.body["note"].as_str().unwrap().contains(proof.body["root"].as_str().unwrap()));

    // The offline verifier, fed from the live server.
    let key = checkpoint.body["verifier_key"].as_str().unwrap();
    let output = std::process::Command::new(BINARY)
        .args(["audit", "verify", "--url", &s.server.base, "--token", &auditor, "--key", key])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("ok: the log is intact"), "{stdout}");
}

#[test]
fn the_transparency_report_matches_the_data() {
    let s = setup();
    let client = s.server.client();
    let auditor = token(&s.server.data_dir, "auditor");
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen", "source": "state"}));
    let hotlist_id = created.body["id"].as_str().unwrap().to_owned();
    client.json(
        "POST",
        &format!("/v1/hotlists/{hotlist_id}/entries"),
        &s.admin,
        json!([{"plate": "RPT100", "reason": "stolen_vehicle", "expires_at": in_days(180)}]),
    );
    let reads: Vec<String> =
        (0..40).map(|i| read_line(&format!("r-{i}"), "lpr-17", if i % 10 == 0 { "RPT100" } else { "OTH200" })).collect();
    assert_eq!(client.ndjson(&s.ingest, &reads).body["accepted"], 40);
    // Four sightings of one listed plate within minutes: one alert, three repeats folded into it.
    let alerts = wait_for_alerts(&client, &s.operator, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let alert_path = format!("/v1/alerts/{}", alerts[0]["id"].as_str().unwrap());
    while client.get(&alert_path, &s.operator).body["alert"]["repeats"].as_array().map_or(0, Vec::len) < 3 {
        assert!(std::time::Instant::now() < deadline, "repeats not folded");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    client.get(&format!("/v1/observations?kind=plate_read&{PURPOSE}"), &s.investigator);
    client.get(&format!("/v1/observations?kind=plate_read&{PURPOSE}"), &s.investigator);
    client.get("/v1/observations?purpose=criminal_investigation&case_number=HPD-2026-0001&justification=routine", &s.investigator);

    let report = client.get("/v1/reports?format=json", &auditor);
    assert_eq!(report.status, 200, "{:?}", report.body);
    let r = &report.body;
    assert_eq!(r["plates_read"], 40);
    assert_eq!(r["observations_by_kind"]["plate_read"], 40);
    assert_eq!(r["alerts_by_rule"]["hotlist"], 1);
    assert_eq!(r["alerts_by_status"]["new"], 1);
    assert_eq!(r["hits_per_thousand_reads"], 100.0);
    assert_eq!(r["searches_by_outcome"]["ok"], 2);
    assert_eq!(r["searches_by_outcome"]["refused"], 1);
    assert_eq!(r["searches_by_purpose"]["criminal_investigation"], 3);
    assert_eq!(r["searches_by_role"]["investigator"], 3);
    assert_eq!(r["hotlists"][0]["entries"], 1);
    assert_eq!(r["hotlists"][0]["source"], "state");
    assert!(r["access"]["auditor"].as_array().unwrap().iter().any(|n| n == "test-auditor"));
    let size = client.get("/v1/audit/checkpoint", &auditor).body["size"].as_u64().unwrap();
    assert_eq!(r["checkpoint"]["size"].as_u64(), Some(size));
    // A period that ends before anything happened is empty.
    let empty = client.get("/v1/reports?format=json&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z", &auditor);
    assert_eq!(empty.body["plates_read"], 0);
    // The HTML page, through the CLI, carries the charts inline.
    let out = s.server.data_dir.join("report.html");
    let status = std::process::Command::new(BINARY)
        .args(["report", "--url", &s.server.base, "--token", &auditor, "--out", out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.matches("<svg").count() >= 6, "charts missing");
    assert!(html.contains("Searches by purpose") && !html.contains("RPT100"));
    assert_eq!(client.get("/v1/reports", &s.investigator).status, 403);
}

#[test]
fn an_alert_moves_through_its_lifecycle_with_the_checks_recorded() {
    let s = setup();
    let client = s.server.client();
    let analyst = token(&s.server.data_dir, "analyst");
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen", "source": "local"}));
    let hotlist_id = created.body["id"].as_str().unwrap().to_owned();
    client.json(
        "POST",
        &format!("/v1/hotlists/{hotlist_id}/entries"),
        &s.admin,
        json!([{"plate": "LIF100", "reason": "stolen_vehicle", "expires_at": in_days(180)}, {"plate": "LIF200", "reason": "wanted", "expires_at": in_days(180)}]),
    );
    client.ndjson(&s.ingest, &[read_line("l-1", "lpr-17", "LIF100"), read_line("l-2", "lpr-17", "LIF200")]);
    let alerts = wait_for_alerts(&client, &s.operator, 2);
    let (a, b) = (alerts[0]["id"].as_str().unwrap().to_owned(), alerts[1]["id"].as_str().unwrap().to_owned());
    let step = |id: &str, body: serde_json::Value| client.json("POST", &format!("/v1/alerts/{id}/transitions"), &s.operator, body);

    let early = step(&a, json!({"to": "confirmed", "visual_check": true, "source_check": true}));
    assert_eq!((early.status, early.body["field"].as_str()), (409, Some("to")));
    assert_eq!(step(&a, json!({"to": "acknowledged"})).body["alert"]["status"], "acknowledged");
    let unchecked = step(&a, json!({"to": "confirmed", "visual_check": true}));
    assert_eq!((unchecked.status, unchecked.body["field"].as_str()), (409, Some("source_check")), "{:?}", unchecked.body);
    let confirmed =
        step(&a, json!({"to": "confirmed", "visual_check": true, "source_check": true, "note": "driver matches the BOLO description"}));
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    assert_eq!(confirmed.body["alert"]["history"].as_array().unwrap().len(), 2);
    assert_eq!(confirmed.body["alert"]["history"][1]["actor"], "test-operator");
    assert_eq!(step(&a, json!({"to": "closed"})).body["alert"]["status"], "closed");

    step(&b, json!({"to": "acknowledged"}));
    let no_reason = step(&b, json!({"to": "dismissed"}));
    assert_eq!((no_reason.status, no_reason.body["field"].as_str()), (409, Some("disposition")));
    assert_eq!(step(&b, json!({"to": "dismissed", "disposition": "misread"})).status, 200);
    assert_eq!(client.json("POST", "/v1/alerts/al-nothing/transitions", &s.operator, json!({"to": "acknowledged"})).status, 404);
    assert_eq!(client.json("POST", &format!("/v1/alerts/{b}/transitions"), &s.investigator, json!({"to": "closed"})).status, 403);

    let stats = client.get("/v1/alerts/stats", &analyst);
    let hotlist = &stats.body["rules"]["hotlist"];
    assert_eq!((hotlist["alerts"].as_u64(), hotlist["confirmed"].as_u64(), hotlist["dismissed"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!(hotlist["confirmed_share"], 0.5);
    assert_eq!(hotlist["dismissals_by_reason"]["misread"], 1);
    assert!(hotlist["time_to_acknowledge_secs_median"].as_f64().unwrap() >= 0.0);

    // The steps survive a restart, and each was audited with the note only as a keyed hash.
    let data_dir = s.server.data_dir.clone();
    s.server.stop();
    let server = Server::start(&data_dir);
    let client = server.client();
    let a_after = client.get(&format!("/v1/alerts/{a}"), &s.operator);
    assert_eq!(a_after.body["alert"]["status"], "closed");
    let auditor = token(&data_dir, "auditor");
    let export = client.request("GET", "/v1/audit/export", Some(&auditor), &[], vec![]);
    let text = match &export.body {
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    assert_eq!(text.matches("\"action\":\"alert.transition\"").count(), 5, "three steps for one alert, two for the other");
    assert!(!text.contains("BOLO"));
    let report = client.get("/v1/reports?format=json", &auditor);
    assert_eq!(
        (report.body["alerts_confirmed"].as_u64(), report.body["alerts_dismissed"].as_u64(), report.body["alerts_awaiting"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
}

#[test]
fn a_broad_search_needs_a_warrant_or_a_supervisors_approval() {
    let s = setup();
    let client = s.server.client();
    let supervisor = token(&s.server.data_dir, "supervisor");
    client.ndjson(&s.ingest, &[read_line("b-1", "lpr-17", "BRD100")]);
    let purpose = "purpose=missing_person&case_number=HPD-2026-0077&justification=child+reported+missing+near+the+harbour+this+morning";
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let narrow = format!("/v1/observations?{purpose}&bbox=24.93,60.16,24.95,60.18&from={from}&to={to}");
    assert_eq!(client.get(&narrow, &s.investigator).status, 200, "a small area and a short span need no approval");
    let city = format!("/v1/observations?{purpose}&from={from}&to={to}");
    let refused = client.get(&city, &s.investigator);
    assert_eq!((refused.status, refused.body["field"].as_str()), (403, Some("approval")));
    assert!(refused.body["error"].as_str().unwrap().contains("no area bound"), "{:?}", refused.body);

    let scope = json!({"kinds": ["plate_read"], "from": from, "to": to});
    let asked = client.json("POST", "/v1/approvals", &s.investigator, json!({"purpose": "missing_person", "case_number": "HPD-2026-0077", "justification": "child reported missing near the harbour this morning", "scope": scope}));
    assert_eq!(asked.status, 201, "{:?}", asked.body);
    let id = asked.body["approval"]["id"].as_str().unwrap().to_owned();
    let pending = client.get(&format!("{city}&kind=plate_read&approval={id}"), &s.investigator);
    assert_eq!(pending.status, 403, "a pending request authorises nothing");
    assert_eq!(client.json("POST", &format!("/v1/approvals/{id}/decision"), &s.investigator, json!({"approve": true})).status, 403);
    let listed = client.get("/v1/approvals", &supervisor);
    assert_eq!(listed.body["approvals"][0]["status"], "pending");
    let decided =
        client.json("POST", &format!("/v1/approvals/{id}/decision"), &supervisor, json!({"approve": true, "note": "urgent, approved"}));
    assert_eq!((decided.status, decided.body["approval"]["status"].as_str()), (200, Some("approved")), "{:?}", decided.body);
    let approved = client.get(&format!("{city}&kind=plate_read&approval={id}"), &s.investigator);
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["observations"].as_array().unwrap().len(), 1);
    // Outside the approved scope: another kind.
    let beyond = client.get(&format!("{city}&kind=gunshot&approval={id}"), &s.investigator);
    assert_eq!(beyond.status, 403);
    assert!(beyond.body["error"].as_str().unwrap().contains("scope"));
    // The log shows the request, the approval and the search under it.
    let auditor = token(&s.server.data_dir, "auditor");
    let export = client.request("GET", "/v1/audit/export", Some(&auditor), &[], vec![]);
    let text = match &export.body {
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    assert!(text.contains("\"action\":\"approval.request\"") && text.contains("\"action\":\"approval.approve\""));
    assert!(text.contains(&format!("\"approval\":\"{id}\"")), "the search names its approval");
}

#[test]
fn misreads_hit_a_lenient_list_miss_an_exact_one_and_expired_entries_never_alert() {
    let s = setup();
    let client = s.server.client();
    let exact = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "exact", "source": "ncic", "match": "exact"})).body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lenient = client
        .json(
            "POST",
            "/v1/hotlists",
            &s.admin,
            json!({"name": "lenient", "source": "state", "match": "lenient", "substitutions_max": 1, "length_tolerance": true}),
        )
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused =
        client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "x", "source": "local", "match": "lenient", "substitutions_max": 3}));
    assert_eq!((refused.status, refused.body["field"].as_str()), (400, Some("substitutions_max")));
    for list in [&exact, &lenient] {
        let added = client.json(
            "POST",
            &format!("/v1/hotlists/{list}/entries"),
            &s.admin,
            serde_json::Value::Array(
                ["ABC123", "DEF456", "GHK789", "MNP234"]
                    .iter()
                    .map(|p| json!({"plate": p, "region": "FI", "reason": "stolen_vehicle", "expires_at": in_days(180)}))
                    .collect(),
            ),
        );
        assert_eq!(added.status, 200);
    }
    // Confusable glyph, one substitution, a dropped character, an extra one; and a wrong region.
    let misreads = [("m-1", "A8C123"), ("m-2", "DEF457"), ("m-3", "GK789"), ("m-4", "MNPP234")];
    let lines: Vec<String> = misreads.iter().map(|(id, plate)| read_line(id, "lpr-17", plate)).collect();
    assert_eq!(client.ndjson(&s.ingest, &lines).body["accepted"], 4);
    let alerts = wait_for_alerts(&client, &s.operator, 4);
    for alert in &alerts {
        assert_eq!(alert["hotlist_id"].as_str(), Some(lenient.as_str()), "only the lenient list hits: {alert}");
    }
    let confusable = alerts.iter().find(|a| a["plate"] == "A8C123").unwrap();
    assert_eq!(confusable["hit"]["distance"], 0);
    assert_eq!(confusable["hit"]["diffs"][0], json!({"position": 1, "read": "8", "listed": "B", "confusable": true}));
    let dropped = alerts.iter().find(|a| a["plate"] == "GK789").unwrap();
    assert_eq!(dropped["hit"]["diffs"][0], json!({"position": 1, "read": null, "listed": "H", "confusable": false}));
    assert_eq!(alerts.iter().find(|a| a["plate"] == "DEF457").unwrap()["hit"]["distance"], 1);
    let other_region = read_line("m-5", "lpr-17", "XEF456").replace("\"FI\"", "\"SE\"");
    client.ndjson(&s.ingest, &[other_region]);

    // An entry that lapses never alerts afterwards.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    client.json(
        "POST",
        &format!("/v1/hotlists/{exact}/entries"),
        &s.admin,
        json!([{"plate": "EXP999", "reason": "wanted", "expires_at": soon}]),
    );
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    client.ndjson(&s.ingest, &[read_line("m-6", "lpr-17", "EXP999")]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().len(),
        4,
        "neither the wrong region nor the lapsed entry alerts"
    );
}

#[test]
fn a_threshold_rule_with_hysteresis_raises_one_alert_per_episode_and_can_be_disabled() {
    let s = setup();
    let client = s.server.client();
    let added = client.json("PUT", "/v1/devices/rad-1", &s.admin, json!({"type": "sensor", "lat": 60.17, "lon": 24.94}));
    assert_eq!(added.status, 201);
    let bad = client.json(
        "POST",
        "/v1/rules",
        &s.admin,
        json!({"type": "threshold", "name": "g", "quantity": "gamma_dose_rate", "level": 1.0, "clear_below": 2.0}),
    );
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("clear_below")));
    let created = client.json(
        "POST",
        "/v1/rules",
        &s.admin,
        json!({"type": "threshold", "name": "gamma", "quantity": "gamma_dose_rate", "level": 1.0, "clear_below": 0.5}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let rule_id = created.body["rule"]["id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now() - chrono::Duration::minutes(30);
    let line = |i: i64, value: f64| {
        let at = (now + chrono::Duration::minutes(i)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        format!(
            r#"{{"id":"g-{i}","kind":"sensor_reading","device_id":"rad-1","observed_at":"{at}","quantity":"gamma_dose_rate","value":{value},"unit":"uSv/h"}}"#
        )
    };
    let hovering = [0.1, 0.9, 1.2, 0.95, 1.4, 0.8, 1.1, 0.3, 0.1];
    let lines: Vec<String> = hovering.iter().enumerate().map(|(i, v)| line(i as i64, *v)).collect();
    assert_eq!(client.ndjson(&s.ingest, &lines).body["accepted"], 9);
    let alerts = wait_for_alerts(&client, &s.operator, 1);
    assert_eq!(alerts[0]["rule"], "threshold");
    assert_eq!(alerts[0]["threshold"]["value"], 1.2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().len(),
        1,
        "hovering around the level stays one alert"
    );
    // The rule's counters, as the hot path publishes them (a few times a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let rules = loop {
        let rules = client.get("/v1/rules", &s.operator).body;
        if rules["rules"][0]["metrics"]["evaluations"] == 9 || std::time::Instant::now() > deadline {
            break rules;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(rules["rules"][0]["metrics"], json!({"evaluations": 9, "hits": 1}), "{rules}");
    assert_eq!(
        (rules["families"]["threshold"]["observations"].as_u64(), rules["families"]["threshold"]["alerts"].as_u64()),
        (Some(9), Some(1))
    );
    assert!(rules["families"]["threshold"]["time_ms"].as_f64().unwrap() > 0.0);
    // Disabled, the rule raises nothing for a new episode.
    assert_eq!(
        client.json("POST", &format!("/v1/rules/{rule_id}/enabled"), &s.admin, json!({"enabled": false})).body["rule"]["enabled"],
        false
    );
    client.ndjson(&s.ingest, &[line(20, 2.0)]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().len(), 1);
    let rules = client.get("/v1/rules", &s.operator);
    assert_eq!(rules.body["rules"][0]["enabled"], false);
}

#[test]
fn token_creation_logons_and_refused_tokens_reach_the_audit_log() {
    let s = setup();
    let client = s.server.client();
    let auditor = token(&s.server.data_dir, "auditor");
    // Created while the server runs: the CLI cannot write the log, the server picks it up.
    let late = token(&s.server.data_dir, "analyst");
    assert_eq!(client.get("/v1/status", &late).status, 200);
    for _ in 0..3 {
        assert_eq!(client.request("GET", "/v1/alerts", Some("gh_wrong"), &[], vec![]).status, 401);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let export = client.request("GET", "/v1/audit/export", Some(&auditor), &[], vec![]);
        let text = match &export.body {
            serde_json::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        let entries: Vec<serde_json::Value> =
            text.lines().filter(|l| l.starts_with("{\"seq\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
        let created: Vec<&str> =
            entries.iter().filter(|e| e["action"] == "account.token_created").map(|e| e["details"]["account"].as_str().unwrap()).collect();
        let logons: Vec<&str> = entries.iter().filter(|e| e["action"] == "account.logon").map(|e| e["actor"].as_str().unwrap()).collect();
        let failed: u64 =
            entries.iter().filter(|e| e["action"] == "account.logon_failed").map(|e| e["details"]["requests"].as_u64().unwrap()).sum();
        let done = ["test-administrator", "test-ingest", "test-operator", "test-investigator", "test-auditor", "test-analyst"]
            .iter()
            .all(|n| created.contains(n))
            && logons.contains(&"test-analyst")
            && logons.contains(&"test-administrator")
            && failed >= 3;
        if done {
            assert!(!text.contains(&late), "a token itself never reaches the log");
            assert_eq!(logons.iter().filter(|n| **n == "test-analyst").count(), 1, "one logon per account, not one per request");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "identity events missing: created {created:?}, logons {logons:?}, failed {failed}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_new_entry_is_matched_against_reads_already_made() {
    let s = setup();
    let client = s.server.client();
    client.ndjson(&s.ingest, &[read_line("p-1", "lpr-17", "PRE100"), read_line("p-2", "lpr-17", "OTH100")]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen today", "source": "local"}));
    let id = created.body["id"].as_str().unwrap().to_owned();
    let added = client.json(
        "POST",
        &format!("/v1/hotlists/{id}/entries"),
        &s.admin,
        json!([{"plate": "PRE100", "reason": "stolen_vehicle", "expires_at": in_days(180)}]),
    );
    assert_eq!((added.status, added.body["retroactive_alerts"].as_u64()), (200, Some(1)), "{:?}", added.body);
    let alerts = wait_for_alerts(&client, &s.operator, 1);
    assert_eq!(alerts[0]["plate"], "PRE100");
    assert_eq!(alerts[0]["retroactive"], true);
    assert_eq!(alerts[0]["observation_id"], "p-1");
}

#[test]
fn alerts_render_as_cap_messages_that_validate_against_the_oasis_schema() {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cap/CAP-v1.2.xsd");
    let xmllint = std::process::Command::new("xmllint").arg("--version").output().is_ok();
    if !schema.exists() || !xmllint {
        eprintln!("skipping: needs {} and xmllint (scripts/test.sh installs libxml2-utils)", schema.display());
        return;
    }
    let s = setup();
    let client = s.server.client();
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen <&> list", "source": "local"}));
    let id = created.body["id"].as_str().unwrap().to_owned();
    client.json(
        "POST",
        &format!("/v1/hotlists/{id}/entries"),
        &s.admin,
        json!([{"plate": "CAP100", "reason": "stolen_vehicle", "expires_at": in_days(180)}]),
    );
    client.ndjson(&s.ingest, &[read_line("c-1", "lpr-17", "CAP100")]);
    let alert_id = wait_for_alerts(&client, &s.operator, 1)[0]["id"].as_str().unwrap().to_owned();
    let validate = |name: &str| -> String {
        let reply = client.request("GET", &format!("/v1/alerts/{alert_id}/cap"), Some(&s.operator), &[], vec![]);
        assert_eq!(reply.status, 200);
        assert!(reply.header("content-type").unwrap().starts_with("application/cap+xml"));
        let xml = match reply.body {
            serde_json::Value::String(text) => text,
            other => panic!("not XML: {other}"),
        };
        let path = s.server.data_dir.join(name);
        std::fs::write(&path, &xml).unwrap();
        let out = std::process::Command::new("xmllint").args(["--noout", "--schema"]).arg(&schema).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}\n{xml}", String::from_utf8_lossy(&out.stderr));
        xml
    };
    let open = validate("open.xml");
    assert!(open.contains("<msgType>Alert</msgType>") && open.contains("<certainty>Possible</certainty>"));
    assert!(open.contains("stolen &lt;&amp;&gt; list"), "markup in names is escaped");
    let step = |body: serde_json::Value| client.json("POST", &format!("/v1/alerts/{alert_id}/transitions"), &s.operator, body);
    step(json!({"to": "acknowledged"}));
    step(json!({"to": "confirmed", "visual_check": true, "source_check": true}));
    let confirmed = validate("confirmed.xml");
    assert!(confirmed.contains("<msgType>Update</msgType>") && confirmed.contains("<certainty>Observed</certainty>"));
}

#[test]
fn a_hotlist_imports_from_csv_all_or_nothing_with_the_bad_line_named() {
    let s = setup();
    let client = s.server.client();
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "ncic-extract", "source": "ncic", "match": "exact"}));
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/hotlists/{id}/entries");
    let csv = |text: &str| client.request("POST", &path, Some(&s.admin), &[("Content-Type", "text/csv")], text.as_bytes().to_vec());
    let (later, sooner) = (in_days(180), in_days(30));
    let bad = csv(&format!("plate,reason,expires_at,region\nabc-123,stolen_vehicle,{later},FI\nXYZ999,wanted,next tuesday,\n"));
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("csv")), "{:?}", bad.body);
    assert!(bad.body["error"].as_str().unwrap().contains("line 3"), "{:?}", bad.body);
    let missing = csv(&format!("plate,expires_at\nABC123,{later}\n"));
    assert!(missing.body["error"].as_str().unwrap().contains("header"), "{:?}", missing.body);
    assert_eq!(client.get(&path, &s.admin).body["entries"], json!([]), "nothing imported from a file with a bad line");
    let good = csv(&format!("region,plate,reason,expires_at\nFI,abc-123,stolen_vehicle,{later}\n,XYZ 999,wanted,{sooner}\n"));
    assert_eq!((good.status, good.body["added"].as_u64()), (200, Some(2)), "{:?}", good.body);
    let plates: Vec<String> =
        client.get(&path, &s.admin).body["entries"].as_array().unwrap().iter().map(|e| e["plate"].as_str().unwrap().to_owned()).collect();
    assert_eq!(plates, ["ABC123", "XYZ999"]);
}

#[test]
fn a_geofence_with_jitter_at_its_edge_gives_one_enter_and_one_exit() {
    let s = setup();
    let client = s.server.client();
    let added = client.json("PUT", "/v1/devices/car-7", &s.admin, json!({"type": "sensor", "mobile": true}));
    assert_eq!(added.status, 201, "{:?}", added.body);
    let square =
        json!({"type": "Polygon", "coordinates": [[[24.93, 60.16], [24.95, 60.16], [24.95, 60.17], [24.93, 60.17], [24.93, 60.16]]]});
    let bad = client.json(
        "POST",
        "/v1/rules",
        &s.admin,
        json!({"type": "geofence", "name": "harbour", "area": square, "triggers": ["dwell"], "subjects": {"devices": ["car-7"]}}),
    );
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("dwell_s")), "{:?}", bad.body);
    let created = client.json(
        "POST",
        "/v1/rules",
        &s.admin,
        json!({"type": "geofence", "name": "harbour", "area": square, "triggers": ["enter", "exit"],
               "subjects": {"devices": ["car-7"]}, "margin_m": 15, "confirm_s": 5}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["rule"]["type"], "geofence");
    // One fix a second, metres east of the fence's west edge: ±10 m of GPS jitter on the edge, a drive
    // in, more jitter on the way out, then away.
    let east_m = [
        -200.0, -100.0, -8.0, 6.0, -9.0, 9.0, -5.0, 40.0, 60.0, 80.0, 90.0, 100.0, 110.0, 7.0, -7.0, 8.0, -30.0, -50.0, -70.0, -90.0,
        -500.0, -900.0,
    ];
    let start = chrono::Utc::now() - chrono::Duration::minutes(10);
    let lines: Vec<String> = east_m
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at = (start + chrono::Duration::seconds(i as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let lon = 24.93 + m / 55_437.0;
            format!(
                r#"{{"id":"car-7-{i}","kind":"sensor_reading","device_id":"car-7","observed_at":"{at}","lat":60.165,"lon":{lon},"quantity":"speed","value":8.0,"unit":"m/s"}}"#
            )
        })
        .collect();
    assert_eq!(client.ndjson(&s.ingest, &lines).body["accepted"], east_m.len());
    let alerts = wait_for_alerts(&client, &s.operator, 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let alerts_now = client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().clone();
    assert_eq!(alerts_now.len(), 2, "jitter raises nothing more: {alerts_now:?}");
    let mut seen: Vec<(String, String)> = alerts
        .iter()
        .map(|a| (a["geofence"]["trigger"].as_str().unwrap().to_owned(), a["observation_id"].as_str().unwrap().to_owned()))
        .collect();
    seen.sort();
    assert_eq!(seen, vec![("enter".to_owned(), "car-7-12".to_owned()), ("exit".to_owned(), "car-7-21".to_owned())]);
    assert!(alerts.iter().all(|a| a["geofence"]["subject"] == "device:car-7" && a["rule"] == "geofence"));
    let rules = client.get("/v1/rules", &s.operator);
    let fence = rules.body["rules"].as_array().unwrap().iter().find(|r| r["type"] == "geofence").unwrap().clone();
    assert_eq!(fence["area"], square);
}

#[test]
fn correlation_rules_are_data_with_their_own_triggers_and_windows() {
    let s = setup();
    let client = s.server.client();
    assert_eq!(client.json("PUT", "/v1/devices/cad", &s.admin, json!({"type": "cad", "mobile": true})).status, 201);
    assert_eq!(
        client.json("PUT", "/v1/devices/shots-1", &s.admin, json!({"type": "gunshot_array", "lat": 60.17, "lon": 24.94})).status,
        201
    );
    let bad = client.json("POST", "/v1/rules", &s.admin, json!({"type": "situation", "name": "nothing"}));
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("incident_types")));
    let created = client.json(
        "POST",
        "/v1/rules",
        &s.admin,
        json!({"type": "situation", "name": "burglaries", "incident_types": ["break_and_enter"],
               "windows": [{"kind": "plate_read", "radius_m": 800, "minutes": 20}]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    // The built-in rule is listed and can be switched off like any other.
    let rules = client.get("/v1/rules", &s.operator).body["rules"].as_array().unwrap().clone();
    let situations: Vec<&str> = rules.iter().filter(|r| r["type"] == "situation").map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(situations.len(), 2, "{rules:?}");
    assert!(situations.contains(&"sit-default"));
    let off = client.json("POST", "/v1/rules/sit-default/enabled", &s.admin, json!({"enabled": false}));
    assert_eq!(off.body["rule"]["enabled"], false, "{:?}", off.body);

    let at = (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lines = vec![
        json!({"id": "shot-1", "kind": "gunshot", "device_id": "shots-1", "observed_at": at, "rounds": 2}).to_string(),
        json!({"id": "inc-1", "kind": "incident", "device_id": "cad", "observed_at": at, "lat": 60.1701, "lon": 24.9401,
               "incident_id": "C-9", "type_code": "BREAK_AND_ENTER", "priority": 2})
        .to_string(),
    ];
    assert_eq!(client.ndjson(&s.ingest, &lines).body["accepted"], 2);
    let alerts = wait_for_alerts(&client, &s.operator, 1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        client.get("/v1/alerts", &s.operator).body["alerts"].as_array().unwrap().len(),
        1,
        "the disabled built-in rule ignores the gunshot"
    );
    assert_eq!(alerts[0]["situation"]["label"], "BREAK_AND_ENTER");
    let id = alerts[0]["id"].as_str().unwrap();
    let situation = client.get(&format!("/v1/situations/{id}"), &s.operator);
    assert_eq!(situation.status, 200, "{:?}", situation.body);
    assert_eq!(situation.body["windows"]["plate_read"], json!({"radius_m": 800.0, "window_minutes": 20}));
    assert_eq!(situation.body["windows"]["gunshot"], json!({"radius_m": 1000.0, "window_minutes": 30}));
}

#[test]
fn role_changes_and_revocations_by_the_cli_apply_at_once_and_reach_the_audit_log() {
    let s = setup();
    let client = s.server.client();
    let auditor = token(&s.server.data_dir, "auditor");
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(common::BINARY).args(args).arg("--data-dir").arg(&s.server.data_dir).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    // The investigator may search; made an analyst, the same token may not, and may run SQL counts.
    assert_eq!(client.get("/v1/whoami", &s.investigator).body["role"], "investigator");
    cli(&["token", "role", "--name", "test-investigator", "--role", "analyst"]);
    assert_eq!(client.get("/v1/whoami", &s.investigator).body["role"], "analyst");
    assert_eq!(client.json("POST", "/v1/search/plates", &s.investigator, json!({"plate": "ABC123"})).status, 403);
    cli(&["token", "revoke", "--name", "test-investigator"]);
    assert_eq!(client.get("/v1/whoami", &s.investigator).status, 401, "a revoked token stops working at once");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let listed = client.get("/v1/audit/entries?limit=1000", &auditor).body["entries"].as_array().unwrap().clone();
        let entries: Vec<serde_json::Value> = listed.iter().map(|e| serde_json::from_str(e["entry"].as_str().unwrap()).unwrap()).collect();
        let changes: Vec<(String, serde_json::Value, serde_json::Value)> = entries
            .iter()
            .filter(|e| e["action"].as_str().is_some_and(|a| a == "account.role_changed" || a == "account.revoked"))
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["details"]["from_role"].clone(), e["details"]["to_role"].clone()))
            .collect();
        if changes.len() == 2 {
            assert_eq!(changes[0], ("account.role_changed".into(), json!("investigator"), json!("analyst")));
            assert_eq!(changes[1], ("account.revoked".into(), json!("analyst"), serde_json::Value::Null));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "account changes missing from the log: {changes:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn an_openalpr_agent_posts_groups_and_heartbeats_as_it_does_to_any_webhook() {
    let s = setup();
    let client = s.server.client();
    let reply =
        client.json("PUT", "/v1/devices/openalpr:1414799424", &s.admin, json!({"type": "plate_reader", "lat": 60.171, "lon": 24.941}));
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let at_ms = glasshouse_model::Timestamp::now().plus_secs(-60).micros() / 1000;
    let group = json!({"version": 2, "data_type": "alpr_group", "agent_uid": "agent-7", "camera_id": 1414799424u64,
        "epoch_start": at_ms, "epoch_end": at_ms + 1200, "best_uuid": "agent-7-cam1414799424-1",
        "best_plate_number": "A13709", "best_confidence": 92.07, "best_region": "fi",
        "candidates": [{"plate": "A13709", "confidence": 92.07}, {"plate": "A137O9", "confidence": 83.3}],
        "vehicle": {"make": [{"name": "volvo", "confidence": 71.0}], "color": [{"name": "blue", "confidence": 60.0}]}});
    let reply = client.json("POST", "/v1/ingest/openalpr", &s.ingest, group.clone());
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!((reply.body["accepted"].as_u64(), reply.body["duplicates"].as_u64()), (Some(1), Some(0)), "{:?}", reply.body);
    // The agent re-posts the group after a timeout: a duplicate, not a second read.
    let again = client.json("POST", "/v1/ingest/openalpr", &s.ingest, group);
    assert_eq!((again.body["accepted"].as_u64(), again.body["duplicates"].as_u64()), (Some(1), Some(1)), "{:?}", again.body);

    let unknown =
        json!({"data_type": "alpr_group", "camera_id": 5, "epoch_start": at_ms, "best_uuid": "x-1", "best_plate_number": "ZZZ999"});
    let beat = json!({"data_type": "heartbeat", "agent_uid": "agent-7", "timestamp": at_ms + 30_000, "video_streams": [{"camera_id": 1414799424u64}]});
    let body = format!("{unknown}\n{beat}\n{}", json!({"openalpr_webhook": "test"}));
    let reply = client.request("POST", "/v1/ingest/openalpr", Some(&s.ingest), &[("content-type", "application/json")], body.into_bytes());
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        (reply.body["rejected"].as_u64(), reply.body["heartbeats"].as_u64(), reply.body["pings"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert!(reply.body["errors"][0]["error"].as_str().unwrap().contains("camera 5 is not registered"), "{:?}", reply.body);
    let letters = client.get("/v1/dead_letters", &s.ingest);
    assert_eq!(letters.body["dead_letters"][0]["source"], "openalpr", "{:?}", letters.body);

    let found = client.json("POST", "/v1/search/plates", &s.investigator, json!({"plate": "A13709", "purpose": "criminal_investigation", "case_number": "HPD-2026-0042", "justification": "following the vehicle seen leaving the robbery scene", "from": glasshouse_model::Timestamp::now().plus_secs(-3600).to_rfc3339(), "to": glasshouse_model::Timestamp::now().plus_secs(60).to_rfc3339()}));
    assert_eq!(found.status, 200, "{:?}", found.body);
    let read = &found.body["results"][0]["observation"];
    assert_eq!(
        (read["id"].as_str(), read["region"].as_str(), read["vehicle_make"].as_str()),
        (Some("agent-7-cam1414799424-1"), Some("FI"), Some("volvo")),
        "{read}"
    );
    for (field, expected) in [("vehicle_make_confidence", 0.71), ("vehicle_color_confidence", 0.6)] {
        assert!((read[field].as_f64().unwrap() - expected).abs() < 1e-6, "{field}, 0–100 scaled to 0–1: {read}");
    }

    let devices = client.get("/v1/devices", &s.admin);
    let camera = devices.body["devices"].as_array().unwrap().iter().find(|d| d["id"] == "openalpr:1414799424").unwrap().clone();
    let expected = glasshouse_model::Timestamp((at_ms + 30_000) * 1000).to_rfc3339();
    assert_eq!(camera["last_heartbeat_at"].as_str(), Some(expected.as_str()), "{camera}");
    assert!(camera["last_observation_at"].is_string(), "{camera}");
}

#[test]
fn a_device_silence_rule_is_created_listed_and_disabled_like_any_rule() {
    let s = setup();
    let client = s.server.client();
    let created = client.json(
        "POST",
        "/v1/rules",
        &s.admin,
        json!({"type": "device_silent", "name": "readers quiet", "minutes": 15, "devices": ["lpr-17"]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["rule"]["id"].as_str().unwrap().to_owned();
    assert_eq!((created.body["rule"]["type"].as_str(), created.body["rule"]["minutes"].as_u64()), (Some("device_silent"), Some(15)));
    let listed = client.get("/v1/rules", &s.operator).body["rules"].as_array().unwrap().clone();
    assert!(listed.iter().any(|r| r["id"] == id.as_str() && r["enabled"] == true), "{listed:?}");
    let disabled = client.json("POST", &format!("/v1/rules/{id}/enabled"), &s.admin, json!({"enabled": false}));
    assert_eq!((disabled.status, disabled.body["rule"]["enabled"].as_bool()), (200, Some(false)), "{:?}", disabled.body);
    let refused = client.json("POST", "/v1/rules", &s.admin, json!({"type": "device_silent", "name": "too eager", "minutes": 0}));
    assert_eq!((refused.status, refused.body["field"].as_str()), (400, Some("minutes")), "{:?}", refused.body);
}

#[test]
fn a_plate_hit_from_an_agent_shows_its_crops_to_the_operator_and_only_to_roles_that_see_the_hit() {
    use base64::Engine;
    let s = setup();
    let client = s.server.client();
    assert_eq!(
        client.json("PUT", "/v1/devices/openalpr:31", &s.admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status,
        201
    );
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen", "source": "local", "match": "exact"}));
    let hotlist = created.body["id"].as_str().unwrap().to_owned();
    let entries = json!([{"plate": "ABC123", "reason": "stolen_vehicle", "expires_at": in_days(30)}]);
    assert_eq!(client.json("POST", &format!("/v1/hotlists/{hotlist}/entries"), &s.admin, entries).status, 200);
    let (plate_crop, vehicle_crop) =
        ([&[0xff, 0xd8, 0xff, 0xe0][..], b"plate pixels"].concat(), [&[0xff, 0xd8, 0xff, 0xe0][..], b"vehicle pixels"].concat());
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let group = json!({"data_type": "alpr_group", "camera_id": 31, "epoch_start": glasshouse_model::Timestamp::now().plus_secs(-10).micros() / 1000,
        "best_uuid": "agent-31-1", "best_plate_number": "ABC123", "best_confidence": 95.0,
        "best_plate": {"plate": "ABC123", "plate_crop_jpeg": encode(&plate_crop)}, "vehicle_crop_jpeg": encode(&vehicle_crop)});
    let reply = client.json("POST", "/v1/ingest/openalpr", &s.ingest, group);
    assert_eq!((reply.status, reply.body["accepted"].as_u64()), (200, Some(1)), "{:?}", reply.body);
    let alert = wait_for_alerts(&client, &s.operator, 1).remove(0);
    let id = alert["id"].as_str().unwrap();
    assert!(alert["hit"]["image_ref"].as_str().unwrap().starts_with("blob:plate="), "{alert}");

    let (status, bytes, content_type) = client.get_bytes(&format!("/v1/alerts/{id}/images/plate"), &s.operator);
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    assert_eq!(bytes, plate_crop);
    assert_eq!(client.get_bytes(&format!("/v1/alerts/{id}/images/vehicle"), &s.operator).1, vehicle_crop);
    assert_eq!(client.get(&format!("/v1/alerts/{id}/images/plate"), &s.investigator).status, 403, "investigators do not see hits");
    assert_eq!(client.get(&format!("/v1/alerts/{id}/images/face"), &s.operator).status, 400);
    assert_eq!(client.get("/v1/alerts/no-such/images/plate", &s.operator).status, 404);
}

#[test]
fn alerts_filter_by_status_rule_list_device_and_time_and_page_each_alert_once_while_more_arrive() {
    let s = setup();
    let client = s.server.client();
    let reply = client.json("PUT", "/v1/devices/lpr-18", &s.admin, json!({"type": "plate_reader", "lat": 60.18, "lon": 24.95}));
    assert_eq!(reply.status, 201);
    let created = client.json("POST", "/v1/hotlists", &s.admin, json!({"name": "stolen", "source": "local", "match": "exact"}));
    let hotlist_id = created.body["id"].as_str().unwrap().to_owned();
    // Distinct plates: sightings of one plate within minutes fold into one alert.
    let plates: Vec<String> = (0..30).map(|i| format!("PG{i:03}")).collect();
    let entries: Vec<_> = plates.iter().map(|p| json!({"plate": p, "reason": "stolen_vehicle", "expires_at": in_days(30)})).collect();
    assert_eq!(client.json("POST", &format!("/v1/hotlists/{hotlist_id}/entries"), &s.admin, json!(entries)).status, 200);
    let device = |i: usize| if i.is_multiple_of(4) { "lpr-18" } else { "lpr-17" };
    let reads: Vec<String> = (0..12).map(|i| read_line(&format!("pg-{i}"), device(i), &plates[i])).collect();
    assert_eq!(client.ndjson(&s.ingest, &reads).body["accepted"], 12);
    wait_for_alerts(&client, &s.operator, 12);

    // Pages of five, with new hits arriving between pages: the twelve, each once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0.. {
        let path = match &cursor {
            Some(c) => format!("/v1/alerts?rule=hotlist&limit=5&cursor={c}"),
            None => "/v1/alerts?rule=hotlist&limit=5".to_owned(),
        };
        let page = client.get(&path, &s.operator);
        assert_eq!(page.status, 200, "{:?}", page.body);
        seen.extend(page.body["alerts"].as_array().unwrap().iter().map(|a| a["observation_id"].as_str().unwrap().to_owned()));
        let more = 12 + round;
        assert_eq!(client.ndjson(&s.ingest, &[read_line(&format!("pg-{more}"), "lpr-17", &plates[more])]).body["accepted"], 1);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..12).rev().map(|i| format!("pg-{i}")).collect();
    assert_eq!(seen, expected, "each alert once across pages, newest first");

    let count = |query: &str| {
        let reply = client.get(&format!("/v1/alerts?limit=10000&{query}"), &s.operator);
        assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
        reply.body["alerts"].as_array().unwrap().len()
    };
    // The twelve and the three hits that arrived while paging (one per page).
    wait_for_alerts(&client, &s.operator, 15);
    let all = count("");
    assert_eq!(all, 15);
    assert_eq!(count(&format!("rule_id={hotlist_id}")), all);
    assert_eq!(count("rule_id=another-list"), 0);
    assert_eq!(count("device_id=lpr-18"), 3, "reads 0, 4 and 8 came from lpr-18");
    let first = client.get("/v1/alerts?limit=1", &s.operator).body["alerts"][0]["id"].as_str().unwrap().to_owned();
    let step = client.json("POST", &format!("/v1/alerts/{first}/transitions"), &s.operator, json!({"to": "acknowledged"}));
    assert_eq!(step.status, 200, "{:?}", step.body);
    assert_eq!(count("status=acknowledged"), 1);
    assert_eq!(count("status=new,acknowledged"), all);
    assert_eq!(count("status=new&rule=hotlist,threshold"), all - 1);
    assert_eq!(count("rule=threshold"), 0);
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let earlier = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(count(&format!("from={soon}")), 0);
    assert_eq!(count(&format!("from={earlier}&to={soon}")), all);

    for (query, field) in [("status=open", "status"), ("rule=hotlists", "rule"), ("cursor=12", "cursor"), ("from=yesterday", "from")] {
        let refused = client.get(&format!("/v1/alerts?{query}"), &s.operator);
        assert_eq!((refused.status, refused.body["field"].as_str()), (400, Some(field)), "{query}: {:?}", refused.body);
    }
}

#[test]
fn after_a_restart_records_already_in_segments_are_duplicates_and_new_ones_are_stored() {
    let s = setup();
    let client = s.server.client();
    // Reads at distinct times over the last hours, with and without ids of their own (content
    // hashes name those), flushed to segments before the restart.
    let now = chrono::Utc::now();
    let line = |i: usize, with_id: bool| {
        let at = (now - chrono::Duration::seconds(10 + i as i64 * 7)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let id = if with_id { format!(r#""id":"rs-{i}","#) } else { String::new() };
        format!(r#"{{{id}"kind":"plate_read","device_id":"lpr-17","observed_at":"{at}","plate":"RS{i:04}"}}"#)
    };
    let first: Vec<String> = (0..1_500).map(|i| line(i, i % 2 == 0)).collect();
    assert_eq!(client.ndjson(&s.ingest, &first).body["accepted"], 1_500);
    let flushed = || {
        let status = client.get("/v1/status", &s.ingest).body;
        status["stored_observations"] == 1_500 && status["hot_window_observations"] == 0
    };
    common::eventually_within("the reads are flushed to segments", std::time::Duration::from_secs(30), flushed);
    let mut server = s.server;
    server.restart_with(&[]);
    let client = server.client();
    // Every earlier read again, and 500 new ones at the same times.
    let again: Vec<String> = first.iter().cloned().chain((1_500..2_000).map(|i| line(i - 1_500, true).replace("rs-", "new-"))).collect();
    let reply = client.ndjson(&s.ingest, &again);
    assert_eq!((reply.body["accepted"].as_u64(), reply.body["duplicates"].as_u64()), (Some(2_000), Some(1_500)), "{:?}", reply.body);
    let status = client.get("/v1/status", &s.ingest).body;
    let stored = status["stored_observations"].as_u64().unwrap() + status["hot_window_observations"].as_u64().unwrap();
    assert_eq!(stored, 2_000, "the 1,500 once and the 500 new: {status}");
}

#[test]
fn the_console_and_the_api_send_the_security_headers() {
    let s = setup();
    let client = s.server.client();
    for (path, token) in [("/", None), ("/v1/devices", Some(s.admin.as_str())), ("/healthz", None)] {
        let reply = client.request("GET", path, token, &[], vec![]);
        let policy = reply.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no policy"));
        for directive in ["script-src 'self';", "frame-ancestors 'none'", "object-src 'none'", "connect-src 'self';"] {
            assert!(policy.contains(directive), "{path}: {directive} missing from {policy}");
        }
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{path}: {policy}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
}

/// A supervisor may stop the server the moment it says it listens: that stop must take the
/// graceful path (exit 0, hot window flushed), not the signal's default action. The handlers were
/// once installed only after the line was printed, and a quick stop killed the process.
#[test]
fn a_sigterm_sent_as_soon_as_the_server_listens_stops_it_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..10 {
        let mut server = Server::start(dir.path());
        let _ = std::process::Command::new("kill").arg("-TERM").arg(server.child.id().to_string()).status();
        common::eventually_within("the server exits", std::time::Duration::from_secs(30), || server.child.try_wait().unwrap().is_some());
        let status = server.child.try_wait().unwrap().unwrap();
        assert!(status.success(), "attempt {attempt}: {status}");
    }
}

/// A console keeps its alert stream open for ever; a graceful stop must still end, and end the
/// streams (SSE and WebSocket) rather than wait on them.
#[test]
fn a_server_with_live_streams_open_stops_on_sigterm_and_ends_them() {
    use std::io::Write;
    use tungstenite::client::IntoClientRequest;
    let dir = tempfile::tempdir().unwrap();
    let operator = token(dir.path(), "operator");
    let mut server = Server::start(dir.path());
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut sse = std::net::TcpStream::connect(&address).unwrap();
    sse.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(sse, "GET /v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {operator}\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    while !seen.contains("event: ready") {
        let n = sse.read(&mut buffer).unwrap();
        assert!(n > 0, "stream closed before ready: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    let mut request = format!("ws://{address}/v1/alerts/ws").into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {operator}").parse().unwrap());
    let (mut ws, _) = tungstenite::connect(request).expect("the operator may open the feed");
    assert!(ws.read().unwrap().to_text().unwrap().contains("ready"));

    let _ = std::process::Command::new("kill").arg("-TERM").arg(server.child.id().to_string()).status();
    common::eventually_within("the server exits", std::time::Duration::from_secs(30), || server.child.try_wait().unwrap().is_some());
    assert!(server.child.try_wait().unwrap().unwrap().success());
    // The SSE response ends (chunked: the last chunk, then EOF), and the socket says "going away".
    let mut rest = Vec::new();
    sse.read_to_end(&mut rest).expect("the stream ends rather than timing out");
    let closing = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => break frame,
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(closing.map(|f| u16::from(f.code)), Some(1001));
}

#[test]
fn every_entry_names_its_component_and_client_address_and_an_auditors_reads_are_logged_by_the_hour() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (admin, auditor, operator) = (token(data, "administrator"), token(data, "auditor"), token(data, "operator"));
    let server = Server::start(data);
    let client = server.client();
    assert_eq!(client.get("/v1/audit/export", &operator).status, 403, "an operator may not read the audit log");
    let made = client.json("POST", "/v1/hotlists", &admin, json!({"name": "stolen", "source": "local", "match": "exact"}));
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(client.get("/v1/audit/entries?from=0&limit=10", &auditor).status, 200);
    assert_eq!(client.get("/v1/audit/entries?from=0&limit=10", &auditor).status, 200);
    assert_eq!(client.get("/v1/audit/proof/inclusion?index=0", &auditor).status, 200);
    server.stop();

    let log = glasshouse_audit::AuditLog::open(&data.join("audit"), &data.join("audit-keys")).unwrap();
    let entries: Vec<serde_json::Value> =
        log.entries(0, log.size() as usize).unwrap().iter().map(|e| serde_json::from_slice(e).unwrap()).collect();
    let component_of = |action: &str| {
        let e = entries.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action} in {entries:?}"));
        (e["component"].as_str().unwrap().to_owned(), e["address"].as_str().map(str::to_owned))
    };
    assert_eq!(component_of("hotlist.create"), ("http".to_owned(), Some("127.0.0.1".to_owned())));
    assert_eq!(component_of("account.token_created"), ("cli".to_owned(), None), "tokens are made on the host");
    let forbidden = entries.iter().find(|e| e["action"] == "account.forbidden").expect("the refused route is logged");
    assert_eq!((forbidden["actor"].as_str(), forbidden["outcome"].as_str()), (Some("test-operator"), Some("refused")));
    assert_eq!((forbidden["details"]["method"].as_str(), forbidden["details"]["route"].as_str()), (Some("GET"), Some("/v1/audit/export")));
    for e in &entries {
        assert!(["http", "postgres", "cli", "system"].contains(&e["component"].as_str().unwrap()), "{e}");
        assert!(glasshouse_audit::Action::parse(e["action"].as_str().unwrap()).is_some(), "{e}");
        assert!(!e["actor"].as_str().unwrap().is_empty() && !e["outcome"].as_str().unwrap().is_empty(), "{e}");
    }
    // The auditor's reads, one entry per hour (two if the test ran across the hour), logged at the
    // latest when the server stopped.
    let reads: Vec<&serde_json::Value> = entries.iter().filter(|e| e["action"] == "audit.read").collect();
    assert!((1..=2).contains(&reads.len()), "{reads:?}");
    for read in &reads {
        assert_eq!((read["actor"].as_str(), read["address"].as_str()), (Some("test-auditor"), Some("127.0.0.1")));
    }
    let total = |field: &str| reads.iter().map(|r| r["details"][field].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total("entry_pages"), total("inclusion_proofs")), (2, 1));
}
