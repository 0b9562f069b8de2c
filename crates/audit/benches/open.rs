//! Opening a large audit log: the time and the memory it takes, each open in a fresh process.
//!
//! Fills a log with `GH_AUDIT_BENCH_ENTRIES` search entries (300,000 by default; each append is an
//! fsync, so filling takes minutes), then opens it five times, each in a child process that reports
//! the time `AuditLog::open` took and the resident memory it added. Uses only `open`, `size` and
//! `checkpoint`, so the same file measures an older version of the log against the same directory.

use glasshouse_audit::{Action, AuditEvent, AuditLog};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const ENTRIES_DEFAULT: u64 = 300_000;
const OPENS: usize = 5;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmRSS")
}

fn fill(dir: &Path, entries: u64) {
    let log = AuditLog::open(&dir.join("log"), &dir.join("keys")).expect("opens");
    for i in log.size()..entries {
        log.append(AuditEvent {
            actor: format!("analyst{}", i % 40),
            role: "investigator".into(),
            component: glasshouse_audit::Component::System,
            address: None,
            action: Action::SearchPlates,
            outcome: "ok".into(),
            details: json!({
                "purpose": "investigation",
                "case": format!("HPD-{:06}", i / 7),
                "justification": log.keyed("text", &format!("stolen vehicle report {i}")),
                "plate": log.keyed("plate", &format!("P{i:07}")),
                "mode": "tolerant",
                "from": glasshouse_model::Timestamp::now().plus_secs(-30 * 86_400),
                "results": i % 23,
            }),
        })
        .expect("appends");
    }
}

/// In the child: open, report `millis rss_added_kib size`.
fn open_once(dir: &Path) {
    let before = rss_kib();
    let started = Instant::now();
    let log = AuditLog::open(&dir.join("log"), &dir.join("keys")).expect("opens");
    let millis = started.elapsed().as_secs_f64() * 1e3;
    let (size, _) = log.checkpoint();
    println!("{millis:.1} {} {size}", rss_kib().saturating_sub(before));
}

fn main() {
    if let Ok(dir) = std::env::var("GH_AUDIT_BENCH_OPEN") {
        open_once(Path::new(&dir));
        return;
    }
    let entries = std::env::var("GH_AUDIT_BENCH_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(ENTRIES_DEFAULT);
    let kept = std::env::var("GH_AUDIT_BENCH_DIR").ok();
    let temporary = tempfile::tempdir().expect("temp dir");
    let dir = kept.as_deref().map(Path::new).unwrap_or(temporary.path());
    let started = Instant::now();
    fill(dir, entries);
    let wal_bytes: u64 = std::fs::read_dir(dir.join("log"))
        .expect("log dir")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    println!("log of {entries} entries ready in {:.1} s; its WAL is {:.1} MB", started.elapsed().as_secs_f64(), wal_bytes as f64 / 1e6);
    let mut runs: Vec<(f64, u64)> = (0..OPENS)
        .map(|_| {
            let out =
                Command::new(std::env::current_exe().expect("own path")).env("GH_AUDIT_BENCH_OPEN", dir).output().expect("child runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut fields = text.split_whitespace();
            let millis: f64 = fields.next().and_then(|f| f.parse().ok()).expect("child reports time");
            let kib: u64 = fields.next().and_then(|f| f.parse().ok()).expect("child reports memory");
            let size: u64 = fields.next().and_then(|f| f.parse().ok()).expect("child reports size");
            assert_eq!(size, entries, "the opened log has every entry");
            (millis, kib)
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median_ms, _) = runs[OPENS / 2];
    let median_kib = {
        let mut kib: Vec<u64> = runs.iter().map(|r| r.1).collect();
        kib.sort();
        kib[OPENS / 2]
    };
    println!(
        "open: median {median_ms:.1} ms over {OPENS} opens (each in a new process); memory added by the open: median {:.1} MiB",
        median_kib as f64 / 1024.0
    );
}
