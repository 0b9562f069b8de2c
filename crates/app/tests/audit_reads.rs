//! Reads of the audit log are logged, one entry per account per hour.

mod common;

use common::{app, entries};
use glasshouse_app::audit_reads::AuditRead;
use glasshouse_app::{Actor, Component};
use glasshouse_model::Timestamp;

fn auditor(name: &str) -> Actor {
    Actor::new(name, "auditor").via(Component::Http, Some("192.0.2.10".into()))
}

#[test]
fn reads_are_counted_per_auditor_and_hour_and_logged_once_the_hour_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    // The start of the hour two hours ago: the counts go by whole hours, so the test starts at one.
    let now = Timestamp::now();
    let hour = Timestamp((now.0.div_euclid(3_600_000_000) - 2) * 3_600_000_000);
    let (ada, bo) = (auditor("ada"), auditor("bo"));
    f.app.note_audit_read(&ada, AuditRead::Entries(100), hour.plus_secs(60));
    f.app.note_audit_read(&ada, AuditRead::Entries(40), hour.plus_secs(120));
    f.app.note_audit_read(&ada, AuditRead::InclusionProof, hour.plus_secs(180));
    f.app.note_audit_read(&bo, AuditRead::Export, hour.plus_secs(240));
    assert!(entries(&f.app).is_empty(), "nothing is logged while the hour runs");

    // The first read of the next hour logs the hour before, one entry per auditor.
    f.app.note_audit_read(&ada, AuditRead::ConsistencyProof, hour.plus_secs(3600 + 5));
    let log = entries(&f.app);
    assert_eq!(log.len(), 2, "{log:?}");
    let of = |name: &str| log.iter().find(|e| e["actor"] == name).unwrap().clone();
    let ada_hour = of("ada");
    assert_eq!(
        (ada_hour["action"].as_str(), ada_hour["component"].as_str(), ada_hour["address"].as_str()),
        (Some("audit.read"), Some("http"), Some("192.0.2.10"))
    );
    assert_eq!(ada_hour["details"]["entry_pages"], 2);
    assert_eq!(ada_hour["details"]["entries_returned"], 140);
    assert_eq!(ada_hour["details"]["inclusion_proofs"], 1);
    assert_eq!(ada_hour["details"]["consistency_proofs"], 0, "the next hour's proof is not in this one");
    assert_eq!(Timestamp::parse_rfc3339(ada_hour["details"]["hour_from"].as_str().unwrap()), Some(hour));
    assert_eq!(of("bo")["details"]["exports"], 1);

    // At shutdown the hour in progress is logged too.
    f.app.log_audit_reads(hour.plus_secs(3600 + 10), true);
    let log = entries(&f.app);
    assert_eq!(log.len(), 3);
    assert_eq!(log[2]["details"]["consistency_proofs"], 1);
}
