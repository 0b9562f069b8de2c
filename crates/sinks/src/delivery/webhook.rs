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
    pub(super) fn new(url: &str, secret: &str) -> Result<Webhook, String> {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!("webhook url {url:?} must start with http:// or https://"));
        }
        if url.starts_with("https://") {
            // The HTTP client is built without TLS (see DEPENDENCIES: no rustls in the tree yet);
            // terminate TLS in a local proxy until it is.
            return Err("https webhooks need TLS, which this build leaves out: point it at a local TLS proxy".into());
        }
        let agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(ATTEMPT_TIMEOUT)).build().into();
        Ok(Webhook { agent, url: url.to_owned(), secret: secret.as_bytes().to_vec() })
    }
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
    fn the_signature_covers_timestamp_and_body() {
        let a = signature(b"0123456789abcdef", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature(b"0123456789abcdef", 1_700_000_001, b"{}"));
        assert_ne!(a, signature(b"0123456789abcdef", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature(b"0123456789abcdeF", 1_700_000_000, b"{}"));
    }
}
