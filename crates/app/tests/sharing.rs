//! Sharing changes: what may be proposed, and two people for each.

mod common;

use common::{app, entries};
use glasshouse_app::sharing::SharingProposal;
use glasshouse_app::{Actor, ErrorKind};
use glasshouse_model::Timestamp;
use serde_json::json;

const REASON: &str = "the regional fusion centre receives gunshot situations under the agreement";

#[test]
fn removing_a_sink_that_was_never_shared_is_refused_before_anything_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let admin = Actor::new("ada", "administrator");
    let error = f.app.propose_sharing(&admin, SharingProposal::Remove("nowhere".into()), REASON.into(), Timestamp::now()).unwrap_err();
    assert_eq!((error.kind, error.field.as_deref()), (ErrorKind::Invalid, Some("remove")));
    assert!(entries(&f.app).is_empty());
}

#[test]
fn a_proposed_sink_is_logged_without_its_secret_and_its_proposer_cannot_approve_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let admin = Actor::new("ada", "administrator");
    let sink = json!({ "name": "fusion", "webhook": { "url": "http://127.0.0.1:9/hook", "secret": "s3cret-value-for-hmac" } });
    let change = f.app.propose_sharing(&admin, SharingProposal::Add(sink), REASON.into(), Timestamp::now()).unwrap();
    let logged = entries(&f.app);
    assert_eq!(logged[0]["action"], "sharing.change.propose");
    assert!(!logged[0].to_string().contains("s3cret"), "{}", logged[0]);
    assert_eq!(f.app.sharing_changes()[0]["proposed"]["add"]["webhook"]["secret"], "(hidden)");
    let own = f.app.decide_sharing(&admin, &change.id, true, Timestamp::now()).unwrap_err();
    assert_eq!(own.kind, ErrorKind::Forbidden);
    assert!(f.app.sharing.statuses(0).is_empty(), "no sink started");
}
