//! Sensor thresholds: a level with hysteresis, and an optional rate of change.
//!
//! An episode opens when a reading reaches `level` (or rises faster than `rate_per_min`) and closes
//! only when a reading falls below `clear_below`, so a value hovering around the level raises one
//! alert, not one per reading. A rule watches one quantity, on one device, on the devices inside a
//! zone (a GeoJSON area), or everywhere. The rule is data (created through the API); the episode
//! state lives with the hot path, one entry per (rule, device).

use crate::alert::{Alert, alert_id};
use crate::rules::geofence::shape::{FenceShape, Zone, parse_geojson_area};
use glasshouse_model::device::validate_id;
use glasshouse_model::{Body, Observation, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A threshold rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRule {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The quantity watched, e.g. `gamma_dose_rate`.
    pub quantity: String,
    /// Only this device, or every device reporting the quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Only readings taken inside this area (a GeoJSON Polygon or MultiPolygon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Value>,
    /// The zone, compiled for point tests; rebuilt from `zone` when a stored rule is loaded.
    #[serde(skip)]
    pub compiled_zone: CompiledZone,
    /// An episode opens at or above this value.
    pub level: f64,
    /// And closes below this one (hysteresis; at most `level`).
    pub clear_below: f64,
    /// An episode also opens when the value rises faster than this per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_min: Option<f64>,
    /// 1 = most urgent.
    pub priority: u8,
    /// Disabled rules raise nothing.
    pub enabled: bool,
}

/// A request to create a threshold rule.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewThresholdRule {
    /// Display name.
    pub name: String,
    /// The quantity watched.
    pub quantity: String,
    /// Only this device.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Only readings inside this GeoJSON Polygon or MultiPolygon.
    #[serde(default)]
    pub zone: Option<Value>,
    /// Opening level.
    pub level: f64,
    /// Closing level; defaults to 80% of `level`.
    #[serde(default)]
    pub clear_below: Option<f64>,
    /// Opening rate of rise per minute.
    #[serde(default)]
    pub rate_per_min: Option<f64>,
    /// 1 = most urgent; default 1 (a radiation or chemical reading is urgent).
    #[serde(default)]
    pub priority: Option<u8>,
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct RuleError {
    /// The field at fault.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl NewThresholdRule {
    /// Checks the request and builds the rule.
    pub fn into_rule(self, id: String) -> Result<ThresholdRule, RuleError> {
        let err = |field, reason: &str| RuleError { field, reason: reason.into() };
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(err("name", "must be 1..=64 characters"));
        }
        validate_id(&self.quantity).map_err(|r| RuleError { field: "quantity", reason: r })?;
        if let Some(device) = &self.device_id {
            validate_id(device).map_err(|r| RuleError { field: "device_id", reason: r })?;
        }
        if self.device_id.is_some() && self.zone.is_some() {
            return Err(err("zone", "give a device or a zone, not both"));
        }
        let compiled_zone = CompiledZone::new(self.zone.as_ref()).map_err(|r| RuleError { field: "zone", reason: r })?;
        if !self.level.is_finite() {
            return Err(err("level", "must be a finite number"));
        }
        let clear_below = self.clear_below.unwrap_or(self.level * 0.8);
        if !clear_below.is_finite() || clear_below > self.level {
            return Err(err("clear_below", "must be a finite number at most `level`"));
        }
        if self.rate_per_min.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err(err("rate_per_min", "must be a positive number"));
        }
        let priority = self.priority.unwrap_or(1);
        if !(1..=5).contains(&priority) {
            return Err(err("priority", "must be 1..=5"));
        }
        Ok(ThresholdRule {
            id,
            name,
            quantity: self.quantity,
            device_id: self.device_id,
            zone: self.zone,
            compiled_zone,
            level: self.level,
            clear_below,
            rate_per_min: self.rate_per_min,
            priority,
            enabled: true,
        })
    }
}

/// A threshold rule's zone ready for point tests. Compares equal to any other: it is derived from
/// the rule's `zone`, which is compared instead.
#[derive(Debug, Clone, Default)]
pub struct CompiledZone(Option<Arc<FenceShape>>);

impl PartialEq for CompiledZone {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl CompiledZone {
    fn new(zone: Option<&Value>) -> Result<CompiledZone, String> {
        Ok(CompiledZone(match zone {
            Some(area) => Some(Arc::new(FenceShape::new(&parse_geojson_area(area)?, 0.0))),
            None => None,
        }))
    }

    /// True when there is no zone or the point is in it (its edge included).
    fn admits(&self, lat: f64, lon: f64) -> bool {
        self.0.as_ref().is_none_or(|shape| shape.zone(lat, lon) != Zone::Outside)
    }
}

impl ThresholdRule {
    /// Compiles the zone of a rule read back from storage (where only the GeoJSON is kept).
    pub fn compile(&mut self) -> Result<(), String> {
        self.compiled_zone = CompiledZone::new(self.zone.as_ref())?;
        Ok(())
    }
}

/// What a threshold alert carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdHit {
    /// The rule.
    pub rule_id: String,
    /// Its name.
    pub rule_name: String,
    /// The quantity.
    pub quantity: String,
    /// The reading that opened the episode.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The rule's level.
    pub level: f64,
    /// Why it opened: `level` or `rate`.
    pub trigger: String,
}

/// Whether a (rule, device) pair is in an episode, and its last reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    active: bool,
    last_value: f64,
    last_at: Timestamp,
}

/// Episode state of every (rule, device) pair; owned by the hot path.
#[derive(Debug, Default)]
pub struct ThresholdState {
    episodes: HashMap<(String, String), Episode>,
}

impl ThresholdState {
    /// Every episode as (rule id, device id, episode), in order, for a snapshot.
    pub fn save(&self) -> Vec<(String, String, Episode)> {
        let mut saved: Vec<_> = self.episodes.iter().map(|((rule, device), e)| (rule.clone(), device.clone(), *e)).collect();
        saved.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        saved
    }

    /// The state [`ThresholdState::save`] described.
    pub fn load(saved: Vec<(String, String, Episode)>) -> ThresholdState {
        ThresholdState { episodes: saved.into_iter().map(|(rule, device, e)| ((rule, device), e)).collect() }
    }

    /// Feeds one observation through every enabled rule, raising an alert when an episode opens.
    /// Returns the ids of the rules it was evaluated against.
    pub fn evaluate<'r>(
        &mut self,
        rules: &'r [ThresholdRule],
        observation: &Observation,
        now: Timestamp,
        alerts: &mut Vec<Alert>,
    ) -> Vec<&'r str> {
        let mut evaluated = Vec::new();
        let Body::SensorReading(reading) = &observation.body else { return evaluated };
        for rule in rules.iter().filter(|r| r.enabled && r.quantity == reading.quantity) {
            if rule.device_id.as_ref().is_some_and(|d| *d != observation.device_id) {
                continue;
            }
            if !rule.compiled_zone.admits(observation.position.lat, observation.position.lon) {
                continue;
            }
            evaluated.push(rule.id.as_str());
            let key = (rule.id.clone(), observation.device_id.clone());
            let previous = self.episodes.get(&key).copied();
            let rate = previous.and_then(|p| {
                let minutes = (observation.observed_at.0 - p.last_at.0) as f64 / 60e6;
                (minutes > 0.0).then(|| (reading.value - p.last_value) / minutes)
            });
            let was_active = previous.is_some_and(|p| p.active);
            let by_level = reading.value >= rule.level;
            let by_rate = rule.rate_per_min.is_some_and(|limit| rate.is_some_and(|r| r > limit));
            let active = if was_active { reading.value >= rule.clear_below } else { by_level || by_rate };
            if active && !was_active {
                alerts.push(Alert {
                    threshold: Some(ThresholdHit {
                        rule_id: rule.id.clone(),
                        rule_name: rule.name.clone(),
                        quantity: reading.quantity.clone(),
                        value: reading.value,
                        unit: reading.unit.clone(),
                        level: rule.level,
                        trigger: if by_level { "level" } else { "rate" }.into(),
                    }),
                    ..Alert::raised(alert_id(&[&observation.id, "threshold", &rule.id]), "threshold", rule.priority, observation, now)
                });
            }
            self.episodes.insert(key, Episode { active, last_value: reading.value, last_at: observation.observed_at });
        }
        evaluated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Position, SensorReading};

    fn reading(i: i64, value: f64) -> Observation {
        Observation {
            id: format!("s{i}"),
            device_id: "rad-1".into(),
            observed_at: Timestamp(i * 60_000_000),
            received_at: Timestamp(i * 60_000_000),
            position: Position { lat: 60.0, lon: 25.0, heading_deg: None, accuracy_m: None },
            body: Body::SensorReading(SensorReading { quantity: "gamma_dose_rate".into(), value, unit: "uSv/h".into() }),
        }
    }

    fn rule(rate: Option<f64>) -> ThresholdRule {
        NewThresholdRule { rate_per_min: rate, ..request() }.into_rule("th-1".into()).unwrap()
    }

    fn run(rules: &[ThresholdRule], values: &[f64]) -> Vec<Alert> {
        let mut state = ThresholdState::default();
        let mut alerts = Vec::new();
        for (i, v) in values.iter().enumerate() {
            state.evaluate(rules, &reading(i as i64, *v), Timestamp(0), &mut alerts);
        }
        alerts
    }

    #[test]
    fn a_reading_hovering_around_the_level_raises_one_alert() {
        let ramp = [0.1, 0.1, 0.6, 1.1, 0.95, 1.3, 2.6, 2.6, 0.9, 1.2, 0.6, 0.2, 0.1];
        let alerts = run(&[rule(None)], &ramp);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].observation_id, "s3");
        assert_eq!(alerts[0].threshold.as_ref().unwrap().trigger, "level");
    }

    #[test]
    fn an_open_episode_survives_a_snapshot_and_does_not_alert_again() {
        let rules = [rule(None)];
        let mut state = ThresholdState::default();
        let mut alerts = Vec::new();
        for (i, v) in [0.1, 1.5, 1.6].iter().enumerate() {
            state.evaluate(&rules, &reading(i as i64, *v), Timestamp(0), &mut alerts);
        }
        assert_eq!(alerts.len(), 1);
        let saved = serde_json::to_string(&state.save()).unwrap();
        let mut restored = ThresholdState::load(serde_json::from_str(&saved).unwrap());
        assert_eq!(restored.save(), state.save());
        let mut after = Vec::new();
        restored.evaluate(&rules, &reading(3, 1.7), Timestamp(0), &mut after);
        assert!(after.is_empty(), "still the same episode: {after:?}");
        let mut fresh = Vec::new();
        ThresholdState::default().evaluate(&rules, &reading(3, 1.7), Timestamp(0), &mut fresh);
        assert_eq!(fresh.len(), 1, "a state without the snapshot would alert again");
    }

    #[test]
    fn a_new_episode_after_clearing_raises_again_and_disabled_rules_stay_quiet() {
        let two_episodes = [0.1, 1.5, 1.5, 0.3, 0.1, 1.4];
        assert_eq!(run(&[rule(None)], &two_episodes).len(), 2);
        let mut disabled = rule(None);
        disabled.enabled = false;
        assert!(run(&[disabled], &two_episodes).is_empty());
    }

    #[test]
    fn a_fast_rise_opens_an_episode_below_the_level() {
        let alerts = run(&[rule(Some(0.3))], &[0.1, 0.1, 0.5, 0.6]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].threshold.as_ref().unwrap().trigger, "rate");
    }

    #[test]
    fn a_zone_rule_watches_only_readings_inside_it_and_survives_storage() {
        let square =
            serde_json::json!({"type": "Polygon", "coordinates": [[[24.9, 59.9], [25.1, 59.9], [25.1, 60.1], [24.9, 60.1], [24.9, 59.9]]]});
        let zoned = NewThresholdRule { zone: Some(square), ..request() }.into_rule("th-z".into()).unwrap();
        // `reading` is at 60.0, 25.0: inside. The same readings 20 km north are outside.
        assert_eq!(run(std::slice::from_ref(&zoned), &[0.1, 1.5]).len(), 1);
        let mut state = ThresholdState::default();
        let mut alerts = Vec::new();
        for (i, v) in [0.1, 1.5].iter().enumerate() {
            let mut north = reading(i as i64, *v);
            north.position.lat = 60.2;
            state.evaluate(std::slice::from_ref(&zoned), &north, Timestamp(0), &mut alerts);
        }
        assert!(alerts.is_empty(), "a reading outside the zone is not watched");
        // Stored, only the GeoJSON is kept; compiling it again restores the zone.
        let mut stored: ThresholdRule = serde_json::from_str(&serde_json::to_string(&zoned).unwrap()).unwrap();
        assert!(stored.compiled_zone.0.is_none());
        stored.compile().unwrap();
        assert_eq!(run(&[stored], &[0.1, 1.5]).len(), 1);
        let both = NewThresholdRule { device_id: Some("rad-1".into()), zone: zoned.zone.clone(), ..request() };
        assert_eq!(both.into_rule("x".into()).unwrap_err().field, "zone");
        let bad = NewThresholdRule { zone: Some(serde_json::json!({"type": "Point"})), ..request() };
        assert_eq!(bad.into_rule("x".into()).unwrap_err().field, "zone");
    }

    fn request() -> NewThresholdRule {
        NewThresholdRule {
            name: "radiation".into(),
            quantity: "gamma_dose_rate".into(),
            device_id: None,
            zone: None,
            level: 1.0,
            clear_below: Some(0.5),
            rate_per_min: None,
            priority: None,
        }
    }

    #[test]
    fn bad_rules_are_refused_by_field() {
        let base = || NewThresholdRule { name: "r".into(), quantity: "co".into(), clear_below: None, ..request() };
        assert_eq!(NewThresholdRule { clear_below: Some(2.0), ..base() }.into_rule("x".into()).unwrap_err().field, "clear_below");
        assert_eq!(NewThresholdRule { level: f64::NAN, ..base() }.into_rule("x".into()).unwrap_err().field, "level");
        assert_eq!(NewThresholdRule { quantity: "a b".into(), ..base() }.into_rule("x".into()).unwrap_err().field, "quantity");
        assert_eq!(base().into_rule("x".into()).unwrap().clear_below, 0.8);
    }
}
