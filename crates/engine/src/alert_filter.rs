//! Which alerts an operator asks for: by status, rule family, rule or list, device and the time
//! they were raised. Pure, so the log (in memory today, on disk later) and its tests share it.

use crate::alert::{Alert, AlertStatus};
use glasshouse_model::Timestamp;

/// The rule families that raise alerts, as `Alert::rule` names them.
pub const RULE_FAMILIES: [&str; 5] = ["hotlist", "threshold", "situation", "geofence", "device_silent"];

/// A conjunction of conditions; an empty filter keeps every alert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<AlertStatus>,
    /// Any of these rule families (empty: any family).
    pub families: Vec<String>,
    /// Raised by this rule: a threshold, situation, geofence or silence rule's id, or a hotlist's id.
    pub rule_id: Option<String>,
    /// About this device.
    pub device_id: Option<String>,
    /// Raised at or after this time.
    pub raised_from: Option<Timestamp>,
    /// Raised before this time.
    pub raised_to: Option<Timestamp>,
}

/// Why a filter was refused: the parameter and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FilterError {
    /// The query parameter at fault.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl AlertStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [AlertStatus; 5] =
        [AlertStatus::New, AlertStatus::Acknowledged, AlertStatus::Confirmed, AlertStatus::Dismissed, AlertStatus::Closed];

    /// The status of this JSON name.
    pub fn named(name: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl Alert {
    /// The rule that raised the alert: the rule's id, or for a plate hit the hotlist's.
    pub fn rule_id(&self) -> Option<&str> {
        self.hotlist_id
            .as_deref()
            .or(self.threshold.as_ref().map(|t| t.rule_id.as_str()))
            .or(self.situation.as_ref().map(|s| s.rule_id.as_str()))
            .or(self.geofence.as_ref().map(|g| g.rule_id.as_str()))
            .or(self.silence.as_ref().map(|s| s.rule_id.as_str()))
    }
}

impl AlertFilter {
    /// A filter from comma-separated statuses and families and the other conditions as given.
    ///
    /// # Errors
    /// An unknown status or family, or a time range that ends before it starts.
    pub fn parse(
        statuses: Option<&str>,
        families: Option<&str>,
        rule_id: Option<String>,
        device_id: Option<String>,
        raised_from: Option<Timestamp>,
        raised_to: Option<Timestamp>,
    ) -> Result<AlertFilter, FilterError> {
        let list = |text: Option<&str>| -> Vec<String> {
            text.map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
        };
        let statuses = list(statuses)
            .iter()
            .map(|name| {
                AlertStatus::named(name).ok_or_else(|| FilterError {
                    field: "status",
                    reason: format!("unknown status {name:?}; one of {}", AlertStatus::ALL.map(AlertStatus::as_str).join(", ")),
                })
            })
            .collect::<Result<_, _>>()?;
        let families = list(families);
        if let Some(unknown) = families.iter().find(|f| !RULE_FAMILIES.contains(&f.as_str())) {
            return Err(FilterError {
                field: "rule",
                reason: format!("unknown rule family {unknown:?}; one of {}", RULE_FAMILIES.join(", ")),
            });
        }
        if let (Some(from), Some(to)) = (raised_from, raised_to)
            && to < from
        {
            return Err(FilterError { field: "to", reason: "ends before `from`".into() });
        }
        Ok(AlertFilter { statuses, families, rule_id, device_id, raised_from, raised_to })
    }

    /// Whether `alert` meets every condition.
    pub fn keeps(&self, alert: &Alert) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&alert.status))
            && (self.families.is_empty() || self.families.contains(&alert.rule))
            && self.rule_id.as_deref().is_none_or(|id| alert.rule_id() == Some(id))
            && self.device_id.as_deref().is_none_or(|id| alert.device_id == id)
            && self.raised_from.is_none_or(|from| alert.raised_at >= from)
            && self.raised_to.is_none_or(|to| alert.raised_at < to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::hit;

    fn alert(id: &str, status: AlertStatus, rule: &str, device: &str, raised_secs: i64) -> Alert {
        let mut alert = Alert::empty();
        (alert.id, alert.status, alert.rule, alert.device_id, alert.raised_at) =
            (id.into(), status, rule.into(), device.into(), Timestamp(raised_secs * 1_000_000));
        alert
    }

    #[test]
    fn each_condition_narrows_and_an_empty_filter_keeps_all() {
        let mut plate = alert("a", AlertStatus::New, "hotlist", "lpr-1", 100);
        (plate.hotlist_id, plate.hit) = (Some("hl-stolen".into()), Some(hit("ABC123")));
        let closed = alert("b", AlertStatus::Closed, "device_silent", "rad-2", 200);
        let filter = |statuses, families, rule_id: Option<&str>, device: Option<&str>, from, to| {
            AlertFilter::parse(statuses, families, rule_id.map(Into::into), device.map(Into::into), from, to).unwrap()
        };
        let kept = |f: &AlertFilter| [&plate, &closed].into_iter().filter(|a| f.keeps(a)).map(|a| a.id.as_str()).collect::<Vec<_>>();
        assert_eq!(kept(&AlertFilter::default()), ["a", "b"]);
        assert_eq!(kept(&filter(Some("new, acknowledged"), None, None, None, None, None)), ["a"]);
        assert_eq!(kept(&filter(None, Some("device_silent"), None, None, None, None)), ["b"]);
        assert_eq!(kept(&filter(None, None, Some("hl-stolen"), None, None, None)), ["a"]);
        assert_eq!(kept(&filter(None, None, None, Some("rad-2"), None, None)), ["b"]);
        let at = |s: i64| Some(Timestamp(s * 1_000_000));
        assert_eq!(kept(&filter(None, None, None, None, at(100), at(200))), ["a"], "from is inclusive, to exclusive");
        assert_eq!(kept(&filter(None, None, None, None, at(101), None)), ["b"]);
    }

    #[test]
    fn unknown_names_and_backward_ranges_are_refused_with_the_parameter() {
        let refused = |statuses, families, from, to| AlertFilter::parse(statuses, families, None, None, from, to).unwrap_err().field;
        assert_eq!(refused(Some("open"), None, None, None), "status");
        assert_eq!(refused(None, Some("hotlists"), None, None), "rule");
        assert_eq!(refused(None, None, Some(Timestamp(2)), Some(Timestamp(1))), "to");
    }
}
