//! Purpose binding: every historical search names a purpose from a closed list, a case number of a
//! known shape, and a justification of real words. Vague reasons are refused by name.

use regex_lite::Regex;
use serde::{Deserialize, Serialize};

/// The deployment's rules for search purposes (in `DATA_DIR/policy.json`, defaults otherwise).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposePolicy {
    /// Purpose codes a search may name.
    pub purposes: Vec<String>,
    /// Purposes refused outright, whatever else the request says.
    pub prohibited: Vec<String>,
    /// The shape of a case number, as a regular expression matched against the whole number.
    pub case_number_pattern: String,
    /// Fewest words in a justification.
    pub justification_words_min: usize,
    /// Justifications that say nothing (compared case-insensitively, ignoring punctuation).
    pub vague_justifications: Vec<String>,
    /// A search over a larger area (or with no area at all) needs a registered warrant, a claim of
    /// exigency, or a supervisor's approval.
    #[serde(default = "default_area_km2_max")]
    pub area_km2_max: f64,
    /// Likewise a search spanning more days (or with no time bounds).
    #[serde(default = "default_span_days_max")]
    pub span_days_max: f64,
}

fn default_area_km2_max() -> f64 {
    5.0
}

fn default_span_days_max() -> f64 {
    7.0
}

impl Default for PurposePolicy {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        PurposePolicy {
            purposes: list(&[
                "criminal_investigation",
                "missing_person",
                "stolen_vehicle",
                "amber_alert",
                "hit_and_run",
                "public_safety_threat",
            ]),
            prohibited: list(&["immigration_enforcement", "first_amendment_activity", "reproductive_health", "personal_use"]),
            case_number_pattern: "[A-Z]{2,6}-[0-9]{2,4}-[0-9]{1,8}".into(),
            justification_words_min: 5,
            vague_justifications: list(&[
                "investigation",
                "inv",
                "n/a",
                "na",
                "test",
                "testing",
                "routine",
                "routine check",
                "check",
                "none",
                "ongoing investigation",
                "official business",
                "per request",
            ]),
            area_km2_max: default_area_km2_max(),
            span_days_max: default_span_days_max(),
        }
    }
}

/// A purpose that passed the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purpose {
    /// The purpose code.
    pub code: String,
    /// The case number.
    pub case_number: String,
    /// The justification as given.
    pub justification: String,
}

/// Why a purpose was refused; `field` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct PurposeError {
    /// `purpose`, `case_number` or `justification`.
    pub field: &'static str,
    /// Why.
    pub reason: String,
    /// True for a prohibited purpose (refused, not merely incomplete).
    pub prohibited: bool,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> PurposeError {
    PurposeError { field, reason: reason.into(), prohibited: false }
}

/// The extent of a search, for deciding whether it is broad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    /// Area searched in km², `None` for no area bound.
    pub area_km2: Option<f64>,
    /// Days spanned, `None` for an open time range.
    pub span_days: Option<f64>,
}

impl PurposePolicy {
    /// Why a search of this extent needs a warrant, exigency or approval; `None` when it does not.
    pub fn broad_reason(&self, extent: Extent) -> Option<String> {
        match (extent.area_km2, extent.span_days) {
            (None, _) => Some("it has no area bound".into()),
            (Some(area), _) if area > self.area_km2_max => Some(format!("it covers {area:.1} km², more than {} km²", self.area_km2_max)),
            (_, None) => Some("it has no time bounds".into()),
            (_, Some(days)) if days > self.span_days_max => Some(format!("it spans {days:.1} days, more than {}", self.span_days_max)),
            _ => None,
        }
    }

    /// Why a search that follows one plate needs a warrant, exigency or approval: an open time
    /// range, or one longer than the span limit. The area does not matter: following a plate is
    /// city-wide by nature.
    pub fn broad_reason_for_plate(&self, span_days: Option<f64>) -> Option<String> {
        match span_days {
            None => Some("it follows a plate with no time bounds".into()),
            Some(days) if days > self.span_days_max => {
                Some(format!("it follows a plate over {days:.1} days, more than {}", self.span_days_max))
            }
            Some(_) => None,
        }
    }

    /// Checks the policy itself (a bad pattern is a configuration error, found at start).
    pub fn validate(&self) -> Result<(), String> {
        Regex::new(&format!("^(?:{})$", self.case_number_pattern)).map_err(|e| format!("case_number_pattern: {e}"))?;
        if self.purposes.is_empty() {
            return Err("purposes: the list is empty, so no search could ever run".into());
        }
        Ok(())
    }

    /// Checks a case number's shape.
    pub fn check_case_number(&self, case: &str) -> Result<(), PurposeError> {
        let pattern = Regex::new(&format!("^(?:{})$", self.case_number_pattern)).expect("validated at start");
        if !pattern.is_match(case) {
            return Err(refuse("case_number", format!("{case:?} does not match the case number format {}", self.case_number_pattern)));
        }
        Ok(())
    }

    /// Checks the three fields of a search request.
    pub fn check(&self, purpose: Option<&str>, case_number: Option<&str>, justification: Option<&str>) -> Result<Purpose, PurposeError> {
        let code = purpose
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| refuse("purpose", "is required: name the purpose of this search"))?;
        if self.prohibited.iter().any(|p| p == code) {
            return Err(PurposeError { field: "purpose", reason: format!("{code:?} is a prohibited purpose"), prohibited: true });
        }
        if !self.purposes.iter().any(|p| p == code) {
            return Err(refuse("purpose", format!("{code:?} is not an allowed purpose; allowed: {}", self.purposes.join(", "))));
        }
        let case = case_number.map(str::trim).filter(|c| !c.is_empty()).ok_or_else(|| refuse("case_number", "is required"))?;
        self.check_case_number(case)?;
        let text = justification.map(str::trim).filter(|j| !j.is_empty()).ok_or_else(|| refuse("justification", "is required"))?;
        let normalised: String = text.to_lowercase().chars().filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '/').collect();
        let normalised = normalised.split_whitespace().collect::<Vec<_>>().join(" ");
        if self.vague_justifications.contains(&normalised) {
            return Err(refuse("justification", format!("{text:?} is too vague: say what you are looking for and why")));
        }
        let words = normalised.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).count();
        if words < self.justification_words_min {
            return Err(refuse(
                "justification",
                format!("has {words} words; at least {} are needed to say what and why", self.justification_words_min),
            ));
        }
        Ok(Purpose { code: code.to_owned(), case_number: case.to_owned(), justification: text.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "white van seen leaving the burglary at Esplanadi 4";

    #[test]
    fn a_complete_purpose_passes() {
        let p = PurposePolicy::default().check(Some("criminal_investigation"), Some("HPD-2026-4411"), Some(GOOD)).unwrap();
        assert_eq!(p.case_number, "HPD-2026-4411");
    }

    #[test]
    fn each_gap_is_named() {
        let policy = PurposePolicy::default();
        let cases = [
            (None, Some("HPD-2026-1"), Some(GOOD), "purpose"),
            (Some("curiosity"), Some("HPD-2026-1"), Some(GOOD), "purpose"),
            (Some("criminal_investigation"), None, Some(GOOD), "case_number"),
            (Some("criminal_investigation"), Some("12345"), Some(GOOD), "case_number"),
            (Some("criminal_investigation"), Some("HPD-2026-1"), None, "justification"),
            (Some("criminal_investigation"), Some("HPD-2026-1"), Some("Investigation."), "justification"),
            (Some("criminal_investigation"), Some("HPD-2026-1"), Some("n/a"), "justification"),
            (Some("criminal_investigation"), Some("HPD-2026-1"), Some("looking for the car"), "justification"),
        ];
        for (purpose, case, justification, field) in cases {
            let error = policy.check(purpose, case, justification).unwrap_err();
            assert_eq!(error.field, field, "{error}");
            assert!(!error.prohibited);
        }
    }

    #[test]
    fn broad_searches_are_named_by_what_makes_them_broad() {
        let policy = PurposePolicy::default();
        assert_eq!(policy.broad_reason(Extent { area_km2: Some(1.0), span_days: Some(2.0) }), None);
        assert!(policy.broad_reason(Extent { area_km2: None, span_days: Some(2.0) }).unwrap().contains("no area"));
        assert!(policy.broad_reason(Extent { area_km2: Some(50.0), span_days: Some(2.0) }).unwrap().contains("50.0 km²"));
        assert!(policy.broad_reason(Extent { area_km2: Some(1.0), span_days: None }).unwrap().contains("no time"));
        assert!(policy.broad_reason(Extent { area_km2: Some(1.0), span_days: Some(30.0) }).unwrap().contains("30.0 days"));
    }

    #[test]
    fn prohibited_purposes_are_refused_as_such() {
        let error = PurposePolicy::default().check(Some("immigration_enforcement"), Some("HPD-2026-1"), Some(GOOD)).unwrap_err();
        assert!(error.prohibited);
        assert_eq!(error.field, "purpose");
    }
}
