//! The transparency report, computed from the live system for a period: what was collected, what
//! the rules raised, who searched and why, what the log holds. Every figure comes from the same
//! stores the system runs on, and the impact-and-use summary is read from the live configuration
//! (retention windows, holds, sharing, the search policy), so the published report cannot drift
//! from what the system does.

mod html;
mod svg;

pub use html::{render_html, style_hash};

use crate::{Action, App, AppError};
use glasshouse_audit::AuditEntry;
use glasshouse_audit::changes::ChangeStatus;
use glasshouse_audit::exigency::ReviewStatus;
use glasshouse_audit::holds::HoldStatus;
use glasshouse_engine::{AlertStatus, Engine, GeofenceRule, MatchPolicy};
use glasshouse_model::{Kind, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Figures for one period.
#[derive(Debug, Serialize)]
pub struct TransparencyReport {
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// When the report was computed.
    pub generated_at: Timestamp,
    /// Observations in the period by kind.
    pub observations_by_kind: BTreeMap<String, u64>,
    /// Observations per UTC day (all kinds).
    pub observations_by_day: BTreeMap<String, u64>,
    /// Plate reads in the period.
    pub plates_read: u64,
    /// Hotlists now in force.
    pub hotlists: Vec<HotlistFigures>,
    /// Alerts whose observation falls in the period, by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Alerts by lifecycle status.
    pub alerts_by_status: BTreeMap<String, u64>,
    /// Alerts (in the period) an operator confirmed, at any point of their history.
    pub alerts_confirmed: u64,
    /// Alerts an operator dismissed.
    pub alerts_dismissed: u64,
    /// Alerts still new or acknowledged: awaiting a decision.
    pub alerts_awaiting: u64,
    /// Plate hits per 1,000 plate reads.
    pub hits_per_thousand_reads: f64,
    /// Observation searches by purpose (run or refused).
    pub searches_by_purpose: BTreeMap<String, u64>,
    /// Searches by the searcher's role.
    pub searches_by_role: BTreeMap<String, u64>,
    /// Searches by outcome: `ok` or `refused`.
    pub searches_by_outcome: BTreeMap<String, u64>,
    /// Searches by kind (`observations`, `plates`, `area`, `incident_context`).
    pub searches_by_kind: BTreeMap<String, u64>,
    /// Searches that ran, by what allowed them: `warrant`, `exigency`, `approval`, or `none needed`
    /// for a search inside the policy's area and span.
    pub searches_by_authority: BTreeMap<String, u64>,
    /// Searches refused at the gate, by the request field at fault (`justification`,
    /// `warrant_reference`, `approval`, ...).
    pub refusals_by_field: BTreeMap<String, u64>,
    /// How many cases the searches that ran named.
    pub cases_searched: u64,
    /// The cases with the most searches that ran, most first (at most [`TOP_CASES`]).
    pub searches_by_case_top: Vec<(String, u64)>,
    /// Cases open now (opened by a supervisor and not closed).
    pub cases_open: u64,
    /// Warrants registered in the period, and the state of every warrant now.
    pub warrants: WarrantFigures,
    /// Exigency claims opened in the period and their reviews.
    pub exigency_reviews: ReviewFigures,
    /// Holds approved during the period.
    pub holds_opened: u64,
    /// Holds that lapsed at their expiry during the period.
    pub holds_expired: u64,
    /// Holds released early during the period.
    pub holds_released: u64,
    /// Holds in force when the report was computed.
    pub holds_in_force: u64,
    /// Retention purges during the period, each as its receipt.
    pub purges: Vec<serde_json::Value>,
    /// Every privileged action in the log during the period, by action.
    pub actions: BTreeMap<String, u64>,
    /// Accounts with access, by role; "(TOTP)" marks those that sign in with a second factor.
    pub access: BTreeMap<String, Vec<String>>,
    /// The newest signed checkpoint and its key.
    pub checkpoint: CheckpointFigures,
    /// What the deployment can do and keeps, read from its live configuration.
    pub impact_and_use: Vec<(String, String)>,
}

/// One hotlist's figures.
#[derive(Debug, Serialize)]
pub struct HotlistFigures {
    /// Name.
    pub name: String,
    /// NCIC, state or local.
    pub source: String,
    /// Matching policy.
    pub match_policy: String,
    /// Entries.
    pub entries: usize,
}

/// How many cases the report lists by their number of searches.
pub const TOP_CASES: usize = 10;

/// Registered warrants.
#[derive(Debug, Default, Serialize)]
pub struct WarrantFigures {
    /// Registered during the period.
    pub registered: u64,
    /// In force when the report was computed.
    pub in_force: u64,
    /// Past their term when the report was computed.
    pub expired: u64,
    /// Revoked (at any time).
    pub revoked: u64,
}

/// Exigency claims and their reviews.
#[derive(Debug, Default, Serialize)]
pub struct ReviewFigures {
    /// Reviews opened during the period (one per claim).
    pub opened: u64,
    /// Of those, upheld by a supervisor.
    pub upheld: u64,
    /// Of those, not upheld.
    pub not_upheld: u64,
    /// Reviews open now, at any age (including overdue ones).
    pub open_now: u64,
    /// Reviews open now past their due time.
    pub overdue_now: u64,
}

/// The checkpoint the report was computed against.
#[derive(Debug, Serialize)]
pub struct CheckpointFigures {
    /// Entries covered.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// The key to verify it with.
    pub verifier_key: String,
    /// The newest checkpoint independent witnesses cosigned, with their cosignatures.
    pub cosigned: Option<glasshouse_audit::witnessing::Cosigned>,
    /// Each configured witness: the size it last cosigned, when, and why it last refused.
    pub witnesses: Vec<glasshouse_audit::witnessing::WitnessStatus>,
}

/// Who has access: each account with its role, and whether it signs in with a second factor. The
/// interface that owns the accounts (the server's token file) supplies it.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `(account, role, second factor)` for every account with a live token.
    pub accounts: Vec<(String, String, bool)>,
}

fn day(t: Timestamp) -> String {
    t.to_rfc3339()[..10].to_owned()
}

/// What was collected in the period.
struct Collected {
    by_kind: BTreeMap<String, u64>,
    by_day: BTreeMap<String, u64>,
    plates_read: u64,
}

/// What the rules raised in the period and what operators decided.
#[derive(Default)]
struct AlertFigures {
    by_rule: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
    plate_hits: u64,
    confirmed: u64,
    dismissed: u64,
    awaiting: u64,
}

/// What the audit log holds for the period.
#[derive(Default)]
struct LogFigures {
    actions: BTreeMap<String, u64>,
    by_purpose: BTreeMap<String, u64>,
    by_role: BTreeMap<String, u64>,
    by_outcome: BTreeMap<String, u64>,
    by_search_kind: BTreeMap<String, u64>,
    by_authority: BTreeMap<String, u64>,
    by_case: BTreeMap<String, u64>,
    refusals_by_field: BTreeMap<String, u64>,
    holds_opened: u64,
    holds_released: u64,
    purges: Vec<serde_json::Value>,
}

impl LogFigures {
    /// Counts one stored entry if it was logged in `[from, to)`.
    fn count(&mut self, bytes: &[u8], from: Timestamp, to: Timestamp) {
        let Ok(entry) = serde_json::from_slice::<AuditEntry>(bytes) else { return };
        if entry.at < from || entry.at >= to {
            return;
        }

        *self.actions.entry(entry.action.clone()).or_insert(0) += 1;
        let action = Action::parse(&entry.action);
        match action {
            Some(Action::HoldApprove) => self.holds_opened += 1,
            Some(Action::HoldRelease) => self.holds_released += 1,
            Some(Action::RetentionPurge) => self.purges.push(serde_json::json!({ "at": entry.at, "receipt": entry.details })),
            _ => {}
        }
        // Exports are searches whose results leave the system as files: counted with searches, by kind.
        if let Some(search) = action.and_then(Action::search_kind) {
            let kind = if search.export { format!("{} (export)", search.kind) } else { search.kind.to_owned() };
            *self.by_search_kind.entry(kind).or_insert(0) += 1;
            let purpose = entry.details["purpose"].as_str().filter(|p| !p.is_empty()).unwrap_or("(none given)").to_owned();
            *self.by_purpose.entry(purpose).or_insert(0) += 1;
            *self.by_role.entry(entry.role.clone()).or_insert(0) += 1;
            *self.by_outcome.entry(entry.outcome.clone()).or_insert(0) += 1;
            if entry.outcome == "refused" {
                let field = entry.details["field"].as_str().unwrap_or("(unnamed)").to_owned();
                *self.refusals_by_field.entry(field).or_insert(0) += 1;
            } else {
                let authority = &entry.details["authority"];
                let name = ["warrant", "exigency", "approval"].into_iter().find(|k| !authority[k].is_null()).unwrap_or("none needed");
                *self.by_authority.entry(name.to_owned()).or_insert(0) += 1;
                if let Some(case) = entry.details["case_number"].as_str() {
                    *self.by_case.entry(case.to_owned()).or_insert(0) += 1;
                }
            }
        }
    }
}

impl App {
    /// Computes the report for `[from, to)` at `now`.
    pub fn transparency_report(
        &self,
        access: &Access,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<TransparencyReport, AppError> {
        let collected = self.collected(from, to)?;
        let engine = self.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
        let alerts = self.alert_figures(from, to)?;
        let log = self.log_figures(from, to)?;
        let holds = self.holds.list();
        let holds_expired = holds
            .iter()
            .filter(|h| h.status == HoldStatus::Approved && h.expires_at >= from && h.expires_at < to && h.expires_at <= now)
            .count() as u64;
        let holds_in_force = holds.iter().filter(|h| h.in_force(now)).count() as u64;
        let (access_by_role, with_second_factor) = access_by_role(access);
        let (size, note) = self.audit.checkpoint();
        let impact_and_use = self.impact_and_use(&engine, holds_in_force, &access_by_role, with_second_factor, size);
        let plates_read = collected.plates_read;
        Ok(TransparencyReport {
            from,
            to,
            generated_at: now,
            observations_by_kind: collected.by_kind,
            observations_by_day: collected.by_day,
            plates_read,
            hotlists: hotlist_figures(&engine),
            alerts_by_rule: alerts.by_rule,
            alerts_by_status: alerts.by_status,
            alerts_confirmed: alerts.confirmed,
            alerts_dismissed: alerts.dismissed,
            alerts_awaiting: alerts.awaiting,
            hits_per_thousand_reads: if plates_read == 0 { 0.0 } else { alerts.plate_hits as f64 * 1000.0 / plates_read as f64 },
            searches_by_purpose: log.by_purpose,
            searches_by_role: log.by_role,
            searches_by_outcome: log.by_outcome,
            searches_by_kind: log.by_search_kind,
            searches_by_authority: log.by_authority,
            cases_searched: log.by_case.len() as u64,
            searches_by_case_top: top_cases(&log.by_case),
            cases_open: self.cases.list().iter().filter(|c| c.status == glasshouse_audit::cases::CaseStatus::Open).count() as u64,
            refusals_by_field: log.refusals_by_field,
            warrants: self.warrant_figures(from, to, now),
            exigency_reviews: self.review_figures(from, to, now),
            holds_opened: log.holds_opened,
            holds_expired,
            holds_released: log.holds_released,
            holds_in_force,
            purges: log.purges,
            actions: log.actions,
            access: access_by_role,
            checkpoint: CheckpointFigures {
                size,
                note,
                verifier_key: self.audit.verifier_key(),
                cosigned: self.witnessing.cosigned(),
                witnesses: self.witnessing.statuses(),
            },
            impact_and_use,
        })
    }

    fn warrant_figures(&self, from: Timestamp, to: Timestamp, now: Timestamp) -> WarrantFigures {
        let warrants = self.warrants.list();
        let count = |state: &str| warrants.iter().filter(|w| w.state(now) == state).count() as u64;
        WarrantFigures {
            registered: warrants.iter().filter(|w| w.registered_at >= from && w.registered_at < to).count() as u64,
            in_force: count("in_force"),
            expired: count("expired"),
            revoked: count("revoked"),
        }
    }

    fn review_figures(&self, from: Timestamp, to: Timestamp, now: Timestamp) -> ReviewFigures {
        let reviews = self.exigencies.list(None);
        let opened: Vec<_> = reviews.iter().filter(|r| r.opened_at >= from && r.opened_at < to).collect();
        let state_now = |state: &str| reviews.iter().filter(|r| r.state(now) == state).count() as u64;
        ReviewFigures {
            opened: opened.len() as u64,
            upheld: opened.iter().filter(|r| r.status == ReviewStatus::Upheld).count() as u64,
            not_upheld: opened.iter().filter(|r| r.status == ReviewStatus::NotUpheld).count() as u64,
            open_now: state_now("open") + state_now("overdue"),
            overdue_now: state_now("overdue"),
        }
    }

    fn collected(&self, from: Timestamp, to: Timestamp) -> Result<Collected, AppError> {
        let counts = self.store.count_by_day_and_kind(from, to)?;
        let (mut by_kind, mut by_day) = (BTreeMap::new(), BTreeMap::new());
        for ((d, kind), n) in &counts {
            *by_kind.entry(kind.as_str().to_owned()).or_insert(0) += n;
            *by_day.entry(day(*d)).or_insert(0) += n;
        }
        let plates_read = by_kind.get(Kind::PlateRead.as_str()).copied().unwrap_or(0);
        Ok(Collected { by_kind, by_day, plates_read })
    }

    fn alert_figures(&self, from: Timestamp, to: Timestamp) -> Result<AlertFigures, AppError> {
        let mut figures = AlertFigures::default();
        self.alerts
            .for_each(|alert| {
                if alert.observed_at < from || alert.observed_at >= to {
                    return;
                }
                *figures.by_rule.entry(alert.rule.clone()).or_insert(0) += 1;
                *figures.by_status.entry(alert.status.as_str().to_owned()).or_insert(0) += 1;
                if alert.hit.is_some() {
                    // Each sighting counts: the alert's own and the repeats folded into it.
                    figures.plate_hits += 1 + alert.repeats.len() as u64;
                }
                let reached = |status| alert.history.iter().any(|t| t.to == status);
                figures.confirmed += u64::from(reached(AlertStatus::Confirmed));
                figures.dismissed += u64::from(reached(AlertStatus::Dismissed));
                figures.awaiting += u64::from(matches!(alert.status, AlertStatus::New | AlertStatus::Acknowledged));
            })
            .map_err(AppError::internal)?;
        Ok(figures)
    }

    fn log_figures(&self, from: Timestamp, to: Timestamp) -> Result<LogFigures, AppError> {
        let mut figures = LogFigures::default();
        self.audit.for_each_entry(|bytes| figures.count(bytes, from, to)).map_err(AppError::internal)?;
        Ok(figures)
    }

    /// What the deployment can do and keeps, read from its live configuration.
    fn impact_and_use(
        &self,
        engine: &Engine,
        holds_in_force: u64,
        access: &BTreeMap<String, Vec<String>>,
        with_second_factor: usize,
        audit_size: u64,
    ) -> Vec<(String, String)> {
        let mut device_types: BTreeMap<&str, usize> = BTreeMap::new();
        let devices = self.devices();
        for d in devices.sorted() {
            *device_types.entry(d.device_type.as_str()).or_insert(0) += 1;
        }
        let retention = self.retention.current();
        let windows = Kind::ALL.iter().map(|k| format!("{} {} days", k.as_str().replace('_', " "), retention.days(*k))).collect::<Vec<_>>();
        vec![
            ("Devices".into(), device_types.iter().map(|(t, n)| format!("{n} {}", t.replace('_', " "))).collect::<Vec<_>>().join(", ")),
            ("Real-time rules".into(), real_time_rules(engine)),
            (
                "Not built, by design".into(),
                "facial recognition and any biometric identification; predictive policing; co-traveler or associate analysis; dossiers on named people".into(),
            ),
            (
                "Retention".into(),
                format!(
                    "enforced hourly, in whole days: {}; refused records (dead letters) {} days. Expired records stay only while a confirmed alert rests on them (for {} days from the alert; a dismissed or unworked alert keeps nothing) or a legal hold covers them; each purge leaves a receipt in the audit log",
                    windows.join(", "),
                    retention.class_days(glasshouse_store::DEAD_LETTERS),
                    retention.class_days(glasshouse_store::CONFIRMED_ALERT_EVIDENCE),
                ),
            ),
            (
                "Holds".into(),
                format!("{holds_in_force} in force; a hold names a case, an authority (court order, warrant or preservation request), plates or devices and a time range, expires within two years, and needs a second person's approval"),
            ),
            ("Sharing".into(), self.sharing_summary()),
            (
                "Searches".into(),
                format!(
                    "need a purpose from: {}; prohibited: {}; a case number; a justification of at least {} words. \
                     A search over more than {} km² or {} days needs a registered warrant whose case, scope and term it lies inside, \
                     a supervisor's approval, or a claim of exigency, which a supervisor other than the claimant reviews within a day",
                    self.policy.purposes.join(", "),
                    self.policy.prohibited.join(", "),
                    self.policy.justification_words_min,
                    self.policy.area_km2_max,
                    self.policy.span_days_max,
                ),
            ),
            (
                "Access".into(),
                format!(
                    "{}; {with_second_factor} of them sign in with a TOTP second factor",
                    access.iter().map(|(role, names)| format!("{} {role}", names.len())).collect::<Vec<_>>().join(", "),
                ),
            ),
            ("Audit".into(), format!("{audit_size} entries in the Merkle log; every checkpoint signed with {}; {}", self.audit.verifier_key(), self.witness_summary())),
        ]
    }

    /// Who outside the deployment cosigns the log, and how far.
    fn witness_summary(&self) -> String {
        let statuses = self.witnessing.statuses();
        if statuses.is_empty() {
            return "no independent witness cosigns its checkpoints, so the log rests on the operator's key alone".into();
        }
        let each: Vec<String> = statuses.iter().map(|w| format!("{} (up to entry {})", w.name, w.cosigned_size)).collect();
        format!("cosigned by {} independent witness(es): {}", statuses.len(), each.join(", "))
    }

    /// Where alerts leave the system, from the running sinks, and how that is changed.
    fn sharing_summary(&self) -> String {
        let changes = self.changes.list("sharing");
        let count = |status| changes.iter().filter(|c| c.status == status).count();
        let rule = format!(
            "changes need two people (one proposes with a reason, another approves): {} applied, {} waiting",
            count(ChangeStatus::Applied),
            count(ChangeStatus::Proposed)
        );
        let sinks = self.sharing.statuses(self.alerts.len());
        if sinks.is_empty() {
            return format!("none: no alert or record leaves this deployment automatically; {rule}");
        }
        let targets: Vec<String> = sinks
            .iter()
            .map(|(status, from_deployment)| {
                let origin = if *from_deployment { "deployment file" } else { "approved change" };
                format!("{} ({}, {origin}, {} delivered)", status.name, status.target, status.delivered)
            })
            .collect();
        format!("alerts (not the observations behind them) are delivered to: {}; {rule}", targets.join("; "))
    }
}

/// The cases with the most searches, most first, ties by number.
fn top_cases(by_case: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut cases: Vec<(String, u64)> = by_case.iter().map(|(c, n)| (c.clone(), *n)).collect();
    cases.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    cases.truncate(TOP_CASES);
    cases
}

fn hotlist_figures(engine: &Engine) -> Vec<HotlistFigures> {
    engine
        .hotlists
        .lists()
        .into_iter()
        .map(|(list, entries)| HotlistFigures {
            name: list.name.clone(),
            source: format!("{:?}", list.source).to_lowercase(),
            match_policy: serde_json::to_value(list.match_policy).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            entries,
        })
        .collect()
}

/// Accounts by role ("(TOTP)" marking those with a second factor), and how many have one.
fn access_by_role(access: &Access) -> (BTreeMap<String, Vec<String>>, usize) {
    let mut by_role: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut with_second_factor = BTreeSet::new();
    for (account, role, second_factor) in &access.accounts {
        let names = by_role.entry(role.clone()).or_default();
        let name = if *second_factor {
            with_second_factor.insert(account.clone());
            format!("{account} (TOTP)")
        } else {
            account.clone()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    (by_role, with_second_factor.len())
}

/// What runs on every observation, read from the engine the hot path runs, so the published summary
/// cannot drift from the rules in force.
fn real_time_rules(engine: &Engine) -> String {
    let lists = engine.hotlists.lists();
    let by_policy = |policy| lists.iter().filter(|(l, _)| l.match_policy == policy).count();
    let entries: usize = lists.iter().map(|l| l.1).sum();
    let thresholds = engine.thresholds.iter().filter(|r| r.enabled).count();
    let geofences: Vec<&GeofenceRule> = engine.geofences.rules().filter(|r| r.enabled).collect();
    let watching_hotlisted = geofences.iter().filter(|g| g.subjects.hotlisted).count();
    let situations: Vec<String> = engine
        .correlations
        .iter()
        .filter(|r| r.enabled)
        .map(|r| {
            let mut triggers = r.incident_types.clone();
            if r.gunshots {
                triggers.insert(0, "gunshots".into());
            }
            format!("{} ({})", r.name, triggers.join(", "))
        })
        .collect();
    format!(
        "plate hotlists: {} lists ({} exact, {} tolerant of OCR misreads), {entries} entries; {thresholds} sensor threshold rules; \
         {} geofences ({watching_hotlisted} of them following hotlisted vehicles); situations opened by: {}. \
         A plate hit is confirmed only after a visual check and a check against the source system",
        lists.len(),
        by_policy(MatchPolicy::Exact),
        by_policy(MatchPolicy::MisreadTolerant),
        geofences.len(),
        if situations.is_empty() { "nothing".to_owned() } else { situations.join("; ") },
    )
}
