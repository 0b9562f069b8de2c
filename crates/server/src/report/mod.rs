//! The transparency report, computed from the live system for a period: what was collected, what
//! the rules raised, who searched and why, what the log holds. Every figure comes from the same
//! stores the system runs on, and the impact-and-use summary is read from the live configuration
//! (retention windows, holds, sharing, the search policy), so the published report cannot drift
//! from what the system does.

pub mod svg;

use crate::state::AppState;
use glasshouse_audit::{Action, AuditEntry};
use glasshouse_model::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use svg::{bar_chart, escape};

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

/// The checkpoint the report was computed against.
#[derive(Debug, Serialize)]
pub struct CheckpointFigures {
    /// Entries covered.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// The key to verify it with.
    pub verifier_key: String,
}

fn day(t: Timestamp) -> String {
    t.to_rfc3339()[..10].to_owned()
}

/// Computes the report for `[from, to)`.
pub fn build(state: &AppState, from: Timestamp, to: Timestamp) -> Result<TransparencyReport, String> {
    let counts = state.store.count_by_day_and_kind(from, to).map_err(|e| e.to_string())?;
    let mut by_kind = BTreeMap::new();
    let mut by_day = BTreeMap::new();
    for ((d, kind), n) in &counts {
        *by_kind.entry(kind.as_str().to_owned()).or_insert(0) += n;
        *by_day.entry(day(*d)).or_insert(0) += n;
    }
    let plates_read = by_kind.get("plate_read").copied().unwrap_or(0);
    let engine = state.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
    let hotlists = engine
        .hotlists
        .lists()
        .into_iter()
        .map(|(list, entries)| HotlistFigures {
            name: list.name.clone(),
            source: format!("{:?}", list.source).to_lowercase(),
            match_policy: format!("{:?}", list.match_policy).to_lowercase(),
            entries,
        })
        .collect();
    let (mut alerts_by_rule, mut alerts_by_status) = (BTreeMap::new(), BTreeMap::new());
    let mut plate_hits = 0u64;
    let (mut confirmed, mut dismissed, mut awaiting) = (0u64, 0u64, 0u64);
    for alert in state.alerts.recent(usize::MAX) {
        if alert.observed_at < from || alert.observed_at >= to {
            continue;
        }
        *alerts_by_rule.entry(alert.rule.clone()).or_insert(0) += 1;
        *alerts_by_status.entry(alert.status.as_str().to_owned()).or_insert(0) += 1;
        if alert.hit.is_some() {
            // Each sighting counts: the alert's own and the repeats folded into it.
            plate_hits += 1 + alert.repeats.len() as u64;
        }
        let reached = |status| alert.history.iter().any(|t| t.to == status);
        confirmed += u64::from(reached(glasshouse_engine::AlertStatus::Confirmed));
        dismissed += u64::from(reached(glasshouse_engine::AlertStatus::Dismissed));
        awaiting += u64::from(matches!(alert.status, glasshouse_engine::AlertStatus::New | glasshouse_engine::AlertStatus::Acknowledged));
    }
    let (mut by_purpose, mut by_role, mut by_outcome, mut actions) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut by_search_kind = BTreeMap::new();
    let (mut holds_opened, mut holds_released) = (0u64, 0u64);
    let mut purges = Vec::new();
    for bytes in state.audit.entries(0, usize::MAX) {
        let Ok(entry) = serde_json::from_slice::<AuditEntry>(&bytes) else { continue };
        if entry.at < from || entry.at >= to {
            continue;
        }
        *actions.entry(entry.action.clone()).or_insert(0) += 1;
        let action = Action::parse(&entry.action);
        match action {
            Some(Action::HoldApprove) => holds_opened += 1,
            Some(Action::HoldRelease) => holds_released += 1,
            Some(Action::RetentionPurge) => purges.push(serde_json::json!({ "at": entry.at, "receipt": entry.details })),
            _ => {}
        }
        // Exports are searches whose results leave the system as files: counted with searches, by kind.
        if let Some(search) = action.and_then(Action::search_kind) {
            let kind = if search.export { format!("{} (export)", search.kind) } else { search.kind.to_owned() };
            *by_search_kind.entry(kind).or_insert(0) += 1;
            let purpose = entry.details["purpose"].as_str().filter(|p| !p.is_empty()).unwrap_or("(none given)").to_owned();
            *by_purpose.entry(purpose).or_insert(0) += 1;
            *by_role.entry(entry.role.clone()).or_insert(0) += 1;
            *by_outcome.entry(entry.outcome.clone()).or_insert(0) += 1;
        }
    }
    let now = Timestamp::now();
    let holds = state.holds.list();
    let holds_expired = holds
        .iter()
        .filter(|h| {
            h.status == glasshouse_audit::holds::HoldStatus::Approved && h.expires_at >= from && h.expires_at < to && h.expires_at <= now
        })
        .count() as u64;
    let holds_in_force = holds.iter().filter(|h| h.in_force(now)).count() as u64;
    let mut access: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let enrolled = state.second_factor.enrolled_accounts();
    let mut with_second_factor = std::collections::BTreeSet::new();
    for (account, _) in state.tokens.accounts().map_err(|e| e.to_string())? {
        let names = access.entry(account.role.as_str().to_owned()).or_default();
        let name = if enrolled.contains(&account.name) {
            with_second_factor.insert(account.name.clone());
            format!("{} (TOTP)", account.name)
        } else {
            account.name
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let (size, note) = state.audit.checkpoint();
    let devices = state.devices();
    let mut device_types: BTreeMap<&str, usize> = BTreeMap::new();
    for d in devices.sorted() {
        *device_types.entry(d.device_type.as_str()).or_insert(0) += 1;
    }
    let retention = state.retention.current();
    let impact_and_use = vec![
        ("Devices".into(), device_types.iter().map(|(t, n)| format!("{n} {}", t.replace('_', " "))).collect::<Vec<_>>().join(", ")),
        ("Real-time rules".into(), real_time_rules(&engine)),
        (
            "Not built, by design".into(),
            "facial recognition and any biometric identification; predictive policing; co-traveler or associate analysis; dossiers on named people".into(),
        ),
        (
            "Retention".into(),
            format!(
                "enforced hourly, in whole days: {}. Expired records stay only while an alert rests on them or a legal hold covers them; each purge leaves a receipt in the audit log",
                glasshouse_model::Kind::ALL.iter().map(|k| format!("{} {} days", k.as_str().replace('_', " "), retention.days(*k))).collect::<Vec<_>>().join(", ")
            ),
        ),
        (
            "Holds".into(),
            format!("{holds_in_force} in force; a hold names a case, an authority (court order, warrant or preservation request), plates or devices and a time range, expires within two years, and needs a second person's approval"),
        ),
        ("Sharing".into(), sharing(state)),
        (
            "Searches".into(),
            format!(
                "need a purpose from: {}; prohibited: {}; a case number; a justification of at least {} words",
                state.policy.purposes.join(", "),
                state.policy.prohibited.join(", "),
                state.policy.justification_words_min
            ),
        ),
        (
            "Access".into(),
            format!(
                "{}; {} of them sign in with a TOTP second factor",
                access.iter().map(|(role, names)| format!("{} {role}", names.len())).collect::<Vec<_>>().join(", "),
                with_second_factor.len()
            ),
        ),
        ("Audit".into(), format!("{size} entries in the Merkle log; every checkpoint signed with {}", state.audit.verifier_key())),
    ];
    Ok(TransparencyReport {
        from,
        to,
        generated_at: Timestamp::now(),
        observations_by_kind: by_kind,
        observations_by_day: by_day,
        plates_read,
        hotlists,
        alerts_by_rule,
        alerts_by_status,
        alerts_confirmed: confirmed,
        alerts_dismissed: dismissed,
        alerts_awaiting: awaiting,
        hits_per_thousand_reads: if plates_read == 0 { 0.0 } else { plate_hits as f64 * 1000.0 / plates_read as f64 },
        searches_by_purpose: by_purpose,
        searches_by_role: by_role,
        searches_by_outcome: by_outcome,
        searches_by_kind: by_search_kind,
        holds_opened,
        holds_expired,
        holds_released,
        holds_in_force,
        purges,
        actions,
        access,
        checkpoint: CheckpointFigures { size, note, verifier_key: state.audit.verifier_key() },
        impact_and_use,
    })
}

fn bars(map: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    map.iter().map(|(k, v)| (k.replace('_', " "), *v)).collect()
}

fn table(rows: &[(String, String)]) -> String {
    let mut html = String::from("<table>");
    for (k, v) in rows {
        html.push_str(&format!("<tr><th scope=\"row\">{}</th><td>{}</td></tr>", escape(k), escape(v)));
    }
    html.push_str("</table>");
    html
}

/// The report as one self-contained HTML page (inline CSS and SVG; no script, no network).
pub fn render_html(r: &TransparencyReport) -> String {
    let total: u64 = r.observations_by_kind.values().sum();
    let searches: u64 = r.searches_by_outcome.values().sum();
    let summary = vec![
        ("Observations".to_string(), total.to_string()),
        ("Plates read".into(), r.plates_read.to_string()),
        ("Hotlist hits per 1,000 reads".into(), format!("{:.2}", r.hits_per_thousand_reads)),
        ("Alerts".into(), r.alerts_by_rule.values().sum::<u64>().to_string()),
        (
            "Alerts confirmed / dismissed / awaiting a decision".into(),
            format!("{} / {} / {}", r.alerts_confirmed, r.alerts_dismissed, r.alerts_awaiting),
        ),
        (
            "Searches (run / refused)".into(),
            format!(
                "{} ({} / {})",
                searches,
                r.searches_by_outcome.get("ok").unwrap_or(&0),
                r.searches_by_outcome.get("refused").unwrap_or(&0)
            ),
        ),
        (
            "Holds opened / expired / released / in force now".into(),
            format!("{} / {} / {} / {}", r.holds_opened, r.holds_expired, r.holds_released, r.holds_in_force),
        ),
        (
            "Purges (records deleted)".into(),
            format!("{} ({})", r.purges.len(), r.purges.iter().map(|p| p["receipt"]["count"].as_u64().unwrap_or(0)).sum::<u64>()),
        ),
    ];
    let hotlists: Vec<(String, String)> = r
        .hotlists
        .iter()
        .map(|h| (h.name.clone(), format!("{} entries, source {}, {} match", h.entries, h.source, h.match_policy)))
        .collect();
    let access: Vec<(String, String)> = r.access.iter().map(|(role, names)| (role.clone(), names.join(", "))).collect();
    let mut html = String::new();
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Glasshouse transparency report</title><style>");
    html.push_str("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}h1{margin-bottom:0}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.25rem .8rem;border-bottom:1px solid #ddd;vertical-align:top}th{font-weight:600}.chart{display:block;margin:1rem 0}pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem;font-size:.8rem}.period{color:#555}");
    html.push_str("</style></head><body>");
    html.push_str(&format!(
        "<h1>Transparency report</h1><p class=\"period\">{} to {} (UTC) · computed {} from the live system</p>",
        escape(&r.from.to_rfc3339()),
        escape(&r.to.to_rfc3339()),
        escape(&r.generated_at.to_rfc3339())
    ));
    html.push_str("<h2>Summary</h2>");
    html.push_str(&table(&summary));
    html.push_str("<h2>What was collected</h2>");
    html.push_str(&bar_chart("Observations by kind", &bars(&r.observations_by_kind), "#0072B2"));
    html.push_str(&bar_chart(
        "Observations per day",
        &r.observations_by_day.iter().map(|(d, n)| (d.clone(), *n)).collect::<Vec<_>>(),
        "#56B4E9",
    ));
    html.push_str("<h2>Hotlists in force</h2>");
    html.push_str(&table(&hotlists));
    html.push_str("<h2>Alerts</h2>");
    html.push_str(&bar_chart("Alerts by rule", &bars(&r.alerts_by_rule), "#D55E00"));
    html.push_str("<h2>Searches</h2>");
    html.push_str(&bar_chart("Searches by purpose", &bars(&r.searches_by_purpose), "#009E73"));
    html.push_str(&bar_chart("Searches by role", &bars(&r.searches_by_role), "#009E73"));
    html.push_str(&bar_chart("Searches by outcome", &bars(&r.searches_by_outcome), "#E69F00"));
    html.push_str(&bar_chart("Searches by kind", &bars(&r.searches_by_kind), "#009E73"));
    html.push_str("<h2>Retention purges</h2>");
    let purge_rows: Vec<(String, String)> = r
        .purges
        .iter()
        .map(|p| {
            let receipt = &p["receipt"];
            (
                format!("{} · {}", p["at"].as_str().unwrap_or(""), receipt["kind"].as_str().unwrap_or("")),
                format!(
                    "{} deleted (window {} days, before {}); kept for alerts {}, for holds {}; ids SHA-256 {}",
                    receipt["count"],
                    receipt["window_days"],
                    receipt["cutoff"].as_str().unwrap_or(""),
                    receipt["kept_for_alerts"],
                    receipt["kept_for_holds"],
                    receipt["ids_sha256"].as_str().unwrap_or("")
                ),
            )
        })
        .collect();
    if purge_rows.is_empty() {
        html.push_str("<p>No purge deleted anything in this period.</p>");
    } else {
        html.push_str(&table(&purge_rows));
    }
    html.push_str("<h2>Privileged actions logged</h2>");
    html.push_str(&bar_chart("Audit log entries by action", &bars(&r.actions), "#CC79A7"));
    html.push_str("<h2>Who has access</h2>");
    html.push_str(&table(&access));
    html.push_str("<h2>Impact and use</h2><p>Generated from the live configuration.</p>");
    html.push_str(&table(&r.impact_and_use));
    html.push_str(&format!(
        "<h2>Audit log checkpoint</h2><p>{} entries. Verify with <code>glasshouse audit verify</code> and the key below.</p><pre>{}</pre><pre>{}</pre>",
        r.checkpoint.size,
        escape(&r.checkpoint.note),
        escape(&r.checkpoint.verifier_key)
    ));
    html.push_str("</body></html>");
    html
}

/// What runs on every observation, read from the engine the hot path runs, so the published summary
/// cannot drift from the rules in force.
fn real_time_rules(engine: &glasshouse_engine::Engine) -> String {
    let lists = engine.hotlists.lists();
    let by_policy = |policy| lists.iter().filter(|(l, _)| l.match_policy == policy).count();
    let entries: usize = lists.iter().map(|l| l.1).sum();
    let thresholds = engine.thresholds.iter().filter(|r| r.enabled).count();
    let geofences: Vec<&glasshouse_engine::GeofenceRule> = engine.geofences.rules().filter(|r| r.enabled).collect();
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
        by_policy(glasshouse_engine::MatchPolicy::Exact),
        by_policy(glasshouse_engine::MatchPolicy::Lenient),
        geofences.len(),
        if situations.is_empty() { "nothing".to_owned() } else { situations.join("; ") },
    )
}

/// Where alerts leave the system, from the running sinks, and how that is changed.
fn sharing(state: &AppState) -> String {
    let raised = state.alerts.len();
    let changes = state.changes.list("sharing");
    let waiting = changes.iter().filter(|c| c.status == glasshouse_audit::changes::ChangeStatus::Proposed).count();
    let rule = format!(
        "changes need two people (one proposes with a reason, another approves): {} applied, {waiting} waiting",
        changes.iter().filter(|c| c.status == glasshouse_audit::changes::ChangeStatus::Applied).count()
    );
    let sinks = state.sharing.statuses(raised);
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
