//! What each rule costs and finds: per family of rules the observations evaluated, the alerts raised
//! and the time spent; per rule the evaluations and hits. Counted by the hot path since the server
//! started, read by the rules endpoint.

use crate::alert::Alert;
use serde::Serialize;
use std::collections::HashMap;

/// The rule families, in the order the engine runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Plate hotlists.
    Hotlist,
    /// Geofences.
    Geofence,
    /// Sensor thresholds.
    Threshold,
    /// Correlations that open situations.
    Situation,
}

impl Family {
    /// Every family, in run order.
    pub const ALL: [Family; 4] = [Family::Hotlist, Family::Geofence, Family::Threshold, Family::Situation];

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Hotlist => "hotlist",
            Family::Geofence => "geofence",
            Family::Threshold => "threshold",
            Family::Situation => "situation",
        }
    }
}

/// One family's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct FamilyMetrics {
    /// Observations the family looked at (its kinds, or its subjects).
    pub observations: u64,
    /// Alerts it raised.
    pub alerts: u64,
    /// Time spent in it, in nanoseconds.
    pub nanos: u64,
}

/// One rule's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct RuleCounters {
    /// Observations the rule was evaluated against.
    pub evaluations: u64,
    /// Alerts it raised.
    pub hits: u64,
}

/// Counters for every family and rule.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct RuleMetrics {
    /// By family, in [`Family::ALL`] order (an array: the hot path updates it for every observation).
    pub families: [FamilyMetrics; 4],
    /// By rule id: hotlist, threshold and geofence ids. A hotlist is evaluated against every plate
    /// read, so its evaluations are the family's observations and are not counted per list.
    pub rules: HashMap<String, RuleCounters>,
}

impl RuleMetrics {
    /// Adds one family's pass over one observation.
    pub fn record(&mut self, family: Family, looked: bool, raised: &[Alert], nanos: u64) {
        let totals = &mut self.families[family as usize];
        totals.observations += looked as u64;
        totals.alerts += raised.len() as u64;
        totals.nanos += nanos;
        for alert in raised {
            if let Some(id) = rule_id(alert) {
                self.rules.entry(id.to_owned()).or_default().hits += 1;
            }
        }
    }

    /// Counts one evaluation of rule `id`.
    pub fn evaluated(&mut self, id: &str) {
        match self.rules.get_mut(id) {
            Some(counters) => counters.evaluations += 1,
            None => {
                self.rules.insert(id.to_owned(), RuleCounters { evaluations: 1, hits: 0 });
            }
        }
    }

    /// One family's totals.
    pub fn family(&self, family: Family) -> FamilyMetrics {
        self.families[family as usize]
    }

    /// The counters of rule `id` (zeros if it never ran).
    pub fn rule(&self, id: &str) -> RuleCounters {
        self.rules.get(id).copied().unwrap_or_default()
    }
}

/// The id of the rule that raised `alert`: the list, threshold or fence.
fn rule_id(alert: &Alert) -> Option<&str> {
    if let Some(hit) = &alert.hit {
        return Some(&hit.hotlist_id);
    }
    if let Some(threshold) = &alert.threshold {
        return Some(&threshold.rule_id);
    }
    if let Some(situation) = &alert.situation {
        return Some(&situation.rule_id);
    }
    alert.geofence.as_ref().map(|g| g.rule_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::Family;
    use crate::{Engine, EngineState, NewThresholdRule};
    use glasshouse_model::{Body, Gunshot, Observation, PlateRead, Position, SensorReading, Timestamp};

    fn observation(i: i64, body: Body) -> Observation {
        Observation {
            id: format!("o{i}"),
            device_id: "dev-1".into(),
            observed_at: Timestamp(i * 1_000_000),
            received_at: Timestamp(i * 1_000_000),
            position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
            body,
        }
    }

    #[test]
    fn families_and_rules_count_what_they_saw_and_raised() {
        let rule = |name: &str, quantity: &str| {
            NewThresholdRule {
                name: name.into(),
                quantity: quantity.into(),
                device_id: None,
                zone: None,
                level: 1.0,
                clear_below: None,
                rate_per_min: None,
                priority: None,
            }
            .into_rule(format!("th-{name}"))
            .unwrap()
        };
        let engine = Engine {
            thresholds: vec![rule("gamma", "gamma_dose_rate"), rule("co", "co_ppm")],
            correlations: vec![crate::CorrelationRule::default()],
            ..Engine::default()
        };
        let mut state = EngineState::default();
        let mut alerts = Vec::new();
        let reading = |v: f64| Body::SensorReading(SensorReading { quantity: "gamma_dose_rate".into(), value: v, unit: "uSv/h".into() });
        for (i, body) in [
            reading(0.1),
            reading(1.5),
            Body::PlateRead(PlateRead { plate: "ABC123".into(), ..PlateRead::default() }),
            Body::Gunshot(Gunshot { rounds: 2, confidence: None, bearing_deg: None }),
        ]
        .into_iter()
        .enumerate()
        {
            engine.evaluate(&mut state, &observation(i as i64, body), Timestamp(0), &mut alerts);
        }
        let m = &state.metrics;
        let family = |f| m.family(f);
        assert_eq!((family(Family::Threshold).observations, family(Family::Threshold).alerts), (2, 1));
        assert_eq!((family(Family::Hotlist).observations, family(Family::Hotlist).alerts), (1, 0));
        assert_eq!((family(Family::Situation).observations, family(Family::Situation).alerts), (1, 1));
        assert_eq!(family(Family::Geofence).observations, 0);
        assert_eq!((m.rule("th-gamma").evaluations, m.rule("th-gamma").hits), (2, 1));
        assert_eq!(m.rule("th-co").evaluations, 0, "no reading of its quantity");
        assert_eq!((m.rule("sit-default").evaluations, m.rule("sit-default").hits), (1, 1), "the gunshot, evaluated and raised");
        assert_eq!(alerts.len(), 2);
    }
}
