//! Two-person configuration changes: one person proposes a change (retention windows, or where
//! alerts are shared), another approves or rejects it, and only an approved change is applied. Kept in
//! their own log like approvals and holds; each step is audited by the caller before it is stored.

use crate::book::{BookError, BookRecord, RecordBook};
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Waiting for a second person.
    Proposed,
    /// Approved and applied.
    Applied,
    /// Rejected.
    Rejected,
}

/// A proposed change and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRequest {
    /// Stable id.
    pub id: String,
    /// What it changes: `retention` or `sharing`.
    pub subject: String,
    /// The configuration as it would be after the change.
    pub proposed: serde_json::Value,
    /// Why (shown to the approver; audited as a keyed hash).
    pub reason: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// When.
    pub proposed_at: Timestamp,
    /// Where it stands.
    pub status: ChangeStatus,
    /// The second person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
}

/// Why a change step failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No such change.
    #[error("no change {0}")]
    NotFound(String),
    /// Already decided.
    #[error("change {0} is already decided")]
    AlreadyDecided(String),
    /// The proposer cannot decide: two people, always.
    #[error("a change must be decided by someone other than the person who proposed it")]
    OwnProposal,
    /// The step could not be audited or applied, so it was not recorded.
    #[error("{0}")]
    NotTaken(String),
    /// The book's log failed, or a stored record is damaged.
    #[error(transparent)]
    Book(#[from] BookError),
}

impl BookRecord for ChangeRequest {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The change requests of a deployment.
pub struct ChangeBook {
    book: RecordBook<ChangeRequest>,
}

impl ChangeBook {
    /// Opens the book in `dir`.
    pub fn open(dir: &Path) -> Result<ChangeBook, ChangeError> {
        Ok(ChangeBook { book: RecordBook::open(dir)? })
    }

    /// Files a proposal; `audit` runs first.
    pub fn propose(
        &self,
        mut change: ChangeRequest,
        audit: impl FnOnce(&ChangeRequest) -> Result<(), String>,
    ) -> Result<ChangeRequest, ChangeError> {
        change.status = ChangeStatus::Proposed;
        change.decided_by = None;
        change.decided_at = None;
        self.book.insert(change, |c| audit(c).map_err(ChangeError::NotTaken))
    }

    /// Approves (then `audit_and_apply` logs and applies it) or rejects a proposal about `subject`,
    /// as someone other than its proposer. If `audit_and_apply` fails, the proposal stays open. A
    /// change about another subject is not found here, so each subject's deciders stay its own.
    pub fn decide(
        &self,
        subject: &str,
        id: &str,
        decider: &str,
        approve: bool,
        now: Timestamp,
        audit_and_apply: impl FnOnce(&ChangeRequest) -> Result<(), String>,
    ) -> Result<ChangeRequest, ChangeError> {
        let step = |current: ChangeRequest| {
            if current.subject != subject {
                return Err(ChangeError::NotFound(id.to_owned()));
            }
            if current.status != ChangeStatus::Proposed {
                return Err(ChangeError::AlreadyDecided(id.to_owned()));
            }
            if current.proposed_by == decider {
                return Err(ChangeError::OwnProposal);
            }
            Ok(ChangeRequest {
                status: if approve { ChangeStatus::Applied } else { ChangeStatus::Rejected },
                decided_by: Some(decider.to_owned()),
                decided_at: Some(now),
                ..current
            })
        };
        self.book.update(id, || ChangeError::NotFound(id.to_owned()), step, |c| audit_and_apply(c).map_err(ChangeError::NotTaken))
    }

    /// Every change about `subject`, newest first.
    pub fn list(&self, subject: &str) -> Vec<ChangeRequest> {
        self.book.newest_first(|c| c.subject == subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal() -> ChangeRequest {
        ChangeRequest {
            id: "ch-1".into(),
            subject: "retention".into(),
            proposed: serde_json::json!({ "days": { "plate_read": 14 } }),
            reason: "council resolution 2026-41 shortens plate retention".into(),
            proposed_by: "carla".into(),
            proposed_at: Timestamp(1),
            status: ChangeStatus::Proposed,
            decided_by: None,
            decided_at: None,
        }
    }

    #[test]
    fn a_change_needs_a_second_person_and_is_recorded_only_once_applied() {
        let dir = tempfile::tempdir().unwrap();
        let book = ChangeBook::open(dir.path()).unwrap();
        book.propose(proposal(), |_| Ok(())).unwrap();
        assert!(matches!(book.decide("retention", "ch-1", "carla", true, Timestamp(2), |_| Ok(())), Err(ChangeError::OwnProposal)));
        assert!(matches!(
            book.decide("retention", "ch-1", "sam", true, Timestamp(2), |_| Err("disk full".into())),
            Err(ChangeError::NotTaken(_))
        ));
        assert_eq!(book.list("retention")[0].status, ChangeStatus::Proposed, "a failed apply leaves it open");
        let applied = book.decide("retention", "ch-1", "sam", true, Timestamp(3), |_| Ok(())).unwrap();
        assert_eq!((applied.status, applied.decided_by.as_deref()), (ChangeStatus::Applied, Some("sam")));
        assert!(matches!(book.decide("retention", "ch-1", "sam", false, Timestamp(4), |_| Ok(())), Err(ChangeError::AlreadyDecided(_))));
        assert!(matches!(book.decide("sharing", "ch-1", "sam", true, Timestamp(4), |_| Ok(())), Err(ChangeError::NotFound(_))));
        assert!(book.list("sharing").is_empty(), "each subject lists its own changes");
        drop(book);
        assert_eq!(ChangeBook::open(dir.path()).unwrap().list("retention")[0].status, ChangeStatus::Applied);
    }
}
