//! The accountability fields of a search request, read from a query string or a JSON body and
//! handed to the investigations use case, which holds the gate itself.

pub use glasshouse_app::investigations::PurposeFields;

/// Moves the six accountability fields out of a request struct that declares them itself (serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, which names a misspelt field).
macro_rules! purpose_fields {
    ($request:expr) => {
        $crate::routes::purpose::PurposeFields {
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
