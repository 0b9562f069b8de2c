//! Runs the real `glasshouse` binary over a temporary data directory and talks to it over HTTP.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_glasshouse");

pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts `glasshouse serve` on a free port and waits until it listens.
    pub fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(BINARY)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--flush-interval-secs", "1"])
            .env("RUST_LOG", server_log_level())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn glasshouse serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let base =
            line.trim().strip_prefix("glasshouse listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
        Server { child, base, data_dir: data_dir.to_owned() }
    }

    /// Starts `glasshouse serve` with extra arguments; returns the server and the further stdout
    /// lines it printed at start (`extra_lines` of them).
    pub fn start_with(data_dir: &Path, extra: &[&str], extra_lines: usize) -> (Server, Vec<String>) {
        let mut child = Command::new(BINARY)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--flush-interval-secs", "1"])
            .args(extra)
            .env("RUST_LOG", server_log_level())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn glasshouse serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut lines = Vec::new();
        for _ in 0..=extra_lines {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read a start-up line");
            lines.push(line.trim().to_owned());
        }
        let base = lines.remove(0).strip_prefix("glasshouse listening on ").expect("the listening line").to_owned();
        (Server { child, base, data_dir: data_dir.to_owned() }, lines)
    }

    /// Stops gracefully and starts again on the same data directory with `extra` arguments.
    pub fn restart_with(&mut self, extra: &[&str]) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let (fresh, _) = Server::start_with(&self.data_dir, extra, 0);
        *self = fresh;
    }

    /// Stops gracefully (SIGTERM) and waits.
    pub fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill_hard(mut self) {
        let _ = Command::new("kill").arg("-9").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `glasshouse token create`, returning the token (the last line of output).
pub fn token(data_dir: &Path, role: &str) -> String {
    let output = Command::new(BINARY)
        .args(["token", "create", "--data-dir"])
        .arg(data_dir)
        .args(["--name", &format!("test-{role}"), "--role", role])
        .output()
        .expect("run token create");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().last().unwrap().trim().to_owned()
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into();
        Client { agent, base: base.to_owned() }
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut builder = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut response = self.agent.run(builder.body(body).unwrap()).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned())).collect();
        let text = response.body_mut().with_config().limit(256 << 20).read_to_string().unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers }
    }

    /// A GET whose body is bytes (an image): the status, the body and its Content-Type.
    pub fn get_bytes(&self, path: &str, token: &str) -> (u16, Vec<u8>, String) {
        let request = ureq::http::Request::builder().uri(format!("{}{path}", self.base)).header("Authorization", format!("Bearer {token}"));
        let mut response = self.agent.run(request.body(Vec::new()).unwrap()).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (response.status().as_u16(), response.body_mut().with_config().limit(16 << 20).read_to_vec().unwrap_or_default(), content_type)
    }

    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.request("GET", path, Some(token), &[], Vec::new())
    }

    pub fn json(&self, method: &str, path: &str, token: &str, body: Value) -> Reply {
        self.request(method, path, Some(token), &[("Content-Type", "application/json")], serde_json::to_vec(&body).unwrap())
    }

    pub fn ndjson(&self, token: &str, lines: &[String]) -> Reply {
        let mut body = lines.join("\n").into_bytes();
        body.push(b'\n');
        self.request("POST", "/v1/observations", Some(token), &[("Content-Type", "application/x-ndjson")], body)
    }
}

/// The cases the tests' searches name, opened by a supervisor as a deployment would (a search must
/// name a case the system knows). Opening them again is a 409, which is fine: they stay open.
pub const CASES: [(&str, &str); 3] = [
    ("HPD-2026-0001", "white van seen leaving the burglary"),
    ("HPD-2026-0042", "robbery of the harbour jewellery shop"),
    ("HPD-2026-0077", "child reported missing near the harbour"),
];

/// Opens [`CASES`] on `server`, as a supervisor.
pub fn open_cases(server: &Server) {
    let supervisor = token(&server.data_dir, "supervisor");
    let client = server.client();
    for (number, title) in CASES {
        let reply = client.json("POST", "/v1/cases", &supervisor, serde_json::json!({ "case_number": number, "title": title }));
        assert!(reply.status == 201 || reply.status == 409, "opening case {number}: {:?}", reply.body);
    }
}

/// The purpose fields every observation search must carry.
/// These tests search the whole store, a broad search, so they claim exigency too: it runs at once
/// (and opens a review no test closes), where a warrant would need registering with a bounded scope.
pub const PURPOSE: &str = "purpose=criminal_investigation&case_number=HPD-2026-0001&justification=tracing+the+white+van+seen+leaving+the+burglary&exigency_reference=CAD-2026-0001";

/// A plate read line for `device` with an explicit id.
pub fn read_line(id: &str, device: &str, plate: &str) -> String {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    format!(
        r#"{{"id":"{id}","kind":"plate_read","device_id":"{device}","observed_at":"{at}","plate":"{plate}","region":"FI","confidence":0.9}}"#
    )
}

/// Now plus `days` days (negative: ago) in RFC 3339: the server compares expiries and observation
/// times with its clock, so tests never hold an absolute date that would one day be in the past.
pub fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The servers' log level: `warn`, or `GLASSHOUSE_TEST_LOG` (e.g. `info`) to chase a failure.
fn server_log_level() -> String {
    std::env::var("GLASSHOUSE_TEST_LOG").unwrap_or_else(|_| "warn".into())
}

/// Waits (bounded, 15 s) until `check` holds.
pub fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_within(what, Duration::from_secs(15), check)
}

/// Waits until `check` holds, at most `bound`.
pub fn eventually_within(what: &str, bound: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + bound;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How often each plate read's id is stored, by one search of up to 50,000 (asserted whole).
pub fn stored_ids(client: &Client, investigator: &str) -> std::collections::HashMap<String, usize> {
    let reply = client.get(&format!("/v1/observations?kind=plate_read&limit=50000&{PURPOSE}"), investigator);
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["truncated"], false);
    let mut counts = std::collections::HashMap::new();
    for o in reply.body["observations"].as_array().unwrap() {
        *counts.entry(o["id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    counts
}
