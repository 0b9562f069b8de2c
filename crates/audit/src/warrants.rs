//! Warrants as records: a broad search that cites a warrant runs only inside what the warrant
//! allows.
//!
//! A custodian or supervisor registers each warrant from the signed document: its reference, the
//! issuing authority, the case it was issued in, its scope (plates and/or an area, and a time
//! range of observations), when its authority ends, and the SHA-256 of the document, so an auditor
//! can match the record to the paper. A search citing the reference is checked against that record
//! ([`authorises`]); a reference nobody registered unlocks nothing. Like approvals and holds,
//! warrants are kept in their own log, and every step is audited by the caller before it is stored.

use crate::book::{BookError, BookRecord, RecordBook};
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The longest a warrant's authority may run from its registration: a year. Courts grant far
/// shorter terms; the cap catches a mistyped year.
pub const WARRANT_DAYS_MAX: i64 = 366;

/// Most plates one warrant may name.
pub const WARRANT_PLATES_MAX: usize = 100;

/// Longest issuing authority's name.
pub const ISSUER_CHARS_MAX: usize = 200;

/// What searches a warrant allows: of the named plates, or inside the area, over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WarrantScope {
    /// Normalised plates whose reads may be followed.
    #[serde(default)]
    pub plates: Vec<String>,
    /// `[min_lon, min_lat, max_lon, max_lat]` an area search must lie inside.
    #[serde(default)]
    pub bbox: Option<[f64; 4]>,
    /// Earliest observation time.
    pub from: Timestamp,
    /// Latest observation time (exclusive).
    pub to: Timestamp,
}

/// Where a warrant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarrantStatus {
    /// Registered; its authority runs until `expires_at`.
    Registered,
    /// Quashed or withdrawn: it authorises nothing more.
    Revoked,
}

/// A registered warrant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warrant {
    /// Stable id.
    pub id: String,
    /// The reference on the document, as searches cite it.
    pub reference: String,
    /// The court or judge that issued it.
    pub issuing_authority: String,
    /// The case it was issued in; searches citing it must be for this case.
    pub case_number: String,
    /// What it allows.
    pub scope: WarrantScope,
    /// When its authority ends.
    pub expires_at: Timestamp,
    /// SHA-256 of the signed document, lowercase hex.
    pub document_sha256: String,
    /// Who registered it.
    pub registered_by: String,
    /// When.
    pub registered_at: Timestamp,
    /// Where it stands.
    pub status: WarrantStatus,
    /// Who revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// Why (the order that quashed it, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
}

impl Warrant {
    /// `in_force`, `expired` or `revoked`.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match self.status {
            WarrantStatus::Revoked => "revoked",
            WarrantStatus::Registered if now < self.expires_at => "in_force",
            WarrantStatus::Registered => "expired",
        }
    }
}

/// Why a warrant step failed.
#[derive(Debug, thiserror::Error)]
pub enum WarrantError {
    /// No such warrant.
    #[error("no warrant {0}")]
    NotFound(String),
    /// The reference is already registered.
    #[error("warrant {0} is already registered")]
    Duplicate(String),
    /// Revoked already.
    #[error("warrant {0} is already revoked")]
    Revoked(String),
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

fn bad(field: &'static str, reason: impl Into<String>) -> WarrantError {
    WarrantError::Bad { field, reason: reason.into() }
}

/// True for a reference as documents and searches spell them: 1..=64 letters, digits or `-/:.`.
pub fn valid_reference(reference: &str) -> bool {
    !reference.is_empty() && reference.len() <= 64 && reference.chars().all(|c| c.is_ascii_alphanumeric() || "-/:.".contains(c))
}

impl BookRecord for Warrant {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The warrants of a deployment.
pub struct WarrantBook {
    book: RecordBook<Warrant>,
}

impl WarrantBook {
    /// Opens the book in `dir`.
    pub fn open(dir: &Path) -> Result<WarrantBook, WarrantError> {
        Ok(WarrantBook { book: RecordBook::open(dir)? })
    }

    /// Registers a warrant after checking it; `audit` runs before it is stored. Plates must already
    /// be normalised (the interface normalises what a person typed and names a bad one).
    pub fn register(&self, mut warrant: Warrant, audit: impl FnOnce(&Warrant) -> Result<(), String>) -> Result<Warrant, WarrantError> {
        warrant.reference = warrant.reference.trim().to_owned();
        warrant.issuing_authority = warrant.issuing_authority.trim().to_owned();
        check(&warrant)?;
        warrant.status = WarrantStatus::Registered;
        warrant.revoked_by = None;
        warrant.revoked_at = None;
        warrant.revocation_reason = None;
        let unique = |kept: &[Warrant], new: &Warrant| match kept.iter().any(|w| w.reference == new.reference) {
            true => Err(WarrantError::Duplicate(new.reference.clone())),
            false => Ok(()),
        };
        self.book.insert_if(warrant, unique, |w| audit(w).map_err(WarrantError::Audit))
    }

    /// Revokes a warrant: searches citing it are refused from now on.
    pub fn revoke(
        &self,
        id: &str,
        by: &str,
        reason: String,
        now: Timestamp,
        audit: impl FnOnce(&Warrant) -> Result<(), String>,
    ) -> Result<Warrant, WarrantError> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > ISSUER_CHARS_MAX {
            return Err(bad("reason", format!("say why in 1..={ISSUER_CHARS_MAX} characters")));
        }
        let step = |current: Warrant| {
            if current.status == WarrantStatus::Revoked {
                return Err(WarrantError::Revoked(current.reference));
            }
            Ok(Warrant {
                status: WarrantStatus::Revoked,
                revoked_by: Some(by.to_owned()),
                revoked_at: Some(now),
                revocation_reason: Some(reason),
                ..current
            })
        };
        self.book.update(id, || WarrantError::NotFound(id.to_owned()), step, |w| audit(w).map_err(WarrantError::Audit))
    }

    /// The warrant with this id.
    pub fn get(&self, id: &str) -> Option<Warrant> {
        self.book.get(id)
    }

    /// The warrant registered under this reference.
    pub fn by_reference(&self, reference: &str) -> Option<Warrant> {
        self.book.newest_first(|w| w.reference == reference).into_iter().next()
    }

    /// Every warrant, newest first.
    pub fn list(&self) -> Vec<Warrant> {
        self.book.newest_first(|_| true)
    }
}

/// The checks a warrant must pass before it is registered.
fn check(w: &Warrant) -> Result<(), WarrantError> {
    if !valid_reference(&w.reference) {
        return Err(bad("reference", "must be 1..=64 letters, digits or - / : ."));
    }
    if w.issuing_authority.is_empty() || w.issuing_authority.chars().count() > ISSUER_CHARS_MAX {
        return Err(bad("issuing_authority", format!("name the court or judge in 1..={ISSUER_CHARS_MAX} characters")));
    }
    if w.case_number.trim().is_empty() {
        return Err(bad("case_number", "is required: a warrant is issued in a case"));
    }
    if w.document_sha256.len() != 64 || !w.document_sha256.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(bad("document_sha256", "must be the document's SHA-256 as 64 lowercase hex digits"));
    }
    let scope = &w.scope;
    if scope.plates.is_empty() && scope.bbox.is_none() {
        return Err(bad("scope", "name plates or an area: a warrant allows specific searches, not everything"));
    }
    if scope.plates.len() > WARRANT_PLATES_MAX {
        return Err(bad("scope", format!("at most {WARRANT_PLATES_MAX} plates")));
    }
    if let Some(b) = scope.bbox {
        let ordered = b[0] < b[2] && b[1] < b[3];
        let on_earth = (-180.0..=180.0).contains(&b[0])
            && (-180.0..=180.0).contains(&b[2])
            && (-90.0..=90.0).contains(&b[1])
            && (-90.0..=90.0).contains(&b[3]);
        if !ordered || !on_earth {
            return Err(bad("scope", "bbox must be [min_lon, min_lat, max_lon, max_lat] with min < max"));
        }
    }
    if scope.from >= scope.to {
        return Err(bad("scope", "to must be after from"));
    }
    if w.expires_at <= w.registered_at {
        return Err(bad("expires_at", "must be in the future: an expired warrant authorises nothing"));
    }
    if w.expires_at > w.registered_at.plus_secs(WARRANT_DAYS_MAX * 86_400) {
        return Err(bad("expires_at", format!("a warrant's term runs at most {WARRANT_DAYS_MAX} days")));
    }
    Ok(())
}

/// What a search reaches, to compare with a warrant's scope.
#[derive(Debug, Clone, Copy)]
pub struct Reach<'a> {
    /// For a plate search, the plate or pattern it follows and whether it is a wildcard pattern.
    pub plate: Option<(&'a str, bool)>,
    /// Start of the time range.
    pub from: Option<Timestamp>,
    /// End of the time range.
    pub to: Option<Timestamp>,
    /// The area searched; `None` for no area bound.
    pub bbox: Option<[f64; 4]>,
}

/// Whether `warrant` allows a search for `case_number` reaching `reach` at `now`; the refusal says
/// what lies outside it.
pub fn authorises(warrant: &Warrant, case_number: &str, reach: Reach<'_>, now: Timestamp) -> Result<(), String> {
    let reference = &warrant.reference;
    match warrant.state(now) {
        "in_force" => {}
        "revoked" => return Err(format!("warrant {reference} was revoked")),
        _ => return Err(format!("warrant {reference} expired at {}", warrant.expires_at)),
    }
    if warrant.case_number != case_number {
        return Err(format!("warrant {reference} was issued in case {}, not {case_number}", warrant.case_number));
    }
    let scope = &warrant.scope;
    let (Some(from), Some(to)) = (reach.from, reach.to) else {
        return Err(format!("warrant {reference} covers {} to {}: give the search a time range inside it", scope.from, scope.to));
    };
    if from < scope.from || to > scope.to {
        return Err(format!("the search's time range goes beyond warrant {reference}'s, {} to {}", scope.from, scope.to));
    }
    match (reach.plate, reach.bbox) {
        (Some((_, true)), _) => Err(format!("warrant {reference} names plates; a wildcard pattern is not one of them")),
        (Some((plate, false)), _) => {
            let plate = glasshouse_model::plate::normalize(plate).unwrap_or_else(|_| plate.to_owned());
            match scope.plates.contains(&plate) {
                true => Ok(()),
                false => Err(format!("warrant {reference} does not name this plate")),
            }
        }
        (None, Some(b)) => match scope.bbox {
            Some(a) if b[0] >= a[0] && b[1] >= a[1] && b[2] <= a[2] && b[3] <= a[3] => Ok(()),
            Some(_) => Err(format!("the search's area goes beyond warrant {reference}'s")),
            None => Err(format!("warrant {reference} names plates, not an area")),
        },
        (None, None) => Err(format!("warrant {reference} covers a bounded area: give the search an area inside it")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn warrant(reference: &str) -> Warrant {
        Warrant {
            id: format!("w-{reference}"),
            reference: reference.into(),
            issuing_authority: "Helsinki District Court".into(),
            case_number: "HPD-2026-7".into(),
            scope: WarrantScope {
                plates: vec!["ABC123".into()],
                bbox: Some([24.9, 60.1, 25.0, 60.2]),
                from: t("2026-11-01T00:00:00Z"),
                to: t("2026-11-27T00:00:00Z"),
            },
            expires_at: t("2026-12-27T00:00:00Z"),
            document_sha256: "ab".repeat(32),
            registered_by: "cora".into(),
            registered_at: t("2026-11-27T10:00:00Z"),
            status: WarrantStatus::Registered,
            revoked_by: None,
            revoked_at: None,
            revocation_reason: None,
        }
    }

    #[test]
    fn a_reference_is_registered_once_and_a_revocation_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let book = WarrantBook::open(dir.path()).unwrap();
        book.register(warrant("WRT-1"), |_| Ok(())).unwrap();
        assert!(matches!(book.register(warrant("WRT-1"), |_| Ok(())), Err(WarrantError::Duplicate(_))));
        assert!(matches!(book.register(warrant("WRT-2"), |_| Err("down".into())), Err(WarrantError::Audit(_))));
        assert!(book.by_reference("WRT-2").is_none(), "an unaudited registration is not kept");
        let revoked = book.revoke("w-WRT-1", "sam", "quashed on appeal".into(), t("2026-11-28T00:00:00Z"), |_| Ok(())).unwrap();
        assert_eq!(revoked.state(t("2026-11-28T00:00:01Z")), "revoked");
        assert!(matches!(
            book.revoke("w-WRT-1", "sam", "again".into(), t("2026-11-28T00:00:00Z"), |_| Ok(())),
            Err(WarrantError::Revoked(_))
        ));
        drop(book);
        let book = WarrantBook::open(dir.path()).unwrap();
        assert_eq!(book.by_reference("WRT-1").unwrap().revoked_by.as_deref(), Some("sam"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let book = WarrantBook::open(dir.path()).unwrap();
        type Spoil = fn(&mut Warrant);
        let cases: [(&str, Spoil); 9] = [
            ("reference", |w| w.reference = "WRT 1".into()),
            ("issuing_authority", |w| w.issuing_authority = " ".into()),
            ("case_number", |w| w.case_number = String::new()),
            ("document_sha256", |w| w.document_sha256 = "AB".repeat(32)),
            ("scope", |w| (w.scope.plates, w.scope.bbox) = (vec![], None)),
            ("scope", |w| w.scope.bbox = Some([25.0, 60.1, 24.9, 60.2])),
            ("scope", |w| w.scope.to = w.scope.from),
            ("expires_at", |w| w.expires_at = w.registered_at),
            ("expires_at", |w| w.expires_at = w.registered_at.plus_secs(400 * 86_400)),
        ];
        for (field, spoil) in cases {
            let mut w = warrant("WRT-9");
            spoil(&mut w);
            match book.register(w, |_| Ok(())) {
                Err(WarrantError::Bad { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(book.list().is_empty());
    }

    #[test]
    fn a_warrant_allows_its_case_plates_area_and_term_and_nothing_else() {
        let w = warrant("WRT-1");
        let now = t("2026-11-28T00:00:00Z");
        let (from, to) = (Some(t("2026-11-05T00:00:00Z")), Some(t("2026-11-20T00:00:00Z")));
        let inside = Some([24.92, 60.15, 24.98, 60.18]);
        let plate = |p: &'static str, wildcard| Reach { plate: Some((p, wildcard)), from, to, bbox: None };
        let area = |bbox| Reach { plate: None, from, to, bbox };
        assert_eq!(authorises(&w, "HPD-2026-7", plate("ABC123", false), now), Ok(()));
        assert_eq!(authorises(&w, "HPD-2026-7", plate("abc-123", false), now), Ok(()), "plates compare normalised");
        assert_eq!(authorises(&w, "HPD-2026-7", area(inside), now), Ok(()));
        let refused = |reach, case: &str, at| authorises(&w, case, reach, at).unwrap_err();
        assert!(refused(plate("XYZ999", false), "HPD-2026-7", now).contains("does not name this plate"));
        assert!(refused(plate("ABC*", true), "HPD-2026-7", now).contains("wildcard"));
        assert!(refused(area(Some([24.0, 60.15, 24.98, 60.18])), "HPD-2026-7", now).contains("area goes beyond"));
        assert!(refused(area(None), "HPD-2026-7", now).contains("give the search an area"));
        assert!(refused(area(inside), "HPD-2026-8", now).contains("issued in case HPD-2026-7"));
        assert!(refused(area(inside), "HPD-2026-7", t("2026-12-27T00:00:00Z")).contains("expired"));
        let early = Reach { from: Some(t("2026-10-01T00:00:00Z")), ..area(inside) };
        assert!(refused(early, "HPD-2026-7", now).contains("time range goes beyond"));
        let open = Reach { to: None, ..area(inside) };
        assert!(refused(open, "HPD-2026-7", now).contains("give the search a time range"));
        let plates_only = Warrant { scope: WarrantScope { bbox: None, ..w.scope.clone() }, ..w.clone() };
        assert!(authorises(&plates_only, "HPD-2026-7", area(inside), now).unwrap_err().contains("names plates, not an area"));
        let revoked = Warrant { status: WarrantStatus::Revoked, ..w.clone() };
        assert!(authorises(&revoked, "HPD-2026-7", area(inside), now).unwrap_err().contains("revoked"));
    }
}
