//! Webhooks: an HTTP POST of the alert, signed so the receiver can tell it came from us.
//!
//! Headers: `Idempotency-Key` (the alert id), `X-Glasshouse-Event: alert.raised`, and
//! `X-Glasshouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Signing the
//! timestamp with the body lets a receiver refuse replays older than it tolerates.

use super::{DeliveryError, Destination, Envelope};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The longest one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Webhook {
    agent: ureq::Agent,
    url: String,
    secret: Vec<u8>,
}

impl Webhook {
    /// `ca_pem`: the authorities to trust for this endpoint instead of the public (Mozilla) roots.
    pub(super) fn new(url: &str, secret: &str, ca_pem: Option<&str>) -> Result<Webhook, String> {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!("webhook url {url:?} must start with http:// or https://"));
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = ca_pem {
            if !url.starts_with("https://") {
                return Err("ca_pem is for https webhooks; this url is plain http".into());
            }
            let certificates = trusted_certificates(pem)?;
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certificates));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Webhook { agent, url: url.to_owned(), secret: secret.as_bytes().to_vec() })
    }
}

/// Every certificate in `pem`; an error names what is wrong, and an empty bundle is one.
fn trusted_certificates(pem: &str) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem.as_bytes()) {
        match item.map_err(|e| format!("ca_pem: {e}"))? {
            ureq::tls::PemItem::Certificate(certificate) => certificates.push(certificate),
            _ => return Err("ca_pem: holds something other than certificates (a private key does not belong here)".into()),
        }
    }
    if certificates.is_empty() {
        return Err("ca_pem: no PEM certificate found".into());
    }
    Ok(certificates)
}

/// `t=<timestamp>,v1=<hex>`: the signature a receiver recomputes with the shared secret.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Destination for Webhook {
    fn deliver(&mut self, envelope: &Envelope) -> Result<(), DeliveryError> {
        let timestamp = glasshouse_model::Timestamp::now().0 / 1_000_000;
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &envelope.idempotency_key)
            .header("X-Glasshouse-Event", "alert.raised")
            .header("X-Glasshouse-Signature", signature(&self.secret, timestamp, &envelope.body))
            .body(envelope.body.clone())
            .map_err(|e| DeliveryError::Permanent(format!("request: {e}")))?;
        let response = self.agent.run(request).map_err(|e| DeliveryError::Transient(e.to_string()))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            // Timeouts, rate limits and server errors pass; any other 4xx says this alert is refused.
            status @ (408 | 425 | 429 | 500..=599) => Err(DeliveryError::Transient(format!("HTTP {status}"))),
            status => Err(DeliveryError::Permanent(format!("HTTP {status}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_bundle_must_hold_certificates_and_only_certificates() {
        assert!(Webhook::new("https://cad.example/alerts", "0123456789abcdef", None).is_ok(), "https is supported");
        let error = |pem: &str| Webhook::new("https://cad.example/alerts", "0123456789abcdef", Some(pem)).err().unwrap_or_default();
        assert!(error("").contains("no PEM certificate"), "{}", error(""));
        assert!(
            error(
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n"
            )
            .contains("private key")
        );
        assert!(Webhook::new("http://cad.example/alerts", "0123456789abcdef", Some("x")).err().unwrap().contains("plain http"));
    }

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature(b"0123456789abcdef", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature(b"0123456789abcdef", 1_700_000_001, b"{}"));
        assert_ne!(a, signature(b"0123456789abcdef", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature(b"0123456789abcdeF", 1_700_000_000, b"{}"));
    }
}
