//! Alerts as OASIS Common Alerting Protocol 1.2 messages, for systems that speak CAP.
//!
//! Written as text rather than through an XML library: the message is a fixed, shallow structure
//! whose element order the schema dictates, and every value goes through [`escape`]. Tests validate
//! the output against the OASIS schema.

use glasshouse_engine::{Alert, AlertStatus};
use glasshouse_model::Timestamp;

/// The CAP 1.2 namespace.
pub const NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// How far around the alert's position the CAP area reaches, in km.
const AREA_RADIUS_KM: f64 = 0.1;

/// Escapes text for XML element content.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// CAP's dateTime: seconds, explicit offset (`2026-11-27T20:01:02+00:00`), no fraction.
fn cap_time(t: Timestamp) -> String {
    let text = t.to_rfc3339();
    format!("{}+00:00", &text[..19])
}

/// The CAP message for an alert. `sender` identifies this deployment (the audit log's origin).
pub fn alert_to_cap(alert: &Alert, sender: &str) -> String {
    let (category, event, severity, description) = match (&alert.hit, &alert.threshold) {
        (Some(hit), _) => (
            "Security",
            format!("Hotlist hit: {}", hit.reason.replace('_', " ")),
            "Severe",
            format!(
                "Plate {} read by {} matches {} on list {} ({}). An alert is not a stop: confirm visually and against the source system.",
                hit.matched_plate,
                alert.device_id,
                hit.entry_plate,
                hit.hotlist_name,
                hit.reason.replace('_', " ")
            ),
        ),
        (None, Some(t)) => (
            "CBRNE",
            format!("Sensor threshold: {}", t.rule_name),
            "Moderate",
            format!("{} {} {} at {} (level {}).", t.quantity.replace('_', " "), t.value, t.unit, alert.device_id, t.level),
        ),
        (None, None) if alert.silence.is_some() => {
            let silence = alert.silence.as_ref().expect("checked");
            (
                "Infra",
                format!("Device silent: {}", silence.rule_name),
                "Minor",
                format!("{} not heard from since {} (allowance {} min).", alert.device_id, silence.last_heard_at, silence.minutes),
            )
        }
        (None, None) => {
            ("Other", format!("Alert: {}", alert.rule), "Unknown", format!("Raised by rule {} at {}.", alert.rule, alert.device_id))
        }
    };
    // An operator's confirmation turns a possible event into an observed one.
    let (msg_type, certainty) = match alert.status {
        AlertStatus::New | AlertStatus::Acknowledged => ("Alert", "Possible"),
        AlertStatus::Confirmed => ("Update", "Observed"),
        AlertStatus::Dismissed | AlertStatus::Closed => ("Cancel", "Unlikely"),
    };
    let urgency = if alert.priority <= 2 { "Immediate" } else { "Expected" };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{NAMESPACE}">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{sent}</sent>
  <status>Actual</status>
  <msgType>{msg_type}</msgType>
  <source>glasshouse</source>
  <scope>Restricted</scope>
  <restriction>For the operation center and dispatched units only.</restriction>
  <info>
    <language>en-US</language>
    <category>{category}</category>
    <event>{event}</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>{certainty}</certainty>
    <effective>{effective}</effective>
    <senderName>Glasshouse</senderName>
    <headline>{event}</headline>
    <description>{description}</description>
    <parameter>
      <valueName>glasshouse_status</valueName>
      <value>{status}</value>
    </parameter>
    <area>
      <areaDesc>{area}</areaDesc>
      <circle>{lat:.6},{lon:.6} {AREA_RADIUS_KM}</circle>
    </area>
  </info>
</alert>
"#,
        identifier = escape(&alert.id),
        sender = escape(sender),
        sent = cap_time(alert.raised_at),
        event = escape(&event),
        effective = cap_time(alert.observed_at),
        description = escape(&description),
        status = alert.status.as_str(),
        area = escape(&format!("near device {}", alert.device_id)),
        lat = alert.lat,
        lon = alert.lon,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_seconds_and_an_explicit_offset() {
        let t = Timestamp::parse_rfc3339("2026-11-27T20:01:02.987654Z").unwrap();
        assert_eq!(cap_time(t), "2026-11-27T20:01:02+00:00");
    }

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
