//! The authority a broad search rests on, and the books behind it.
//!
//! A search wider or longer than the policy allows needs one of three things:
//! - a **warrant** registered by a custodian or supervisor, whose case, scope and term the search
//!   lies inside;
//! - a **claim of exigency**, which lets the search run at once and opens a review that a
//!   supervisor other than the claimant must close within a day;
//! - a supervisor's **approval** of this requester, case and scope.
//!
//! Registering and revoking warrants and closing reviews are audited before they are stored;
//! warrants' plates and reviewers' reasons reach the log only as keyed hashes.

use crate::investigations::{Breadth, Coverage, Investigations, PurposeFields};
use crate::{Action, Actor, AppError};
use glasshouse_audit::Purpose;
use glasshouse_audit::approvals::{Requested, authorises as approval_authorises};
use glasshouse_audit::exigency::{Claim, ExigencyReview, ReviewError};
use glasshouse_audit::warrants::{self, Reach, Warrant, WarrantError};
use glasshouse_model::Timestamp;
use serde_json::{Value, json};

/// What allowed a search, as its audit entry names it, and the exigency review it joins.
pub(crate) struct Granted {
    /// `null` for an ordinary search; else `{warrant}`, `{exigency, review}` or `{approval}`.
    pub details: Value,
    /// The review the search's log position is added to, for a search under exigency.
    pub review: Option<String>,
}

/// Why no authority was granted.
pub(crate) enum Refusal {
    /// The request's authority does not allow the search: 403 naming `field`, logged as a refusal.
    Refused {
        /// The request field at fault.
        field: &'static str,
        /// Why, for the requester and the log.
        reason: String,
    },
    /// The authority could not be recorded (the audit log or a book failed).
    Failed(AppError),
}

fn refused(field: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Refused { field, reason: reason.into() }
}

impl Investigations<'_> {
    /// For a broad search, the authority that allows it. An ordinary search needs none.
    pub(crate) fn authority(
        &self,
        actor: &Actor,
        purpose: &Purpose,
        fields: &PurposeFields,
        breadth: Breadth,
        coverage: &Coverage,
        now: Timestamp,
    ) -> Result<Granted, Refusal> {
        let policy = &self.app.policy;
        let why = match breadth {
            Breadth::Area(extent) => policy.broad_reason(extent),
            Breadth::Plate { span_days } => policy.broad_reason_for_plate(span_days),
            Breadth::Bounded => None,
        };
        let Some(why) = why else { return Ok(Granted { details: Value::Null, review: None }) };
        let given = |value: &Option<String>| value.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
        if let Some(reference) = given(&fields.warrant_reference) {
            let warrant = self.app.warrants.by_reference(&reference).ok_or_else(|| {
                refused("warrant_reference", format!("no warrant {reference} is registered; a custodian or supervisor registers it first"))
            })?;
            let reach = Reach {
                plate: coverage.plate.as_ref().map(|(p, wildcard)| (p.as_str(), *wildcard)),
                from: coverage.from,
                to: coverage.to,
                bbox: coverage.bbox,
            };
            warrants::authorises(&warrant, &purpose.case_number, reach, now).map_err(|r| refused("warrant_reference", r))?;
            return Ok(Granted { details: json!({ "warrant": reference, "warrant_id": warrant.id }), review: None });
        }
        if let Some(reference) = given(&fields.exigency_reference) {
            if !warrants::valid_reference(&reference) {
                return Err(refused("exigency_reference", "must be 1..=64 letters, digits or - / : ."));
            }
            let review = self.claim_exigency(actor, purpose, &reference, now).map_err(Refusal::Failed)?;
            return Ok(Granted { details: json!({ "exigency": reference, "review": review.id }), review: Some(review.id) });
        }
        if let Some(id) = given(&fields.approval) {
            let approval = self.app.approvals.get(&id).ok_or_else(|| refused("approval", format!("no approval {id}")))?;
            let kinds: Vec<String> = coverage.kinds.iter().map(|k| k.as_str().to_owned()).collect();
            let requested = Requested { kinds: &kinds, from: coverage.from, to: coverage.to, bbox: coverage.bbox };
            approval_authorises(&approval, &actor.name, &purpose.case_number, requested, now).map_err(|r| refused("approval", r))?;
            return Ok(Granted { details: json!({ "approval": id, "approved_by": approval.decided_by }), review: None });
        }
        Err(refused(
            "approval",
            format!("this search needs a registered warrant, an exigency claim, or a supervisor's approval, because {why}"),
        ))
    }

    /// The open review of this claim, or a new one, its opening logged first.
    fn claim_exigency(&self, actor: &Actor, purpose: &Purpose, reference: &str, now: Timestamp) -> Result<ExigencyReview, AppError> {
        let claim = Claim { claimant: &actor.name, case_number: &purpose.case_number, purpose: &purpose.code, reference };
        let (review, _new) = self
            .app
            .exigencies
            .claim(claim, || crate::changes::new_id("ex"), now, |r| self.record_review(actor, Action::ExigencyOpen, r))
            .map_err(review_error)?;
        Ok(review)
    }

    /// Adds an admitted search to the review of the claim it ran under.
    pub(crate) fn attach_to_review(&self, review: &str, search_seq: u64) -> Result<(), AppError> {
        self.app.exigencies.attach(review, search_seq).map(|_| ()).map_err(review_error)
    }

    /// Registers a warrant (checked by the book). Its plates reach the log only as keyed hashes.
    pub fn register_warrant(&self, actor: &Actor, warrant: Warrant) -> Result<Warrant, AppError> {
        self.app.policy.check_case_number(warrant.case_number.trim()).map_err(|e| AppError::invalid("case_number", e.to_string()))?;
        self.app.warrants.register(warrant, |w| self.record_warrant(actor, Action::WarrantRegister, w)).map_err(warrant_error)
    }

    /// Revokes a warrant: searches citing it are refused from now on.
    pub fn revoke_warrant(&self, actor: &Actor, id: &str, reason: String, now: Timestamp) -> Result<Warrant, AppError> {
        self.app
            .warrants
            .revoke(id, &actor.name, reason, now, |w| self.record_warrant(actor, Action::WarrantRevoke, w))
            .map_err(warrant_error)
    }

    /// A supervisor other than the claimant closes a review: the emergency upheld or not.
    pub fn decide_review(&self, actor: &Actor, id: &str, upheld: bool, reason: String, now: Timestamp) -> Result<ExigencyReview, AppError> {
        let action = if upheld { Action::ExigencyUphold } else { Action::ExigencyNotUpheld };
        self.app.exigencies.decide(id, &actor.name, upheld, reason, now, |r| self.record_review(actor, action, r)).map_err(review_error)
    }

    fn record_warrant(&self, actor: &Actor, action: Action, w: &Warrant) -> Result<(), String> {
        let audit = &self.app.audit;
        let details = json!({
            "warrant": w.id,
            "reference": w.reference,
            "issuing_authority": w.issuing_authority,
            "case_number": w.case_number,
            "plates": w.scope.plates.iter().map(|p| audit.keyed("plate", p)).collect::<Vec<_>>(),
            "bbox": w.scope.bbox,
            "from": w.scope.from,
            "to": w.scope.to,
            "expires_at": w.expires_at,
            "document_sha256": w.document_sha256,
            "status": w.status,
            "revocation_reason": w.revocation_reason.as_deref().map(|r| audit.keyed("text", r)),
        });
        self.app.record(actor, action, "ok", details).map(|_| ()).map_err(|e| e.message)
    }

    fn record_review(&self, actor: &Actor, action: Action, r: &ExigencyReview) -> Result<(), String> {
        let details = json!({
            "review": r.id,
            "reference": r.reference,
            "claimed_by": r.claimed_by,
            "case_number": r.case_number,
            "purpose": r.purpose,
            "due_at": r.due_at,
            "searches": r.searches,
            "status": r.status,
            "reason": r.reason.as_deref().map(|t| self.app.audit.keyed("text", t)),
        });
        self.app.record(actor, action, "ok", details).map(|_| ()).map_err(|e| e.message)
    }
}

/// The answer to a warrant step the book refused.
fn warrant_error(e: WarrantError) -> AppError {
    match e {
        WarrantError::NotFound(_) => AppError::not_found(e.to_string()),
        WarrantError::Duplicate(_) => AppError::conflict(e.to_string()).at("reference"),
        WarrantError::Revoked(_) => AppError::conflict(e.to_string()),
        WarrantError::Bad { field, .. } => AppError::invalid(field, e.to_string()),
        WarrantError::Audit(_) => AppError::unavailable("the audit log cannot be written, so the warrant was not changed", 30),
        WarrantError::Book(_) => AppError::internal(e),
    }
}

/// The answer to a review step the book refused.
fn review_error(e: ReviewError) -> AppError {
    match e {
        ReviewError::NotFound(_) => AppError::not_found(e.to_string()),
        ReviewError::Closed(_) => AppError::conflict(e.to_string()),
        ReviewError::OwnClaim => AppError::forbidden(e.to_string()),
        ReviewError::BadReason(_) => AppError::invalid("reason", e.to_string()),
        ReviewError::Audit(_) => AppError::unavailable("the audit log cannot be written, so nothing was done", 30),
        ReviewError::Book(_) => AppError::internal(e),
    }
}
