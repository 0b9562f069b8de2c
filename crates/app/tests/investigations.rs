//! Gate → audit → search → result entry, without HTTP.

mod common;

use common::{app, entries, read};
use glasshouse_app::investigations::PurposeFields;
use glasshouse_app::{Actor, ErrorKind};
use glasshouse_audit::warrants::{Warrant, WarrantScope, WarrantStatus};
use glasshouse_model::Timestamp;
use glasshouse_store::{AreaQuery, ContextWindow, PlateMode, PlateQuery, Shape};

/// The app with the tests' two cases open, as a supervisor opens them.
fn app_with_cases(dir: &std::path::Path) -> common::Fixture {
    let f = app(dir);
    let supervisor = Actor::new("sam", "supervisor");
    for (number, title) in [("HPD-77-0042", "burglary at the harbour jewellers"), ("HPD-77-0043", "arson at the old ferry terminal")] {
        f.app.investigations().open_case(&supervisor, number, title.into(), Timestamp::now()).unwrap();
    }
    f
}

/// The log after the cases were opened.
fn logged(app: &glasshouse_app::App) -> Vec<serde_json::Value> {
    entries(app).into_iter().filter(|e| e["action"] != "case.open").collect()
}

fn investigator() -> Actor {
    Actor::new("ines", "investigator")
}

fn purpose() -> PurposeFields {
    PurposeFields {
        purpose: Some("criminal_investigation".into()),
        case_number: Some("HPD-77-0042".into()),
        justification: Some("tracing the white van seen leaving the burglary".into()),
        ..Default::default()
    }
}

fn plate(plate: &str, days: i64) -> PlateQuery {
    let now = Timestamp::now();
    PlateQuery {
        plate: plate.into(),
        mode: PlateMode::Exact,
        from: Some(now.plus_secs(-days * 86_400)),
        to: Some(now),
        after: None,
        limit: 100,
    }
}

#[test]
fn a_search_runs_only_after_its_entry_and_leaves_its_result_count() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    f.app.store.insert([(1, read("r-1", "ABC123", Timestamp::now().plus_secs(-600)))]);
    let found = f.app.investigations().plates(&investigator(), &purpose(), plate("ABC123", 2), false).unwrap();
    assert_eq!(found.result.items.len(), 1);
    let log = entries(&f.app);
    let search = &log[found.audit_seq as usize];
    assert_eq!((search["action"].as_str(), search["outcome"].as_str()), (Some("search.plates"), Some("ok")));
    assert_eq!(search["details"]["purpose"], "criminal_investigation");
    assert_ne!(search["details"]["parameters"]["plate"], "ABC123", "the plate is logged only as a keyed hash");
    let result = log.last().unwrap();
    assert_eq!(result["action"], "search.plates.result");
    assert_eq!((result["details"]["search_seq"].as_u64(), result["details"]["results"].as_u64()), (Some(found.audit_seq), Some(1)));
}

#[test]
fn a_search_without_a_purpose_is_refused_and_the_refusal_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let vague = PurposeFields { justification: Some("routine".into()), ..purpose() };
    let refused = f.app.investigations().plates(&investigator(), &vague, plate("ABC123", 2), false).unwrap_err();
    assert_eq!((refused.kind, refused.field.as_deref()), (ErrorKind::Invalid, Some("justification")));
    let prohibited = PurposeFields { purpose: Some("immigration_enforcement".into()), ..purpose() };
    let refused = f.app.investigations().plates(&investigator(), &prohibited, plate("ABC123", 2), false).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Forbidden);
    let log = logged(&f.app);
    assert_eq!(log.len(), 2, "one entry per refusal, and no search ran");
    assert!(log.iter().all(|e| e["outcome"] == "refused" && e["action"] == "search.plates"));
    assert_eq!(log[0]["details"]["field"], "justification");
}

/// A warrant for plate ABC123 in the fixture's case, over the last 40 days, registered by a custodian.
fn warrant(reference: &str) -> Warrant {
    let now = Timestamp::now();
    Warrant {
        id: format!("w-{reference}"),
        reference: reference.into(),
        issuing_authority: "Helsinki District Court".into(),
        case_number: "HPD-77-0042".into(),
        scope: WarrantScope { plates: vec!["ABC123".into()], bbox: None, from: now.plus_secs(-40 * 86_400), to: now.plus_secs(3600) },
        expires_at: now.plus_secs(10 * 86_400),
        document_sha256: "0f".repeat(32),
        registered_by: "cora".into(),
        registered_at: now,
        status: WarrantStatus::Registered,
        revoked_by: None,
        revoked_at: None,
        revocation_reason: None,
    }
}

fn custodian() -> Actor {
    Actor::new("cora", "custodian")
}

#[test]
fn a_broad_search_needs_an_authority_and_a_warrant_must_be_registered_and_name_the_plate() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let investigations = f.app.investigations();
    let month = plate("ABC123", 30);
    let refused = investigations.plates(&investigator(), &purpose(), month.clone(), false).unwrap_err();
    assert_eq!((refused.kind, refused.field.as_deref()), (ErrorKind::Forbidden, Some("approval")));
    assert!(refused.message.contains("warrant"), "{}", refused.message);

    let citing = PurposeFields { warrant_reference: Some("WRT-77".into()), ..purpose() };
    let unregistered = investigations.plates(&investigator(), &citing, month.clone(), false).unwrap_err();
    assert_eq!((unregistered.kind, unregistered.field.as_deref()), (ErrorKind::Forbidden, Some("warrant_reference")));
    assert!(unregistered.message.contains("no warrant WRT-77 is registered"), "{}", unregistered.message);

    let registered = investigations.register_warrant(&custodian(), warrant("WRT-77")).unwrap();
    let other_plate = investigations.plates(&investigator(), &citing, plate("XYZ999", 30), false).unwrap_err();
    assert!(other_plate.message.contains("does not name this plate"), "{}", other_plate.message);
    let other_case = PurposeFields { case_number: Some("HPD-77-0043".into()), ..citing.clone() };
    let refused_case = investigations.plates(&investigator(), &other_case, month.clone(), false).unwrap_err();
    assert!(refused_case.message.contains("issued in case HPD-77-0042"), "{}", refused_case.message);

    let found = investigations.plates(&investigator(), &citing, month.clone(), true).unwrap();
    let log = entries(&f.app);
    let search = &log[found.audit_seq as usize];
    assert_eq!(search["action"], "export.plates", "an export is logged as one");
    assert_eq!(search["details"]["authority"], serde_json::json!({ "warrant": "WRT-77", "warrant_id": registered.id }));
    let registration = log.iter().find(|e| e["action"] == "warrant.register").unwrap();
    assert_eq!(registration["details"]["document_sha256"], "0f".repeat(32));
    assert!(registration["details"]["plates"][0].as_str().unwrap().starts_with("kh:"), "plates are keyed hashes: {registration}");
    let refusals: Vec<&str> = log.iter().filter(|e| e["outcome"] == "refused").map(|e| e["details"]["field"].as_str().unwrap()).collect();
    assert_eq!(refusals, ["approval", "warrant_reference", "warrant_reference", "warrant_reference"], "every refusal is logged");

    investigations.revoke_warrant(&custodian(), &registered.id, "quashed by the appeals court".into(), Timestamp::now()).unwrap();
    let revoked = investigations.plates(&investigator(), &citing, month, false).unwrap_err();
    assert!(revoked.message.contains("revoked"), "{}", revoked.message);
}

#[test]
fn a_warrant_with_a_bad_field_or_a_taken_reference_is_refused_by_name_and_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let investigations = f.app.investigations();
    let bad = Warrant { document_sha256: "not a hash".into(), ..warrant("WRT-1") };
    let error = investigations.register_warrant(&custodian(), bad).unwrap_err();
    assert_eq!((error.kind, error.field.as_deref()), (ErrorKind::Invalid, Some("document_sha256")));
    investigations.register_warrant(&custodian(), warrant("WRT-1")).unwrap();
    let twice = investigations.register_warrant(&custodian(), Warrant { id: "w-other".into(), ..warrant("WRT-1") }).unwrap_err();
    assert_eq!((twice.kind, twice.field.as_deref()), (ErrorKind::Conflict, Some("reference")));
    assert_eq!(logged(&f.app).len(), 1, "only the registration that was kept is logged");
}

#[test]
fn an_exigency_claim_runs_at_once_and_opens_one_review_that_another_supervisor_closes() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let investigations = f.app.investigations();
    let claim = PurposeFields { exigency_reference: Some("CAD-2026-991".into()), ..purpose() };
    let first = investigations.plates(&investigator(), &claim, plate("ABC123", 30), false).unwrap();
    let second = investigations.plates(&investigator(), &claim, plate("ABC124", 30), false).unwrap();
    let reviews = f.app.exigencies.list(None);
    assert_eq!(reviews.len(), 1, "searches under one claim share its review");
    let review = &reviews[0];
    assert_eq!((review.state(Timestamp::now()), review.searches.as_slice()), ("open", &[first.audit_seq, second.audit_seq][..]));
    let log = entries(&f.app);
    assert_eq!(log[first.audit_seq as usize]["details"]["authority"]["review"], review.id.as_str());
    assert_eq!(log.iter().filter(|e| e["action"] == "exigency.open").count(), 1);

    let own = investigations.decide_review(&investigator(), &review.id, true, "a real abduction in progress".into(), Timestamp::now());
    assert_eq!(own.unwrap_err().kind, ErrorKind::Forbidden);
    let terse = investigations.decide_review(&Actor::new("sam", "supervisor"), &review.id, true, "ok".into(), Timestamp::now());
    assert_eq!(terse.unwrap_err().field.as_deref(), Some("reason"));
    let closed = investigations
        .decide_review(
            &Actor::new("sam", "supervisor"),
            &review.id,
            false,
            "no emergency: the vehicle was parked at home".into(),
            Timestamp::now(),
        )
        .unwrap();
    assert_eq!(closed.state(Timestamp::now()), "not_upheld");
    let decision = entries(&f.app).into_iter().find(|e| e["action"] == "exigency.not_upheld").unwrap();
    assert_eq!((decision["actor"].as_str(), decision["details"]["searches"].as_array().unwrap().len()), (Some("sam"), 2));
    assert!(decision["details"]["reason"].as_str().unwrap().starts_with("kh:"), "the reason is a keyed hash");

    let bad = PurposeFields { exigency_reference: Some("an emergency!".into()), ..purpose() };
    let refused = investigations.plates(&investigator(), &bad, plate("ABC123", 30), false).unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("exigency_reference"));
}

#[test]
fn an_area_search_finds_what_lies_inside_and_is_logged_with_its_extent() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let now = Timestamp::now();
    f.app.store.insert([(1, read("r-1", "ABC123", now.plus_secs(-600)))]);
    let query = |lat: f64| AreaQuery {
        shape: Shape::Circle { center: glasshouse_model::LatLon::new(lat, 24.94), radius_m: 200.0 },
        kinds: vec![],
        from: now.plus_secs(-3600),
        to: now,
        after: None,
        limit: 100,
    };
    let near = f.app.investigations().area(&investigator(), &purpose(), query(60.17), false).unwrap();
    assert_eq!(near.result.items.len(), 1);
    let far = f.app.investigations().area(&investigator(), &purpose(), query(60.30), false).unwrap();
    assert!(far.result.items.is_empty());
    let search = &entries(&f.app)[near.audit_seq as usize];
    assert_eq!(search["action"], "search.area");
    assert!(search["details"]["parameters"]["area_km2"].as_f64().unwrap() > 0.1);
}

#[test]
fn an_unknown_incident_is_not_found_and_its_search_is_closed_with_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let missing = f
        .app
        .investigations()
        .incident_context(&investigator(), &purpose(), "CAD-404".into(), ContextWindow::defaults(None, None))
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    let log = logged(&f.app);
    assert_eq!(
        log.iter().map(|e| e["action"].as_str().unwrap()).collect::<Vec<_>>(),
        ["search.incident_context", "search.incident_context.result"]
    );
    assert_eq!(log[1]["details"]["results"], 0);
}

#[test]
fn a_situation_that_does_not_exist_is_not_found_and_nothing_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let missing = f.app.investigations().situation(&Actor::new("otto", "operator"), "al-404", Timestamp::now()).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    assert!(entries(&f.app).is_empty());
}

#[test]
fn an_approval_from_another_person_authorises_a_broad_search_within_its_scope() {
    use glasshouse_audit::approvals::Scope;
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let now = Timestamp::now();
    let scope = Scope { kinds: vec!["plate_read".into()], from: now.plus_secs(-30 * 86_400), to: now.plus_secs(60), bbox: None };
    let vague = PurposeFields { justification: Some("routine".into()), ..purpose() };
    assert_eq!(f.app.investigations().request_approval(&investigator(), &vague, scope.clone(), now).unwrap_err().kind, ErrorKind::Invalid);
    let asked = f.app.investigations().request_approval(&investigator(), &purpose(), scope, now).unwrap();
    let own = f.app.investigations().decide_approval(&investigator(), &asked.id, true, None).unwrap_err();
    assert_eq!(own.kind, ErrorKind::Forbidden);
    let long_note = Some("x".repeat(1_001));
    assert_eq!(
        f.app.investigations().decide_approval(&Actor::new("sam", "supervisor"), &asked.id, true, long_note).unwrap_err().field.as_deref(),
        Some("note")
    );
    f.app.investigations().decide_approval(&Actor::new("sam", "supervisor"), &asked.id, true, Some("within the case".into())).unwrap();
    let approved = PurposeFields { approval: Some(asked.id.clone()), ..purpose() };
    let found = f.app.investigations().plates(&investigator(), &approved, plate("ABC123", 29), false).unwrap();
    let search = &entries(&f.app)[found.audit_seq as usize];
    assert_eq!(
        (search["details"]["authority"]["approval"].as_str(), search["details"]["authority"]["approved_by"].as_str()),
        (Some(asked.id.as_str()), Some("sam"))
    );
    let other = f.app.investigations().plates(&Actor::new("ivan", "investigator"), &approved, plate("ABC123", 29), false).unwrap_err();
    assert_eq!(other.kind, ErrorKind::Forbidden, "an approval covers its requester only");
}

#[test]
fn a_search_must_name_a_case_a_supervisor_opened_and_that_is_still_open_or_an_incident_the_system_holds() {
    let dir = tempfile::tempdir().unwrap();
    let f = app_with_cases(dir.path());
    let investigations = f.app.investigations();
    let unknown = PurposeFields { case_number: Some("HPD-77-0999".into()), ..purpose() };
    let refused = investigations.plates(&investigator(), &unknown, plate("ABC123", 2), false).unwrap_err();
    assert_eq!((refused.kind, refused.field.as_deref()), (ErrorKind::Invalid, Some("case_number")));
    assert!(refused.message.contains("no case HPD-77-0999 is open"), "{}", refused.message);
    let supervisor = Actor::new("sam", "supervisor");
    let taken =
        investigations.open_case(&supervisor, "HPD-77-0042", "a second case with this number".into(), Timestamp::now()).unwrap_err();
    assert_eq!((taken.kind, taken.field.as_deref()), (ErrorKind::Conflict, Some("case_number")));
    let vague = investigations.open_case(&supervisor, "HPD-77-0050", "theft".into(), Timestamp::now()).unwrap_err();
    assert_eq!(vague.field.as_deref(), Some("title"));
    let malformed = investigations.open_case(&supervisor, "case 50", "a case with a bad number".into(), Timestamp::now()).unwrap_err();
    assert_eq!(malformed.field.as_deref(), Some("case_number"));

    investigations.close_case(&supervisor, "HPD-77-0042", Timestamp::now()).unwrap();
    let closed = investigations.plates(&investigator(), &purpose(), plate("ABC123", 2), false).unwrap_err();
    assert!(closed.message.contains("was closed by sam"), "{}", closed.message);

    // A dispatch incident the system holds is a case by its number.
    f.app.store.insert([(2, common::incident("i-1", "CAD-2026-0007", Timestamp::now().plus_secs(-600)))]);
    let by_incident = PurposeFields { case_number: Some("CAD-2026-0007".into()), ..purpose() };
    let found = investigations.plates(&investigator(), &by_incident, plate("ABC123", 2), false).unwrap();
    assert_eq!(entries(&f.app)[found.audit_seq as usize]["details"]["case_source"], "incident");
    let log = logged(&f.app);
    let refusals: Vec<&str> = log.iter().filter(|e| e["outcome"] == "refused").map(|e| e["details"]["field"].as_str().unwrap()).collect();
    assert_eq!(refusals, ["case_number", "case_number"], "both refusals are logged");
}
