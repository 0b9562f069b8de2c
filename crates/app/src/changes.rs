//! What every two-person configuration change has in common: a proposal with a reason the approver
//! and the audit log can read, and the same answers when a step is refused.

use crate::{Actor, AppError};
use glasshouse_audit::changes::{ChangeError, ChangeRequest, ChangeStatus};
use glasshouse_model::Timestamp;
use serde_json::Value;

/// Words a reason needs at least: the approver and the audit log see it, so it must say why.
const REASON_WORDS_MIN: usize = 5;

/// A change `actor` proposes about `subject`, its reason checked.
pub fn new_change(subject: &str, proposed: Value, reason: String, actor: &Actor, now: Timestamp) -> Result<ChangeRequest, AppError> {
    if reason.split_whitespace().count() < REASON_WORDS_MIN {
        return Err(AppError::invalid("reason", "say why in at least five words (the approver and the audit log see it)"));
    }
    Ok(ChangeRequest {
        id: new_id("ch"),
        subject: subject.into(),
        proposed,
        reason,
        proposed_by: actor.name.clone(),
        proposed_at: now,
        status: ChangeStatus::Proposed,
        decided_by: None,
        decided_at: None,
    })
}

/// The answer to a change step the book refused.
pub fn change_error(e: ChangeError) -> AppError {
    match e {
        ChangeError::NotFound(_) => AppError::not_found(e.to_string()),
        ChangeError::AlreadyDecided(_) => AppError::conflict(e.to_string()),
        ChangeError::OwnProposal => AppError::forbidden(e.to_string()).at("approve"),
        ChangeError::NotTaken(reason) => AppError::unavailable(format!("the change was not made: {reason}"), 30),
        ChangeError::Book(_) => AppError::internal(e),
    }
}

/// A fresh random id with a readable prefix (`ch-`, `hl-`, `hold-`): 64 random bits in hex.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    // A failing OS random source is not recoverable for id generation.
    getrandom::fill(&mut bytes).expect("os random source");
    format!("{prefix}-{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_needs_a_reason_of_five_words() {
        let actor = Actor::new("cara", "custodian");
        let short = new_change("retention", Value::Null, "because".into(), &actor, Timestamp(0)).unwrap_err();
        assert_eq!(short.field.as_deref(), Some("reason"));
        let change = new_change("retention", Value::Null, "the council shortened plate retention".into(), &actor, Timestamp(0)).unwrap();
        assert_eq!((change.proposed_by.as_str(), change.status), ("cara", ChangeStatus::Proposed));
        assert!(change.id.starts_with("ch-") && change.id.len() == 19, "{}", change.id);
    }
}
