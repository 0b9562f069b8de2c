//! Legal holds: records a case needs are kept past their retention window, and only for as long as
//! an authority and a second person say so.
//!
//! A hold names a case, its authority (court order, warrant or preservation request, with its
//! reference), a scope (plates and/or devices, and a time range) and an expiry. One person proposes
//! it and another approves it; it is in force from approval until it expires or is released, and
//! lapses by itself at expiry. Like approvals, holds are kept in their own log, each record the full
//! current state of one hold, and every step is audited by the caller before it is stored.

use crate::book::{BookError, BookRecord, RecordBook};
use glasshouse_model::{Body, Observation, Timestamp};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The longest a hold may run before it must be renewed: two years.
pub const HOLD_DAYS_MAX: i64 = 2 * 366;

/// What allows a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// A court order.
    CourtOrder,
    /// A warrant.
    Warrant,
    /// A preservation request (for example under 18 U.S.C. § 2703(f)).
    PreservationRequest,
}

/// What a hold keeps: observations in `[from, to)` with one of the plates (read or OCR candidate) or
/// from one of the devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldScope {
    /// Normalised plates.
    #[serde(default)]
    pub plates: Vec<String>,
    /// Device ids.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Earliest observation time.
    pub from: Timestamp,
    /// Latest observation time (exclusive).
    pub to: Timestamp,
}

impl HoldScope {
    /// True when the observation falls under this scope.
    pub fn covers(&self, o: &Observation) -> bool {
        if o.observed_at < self.from || o.observed_at >= self.to {
            return false;
        }
        if self.devices.contains(&o.device_id) {
            return true;
        }
        match &o.body {
            Body::PlateRead(read) => self.plates.iter().any(|p| *p == read.plate || read.candidates.iter().any(|c| c.plate == *p)),
            _ => false,
        }
    }
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Waiting for a second person.
    Proposed,
    /// Approved; in force until `expires_at` unless released.
    Approved,
    /// Refused by the approver.
    Rejected,
    /// Ended early.
    Released,
}

/// A hold and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// Stable id.
    pub id: String,
    /// The case it serves.
    pub case_number: String,
    /// What allows it.
    pub authority: Authority,
    /// The order's, warrant's or request's reference.
    pub authority_reference: String,
    /// What it keeps.
    pub scope: HoldScope,
    /// When it lapses.
    pub expires_at: Timestamp,
    /// Who proposed it.
    pub proposed_by: String,
    /// When.
    pub proposed_at: Timestamp,
    /// Where it stands.
    pub status: HoldStatus,
    /// The second person: approver or rejecter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Who released it early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<Timestamp>,
}

impl Hold {
    /// True while it keeps records: approved, not released, not expired.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.status == HoldStatus::Approved && now < self.expires_at
    }

    /// `in_force`, `lapsed` (approved but past its expiry), or the status name.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match self.status {
            HoldStatus::Approved if now < self.expires_at => "in_force",
            HoldStatus::Approved => "lapsed",
            HoldStatus::Proposed => "proposed",
            HoldStatus::Rejected => "rejected",
            HoldStatus::Released => "released",
        }
    }
}

/// Why a hold step failed.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such hold.
    #[error("no hold {0}")]
    NotFound(String),
    /// The step does not apply in the hold's state.
    #[error("hold {id} is {state}; {step} is not possible")]
    WrongState {
        /// The hold.
        id: String,
        /// Its state.
        state: &'static str,
        /// What was attempted.
        step: &'static str,
    },
    /// The proposer cannot approve: two people, always.
    #[error("a hold must be approved by someone other than the person who proposed it")]
    OwnProposal,
    /// A field is malformed; names the field.
    #[error("{field}: {reason}")]
    Bad {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The step could not be audited, so it was not taken.
    #[error("audit: {0}")]
    Audit(String),
    /// The book's log failed, or a stored record is damaged.
    #[error(transparent)]
    Book(#[from] BookError),
}

fn bad(field: &'static str, reason: impl Into<String>) -> HoldError {
    HoldError::Bad { field, reason: reason.into() }
}

impl BookRecord for Hold {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The holds of a deployment.
pub struct HoldBook {
    book: RecordBook<Hold>,
}

impl HoldBook {
    /// Opens the book in `dir`.
    pub fn open(dir: &Path) -> Result<HoldBook, HoldError> {
        Ok(HoldBook { book: RecordBook::open(dir)? })
    }

    /// Files a proposal after checking it. `audit` runs before it is stored.
    pub fn propose(&self, mut hold: Hold, audit: impl FnOnce(&Hold) -> Result<(), String>) -> Result<Hold, HoldError> {
        if hold.case_number.trim().is_empty() {
            return Err(bad("case_number", "is required"));
        }
        let reference = hold.authority_reference.trim();
        if !crate::warrants::valid_reference(reference) {
            return Err(bad("authority_reference", "must be 1..=64 letters, digits or - / : ."));
        }
        if hold.scope.plates.is_empty() && hold.scope.devices.is_empty() {
            return Err(bad("scope", "name at least one plate or device: a hold keeps specific records, not everything"));
        }
        if hold.scope.from >= hold.scope.to {
            return Err(bad("scope", "to must be after from"));
        }
        if hold.expires_at <= hold.proposed_at {
            return Err(bad("expires_at", "must be in the future"));
        }
        if hold.expires_at > hold.proposed_at.plus_secs(HOLD_DAYS_MAX * 86_400) {
            return Err(bad("expires_at", format!("a hold runs at most {HOLD_DAYS_MAX} days; renew it before it lapses")));
        }
        hold.status = HoldStatus::Proposed;
        hold.decided_by = None;
        hold.decided_at = None;
        self.book.insert(hold, |h| audit(h).map_err(HoldError::Audit))
    }

    /// Approves or rejects a proposal, as someone other than its proposer.
    pub fn decide(
        &self,
        id: &str,
        approver: &str,
        approve: bool,
        now: Timestamp,
        audit: impl FnOnce(&Hold) -> Result<(), String>,
    ) -> Result<Hold, HoldError> {
        self.step(
            id,
            now,
            "decide",
            audit,
            |hold| {
                if hold.status != HoldStatus::Proposed {
                    return Err(());
                }
                hold.status = if approve { HoldStatus::Approved } else { HoldStatus::Rejected };
                hold.decided_by = Some(approver.to_owned());
                hold.decided_at = Some(now);
                Ok(())
            },
            Some(approver),
        )
    }

    /// Ends a hold in force before its expiry.
    pub fn release(&self, id: &str, by: &str, now: Timestamp, audit: impl FnOnce(&Hold) -> Result<(), String>) -> Result<Hold, HoldError> {
        self.step(
            id,
            now,
            "release",
            audit,
            |hold| {
                if !hold.in_force(now) {
                    return Err(());
                }
                hold.status = HoldStatus::Released;
                hold.released_by = Some(by.to_owned());
                hold.released_at = Some(now);
                Ok(())
            },
            None,
        )
    }

    fn step(
        &self,
        id: &str,
        now: Timestamp,
        step: &'static str,
        audit: impl FnOnce(&Hold) -> Result<(), String>,
        change: impl FnOnce(&mut Hold) -> Result<(), ()>,
        approver: Option<&str>,
    ) -> Result<Hold, HoldError> {
        let checked = |mut hold: Hold| {
            if approver.is_some_and(|a| a == hold.proposed_by) {
                return Err(HoldError::OwnProposal);
            }
            let before = hold.state(now);
            change(&mut hold).map_err(|()| HoldError::WrongState { id: id.to_owned(), state: before, step })?;
            Ok(hold)
        };
        self.book.update(id, || HoldError::NotFound(id.to_owned()), checked, |h| audit(h).map_err(HoldError::Audit))
    }

    /// Every hold, newest first.
    pub fn list(&self) -> Vec<Hold> {
        self.book.newest_first(|_| true)
    }

    /// Holds in force at `now`.
    pub fn in_force(&self, now: Timestamp) -> Vec<Hold> {
        let mut holds = self.book.newest_first(|h| h.in_force(now));
        holds.reverse();
        holds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Candidate, PlateRead, Position};

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn proposal() -> Hold {
        Hold {
            id: "hold-1".into(),
            case_number: "HPD-2026-9".into(),
            authority: Authority::PreservationRequest,
            authority_reference: "PR-2026-114".into(),
            scope: HoldScope {
                plates: vec!["ABC123".into()],
                devices: vec![],
                from: t("2026-09-01T00:00:00Z"),
                to: t("2026-10-01T00:00:00Z"),
            },
            expires_at: t("2027-03-01T00:00:00Z"),
            proposed_by: "carla".into(),
            proposed_at: t("2026-11-27T10:00:00Z"),
            status: HoldStatus::Proposed,
            decided_by: None,
            decided_at: None,
            released_by: None,
            released_at: None,
        }
    }

    fn read(plate: &str, candidate: &str, at: &str) -> Observation {
        Observation {
            id: "r".into(),
            device_id: "alpr-9".into(),
            observed_at: t(at),
            received_at: t(at),
            position: Position { lat: 60.0, lon: 25.0, heading_deg: None, accuracy_m: None },
            body: Body::PlateRead(PlateRead {
                plate: plate.into(),
                candidates: vec![Candidate { plate: candidate.into(), confidence: None }],
                ..PlateRead::default()
            }),
        }
    }

    #[test]
    fn scopes_cover_plates_candidates_and_devices_within_their_time() {
        let scope = proposal().scope;
        assert!(scope.covers(&read("ABC123", "X", "2026-09-10T00:00:00Z")));
        assert!(scope.covers(&read("A8C123", "ABC123", "2026-09-10T00:00:00Z")), "an OCR candidate counts");
        assert!(!scope.covers(&read("ABC123", "X", "2026-10-01T00:00:00Z")), "to is exclusive");
        assert!(!scope.covers(&read("XYZ999", "X", "2026-09-10T00:00:00Z")));
        let by_device = HoldScope { plates: vec![], devices: vec!["alpr-9".into()], ..scope };
        assert!(by_device.covers(&read("XYZ999", "X", "2026-09-10T00:00:00Z")));
    }

    #[test]
    fn a_hold_needs_a_second_person_and_lapses_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let book = HoldBook::open(dir.path()).unwrap();
        let ok = |_: &Hold| Ok(());
        let hold = book.propose(proposal(), ok).unwrap();
        let now = t("2026-11-27T11:00:00Z");
        assert!(book.in_force(now).is_empty(), "a proposal keeps nothing");
        assert!(matches!(book.decide(&hold.id, "carla", true, now, ok), Err(HoldError::OwnProposal)));
        let approved = book.decide(&hold.id, "sam", true, now, ok).unwrap();
        assert_eq!(approved.state(now), "in_force");
        assert!(matches!(book.decide(&hold.id, "sam", true, now, ok), Err(HoldError::WrongState { .. })));
        assert_eq!(book.in_force(now).len(), 1);
        assert!(book.in_force(t("2027-03-01T00:00:00Z")).is_empty(), "lapsed at expiry");
        // Durable: a reopened book has the approved hold.
        drop(book);
        let book = HoldBook::open(dir.path()).unwrap();
        assert_eq!(book.in_force(now).len(), 1);
        let released = book.release(&hold.id, "carla", now, ok).unwrap();
        assert_eq!(released.state(now), "released");
        assert!(book.in_force(now).is_empty());
    }

    #[test]
    fn malformed_proposals_name_the_field_and_failed_audits_file_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let book = HoldBook::open(dir.path()).unwrap();
        let ok = |_: &Hold| Ok(());
        let everything = Hold { scope: HoldScope { plates: vec![], devices: vec![], ..proposal().scope }, ..proposal() };
        assert!(matches!(book.propose(everything, ok), Err(HoldError::Bad { field: "scope", .. })));
        let forever = Hold { expires_at: t("2030-01-01T00:00:00Z"), ..proposal() };
        assert!(matches!(book.propose(forever, ok), Err(HoldError::Bad { field: "expires_at", .. })));
        let vague = Hold { authority_reference: "".into(), ..proposal() };
        assert!(matches!(book.propose(vague, ok), Err(HoldError::Bad { field: "authority_reference", .. })));
        assert!(matches!(book.propose(proposal(), |_| Err("disk full".into())), Err(HoldError::Audit(_))));
        assert!(book.list().is_empty());
    }
}
