//! What the audit log counts: its appends and their latency, and, since every search is logged
//! before it runs, the searches by kind and outcome. Names follow STYLE §9.

use crate::action::Action;
use std::time::Duration;

/// Entries appended, by outcome (`written`, `failed`).
pub const APPENDS: &str = "glasshouse_audit_appends_total";
/// Time to append an entry and its checkpoint durably.
pub const APPEND_SECONDS: &str = "glasshouse_audit_append_seconds";
/// Searches logged, by kind, whether an export, and outcome (`ok`, `refused`).
pub const SEARCHES: &str = "glasshouse_searches_total";

/// Gives each metric its help text (call once the recorder is installed).
pub fn describe() {
    metrics::describe_counter!(APPENDS, "audit entries appended, by outcome");
    metrics::describe_histogram!(APPEND_SECONDS, metrics::Unit::Seconds, "time to append an audit entry and its signed checkpoint durably");
    metrics::describe_counter!(SEARCHES, "history searches logged, by kind, export and outcome");
}

pub(crate) fn appended(action: Action, outcome: &str, took: Duration) {
    metrics::counter!(APPENDS, "outcome" => "written").increment(1);
    metrics::histogram!(APPEND_SECONDS).record(took.as_secs_f64());
    if let Some(search) = action.search_kind() {
        // The outcome label takes only the two values searches are logged with, whatever the text.
        let outcome = if outcome == "ok" { "ok" } else { "refused" };
        metrics::counter!(SEARCHES, "kind" => search.kind, "export" => if search.export { "true" } else { "false" }, "outcome" => outcome)
            .increment(1);
    }
}

pub(crate) fn append_failed() {
    metrics::counter!(APPENDS, "outcome" => "failed").increment(1);
}
