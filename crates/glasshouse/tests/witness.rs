//! Witnesses, end to end: `glasshouse witness` cosigns the server's audit checkpoints as the log
//! grows; the verifier requires k of n witnesses; an operator who rewrites an entry after the witness
//! cosigned cannot get the fork cosigned, and a checkpoint without cosignatures is rejected.

mod common;

use common::{BINARY, Client, Server, eventually, token};
use glasshouse_audit::merkle::{Tree, leaf_hash};
use glasshouse_audit::note::{Checkpoint, NoteSigner};
use glasshouse_audit::witness::request_body;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `glasshouse witness serve`: its URL and verifier key.
struct WitnessProcess {
    child: Child,
    url: String,
    key: String,
}

impl WitnessProcess {
    fn start(state_dir: &Path, log_key: &str) -> WitnessProcess {
        let mut child = Command::new(BINARY)
            .args(["witness", "serve", "--state-dir"])
            .arg(state_dir)
            .args(["--name", "witness.test/w1", "--listen", "127.0.0.1:0", "--log-key", log_key])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn glasshouse witness");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("glasshouse witness listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
        let mut key = String::new();
        stdout.read_line(&mut key).unwrap();
        WitnessProcess { child, url, key: key.trim().to_owned() }
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str]) -> (bool, String) {
    let output = Command::new(BINARY).args(args).output().unwrap();
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn a_witness_cosigns_the_growing_log_refuses_a_fork_and_the_verifier_requires_its_cosignature() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (admin, auditor) = (token(&data, "administrator"), token(&data, "auditor"));
    let (ok, log_key) = cli(&["audit", "key", "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{log_key}");
    let log_key = log_key.trim().to_owned();
    let witness = WitnessProcess::start(&dir.path().join("witness"), &log_key);
    let (key_again_ok, key_again) = cli(&["witness", "key", "--state-dir", dir.path().join("witness").to_str().unwrap()]);
    assert!(key_again_ok && key_again.trim() == witness.key, "the key is kept: {key_again}");

    let address = format!("{}@{}", witness.key, witness.url);
    let (server, _) = Server::start_with(&data, &["--witness", &address, "--witness-interval-secs", "1"], 0);
    let client = server.client();
    for name in ["stolen", "amber"] {
        let made = client.json("POST", "/v1/hotlists", &admin, json!({"name": name, "source": "local", "match": "exact"}));
        assert_eq!(made.status, 201, "{:?}", made.body);
    }
    let size_then = client.get("/v1/audit/checkpoint", &auditor).body["size"].as_u64().unwrap();
    let mut cosigned = Value::Null;
    eventually("the witness cosigns the log as it grew", || {
        cosigned = client.get("/v1/audit/checkpoint", &auditor).body;
        cosigned["cosigned"]["size"].as_u64().is_some_and(|s| s >= size_then)
    });
    assert_eq!(cosigned["cosigned"]["witnesses"], json!(["witness.test/w1"]));
    assert_eq!(cosigned["witnesses"][0]["last_refusal"], Value::Null, "{cosigned}");
    let report = client.get("/v1/reports?format=json", &auditor).body;
    assert_eq!(report["checkpoint"]["witnesses"][0]["name"], "witness.test/w1", "the report shows the witness");

    // The auditor requires the witness: the live log passes; requiring a second, silent witness fails.
    let base = server.base.clone();
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--url", &base, "--token", &auditor, "--key", &log_key];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let (passed, out) = verify(&["--witness", &witness.key]);
    assert!(passed && out.contains("by 1 of 1 witnesses: witness.test/w1"), "{out}");
    let silent = glasshouse_audit::cosignature::Cosigner::new("witness.test/silent", &[9u8; 32]).verifier_key();
    let (passed, out) = verify(&["--witness", &witness.key, "--witness", &silent]);
    assert!(!passed && out.contains("PROBLEM: witnesses: checkpoint of size") && out.contains("1 of the 2"), "{out}");
    let (passed, out) = verify(&["--witness", &witness.key, "--witness", &silent, "--witnesses-required", "1"]);
    assert!(passed, "one of two is enough when one is required: {out}");
    server.stop();

    // The operator, holding the log's key, rewrites entry 1 and grows the rewritten log by one entry.
    let head: Value = serde_json::from_slice(&std::fs::read(dir.path().join("witness/witness-state.json")).unwrap()).unwrap();
    let (origin, head) = head.as_object().unwrap().iter().next().unwrap();
    let witnessed_size = head["size"].as_u64().unwrap();
    let log = glasshouse_audit::AuditLog::open(&data.join("audit"), &data.join("audit-keys")).unwrap();
    let mut entries = log.entries(0, witnessed_size as usize).unwrap();
    drop(log);
    let original = String::from_utf8(entries[1].clone()).unwrap();
    assert!(original.contains("\"actor\":\""), "{original}");
    entries[1] = original.replacen("\"actor\":\"", "\"actor\":\"someone-else-", 1).into_bytes();
    entries.push(br#"{"seq":999,"action":"forged"}"#.to_vec());
    let mut fork = Tree::new();
    for entry in &entries {
        fork.push(leaf_hash(entry));
    }
    let keys: Value = serde_json::from_slice(&std::fs::read(data.join("audit-keys/signing.json")).unwrap()).unwrap();
    let seed: [u8; 32] = hex::decode(keys["ed25519_seed_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    let signer = NoteSigner::new(origin.clone(), &seed);
    let size = fork.size();
    let forked_note = signer.sign(&Checkpoint { origin: origin.clone(), size, root: fork.root(size) });
    let proof = fork.consistency_proof(witnessed_size, size).unwrap();
    let witness_client = Client::new(&witness.url);
    let post = |body: String| witness_client.request("POST", "/add-checkpoint", None, &[("Content-Type", "text/plain")], body.into_bytes());
    let refused = post(request_body(witnessed_size, &proof, &forked_note));
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert!(refused.body.as_str().unwrap().contains("does not extend what it showed before"), "it says why: {:?}", refused.body);
    let stale = post(request_body(0, &[], &forked_note));
    assert_eq!((stale.status, stale.header("content-type")), (409, Some("text/x.tlog.size")));
    assert_eq!(stale.body, json!(witnessed_size), "a stale size is answered with the witness's own");

    // The fork's checkpoint carries no cosignature, so an auditor who requires one rejects it.
    let forked = dir.path().join("forked.checkpoint");
    std::fs::write(&forked, &forked_note).unwrap();
    let export = dir.path().join("forged-export.ndjson");
    let mut lines: Vec<String> = entries.iter().map(|e| String::from_utf8_lossy(e).into_owned()).collect();
    lines.push(json!({ "checkpoint": forked_note }).to_string());
    std::fs::write(&export, lines.join("\n")).unwrap();
    let (passed, out) = cli(&[
        "audit",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--key",
        &log_key,
        "--checkpoint",
        forked.to_str().unwrap(),
        "--witness",
        &witness.key,
    ]);
    assert!(!passed && out.contains("carries 0 of the 1 witness cosignatures required"), "{out}");
}
