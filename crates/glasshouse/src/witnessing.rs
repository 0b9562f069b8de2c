//! Asks the configured witnesses to cosign the audit log's newest checkpoint, every interval, over
//! HTTP (C2SP `tlog-witness`). The protocol and the bookkeeping are `glasshouse_audit::witnessing`;
//! this is the transport and the clock.

use glasshouse_app::App;
use glasshouse_audit::witnessing::Answer;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;
use tracing::{info, warn};

/// How long one witness may take to answer before the round moves on.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a round at once, then every `interval`, until `stopped` disconnects.
pub fn run(app: &App, interval: Duration, stopped: &Receiver<()>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(ANSWER_TIMEOUT)).build().into();
    let post = |url: &str, body: String| -> Result<Answer, String> {
        let mut response = agent.post(url).content_type("text/plain; charset=utf-8").send(body).map_err(|e| e.to_string())?;
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok(Answer { status, content_type, body })
    };
    let mut cosignatures = 0;
    // Each witness's last refusal as logged: a witness that stays down is reported once, not every round.
    let mut reported: std::collections::HashMap<String, Option<String>> = std::collections::HashMap::new();
    loop {
        let now = app.witnessing.round(&app.audit, post);
        if now != cosignatures {
            info!(cosignatures = now, "audit checkpoint cosigned");
            cosignatures = now;
        }
        for status in app.witnessing.statuses() {
            let before = reported.insert(status.name.clone(), status.last_refusal.clone()).flatten();
            match (&status.last_refusal, before) {
                (Some(why), before) if before.as_ref() != Some(why) => {
                    warn!(witness = %status.name, reason = %why, "a witness did not cosign the audit checkpoint")
                }
                (None, Some(_)) => info!(witness = %status.name, "a witness cosigns the audit checkpoint again"),
                _ => {}
            }
        }
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    }
}
