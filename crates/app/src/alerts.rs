//! The alert lifecycle as operators drive it: each step checked by the engine's rules (a plate hit
//! is confirmed only with a recorded visual check and a check against the source), logged for audit
//! with its note as a keyed hash, then stored and streamed.

use crate::{Action, Actor, App, AppError};
use glasshouse_engine::{Alert, TransitionRequest};
use glasshouse_model::image::{ImageRole, StoredImages};
use glasshouse_sinks::alert_log::AlertLogError;
use serde_json::json;

impl App {
    /// Moves an alert one step (acknowledge, confirm, dismiss or close).
    pub fn transition_alert(&self, actor: &Actor, id: &str, request: &TransitionRequest) -> Result<Alert, AppError> {
        self.alerts
            .transition(id, request, &actor.name, |alert, step| {
                let details = json!({
                    "alert_id": alert.id,
                    "rule": alert.rule,
                    "from": step.from.as_str(),
                    "to": step.to.as_str(),
                    "disposition": step.disposition,
                    "visual_check": step.visual_check,
                    "source_check": step.source_check,
                    "note": step.note.as_deref().map(|n| self.audit.keyed("text", n)),
                });
                self.record(actor, Action::AlertTransition, "ok", details).map(|_| ()).map_err(|e| e.message)
            })
            .map_err(|e| match e {
                AlertLogError::NotFound(id) => AppError::not_found(format!("no alert {id}")),
                AlertLogError::Refused(refusal) => AppError::conflict(refusal.to_string()).at(refusal.field),
                AlertLogError::Audit(_) => AppError::unavailable("the audit log cannot be written, so the step was not taken", 30),
                other => AppError::internal(other),
            })
    }
}

impl App {
    /// One of a plate hit's images (the plate or the vehicle crop), for the operator's visual check.
    /// Only images a hit names are served, so seeing an alert never opens other reads' images; each
    /// viewing is logged before the bytes are handed over.
    pub fn alert_image(&self, actor: &Actor, alert_id: &str, role: ImageRole) -> Result<Vec<u8>, AppError> {
        let alert =
            self.alerts.get(alert_id).map_err(AppError::internal)?.ok_or_else(|| AppError::not_found(format!("no alert {alert_id}")))?;
        let stored = alert.hit.as_ref().and_then(|hit| hit.image_ref.as_deref()).and_then(StoredImages::parse);
        let hash = stored
            .as_ref()
            .and_then(|images| images.get(role))
            .ok_or_else(|| AppError::not_found(format!("alert {alert_id} has no stored {} image", role.as_str())))?
            .to_owned();
        let bytes = self
            .ingest
            .images()
            .get(&hash)
            .map_err(AppError::internal)?
            .ok_or_else(|| AppError::not_found(format!("the {} image of alert {alert_id} is no longer kept", role.as_str())))?;
        let details = json!({ "alert_id": alert.id, "image": role.as_str(), "sha256": hash, "device_id": alert.device_id });
        self.record(actor, Action::AlertImageView, "ok", details)?;
        Ok(bytes)
    }
}
