//! Every action the audit log records, by name. The log stores the name; code that writes or reads
//! entries (the transparency report, the verifier's readers) goes through this enum, so an action
//! cannot be misspelt on one side and counted wrongly on the other.

/// Declares the actions with their stored names, once.
macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// A privileged action, as logged.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The name stored in the log, e.g. `search.plates`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    /// An account's first request since the server started (or a logon with a second factor).
    AccountLogon = "account.logon",
    /// Requests refused for a missing or invalid token, aggregated.
    AccountLogonFailed = "account.logon_failed",
    /// A token made by `glasshouse token create`.
    AccountTokenCreated = "account.token_created",
    /// An account's role changed by the CLI.
    AccountRoleChanged = "account.role_changed",
    /// An account's tokens revoked by the CLI.
    AccountRevoked = "account.revoked",
    /// An account enrolled for a TOTP second factor.
    AccountSecondFactorEnrolled = "account.second_factor_enrolled",
    /// A wrong or replayed second-factor code.
    AccountSecondFactorRefused = "account.second_factor_refused",
    /// A valid token used on a route its role may not call (OWASP ASVS: authorization failures are
    /// logged).
    AccountForbidden = "account.forbidden",
    /// A console session signed out.
    AccountSessionEnded = "account.session_ended",
    /// An operator moved an alert through its lifecycle.
    AlertTransition = "alert.transition",
    /// An operator looked at a plate hit's image (the plate or the vehicle crop).
    AlertImageView = "alert.image_view",
    /// An investigator asked a supervisor to approve a broad search.
    ApprovalRequest = "approval.request",
    /// A supervisor approved a broad search.
    ApprovalApprove = "approval.approve",
    /// A supervisor denied a broad search.
    ApprovalDeny = "approval.deny",
    /// A supervisor found an exigency claim's emergency real.
    ExigencyUphold = "exigency.uphold",
    /// A supervisor found it was not.
    ExigencyNotUpheld = "exigency.not_upheld",
    /// A search ran under a claim of exigency, opening its review.
    ExigencyOpen = "exigency.open",
    /// Reads of the audit log (entries, proofs, exports) by one account in one hour, counted.
    AuditRead = "audit.read",
    /// A backup of the whole data directory taken (by `glasshouse backup` on the host): it holds
    /// every stored record, so it is logged like an export.
    DataBackedUp = "data.backed_up",
    /// A data directory restored from a backup (logged in the restored log itself).
    DataRestored = "data.restored",
    /// A case opened by a supervisor, with its title.
    CaseOpen = "case.open",
    /// A case closed: searches may no longer name it.
    CaseClose = "case.close",
    /// A device registered or changed.
    DeviceUpsert = "device.upsert",
    /// Devices registered or changed in bulk, as one batch.
    DeviceImport = "device.import",
    /// A legal hold proposed.
    HoldPropose = "hold.propose",
    /// A legal hold approved: in force.
    HoldApprove = "hold.approve",
    /// A legal hold rejected.
    HoldReject = "hold.reject",
    /// A legal hold released before its expiry.
    HoldRelease = "hold.release",
    /// A hotlist created.
    HotlistCreate = "hotlist.create",
    /// Entries added to a hotlist.
    HotlistEntriesAdd = "hotlist.entries_add",
    /// A hotlist's entries read.
    HotlistEntriesRead = "hotlist.entries_read",
    /// New entries matched against the last day's reads.
    HotlistPastReadMatch = "hotlist.past_read_match",
    /// What that match found.
    HotlistPastReadMatchResult = "hotlist.past_read_match.result",
    /// A retention purge: its receipt.
    RetentionPurge = "retention.purge",
    /// A change of the retention windows proposed.
    RetentionChangePropose = "retention.change.propose",
    /// A change of the retention windows approved and applied.
    RetentionChangeApprove = "retention.change.approve",
    /// A change of the retention windows rejected.
    RetentionChangeReject = "retention.change.reject",
    /// A threshold, geofence or situation rule created.
    RuleCreate = "rule.create",
    /// A rule enabled.
    RuleEnable = "rule.enable",
    /// A rule disabled.
    RuleDisable = "rule.disable",
    /// An observation search (kind, time, box).
    SearchObservations = "search.observations",
    /// Its result count.
    SearchObservationsResult = "search.observations.result",
    /// A plate search.
    SearchPlates = "search.plates",
    /// Its result count.
    SearchPlatesResult = "search.plates.result",
    /// An area × time search.
    SearchArea = "search.area",
    /// Its result count.
    SearchAreaResult = "search.area.result",
    /// An incident's neighbourhood.
    SearchIncidentContext = "search.incident_context",
    /// Its result count.
    SearchIncidentContextResult = "search.incident_context.result",
    /// A plate search exported as a file.
    ExportPlates = "export.plates",
    /// Its result count.
    ExportPlatesResult = "export.plates.result",
    /// An area search exported as a file.
    ExportArea = "export.area",
    /// Its result count.
    ExportAreaResult = "export.area.result",
    /// A sharing change (a sink added or removed) proposed.
    SharingChangePropose = "sharing.change.propose",
    /// A sharing change approved: the sink started or stopped.
    SharingChangeApprove = "sharing.change.approve",
    /// A sharing change rejected.
    SharingChangeReject = "sharing.change.reject",
    /// An open situation's context viewed by an operator.
    SituationView = "situation.view",
    /// What the view showed.
    SituationViewResult = "situation.view.result",
    /// A warrant registered from its signed document.
    WarrantRegister = "warrant.register",
    /// A warrant revoked: it authorises nothing more.
    WarrantRevoke = "warrant.revoke",
    /// An analyst's SQL query.
    SqlQuery = "sql.query",
}

/// What a search action counts as in the transparency report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchKind {
    /// `observations`, `plates`, `area` or `incident_context`.
    pub kind: &'static str,
    /// The results left the system as a file.
    pub export: bool,
}

impl Action {
    /// The action of a stored name; `None` for a name no version of Glasshouse writes.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The entry that records a search's result count, logged after the search ran.
    pub fn result(self) -> Option<Action> {
        Some(match self {
            Action::SearchObservations => Action::SearchObservationsResult,
            Action::SearchPlates => Action::SearchPlatesResult,
            Action::SearchArea => Action::SearchAreaResult,
            Action::SearchIncidentContext => Action::SearchIncidentContextResult,
            Action::ExportPlates => Action::ExportPlatesResult,
            Action::ExportArea => Action::ExportAreaResult,
            Action::HotlistPastReadMatch => Action::HotlistPastReadMatchResult,
            Action::SituationView => Action::SituationViewResult,
            _ => return None,
        })
    }

    /// For an investigator's search of observations (not its result entry), what it counts as.
    pub fn search_kind(self) -> Option<SearchKind> {
        let (kind, export) = match self {
            Action::SearchObservations => ("observations", false),
            Action::SearchPlates => ("plates", false),
            Action::SearchArea => ("area", false),
            Action::SearchIncidentContext => ("incident_context", false),
            Action::ExportPlates => ("plates", true),
            Action::ExportArea => ("area", true),
            _ => return None,
        };
        Some(SearchKind { kind, export })
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_parses_back() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(*action));
        }
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "two actions share a name");
        assert_eq!(Action::parse("search.everything"), None);
    }

    #[test]
    fn a_search_and_its_result_are_named_as_the_log_has_always_named_them() {
        for action in Action::ALL {
            if let Some(result) = action.result() {
                assert_eq!(result.as_str(), format!("{}.result", action.as_str()));
                assert_eq!(result.search_kind(), None, "a result entry is not a second search");
            }
        }
        assert_eq!(Action::ExportArea.search_kind(), Some(SearchKind { kind: "area", export: true }));
    }
}
