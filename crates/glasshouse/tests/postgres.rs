//! Analysts' SQL over the Postgres wire protocol, with the real `psql` client and with
//! tokio-postgres: an analyst token is the password, only aggregates come back, and every query is
//! in the audit log.

mod common;

use common::{Server, token};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

struct Setup {
    server: Server,
    port: u16,
    analyst: String,
    operator: String,
    auditor: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let [admin, ingest, analyst, operator, auditor] =
        ["administrator", "ingest", "analyst", "operator", "auditor"].map(|r| token(dir.path(), r));
    let (server, lines) = Server::start_with(dir.path(), &["--pg-listen", "127.0.0.1:0"], 1);
    let port: u16 = lines[0].rsplit(':').next().unwrap().parse().unwrap();
    let client = server.client();
    for (id, lat) in [("lpr-1", 60.17), ("lpr-2", 60.18)] {
        assert_eq!(
            client.json("PUT", &format!("/v1/devices/{id}"), &admin, json!({"type": "plate_reader", "lat": lat, "lon": 24.94})).status,
            201
        );
    }
    let now = chrono::Utc::now();
    let lines: Vec<String> = (0..30)
        .map(|n| {
            let at = (now - chrono::Duration::minutes(n)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            json!({"id": format!("r{n}"), "kind": "plate_read", "device_id": if n % 3 == 0 { "lpr-1" } else { "lpr-2" }, "observed_at": at, "plate": format!("PG{n:04}")}).to_string()
        })
        .collect();
    assert_eq!(client.ndjson(&ingest, &lines).body["accepted"], 30);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until all 30 are in segments (the hot window may not have received them yet when ingest answers).
    while client.get("/v1/status", &auditor).body["stored_observations"] != 30 {
        assert!(Instant::now() < deadline, "no flush");
        std::thread::sleep(Duration::from_millis(200));
    }
    Setup { server, port, analyst, operator, auditor, _dir: dir }
}

fn psql(port: u16, password: &str, sql: &str) -> (bool, String) {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "analyst", "-d", "glasshouse", "-X", "-A", "-t", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is installed (postgresql-client)");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn psql_counts_with_an_analyst_token_and_gets_no_rows_or_plates() {
    let s = setup();
    assert_eq!(psql(s.port, &s.analyst, "select count(*) from plate_reads"), (true, "30\n".to_string()));
    let (ok, out) = psql(s.port, &s.analyst, "select device_id, count(*) from plate_reads group by device_id order by device_id");
    assert!(ok, "{out}");
    assert_eq!(out, "lpr-1|10\nlpr-2|20\n");
    // Vehicles are counted through the keyed plate hash, and it serves for nothing else.
    assert_eq!(psql(s.port, &s.analyst, "select count(distinct plate_key) from plate_reads"), (true, "30\n".to_string()));
    let (ok, out) = psql(s.port, &s.analyst, "select plate_key, count(*) from plate_reads group by 1");
    assert!(!ok && out.contains("can only be counted"), "{out}");
    let (ok, out) = psql(s.port, &s.analyst, "select * from plate_reads");
    assert!(!ok && out.contains("can only be aggregated"), "{out}");
    let (ok, out) = psql(s.port, &s.analyst, "select count(distinct plate) from plate_reads");
    assert!(!ok, "{out}");
    let (ok, out) = psql(s.port, &s.analyst, "create table copy as select 1");
    assert!(!ok && out.contains("read-only"), "{out}");
    let (ok, out) = psql(s.port, &s.operator, "select count(*) from plate_reads");
    assert!(!ok && out.contains("authentication failed"), "operators may not use SQL: {out}");
    let (ok, out) = psql(s.port, "gh_not_a_token", "select 1");
    assert!(!ok, "{out}");
    // The schema is discoverable, as clients expect.
    let (ok, out) = psql(s.port, &s.analyst, "select table_name from information_schema.tables where table_name = 'plate_reads'");
    assert!(ok && out.contains("plate_reads"), "{out}");

    // Every query ran after its audit entry; refusals never reached the log as queries.
    let export = s.server.client().request("GET", "/v1/audit/export", Some(&s.auditor), &[], vec![]);
    let text = match &export.body {
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    let queries: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with("{\"seq\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "sql.query")
        .collect();
    assert_eq!(queries.len(), 4, "three aggregates and the catalog query: {queries:?}");
    assert!(queries.iter().all(|q| q["details"]["via"] == "postgres" && q["actor"] == "test-analyst"));
    assert_eq!(queries[0]["details"]["tables"], json!(["plate_reads"]));
}

#[test]
fn tokio_postgres_runs_aggregates_over_the_extended_protocol() {
    let s = setup();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let config = format!("host=127.0.0.1 port={} user=analyst password={} dbname=glasshouse", s.port, s.analyst);
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("connect with an analyst token");
        tokio::spawn(connection);
        let rows = client.query("select count(*) as n from plate_reads where device_id = 'lpr-2'", &[]).await.unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 20);
        let simple = client.simple_query("select count(*) from plate_reads").await.unwrap();
        let count = simple.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        });
        assert_eq!(count.as_deref(), Some("30"));
        let refused = client.query("select device_id from plate_reads", &[]).await;
        assert!(refused.is_err(), "row-level output is refused over the extended protocol too");
        let wrong = format!("host=127.0.0.1 port={} user=analyst password={} dbname=glasshouse", s.port, s.operator);
        assert!(tokio_postgres::connect(&wrong, tokio_postgres::NoTls).await.is_err());
    });
}

#[test]
fn psql_verifies_the_servers_certificate_and_runs_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let analyst = token(dir.path(), "analyst");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key, ca) = (fixtures.join("server.pem"), fixtures.join("server.key"), fixtures.join("ca.pem"));
    let args = ["--pg-listen", "127.0.0.1:0", "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let (server, lines) = Server::start_with(dir.path(), &args, 1);
    let port: u16 = lines[0].rsplit(':').next().unwrap().parse().unwrap();
    let connect = |root: &std::path::Path, sql: &str| {
        let target =
            format!("host=127.0.0.1 port={port} user=analyst dbname=glasshouse sslmode=verify-full sslrootcert={}", root.display());
        let output = Command::new("psql")
            .args([target.as_str(), "-X", "-A", "-t", "-c", sql])
            .env("PGPASSWORD", &analyst)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql is installed (postgresql-client)");
        (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    };
    // verify-full connects only over TLS, to a certificate the authority signed for 127.0.0.1.
    assert_eq!(connect(&ca, "select 1"), (true, "1\n".to_string()));
    let (ok, out) = connect(&cert, "select 1");
    assert!(!ok && out.contains("certificate"), "an authority that did not sign the certificate is refused: {out}");
    server.stop();
}
