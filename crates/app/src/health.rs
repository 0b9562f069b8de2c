//! Device health: devices that report and then go quiet. Silence is a matter of time, not of an
//! observation, so [`App::check_silence`] runs on a clock (the pipeline's health thread) and raises
//! one alert per outage, and closes it, as the system, once the device is heard from again.

use crate::{App, AppError, DeviceSeen};
use glasshouse_model::{Device, Timestamp};

/// What one check did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SilenceCheck {
    /// Outages newly alerted.
    pub raised: usize,
    /// Outage alerts closed because their device spoke again.
    pub closed: usize,
}

/// The rule family of silence alerts, as `Alert::rule` names it.
const SILENCE_FAMILY: &str = "device_silent";

/// Why a silence alert is closed, in its history.
pub const RESUMED_NOTE: &str = "the device reported again";

/// When a device was last heard from: its newest observation or heartbeat.
fn last_heard(seen: &DeviceSeen) -> Option<Timestamp> {
    seen.last_observation_at.max(seen.last_heartbeat_at)
}

impl App {
    /// Raises an alert for each device silent past a rule's allowance, and closes the silence alerts
    /// of devices heard from since. A device counts once it has been heard from since the server
    /// started, so a restart does not call the whole city silent.
    pub fn check_silence(&self, now: Timestamp) -> Result<SilenceCheck, AppError> {
        let rules = self.engine.read().unwrap_or_else(|p| p.into_inner()).silences.clone();
        // Rules are never deleted, so without one there is no silence alert to raise or to close.
        if rules.is_empty() {
            return Ok(SilenceCheck::default());
        }
        let seen = self.ingest.seen();
        let devices = self.devices();
        let heard: Vec<(&Device, Timestamp)> = seen.iter().filter_map(|(id, s)| Some((devices.get(id)?, last_heard(s)?))).collect();
        let outages = rules.iter().flat_map(|rule| rule.silent(heard.iter().copied(), now)).collect();
        let raised = self.alerts.append(outages).map_err(AppError::internal)?;
        let closed = self
            .alerts
            .close_resolved(SILENCE_FAMILY, RESUMED_NOTE, now, |alert| {
                let spoke_since = |since: Timestamp| seen.get(&alert.device_id).and_then(last_heard).is_some_and(|heard| heard > since);
                alert.silence.as_ref().is_some_and(|silence| spoke_since(silence.last_heard_at))
            })
            .map_err(AppError::internal)?;
        Ok(SilenceCheck { raised, closed: closed.len() })
    }
}
