//! The command line: `sim --out` is deterministic, `ingest` loads what `sim` writes, and the real
//! Toronto incidents load with the documented outcome.

mod common;

use common::{BINARY, Server, token};
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let output = Command::new(BINARY).args(args).env("RUST_LOG", "warn").output().expect("run glasshouse");
    assert!(output.status.success(), "glasshouse {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn status(data_dir: &Path) -> serde_json::Value {
    let analyst = token(data_dir, "analyst");
    let server = Server::start(data_dir);
    let reply = server.client().get("/v1/status", &analyst);
    server.stop();
    reply.body
}

#[test]
fn sim_output_is_deterministic_and_ingests_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    for out in [&a, &b] {
        run(&[
            "sim",
            "--city",
            "grid:10x10",
            "--vehicles",
            "150",
            "--readers",
            "15",
            "--duration-mins",
            "30",
            "--seed",
            "11",
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let (first, second) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(first, second, "the same seed must give the same file");
    let lines = first.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count();
    assert!(lines > 100, "{lines} lines");

    let data = dir.path().join("data");
    let devices = format!("{}.devices.json", a.display());
    let summary = run(&["ingest", a.to_str().unwrap(), "--devices", &devices, "--data-dir", data.to_str().unwrap()]);
    assert!(summary.contains(&format!("{lines} accepted (0 already present), 0 rejected")), "{summary}");
    // Loading the same file again is idempotent.
    let again = run(&["ingest", a.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    assert!(again.contains(&format!("{lines} accepted ({lines} already present)")), "{again}");
    assert_eq!(status(&data)["stored_observations"], lines as u64);
}

#[test]
fn the_toronto_incidents_load_with_their_documented_rejections() {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/toronto/mci-incidents.csv");
    if !csv.exists() {
        eprintln!("skipping: {} is absent", csv.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = run(&["ingest", csv.to_str().unwrap(), "--format", "toronto-mci", "--data-dir", dir.path().to_str().unwrap()]);
    // 210,992 rows; 42 are dated before 1996 (older than the 30-year limit) and are refused by line.
    assert!(summary.contains("210950 accepted (0 already present), 42 rejected"), "{summary}");
    assert!(summary.contains("is more than 30 years old"), "{summary}");
    let letters = std::fs::read_to_string(dir.path().join("dead_letter.ndjson")).unwrap();
    assert_eq!(letters.lines().count(), 42);
    assert_eq!(status(dir.path())["stored_observations"], 210_950);
}
