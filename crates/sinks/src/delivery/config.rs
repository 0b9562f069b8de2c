//! The sinks file: where alerts go, and how hard to try.

use serde::{Deserialize, Serialize};

/// Every outbound sink.
#[derive(Debug, Clone, Default)]
pub struct SinksConfig {
    /// The sinks, each with a unique name.
    pub sinks: Vec<SinkConfig>,
}

/// The file as written: `{"sinks": [{"name": ..., "webhook" | "nats" | "mqtt": {...}, ...}]}`.
/// (Not a flattened tagged enum: serde cannot then refuse misspelt fields, and a misspelt
/// `priority_max` silently sending everything is the mistake to catch.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinksFile {
    #[serde(default)]
    sinks: Vec<SinkEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkEntry {
    name: String,
    #[serde(default)]
    webhook: Option<SinkKind>,
    #[serde(default)]
    nats: Option<SinkKind>,
    #[serde(default)]
    mqtt: Option<SinkKind>,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    priority_max: Option<u8>,
    #[serde(default)]
    retry: RetryPolicy,
}

/// One sink.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Unique; names the sink's directory, metrics and dead letters.
    pub name: String,
    /// Where and how.
    pub kind: SinkKind,
    /// Only alerts of these rules (`hotlist`, `threshold`, `geofence`, `situation`); all when empty.
    pub rules: Vec<String>,
    /// Only alerts at least this urgent (1 = most urgent); all when absent.
    pub priority_max: Option<u8>,
    /// Backoff and give-up times.
    pub retry: RetryPolicy,
}

/// The far end.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SinkKind {
    /// An HTTP POST signed with HMAC-SHA256.
    Webhook {
        /// `https://host/path` (or `http://` on a trusted network).
        url: String,
        /// The shared secret the signature is keyed with.
        secret: String,
        /// PEM certificates of the authorities to trust for this endpoint (a city's own PKI)
        /// instead of the public roots.
        #[serde(default)]
        ca_pem: Option<String>,
    },
    /// A NATS subject; each alert goes to `<subject>.<rule>`.
    Nats {
        /// `host:port` or `nats://host:port`.
        url: String,
        /// Subject prefix.
        subject: String,
        /// Publish through JetStream and wait for the stream's acknowledgement (a stream must
        /// cover the subjects); its duplicate window drops redeliveries.
        #[serde(default)]
        jetstream: bool,
    },
    /// An MQTT topic at QoS 1; each alert goes to `<topic>/<rule>`.
    Mqtt {
        /// Broker host.
        host: String,
        /// Broker port.
        #[serde(default = "default_mqtt_port")]
        port: u16,
        /// Topic prefix.
        topic: String,
    },
}

fn default_mqtt_port() -> u16 {
    1883
}

/// How retries back off, and when an alert is given up on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// The first retry's delay; each further retry doubles it.
    pub initial_ms: u64,
    /// The longest delay between two attempts.
    pub max_ms: u64,
    /// After failing this long, an alert moves to the dead letters and the sink goes on.
    pub give_up_after_s: u64,
}

impl Default for RetryPolicy {
    /// Half a second doubling to a minute; a day before giving up, so an outage of hours loses nothing.
    fn default() -> Self {
        RetryPolicy { initial_ms: 500, max_ms: 60_000, give_up_after_s: 86_400 }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 = the first retry), with up to half of it taken off
    /// at random (`jitter` in 0..1) so sinks recovering together do not retry in step.
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> u64 {
        let doubled = self.initial_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
        let capped = doubled.min(self.max_ms);
        capped - (capped as f64 * 0.5 * jitter.clamp(0.0, 1.0)) as u64
    }
}

impl SinksConfig {
    /// Parses and checks a sinks file.
    pub fn parse(text: &str) -> Result<SinksConfig, String> {
        let file: SinksFile = serde_json::from_str(text).map_err(|e| format!("sinks file: {e}"))?;
        let mut sinks = Vec::new();
        for entry in file.sinks {
            let kind = match (entry.webhook, entry.nats, entry.mqtt) {
                (Some(k @ SinkKind::Webhook { .. }), None, None)
                | (None, Some(k @ SinkKind::Nats { .. }), None)
                | (None, None, Some(k @ SinkKind::Mqtt { .. })) => k,
                _ => {
                    return Err(format!(
                        "sink {:?}: give exactly one of webhook {{url, secret}}, nats {{url, subject, jetstream?}} or mqtt {{host, port?, topic}}",
                        entry.name
                    ));
                }
            };
            sinks.push(SinkConfig { name: entry.name, kind, rules: entry.rules, priority_max: entry.priority_max, retry: entry.retry });
        }
        let config = SinksConfig { sinks };
        let mut names = std::collections::HashSet::new();
        for sink in &config.sinks {
            let valid = !sink.name.is_empty()
                && sink.name.len() <= 64
                && sink.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(format!("sink name {:?}: use 1..=64 letters, digits, '-' or '_'", sink.name));
            }
            if !names.insert(sink.name.as_str()) {
                return Err(format!("sink name {:?} is used twice", sink.name));
            }
            if sink.retry.initial_ms == 0 || sink.retry.max_ms < sink.retry.initial_ms {
                return Err(format!("sink {}: retry needs 0 < initial_ms <= max_ms", sink.name));
            }
            if let SinkKind::Webhook { secret, .. } = &sink.kind
                && secret.len() < 16
            {
                return Err(format!("sink {}: a webhook secret needs at least 16 characters", sink.name));
            }
        }
        Ok(config)
    }
}

impl SinkConfig {
    /// Whether this sink takes `alert`.
    pub fn wants(&self, alert: &glasshouse_engine::Alert) -> bool {
        (self.rules.is_empty() || self.rules.contains(&alert.rule)) && self.priority_max.is_none_or(|p| alert.priority <= p)
    }

    /// Where it sends, without secrets: for status pages and the transparency report.
    pub fn target(&self) -> String {
        match &self.kind {
            SinkKind::Webhook { url, .. } => format!("webhook {url}"),
            SinkKind::Nats { url, subject, .. } => format!("nats {url} {subject}.<rule>"),
            SinkKind::Mqtt { host, port, topic } => format!("mqtt {host}:{port} {topic}/<rule>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_only_shortens() {
        let policy = RetryPolicy { initial_ms: 500, max_ms: 60_000, give_up_after_s: 60 };
        let delays: Vec<u64> = (1..=9).map(|a| policy.delay_ms(a, 0.0)).collect();
        assert_eq!(delays, vec![500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
        assert_eq!(policy.delay_ms(3, 1.0), 1_000);
        assert_eq!(policy.delay_ms(200, 0.0), 60_000, "no overflow on long outages");
    }

    #[test]
    fn a_sinks_file_is_checked() {
        let ok = r#"{"sinks": [
            {"name": "cad", "webhook": {"url": "http://127.0.0.1:9/h", "secret": "0123456789abcdef"}, "rules": ["hotlist"]},
            {"name": "ops", "nats": {"url": "127.0.0.1:4222", "subject": "glasshouse.alerts"}},
            {"name": "wall", "mqtt": {"host": "127.0.0.1", "topic": "glasshouse/alerts"}, "retry": {"initial_ms": 100, "max_ms": 1000, "give_up_after_s": 5}}
        ]}"#;
        let config = SinksConfig::parse(ok).unwrap();
        assert_eq!(config.sinks.len(), 3);
        assert_eq!(config.sinks[0].target(), "webhook http://127.0.0.1:9/h");
        assert!(!config.sinks[0].target().contains("0123"), "no secret in the target");
        let err = |text: &str| SinksConfig::parse(text).unwrap_err();
        assert!(matches!(config.sinks[1].kind, SinkKind::Nats { jetstream: false, .. }));
        assert!(err(r#"{"sinks": [{"name": "a b", "nats": {"url": "x", "subject": "s"}}]}"#).contains("sink name"));
        assert!(err(r#"{"sinks": [{"name": "a", "webhook": {"url": "http://x", "secret": "short"}}]}"#).contains("16 characters"));
        assert!(err(r#"{"sinks": [{"name": "a", "smtp": {}}]}"#).contains("unknown field `smtp`"));
        assert!(err(r#"{"sinks": [{"name": "a", "nats": {"url": "x", "subject": "s"}, "priorty_max": 1}]}"#).contains("priorty_max"));
        assert!(
            err(r#"{"sinks": [{"name": "a", "nats": {"url": "x", "subject": "s"}, "mqtt": {"host": "h", "topic": "t"}}]}"#)
                .contains("exactly one")
        );
        assert!(
            err(r#"{"sinks": [{"name": "a", "webhook": {"host": "h", "topic": "t"}}]}"#).contains("exactly one"),
            "an mqtt target under webhook"
        );
        let twice =
            r#"{"sinks": [{"name": "a", "nats": {"url": "x", "subject": "s"}}, {"name": "a", "nats": {"url": "x", "subject": "t"}}]}"#;
        assert!(err(twice).contains("twice"));
    }
}
