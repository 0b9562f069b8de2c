//! The hot path's rules: given an observation, which alerts does it raise?
//!
//! Rules are synchronous and do no I/O; they own only their index. The async runner (in the binary's
//! pipeline) owns channels, clocks and persistence. The rules: plate hotlists (exact or OCR-tolerant, on the
//! read and every top-N candidate), sensor thresholds, geofences (for listed mobile devices and hotlisted
//! vehicles), and the correlation triggers that open situations.
#![deny(missing_docs)]

pub mod alert;
pub mod rules;

pub use alert::{Alert, AlertStatus, DISMISSAL_DISPOSITIONS, HotlistHit, Repeat, Transition, TransitionError, TransitionRequest};
pub use rules::correlation::{CorrelationRule, SituationTrigger};
pub use rules::geofence::{GeofenceHit, GeofenceIndex, GeofenceRule, GeofenceState, GeofenceSubjects, GeofenceTrigger, NewGeofenceRule};
pub use rules::hotlist::{Hotlist, HotlistEntry, HotlistError, HotlistIndex, HotlistSource, MatchPolicy, NewHotlist, NewHotlistEntry};
pub use rules::threshold::{NewThresholdRule, RuleError, ThresholdHit, ThresholdRule, ThresholdState};

use glasshouse_model::Observation;

/// Every rule the engine runs, evaluated in a fixed order.
#[derive(Debug, Default, Clone)]
pub struct Engine {
    /// Plate hotlists.
    pub hotlists: HotlistIndex,
    /// Sensor threshold rules.
    pub thresholds: Vec<ThresholdRule>,
    /// Geofences.
    pub geofences: GeofenceIndex,
    /// What opens a situation (gunshots, listed incident types).
    pub correlations: CorrelationRule,
}

impl Engine {
    /// Appends the alerts `observation` raises to `alerts`. Stateful rules (thresholds) keep their
    /// episodes in `state`, which the hot path owns.
    pub fn evaluate(&self, state: &mut EngineState, observation: &Observation, alerts: &mut Vec<Alert>) {
        let before = alerts.len();
        self.hotlists.evaluate(observation, alerts);
        // A hotlist hit places the listed vehicle at the reader, which the geofences watch.
        let mut fenced = Vec::new();
        self.geofences.evaluate(&mut state.geofences, observation, &alerts[before..], &mut fenced);
        alerts.append(&mut fenced);
        state.thresholds.evaluate(&self.thresholds, observation, alerts);
        self.correlations.evaluate(observation, alerts);
    }
}

/// The mutable state of stateful rules, owned by the single hot-path thread.
#[derive(Debug, Default)]
pub struct EngineState {
    /// Threshold episodes.
    pub thresholds: ThresholdState,
    /// Where watched subjects are with respect to each geofence.
    pub geofences: GeofenceState,
}
