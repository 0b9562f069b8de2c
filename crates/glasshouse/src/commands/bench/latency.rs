//! Alert latency under a steady load: producers post NDJSON to `/v1/observations` at a fixed rate,
//! one read in each request is of a listed "probe" plate, and a client of `/v1/alerts/stream` notes
//! when each probe's alert arrives. Every figure is taken by this process's clock, on loopback.

use super::Percentiles;
use crate::commands::client::ApiClient;
use anyhow::Context;
use glasshouse_model::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Requests a second: each carries a tenth of a second of the rate.
const REQUESTS_PER_SEC: u64 = 10;
/// Producer threads, so that one slow request does not hold back the next.
const PRODUCERS: u64 = 4;
/// How long the last alerts may take after the last request before they count as never seen.
const TAIL_WAIT: Duration = Duration::from_secs(30);

/// What the producers send.
pub struct Load<'a> {
    /// Records a second.
    pub rate: u64,
    /// Seconds of load.
    pub secs: u64,
    /// Fixed readers to read at.
    pub readers: &'a [String],
    /// Plates the traffic is drawn from.
    pub plates: &'a [String],
    /// Listed plates that no other read carries: one a request.
    pub probes: &'a [String],
}

#[derive(Serialize)]
pub struct LatencyReport {
    pub rate_target: u64,
    /// Records acknowledged a second over the run.
    pub rate_achieved: f64,
    pub records_acknowledged: u64,
    /// Requests the server pushed back on (503) or refused.
    pub requests_refused: u64,
    pub probes_sent: usize,
    pub probes_alerted: usize,
    /// From the request leaving the producer to the alert on the stream.
    pub sent_to_stream_ms: Percentiles,
    /// From the acknowledgement to the alert on the stream; 0 where the alert came first (the
    /// server acknowledges after the hot window, so the alert is usually out already).
    pub acknowledged_to_stream_ms: Percentiles,
    /// The request's round trip (decode, WAL with fsync, hot window).
    pub acknowledgement_ms: Percentiles,
}

/// A probe request's clock readings.
#[derive(Clone, Copy)]
struct Probe {
    sent: Instant,
    acknowledged: Option<Instant>,
}

pub fn run(address: SocketAddr, ingest_token: &str, operator_token: &str, load: &Load) -> anyhow::Result<LatencyReport> {
    let base = format!("http://{address}");
    let arrivals: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let (ready_tx, ready_rx) = mpsc::channel();
    {
        let (base, token, arrivals) = (base.clone(), operator_token.to_owned(), arrivals.clone());
        // Ends when the server closes the stream (it is stopped after the run).
        std::thread::spawn(move || {
            if let Err(e) = listen(&base, &token, &arrivals, ready_tx.clone()) {
                let _ = ready_tx.send(Err(e));
            }
        });
    }
    ready_rx.recv_timeout(Duration::from_secs(30)).context("the alert stream never said ready")??;
    let requests = (load.secs * REQUESTS_PER_SEC) as usize;
    anyhow::ensure!(load.probes.len() >= requests, "{} probes for {requests} requests", load.probes.len());
    let per_request = (load.rate / REQUESTS_PER_SEC).max(1) as usize;
    let period = Duration::from_secs_f64(1.0 / REQUESTS_PER_SEC as f64);
    let probes: Arc<Mutex<HashMap<usize, Probe>>> = Arc::default();
    let started = Instant::now();
    let totals = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..PRODUCERS as usize)
            .map(|worker| {
                let (base, probes) = (&base, probes.clone());
                scope.spawn(move || -> anyhow::Result<(u64, u64)> {
                    let client = ApiClient::new(base);
                    let (mut acknowledged, mut refused) = (0u64, 0u64);
                    for request in (worker..requests).step_by(PRODUCERS as usize) {
                        let due = started + period * request as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let body = batch(load, request, per_request);
                        let sent = Instant::now();
                        probes.lock().unwrap_or_else(|p| p.into_inner()).insert(request, Probe { sent, acknowledged: None });
                        let response = client.send("POST", "/v1/observations", ingest_token, "application/x-ndjson", body)?;
                        if response.status == 200 {
                            acknowledged += per_request as u64 + 1;
                            if let Some(p) = probes.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&request) {
                                p.acknowledged = Some(Instant::now());
                            }
                        } else {
                            refused += 1;
                        }
                    }
                    Ok((acknowledged, refused))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a producer panicked")).collect::<anyhow::Result<Vec<_>>>()
    })?;
    let load_secs = started.elapsed().as_secs_f64();
    let probes = probes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let deadline = Instant::now() + TAIL_WAIT;
    while arrivals.lock().unwrap_or_else(|p| p.into_inner()).len() < probes.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (mut sent_to_stream, mut acknowledged_to_stream, mut acknowledgement) = (Vec::new(), Vec::new(), Vec::new());
    for (request, probe) in &probes {
        if let Some(acknowledged) = probe.acknowledged {
            acknowledgement.push(ms(acknowledged - probe.sent));
        }
        let Some(&arrived) = arrivals.get(request) else { continue };
        sent_to_stream.push(ms(arrived.saturating_duration_since(probe.sent)));
        if let Some(acknowledged) = probe.acknowledged {
            acknowledged_to_stream.push(ms(arrived.saturating_duration_since(acknowledged)));
        }
    }
    let records_acknowledged: u64 = totals.iter().map(|t| t.0).sum();
    Ok(LatencyReport {
        rate_target: load.rate,
        rate_achieved: records_acknowledged as f64 / load_secs,
        records_acknowledged,
        requests_refused: totals.iter().map(|t| t.1).sum(),
        probes_sent: probes.len(),
        probes_alerted: sent_to_stream.len(),
        sent_to_stream_ms: Percentiles::of(sent_to_stream),
        acknowledged_to_stream_ms: Percentiles::of(acknowledged_to_stream),
        acknowledgement_ms: Percentiles::of(acknowledgement),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One request's NDJSON: live reads at the fixed readers, the probe read last.
fn batch(load: &Load, request: usize, records: usize) -> Vec<u8> {
    use std::fmt::Write;
    let stamp = Timestamp::now().to_rfc3339();
    let mut body = String::with_capacity((records + 1) * 160);
    // A cheap, fixed scramble: which reader and plate each record names matters, not randomness.
    let mut x = (request as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..records {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let reader = &load.readers[(x % load.readers.len() as u64) as usize];
        let plate = &load.plates[((x >> 20) % load.plates.len() as u64) as usize];
        let _ = writeln!(
            body,
            r#"{{"id":"live-{request}-{i}","kind":"plate_read","device_id":"{reader}","observed_at":"{stamp}","plate":"{plate}","confidence":0.9}}"#
        );
    }
    let reader = &load.readers[request % load.readers.len()];
    let _ = writeln!(
        body,
        r#"{{"id":"probe-{request}","kind":"plate_read","device_id":"{reader}","observed_at":"{stamp}","plate":"{}","confidence":0.9}}"#,
        load.probes[request]
    );
    body.into_bytes()
}

/// Reads the alert stream, noting the first arrival of each probe's alert.
fn listen(
    base: &str,
    token: &str,
    arrivals: &Mutex<HashMap<usize, Instant>>,
    ready: mpsc::Sender<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    // No overall timeout: the stream stays open for the whole run.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let response = agent.get(format!("{base}/v1/alerts/stream")).header("Authorization", format!("Bearer {token}")).call()?;
    anyhow::ensure!(response.status() == 200, "GET /v1/alerts/stream: {}", response.status());
    let reader = BufReader::new(response.into_body().into_reader());
    for line in reader.lines() {
        let line = line?;
        if line == "event: ready" {
            let _ = ready.send(Ok(()));
            continue;
        }
        let Some(data) = line.strip_prefix("data: ") else { continue };
        let arrived = Instant::now();
        let Ok(alert) = serde_json::from_str::<serde_json::Value>(data) else { continue };
        let probe = alert["observation_id"].as_str().and_then(|id| id.strip_prefix("probe-")).and_then(|n| n.parse::<usize>().ok());
        if let Some(request) = probe {
            arrivals.lock().unwrap_or_else(|p| p.into_inner()).entry(request).or_insert(arrived);
        }
    }
    Ok(())
}
