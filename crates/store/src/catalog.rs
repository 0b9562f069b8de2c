//! The catalog: devices and hotlists as an append-only log of change events.

use glasshouse_engine::{CorrelationRule, Engine, GeofenceIndex, GeofenceRule, Hotlist, HotlistEntry, HotlistIndex, ThresholdRule};
use glasshouse_model::{Device, DeviceRegistry, Timestamp};
use glasshouse_wal::{FsyncPolicy, Wal, WalConfig, WalError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One configuration change, with who made it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CatalogEvent {
    /// A device was registered or changed.
    DeviceUpserted {
        /// The new registration.
        device: Device,
        /// The account that made the change.
        actor: String,
        /// When.
        at: Timestamp,
    },
    /// A hotlist was created.
    HotlistCreated {
        /// The list.
        hotlist: Hotlist,
    },
    /// A threshold rule was created.
    RuleCreated {
        /// The rule.
        rule: ThresholdRule,
        /// Who.
        actor: String,
    },
    /// A geofence was created.
    GeofenceCreated {
        /// The fence.
        rule: GeofenceRule,
        /// Who.
        actor: String,
    },
    /// A correlation (situation) rule was created.
    CorrelationCreated {
        /// The rule.
        rule: CorrelationRule,
        /// Who.
        actor: String,
    },
    /// A device silence rule was created.
    SilenceRuleCreated {
        /// The rule.
        rule: glasshouse_engine::SilenceRule,
        /// Who.
        actor: String,
    },
    /// A rule (threshold, geofence, correlation or silence) was enabled or disabled.
    RuleEnabled {
        /// The rule.
        rule_id: String,
        /// Its new state.
        enabled: bool,
        /// Who.
        actor: String,
    },
    /// Entries were added to (or renewed in) a hotlist.
    HotlistEntriesAdded {
        /// The list.
        hotlist_id: String,
        /// The entries, each naming who added it.
        entries: Vec<HotlistEntry>,
    },
}

/// Why the catalog failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A stored event no longer decodes.
    #[error("catalog record {lsn} does not decode: {reason}")]
    Decode {
        /// Its LSN.
        lsn: u64,
        /// The decode error.
        reason: String,
    },
}

/// The current configuration and the log it is rebuilt from.
pub struct Catalog {
    wal: Wal,
    /// Registered devices.
    pub devices: DeviceRegistry,
    /// Hotlists and their entries.
    pub hotlists: HotlistIndex,
    /// Threshold rules.
    pub thresholds: Vec<ThresholdRule>,
    /// Geofences, compiled once when created (their cell covers are not rebuilt per change).
    pub geofences: GeofenceIndex,
    /// What opens a situation: the built-in rule first, then those created.
    pub correlations: Vec<CorrelationRule>,
    /// Device silence rules (checked on a clock, not on the hot path).
    pub silences: Vec<glasshouse_engine::SilenceRule>,
    events: u64,
}

impl Catalog {
    /// Opens the catalog in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<Catalog, CatalogError> {
        let mut events = Vec::new();
        let mut failure = None;
        let config = WalConfig { fsync: FsyncPolicy::Always, ..WalConfig::new(dir) };
        let wal = Wal::open(config, 0, |lsn, payload| match serde_json::from_slice::<CatalogEvent>(payload) {
            Ok(event) => events.push(event),
            Err(e) => failure = failure.take().or(Some(CatalogError::Decode { lsn, reason: e.to_string() })),
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let mut catalog = Catalog {
            wal,
            devices: DeviceRegistry::new(),
            hotlists: HotlistIndex::default(),
            thresholds: Vec::new(),
            geofences: GeofenceIndex::default(),
            correlations: vec![CorrelationRule::default()],
            silences: Vec::new(),
            events: 0,
        };
        for event in events {
            catalog.apply(event);
        }
        Ok(catalog)
    }

    /// Makes an event durable, then applies it.
    pub fn record(&mut self, event: CatalogEvent) -> Result<(), CatalogError> {
        self.record_all(vec![event])
    }

    /// Makes several events durable with one commit (a bulk import), then applies them.
    pub fn record_all(&mut self, events: Vec<CatalogEvent>) -> Result<(), CatalogError> {
        for event in &events {
            self.wal.append(&serde_json::to_vec(event).expect("catalog events serialise"))?;
        }
        self.wal.commit()?;
        events.into_iter().for_each(|event| self.apply(event));
        Ok(())
    }

    /// The rules as the engine runs them (the geofence lookup is built here, once per change, so
    /// the hot path never builds it).
    pub fn engine(&self) -> Engine {
        self.geofences.prepare();
        Engine {
            hotlists: self.hotlists.clone(),
            thresholds: self.thresholds.clone(),
            geofences: self.geofences.clone(),
            correlations: self.correlations.clone(),
            silences: self.silences.clone(),
        }
    }

    /// Events recorded so far.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    fn apply(&mut self, event: CatalogEvent) {
        self.events += 1;
        match event {
            CatalogEvent::DeviceUpserted { device, .. } => {
                self.devices.upsert(device);
            }
            CatalogEvent::HotlistCreated { hotlist } => self.hotlists.upsert_list(hotlist),
            CatalogEvent::RuleCreated { mut rule, .. } => {
                // A zone that no longer parses (rules are checked when created) leaves the rule out.
                match rule.compile() {
                    Ok(()) => self.thresholds.push(rule),
                    Err(reason) => tracing::error!(rule = %rule.id, %reason, "stored threshold zone does not parse; skipped"),
                }
            }
            CatalogEvent::GeofenceCreated { rule, .. } => {
                let id = rule.id.clone();
                // Fences are checked when created; one that no longer parses is left out, not fatal.
                if let Err(reason) = self.geofences.upsert(rule) {
                    tracing::error!(geofence = %id, %reason, "stored geofence does not parse; skipped");
                }
            }
            CatalogEvent::CorrelationCreated { rule, .. } => self.correlations.push(rule),
            CatalogEvent::RuleEnabled { rule_id, enabled, .. } => {
                if let Some(rule) = self.thresholds.iter_mut().find(|r| r.id == rule_id) {
                    rule.enabled = enabled;
                }
                self.geofences.set_enabled(&rule_id, enabled);
                if let Some(rule) = self.correlations.iter_mut().find(|r| r.id == rule_id) {
                    rule.enabled = enabled;
                }
                if let Some(rule) = self.silences.iter_mut().find(|r| r.id == rule_id) {
                    rule.enabled = enabled;
                }
            }
            CatalogEvent::SilenceRuleCreated { rule, .. } => self.silences.push(rule),
            CatalogEvent::HotlistEntriesAdded { hotlist_id, entries } => {
                self.hotlists.add_entries(&hotlist_id, entries);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_engine::{HotlistSource, MatchPolicy};
    use glasshouse_model::DeviceType;

    #[test]
    fn events_replay_into_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let device = Device::fixed("lpr-1", DeviceType::PlateReader, 60.0, 25.0);
        catalog.record(CatalogEvent::DeviceUpserted { device: device.clone(), actor: "admin".into(), at: Timestamp(0) }).unwrap();
        let hotlist = Hotlist {
            id: "hl-1".into(),
            name: "stolen".into(),
            source: HotlistSource::Local,
            match_policy: MatchPolicy::Exact,
            priority: 1,
            substitutions_max: 0,
            length_tolerance: false,
            region_tolerant: false,
            owner: "admin".into(),
            created_at: Timestamp(0),
        };
        catalog.record(CatalogEvent::HotlistCreated { hotlist }).unwrap();
        let entry = HotlistEntry {
            plate: "ABC123".into(),
            region: None,
            reason: "stolen_vehicle".into(),
            expires_at: Timestamp::parse_rfc3339("2027-01-01T00:00:00Z").unwrap(),
            added_by: "admin".into(),
            added_at: Timestamp(0),
        };
        catalog.record(CatalogEvent::HotlistEntriesAdded { hotlist_id: "hl-1".into(), entries: vec![entry] }).unwrap();
        drop(catalog);
        let catalog = Catalog::open(dir.path()).unwrap();
        assert_eq!(catalog.devices.get("lpr-1"), Some(&device));
        assert_eq!(catalog.hotlists.entries("hl-1").len(), 1);
        assert_eq!(catalog.event_count(), 3);
    }
}
