//! Supervisor approvals for broad searches: one person asks, another decides, both on the record.
//!
//! A request names the purpose, the case and the scope it wants (kinds, time range, area). A
//! supervisor other than the requester approves or denies it; an approval lasts
//! [`APPROVAL_VALIDITY_SECS`] and covers only searches by the requester, for the same case, within
//! the approved scope. Requests and decisions are kept in their own log (and, by the server, in the
//! audit log), so the approval queue survives a restart.

use crate::book::{BookError, BookRecord, RecordBook};
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How long an approval can be used: a day, after which a new request is needed.
pub const APPROVAL_VALIDITY_SECS: i64 = 24 * 3600;

/// What a search may cover under an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Kinds; empty means every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Earliest observation time.
    pub from: Timestamp,
    /// Latest observation time (exclusive).
    pub to: Timestamp,
    /// `[min_lon, min_lat, max_lon, max_lat]`; absent for the whole city.
    #[serde(default)]
    pub bbox: Option<[f64; 4]>,
}

impl Scope {
    /// True when a search of `kinds` × `[from, to)` × `bbox` lies within this scope.
    pub fn covers(&self, kinds: &[String], from: Option<Timestamp>, to: Option<Timestamp>, bbox: Option<[f64; 4]>) -> bool {
        let kinds_ok = self.kinds.is_empty() || (!kinds.is_empty() && kinds.iter().all(|k| self.kinds.contains(k)));
        let time_ok = from.is_some_and(|f| f >= self.from) && to.is_some_and(|t| t <= self.to);
        let area_ok = match (self.bbox, bbox) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => b[0] >= a[0] && b[1] >= a[1] && b[2] <= a[2] && b[3] <= a[3],
        };
        kinds_ok && time_ok && area_ok
    }
}

/// The state of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a supervisor.
    Pending,
    /// Approved; usable until `expires_at`.
    Approved,
    /// Denied.
    Denied,
}

/// An approval request and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Stable id.
    pub id: String,
    /// Who asked.
    pub requester: String,
    /// When.
    pub requested_at: Timestamp,
    /// The purpose code.
    pub purpose: String,
    /// The case number.
    pub case_number: String,
    /// Why (shown to the supervisor; in the audit log only as a keyed hash).
    pub justification: String,
    /// What the search may cover.
    pub scope: Scope,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The supervisor who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// The supervisor's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_note: Option<String>,
    /// Until when an approval can be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Why an approval step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No such request.
    #[error("no approval request {0}")]
    NotFound(String),
    /// Already decided.
    #[error("approval request {0} is already decided")]
    AlreadyDecided(String),
    /// The requester cannot decide their own request: two people, always.
    #[error("a request must be decided by someone other than the requester")]
    OwnRequest,
    /// The request's scope is malformed.
    #[error("scope: {0}")]
    BadScope(String),
    /// The step could not be audited, so it was not taken.
    #[error("audit: {0}")]
    Audit(String),
    /// The book's log failed, or a stored record is damaged.
    #[error(transparent)]
    Book(#[from] BookError),
}

impl BookRecord for Approval {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The approvals of a deployment.
pub struct ApprovalBook {
    book: RecordBook<Approval>,
}

impl ApprovalBook {
    /// Opens the book in `dir`; each record is the full current state of one approval.
    pub fn open(dir: &Path) -> Result<ApprovalBook, ApprovalError> {
        Ok(ApprovalBook { book: RecordBook::open(dir)? })
    }

    /// Files a request. `audit` runs before it is stored; if it fails, nothing is filed.
    pub fn request(&self, mut approval: Approval, audit: impl FnOnce(&Approval) -> Result<(), String>) -> Result<Approval, ApprovalError> {
        if approval.scope.from >= approval.scope.to {
            return Err(ApprovalError::BadScope("to must be after from".into()));
        }
        approval.status = ApprovalStatus::Pending;
        self.book.insert(approval, |a| audit(a).map_err(ApprovalError::Audit))
    }

    /// Approves or denies a pending request, as someone other than its requester.
    pub fn decide(
        &self,
        id: &str,
        supervisor: &str,
        approve: bool,
        note: Option<String>,
        audit: impl FnOnce(&Approval) -> Result<(), String>,
    ) -> Result<Approval, ApprovalError> {
        let step = |current: Approval| {
            if current.status != ApprovalStatus::Pending {
                return Err(ApprovalError::AlreadyDecided(id.to_owned()));
            }
            if current.requester == supervisor {
                return Err(ApprovalError::OwnRequest);
            }
            let now = Timestamp::now();
            Ok(Approval {
                status: if approve { ApprovalStatus::Approved } else { ApprovalStatus::Denied },
                decided_by: Some(supervisor.to_owned()),
                decided_at: Some(now),
                decision_note: note,
                expires_at: approve.then(|| now.plus_secs(APPROVAL_VALIDITY_SECS)),
                ..current
            })
        };
        self.book.update(id, || ApprovalError::NotFound(id.to_owned()), step, |a| audit(a).map_err(ApprovalError::Audit))
    }

    /// The approval with this id.
    pub fn get(&self, id: &str) -> Option<Approval> {
        self.book.get(id)
    }

    /// Requests, newest first; only `requester`'s when given.
    pub fn list(&self, requester: Option<&str>) -> Vec<Approval> {
        self.book.newest_first(|a| requester.is_none_or(|r| a.requester == r))
    }
}

/// What a search asks for, to compare with an approval's scope.
#[derive(Debug, Clone, Copy)]
pub struct Requested<'a> {
    /// Kinds searched; empty for all.
    pub kinds: &'a [String],
    /// Start of the time range.
    pub from: Option<Timestamp>,
    /// End of the time range.
    pub to: Option<Timestamp>,
    /// The area searched.
    pub bbox: Option<[f64; 4]>,
}

/// Whether `approval` lets `requester` run a search for `case_number` over `requested` now.
pub fn authorises(approval: &Approval, requester: &str, case_number: &str, requested: Requested<'_>, now: Timestamp) -> Result<(), String> {
    let Requested { kinds, from, to, bbox } = requested;
    if approval.status != ApprovalStatus::Approved {
        return Err(format!("approval {} is {:?}, not approved", approval.id, approval.status).to_lowercase());
    }
    if approval.requester != requester {
        return Err(format!("approval {} was granted to another investigator", approval.id));
    }
    if approval.case_number != case_number {
        return Err(format!("approval {} is for case {}", approval.id, approval.case_number));
    }
    if approval.expires_at.is_none_or(|e| now >= e) {
        return Err(format!("approval {} has expired", approval.id));
    }
    if !approval.scope.covers(kinds, from, to, bbox) {
        return Err(format!("the search goes beyond the scope of approval {}", approval.id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn request(id: &str) -> Approval {
        Approval {
            id: id.into(),
            requester: "ines".into(),
            requested_at: t("2026-11-27T10:00:00Z"),
            purpose: "missing_person".into(),
            case_number: "HPD-2026-7".into(),
            justification: "child reported missing near the harbour this morning".into(),
            scope: Scope {
                kinds: vec!["plate_read".into()],
                from: t("2026-11-01T00:00:00Z"),
                to: t("2026-11-27T00:00:00Z"),
                bbox: Some([24.9, 60.1, 25.0, 60.2]),
            },
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at: None,
            decision_note: None,
            expires_at: None,
        }
    }

    #[test]
    fn two_people_are_needed_and_decisions_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let book = ApprovalBook::open(dir.path()).unwrap();
        book.request(request("ap-1"), |_| Ok(())).unwrap();
        assert!(matches!(book.decide("ap-1", "ines", true, None, |_| Ok(())), Err(ApprovalError::OwnRequest)));
        assert!(matches!(book.decide("ap-1", "sam", true, None, |_| Err("down".into())), Err(ApprovalError::Audit(_))));
        let approved = book.decide("ap-1", "sam", true, Some("ok".into()), |_| Ok(())).unwrap();
        assert_eq!(approved.status, ApprovalStatus::Approved);
        assert!(matches!(book.decide("ap-1", "sam", false, None, |_| Ok(())), Err(ApprovalError::AlreadyDecided(_))));
        drop(book);
        let book = ApprovalBook::open(dir.path()).unwrap();
        assert_eq!(book.get("ap-1").unwrap().decided_by.as_deref(), Some("sam"));
    }

    #[test]
    fn an_approval_covers_only_its_requester_case_scope_and_day() {
        let mut a = request("ap-1");
        a.status = ApprovalStatus::Approved;
        a.expires_at = Some(t("2026-11-28T10:00:00Z"));
        let now = t("2026-11-27T12:00:00Z");
        let kinds = vec!["plate_read".to_string()];
        let gunshot = vec!["gunshot".to_string()];
        let (from, to) = (Some(t("2026-11-05T00:00:00Z")), Some(t("2026-11-20T00:00:00Z")));
        let bbox = Some([24.92, 60.15, 24.98, 60.18]);
        let r = |kinds, from, bbox| Requested { kinds, from, to, bbox };
        assert!(authorises(&a, "ines", "HPD-2026-7", r(&kinds, from, bbox), now).is_ok());
        assert!(authorises(&a, "otto", "HPD-2026-7", r(&kinds, from, bbox), now).is_err());
        assert!(authorises(&a, "ines", "HPD-2026-8", r(&kinds, from, bbox), now).is_err());
        assert!(authorises(&a, "ines", "HPD-2026-7", r(&gunshot, from, bbox), now).is_err());
        assert!(authorises(&a, "ines", "HPD-2026-7", r(&kinds, Some(t("2026-10-01T00:00:00Z")), bbox), now).is_err());
        assert!(authorises(&a, "ines", "HPD-2026-7", r(&kinds, from, None), now).is_err());
        assert!(authorises(&a, "ines", "HPD-2026-7", r(&kinds, from, bbox), t("2026-11-29T00:00:00Z")).unwrap_err().contains("expired"));
    }
}
