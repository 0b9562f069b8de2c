//! The gate every historical search passes: the purpose check, the authority a broad search needs,
//! and the audit entry whose receipt the store demands before it runs. Refusals are audited too.

use crate::auth::Account;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use glasshouse_audit::AuditReceipt;
use glasshouse_audit::approvals::{Requested, authorises};
use glasshouse_audit::purpose::Extent;
use glasshouse_model::{Kind, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

/// The accountability fields of a search request, in a query string or a JSON body.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PurposeFields {
    pub purpose: Option<String>,
    pub case_number: Option<String>,
    pub justification: Option<String>,
    pub warrant_reference: Option<String>,
    pub exigency_reference: Option<String>,
    pub approval: Option<String>,
}

/// Moves the six accountability fields out of a request struct that declares them itself (serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, which names a misspelt field).
macro_rules! purpose_fields {
    ($request:expr) => {
        $crate::routes::gate::PurposeFields {
            purpose: $request.purpose,
            case_number: $request.case_number,
            justification: $request.justification,
            warrant_reference: $request.warrant_reference,
            exigency_reference: $request.exigency_reference,
            approval: $request.approval,
        }
    };
}
pub(crate) use purpose_fields;

/// How wide a search reaches, for deciding whether it needs a warrant, exigency or approval.
pub enum Breadth {
    /// An area × time search: broad when the area or the span exceeds the policy.
    Area(Extent),
    /// Following plates: broad when the span exceeds the policy, whatever the area.
    Plate { span_days: Option<f64> },
    /// Bounded by construction (an incident's neighbourhood, with capped radius and window).
    Bounded,
}

/// What the search covers, for matching it against an approval's scope.
pub struct Coverage {
    pub kinds: Vec<Kind>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub bbox: Option<[f64; 4]>,
}

/// Days between two optional bounds; `None` when either is open.
pub fn span_days(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<f64> {
    Some((to?.0 - from?.0) as f64 / 86_400e6)
}

/// Checks purpose and authority, then durably logs the search. Returns the receipt the store needs.
/// Refusals are logged with the field and the reason before the 4xx goes back.
pub fn open_search(
    state: &AppState,
    account: &Account,
    action: &str,
    fields: &PurposeFields,
    breadth: Breadth,
    coverage: Coverage,
    parameters: Value,
) -> Result<AuditReceipt, ApiError> {
    let refused = |field: &str, reason: &str, status: StatusCode, purpose: Value| -> ApiError {
        let details = json!({
            "purpose": purpose,
            "case_number": fields.case_number,
            "field": field,
            "reason": reason,
            "parameters": parameters,
        });
        if let Err(e) = state.audit(account, action, "refused", details) {
            return e;
        }
        ApiError { field: Some(field.into()), ..ApiError::new(status, reason.to_owned()) }
    };
    let purpose = match state.policy.check(fields.purpose.as_deref(), fields.case_number.as_deref(), fields.justification.as_deref()) {
        Ok(purpose) => purpose,
        Err(refusal) => {
            let status = if refusal.prohibited { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST };
            return Err(refused(refusal.field, &refusal.to_string(), status, json!(fields.purpose)));
        }
    };
    let authority = authority(state, account, &purpose.case_number, fields, breadth, &coverage)
        .map_err(|reason| refused("approval", &reason, StatusCode::FORBIDDEN, json!(purpose.code)))?;
    let details = json!({
        "purpose": purpose.code,
        "case_number": purpose.case_number,
        "justification": state.audit.keyed("text", &purpose.justification),
        "authority": authority,
        "parameters": parameters,
    });
    state.audit(account, action, "ok", details)
}

/// Logs how many results a search returned, after it ran.
pub fn close_search(
    state: &AppState,
    account: &Account,
    action: &str,
    receipt: &AuditReceipt,
    results: usize,
    more: bool,
) -> Result<(), ApiError> {
    let counts = json!({ "search_seq": receipt.seq(), "results": results, "truncated": more });
    state.audit(account, &format!("{action}.result"), "ok", counts).map(|_| ())
}

/// For a broad search, the authority that allows it: a warrant or exigency reference, or an approval
/// by a supervisor. `Ok(null)` for an ordinary search.
fn authority(
    state: &AppState,
    account: &Account,
    case_number: &str,
    fields: &PurposeFields,
    breadth: Breadth,
    coverage: &Coverage,
) -> Result<Value, String> {
    let why = match breadth {
        Breadth::Area(extent) => state.policy.broad_reason(extent),
        Breadth::Plate { span_days } => state.policy.broad_reason_for_plate(span_days),
        Breadth::Bounded => None,
    };
    let Some(why) = why else { return Ok(Value::Null) };
    let reference = |value: &Option<String>| value.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
    for (kind, value) in [("warrant", reference(&fields.warrant_reference)), ("exigency", reference(&fields.exigency_reference))] {
        if let Some(r) = value {
            if r.len() > 64 || !r.chars().all(|c| c.is_ascii_alphanumeric() || "-/:.".contains(c)) {
                return Err(format!("the {kind} reference must be 1..=64 letters, digits or - / : ."));
            }
            return Ok(json!({ kind: r }));
        }
    }
    if let Some(id) = reference(&fields.approval) {
        let approval = state.approvals.get(&id).ok_or_else(|| format!("no approval {id}"))?;
        let kinds: Vec<String> = coverage.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        let requested = Requested { kinds: &kinds, from: coverage.from, to: coverage.to, bbox: coverage.bbox };
        authorises(&approval, &account.name, case_number, requested, Timestamp::now())?;
        return Ok(json!({ "approval": id, "approved_by": approval.decided_by }));
    }
    Err(format!("this search needs a warrant or exigency reference, or a supervisor's approval, because {why}"))
}

/// The area of a lon/lat box in km² (equirectangular; plenty for a policy threshold).
pub fn area_km2(b: [f64; 4]) -> f64 {
    let mid_lat = ((b[1] + b[3]) / 2.0).to_radians();
    let km_per_degree = 111.195;
    (b[2] - b[0]) * km_per_degree * mid_lat.cos() * (b[3] - b[1]) * km_per_degree
}
