//! Backup under ingest and restore: every record acknowledged before the backup began is in the
//! restored node exactly once, and its audit log verifies against the key and a checkpoint the
//! auditor kept from the original node.

mod common;

use common::{BINARY, Client, PURPOSE, Server, eventually, read_line, stored_ids, token};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BATCH_RECORDS: usize = 50;
const WRITERS: usize = 2;
/// Between a writer's batches: a steady load that goes on through the backup, while the restored
/// node's one search (up to 50,000 records) can still list all it holds.
const PAUSE: Duration = Duration::from_millis(10);

struct Ingest {
    acked: Arc<Mutex<Vec<String>>>,
    batches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

fn start_ingest(base: &str, token: &str) -> Ingest {
    let (acked, batches, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let writers = (0..WRITERS)
        .map(|w| {
            let (base, token, acked, batches, stop) = (base.to_owned(), token.to_owned(), acked.clone(), batches.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = Client::new(&base);
                let mut batch = 0;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> = (0..BATCH_RECORDS).map(|i| format!("w{w}-b{batch}-{i}")).collect();
                    let lines: Vec<String> = ids.iter().map(|id| read_line(id, "lpr-1", "BAK123")).collect();
                    let reply = client.ndjson(&token, &lines);
                    match reply.status {
                        200 => {
                            acked.lock().unwrap().extend(ids);
                            batches.fetch_add(1, Ordering::Relaxed);
                            batch += 1;
                            std::thread::sleep(PAUSE);
                        }
                        503 => std::thread::sleep(Duration::from_millis(20)),
                        status => panic!("unexpected {status}: {:?}", reply.body),
                    }
                }
            })
        })
        .collect();
    Ingest { acked, batches, stop, writers }
}

fn glasshouse(args: &[&str], paths: &[&Path]) -> (bool, String) {
    let mut command = Command::new(BINARY);
    command.args(args);
    for path in paths {
        command.arg(path);
    }
    let output = command.output().expect("run glasshouse");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn a_backup_taken_under_ingest_restores_every_acknowledged_record_and_an_audit_log_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (admin, ingest, investigator, auditor) =
        (token(&data, "administrator"), token(&data, "ingest"), token(&data, "investigator"), token(&data, "auditor"));
    let server = Server::start(&data);
    common::open_cases(&server);
    let client = server.client();
    let reply = client.json("PUT", "/v1/devices/lpr-1", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94}));
    assert_eq!(reply.status, 201);
    // An investigation before the backup, so the audit log holds more than start-up entries.
    assert_eq!(client.get(&format!("/v1/observations?kind=plate_read&limit=10&{PURPOSE}"), &investigator).status, 200);

    let load = start_ingest(&server.base, &ingest);
    // Some records in segments (the test server flushes every second), some only in the WAL.
    eventually("a flush to segments under ingest", || {
        data.join("segments/manifest.json").exists() && load.batches.load(Ordering::Relaxed) >= 20
    });
    let checkpoint = client.get("/v1/audit/checkpoint", &auditor);
    assert_eq!(checkpoint.status, 200);
    let kept_note = dir.path().join("kept.checkpoint");
    std::fs::write(&kept_note, checkpoint.body["note"].as_str().unwrap()).unwrap();
    let (ok, key) = glasshouse(&["audit", "key", "--data-dir"], &[&data]);
    assert!(ok, "{key}");
    let key = key.trim().to_owned();

    let acked_before: Vec<String> = load.acked.lock().unwrap().clone();
    let batches_before = load.batches.load(Ordering::Relaxed);
    let archive = dir.path().join("node.backup");
    let (ok, said) = glasshouse(&["backup", "--data-dir"], &[&data, Path::new("--out"), &archive]);
    assert!(ok, "backup failed: {said}");
    assert!(said.contains("backed up"), "{said}");
    let backup_during_ingest = load.batches.load(Ordering::Relaxed) > batches_before;
    load.stop.store(true, Ordering::Relaxed);
    for writer in load.writers {
        writer.join().unwrap();
    }
    assert!(backup_during_ingest, "ingest went on while the backup ran");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the archive holds personal data and keys");
    }
    // The backup is in the original node's audit log, naming the very file.
    let archive_sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&archive).unwrap()))
    };
    let logged_entry = |client: &Client, action: &str| {
        let (status, export, _) = client.get_bytes("/v1/audit/export", &auditor);
        assert_eq!(status, 200);
        let export = String::from_utf8(export).unwrap();
        export.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|e| e["action"] == action)
    };
    eventually("the backup logged by the running server", || logged_entry(&client, "data.backed_up").is_some());
    let entry = logged_entry(&client, "data.backed_up").unwrap();
    assert_eq!(entry["details"]["archive_sha256"], archive_sha256.as_str(), "{entry}");
    assert_eq!(entry["role"], "host", "{entry}");
    server.stop();

    let restored = dir.path().join("restored");
    let (ok, said) = glasshouse(&["restore", "--from"], &[&archive, Path::new("--data-dir"), &restored]);
    assert!(ok, "restore failed: {said}");
    assert!(said.contains("audit log verified") && said.contains(&key), "{said}");
    let (ok, said) = glasshouse(&["restore", "--from"], &[&archive, Path::new("--data-dir"), &restored]);
    assert!(!ok && said.contains("is not empty"), "a restore never writes over a data directory: {said}");

    let server = Server::start(&restored);
    let client = server.client();
    let stored = stored_ids(&client, &investigator);
    let missing: Vec<&String> = acked_before.iter().filter(|id| !stored.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} records acknowledged before the backup are missing, e.g. {:?}",
        missing.len(),
        acked_before.len(),
        &missing[..missing.len().min(3)]
    );
    let repeated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "stored more than once: {:?}", &repeated[..repeated.len().min(3)]);

    let entry = logged_entry(&client, "data.restored").expect("the restore is in the restored log");
    assert_eq!(entry["details"]["archive_sha256"], archive_sha256.as_str(), "{entry}");
    assert!(logged_entry(&client, "data.backed_up").is_none(), "a backup cannot hold its own entry");
    let (status, export, _) = client.get_bytes("/v1/audit/export", &auditor);
    assert_eq!(status, 200);
    let export_path = dir.path().join("restored-audit.ndjson");
    std::fs::write(&export_path, export).unwrap();
    let (ok, said) = glasshouse(&["audit", "verify", "--key", &key, "--export"], &[&export_path, Path::new("--checkpoint"), &kept_note]);
    assert!(ok && said.contains("ok: the log is intact"), "{said}");
    server.stop();
}
