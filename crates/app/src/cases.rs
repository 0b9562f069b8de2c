//! Cases: the case a search names must be one the system knows. A supervisor opens a case with a
//! title and closes it when it ends; a dispatch incident the system holds is a case by its number.

use crate::investigations::Investigations;
use crate::{Action, Actor, AppError};
use glasshouse_audit::cases::{Case, CaseError, CaseStatus};
use glasshouse_model::Timestamp;
use serde_json::json;

/// How a searched case is known, as the search's entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseSource {
    /// Opened by a supervisor.
    Opened,
    /// A dispatch incident the system holds.
    Incident,
}

impl CaseSource {
    /// The name entries store.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseSource::Opened => "opened",
            CaseSource::Incident => "incident",
        }
    }
}

impl Investigations<'_> {
    /// Opens a case: its number in the policy's format, used once; a title that says what it is about.
    pub fn open_case(&self, actor: &Actor, number: &str, title: String, now: Timestamp) -> Result<Case, AppError> {
        let number = number.trim();
        self.app.policy.check_case_number(number).map_err(|e| AppError::invalid("case_number", e.reason))?;
        let case = Case {
            number: number.to_owned(),
            title,
            opened_by: actor.name.clone(),
            opened_at: now,
            status: CaseStatus::Open,
            closed_by: None,
            closed_at: None,
        };
        self.app.cases.open_case(case, |c| self.record_case(actor, Action::CaseOpen, c)).map_err(case_error)
    }

    /// Closes a case: searches may no longer name it.
    pub fn close_case(&self, actor: &Actor, number: &str, now: Timestamp) -> Result<Case, AppError> {
        self.app.cases.close(number, &actor.name, now, |c| self.record_case(actor, Action::CaseClose, c)).map_err(case_error)
    }

    /// How `number` is known, or why a search may not name it.
    pub(crate) fn known_case(&self, number: &str) -> Result<CaseSource, Result<String, AppError>> {
        match self.app.cases.get(number) {
            Some(case) if case.status == CaseStatus::Open => Ok(CaseSource::Opened),
            Some(case) => {
                Err(Ok(format!("case {number} was closed by {}: it admits no more searches", case.closed_by.unwrap_or_default())))
            }
            None => match self.app.store.incident_exists(number) {
                Ok(true) => Ok(CaseSource::Incident),
                Ok(false) => Err(Ok(format!(
                    "no case {number} is open and no dispatch incident has that number: a supervisor opens the case with a title first"
                ))),
                Err(e) => Err(Err(AppError::internal(e))),
            },
        }
    }

    /// Logs a case's step: the title only as a keyed hash, like any free text.
    fn record_case(&self, actor: &Actor, action: Action, case: &Case) -> Result<(), String> {
        let details = json!({ "case_number": case.number, "title": self.app.audit.keyed("text", &case.title), "status": case.status });
        self.app.record(actor, action, "ok", details).map(|_| ()).map_err(|e| e.message)
    }
}

/// The answer to a case step the book refused.
fn case_error(e: CaseError) -> AppError {
    match e {
        CaseError::NotFound(_) => AppError::not_found(e.to_string()),
        CaseError::Duplicate(_) => AppError::conflict(e.to_string()).at("case_number"),
        CaseError::Closed(_) => AppError::conflict(e.to_string()),
        CaseError::BadTitle(_) => AppError::invalid("title", e.to_string()),
        CaseError::Audit(_) => AppError::unavailable("the audit log cannot be written, so the case was not changed", 30),
        CaseError::Book(_) => AppError::internal(e),
    }
}
