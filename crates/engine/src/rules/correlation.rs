//! Correlation rules: a gunshot, or a dispatch incident of a listed type, opens a *situation*, an
//! alert whose context (the cameras that can see the point, and the plate reads, sensor readings and
//! incidents within each kind's radius and time window) the server assembles when an operator opens
//! it. A rule decides what opens one and which windows its context uses; it does no I/O. A built-in
//! rule (gunshots and violent incidents) exists from the start; more are created through the API, and
//! any can be disabled.

use crate::alert::{Alert, alert_id};
use crate::rules::threshold::RuleError;
use glasshouse_model::{Body, Kind, Observation, Timestamp};
use serde::{Deserialize, Serialize};

/// Incident types that open a situation by default: violence in progress, where the cameras and
/// passing vehicles of the next minutes matter.
pub const DEFAULT_INCIDENT_TYPES: [&str; 4] = ["SHOTS_FIRED", "SHOOTING", "ROBBERY", "ARMED_PERSON"];

/// The built-in rule's id.
pub const DEFAULT_RULE_ID: &str = "sit-default";

/// Radius and half-window of a neighbourhood, per kind: near and short for plate reads (a passing
/// car), wider for gunshots and other incidents (they are heard and reported further off).
pub fn default_window(kind: Kind) -> (f64, i64) {
    match kind {
        Kind::PlateRead => (300.0, 5),
        Kind::VideoEvent => (300.0, 10),
        Kind::SensorReading => (500.0, 30),
        Kind::Gunshot => (1_000.0, 30),
        Kind::Incident => (500.0, 60),
    }
}

/// One kind's neighbourhood around a trigger: within `radius_m`, and `minutes` before or after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KindWindow {
    /// `plate_read`, `sensor_reading`, `gunshot`, `incident` or `video_event`.
    pub kind: String,
    /// Metres from the trigger.
    pub radius_m: f64,
    /// Minutes either side of the trigger.
    pub minutes: i64,
}

/// Every kind's default window.
pub fn default_windows() -> Vec<KindWindow> {
    Kind::ALL
        .iter()
        .map(|&k| {
            let (radius_m, minutes) = default_window(k);
            KindWindow { kind: k.as_str().to_owned(), radius_m, minutes }
        })
        .collect()
}

/// What opens a situation, and the windows of its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationRule {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Every gunshot detection opens one.
    pub gunshots: bool,
    /// Incident type codes that open one (matched exactly, case-insensitively).
    pub incident_types: Vec<String>,
    /// The context's window per kind (every kind, defaults filled in).
    pub windows: Vec<KindWindow>,
    /// Disabled rules open nothing.
    pub enabled: bool,
}

impl Default for CorrelationRule {
    fn default() -> Self {
        CorrelationRule {
            id: DEFAULT_RULE_ID.into(),
            name: "gunshots and violent incidents".into(),
            gunshots: true,
            incident_types: DEFAULT_INCIDENT_TYPES.iter().map(|t| t.to_string()).collect(),
            windows: default_windows(),
            enabled: true,
        }
    }
}

/// A request to create a correlation rule.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCorrelationRule {
    /// Display name.
    pub name: String,
    /// Gunshots open a situation.
    #[serde(default)]
    pub gunshots: bool,
    /// Incident types that open one.
    #[serde(default)]
    pub incident_types: Vec<String>,
    /// Windows to change from the defaults, per kind.
    #[serde(default)]
    pub windows: Vec<KindWindow>,
}

/// Incident types one rule may list.
const INCIDENT_TYPES_MAX: usize = 50;

impl NewCorrelationRule {
    /// Checks the request and builds the rule.
    pub fn into_rule(self, id: String) -> Result<CorrelationRule, RuleError> {
        let err = |field, reason: String| RuleError { field, reason };
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(err("name", "must be 1..=64 characters".into()));
        }
        if !self.gunshots && self.incident_types.is_empty() {
            return Err(err("incident_types", "name incident types, or set gunshots, or both".into()));
        }
        if self.incident_types.len() > INCIDENT_TYPES_MAX {
            return Err(err("incident_types", format!("at most {INCIDENT_TYPES_MAX}")));
        }
        let mut incident_types = Vec::new();
        for t in &self.incident_types {
            let code = t.trim().to_ascii_uppercase();
            if code.is_empty() || code.len() > 40 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(err("incident_types", format!("{t:?}: a type code is 1..=40 letters, digits, '_' or '-'")));
            }
            incident_types.push(code);
        }
        let mut windows = default_windows();
        for w in self.windows {
            let Some(slot) = windows.iter_mut().find(|d| d.kind == w.kind) else {
                return Err(err("windows", format!("unknown kind {:?}", w.kind)));
            };
            if !(1.0..=5_000.0).contains(&w.radius_m) {
                return Err(err("windows", format!("{}: radius_m must be 1..=5000", w.kind)));
            }
            if !(1..=720).contains(&w.minutes) {
                return Err(err("windows", format!("{}: minutes must be 1..=720", w.kind)));
            }
            *slot = w;
        }
        Ok(CorrelationRule { id, name, gunshots: self.gunshots, incident_types, windows, enabled: true })
    }
}

/// Why a situation was opened, and which windows its context uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SituationTrigger {
    /// `gunshot` or `incident`.
    pub kind: String,
    /// The incident's type code, or for a gunshot `GUNSHOT`.
    pub label: String,
    /// For a gunshot: rounds detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u32>,
    /// For an incident: the dispatch system's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// The rule that opened it.
    #[serde(default = "default_rule_id")]
    pub rule_id: String,
    /// The windows as the rule had them when it opened (so a later change to the rule does not
    /// change what this situation showed). Empty for situations stored before rules had windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<KindWindow>,
}

fn default_rule_id() -> String {
    DEFAULT_RULE_ID.into()
}

impl CorrelationRule {
    /// Appends a situation alert when `observation` is a trigger of this rule.
    pub fn evaluate(&self, observation: &Observation, now: Timestamp, alerts: &mut Vec<Alert>) {
        if !self.enabled {
            return;
        }
        let (kind, label, rounds, incident_id, priority) = match &observation.body {
            Body::Gunshot(g) if self.gunshots => ("gunshot", "GUNSHOT".to_owned(), Some(g.rounds), None, 1),
            Body::Incident(i) if self.incident_types.iter().any(|t| t.eq_ignore_ascii_case(&i.type_code)) => {
                ("incident", i.type_code.clone(), None, Some(i.incident_id.clone()), i.priority.unwrap_or(1).max(1))
            }
            _ => return,
        };
        let trigger =
            SituationTrigger { kind: kind.into(), label, rounds, incident_id, rule_id: self.id.clone(), windows: self.windows.clone() };
        // The built-in rule keeps the id scheme situations had before rules were data.
        let id = if self.id == DEFAULT_RULE_ID {
            alert_id(&[&observation.id, "situation"])
        } else {
            alert_id(&[&observation.id, "situation", &self.id])
        };
        alerts.push(Alert { situation: Some(trigger), ..Alert::raised(id, "situation", priority, observation, now) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Gunshot, Incident, Position, Timestamp};

    fn observation(id: &str, body: Body) -> Observation {
        Observation {
            id: id.into(),
            device_id: "d".into(),
            observed_at: Timestamp(1),
            received_at: Timestamp(1),
            position: Position { lat: 60.0, lon: 25.0, heading_deg: None, accuracy_m: None },
            body,
        }
    }

    fn incident(type_code: &str) -> Body {
        Body::Incident(Incident { incident_id: "C-1".into(), type_code: type_code.into(), priority: Some(2), status: None, address: None })
    }

    #[test]
    fn gunshots_and_listed_incidents_open_one_situation_each_and_nothing_else_does() {
        let rule = CorrelationRule::default();
        let mut alerts = Vec::new();
        rule.evaluate(
            &observation("g1", Body::Gunshot(Gunshot { rounds: 3, confidence: None, bearing_deg: None })),
            Timestamp(0),
            &mut alerts,
        );
        rule.evaluate(&observation("i1", incident("shots_fired")), Timestamp(0), &mut alerts);
        rule.evaluate(&observation("i2", incident("THEFT")), Timestamp(0), &mut alerts);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].situation.as_ref().unwrap().rounds, Some(3));
        assert_eq!((alerts[1].priority, alerts[1].situation.as_ref().unwrap().incident_id.as_deref()), (2, Some("C-1")));
        // Deterministic ids: a replay raises the same alert again, which the alert log deduplicates.
        let mut again = Vec::new();
        rule.evaluate(
            &observation("g1", Body::Gunshot(Gunshot { rounds: 3, confidence: None, bearing_deg: None })),
            Timestamp(0),
            &mut again,
        );
        assert_eq!(again[0].id, alerts[0].id);
        let off = CorrelationRule { enabled: false, ..CorrelationRule::default() };
        let mut none = Vec::new();
        off.evaluate(
            &observation("g2", Body::Gunshot(Gunshot { rounds: 1, confidence: None, bearing_deg: None })),
            Timestamp(0),
            &mut none,
        );
        assert!(none.is_empty());
        assert_eq!(alerts[0].situation.as_ref().unwrap().windows, default_windows());
    }

    #[test]
    fn a_created_rule_has_its_own_triggers_windows_and_alert_ids() {
        let rule = NewCorrelationRule {
            name: "burglaries".into(),
            gunshots: false,
            incident_types: vec!["break_and_enter".into()],
            windows: vec![KindWindow { kind: "plate_read".into(), radius_m: 800.0, minutes: 20 }],
        }
        .into_rule("sit-1".into())
        .unwrap();
        assert_eq!(rule.incident_types, vec!["BREAK_AND_ENTER"]);
        let plate = rule.windows.iter().find(|w| w.kind == "plate_read").unwrap();
        assert_eq!((plate.radius_m, plate.minutes), (800.0, 20));
        assert_eq!(rule.windows.iter().find(|w| w.kind == "gunshot").unwrap().radius_m, 1_000.0, "others keep their defaults");
        let mut alerts = Vec::new();
        rule.evaluate(&observation("i1", incident("BREAK_AND_ENTER")), Timestamp(0), &mut alerts);
        rule.evaluate(
            &observation("g1", Body::Gunshot(Gunshot { rounds: 3, confidence: None, bearing_deg: None })),
            Timestamp(0),
            &mut alerts,
        );
        assert_eq!(alerts.len(), 1, "this rule ignores gunshots");
        let mut default = Vec::new();
        CorrelationRule::default().evaluate(&observation("i1", incident("SHOOTING")), Timestamp(0), &mut default);
        assert_ne!(alerts[0].id, default[0].id);
        assert_eq!(alerts[0].situation.as_ref().unwrap().rule_id, "sit-1");
        let request = |windows| NewCorrelationRule { name: "x".into(), gunshots: true, incident_types: vec![], windows };
        assert_eq!(
            request(vec![KindWindow { kind: "cars".into(), radius_m: 1.0, minutes: 1 }]).into_rule("x".into()).unwrap_err().field,
            "windows"
        );
        assert_eq!(
            request(vec![KindWindow { kind: "gunshot".into(), radius_m: 0.0, minutes: 1 }]).into_rule("x".into()).unwrap_err().field,
            "windows"
        );
        let nothing = NewCorrelationRule { name: "x".into(), gunshots: false, incident_types: vec![], windows: vec![] };
        assert_eq!(nothing.into_rule("x".into()).unwrap_err().field, "incident_types");
    }
}
