//! Cases: a search names a case the system knows, not any string of the right shape.
//!
//! A supervisor opens a case with its number and a title that says what it is about, and closes it
//! when it ends; a closed case admits no more searches. (A dispatch incident the system holds is a
//! case too, by its incident number; that check is the application layer's, against the store.)
//! Cases are kept in their own log, each record the full current state of one case, and every step
//! is audited by the caller before it is stored.

use crate::book::{BookError, BookRecord, RecordBook};
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Longest title.
pub const TITLE_CHARS_MAX: usize = 200;

/// Fewest words in a title: "theft" says too little to audit against.
pub const TITLE_WORDS_MIN: usize = 3;

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Searches may name it.
    Open,
    /// Ended: no more searches.
    Closed,
}

/// A case opened by a supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Its number, in the policy's format; unique.
    pub number: String,
    /// What it is about (shown to investigators and auditors).
    pub title: String,
    /// Who opened it.
    pub opened_by: String,
    /// When.
    pub opened_at: Timestamp,
    /// Where it stands.
    pub status: CaseStatus,
    /// Who closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
}

/// Why a case step failed.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// No such case.
    #[error("no case {0}")]
    NotFound(String),
    /// The number is taken.
    #[error("case {0} is already open or was closed; a case number is used once")]
    Duplicate(String),
    /// Closed already.
    #[error("case {0} is already closed")]
    Closed(String),
    /// The title says too little, or too much.
    #[error("title: {0}")]
    BadTitle(String),
    /// The step could not be audited, so it was not taken.
    #[error("audit: {0}")]
    Audit(String),
    /// The book's log failed, or a stored record is damaged.
    #[error(transparent)]
    Book(#[from] BookError),
}

impl BookRecord for Case {
    fn id(&self) -> &str {
        &self.number
    }
}

/// The cases of a deployment.
pub struct CaseBook {
    book: RecordBook<Case>,
}

impl CaseBook {
    /// Opens the book in `dir`.
    pub fn open(dir: &Path) -> Result<CaseBook, CaseError> {
        Ok(CaseBook { book: RecordBook::open(dir)? })
    }

    /// Opens a case (its number already checked against the policy). `audit` runs before it is stored.
    pub fn open_case(&self, mut case: Case, audit: impl FnOnce(&Case) -> Result<(), String>) -> Result<Case, CaseError> {
        case.title = case.title.trim().to_owned();
        let words = case.title.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).count();
        if words < TITLE_WORDS_MIN || case.title.chars().count() > TITLE_CHARS_MAX {
            return Err(CaseError::BadTitle(format!(
                "say what the case is about in {TITLE_WORDS_MIN} or more words, at most {TITLE_CHARS_MAX} characters"
            )));
        }
        case.status = CaseStatus::Open;
        case.closed_by = None;
        case.closed_at = None;
        let unique = |kept: &[Case], new: &Case| match kept.iter().any(|c| c.number == new.number) {
            true => Err(CaseError::Duplicate(new.number.clone())),
            false => Ok(()),
        };
        self.book.insert_if(case, unique, |c| audit(c).map_err(CaseError::Audit))
    }

    /// Closes a case: searches may no longer name it.
    pub fn close(
        &self,
        number: &str,
        by: &str,
        now: Timestamp,
        audit: impl FnOnce(&Case) -> Result<(), String>,
    ) -> Result<Case, CaseError> {
        let step = |current: Case| {
            if current.status == CaseStatus::Closed {
                return Err(CaseError::Closed(current.number));
            }
            Ok(Case { status: CaseStatus::Closed, closed_by: Some(by.to_owned()), closed_at: Some(now), ..current })
        };
        self.book.update(number, || CaseError::NotFound(number.to_owned()), step, |c| audit(c).map_err(CaseError::Audit))
    }

    /// The case with this number.
    pub fn get(&self, number: &str) -> Option<Case> {
        self.book.get(number)
    }

    /// Every case, newest first.
    pub fn list(&self) -> Vec<Case> {
        self.book.newest_first(|_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(number: &str, title: &str) -> Case {
        Case {
            number: number.into(),
            title: title.into(),
            opened_by: "sam".into(),
            opened_at: Timestamp::now().plus_secs(-86_400),
            status: CaseStatus::Open,
            closed_by: None,
            closed_at: None,
        }
    }

    #[test]
    fn a_number_is_used_once_a_title_must_say_something_and_a_closing_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let book = CaseBook::open(dir.path()).unwrap();
        assert!(matches!(book.open_case(case("HPD-2026-1", "theft"), |_| Ok(())), Err(CaseError::BadTitle(_))));
        book.open_case(case("HPD-2026-1", "burglary at the harbour jewellers"), |_| Ok(())).unwrap();
        assert!(matches!(book.open_case(case("HPD-2026-1", "another case entirely here"), |_| Ok(())), Err(CaseError::Duplicate(_))));
        assert!(matches!(book.open_case(case("HPD-2026-2", "never audited case title"), |_| Err("down".into())), Err(CaseError::Audit(_))));
        let now = Timestamp::now();
        book.close("HPD-2026-1", "sam", now, |_| Ok(())).unwrap();
        assert!(matches!(book.close("HPD-2026-1", "sam", now, |_| Ok(())), Err(CaseError::Closed(_))));
        drop(book);
        let book = CaseBook::open(dir.path()).unwrap();
        assert_eq!(book.get("HPD-2026-1").unwrap().status, CaseStatus::Closed);
        assert!(book.get("HPD-2026-2").is_none());
    }
}
