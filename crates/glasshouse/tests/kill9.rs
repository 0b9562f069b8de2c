//! Durability under `kill -9`: every observation the server acknowledged is present exactly once
//! after a restart, whether it had reached a Parquet segment or only the WAL.

mod common;

use common::{Client, Server, read_line, stored_ids, token};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BATCH_RECORDS: usize = 200;
const WRITERS: usize = 3;

/// Ingests until the server dies; returns nothing, records acknowledged ids in `acked`.
fn writer(
    base: String,
    ingest: String,
    writer: usize,
    round: usize,
    acked: Arc<Mutex<Vec<String>>>,
    batches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let client = Client::new(&base);
    let mut batch = 0;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<String> = (0..BATCH_RECORDS).map(|i| format!("r{round}-w{writer}-b{batch}-{i}")).collect();
        let lines: Vec<String> = ids.iter().map(|id| read_line(id, "lpr-1", "KIL999")).collect();
        let mut body = lines.join("\n").into_bytes();
        body.push(b'\n');
        // A killed server shows up as a connection error: stop writing, keep what was acknowledged.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.request("POST", "/v1/observations", Some(&ingest), &[], body)));
        match result {
            Ok(reply) if reply.status == 200 => {
                assert_eq!(reply.body["accepted"].as_u64(), Some(BATCH_RECORDS as u64), "{:?}", reply.body);
                acked.lock().unwrap().extend(ids);
                batches.fetch_add(1, Ordering::Relaxed);
            }
            Ok(reply) if reply.status == 503 => std::thread::sleep(Duration::from_millis(50)),
            Ok(reply) => panic!("unexpected {}: {:?}", reply.status, reply.body),
            Err(_) => return,
        }
        batch += 1;
    }
}

#[test]
fn every_acknowledged_observation_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, ingest, investigator) =
        (token(dir.path(), "administrator"), token(dir.path(), "ingest"), token(dir.path(), "investigator"));
    let mut server = Server::start(dir.path());
    common::open_cases(&server);
    let reply = server.client().json("PUT", "/v1/devices/lpr-1", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94}));
    assert_eq!(reply.status, 201);
    let acked = Arc::new(Mutex::new(Vec::new()));
    // Two rounds: the first kill usually lands with records only in the WAL, the second after
    // flushes to segments (the flush interval is one second) with more records in flight.
    for (round, batches_before_kill) in [(0usize, 15usize), (1, 40)] {
        let batches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (base, ingest, acked, batches, stop) =
                    (server.base.clone(), ingest.clone(), acked.clone(), batches.clone(), stop.clone());
                std::thread::spawn(move || writer(base, ingest, w, round, acked, batches, stop))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while batches.load(Ordering::Relaxed) < batches_before_kill {
            assert!(Instant::now() < deadline, "ingest too slow");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Killed while the writers are still sending.
        server.kill_hard();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        server = Server::start(dir.path());
        let stored = stored_ids(&server.client(), &investigator);
        let acked = acked.lock().unwrap();
        let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains_key(*id)).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged records lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        let duplicated: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
        assert!(duplicated.is_empty(), "round {round}: stored more than once: {:?}", &duplicated[..duplicated.len().min(3)]);
        assert!(acked.len() >= batches_before_kill * BATCH_RECORDS);
    }
    server.stop();
}
