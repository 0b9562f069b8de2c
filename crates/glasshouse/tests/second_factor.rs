//! The TOTP second factor end to end: an enrolled account's token opens nothing by itself, a token
//! and a current code open a session that follows the account, codes are single-use, guessing is
//! locked out, and every step is in the audit log.

mod common;

use common::{BINARY, Server, token};
use serde_json::json;

fn cli(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new(BINARY).args(args).arg("--data-dir").arg(data_dir).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().last().unwrap_or_default().trim().to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn an_enrolled_account_signs_in_with_a_code_and_its_session_follows_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let (investigator, auditor) = (token(dir.path(), "investigator"), token(dir.path(), "auditor"));
    let server = Server::start(dir.path());
    let client = server.client();
    assert_eq!(client.get("/v1/whoami", &investigator).status, 200, "before enrolment the token works alone");

    let uri = cli(dir.path(), &["token", "totp", "--name", "test-investigator"]);
    let authenticator = totp_rs::Totp::from_url(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(authenticator.account_name(), "test-investigator");
    let refused = client.get("/v1/whoami", &investigator);
    assert_eq!(refused.status, 401, "an enrolled account's token opens nothing alone: {:?}", refused.body);
    assert_eq!(refused.body["field"], "code");
    let token_file = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
    assert!(!token_file.contains(authenticator.secret().to_base32().as_str()), "the TOTP secret stays out of the token file");

    let open = |token: &str, code: &str| client.json("POST", "/v1/sessions", token, json!({ "code": code }));
    let wrong = format!("{:06}", (authenticator.generate(now()).to_string().parse::<u32>().unwrap() + 1) % 1_000_000);
    let reply = open(&investigator, &wrong);
    assert_eq!((reply.status, reply.body["field"].as_str()), (401, Some("code")), "{:?}", reply.body);
    assert_eq!(open(&auditor, "123456").status, 400, "an account without a second factor has nothing to open");
    assert_eq!(open("gh_forged", "123456").status, 401);

    let code = authenticator.generate(now()).to_string();
    let reply = open(&investigator, &code);
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let session = reply.body["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("ghs_"));
    assert_eq!(reply.body["account"], json!({"name": "test-investigator", "role": "investigator"}));
    assert_eq!(client.get("/v1/whoami", &session).body["role"], "investigator");
    let reused = open(&investigator, &code);
    assert_eq!(reused.status, 401, "a code opens one session");
    assert!(reused.body["error"].as_str().unwrap().contains("already used"), "{:?}", reused.body);

    // The session follows its account: a role change applies to it at once.
    cli(dir.path(), &["token", "role", "--name", "test-investigator", "--role", "analyst"]);
    assert_eq!(client.get("/v1/whoami", &session).body["role"], "analyst");
    assert_eq!(client.request("DELETE", "/v1/sessions/current", Some(&session), &[], Vec::new()).status, 204);
    assert_eq!(client.get("/v1/whoami", &session).status, 401, "signed out");
    assert_eq!(client.request("DELETE", "/v1/sessions/current", Some(&auditor), &[], Vec::new()).status, 400);

    // Guessing: after five wrong codes even the right one waits, with Retry-After.
    for _ in 0..5 {
        assert_eq!(open(&investigator, &wrong).status, 401);
    }
    let locked = open(&investigator, &authenticator.generate(now() + 30).to_string());
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    assert!(locked.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);

    let entries = client.get("/v1/audit/entries?limit=1000", &auditor).body["entries"].as_array().unwrap().clone();
    let actions: Vec<serde_json::Value> = entries.iter().map(|e| serde_json::from_str(e["entry"].as_str().unwrap()).unwrap()).collect();
    let count = |action: &str| actions.iter().filter(|e| e["action"] == action).count();
    assert!(actions.iter().any(|e| e["action"] == "account.logon" && e["details"]["second_factor"] == "totp"), "{actions:?}");
    assert_eq!(count("account.second_factor_refused"), 7, "one wrong code, one reused and five guesses");
    assert_eq!(count("account.session_ended"), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count_now(&client, &auditor, "account.second_factor_enrolled") == 0 {
        assert!(std::time::Instant::now() < deadline, "the enrolment never reached the audit log");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let report = client.get("/v1/reports?format=json", &auditor);
    assert_eq!(report.status, 200);
    assert!(report.body["access"]["analyst"].to_string().contains("test-investigator (TOTP)"), "{}", report.body["access"]);
    server.stop();
}

fn count_now(client: &common::Client, auditor: &str, action: &str) -> usize {
    let entries = client.get("/v1/audit/entries?limit=1000", auditor).body["entries"].as_array().unwrap().clone();
    entries.iter().filter(|e| e["entry"].as_str().unwrap().contains(&format!("\"action\":\"{action}\""))).count()
}
