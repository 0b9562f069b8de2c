//! The report as one self-contained HTML page (inline CSS and SVG; no script, no network), written
//! with maud, which escapes everything interpolated.

use super::TransparencyReport;
use super::svg::bar_chart;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::BTreeMap;

/// The report's one style sheet, inline so the page stands alone; the console's content security
/// policy allows exactly this text by its hash (see [`style_hash`]).
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}h1{margin-bottom:0}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.25rem .8rem;border-bottom:1px solid #ddd;vertical-align:top}th{font-weight:600}.chart{display:block;margin:1rem 0}pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem;font-size:.8rem}.period{color:#555}";

/// `sha256-<base64>` of the report's style sheet, for a content security policy's `style-src`.
pub fn style_hash() -> String {
    use base64::Engine;
    use sha2::Digest;
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes())))
}

/// The report as an HTML page.
pub fn render_html(r: &TransparencyReport) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Glasshouse transparency report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Transparency report" }
                p class="period" {
                    (r.from.to_rfc3339()) " to " (r.to.to_rfc3339()) " (UTC) · computed " (r.generated_at.to_rfc3339()) " from the live system"
                }
                h2 { "Summary" }
                (table(&summary(r)))
                h2 { "What was collected" }
                (bar_chart("Observations by kind", &bars(&r.observations_by_kind), "#0072B2"))
                (bar_chart("Observations per day", &r.observations_by_day.iter().map(|(d, n)| (d.clone(), *n)).collect::<Vec<_>>(), "#56B4E9"))
                h2 { "Hotlists in force" }
                (table(&r.hotlists.iter().map(|h| (h.name.clone(), format!("{} entries, source {}, {} match", h.entries, h.source, h.match_policy))).collect::<Vec<_>>()))
                h2 { "Alerts" }
                (bar_chart("Alerts by rule", &bars(&r.alerts_by_rule), "#D55E00"))
                h2 { "Searches" }
                (bar_chart("Searches by purpose", &bars(&r.searches_by_purpose), "#009E73"))
                (bar_chart("Searches by role", &bars(&r.searches_by_role), "#009E73"))
                (bar_chart("Searches by outcome", &bars(&r.searches_by_outcome), "#E69F00"))
                (bar_chart("Searches by kind", &bars(&r.searches_by_kind), "#009E73"))
                (bar_chart("Searches run, by the authority they rested on", &bars(&r.searches_by_authority), "#0072B2"))
                (bar_chart("Searches refused, by the field at fault", &bars(&r.refusals_by_field), "#E69F00"))
                h2 { "Cases searched" }
                p { (r.cases_searched) " cases named by searches that ran; " (r.cases_open) " cases open now. The cases with the most searches:" }
                (table(&r.searches_by_case_top.iter().map(|(case, n)| (case.clone(), format!("{n} searches"))).collect::<Vec<_>>()))
                h2 { "Warrants and exigency" }
                (table(&authority_rows(r)))
                h2 { "Retention purges" }
                @let purges = purge_rows(r);
                @if purges.is_empty() {
                    p { "No purge deleted anything in this period." }
                } @else {
                    (table(&purges))
                }
                h2 { "Privileged actions logged" }
                (bar_chart("Audit log entries by action", &bars(&r.actions), "#CC79A7"))
                h2 { "Who has access" }
                (table(&r.access.iter().map(|(role, names)| (role.clone(), names.join(", "))).collect::<Vec<_>>()))
                h2 { "Impact and use" }
                p { "Generated from the live configuration." }
                (table(&r.impact_and_use))
                h2 { "Audit log checkpoint" }
                p { (r.checkpoint.size) " entries. Verify with " code { "glasshouse audit verify" } " and the key below." }
                pre { (r.checkpoint.note) }
                pre { (r.checkpoint.verifier_key) }
                h2 { "Witnesses" }
                @if r.checkpoint.witnesses.is_empty() {
                    p { "No independent witness is configured: the checkpoints rest on this deployment's key alone." }
                } @else {
                    (table(&r.checkpoint.witnesses.iter().map(|w| (w.name.clone(), match &w.last_refusal {
                        None => format!("cosigned up to entry {}", w.cosigned_size),
                        Some(why) => format!("cosigned up to entry {}; last refused: {why}", w.cosigned_size),
                    })).collect::<Vec<_>>()))
                    @if let Some(cosigned) = &r.checkpoint.cosigned {
                        p { "The newest cosigned checkpoint, with the witnesses' cosignatures (C2SP tlog-cosignature):" }
                        pre { (cosigned.note) }
                    }
                }
            }
        }
    }
    .into_string()
}

/// The headline figures.
fn summary(r: &TransparencyReport) -> Vec<(String, String)> {
    let total: u64 = r.observations_by_kind.values().sum();
    let searches: u64 = r.searches_by_outcome.values().sum();
    let searched = |outcome: &str| r.searches_by_outcome.get(outcome).copied().unwrap_or(0);
    let deleted: u64 = r.purges.iter().map(|p| p["receipt"]["count"].as_u64().unwrap_or(0)).sum();
    vec![
        ("Observations".into(), total.to_string()),
        ("Plates read".into(), r.plates_read.to_string()),
        ("Hotlist hits per 1,000 reads".into(), format!("{:.2}", r.hits_per_thousand_reads)),
        ("Alerts".into(), r.alerts_by_rule.values().sum::<u64>().to_string()),
        (
            "Alerts confirmed / dismissed / awaiting a decision".into(),
            format!("{} / {} / {}", r.alerts_confirmed, r.alerts_dismissed, r.alerts_awaiting),
        ),
        ("Searches (run / refused)".into(), format!("{searches} ({} / {})", searched("ok"), searched("refused"))),
        ("Exigency reviews overdue now".into(), r.exigency_reviews.overdue_now.to_string()),
        (
            "Holds opened / expired / released / in force now".into(),
            format!("{} / {} / {} / {}", r.holds_opened, r.holds_expired, r.holds_released, r.holds_in_force),
        ),
        ("Purges (records deleted)".into(), format!("{} ({deleted})", r.purges.len())),
    ]
}

/// Warrants and exigency reviews.
fn authority_rows(r: &TransparencyReport) -> Vec<(String, String)> {
    let (w, x) = (&r.warrants, &r.exigency_reviews);
    vec![
        ("Warrants registered in the period".into(), w.registered.to_string()),
        ("Warrants in force / expired / revoked now".into(), format!("{} / {} / {}", w.in_force, w.expired, w.revoked)),
        ("Exigency claims in the period".into(), x.opened.to_string()),
        ("Of those, upheld / not upheld by a supervisor".into(), format!("{} / {}", x.upheld, x.not_upheld)),
        ("Reviews open now (overdue: not closed within a day)".into(), format!("{} ({})", x.open_now, x.overdue_now)),
    ]
}

/// Each purge's receipt as a row.
fn purge_rows(r: &TransparencyReport) -> Vec<(String, String)> {
    r.purges
        .iter()
        .map(|p| {
            let receipt = &p["receipt"];
            (
                format!("{} · {}", p["at"].as_str().unwrap_or(""), receipt["kind"].as_str().unwrap_or("")),
                match receipt["lines_sha256"].as_str() {
                    // A dead-letter purge: refused records, no observations behind alerts or holds.
                    Some(lines) => format!(
                        "{} deleted (window {} days, before {}); lines SHA-256 {lines}",
                        receipt["count"],
                        receipt["window_days"],
                        receipt["cutoff"].as_str().unwrap_or("")
                    ),
                    None => format!(
                        "{} deleted (window {} days, before {}); kept for confirmed alerts {}, for holds {}; ids SHA-256 {}",
                        receipt["count"],
                        receipt["window_days"],
                        receipt["cutoff"].as_str().unwrap_or(""),
                        receipt["kept_for_alerts"],
                        receipt["kept_for_holds"],
                        receipt["ids_sha256"].as_str().unwrap_or("")
                    ),
                },
            )
        })
        .collect()
}

fn bars(map: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    map.iter().map(|(k, v)| (k.replace('_', " "), *v)).collect()
}

fn table(rows: &[(String, String)]) -> Markup {
    html! {
        table {
            @for (key, value) in rows {
                tr { th scope="row" { (key) } td { (value) } }
            }
        }
    }
}
