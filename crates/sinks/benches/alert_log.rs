//! Opening a large alert log, and the reads operators make of it.
//!
//! Fills a log with `GH_ALERT_BENCH_ALERTS` plate-hit alerts (200,000 by default), each with the
//! evidence a hit carries; nine in ten are closed, as a worked queue leaves them, and a sighting in
//! twenty is folded into the alert before it as a repeat. `GH_ALERT_BENCH_UNWORKED=1` leaves every
//! alert open instead, as a lenient list nobody can keep up with does; the time to fill is then the
//! cost of raising alone. Then:
//! - opens it five times, each in a new process, and reports the time `AlertLog::open` took and the
//!   resident memory it added (only `open` and `len` are used, so the same file measures an older
//!   version of the log against the same directory);
//! - times the reads (median of 21): the operator's queue (new and acknowledged, 500), the newest
//!   history page (50), a page for one rare list, and one alert by id.

use glasshouse_engine::{Alert, AlertFilter, AlertStatus, HotlistHit, TransitionRequest};
use glasshouse_model::Timestamp;
use glasshouse_sinks::AlertLog;
use glasshouse_wal::FsyncPolicy;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const ALERTS_DEFAULT: usize = 200_000;
const OPENS: usize = 5;
const RUNS: usize = 21;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmRSS")
}

fn hit_alert(i: usize, start: Timestamp) -> Alert {
    // Alert 20k + 1 is another sighting of what 20k is about, three seconds later.
    let base = if i % 20 == 1 { i - 1 } else { i };
    let plate = format!("P{base:06}");
    let list = if base % 1_000 == 20 { "hl-rare".to_owned() } else { format!("hl-{}", base % 12) };
    let observed = Timestamp(start.0 + i as i64 * 3_000_000);
    Alert {
        id: format!("al-{i:024x}"),
        rule: "hotlist".into(),
        status: AlertStatus::New,
        priority: 2,
        observed_at: observed,
        raised_at: observed,
        observation_id: format!("obs-{i:012}"),
        device_id: format!("lpr-{}", i % 500),
        lat: 40.7 + (i % 100) as f64 * 0.001,
        lon: -74.0 + (i % 77) as f64 * 0.001,
        plate: Some(plate.clone()),
        hotlist_id: Some(list.clone()),
        hit: Some(HotlistHit {
            plate: plate.clone(),
            matched_plate: plate.clone(),
            from_candidate: false,
            region: Some("NY".into()),
            hotlist_id: list.clone(),
            hotlist_name: list,
            entry_plate: plate,
            entry_region: Some("NY".into()),
            reason: "stolen_vehicle".into(),
            entry_expires_at: Timestamp(start.0 + 86_400_000_000 * 365),
            match_policy: Default::default(),
            distance: 0,
            diffs: Vec::new(),
            image_ref: None,
            vehicle: Vec::new(),
        }),
        threshold: None,
        situation: None,
        geofence: None,
        silence: None,
        history: Vec::new(),
        repeats: Vec::new(),
        retroactive: false,
    }
}

/// Fills an empty log; a log kept from an earlier run (`GH_ALERT_BENCH_DIR`) is measured as it is.
fn fill(dir: &Path, alerts: usize, worked: bool) {
    let log = AlertLog::open(dir, FsyncPolicy::Never).expect("opens");
    if !log.is_empty() {
        return;
    }
    let start = Timestamp::now().plus_secs(-(alerts as i64) * 3);
    let step = |to| TransitionRequest { to, disposition: None, visual_check: false, source_check: false, note: None };
    let dismiss = TransitionRequest { disposition: Some("misread".into()), ..step(AlertStatus::Dismissed) };
    for i in 0..alerts {
        log.append(vec![hit_alert(i, start)]).expect("appends");
        // Nine in ten worked to the end (a folded sighting has no alert of its own to close).
        let id = format!("al-{i:024x}");
        if worked && i % 10 != 0 && log.get(&id).expect("reads").is_some() {
            for request in [step(AlertStatus::Acknowledged), dismiss.clone(), step(AlertStatus::Closed)] {
                log.transition(&id, &request, "op", |_, _| Ok(())).expect("moves");
            }
        }
    }
}

fn open_once(dir: &Path) {
    let before = rss_kib();
    let started = Instant::now();
    let log = AlertLog::open(dir, FsyncPolicy::Never).expect("opens");
    let millis = started.elapsed().as_secs_f64() * 1e3;
    println!("{millis:.1} {} {}", rss_kib().saturating_sub(before), log.len());
}

fn median_ms(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn main() {
    if let Ok(dir) = std::env::var("GH_ALERT_BENCH_OPEN") {
        open_once(Path::new(&dir));
        return;
    }
    let alerts = std::env::var("GH_ALERT_BENCH_ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(ALERTS_DEFAULT);
    let kept = std::env::var("GH_ALERT_BENCH_DIR").ok();
    let temporary = tempfile::tempdir().expect("temp dir");
    let dir = kept.as_deref().map(Path::new).unwrap_or(temporary.path());
    let worked = std::env::var("GH_ALERT_BENCH_UNWORKED").is_err();
    let started = Instant::now();
    fill(dir, alerts, worked);
    println!(
        "log of {alerts} raised alerts ({}) ready in {:.1} s, resident memory then {:.1} MiB",
        if worked { "nine in ten worked" } else { "none worked" },
        started.elapsed().as_secs_f64(),
        rss_kib() as f64 / 1024.0
    );
    let mut runs: Vec<(f64, u64, usize)> = (0..OPENS)
        .map(|_| {
            let out =
                Command::new(std::env::current_exe().expect("own path")).env("GH_ALERT_BENCH_OPEN", dir).output().expect("child runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let fields: Vec<&str> = text.split_whitespace().collect();
            (fields[0].parse().expect("time"), fields[1].parse().expect("memory"), fields[2].parse().expect("count"))
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut kib: Vec<u64> = runs.iter().map(|r| r.1).collect();
    kib.sort();
    println!(
        "open: median {:.1} ms over {OPENS} opens (each in a new process), {} alerts stored; memory added: median {:.1} MiB",
        runs[OPENS / 2].0,
        runs[0].2,
        kib[OPENS / 2] as f64 / 1024.0
    );
    let log = AlertLog::open(dir, FsyncPolicy::Never).expect("opens");
    let queue = AlertFilter { statuses: vec![AlertStatus::New, AlertStatus::Acknowledged], ..AlertFilter::default() };
    let rare = AlertFilter { rule_id: Some("hl-rare".into()), ..AlertFilter::default() };
    let newest_id = log.recent(1).expect("reads")[0].id.clone();
    let q = median_ms(|| assert!(!log.page(&queue, None, 500).expect("reads").0.is_empty()));
    let h = median_ms(|| assert_eq!(log.page(&AlertFilter::default(), None, 50).expect("reads").0.len(), 50));
    let r = median_ms(|| assert!(!log.page(&rare, None, 50).expect("reads").0.is_empty()));
    let g = median_ms(|| assert!(log.get(&newest_id).expect("reads").is_some()));
    println!(
        "reads, median of {RUNS}: queue (500) {q:.2} ms, history page (50) {h:.2} ms, one rare list (50) {r:.2} ms, one alert by id {g:.3} ms"
    );
}
