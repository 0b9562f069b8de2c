//! The API and the console over TLS: served with a certificate from the test authority
//! (tests/fixtures/tls), trusted by a client that trusts that authority, refused by one that does
//! not, with HSTS on every answer; a key that does not load stops the start, naming the file.

mod common;

use common::{BINARY, Server, token};
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn agent(trust_test_authority: bool) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder();
    if trust_test_authority {
        let pem = std::fs::read(fixture("ca.pem")).unwrap();
        let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item.unwrap() {
                ureq::tls::PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certificates));
    }
    ureq::Agent::config_builder().http_status_as_error(false).tls_config(tls.build()).build().into()
}

#[test]
fn the_api_and_console_are_served_over_tls_to_clients_trusting_the_authority_only() {
    let dir = tempfile::tempdir().unwrap();
    let operator = token(dir.path(), "operator");
    let (cert, key) = (fixture("server.pem"), fixture("server.key"));
    let (server, _) = Server::start_with(dir.path(), &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()], 0);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);

    let trusted = agent(true);
    let mut health = trusted.get(format!("{}/healthz", server.base)).call().unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()), Some("max-age=31536000"));
    assert!(health.body_mut().read_to_string().unwrap().contains("ok"));
    let whoami = trusted.get(format!("{}/v1/whoami", server.base)).header("Authorization", format!("Bearer {operator}")).call().unwrap();
    assert_eq!(whoami.status(), 200);
    let console = trusted.get(format!("{}/", server.base)).call().unwrap();
    assert_eq!(console.status(), 200);
    assert!(console.headers().get("content-security-policy").is_some());

    let untrusting = agent(false).get(format!("{}/healthz", server.base)).call();
    assert!(untrusting.is_err(), "a client that does not trust the test authority must refuse the certificate");
    // curl offers h2 first: the server must settle on the one protocol it speaks.
    let curl = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--cacert"])
        .arg(fixture("ca.pem"))
        .arg(format!("{}/healthz", server.base))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "1.1 200");
    let plain = agent(false).get(server.base.replace("https://", "http://") + "/healthz").call();
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true), "plain http is not served on the TLS port");
    server.stop();
}

#[test]
fn a_key_that_does_not_load_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, not_a_key) = (fixture("server.pem"), fixture("ca.pem"));
    let out = Command::new(BINARY)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&not_a_key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ca.pem"), "{stderr}");
    let half = Command::new(BINARY).args(["serve", "--data-dir"]).arg(dir.path()).arg("--tls-cert").arg(&cert).output().unwrap();
    assert!(!half.status.success() && String::from_utf8_lossy(&half.stderr).contains("--tls-key"));
}
