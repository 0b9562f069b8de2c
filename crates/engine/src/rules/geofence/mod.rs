//! Geofences: an area (GeoJSON Polygon or MultiPolygon) and what to report when a watched subject,
//! a listed mobile device or a hotlisted vehicle, enters it, leaves it, is inside it, or stays in
//! it longer than a dwell time.
//!
//! GPS jitter at an edge must not make a fence flap, so state changes need two things: the subject
//! must be beyond a distance margin on the new side (a band of `margin_m` either side of the edge
//! changes nothing), and it must stay on the new side for `confirm_s`. The rule is data (created
//! through the API); the presence state lives with the hot path.

mod index;
mod presence;
pub mod shape;

pub use index::GeofenceIndex;
pub use presence::{GeofenceState, SavedPresences};

use glasshouse_model::Timestamp;
use glasshouse_model::device::validate_id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rules::threshold::RuleError;

/// Default half-width of the hysteresis band: consumer GPS is typically good to 5–15 m.
pub const DEFAULT_MARGIN_M: f64 = 15.0;
/// Default time a subject must stay on the new side before its state changes.
pub const DEFAULT_CONFIRM_S: u64 = 10;
/// Most devices one fence may watch by id.
const SUBJECT_DEVICES_MAX: usize = 1_000;

/// What a fence reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GeofenceTrigger {
    /// Came in from outside.
    Enter,
    /// Left.
    Exit,
    /// Is inside: once per stay, whether it entered or was first seen inside.
    Inside,
    /// Has stayed inside for `dwell_s`: once per stay.
    Dwell,
}

impl GeofenceTrigger {
    /// The name used in alerts and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            GeofenceTrigger::Enter => "enter",
            GeofenceTrigger::Exit => "exit",
            GeofenceTrigger::Inside => "inside",
            GeofenceTrigger::Dwell => "dwell",
        }
    }
}

/// Whose positions a fence watches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GeofenceSubjects {
    /// Mobile devices by id (a patrol car, a carried radiation sensor); their observations carry
    /// their position.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Vehicles on a hotlist: each plate-read hit places the listed vehicle at the reader.
    #[serde(default)]
    pub hotlisted: bool,
}

/// A geofence rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeofenceRule {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The area: a GeoJSON Polygon or MultiPolygon geometry.
    pub area: Value,
    /// What it reports.
    pub triggers: Vec<GeofenceTrigger>,
    /// For `dwell`: seconds inside before it reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_s: Option<u64>,
    /// Whose positions it watches.
    pub subjects: GeofenceSubjects,
    /// Half-width of the hysteresis band around the edge, in metres.
    pub margin_m: f64,
    /// Seconds a subject must stay on the new side before its state changes.
    pub confirm_s: u64,
    /// 1 = most urgent.
    pub priority: u8,
    /// Disabled fences report nothing.
    pub enabled: bool,
}

/// A request to create a geofence.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGeofenceRule {
    /// Display name.
    pub name: String,
    /// A GeoJSON Polygon or MultiPolygon geometry.
    pub area: Value,
    /// What to report.
    pub triggers: Vec<GeofenceTrigger>,
    /// Required with `dwell`.
    #[serde(default)]
    pub dwell_s: Option<u64>,
    /// Whose positions to watch.
    pub subjects: GeofenceSubjects,
    /// Default [`DEFAULT_MARGIN_M`].
    #[serde(default)]
    pub margin_m: Option<f64>,
    /// Default [`DEFAULT_CONFIRM_S`].
    #[serde(default)]
    pub confirm_s: Option<u64>,
    /// 1 = most urgent; default 2.
    #[serde(default)]
    pub priority: Option<u8>,
}

impl NewGeofenceRule {
    /// Checks the request and builds the rule.
    pub fn into_rule(self, id: String) -> Result<GeofenceRule, RuleError> {
        let err = |field, reason: String| RuleError { field, reason };
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(err("name", "must be 1..=64 characters".into()));
        }
        shape::parse_geojson_area(&self.area).map_err(|r| err("area", r))?;
        let mut triggers = self.triggers;
        triggers.sort_by_key(|t| t.as_str());
        triggers.dedup();
        if triggers.is_empty() {
            return Err(err("triggers", "name at least one of enter, exit, inside, dwell".into()));
        }
        match (triggers.contains(&GeofenceTrigger::Dwell), self.dwell_s) {
            (true, None) => return Err(err("dwell_s", "is required with the dwell trigger".into())),
            (true, Some(s)) if !(1..=7 * 86_400).contains(&s) => return Err(err("dwell_s", "must be 1..=604800 seconds".into())),
            (false, Some(_)) => return Err(err("dwell_s", "is only for the dwell trigger".into())),
            _ => {}
        }
        let subjects = self.subjects;
        if subjects.devices.is_empty() && !subjects.hotlisted {
            return Err(err("subjects", "watch at least one device or hotlisted vehicles".into()));
        }
        if subjects.devices.len() > SUBJECT_DEVICES_MAX {
            return Err(err("subjects", format!("at most {SUBJECT_DEVICES_MAX} devices")));
        }
        for device in &subjects.devices {
            validate_id(device).map_err(|r| err("subjects", format!("device id {r}")))?;
        }
        let margin_m = self.margin_m.unwrap_or(DEFAULT_MARGIN_M);
        if !(0.0..=500.0).contains(&margin_m) {
            return Err(err("margin_m", "must be 0..=500 metres".into()));
        }
        let confirm_s = self.confirm_s.unwrap_or(DEFAULT_CONFIRM_S);
        if confirm_s > 3_600 {
            return Err(err("confirm_s", "must be 0..=3600 seconds".into()));
        }
        let priority = self.priority.unwrap_or(2);
        if !(1..=5).contains(&priority) {
            return Err(err("priority", "must be 1..=5".into()));
        }
        Ok(GeofenceRule {
            id,
            name,
            area: self.area,
            triggers,
            dwell_s: self.dwell_s,
            subjects,
            margin_m,
            confirm_s,
            priority,
            enabled: true,
        })
    }
}

/// What a geofence alert carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeofenceHit {
    /// The fence.
    pub rule_id: String,
    /// Its name.
    pub rule_name: String,
    /// `enter`, `exit`, `inside` or `dwell`.
    pub trigger: GeofenceTrigger,
    /// `device:<id>` or `plate:<listed plate>`.
    pub subject: String,
    /// When the subject's current state began (for `exit`: when it left).
    pub since: Timestamp,
    /// For `dwell`: seconds inside so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_s: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn request() -> NewGeofenceRule {
        NewGeofenceRule {
            name: "harbour".into(),
            area: json!({"type": "Polygon", "coordinates": [[[24.93, 60.16], [24.95, 60.16], [24.95, 60.17], [24.93, 60.17], [24.93, 60.16]]]}),
            triggers: vec![GeofenceTrigger::Enter, GeofenceTrigger::Exit, GeofenceTrigger::Enter],
            dwell_s: None,
            subjects: GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: false },
            margin_m: None,
            confirm_s: None,
            priority: None,
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let rule = request().into_rule("gf-1".into()).unwrap();
        assert_eq!(rule.triggers, vec![GeofenceTrigger::Enter, GeofenceTrigger::Exit], "sorted, deduplicated");
        assert_eq!((rule.margin_m, rule.confirm_s, rule.priority), (DEFAULT_MARGIN_M, DEFAULT_CONFIRM_S, 2));
        let field = |r: NewGeofenceRule| r.into_rule("x".into()).unwrap_err().field;
        assert_eq!(field(NewGeofenceRule { area: json!({"type": "Point"}), ..request() }), "area");
        assert_eq!(field(NewGeofenceRule { triggers: vec![], ..request() }), "triggers");
        assert_eq!(field(NewGeofenceRule { triggers: vec![GeofenceTrigger::Dwell], ..request() }), "dwell_s");
        assert_eq!(field(NewGeofenceRule { dwell_s: Some(60), ..request() }), "dwell_s");
        assert_eq!(field(NewGeofenceRule { subjects: GeofenceSubjects::default(), ..request() }), "subjects");
        assert_eq!(field(NewGeofenceRule { margin_m: Some(-1.0), ..request() }), "margin_m");
        assert_eq!(field(NewGeofenceRule { margin_m: Some(f64::NAN), ..request() }), "margin_m");
        assert_eq!(field(NewGeofenceRule { priority: Some(0), ..request() }), "priority");
    }
}
