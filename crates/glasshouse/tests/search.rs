//! The investigation searches through the real HTTP API: plates (exact, wildcard, misread), areas,
//! an incident's neighbourhood and the cameras covering a point, each behind the purpose gate.

mod common;

use common::{Client, Server, token};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct City {
    server: Server,
    ingest: String,
    investigator: String,
    operator: String,
    auditor: String,
    custodian: String,
    supervisor: String,
    _dir: tempfile::TempDir,
}

/// Yesterday at noon (UTC) plus `minutes`: recent enough that no retention window touches it.
fn at(minutes: i64) -> String {
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let base = yesterday.and_hms_opt(12, 0, 0).unwrap().and_utc();
    (base + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read(id: &str, device: &str, plate: &str, minutes: i64, candidates: &[&str]) -> String {
    let candidates: Vec<Value> = candidates.iter().map(|c| json!({"plate": c, "confidence": 0.3})).collect();
    json!({"id": id, "kind": "plate_read", "device_id": device, "observed_at": at(minutes), "plate": plate, "candidates": candidates})
        .to_string()
}

fn purpose() -> Value {
    json!({
        "purpose": "criminal_investigation",
        "case_number": "HPD-2026-0042",
        "justification": "tracing the grey van seen leaving the jewellery shop robbery",
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// Waits until all `expected` observations are in segments, so searches read Parquet and indexes.
fn wait_flushed(client: &Client, token: &str, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.get("/v1/status", token).body;
        if status["hot_window_observations"] == 0 && status["stored_observations"] == expected {
            return;
        }
        assert!(Instant::now() < deadline, "no flush: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Two readers 1 km apart, a camera facing the first, a CAD system; a morning of reads, a gunshot
/// and an incident beside the first reader.
fn city() -> City {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<String> = ["administrator", "ingest", "investigator", "operator", "auditor", "custodian", "supervisor"]
        .iter()
        .map(|r| token(dir.path(), r))
        .collect();
    let server = Server::start(dir.path());
    common::open_cases(&server);
    let client = server.client();
    let admin = &tokens[0];
    for (id, body) in [
        ("lpr-a", json!({"type": "plate_reader", "lat": 60.1700, "lon": 24.9400})),
        ("lpr-b", json!({"type": "plate_reader", "lat": 60.1790, "lon": 24.9400})),
        (
            "cam-a",
            json!({"type": "camera", "lat": 60.1700, "lon": 24.9390, "bearing_deg": 90, "fov_deg": 60, "range_m": 120, "name": "Kauppatori east"}),
        ),
        ("cam-far", json!({"type": "camera", "lat": 60.1800, "lon": 24.9500, "bearing_deg": 0, "fov_deg": 40, "range_m": 100})),
        ("shots-1", json!({"type": "gunshot_array", "lat": 60.1701, "lon": 24.9402})),
        ("cad", json!({"type": "cad", "mobile": true})),
    ] {
        let reply = client.json("PUT", &format!("/v1/devices/{id}"), admin, body);
        assert_eq!(reply.status, 201, "{id}: {:?}", reply.body);
    }
    let mut lines = vec![
        read("r1", "lpr-a", "ABC123", 0, &[]),
        read("r2", "lpr-b", "ABC123", 30, &[]),
        read("r3", "lpr-a", "A8C123", 2, &[]),         // an OCR misread of ABC123
        read("r4", "lpr-a", "XYZ999", 3, &["ABC123"]), // ABC123 only as a candidate
        read("r5", "lpr-a", "ABD124", 10, &[]),        // matches AB?12* but is another car
        read("r6", "lpr-b", "QQQ111", 1, &[]),
    ];
    for n in 0..40 {
        lines.push(read(&format!("bg{n}"), if n % 2 == 0 { "lpr-a" } else { "lpr-b" }, &format!("BG{n:04}"), n, &[]));
    }
    lines.push(json!({"id": "g1", "kind": "gunshot", "device_id": "shots-1", "observed_at": at(1), "rounds": 3}).to_string());
    lines.push(
        json!({"id": "i1", "kind": "incident", "device_id": "cad", "observed_at": at(1), "lat": 60.1701, "lon": 24.9401,
               "incident_id": "C-7", "type_code": "SHOTS", "priority": 1, "status": "open"})
        .to_string(),
    );
    lines.push(
        json!({"id": "i2", "kind": "incident", "device_id": "cad", "observed_at": at(9), "lat": 60.1701, "lon": 24.9401,
               "incident_id": "C-7", "type_code": "SHOTS", "priority": 1, "status": "dispatched"})
        .to_string(),
    );
    let reply = client.ndjson(&tokens[1], &lines);
    assert_eq!(reply.body["accepted"], lines.len(), "{:?}", reply.body);
    wait_flushed(&client, &tokens[2], lines.len());
    let mut t = tokens.into_iter().skip(1);
    let mut next = || t.next().unwrap();
    let (ingest, investigator, operator, auditor, custodian, supervisor) = (next(), next(), next(), next(), next(), next());
    City { server, ingest, investigator, operator, auditor, custodian, supervisor, _dir: dir }
}

fn ids(results: &Value, path: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        results.as_array().unwrap().iter().map(|r| r.pointer(path).and_then(Value::as_str).unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[test]
fn plates_are_found_exactly_by_pattern_and_through_misreads_from_the_segments() {
    let city = city();
    let client = city.server.client();
    let search = |body: Value| client.json("POST", "/v1/search/plates", &city.investigator, body);
    let day = json!({"from": at(-60), "to": at(120)});

    let exact = search(with(with(purpose(), day.clone()), json!({"plate": "abc-123"})));
    assert_eq!(exact.status, 200, "{:?}", exact.body);
    assert_eq!(ids(&exact.body["results"], "/observation/id"), ["r1", "r2", "r4"], "the plate or a candidate, exactly");
    assert_eq!(exact.body["explain"]["index"], "plate_fst");
    assert_eq!(exact.body["explain"]["hot_window_matches"], 0, "answered from the segments");
    let via_candidate = exact.body["results"].as_array().unwrap().iter().find(|r| r["observation"]["id"] == "r4").unwrap();
    assert_eq!(via_candidate["match"]["via_candidate"], true);

    let pattern = search(with(with(purpose(), day.clone()), json!({"plate": "AB?12*", "mode": "wildcard"})));
    assert_eq!(ids(&pattern.body["results"], "/observation/id"), ["r1", "r2", "r4", "r5"], "{:?}", pattern.body);

    // The same pattern as counts: answered from the index, the segment lying wholly in the range.
    let summary = search(with(with(purpose(), day.clone()), json!({"plate": "AB?12*", "mode": "wildcard", "summary": true})));
    assert_eq!(summary.status, 200, "{:?}", summary.body);
    assert_eq!(summary.body["reads"], 4, "{:?}", summary.body);
    assert_eq!(summary.body["plates"], json!([{"plate": "ABC123", "reads": 3}, {"plate": "ABD124", "reads": 1}]));
    assert_eq!(summary.body["plates_matched"], 2);
    assert_eq!(summary.body["explain"]["segments_answered_by_index"], 1, "{:?}", summary.body["explain"]);
    assert_eq!(summary.body["explain"]["rows_scanned"], 0);
    // Cut by the range, the segment's selected rows are read instead: r2 (minute 30) falls out.
    let early = json!({"from": at(-60), "to": at(20)});
    let cut = search(with(with(purpose(), early), json!({"plate": "AB?12*", "mode": "wildcard", "summary": true})));
    assert_eq!(cut.body["reads"], 3, "{:?}", cut.body);
    assert_eq!(cut.body["explain"]["segments_answered_by_index"], 0);
    // A pattern with no fixed start: its plates come from the store's plate dictionary.
    let infix = search(with(with(purpose(), day.clone()), json!({"plate": "*C12*", "mode": "wildcard"})));
    assert_eq!(ids(&infix.body["results"], "/observation/id"), ["r1", "r2", "r3", "r4"], "{:?}", infix.body);
    assert_eq!(infix.body["explain"]["index"], "plate_dictionary");
    assert_eq!(infix.body["explain"]["dictionary_plates_matched"], 2, "ABC123 and A8C123");
    let infix_count = search(with(with(purpose(), day.clone()), json!({"plate": "*C12*", "mode": "wildcard", "summary": true})));
    assert_eq!(infix_count.body["plates"], json!([{"plate": "ABC123", "reads": 3}, {"plate": "A8C123", "reads": 1}]));
    let exported =
        search(with(with(purpose(), day.clone()), json!({"plate": "AB?12*", "mode": "wildcard", "summary": true, "format": "csv"})));
    assert_eq!((exported.status, exported.body["field"].as_str()), (400, Some("format")), "{:?}", exported.body);

    let misread = search(with(with(purpose(), day.clone()), json!({"plate": "ABC123", "mode": "tolerant", "substitutions_max": 0})));
    assert_eq!(ids(&misread.body["results"], "/observation/id"), ["r1", "r2", "r3", "r4"]);
    let r3 = misread.body["results"].as_array().unwrap().iter().find(|r| r["observation"]["id"] == "r3").unwrap();
    assert_eq!(r3["match"]["diffs"], json!([{"position": 1, "read": "8", "listed": "B", "confusable": true}]));

    // Paging: two at a time, every result once, in the same order.
    let mut paged = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = search(with(
            with(purpose(), day.clone()),
            json!({"plate": "ABC123", "mode": "tolerant", "substitutions_max": 0, "limit": 2, "cursor": cursor}),
        ));
        assert_eq!(page.status, 200, "{:?}", page.body);
        paged.extend(page.body["results"].as_array().unwrap().iter().map(|r| r["observation"]["id"].as_str().unwrap().to_owned()));
        cursor = page.body["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    let whole: Vec<String> =
        misread.body["results"].as_array().unwrap().iter().map(|r| r["observation"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(paged, whole);
}

#[test]
fn plate_searches_are_gated_logged_with_keyed_plates_and_refuse_dragnets() {
    let city = city();
    let client = city.server.client();
    let search = |body: Value| client.json("POST", "/v1/search/plates", &city.investigator, body);

    let no_purpose = search(json!({"plate": "ABC123", "from": at(0), "to": at(60)}));
    assert_eq!((no_purpose.status, no_purpose.body["field"].as_str()), (400, Some("purpose")), "{:?}", no_purpose.body);
    let vague = search(with(purpose(), json!({"plate": "ABC123", "justification": "investigation", "from": at(0), "to": at(60)})));
    assert_eq!((vague.status, vague.body["field"].as_str()), (400, Some("justification")));
    let everything = search(with(purpose(), json!({"plate": "*", "mode": "wildcard", "from": at(0), "to": at(60)})));
    assert_eq!((everything.status, everything.body["field"].as_str()), (400, Some("plate")), "{:?}", everything.body);
    let month = search(with(purpose(), json!({"plate": "ABC123", "from": at(-30 * 24 * 60), "to": at(60)})));
    assert_eq!((month.status, month.body["field"].as_str()), (403, Some("approval")), "{:?}", month.body);
    let open_ended = search(with(purpose(), json!({"plate": "ABC123"})));
    assert_eq!(open_ended.status, 403, "no time bounds is following a plate forever");
    let cite = |plate: &str| json!({"plate": plate, "from": at(-30 * 24 * 60), "to": at(60), "warrant_reference": "WRT-2026-77"});
    let unregistered = search(with(purpose(), cite("ABC123")));
    assert_eq!((unregistered.status, unregistered.body["field"].as_str()), (403, Some("warrant_reference")), "{:?}", unregistered.body);

    // A custodian registers the warrant from its document; an investigator cannot.
    let warrant = json!({
        "reference": "WRT-2026-77", "issuing_authority": "Helsinki District Court", "case_number": "HPD-2026-0042",
        "plates": ["abc-123"], "from": at(-40 * 24 * 60), "to": at(120), "expires_at": common::in_days(20),
        "document_sha256": "5e".repeat(32),
    });
    assert_eq!(client.json("POST", "/v1/warrants", &city.investigator, warrant.clone()).status, 403);
    let bad = client.json("POST", "/v1/warrants", &city.custodian, with(warrant.clone(), json!({"document_sha256": "scan.pdf"})));
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("document_sha256")), "{:?}", bad.body);
    let registered = client.json("POST", "/v1/warrants", &city.custodian, warrant.clone());
    assert_eq!((registered.status, registered.body["state"].as_str()), (201, Some("in_force")), "{:?}", registered.body);
    assert_eq!(registered.body["scope"]["plates"], json!(["ABC123"]), "plates are stored normalised");
    let again = client.json("POST", "/v1/warrants", &city.supervisor, warrant);
    assert_eq!((again.status, again.body["field"].as_str()), (409, Some("reference")), "{:?}", again.body);

    let another_plate = search(with(purpose(), cite("XYZ999")));
    assert_eq!((another_plate.status, another_plate.body["field"].as_str()), (403, Some("warrant_reference")));
    assert!(another_plate.body["error"].as_str().unwrap().contains("does not name this plate"), "{:?}", another_plate.body);
    let warranted = search(with(purpose(), cite("ABC123")));
    assert_eq!(warranted.status, 200, "{:?}", warranted.body);

    // The auditor sees each search and refusal, with the plate only as a keyed hash.
    let export = client.request("GET", "/v1/audit/export", Some(&city.auditor), &[], vec![]);
    assert_eq!(export.status, 200);
    let text = match &export.body {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    assert!(!text.contains("ABC123"), "a raw plate reached the audit log");
    assert!(!text.contains("grey van"), "free text reached the audit log");
    let entries: Vec<Value> = text.lines().filter(|l| l.starts_with("{\"seq\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("search.plates")))
        .map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("search.plates", "refused"),
            ("search.plates", "refused"),
            ("search.plates", "refused"),
            ("search.plates", "refused"),
            ("search.plates", "refused"),
            ("search.plates", "refused"),
            ("search.plates", "ok"),
            ("search.plates.result", "ok")
        ],
        "four refusals at the gate (the malformed pattern never reaches it), two citing the warrant, then the warranted search"
    );
    let ok = entries.iter().find(|e| e["action"] == "search.plates" && e["outcome"] == "ok").unwrap();
    assert_eq!(ok["details"]["authority"]["warrant"], "WRT-2026-77");
    assert_eq!(ok["details"]["authority"]["warrant_id"], registered.body["id"]);
    assert_eq!(entries.iter().filter(|e| e["action"] == "warrant.register").count(), 1, "refused registrations are not logged");
    assert!(ok["details"]["parameters"]["plate"].as_str().unwrap().starts_with("kh:"), "{ok}");
}

#[test]
fn an_exigency_claim_runs_at_once_and_a_supervisor_closes_its_review() {
    let city = city();
    let client = city.server.client();
    let claim = json!({"plate": "ABC123", "from": at(-30 * 24 * 60), "to": at(60), "exigency_reference": "CAD-2026-4411"});
    for _ in 0..2 {
        let found = client.json("POST", "/v1/search/plates", &city.investigator, with(purpose(), claim.clone()));
        assert_eq!(found.status, 200, "an emergency does not wait: {:?}", found.body);
    }
    let open = client.get("/v1/exigency-reviews?state=open", &city.supervisor);
    assert_eq!((open.status, open.body["open"].as_u64(), open.body["overdue"].as_u64()), (200, Some(1), Some(0)), "{:?}", open.body);
    let review = &open.body["reviews"][0];
    assert_eq!((review["state"].as_str(), review["claimed_by"].as_str()), (Some("open"), Some("test-investigator")));
    assert_eq!(review["searches"].as_array().unwrap().len(), 2, "both searches under the claim share one review");
    let id = review["id"].as_str().unwrap().to_owned();
    assert_eq!(client.get("/v1/exigency-reviews", &city.investigator).body["reviews"][0]["id"], id.as_str(), "the claimant sees their own");
    let unknown_state = client.get("/v1/exigency-reviews?state=pending", &city.supervisor);
    assert_eq!((unknown_state.status, unknown_state.body["field"].as_str()), (400, Some("state")));

    let decide = |body: Value| client.json("POST", &format!("/v1/exigency-reviews/{id}/decision"), &city.supervisor, body);
    let terse = decide(json!({"upheld": true, "reason": "fine"}));
    assert_eq!((terse.status, terse.body["field"].as_str()), (400, Some("reason")), "{:?}", terse.body);
    let upheld = decide(json!({"upheld": true, "reason": "shots fired and the van fled with a hostage"}));
    assert_eq!((upheld.status, upheld.body["state"].as_str()), (200, Some("upheld")), "{:?}", upheld.body);
    assert_eq!(decide(json!({"upheld": false, "reason": "second thoughts about the claim"})).status, 409);
    assert_eq!(client.get("/v1/exigency-reviews?state=open", &city.supervisor).body["open"], 0);

    let report = client.get("/v1/reports?format=json", &city.auditor);
    assert_eq!(report.status, 200, "{:?}", report.body);
    assert_eq!(report.body["exigency_reviews"]["opened"], 1, "{:?}", report.body["exigency_reviews"]);
    assert_eq!(report.body["exigency_reviews"]["upheld"], 1);
    assert_eq!(report.body["searches_by_authority"]["exigency"], 2, "{:?}", report.body["searches_by_authority"]);
    assert_eq!(report.body["searches_by_case_top"], json!([["HPD-2026-0042", 2]]), "searches per case");
    assert_eq!(report.body["cases_open"], common::CASES.len());
}

#[test]
fn area_searches_take_circles_and_polygons_and_name_bad_shapes() {
    let city = city();
    let client = city.server.client();
    let search = |body: Value| client.json("POST", "/v1/search/area", &city.investigator, body);
    let window = json!({"from": at(0), "to": at(5)});

    let circle = search(with(
        with(purpose(), window.clone()),
        json!({"circle": {"lat": 60.1700, "lon": 24.9400, "radius_m": 300}, "kinds": ["plate_read", "gunshot"]}),
    ));
    assert_eq!(circle.status, 200, "{:?}", circle.body);
    let found = ids(&circle.body["observations"], "/id");
    assert_eq!(found, ["bg0", "bg2", "bg4", "g1", "r1", "r3", "r4"], "lpr-a and the gunshot, not lpr-b 1 km north");
    assert!(circle.body["explain"]["segments_scanned"].as_u64().unwrap() >= 1);

    // A triangle around lpr-b only.
    let triangle = json!({"type": "Polygon", "coordinates": [[[24.935, 60.175], [24.945, 60.175], [24.940, 60.185], [24.935, 60.175]]]});
    let polygon = search(with(with(purpose(), window.clone()), json!({"polygon": triangle, "kinds": ["plate_read"]})));
    assert_eq!(ids(&polygon.body["observations"], "/id"), ["bg1", "bg3", "r6"], "{:?}", polygon.body);

    let open_ring = json!({"type": "Polygon", "coordinates": [[[24.935, 60.175], [24.945, 60.175], [24.940, 60.185]]]});
    let bad = search(with(with(purpose(), window.clone()), json!({"polygon": open_ring})));
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("polygon")), "{:?}", bad.body);
    let both =
        search(with(with(purpose(), window.clone()), json!({"polygon": triangle, "circle": {"lat": 60.17, "lon": 24.94, "radius_m": 10}})));
    assert_eq!(both.status, 400);
    let city_wide = search(with(with(purpose(), window), json!({"circle": {"lat": 60.17, "lon": 24.94, "radius_m": 20000}})));
    assert_eq!((city_wide.status, city_wide.body["field"].as_str()), (403, Some("approval")), "{:?}", city_wide.body);
}

#[test]
fn an_incident_context_gathers_its_neighbourhood_and_the_cameras_that_saw_it() {
    let city = city();
    let client = city.server.client();
    let gate =
        "purpose=criminal_investigation&case_number=HPD-2026-0042&justification=reviewing+the+scene+of+the+reported+shooting+at+the+market";
    let context = client.get(&format!("/v1/incidents/C-7/context?{gate}"), &city.investigator);
    assert_eq!(context.status, 200, "{:?}", context.body);
    assert_eq!(ids(&context.body["incident"], "/id"), ["i1", "i2"]);
    // Plate reads within 300 m and 5 minutes of the first report (12:01): lpr-a's reads up to 12:06.
    assert_eq!(ids(&context.body["timeline"]["plate_read"], "/id"), ["bg0", "bg2", "bg4", "bg6", "r1", "r3", "r4"]);
    assert_eq!(ids(&context.body["timeline"]["gunshot"], "/id"), ["g1"]);
    assert_eq!(context.body["timeline"]["incident"], json!([]), "its own reports are not its neighbours");
    let cameras: Vec<&str> = context.body["cameras"].as_array().unwrap().iter().map(|c| c["device"]["id"].as_str().unwrap()).collect();
    assert_eq!(cameras, ["cam-a"]);
    assert_eq!(context.body["windows"]["plate_read"], json!({"radius_m": 300.0, "window_minutes": 5}));

    let narrower = client.get(&format!("/v1/incidents/C-7/context?{gate}&window_minutes=1"), &city.investigator);
    assert_eq!(ids(&narrower.body["timeline"]["plate_read"], "/id"), ["bg0", "bg2", "r1", "r3"], "{:?}", narrower.body);
    let unknown = client.get(&format!("/v1/incidents/C-404/context?{gate}"), &city.investigator);
    assert_eq!(unknown.status, 404);
    let ungated = client.get("/v1/incidents/C-7/context", &city.investigator);
    assert_eq!((ungated.status, ungated.body["field"].as_str()), (400, Some("purpose")));
    let _ = &city.ingest;
}

#[test]
fn the_cameras_covering_a_point_are_those_whose_field_of_view_holds_it() {
    let city = city();
    let client = city.server.client();
    // 50 m east of cam-a, which faces east with a 120 m range.
    let seen = client.get("/v1/cameras/covering?lat=60.1700&lon=24.9399", &city.operator);
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    let ids: Vec<&str> = seen.body["cameras"].as_array().unwrap().iter().map(|c| c["device"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cam-a"]);
    let behind = client.get("/v1/cameras/covering?lat=60.1700&lon=24.9370", &city.operator);
    assert_eq!(behind.body["cameras"], json!([]), "west of a camera facing east");
    let bad = client.get("/v1/cameras/covering?lat=91&lon=0", &city.operator);
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("lat")));
}

#[test]
fn a_gunshot_opens_a_situation_with_the_cameras_and_reads_around_it() {
    let city = city();
    let client = city.server.client();
    let now = chrono::Utc::now();
    let ago = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lines = vec![
        json!({"id": "shot-now", "kind": "gunshot", "device_id": "shots-1", "observed_at": ago(10), "rounds": 4}).to_string(),
        json!({"id": "near-1", "kind": "plate_read", "device_id": "lpr-a", "observed_at": ago(12), "plate": "NEAR01"}).to_string(),
        json!({"id": "near-2", "kind": "plate_read", "device_id": "lpr-a", "observed_at": ago(6), "plate": "NEAR02"}).to_string(),
        json!({"id": "late-1", "kind": "plate_read", "device_id": "lpr-a", "observed_at": ago(1), "plate": "LATE01"}).to_string(),
        json!({"id": "far-1", "kind": "plate_read", "device_id": "lpr-b", "observed_at": ago(10), "plate": "FAR001"}).to_string(),
    ];
    assert_eq!(client.ndjson(&city.ingest, &lines).body["accepted"], 5);
    let deadline = Instant::now() + Duration::from_secs(20);
    let situation_id = loop {
        let alerts = client.get("/v1/alerts?limit=50", &city.operator).body;
        let found = alerts["alerts"].as_array().unwrap().iter().find(|a| a["observation_id"] == "shot-now").cloned();
        if let Some(alert) = found {
            assert_eq!((alert["rule"].as_str(), alert["priority"].as_u64()), (Some("situation"), Some(1)));
            assert_eq!(alert["situation"]["rounds"], 4);
            break alert["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no situation raised");
        std::thread::sleep(Duration::from_millis(100));
    };
    let situation = client.get(&format!("/v1/situations/{situation_id}"), &city.operator);
    assert_eq!(situation.status, 200, "{:?}", situation.body);
    assert_eq!(
        ids(&situation.body["timeline"]["plate_read"], "/id"),
        ["near-1", "near-2"],
        "within 300 m and 5 minutes, not later, not farther"
    );
    assert_eq!(situation.body["timeline"]["gunshot"], json!([]), "the trigger is not its own context");
    let cameras: Vec<&str> = situation.body["cameras"].as_array().unwrap().iter().map(|c| c["device"]["id"].as_str().unwrap()).collect();
    assert_eq!(cameras, ["cam-a"]);
    assert_eq!(
        client.get(&format!("/v1/situations/{situation_id}"), &city.investigator).status,
        403,
        "investigators use a purpose-bound search"
    );
    // The incident "SHOTS" of the fixture is not a listed type, and the old gunshot is history.
    let old = client.get("/v1/alerts?limit=50", &city.operator).body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["observation_id"] == "g1")
        .map(|a| a["id"].as_str().unwrap().to_owned());
    if let Some(old) = old {
        let reply = client.get(&format!("/v1/situations/{old}"), &city.operator);
        let age_hours = (now - chrono::DateTime::parse_from_rfc3339(&at(1)).unwrap().to_utc()).num_hours();
        assert_eq!(reply.status, if age_hours >= 24 { 403 } else { 200 });
    }
    assert_eq!(client.get("/v1/situations/nope", &city.operator).status, 404);
}

#[test]
fn searches_export_as_csv_and_geojson_and_each_export_is_logged_as_one() {
    let city = city();
    let client = city.server.client();
    let window = json!({"from": at(0), "to": at(5)});
    let area = with(
        with(purpose(), window.clone()),
        json!({"circle": {"lat": 60.1700, "lon": 24.9400, "radius_m": 300}, "kinds": ["plate_read"]}),
    );
    let on_screen = client.json("POST", "/v1/search/area", &city.investigator, area.clone());
    let expected = ids(&on_screen.body["observations"], "/id");

    let csv = client.json("POST", "/v1/search/area", &city.investigator, with(area.clone(), json!({"format": "csv"})));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let seq: u64 = csv.header("x-audit-seq").unwrap().parse().unwrap();
    assert!(csv.header("content-disposition").unwrap().contains(&format!("glasshouse-export-{seq}.csv")));
    let text = csv.body.as_str().unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..7], ["id", "kind", "device_id", "observed_at", "received_at", "lat", "lon"]);
    assert!(header.contains(&"plate"));
    let mut exported: Vec<String> = lines.map(|l| l.split(',').next().unwrap().to_owned()).collect();
    exported.sort();
    assert_eq!(exported, expected, "the export holds what the search shows");

    let geojson = client.json(
        "POST",
        "/v1/search/plates",
        &city.investigator,
        with(with(purpose(), window), json!({"plate": "ABC123", "format": "geojson"})),
    );
    assert_eq!(geojson.status, 200, "{:?}", geojson.body);
    assert_eq!(geojson.header("content-type"), Some("application/geo+json"));
    assert_eq!(geojson.body["type"], "FeatureCollection");
    let feature = &geojson.body["features"][0];
    assert_eq!(feature["geometry"]["type"], "Point");
    assert_eq!(feature["properties"]["kind"], "plate_read");

    let bad = client.json("POST", "/v1/search/area", &city.investigator, with(area.clone(), json!({"format": "xlsx"})));
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("format")));
    // Without a purpose, no export either, and the refusal is logged as an export.
    let mut unpurposed = with(area, json!({"format": "csv"}));
    unpurposed.as_object_mut().unwrap().remove("justification");
    assert_eq!(client.json("POST", "/v1/search/area", &city.investigator, unpurposed).status, 400);

    let listed = client.get("/v1/audit/entries?limit=1000", &city.auditor).body["entries"].as_array().unwrap().clone();
    let entries: Vec<Value> = listed.iter().map(|e| serde_json::from_str(e["entry"].as_str().unwrap()).unwrap()).collect();
    let actions = |action: &str, outcome: &str| entries.iter().filter(|e| e["action"] == action && e["outcome"] == outcome).count();
    assert_eq!(actions("export.area", "ok"), 1);
    assert_eq!(actions("export.plates", "ok"), 1);
    assert_eq!(actions("export.area", "refused"), 1);
    assert_eq!(actions("search.area", "ok"), 1, "the on-screen search is a search, not an export");
    let report = client.get("/v1/reports?format=json", &city.auditor);
    assert_eq!(
        report.body["searches_by_kind"]["area (export)"], 2,
        "one export and one refused export: {}",
        report.body["searches_by_kind"]
    );
    assert_eq!(report.body["searches_by_kind"]["plates (export)"], 1);
}
