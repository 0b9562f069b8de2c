//! Device silence: a device that reports (it has sent an observation or its agent a heartbeat) and
//! then goes quiet for longer than the rule allows raises one alert per outage. Time, not an
//! observation, triggers it, so the caller runs [`SilenceRule::silent`] on a clock and hands it when
//! each device was last heard from.

use crate::alert::{Alert, AlertStatus, alert_id};
use crate::rules::threshold::RuleError;
use glasshouse_model::device::validate_id;
use glasshouse_model::{Device, Timestamp};
use serde::{Deserialize, Serialize};

/// The shortest silence a rule may watch for: below it, ordinary gaps between reads would alert.
pub const MINUTES_MIN: u32 = 1;
/// The longest: a week.
pub const MINUTES_MAX: u32 = 7 * 24 * 60;

/// A silence rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceRule {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Minutes without an observation or a heartbeat before a device counts as silent.
    pub minutes: u32,
    /// Only these devices; every device that reports when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// 1 = most urgent.
    pub priority: u8,
    /// Disabled rules raise nothing.
    pub enabled: bool,
}

/// A request to create a silence rule.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSilenceRule {
    /// Display name.
    pub name: String,
    /// Minutes without an observation or a heartbeat before a device counts as silent (1..=10080).
    pub minutes: u32,
    /// Only these devices; every device that reports when absent.
    #[serde(default)]
    pub devices: Vec<String>,
    /// 1 = most urgent; default 3 (a silent reader is a maintenance matter).
    #[serde(default)]
    pub priority: Option<u8>,
}

impl NewSilenceRule {
    /// Checks the request and builds the rule.
    pub fn into_rule(self, id: String) -> Result<SilenceRule, RuleError> {
        let err = |field, reason: String| RuleError { field, reason };
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(err("name", "must be 1..=64 characters".into()));
        }
        if !(MINUTES_MIN..=MINUTES_MAX).contains(&self.minutes) {
            return Err(err("minutes", format!("must be {MINUTES_MIN}..={MINUTES_MAX}")));
        }
        for device in &self.devices {
            validate_id(device).map_err(|reason| err("devices", format!("{device:?} {reason}")))?;
        }
        let priority = self.priority.unwrap_or(3);
        if !(1..=5).contains(&priority) {
            return Err(err("priority", "must be 1..=5".into()));
        }
        Ok(SilenceRule { id, name, minutes: self.minutes, devices: self.devices, priority, enabled: true })
    }
}

/// What a silence alert says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceHit {
    /// The rule.
    pub rule_id: String,
    /// Its name.
    pub rule_name: String,
    /// Its allowance, in minutes.
    pub minutes: u32,
    /// When the device was last heard from before it went quiet.
    pub last_heard_at: Timestamp,
}

impl SilenceRule {
    /// True when the rule watches `device_id`.
    pub fn watches(&self, device_id: &str) -> bool {
        self.devices.is_empty() || self.devices.iter().any(|d| d == device_id)
    }

    /// An alert for each watched device last heard from more than `minutes` before `now`. Its id
    /// names the rule, the device and the moment it was last heard, so checking again during the
    /// same outage yields the same alert (stored once), and the next outage a new one.
    pub fn silent<'a>(&self, last_heard: impl IntoIterator<Item = (&'a Device, Timestamp)>, now: Timestamp) -> Vec<Alert> {
        if !self.enabled {
            return Vec::new();
        }
        let allowance = i64::from(self.minutes) * 60;
        last_heard
            .into_iter()
            .filter(|(device, heard)| self.watches(&device.id) && heard.plus_secs(allowance) < now)
            .map(|(device, heard)| {
                let position = device.position();
                Alert {
                    id: alert_id(&["silence", &self.id, &device.id, &heard.micros().to_string()]),
                    rule: "device_silent".into(),
                    status: AlertStatus::New,
                    priority: self.priority,
                    observed_at: heard.plus_secs(allowance),
                    raised_at: now,
                    observation_id: String::new(),
                    device_id: device.id.clone(),
                    lat: position.map_or(0.0, |p| p.lat),
                    lon: position.map_or(0.0, |p| p.lon),
                    silence: Some(SilenceHit {
                        rule_id: self.id.clone(),
                        rule_name: self.name.clone(),
                        minutes: self.minutes,
                        last_heard_at: heard,
                    }),
                    ..Alert::empty()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::DeviceType;

    fn rule() -> SilenceRule {
        NewSilenceRule { name: "readers quiet".into(), minutes: 10, devices: Vec::new(), priority: None }.into_rule("sil-1".into()).unwrap()
    }

    #[test]
    fn a_device_quiet_past_the_allowance_raises_one_alert_per_outage() {
        let (reader, camera) =
            (Device::fixed("lpr-1", DeviceType::PlateReader, 60.1, 24.9), Device::fixed("cam-1", DeviceType::Camera, 60.1, 24.9));
        let now = Timestamp::from_secs(1_000_000);
        let heard = [(&reader, now.plus_secs(-11 * 60)), (&camera, now.plus_secs(-9 * 60))];
        let alerts = rule().silent(heard, now);
        assert_eq!(alerts.len(), 1, "only the reader is past ten minutes");
        assert_eq!((alerts[0].device_id.as_str(), alerts[0].rule.as_str(), alerts[0].priority), ("lpr-1", "device_silent", 3));
        assert_eq!(alerts[0].silence.as_ref().unwrap().last_heard_at, now.plus_secs(-11 * 60));
        // A minute later, the same outage: the same alert.
        let later = rule().silent([(&reader, now.plus_secs(-11 * 60))], now.plus_secs(60));
        assert_eq!(later[0].id, alerts[0].id);
        // Heard again, then quiet again: a new outage, a new alert.
        let next = rule().silent([(&reader, now.plus_secs(60))], now.plus_secs(20 * 60));
        assert_ne!(next[0].id, alerts[0].id);
    }

    #[test]
    fn a_rule_watches_only_its_devices_and_nothing_when_disabled() {
        let reader = Device::fixed("lpr-1", DeviceType::PlateReader, 60.1, 24.9);
        let now = Timestamp::from_secs(1_000_000);
        let only_others = SilenceRule { devices: vec!["lpr-2".into()], ..rule() };
        assert!(only_others.silent([(&reader, Timestamp(0))], now).is_empty());
        let disabled = SilenceRule { enabled: false, ..rule() };
        assert!(disabled.silent([(&reader, Timestamp(0))], now).is_empty());
    }

    #[test]
    fn bad_requests_name_their_field() {
        let bad = |minutes, devices: Vec<&str>| {
            NewSilenceRule { name: "x".into(), minutes, devices: devices.into_iter().map(str::to_owned).collect(), priority: None }
                .into_rule("s".into())
                .unwrap_err()
                .field
        };
        assert_eq!(bad(0, vec![]), "minutes");
        assert_eq!(bad(MINUTES_MAX + 1, vec![]), "minutes");
        assert_eq!(bad(5, vec!["has space"]), "devices");
    }
}
