//! Correlation triggers: a gunshot, or a dispatch incident of a listed type, opens a *situation*, an
//! alert whose context (the cameras that can see the point, and the plate reads, sensor readings and
//! incidents within each kind's radius and time window) the server assembles when an operator opens
//! it. The rule only decides what opens one; it does no I/O.

use crate::alert::{Alert, alert_id};
use glasshouse_model::{Body, Observation};
use serde::{Deserialize, Serialize};

/// Incident types that open a situation by default: violence in progress, where the cameras and
/// passing vehicles of the next minutes matter.
pub const DEFAULT_INCIDENT_TYPES: [&str; 4] = ["SHOTS_FIRED", "SHOOTING", "ROBBERY", "ARMED_PERSON"];

/// What opens a situation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationRule {
    /// Every gunshot detection opens one.
    pub gunshots: bool,
    /// Incident type codes that open one (matched exactly, case-insensitively).
    pub incident_types: Vec<String>,
}

impl Default for CorrelationRule {
    fn default() -> Self {
        CorrelationRule { gunshots: true, incident_types: DEFAULT_INCIDENT_TYPES.iter().map(|t| t.to_string()).collect() }
    }
}

/// Why a situation was opened.
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
}

impl CorrelationRule {
    /// Appends a situation alert when `observation` is a trigger.
    pub fn evaluate(&self, observation: &Observation, alerts: &mut Vec<Alert>) {
        let (trigger, priority) = match &observation.body {
            Body::Gunshot(g) if self.gunshots => {
                (SituationTrigger { kind: "gunshot".into(), label: "GUNSHOT".into(), rounds: Some(g.rounds), incident_id: None }, 1)
            }
            Body::Incident(i) if self.incident_types.iter().any(|t| t.eq_ignore_ascii_case(&i.type_code)) => (
                SituationTrigger {
                    kind: "incident".into(),
                    label: i.type_code.clone(),
                    rounds: None,
                    incident_id: Some(i.incident_id.clone()),
                },
                i.priority.unwrap_or(1).max(1),
            ),
            _ => return,
        };
        alerts.push(Alert {
            situation: Some(trigger),
            ..Alert::raised(alert_id(&[&observation.id, "situation"]), "situation", priority, observation)
        });
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
        rule.evaluate(&observation("g1", Body::Gunshot(Gunshot { rounds: 3, confidence: None, bearing_deg: None })), &mut alerts);
        rule.evaluate(&observation("i1", incident("shots_fired")), &mut alerts);
        rule.evaluate(&observation("i2", incident("THEFT")), &mut alerts);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].situation.as_ref().unwrap().rounds, Some(3));
        assert_eq!((alerts[1].priority, alerts[1].situation.as_ref().unwrap().incident_id.as_deref()), (2, Some("C-1")));
        // Deterministic ids: a replay raises the same alert again, which the alert log deduplicates.
        let mut again = Vec::new();
        rule.evaluate(&observation("g1", Body::Gunshot(Gunshot { rounds: 3, confidence: None, bearing_deg: None })), &mut again);
        assert_eq!(again[0].id, alerts[0].id);
        let off = CorrelationRule { gunshots: false, incident_types: vec![] };
        let mut none = Vec::new();
        off.evaluate(&observation("g2", Body::Gunshot(Gunshot { rounds: 1, confidence: None, bearing_deg: None })), &mut none);
        assert!(none.is_empty());
    }
}
