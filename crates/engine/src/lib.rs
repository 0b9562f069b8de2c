//! The hot path's rules: given an observation, which alerts does it raise?
//!
//! Rules are synchronous and do no I/O; they own only their index. The async runner (in the binary's
//! pipeline) owns channels, clocks and persistence. The rules: plate hotlists (exact or misread-tolerant, on the
//! read and every top-N candidate), sensor thresholds, geofences (for listed mobile devices and hotlisted
//! vehicles), and the correlation triggers that open situations.
#![deny(missing_docs)]

pub mod alert;
pub mod alert_filter;
pub mod metrics;
pub mod rules;

pub use alert::{
    Alert, AlertStatus, DISMISSAL_DISPOSITIONS, HotlistHit, Repeat, Transition, TransitionError, TransitionRequest, VehicleAttribute,
};
pub use alert_filter::{AlertFilter, FilterError, RULE_FAMILIES};
pub use rules::correlation::{CorrelationRule, KindWindow, NewCorrelationRule, SituationTrigger};
pub use rules::geofence::{
    GeofenceHit, GeofenceIndex, GeofenceRule, GeofenceState, GeofenceSubjects, GeofenceTrigger, NewGeofenceRule, SavedPresences,
};
pub use rules::hotlist::{
    Hotlist, HotlistEntry, HotlistError, HotlistIndex, HotlistMatch, HotlistSource, MatchPolicy, NewHotlist, NewHotlistEntry,
};
pub use rules::silence::{NewSilenceRule, SilenceHit, SilenceRule};
pub use rules::threshold::{NewThresholdRule, RuleError, ThresholdHit, ThresholdRule, ThresholdState};

use glasshouse_model::{Body, Observation, Timestamp};
use metrics::Family;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Every rule the engine runs, evaluated in a fixed order.
#[derive(Debug, Default, Clone)]
pub struct Engine {
    /// Plate hotlists.
    pub hotlists: HotlistIndex,
    /// Sensor threshold rules.
    pub thresholds: Vec<ThresholdRule>,
    /// Geofences.
    pub geofences: GeofenceIndex,
    /// What opens a situation (gunshots, listed incident types), and its context's windows.
    pub correlations: Vec<CorrelationRule>,
    /// Device silence rules: not evaluated per observation but on a clock ([`SilenceRule::silent`]).
    pub silences: Vec<SilenceRule>,
}

impl Engine {
    /// Appends the alerts `observation` raises to `alerts`. Stateful rules (thresholds, geofences)
    /// keep their state in `state`, which the hot path owns, with the rules' metrics.
    /// `now` is when the alerts are raised: the engine reads no clock of its own for them.
    pub fn evaluate(&self, state: &mut EngineState, observation: &Observation, now: Timestamp, alerts: &mut Vec<Alert>) {
        let is_plate_read = matches!(observation.body, Body::PlateRead(_));
        let started = Instant::now();
        let before = alerts.len();
        self.hotlists.evaluate(observation, now, alerts);
        let mut clock = Lap(started);
        state.metrics.record(Family::Hotlist, is_plate_read, &alerts[before..], clock.lap());

        // A hotlist hit places the listed vehicle at the reader, which the geofences watch.
        let mut fenced = Vec::new();
        self.geofences.evaluate(&mut state.geofences, observation, &alerts[before..], now, &mut fenced);
        let looked = self.geofences.drain_evaluated(&mut state.geofences, &mut state.metrics);
        state.metrics.record(Family::Geofence, looked, &fenced, clock.lap());
        alerts.append(&mut fenced);

        let after_geofences = alerts.len();
        let readings = state.thresholds.evaluate(&self.thresholds, observation, now, alerts);
        for rule in readings {
            state.metrics.evaluated(rule);
        }
        state.metrics.record(
            Family::Threshold,
            matches!(observation.body, Body::SensorReading(_)),
            &alerts[after_geofences..],
            clock.lap(),
        );

        let after_thresholds = alerts.len();
        let triggers = matches!(observation.body, Body::Gunshot(_) | Body::Incident(_));
        for rule in &self.correlations {
            if triggers && rule.enabled {
                state.metrics.evaluated(&rule.id);
            }
            rule.evaluate(observation, now, alerts);
        }
        state.metrics.record(Family::Situation, triggers, &alerts[after_thresholds..], clock.lap());
    }
}

/// Time since the last lap, in nanoseconds.
struct Lap(Instant);

impl Lap {
    fn lap(&mut self) -> u64 {
        let now = Instant::now();
        let nanos = now.duration_since(self.0).as_nanos() as u64;
        self.0 = now;
        nanos
    }
}

/// The mutable state of stateful rules, owned by the single hot-path thread.
#[derive(Debug, Default)]
pub struct EngineState {
    /// Threshold episodes.
    pub thresholds: ThresholdState,
    /// Where watched subjects are with respect to each geofence.
    pub geofences: GeofenceState,
    /// What each rule has cost and found since start.
    pub metrics: metrics::RuleMetrics,
}

/// The stateful rules' state as of a log position, kept across restarts: without it a vehicle
/// inside a fence when the server stopped would never raise its `exit`, a dwell would start
/// counting again, and a sensor in an open episode would alert a second time. The metrics are
/// not kept (they count since start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// The last observation (its log position) the state reflects; those after it are evaluated
    /// again when the log is replayed, those up to it are not.
    pub evaluated_through: u64,
    geofences: Vec<SavedPresences>,
    thresholds: Vec<(String, String, rules::threshold::Episode)>,
}

impl EngineState {
    /// This state as of `evaluated_through`, with fences named by id.
    pub fn snapshot(&self, engine: &Engine, evaluated_through: u64) -> StateSnapshot {
        StateSnapshot { evaluated_through, geofences: engine.geofences.save_state(&self.geofences), thresholds: self.thresholds.save() }
    }

    /// The state a snapshot describes, placed against `engine`'s current rules (presences for
    /// deleted fences are dropped). Metrics start from zero.
    pub fn restored(snapshot: StateSnapshot, engine: &Engine) -> EngineState {
        EngineState {
            thresholds: ThresholdState::load(snapshot.thresholds),
            geofences: engine.geofences.load_state(snapshot.geofences),
            metrics: metrics::RuleMetrics::default(),
        }
    }
}
