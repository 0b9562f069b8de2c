//! Changes to what the system watches and with what: devices and rules (thresholds, geofences,
//! situations). Each change is audited first, then recorded in the catalog, then published to the
//! hot path as a new snapshot of the rules.

use crate::changes::new_id;
use crate::{Action, Actor, App, AppError};
use glasshouse_engine::{CorrelationRule, GeofenceRule, NewCorrelationRule, NewGeofenceRule, NewThresholdRule, RuleError, ThresholdRule};
use glasshouse_model::{Device, Timestamp};
use glasshouse_store::CatalogEvent;
use serde::Deserialize;
use serde_json::{Value, json};

/// A rule to create; `type` names the kind of rule.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NewRule {
    /// A sensor threshold with hysteresis.
    Threshold(NewThresholdRule),
    /// A geofence with enter/exit/inside/dwell triggers and hysteresis.
    Geofence(NewGeofenceRule),
    /// A correlation: what opens a situation, and the windows of its context.
    Situation(NewCorrelationRule),
    /// A device that reports and then goes quiet for longer than the rule allows.
    DeviceSilent(glasshouse_engine::NewSilenceRule),
}

impl App {
    /// Registers or changes a device (checked first). Returns whether it is new.
    pub fn upsert_device(&self, actor: &Actor, device: Device, now: Timestamp) -> Result<bool, AppError> {
        device.validate().map_err(|e| AppError::invalid(e.field, e.to_string()))?;
        let mut catalog = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let created = catalog.devices.get(&device.id).is_none();
        let details = json!({ "device_id": device.id, "type": device.device_type.as_str(), "mobile": device.mobile, "created": created });
        self.record(actor, Action::DeviceUpsert, "ok", details)?;
        catalog.record(CatalogEvent::DeviceUpserted { device, actor: actor.name.clone(), at: now }).map_err(AppError::internal)?;
        *self.devices.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(catalog.devices.clone());
        Ok(created)
    }

    /// Registers or changes many devices at once, all or none: each checked first, then one audit
    /// entry for the batch (counts, and the ids' digest rather than ten thousand ids), then one
    /// durable catalog commit. Returns how many were new and how many changed.
    pub fn import_devices(&self, actor: &Actor, devices: Vec<Device>, now: Timestamp) -> Result<(usize, usize), AppError> {
        let mut ids = std::collections::HashSet::new();
        for (index, device) in devices.iter().enumerate() {
            device.validate().map_err(|e| AppError::invalid(e.field, format!("device {}: {e}", index + 1)))?;
            if !ids.insert(device.id.as_str()) {
                return Err(AppError::invalid("id", format!("device {}: {:?} appears twice", index + 1, device.id)));
            }
        }
        let mut catalog = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let created = devices.iter().filter(|d| catalog.devices.get(&d.id).is_none()).count();
        let changed = devices.len() - created;
        let mut sorted: Vec<&str> = ids.into_iter().collect();
        sorted.sort_unstable();
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(sorted.join("\n").as_bytes()));
        let details = json!({ "devices": devices.len(), "created": created, "changed": changed, "ids_sha256": digest });
        self.record(actor, Action::DeviceImport, "ok", details)?;
        let events =
            devices.into_iter().map(|device| CatalogEvent::DeviceUpserted { device, actor: actor.name.clone(), at: now }).collect();
        catalog.record_all(events).map_err(AppError::internal)?;
        *self.devices.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(catalog.devices.clone());
        Ok((created, changed))
    }

    /// Creates a rule (checked first) and puts it in force. Returns it as the API shows rules.
    pub fn create_rule(&self, actor: &Actor, request: NewRule) -> Result<Value, AppError> {
        let bad = |e: RuleError| AppError::invalid(e.field, e.to_string());
        let (event, created) = match request {
            NewRule::Threshold(request) => {
                let rule = request.into_rule(new_id("th")).map_err(bad)?;
                (CatalogEvent::RuleCreated { rule: rule.clone(), actor: actor.name.clone() }, threshold_json(&rule))
            }
            NewRule::Geofence(request) => {
                let rule = request.into_rule(new_id("gf")).map_err(bad)?;
                (CatalogEvent::GeofenceCreated { rule: rule.clone(), actor: actor.name.clone() }, geofence_json(&rule))
            }
            NewRule::Situation(request) => {
                let rule = request.into_rule(new_id("sit")).map_err(bad)?;
                (CatalogEvent::CorrelationCreated { rule: rule.clone(), actor: actor.name.clone() }, correlation_json(&rule))
            }
            NewRule::DeviceSilent(request) => {
                let rule = request.into_rule(new_id("sil")).map_err(bad)?;
                (CatalogEvent::SilenceRuleCreated { rule: rule.clone(), actor: actor.name.clone() }, silence_json(&rule))
            }
        };
        let mut catalog = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        self.record(actor, Action::RuleCreate, "ok", json!({ "rule": created }))?;
        catalog.record(event).map_err(AppError::internal)?;
        self.publish_catalog(&catalog);
        Ok(created)
    }

    /// Switches a threshold, geofence or situation rule on or off. Returns it as the API shows rules.
    pub fn set_rule_enabled(&self, actor: &Actor, id: &str, enabled: bool) -> Result<Value, AppError> {
        let mut catalog = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let known = catalog.thresholds.iter().any(|r| r.id == id)
            || catalog.geofences.get(id).is_some()
            || catalog.correlations.iter().any(|r| r.id == id)
            || catalog.silences.iter().any(|r| r.id == id);
        if !known {
            return Err(AppError::not_found(format!("no rule {id}")));
        }
        let action = if enabled { Action::RuleEnable } else { Action::RuleDisable };
        self.record(actor, action, "ok", json!({ "rule_id": id }))?;
        catalog
            .record(CatalogEvent::RuleEnabled { rule_id: id.to_owned(), enabled, actor: actor.name.clone() })
            .map_err(AppError::internal)?;
        self.publish_catalog(&catalog);
        if let Some(rule) = catalog.thresholds.iter().find(|r| r.id == id) {
            return Ok(threshold_json(rule));
        }
        if let Some(rule) = catalog.correlations.iter().find(|r| r.id == id) {
            return Ok(correlation_json(rule));
        }
        if let Some(rule) = catalog.silences.iter().find(|r| r.id == id) {
            return Ok(silence_json(rule));
        }
        Ok(geofence_json(catalog.geofences.get(id).expect("checked above")))
    }
}

/// A threshold rule as the API shows it.
pub fn threshold_json(rule: &ThresholdRule) -> Value {
    typed(serde_json::to_value(rule).expect("rules serialise"), "threshold")
}

/// A situation rule as the API shows it.
pub fn correlation_json(rule: &CorrelationRule) -> Value {
    typed(serde_json::to_value(rule).expect("rules serialise"), "situation")
}

/// A device silence rule as the API shows it.
pub fn silence_json(rule: &glasshouse_engine::SilenceRule) -> Value {
    typed(serde_json::to_value(rule).expect("rules serialise"), "device_silent")
}

/// A geofence rule as the API shows it.
pub fn geofence_json(rule: &GeofenceRule) -> Value {
    typed(serde_json::to_value(rule).expect("rules serialise"), "geofence")
}

fn typed(mut value: Value, kind: &str) -> Value {
    value["type"] = json!(kind);
    value
}
