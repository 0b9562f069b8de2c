//! A full disk: the data directory on a small file system of its own. Ingest that cannot be made
//! durable is refused with a clear error (never acknowledged), what was acknowledged before stays,
//! a restart on the full disk stops with the reason (or starts with every acknowledged record),
//! and once there is room again a restarted server has every acknowledged record and takes more.
//!
//! Mounting a file system needs root, as `scripts/test.sh` runs; elsewhere the test says so.

mod common;

use common::{Client, Server, read_line, stored_ids, token};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};

const BATCH_RECORDS: usize = 250;
const PACE: std::time::Duration = std::time::Duration::from_millis(20);

/// A tmpfs of `size` mounted at `at`, unmounted when dropped.
struct SmallDisk<'a> {
    at: &'a Path,
}

impl<'a> SmallDisk<'a> {
    fn mount(at: &'a Path, size: &str) -> SmallDisk<'a> {
        let status = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"]).arg(at).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "mounting a small file system failed: this test needs root (scripts/test.sh runs as root)"
        );
        SmallDisk { at }
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(self.at).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.at).status();
    }
}

/// 48 hex digits that differ from record to record.
fn noise(seed: usize) -> String {
    let mut state = seed as u64 ^ 0x9e37_79b9_7f4a_7c15;
    (0..3)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            format!("{state:016x}")
        })
        .collect()
}

#[test]
fn a_full_disk_refuses_ingest_loses_nothing_acknowledged_and_recovers_after_a_restart() {
    let mount_point = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(mount_point.path(), "10m");
    let dir = mount_point.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let (admin, ingest, investigator) = (token(&dir, "administrator"), token(&dir, "ingest"), token(&dir, "investigator"));
    let server = Server::start(&dir);
    common::open_cases(&server);
    let client = server.client();
    let reply = client.json("PUT", "/v1/devices/lpr-1", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94}));
    assert_eq!(reply.status, 201);

    // Ingest until the disk is full: every batch is either acknowledged whole or refused.
    let mut acknowledged: Vec<String> = Vec::new();
    let refusal = (0..2_000)
        .find_map(|batch| {
            // Long ids that do not compress, so the disk fills before the store holds more reads
            // than one search returns.
            let ids: Vec<String> = (0..BATCH_RECORDS).map(|i| format!("f{batch}-{i:03}-{}", noise(batch * BATCH_RECORDS + i))).collect();
            let lines: Vec<String> = ids.iter().map(|id| read_line(id, "lpr-1", &format!("F{:05}", batch % 99_999))).collect();
            // A steady feed, not a burst, so segment flushes (every second) share the disk with
            // the WAL as it fills.
            std::thread::sleep(PACE);
            let reply = client.ndjson(&ingest, &lines);
            if reply.status == 200 {
                assert_eq!(reply.body["accepted"].as_u64(), Some(BATCH_RECORDS as u64), "{:?}", reply.body["errors"].get(0));
                acknowledged.extend(ids);
                None
            } else {
                Some(reply)
            }
        })
        .expect("the small disk filled up");
    assert!(!acknowledged.is_empty(), "some ingest was acknowledged before the disk filled");
    let manifest = glasshouse_store::segments::read_manifest(&dir.join("segments")).unwrap();
    assert!(manifest.is_some_and(|m| m.flushed_lsn > 0), "segments were flushed while the disk filled");
    // The server's trouble, not the client's: retry later. The refusal says what happened.
    assert_eq!(refusal.status, 503, "{:?}", refusal.body);
    let error = refusal.body["error"].as_str().unwrap_or_default();
    assert!(error.contains("not stored") && error.contains("until the server restarts"), "{error}");
    let again = client.ndjson(&ingest, &[read_line("while-stopped", "lpr-1", "STOP1")]);
    assert_eq!(again.status, 503, "later batches are refused too: {:?}", again.body);
    // Still up: health answers.
    assert_eq!(client.request("GET", "/healthz", None, &[], Vec::new()).status, 200);

    // A restart on the still-full disk either stops, saying why (opening the logs writes their
    // indexes' seals), or, where the stopped server's clean-up freed a little room, starts and
    // answers searches with every acknowledged record. Never a panic.
    server.stop();
    let mut full = Command::new(common::BINARY)
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = full.stdout.take().unwrap();
    let (first_line, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut text);
        let _ = first_line.send(text);
    });
    let line = line.recv_timeout(std::time::Duration::from_secs(120)).expect("the server on a full disk starts or stops");
    match line.trim().strip_prefix("glasshouse listening on ") {
        Some(base) => {
            let stored = stored_ids(&Client::new(base), &investigator);
            assert!(acknowledged.iter().all(|id| stored.contains_key(id)), "started on the full disk without every acknowledged record");
            let _ = Command::new("kill").arg("-TERM").arg(full.id().to_string()).status();
            full.wait().unwrap();
        }
        None => {
            let output = full.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success() && said.contains("No space left on device") && !said.contains("panicked"), "{said}");
        }
    }

    // Room again, and a restart: every acknowledged record is there once, and ingest works.
    disk.grow("256m");
    let server = Server::start(&dir);
    let client: Client = server.client();
    let stored = stored_ids(&client, &investigator);
    let missing = acknowledged.iter().filter(|id| !stored.contains_key(*id)).count();
    assert_eq!(missing, 0, "{missing} of {} acknowledged records lost", acknowledged.len());
    assert!(stored.values().all(|n| *n == 1), "a record stored twice");
    let after = client.ndjson(&ingest, &[read_line("after-the-restart", "lpr-1", "AFTER1")]);
    assert_eq!(after.status, 200, "{:?}", after.body);
    server.stop();
}
