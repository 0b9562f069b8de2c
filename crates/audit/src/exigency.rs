//! Exigency reviews: a search under an exigency claim runs at once, and a supervisor reviews the
//! claim afterwards.
//!
//! An emergency (a child taken, a shooter at large) cannot wait for a warrant or an approval, so a
//! claim of exigency lets a broad search run. Each claim opens a review that a supervisor other than
//! the claimant must close within [`REVIEW_DUE_SECS`]: upheld or not, with a reason. Searches made
//! under the same claim (same claimant, case and reference) while its review is open join that
//! review, so the supervisor judges the emergency once, seeing every search it covered. Reviews
//! left open past their due time are overdue, and the console and the transparency report say so.

use crate::book::{BookError, BookRecord, RecordBook};
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How long a supervisor has to close a review.
pub const REVIEW_DUE_SECS: i64 = 24 * 3600;

/// Longest reason a supervisor may give.
pub const REASON_CHARS_MAX: usize = 1_000;

/// Fewest words in a supervisor's reason: a review is a judgement, and "ok" is not one.
pub const REASON_WORDS_MIN: usize = 3;

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Waiting for a supervisor.
    Open,
    /// The supervisor found the emergency real.
    Upheld,
    /// The supervisor found it was not.
    NotUpheld,
}

/// A claim of exigency and its review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExigencyReview {
    /// Stable id.
    pub id: String,
    /// The claim's reference (a dispatch incident number, say).
    pub reference: String,
    /// Who claimed it.
    pub claimed_by: String,
    /// The case the searches served.
    pub case_number: String,
    /// Their purpose code.
    pub purpose: String,
    /// When the first search under the claim ran.
    pub opened_at: Timestamp,
    /// When a supervisor must have closed it.
    pub due_at: Timestamp,
    /// The audit log positions of the searches made under the claim.
    #[serde(default)]
    pub searches: Vec<u64>,
    /// Where it stands.
    pub status: ReviewStatus,
    /// The supervisor who closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Why (in the audit log only as a keyed hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ExigencyReview {
    /// `open`, `overdue`, `upheld` or `not_upheld`.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match self.status {
            ReviewStatus::Open if now >= self.due_at => "overdue",
            ReviewStatus::Open => "open",
            ReviewStatus::Upheld => "upheld",
            ReviewStatus::NotUpheld => "not_upheld",
        }
    }
}

/// Why a review step failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No such review.
    #[error("no exigency review {0}")]
    NotFound(String),
    /// Closed already.
    #[error("exigency review {0} is already closed")]
    Closed(String),
    /// The claimant cannot review their own claim: two people, always.
    #[error("an exigency claim must be reviewed by someone other than the person who made it")]
    OwnClaim,
    /// The reason is missing, too short or too long.
    #[error("reason: {0}")]
    BadReason(String),
    /// The step could not be audited, so it was not taken.
    #[error("audit: {0}")]
    Audit(String),
    /// The book's log failed, or a stored record is damaged.
    #[error(transparent)]
    Book(#[from] BookError),
}

impl BookRecord for ExigencyReview {
    fn id(&self) -> &str {
        &self.id
    }
}

/// What a claim says, to find its open review or open one.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Who claims.
    pub claimant: &'a str,
    /// For which case.
    pub case_number: &'a str,
    /// With which purpose.
    pub purpose: &'a str,
    /// Under which reference.
    pub reference: &'a str,
}

/// The exigency reviews of a deployment.
pub struct ExigencyBook {
    book: RecordBook<ExigencyReview>,
}

impl ExigencyBook {
    /// Opens the book in `dir`.
    pub fn open(dir: &Path) -> Result<ExigencyBook, ReviewError> {
        Ok(ExigencyBook { book: RecordBook::open(dir)? })
    }

    /// The open review of this claim, or a new one (with id `new_id`, due in a day) once `audit`
    /// has logged its opening. The flag is true when it is new.
    pub fn claim(
        &self,
        claim: Claim<'_>,
        new_id: impl FnOnce() -> String,
        now: Timestamp,
        audit: impl FnOnce(&ExigencyReview) -> Result<(), String>,
    ) -> Result<(ExigencyReview, bool), ReviewError> {
        let same = |r: &ExigencyReview| {
            r.status == ReviewStatus::Open
                && r.claimed_by == claim.claimant
                && r.case_number == claim.case_number
                && r.reference == claim.reference
        };
        let open = || ExigencyReview {
            id: new_id(),
            reference: claim.reference.to_owned(),
            claimed_by: claim.claimant.to_owned(),
            case_number: claim.case_number.to_owned(),
            purpose: claim.purpose.to_owned(),
            opened_at: now,
            due_at: now.plus_secs(REVIEW_DUE_SECS),
            searches: Vec::new(),
            status: ReviewStatus::Open,
            decided_by: None,
            decided_at: None,
            reason: None,
        };
        self.book.find_or_insert(same, open, |r| audit(r).map_err(ReviewError::Audit))
    }

    /// Adds a search (its audit log position) to a review. The search's own entry already names the
    /// review, so nothing more is logged.
    pub fn attach(&self, id: &str, search_seq: u64) -> Result<ExigencyReview, ReviewError> {
        let step = |mut review: ExigencyReview| {
            review.searches.push(search_seq);
            Ok(review)
        };
        self.book.update(id, || ReviewError::NotFound(id.to_owned()), step, |_| Ok(()))
    }

    /// Closes an open review, upheld or not, as someone other than the claimant.
    pub fn decide(
        &self,
        id: &str,
        supervisor: &str,
        upheld: bool,
        reason: String,
        now: Timestamp,
        audit: impl FnOnce(&ExigencyReview) -> Result<(), String>,
    ) -> Result<ExigencyReview, ReviewError> {
        let reason = reason.trim().to_owned();
        let words = reason.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).count();
        if words < REASON_WORDS_MIN || reason.chars().count() > REASON_CHARS_MAX {
            return Err(ReviewError::BadReason(format!(
                "say why the emergency was or was not real, in at least {REASON_WORDS_MIN} words and at most {REASON_CHARS_MAX} characters"
            )));
        }
        let step = |current: ExigencyReview| {
            if current.status != ReviewStatus::Open {
                return Err(ReviewError::Closed(id.to_owned()));
            }
            if current.claimed_by == supervisor {
                return Err(ReviewError::OwnClaim);
            }
            Ok(ExigencyReview {
                status: if upheld { ReviewStatus::Upheld } else { ReviewStatus::NotUpheld },
                decided_by: Some(supervisor.to_owned()),
                decided_at: Some(now),
                reason: Some(reason),
                ..current
            })
        };
        self.book.update(id, || ReviewError::NotFound(id.to_owned()), step, |r| audit(r).map_err(ReviewError::Audit))
    }

    /// The review with this id.
    pub fn get(&self, id: &str) -> Option<ExigencyReview> {
        self.book.get(id)
    }

    /// Reviews, newest first; only `claimant`'s when given.
    pub fn list(&self, claimant: Option<&str>) -> Vec<ExigencyReview> {
        self.book.newest_first(|r| claimant.is_none_or(|c| r.claimed_by == c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    const CLAIM: Claim<'static> =
        Claim { claimant: "ines", case_number: "HPD-2026-7", purpose: "missing_person", reference: "CAD-2026-991" };

    #[test]
    fn searches_under_one_claim_share_its_review_until_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let book = ExigencyBook::open(dir.path()).unwrap();
        let now = t("2026-11-27T10:00:00Z");
        let mut ids = ["ex-1", "ex-2", "ex-3"].into_iter().map(str::to_owned);
        let (first, new) = book.claim(CLAIM, || ids.next().unwrap(), now, |_| Ok(())).unwrap();
        assert!(new);
        assert_eq!(first.due_at, t("2026-11-28T10:00:00Z"));
        book.attach(&first.id, 41).unwrap();
        let (again, new) = book.claim(CLAIM, || ids.next().unwrap(), now.plus_secs(60), |_| panic!("not logged twice")).unwrap();
        assert_eq!((again.id.as_str(), new), ("ex-1", false));
        book.attach(&again.id, 45).unwrap();
        let other_case = Claim { case_number: "HPD-2026-8", ..CLAIM };
        assert_eq!(book.claim(other_case, || ids.next().unwrap(), now, |_| Ok(())).unwrap().0.id, "ex-2");

        assert_eq!(book.get("ex-1").unwrap().state(t("2026-11-28T09:59:59Z")), "open");
        assert_eq!(book.get("ex-1").unwrap().state(t("2026-11-28T10:00:00Z")), "overdue");
        assert!(matches!(
            book.decide("ex-1", "ines", true, "a real abduction in progress".into(), now, |_| Ok(())),
            Err(ReviewError::OwnClaim)
        ));
        assert!(matches!(book.decide("ex-1", "sam", true, "fine".into(), now, |_| Ok(())), Err(ReviewError::BadReason(_))));
        assert!(matches!(
            book.decide("ex-1", "sam", true, "a real abduction".into(), now, |_| Err("down".into())),
            Err(ReviewError::Audit(_))
        ));
        let closed = book.decide("ex-1", "sam", false, "the child was home all along".into(), now, |_| Ok(())).unwrap();
        assert_eq!((closed.state(now), closed.searches.as_slice()), ("not_upheld", &[41, 45][..]));
        assert!(matches!(book.decide("ex-1", "sam", true, "changed my mind today".into(), now, |_| Ok(())), Err(ReviewError::Closed(_))));

        // A closed review takes no more searches: the same claim opens a new one.
        let (next, new) = book.claim(CLAIM, || ids.next().unwrap(), now, |_| Ok(())).unwrap();
        assert_eq!((next.id.as_str(), new), ("ex-3", true));
        drop(book);
        let book = ExigencyBook::open(dir.path()).unwrap();
        assert_eq!(book.list(Some("ines")).len(), 3);
        assert_eq!(book.get("ex-1").unwrap().decided_by.as_deref(), Some("sam"));
    }
}
