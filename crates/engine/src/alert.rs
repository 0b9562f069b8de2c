//! Alerts: what a rule raised, with the evidence an operator needs to judge it.

use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an alert is in its lifecycle: new → acknowledged → confirmed or dismissed → closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Raised, not yet looked at.
    New,
    /// An operator has taken it.
    Acknowledged,
    /// The operator checked the evidence and it holds.
    Confirmed,
    /// The operator checked the evidence and it does not hold (a misread, a lapsed entry, ...).
    Dismissed,
    /// Finished with.
    Closed,
}

impl AlertStatus {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Confirmed => "confirmed",
            AlertStatus::Dismissed => "dismissed",
            AlertStatus::Closed => "closed",
        }
    }

    /// The statuses reachable from this one.
    pub fn next(self) -> &'static [AlertStatus] {
        match self {
            AlertStatus::New => &[AlertStatus::Acknowledged],
            AlertStatus::Acknowledged => &[AlertStatus::Confirmed, AlertStatus::Dismissed],
            AlertStatus::Confirmed | AlertStatus::Dismissed => &[AlertStatus::Closed],
            AlertStatus::Closed => &[],
        }
    }
}

/// Why an operator dismissed an alert; the efficacy figures count these.
pub const DISMISSAL_DISPOSITIONS: [&str; 5] = ["misread", "entry_no_longer_valid", "vehicle_does_not_match", "duplicate", "other"];

/// A request to move an alert along its lifecycle.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The status to move to.
    pub to: AlertStatus,
    /// Required when dismissing: one of [`DISMISSAL_DISPOSITIONS`]; optional otherwise.
    #[serde(default)]
    pub disposition: Option<String>,
    /// For confirming a plate hit: the operator compared the plate image with the read.
    #[serde(default)]
    pub visual_check: bool,
    /// For confirming a plate hit: the operator checked the entry against the source system (it is
    /// still listed and still valid).
    #[serde(default)]
    pub source_check: bool,
    /// Free text; it goes to the alert, and to the audit log only as a keyed hash.
    #[serde(default)]
    pub note: Option<String>,
}

/// One step of an alert's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The alert.
    pub alert_id: String,
    /// From.
    pub from: AlertStatus,
    /// To.
    pub to: AlertStatus,
    /// Who.
    pub actor: String,
    /// When.
    pub at: Timestamp,
    /// Why (for dismissals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// The visual check was recorded.
    #[serde(default)]
    pub visual_check: bool,
    /// The source-system check was recorded.
    #[serde(default)]
    pub source_check: bool,
    /// The operator's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a transition was refused; `field` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct TransitionError {
    /// The field at fault.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// The evidence of a plate hotlist hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotlistHit {
    /// The plate as the reader reported it (the top reading).
    pub plate: String,
    /// The reading that matched: the top reading or one of the candidates.
    pub matched_plate: String,
    /// True when the match came from a lower-ranked candidate, not the top reading.
    pub from_candidate: bool,
    /// The read's region, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The hotlist that matched.
    pub hotlist_id: String,
    /// Its name.
    pub hotlist_name: String,
    /// The entry's plate.
    pub entry_plate: String,
    /// The entry's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_region: Option<String>,
    /// Why the plate is listed (`stolen_vehicle`, `amber_alert`, ...).
    pub reason: String,
    /// When the entry lapses.
    pub entry_expires_at: Timestamp,
    /// The list's matching policy.
    #[serde(default)]
    pub match_policy: crate::MatchPolicy,
    /// Substitutions plus length difference between the matched reading and the entry (0 = exact
    /// or confusable glyphs only).
    #[serde(default)]
    pub distance: u8,
    /// Exactly which characters differed (confusable ones included, marked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<crate::rules::misread::CharDiff>,
    /// The read's images, for the operator's visual check (`blob:plate=…;vehicle=…` when stored here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// The reader's description of the vehicle, to compare with the vehicle crop and with the
    /// listed vehicle in the source system.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vehicle: Vec<VehicleAttribute>,
}

/// One thing the reader's classifier said about the vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleAttribute {
    /// `make`, `color` or `body`.
    pub attribute: String,
    /// The classifier's answer, e.g. `toyota`.
    pub value: String,
    /// Its confidence, 0..=1, when the reader gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

impl VehicleAttribute {
    /// The attributes a read carries, make first.
    pub fn of(read: &glasshouse_model::PlateRead) -> Vec<VehicleAttribute> {
        [
            ("make", &read.vehicle_make, read.vehicle_make_confidence),
            ("color", &read.vehicle_color, read.vehicle_color_confidence),
            ("body", &read.vehicle_body, read.vehicle_body_confidence),
        ]
        .into_iter()
        .filter_map(|(attribute, value, confidence)| {
            value.as_ref().map(|value| VehicleAttribute { attribute: attribute.to_owned(), value: value.clone(), confidence })
        })
        .collect()
    }
}

/// One alert. `id` is derived from the observation and the rule's match, so re-evaluating the same
/// observation (a WAL replay after a crash) yields the same id and is deduplicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic id.
    pub id: String,
    /// The rule that raised it: `hotlist`, `threshold` or `situation`.
    pub rule: String,
    /// Lifecycle state.
    pub status: AlertStatus,
    /// 1 = most urgent.
    pub priority: u8,
    /// When the triggering observation was made.
    pub observed_at: Timestamp,
    /// When the alert was raised.
    pub raised_at: Timestamp,
    /// The triggering observation.
    pub observation_id: String,
    /// Its device.
    pub device_id: String,
    /// Where.
    pub lat: f64,
    /// Where.
    pub lon: f64,
    /// For plate hits: the read plate (top reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// For plate hits: the hotlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotlist_id: Option<String>,
    /// For plate hits: the evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit: Option<HotlistHit>,
    /// For threshold alerts: the rule and the reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<crate::rules::threshold::ThresholdHit>,
    /// For situations (rule `situation`): what opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation: Option<crate::rules::correlation::SituationTrigger>,
    /// For a geofence alert: the fence, the trigger and the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geofence: Option<crate::rules::geofence::GeofenceHit>,
    /// For a silent device (rule `device_silent`): the rule and when the device was last heard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<crate::rules::silence::SilenceHit>,
    /// Every lifecycle step so far, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Transition>,
    /// Later sightings folded into this alert while it was open (see the alert log's repeat window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Repeat>,
    /// Raised when a new hotlist entry was matched against reads made before it was listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retroactive: bool,
}

/// A later sighting of what an open alert is about (the same plate on the same list), folded into
/// it instead of raising another alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeat {
    /// The open alert it was folded into.
    pub alert_id: String,
    /// The id the repeat would have had as an alert of its own (so a replay folds it only once).
    pub folded_alert_id: String,
    /// The sighting.
    pub observation_id: String,
    /// Where.
    pub device_id: String,
    /// When.
    pub observed_at: Timestamp,
    /// Where.
    pub lat: f64,
    /// Where.
    pub lon: f64,
}

impl Alert {
    /// A new alert about `observation`, raised at `now` (the caller's clock), with no rule-specific evidence yet: each rule sets
    /// its own fields (`hit`, `threshold`, `situation`, …) on top of this.
    pub fn raised(id: String, rule: &str, priority: u8, observation: &glasshouse_model::Observation, now: Timestamp) -> Alert {
        Alert {
            id,
            rule: rule.into(),
            priority,
            observed_at: observation.observed_at,
            raised_at: now,
            observation_id: observation.id.clone(),
            device_id: observation.device_id.clone(),
            lat: observation.position.lat,
            lon: observation.position.lon,
            ..Alert::empty()
        }
    }

    /// A new alert with no rule's evidence yet, for the raising rule to fill in.
    pub(crate) fn empty() -> Alert {
        Alert {
            id: String::new(),
            rule: String::new(),
            status: AlertStatus::New,
            priority: 3,
            observed_at: Timestamp(0),
            raised_at: Timestamp(0),
            observation_id: String::new(),
            device_id: String::new(),
            lat: 0.0,
            lon: 0.0,
            plate: None,
            hotlist_id: None,
            hit: None,
            threshold: None,
            situation: None,
            geofence: None,
            silence: None,
            history: Vec::new(),
            repeats: Vec::new(),
            retroactive: false,
        }
    }

    /// What makes two alerts "the same thing seen again": the rule, the list and the entry.
    pub fn repeat_key(&self) -> Option<(String, String, String)> {
        if let Some(hit) = &self.hit {
            return Some((self.rule.clone(), hit.hotlist_id.clone(), hit.entry_plate.clone()));
        }
        // A threshold episode raised again (after a crash lost the last seconds of rule state, or a
        // reading that crossed the level once more) folds into the alert still open for the same
        // rule and device.
        let threshold = self.threshold.as_ref()?;
        Some((self.rule.clone(), threshold.rule_id.clone(), self.device_id.clone()))
    }

    /// When it was last seen: the newest repeat, or the triggering observation.
    pub fn last_observed_at(&self) -> Timestamp {
        self.repeats.last().map_or(self.observed_at, |r| r.observed_at)
    }
}

impl Alert {
    /// Checks a request against the lifecycle and the evidence rules, and returns the transition
    /// to record. "An alert is not a stop": a plate hit is confirmed only with both checks recorded.
    pub fn check_transition(&self, request: &TransitionRequest, actor: &str, at: Timestamp) -> Result<Transition, TransitionError> {
        if !self.status.next().contains(&request.to) {
            let allowed: Vec<&str> = self.status.next().iter().map(|s| s.as_str()).collect();
            let reason = if allowed.is_empty() {
                format!("the alert is {}; nothing follows", self.status.as_str())
            } else {
                format!("the alert is {}; it can move to {}", self.status.as_str(), allowed.join(" or "))
            };
            return Err(TransitionError { field: "to", reason });
        }
        if request.to == AlertStatus::Confirmed && self.hit.is_some() {
            if !request.visual_check {
                return Err(TransitionError {
                    field: "visual_check",
                    reason: "a plate hit is confirmed only after comparing the plate image with the read".into(),
                });
            }
            if !request.source_check {
                return Err(TransitionError {
                    field: "source_check",
                    reason: "a plate hit is confirmed only after checking the entry in its source system".into(),
                });
            }
        }
        if request.to == AlertStatus::Dismissed {
            match request.disposition.as_deref() {
                Some(d) if DISMISSAL_DISPOSITIONS.contains(&d) => {}
                _ => {
                    return Err(TransitionError {
                        field: "disposition",
                        reason: format!("dismissing needs a disposition: one of {}", DISMISSAL_DISPOSITIONS.join(", ")),
                    });
                }
            }
        }
        if request.note.as_deref().is_some_and(|n| n.chars().count() > 1_000) {
            return Err(TransitionError { field: "note", reason: "longer than 1000 characters".into() });
        }
        Ok(Transition {
            alert_id: self.id.clone(),
            from: self.status,
            to: request.to,
            actor: actor.to_owned(),
            at,
            disposition: request.disposition.clone(),
            visual_check: request.visual_check,
            source_check: request.source_check,
            note: request.note.clone(),
        })
    }

    /// Applies a checked transition.
    ///
    /// # Panics
    /// If the transition is for another alert or does not start from the current status (a caller
    /// bug: transitions come from [`Alert::check_transition`] under the same lock).
    pub fn apply(&mut self, transition: Transition) {
        assert_eq!(transition.alert_id, self.id, "transition for another alert");
        assert_eq!(transition.from, self.status, "transition from a stale status");
        self.status = transition.to;
        self.history.push(transition);
    }

    /// When the alert was first acknowledged.
    pub fn acknowledged_at(&self) -> Option<Timestamp> {
        self.history.iter().find(|t| t.to == AlertStatus::Acknowledged).map(|t| t.at)
    }
}

/// A short stable id from the parts that make an alert unique.
pub fn alert_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(3 + 24);
    id.push_str("al-");
    for byte in &digest[..12] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 15)]));
    }
    id
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An exact hit on `entry_plate` in list `h`.
    pub(crate) fn hit(entry_plate: &str) -> HotlistHit {
        HotlistHit {
            plate: entry_plate.into(),
            matched_plate: entry_plate.into(),
            from_candidate: false,
            region: None,
            hotlist_id: "h".into(),
            hotlist_name: "h".into(),
            entry_plate: entry_plate.into(),
            entry_region: None,
            reason: "stolen_vehicle".into(),
            entry_expires_at: Timestamp(10),
            match_policy: crate::MatchPolicy::Exact,
            distance: 0,
            diffs: Vec::new(),
            image_ref: None,
            vehicle: Vec::new(),
        }
    }

    fn alert(hit: bool) -> Alert {
        Alert {
            id: "al-1".into(),
            rule: "hotlist".into(),
            status: AlertStatus::New,
            priority: 1,
            observed_at: Timestamp(0),
            raised_at: Timestamp(1),
            observation_id: "o".into(),
            device_id: "d".into(),
            lat: 0.0,
            lon: 0.0,
            plate: None,
            hotlist_id: None,
            hit: hit.then(|| self::tests::hit("ABC123")),
            threshold: None,
            situation: None,
            geofence: None,
            silence: None,
            history: Vec::new(),
            repeats: Vec::new(),
            retroactive: false,
        }
    }

    fn request(to: AlertStatus) -> TransitionRequest {
        TransitionRequest { to, disposition: None, visual_check: false, source_check: false, note: None }
    }

    #[test]
    fn the_lifecycle_is_a_fixed_path() {
        let mut a = alert(false);
        assert_eq!(a.check_transition(&request(AlertStatus::Confirmed), "op", Timestamp(5)).unwrap_err().field, "to");
        let t = a.check_transition(&request(AlertStatus::Acknowledged), "op", Timestamp(5)).unwrap();
        a.apply(t);
        a.apply(a.check_transition(&request(AlertStatus::Confirmed), "op", Timestamp(6)).unwrap());
        a.apply(a.check_transition(&request(AlertStatus::Closed), "op", Timestamp(7)).unwrap());
        assert_eq!(a.status, AlertStatus::Closed);
        assert_eq!(a.acknowledged_at(), Some(Timestamp(5)));
        assert!(a.check_transition(&request(AlertStatus::New), "op", Timestamp(8)).unwrap_err().reason.contains("nothing follows"));
    }

    #[test]
    fn a_plate_hit_needs_both_checks_to_be_confirmed() {
        let mut a = alert(true);
        a.apply(a.check_transition(&request(AlertStatus::Acknowledged), "op", Timestamp(5)).unwrap());
        assert_eq!(a.check_transition(&request(AlertStatus::Confirmed), "op", Timestamp(6)).unwrap_err().field, "visual_check");
        let visual_only = TransitionRequest { visual_check: true, ..request(AlertStatus::Confirmed) };
        assert_eq!(a.check_transition(&visual_only, "op", Timestamp(6)).unwrap_err().field, "source_check");
        let both = TransitionRequest { visual_check: true, source_check: true, ..request(AlertStatus::Confirmed) };
        assert!(a.check_transition(&both, "op", Timestamp(6)).is_ok());
    }

    #[test]
    fn a_dismissal_names_its_reason() {
        let mut a = alert(true);
        a.apply(a.check_transition(&request(AlertStatus::Acknowledged), "op", Timestamp(5)).unwrap());
        assert_eq!(a.check_transition(&request(AlertStatus::Dismissed), "op", Timestamp(6)).unwrap_err().field, "disposition");
        let vague = TransitionRequest { disposition: Some("meh".into()), ..request(AlertStatus::Dismissed) };
        assert_eq!(vague.to, AlertStatus::Dismissed);
        assert!(a.check_transition(&vague, "op", Timestamp(6)).is_err());
        let misread = TransitionRequest { disposition: Some("misread".into()), ..request(AlertStatus::Dismissed) };
        assert_eq!(a.check_transition(&misread, "op", Timestamp(6)).unwrap().disposition.as_deref(), Some("misread"));
    }
}
