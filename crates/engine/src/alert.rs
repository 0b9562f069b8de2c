//! Alerts: what a rule raised, with the evidence an operator needs to judge it.

use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an alert is in its lifecycle. Only `new` is reachable until the lifecycle lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Raised, not yet looked at.
    New,
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
}

/// One alert. `id` is derived from the observation and the rule's match, so re-evaluating the same
/// observation (a WAL replay after a crash) yields the same id and is deduplicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic id.
    pub id: String,
    /// The rule that raised it: `hotlist`.
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
    let mut id = String::from("al-");
    for byte in &digest[..12] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}
