//! Retention through the real HTTP API: a hold proposed by one person and approved by another keeps
//! an expired read; the purge deletes the rest, leaves a receipt in the audit log first, and the
//! deleted read is gone from every search.

mod common;

use common::{Server, token};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read(id: &str, plate: &str, days: i64) -> String {
    json!({"id": id, "kind": "plate_read", "device_id": "lpr-1", "observed_at": days_ago(days), "plate": plate}).to_string()
}

#[test]
fn a_purge_keeps_held_reads_deletes_the_rest_and_leaves_a_receipt_first() {
    let dir = tempfile::tempdir().unwrap();
    let [admin, ingest, custodian, supervisor, investigator, auditor] =
        ["administrator", "ingest", "custodian", "supervisor", "investigator", "auditor"].map(|r| token(dir.path(), r));
    let server = Server::start(dir.path());
    common::open_cases(&server);
    let client = server.client();
    assert_eq!(client.json("PUT", "/v1/devices/lpr-1", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status, 201);
    let lines = [read("old-gone", "GONE11", 40), read("old-held", "HELD44", 40), read("recent", "GONE11", 2)];
    assert_eq!(client.ndjson(&ingest, &lines).body["accepted"], 3);

    // The investigator proposes a hold on HELD44; it keeps nothing until a supervisor approves it.
    let proposal = json!({
        "case_number": "HPD-2026-0042",
        "authority": "preservation_request",
        "authority_reference": "PR-2026-114",
        "plates": ["held 44"],
        "from": days_ago(60),
        "to": days_ago(30),
        "expires_at": days_ago(-90),
    });
    let proposed = client.json("POST", "/v1/holds", &investigator, proposal.clone());
    assert_eq!(proposed.status, 201, "{:?}", proposed.body);
    assert_eq!(proposed.body["state"], "proposed");
    let id = proposed.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.json("POST", &format!("/v1/holds/{id}/decision"), &custodian, json!({"approve": true})).status,
        403,
        "custodians do not approve"
    );
    let approved = client.json("POST", &format!("/v1/holds/{id}/decision"), &supervisor, json!({"approve": true}));
    assert_eq!((approved.status, approved.body["state"].as_str()), (200, Some("in_force")), "{:?}", approved.body);
    let everything = json!({"case_number": "HPD-2026-0042", "authority": "warrant", "authority_reference": "W-1", "from": days_ago(60), "to": days_ago(30), "expires_at": days_ago(-90)});
    let refused = client.json("POST", "/v1/holds", &investigator, everything);
    assert_eq!((refused.status, refused.body["field"].as_str()), (400, Some("scope")), "{:?}", refused.body);

    // Wait for the flush: the purge works on segments.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get("/v1/status", &custodian).body["stored_observations"] != 3 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    }
    let purge = client.json("POST", "/v1/retention/purge", &custodian, json!({}));
    assert_eq!(purge.status, 200, "{:?}", purge.body);
    let receipts = purge.body["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let receipt = &receipts[0];
    assert_eq!(
        (receipt["kind"].as_str(), receipt["count"].as_u64(), receipt["kept_for_holds"].as_u64()),
        (Some("plate_read"), Some(1), Some(1))
    );
    let expected_hash = hex::encode(Sha256::digest(b"old-gone\n"));
    assert_eq!(receipt["ids_sha256"], expected_hash);
    assert_eq!(client.get("/v1/status", &custodian).body["stored_observations"], 2);
    let again = client.json("POST", "/v1/retention/purge", &custodian, json!({}));
    assert_eq!(again.body["receipts"], json!([]), "nothing left to purge");

    // The deleted read is gone from searches; the held one and the recent one remain.
    let search = |plate: &str| {
        let body = json!({
            "purpose": "criminal_investigation", "case_number": "HPD-2026-0042",
            "justification": "checking where the van from the robbery was parked in October",
            "exigency_reference": "CAD-2026-77", "plate": plate, "from": days_ago(70), "to": days_ago(0),
        });
        let reply = client.json("POST", "/v1/search/plates", &investigator, body);
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["results"].as_array().unwrap().iter().map(|r| r["observation"]["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(search("GONE11"), ["recent"]);
    assert_eq!(search("HELD44"), ["old-held"]);

    // The receipt is in the audit log, before the searches that no longer find the read.
    let export = client.request("GET", "/v1/audit/export", Some(&auditor), &[], vec![]);
    let text = match &export.body {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    assert!(!text.contains("HELD44"), "hold plates are keyed in the log");
    let entries: Vec<Value> = text.lines().filter(|l| l.starts_with("{\"seq\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    let position = |a: &str| actions.iter().position(|x| *x == a).unwrap_or_else(|| panic!("{a} not in {actions:?}"));
    assert!(position("hold.propose") < position("hold.approve"));
    assert!(position("hold.approve") < position("retention.purge"));
    assert!(position("retention.purge") < position("search.plates"));
    let logged = entries.iter().find(|e| e["action"] == "retention.purge").unwrap();
    assert_eq!(logged["details"]["ids_sha256"], expected_hash);
    assert_eq!(logged["actor"], "test-custodian");

    let retention = client.get("/v1/retention", &auditor);
    assert_eq!(retention.body["windows"]["plate_read"]["days"], 30);
    assert_eq!(retention.body["holds_in_force"], 1);
    let released = client.json("POST", &format!("/v1/holds/{id}/release"), &supervisor, json!({}));
    assert_eq!(released.body["state"], "released");
    let purge = client.json("POST", "/v1/retention/purge", &custodian, json!({}));
    assert_eq!(purge.body["receipts"][0]["count"], 1, "released, the held read expires too");

    // The transparency report counts the holds and the purges from the live log.
    let report = client.get("/v1/reports?format=json", &auditor).body;
    assert_eq!(
        (report["holds_opened"].as_u64(), report["holds_released"].as_u64(), report["holds_in_force"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    let purged: Vec<u64> = report["purges"].as_array().unwrap().iter().map(|p| p["receipt"]["count"].as_u64().unwrap()).collect();
    assert_eq!(purged, [1, 1]);
    assert_eq!(report["searches_by_kind"]["plates"], 2);
    let html = client.request("GET", "/v1/reports", Some(&auditor), &[], vec![]).body;
    let html = html.as_str().unwrap();
    assert!(html.contains("Retention purges") && html.contains(&expected_hash), "the receipt's hash is published");
}

#[test]
fn a_retention_change_needs_a_second_person_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let [admin, ingest, custodian, supervisor, auditor] =
        ["administrator", "ingest", "custodian", "supervisor", "auditor"].map(|r| token(dir.path(), r));
    let server = Server::start(dir.path());
    let client = server.client();
    assert_eq!(client.json("PUT", "/v1/devices/lpr-1", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status, 201);
    assert_eq!(client.ndjson(&ingest, &[read("twenty-days", "MID200", 20)]).body["accepted"], 1);

    let vague = client.json("POST", "/v1/retention/changes", &custodian, json!({"days": {"plate_read": 14}, "reason": "shorter"}));
    assert_eq!((vague.status, vague.body["field"].as_str()), (400, Some("reason")));
    let zero = client.json(
        "POST",
        "/v1/retention/changes",
        &custodian,
        json!({"days": {"plate_read": 0}, "reason": "keep nothing at all from now on"}),
    );
    assert_eq!((zero.status, zero.body["field"].as_str()), (400, Some("days")));
    let proposed = client.json(
        "POST",
        "/v1/retention/changes",
        &custodian,
        json!({"days": {"plate_read": 14}, "reason": "council resolution 2026-41 shortens plate read retention"}),
    );
    assert_eq!(proposed.status, 201, "{:?}", proposed.body);
    let id = proposed.body["id"].as_str().unwrap().to_owned();
    assert_eq!(client.get("/v1/retention", &auditor).body["windows"]["plate_read"]["days"], 30, "nothing changes on a proposal");
    let own = client.json("POST", &format!("/v1/retention/changes/{id}/decision"), &custodian, json!({"approve": true}));
    assert_eq!((own.status, own.body["field"].as_str()), (403, Some("approve")), "{:?}", own.body);
    let approved = client.json("POST", &format!("/v1/retention/changes/{id}/decision"), &supervisor, json!({"approve": true}));
    assert_eq!((approved.status, approved.body["status"].as_str()), (200, Some("applied")), "{:?}", approved.body);
    assert_eq!(client.get("/v1/retention", &auditor).body["windows"]["plate_read"]["days"], 14);

    // The new window is what the purge enforces, and it survives a restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get("/v1/status", &custodian).body["stored_observations"] != 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    }
    let purge = client.json("POST", "/v1/retention/purge", &custodian, json!({}));
    assert_eq!((purge.body["receipts"][0]["count"].as_u64(), purge.body["receipts"][0]["window_days"].as_u64()), (Some(1), Some(14)));
    server.stop();
    let server = Server::start(dir.path());
    let client = server.client();
    assert_eq!(client.get("/v1/retention", &auditor).body["windows"]["plate_read"]["days"], 14);
    let changes = client.get("/v1/retention/changes", &auditor).body;
    assert_eq!(changes["changes"][0]["decided_by"], "test-supervisor");
    let export = client.request("GET", "/v1/audit/export", Some(&auditor), &[], vec![]);
    let text = match &export.body {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    assert!(text.contains("retention.change.propose") && text.contains("retention.change.approve"));
}
