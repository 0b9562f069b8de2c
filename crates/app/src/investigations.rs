//! Investigations: every search of stored observations goes gate → audit → search → result entry.
//!
//! The gate checks the stated purpose (the policy's purposes, a case the system knows, and a
//! justification), then the authority a broad search needs (see [`crate::authority`]: a registered
//! warrant, a claim of exigency, or a supervisor's approval of this requester, case and scope),
//! then logs the search with its parameters. The log's answer, an [`Admitted`] query, is the only
//! thing the store will search with, so no search runs unlogged or under another action's entry.
//! Refusals are logged too, before the refusal goes back. After the search, a second entry records
//! how many results it returned.
//!
//! Situations (an open gunshot or incident alert) are real-time response, not investigation: an
//! operator sees their context without a purpose form while they are open and for a day, and each
//! view is logged the same way.

use crate::authority::Refusal;
use crate::{Action, Actor, App, AppError};
use glasshouse_audit::Admitted;
use glasshouse_audit::approvals::{Approval, ApprovalError, ApprovalStatus, Scope};
use glasshouse_audit::purpose::Extent;
use glasshouse_engine::{Alert, AlertStatus};
use glasshouse_model::geo::LatLon;
use glasshouse_model::{DeviceRegistry, DeviceType, Kind, Observation, Timestamp};
use glasshouse_store::{
    AreaQuery, ContextWindow, IncidentContext, IncidentContextQuery, KindContext, NeighbourhoodQuery, ObservationQuery, Page, PlateMatch,
    PlateMode, PlateQuery, PlateTally, QueryResult, Shape,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long after its trigger a situation stays open to operators.
pub const SITUATION_VIEW_SECS: i64 = 24 * 3600;

/// Most observations listed per kind around an incident or a situation.
pub const CONTEXT_PER_KIND_MAX: usize = 1_000;

/// The accountability fields of a search request.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PurposeFields {
    /// The purpose code (one of the policy's purposes).
    pub purpose: Option<String>,
    /// The case it serves.
    pub case_number: Option<String>,
    /// Why, in words an auditor can judge.
    pub justification: Option<String>,
    /// A warrant authorising a broad search.
    pub warrant_reference: Option<String>,
    /// An exigency claim authorising a broad search.
    pub exigency_reference: Option<String>,
    /// A supervisor's approval authorising a broad search.
    pub approval: Option<String>,
}

/// How wide a search reaches, for deciding whether it needs a warrant, exigency or approval.
#[derive(Debug, Clone, Copy)]
pub enum Breadth {
    /// An area × time search: broad when the area or the span exceeds the policy.
    Area(Extent),
    /// Following plates: broad when the span exceeds the policy, whatever the area.
    Plate {
        /// Days spanned; `None` when open.
        span_days: Option<f64>,
    },
    /// Bounded by construction (an incident's neighbourhood, with capped radius and window).
    Bounded,
}

/// What the search covers, for matching it against an approval's scope.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// Kinds searched; empty for all.
    pub kinds: Vec<Kind>,
    /// Start of the time range.
    pub from: Option<Timestamp>,
    /// End of the time range.
    pub to: Option<Timestamp>,
    /// The area's bounding box.
    pub bbox: Option<[f64; 4]>,
    /// For a plate search: the plate or pattern, and whether it is a wildcard pattern.
    pub plate: Option<(String, bool)>,
}

/// A search's answer and the position of its audit entry.
#[derive(Debug)]
pub struct Searched<T> {
    /// What the store found.
    pub result: T,
    /// The search's entry in the audit log.
    pub audit_seq: u64,
}

/// An open situation with its context.
#[derive(Debug)]
pub struct SituationView {
    /// The situation alert.
    pub alert: Alert,
    /// Its trigger's point.
    pub center: LatLon,
    /// Per kind, how far and how long around it.
    pub windows: Vec<ContextWindow>,
    /// Per kind, what was observed there.
    pub neighbourhood: Vec<KindContext>,
    /// The view's entry in the audit log.
    pub audit_seq: u64,
}

/// Days between two optional bounds; `None` when either is open.
pub fn span_days(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<f64> {
    Some((to?.0 - from?.0) as f64 / 86_400e6)
}

/// The area of a lon/lat box in km² (equirectangular; plenty for a policy threshold).
pub fn area_km2(b: [f64; 4]) -> f64 {
    let mid_lat = ((b[1] + b[3]) / 2.0).to_radians();
    let km_per_degree = 111.195;
    (b[2] - b[0]) * km_per_degree * mid_lat.cos() * (b[3] - b[1]) * km_per_degree
}

/// The windows as the API and the audit log show them: `{kind: {radius_m, window_minutes}}`.
pub fn windows_json(windows: &[ContextWindow]) -> Value {
    Value::Object(
        windows.iter().map(|w| (w.kind.as_str().to_owned(), json!({ "radius_m": w.radius_m, "window_minutes": w.minutes }))).collect(),
    )
}

/// Cameras of the registry whose field of view contains the point, nearest first. The camera
/// registry is not personal data, so this needs no purpose.
pub fn cameras_covering(registry: &DeviceRegistry, point: LatLon) -> Vec<Value> {
    let mut found: Vec<(f64, Value)> = registry
        .sorted()
        .into_iter()
        .filter(|d| d.device_type == DeviceType::Camera)
        .filter_map(|d| {
            let (sector, position) = (d.field_of_view()?, d.position()?);
            sector.contains(&point).then(|| {
                let distance = position.distance_m(&point);
                (
                    distance,
                    json!({ "device": d, "distance_m": distance.round(), "bearing_to_point_deg": position.bearing_deg(&point).round() }),
                )
            })
        })
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    found.into_iter().map(|(_, v)| v).collect()
}

/// The investigation use case.
pub struct Investigations<'a> {
    pub(crate) app: &'a App,
}

impl Investigations<'_> {
    /// Observations by kind, time and box, oldest first.
    pub fn observations(&self, actor: &Actor, fields: &PurposeFields, query: ObservationQuery) -> Result<Searched<QueryResult>, AppError> {
        let parameters = json!({
            "kinds": query.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "from": query.from,
            "to": query.to,
            "bbox": query.bbox,
            "limit": query.limit,
        });
        let breadth = Breadth::Area(Extent { area_km2: query.bbox.map(area_km2), span_days: span_days(query.from, query.to) });
        let coverage = Coverage { kinds: query.kinds.clone(), from: query.from, to: query.to, bbox: query.bbox, plate: None };
        let admitted = self.admit(actor, Action::SearchObservations, fields, breadth, coverage, parameters, query)?;
        let result = self.app.store.query(&admitted)?;
        self.close(actor, &admitted, result.observations.len(), result.truncated)?;
        Ok(Searched { result, audit_seq: admitted.receipt().seq() })
    }

    /// Where a plate (or a pattern, or a misread of it) was read; `export` when the results leave
    /// the system as a file (logged as an export).
    pub fn plates(
        &self,
        actor: &Actor,
        fields: &PurposeFields,
        query: PlateQuery,
        export: bool,
    ) -> Result<Searched<Page<(Observation, PlateMatch)>>, AppError> {
        let action = if export { Action::ExportPlates } else { Action::SearchPlates };
        let parameters = json!({
            // The plate goes into the log only as a keyed hash, so entries can be published.
            "plate": self.app.audit.keyed("plate", &query.plate),
            "mode": mode_name(&query.mode),
            "from": query.from,
            "to": query.to,
            "cursor": query.after.as_ref().map(|c| c.encode()),
            "limit": query.limit,
        });
        let (breadth, coverage) = plate_reach(&query);
        let admitted = self.admit(actor, action, fields, breadth, coverage, parameters, query)?;
        let page = self.app.store.search_plates(&admitted)?;
        self.close(actor, &admitted, page.items.len(), page.next.is_some())?;
        Ok(Searched { result: page, audit_seq: admitted.receipt().seq() })
    }

    /// How many reads match a plate query, and as which plates: logged as the plate search it is.
    pub fn plate_tally(&self, actor: &Actor, fields: &PurposeFields, query: PlateQuery) -> Result<Searched<PlateTally>, AppError> {
        let parameters = json!({
            "plate": self.app.audit.keyed("plate", &query.plate),
            "mode": mode_name(&query.mode),
            "from": query.from,
            "to": query.to,
            "limit": query.limit,
            "summary": true,
        });
        let (breadth, coverage) = plate_reach(&query);
        let admitted = self.admit(actor, Action::SearchPlates, fields, breadth, coverage, parameters, query)?;
        let tally = self.app.store.tally_plates(&admitted)?;
        self.close(actor, &admitted, tally.plates.len(), tally.plates.len() < tally.plates_matched)?;
        Ok(Searched { result: tally, audit_seq: admitted.receipt().seq() })
    }

    /// What was observed inside a circle or polygon in a time range.
    pub fn area(
        &self,
        actor: &Actor,
        fields: &PurposeFields,
        query: AreaQuery,
        export: bool,
    ) -> Result<Searched<Page<Observation>>, AppError> {
        let action = if export { Action::ExportArea } else { Action::SearchArea };
        let bbox = query.shape.bbox();
        let area_km2 = query.shape.area_km2();
        let parameters = json!({
            "shape": match &query.shape {
                Shape::Circle { center, radius_m } => json!({ "circle": [center.lat, center.lon, radius_m] }),
                Shape::Polygon(_) => json!({ "polygon_bbox": bbox }),
            },
            "area_km2": (area_km2 * 1000.0).round() / 1000.0,
            "kinds": query.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "from": query.from,
            "to": query.to,
            "cursor": query.after.as_ref().map(|c| c.encode()),
            "limit": query.limit,
        });
        let breadth = Breadth::Area(Extent { area_km2: Some(area_km2), span_days: span_days(Some(query.from), Some(query.to)) });
        let coverage = Coverage { kinds: query.kinds.clone(), from: Some(query.from), to: Some(query.to), bbox: Some(bbox), plate: None };
        let admitted = self.admit(actor, action, fields, breadth, coverage, parameters, query)?;
        let page = self.app.store.search_area(&admitted)?;
        self.close(actor, &admitted, page.items.len(), page.next.is_some())?;
        Ok(Searched { result: page, audit_seq: admitted.receipt().seq() })
    }

    /// A dispatch incident's reports and, per kind, what was observed within that kind's window of
    /// its first report. Bounded by construction, so it needs a purpose but no further authority.
    pub fn incident_context(
        &self,
        actor: &Actor,
        fields: &PurposeFields,
        incident_id: String,
        windows: Vec<ContextWindow>,
    ) -> Result<Searched<IncidentContext>, AppError> {
        let parameters = json!({
            "incident": self.app.audit.keyed("text", &incident_id),
            "windows": windows.iter().map(|w| json!({ "kind": w.kind.as_str(), "radius_m": w.radius_m, "window_minutes": w.minutes })).collect::<Vec<_>>(),
        });
        let coverage = Coverage { kinds: Kind::ALL.to_vec(), from: None, to: None, bbox: None, plate: None };
        let query = IncidentContextQuery { incident_id, windows, per_kind_max: CONTEXT_PER_KIND_MAX };
        let admitted = self.admit(actor, Action::SearchIncidentContext, fields, Breadth::Bounded, coverage, parameters, query)?;
        let Some(context) = self.app.store.incident_context(&admitted)? else {
            self.close(actor, &admitted, 0, false)?;
            return Err(AppError::not_found(format!("no incident {}", admitted.query().incident_id)));
        };
        let total = context.neighbourhood.iter().map(|k| k.observations.len()).sum();
        self.close(actor, &admitted, total, context.neighbourhood.iter().any(|k| k.truncated))?;
        Ok(Searched { result: context, audit_seq: admitted.receipt().seq() })
    }

    /// An open situation's context, for an operator: refused once the situation is closed or more
    /// than [`SITUATION_VIEW_SECS`] old, when its context is history and needs a purpose.
    pub fn situation(&self, actor: &Actor, id: &str, now: Timestamp) -> Result<SituationView, AppError> {
        let alert = self
            .app
            .alerts
            .get(id)
            .map_err(AppError::internal)?
            .filter(|a| a.rule == "situation")
            .ok_or_else(|| AppError::not_found(format!("no situation {id}")))?;
        if alert.status == AlertStatus::Closed || now.0 - alert.observed_at.0 > SITUATION_VIEW_SECS * 1_000_000 {
            return Err(AppError::forbidden(
                "this situation is closed or more than a day old: its context is history now; search it as an incident context, with a purpose",
            ));
        }
        let situation = alert.situation.as_ref().ok_or_else(|| AppError::internal("a situation alert without its trigger"))?;
        // The windows the rule had when it opened the situation (older situations: the defaults).
        let windows = if situation.windows.is_empty() {
            ContextWindow::defaults(None, None)
        } else {
            situation
                .windows
                .iter()
                .filter_map(|w| Some(ContextWindow { kind: Kind::parse(&w.kind)?, radius_m: w.radius_m, minutes: w.minutes }))
                .collect()
        };
        let center = LatLon::new(alert.lat, alert.lon);
        let query = NeighbourhoodQuery {
            center,
            at: alert.observed_at,
            windows: windows.clone(),
            exclude: vec![alert.observation_id.clone()],
            per_kind_max: CONTEXT_PER_KIND_MAX,
        };
        let details = json!({ "situation": alert.id, "windows": windows_json(&windows) });
        let admitted =
            self.app.audit.admit(crate::event(actor, Action::SituationView, "ok", details), query).map_err(AppError::audit_unavailable)?;
        let neighbourhood = self.app.store.neighbourhood(&admitted)?;
        let total: usize = neighbourhood.iter().map(|k| k.observations.len()).sum();
        let seq = admitted.receipt().seq();
        self.app.record(actor, Action::SituationViewResult, "ok", json!({ "view_seq": seq, "results": total }))?;
        Ok(SituationView { alert, center, windows, neighbourhood, audit_seq: seq })
    }

    /// Checks purpose and authority, then durably logs the search. Refusals are logged with the
    /// field and the reason before they go back.
    #[allow(clippy::too_many_arguments)]
    fn admit<Q>(
        &self,
        actor: &Actor,
        action: Action,
        fields: &PurposeFields,
        breadth: Breadth,
        coverage: Coverage,
        parameters: Value,
        query: Q,
    ) -> Result<Admitted<Q>, AppError> {
        let app = self.app;
        let refused = |field: &str, reason: String, purpose: Value, error: AppError| -> AppError {
            let details = json!({
                "purpose": purpose,
                "case_number": fields.case_number,
                "field": field,
                "reason": reason,
                "parameters": parameters,
            });
            match app.record(actor, action, "refused", details) {
                Ok(_) => error,
                Err(unlogged) => unlogged,
            }
        };
        let purpose = match app.policy.check(fields.purpose.as_deref(), fields.case_number.as_deref(), fields.justification.as_deref()) {
            Ok(purpose) => purpose,
            Err(refusal) => {
                let reason = refusal.to_string();
                let error = if refusal.prohibited { AppError::forbidden(&reason) } else { AppError::malformed(&reason) };
                return Err(refused(refusal.field, reason, json!(fields.purpose), error.at(refusal.field)));
            }
        };
        let case_source = match self.known_case(&purpose.case_number) {
            Ok(source) => source,
            Err(Ok(reason)) => {
                return Err(refused("case_number", reason.clone(), json!(purpose.code), AppError::malformed(reason).at("case_number")));
            }
            Err(Err(error)) => return Err(error),
        };
        let granted = match self.authority(actor, &purpose, fields, breadth, &coverage, Timestamp::now()) {
            Ok(granted) => granted,
            Err(Refusal::Refused { field, reason }) => {
                return Err(refused(field, reason.clone(), json!(purpose.code), AppError::forbidden(reason).at(field)));
            }
            Err(Refusal::Failed(error)) => return Err(error),
        };
        let details = json!({
            "purpose": purpose.code,
            "case_number": purpose.case_number,
            "case_source": case_source.as_str(),
            "justification": app.audit.keyed("text", &purpose.justification),
            "authority": granted.details,
            "parameters": parameters,
        });
        let admitted = app.audit.admit(crate::event(actor, action, "ok", details), query).map_err(AppError::audit_unavailable)?;
        if let Some(review) = &granted.review {
            self.attach_to_review(review, admitted.receipt().seq())?;
        }
        Ok(admitted)
    }

    /// Logs how many results a search returned, after it ran.
    fn close<Q>(&self, actor: &Actor, admitted: &Admitted<Q>, results: usize, more: bool) -> Result<(), AppError> {
        let action = admitted.action().result().expect("an admitted action is a search, which has a result entry");
        let counts = json!({ "search_seq": admitted.receipt().seq(), "results": results, "truncated": more });
        self.app.record(actor, action, "ok", counts).map(|_| ())
    }
}

/// A plate search's reach: broad when its span is, whatever the area.
fn plate_reach(query: &PlateQuery) -> (Breadth, Coverage) {
    let breadth = Breadth::Plate { span_days: span_days(query.from, query.to) };
    let wildcard = matches!(query.mode, PlateMode::Wildcard);
    let coverage =
        Coverage { kinds: vec![Kind::PlateRead], from: query.from, to: query.to, bbox: None, plate: Some((query.plate.clone(), wildcard)) };
    (breadth, coverage)
}

/// The mode's name as requests and the audit log spell it.
fn mode_name(mode: &PlateMode) -> &'static str {
    match mode {
        PlateMode::Exact => "exact",
        PlateMode::Wildcard => "wildcard",
        PlateMode::MisreadTolerant { .. } => "tolerant",
    }
}

/// Supervisor approvals for broad searches: an investigator asks, with a stated purpose and a
/// scope; a supervisor other than the requester decides; both steps are logged first.
impl Investigations<'_> {
    /// Files a request for approval, its purpose checked as a search's is.
    pub fn request_approval(&self, actor: &Actor, fields: &PurposeFields, scope: Scope, now: Timestamp) -> Result<Approval, AppError> {
        let purpose =
            self.app.policy.check(fields.purpose.as_deref(), fields.case_number.as_deref(), fields.justification.as_deref()).map_err(
                |e| {
                    let error = if e.prohibited { AppError::forbidden(e.to_string()) } else { AppError::malformed(e.to_string()) };
                    error.at(e.field)
                },
            )?;
        self.known_case(&purpose.case_number).map_err(|refusal| match refusal {
            Ok(reason) => AppError::malformed(reason).at("case_number"),
            Err(error) => error,
        })?;
        let approval = Approval {
            id: crate::changes::new_id("ap"),
            requester: actor.name.clone(),
            requested_at: now,
            purpose: purpose.code,
            case_number: purpose.case_number,
            justification: purpose.justification,
            scope,
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at: None,
            decision_note: None,
            expires_at: None,
        };
        self.app.approvals.request(approval, |a| self.record_approval(actor, Action::ApprovalRequest, a)).map_err(approval_error)
    }

    /// A supervisor other than the requester approves (for 24 hours) or denies a request.
    pub fn decide_approval(&self, actor: &Actor, id: &str, approve: bool, note: Option<String>) -> Result<Approval, AppError> {
        if note.as_deref().is_some_and(|n| n.chars().count() > APPROVAL_NOTE_CHARS_MAX) {
            return Err(AppError::invalid("note", format!("longer than {APPROVAL_NOTE_CHARS_MAX} characters")));
        }
        let action = if approve { Action::ApprovalApprove } else { Action::ApprovalDeny };
        self.app.approvals.decide(id, &actor.name, approve, note, |a| self.record_approval(actor, action, a)).map_err(approval_error)
    }

    /// Logs an approval's step: its justification and note only as keyed hashes.
    fn record_approval(&self, actor: &Actor, action: Action, approval: &Approval) -> Result<(), String> {
        let audit = &self.app.audit;
        let details = json!({
            "approval_id": approval.id,
            "requester": approval.requester,
            "purpose": approval.purpose,
            "case_number": approval.case_number,
            "justification": audit.keyed("text", &approval.justification),
            "scope": approval.scope,
            "status": approval.status,
            "note": approval.decision_note.as_deref().map(|n| audit.keyed("text", n)),
        });
        self.app.record(actor, action, "ok", details).map(|_| ()).map_err(|e| e.message)
    }
}

/// Longest note a supervisor may give with a decision.
const APPROVAL_NOTE_CHARS_MAX: usize = 1_000;

/// The answer to an approval step the book refused.
fn approval_error(e: ApprovalError) -> AppError {
    match e {
        ApprovalError::NotFound(_) => AppError::not_found(e.to_string()),
        ApprovalError::AlreadyDecided(_) => AppError::conflict(e.to_string()),
        ApprovalError::OwnRequest => AppError::forbidden(e.to_string()),
        ApprovalError::BadScope(_) => AppError::invalid("scope", e.to_string()),
        ApprovalError::Audit(_) => AppError::unavailable("the audit log cannot be written, so nothing was done", 30),
        other => AppError::internal(other),
    }
}
