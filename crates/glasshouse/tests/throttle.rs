//! Failed logons throttled by client address, through the real server behind a proxy that sets
//! `X-Forwarded-For`: five failures are free, the sixth closes the address (429 with Retry-After for
//! any token, valid or not), other addresses go on, the closure ends by itself and doubles with the
//! next failure, and the audit log records counts, never an address.

mod common;

use common::{Reply, Server, eventually, token};

const GUESSER: &str = "198.51.100.7";
const NEIGHBOUR: &str = "203.0.113.9";

fn whoami(server: &Server, token: &str, from: &str) -> Reply {
    server.client().request("GET", "/v1/whoami", Some(token), &[("X-Forwarded-For", from)], Vec::new())
}

fn retry_after(reply: &Reply) -> Option<u64> {
    reply.header("retry-after").and_then(|v| v.parse().ok())
}

#[test]
fn an_address_failing_past_its_free_tries_is_closed_for_longer_each_time_and_audited_as_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (operator, auditor) = (token(dir.path(), "operator"), token(dir.path(), "auditor"));
    let (server, _) = Server::start_with(dir.path(), &["--trust-forwarded-for"], 0);

    for _ in 0..6 {
        assert_eq!(whoami(&server, "not-a-token", GUESSER).status, 401);
    }
    let closed = whoami(&server, &operator, GUESSER);
    assert_eq!(
        (closed.status, closed.body["field"].as_str(), retry_after(&closed)),
        (429, Some("authorization"), Some(1)),
        "{:?}",
        closed.body
    );
    assert_eq!(whoami(&server, &operator, NEIGHBOUR).status, 200, "another address is not touched");
    eventually("the first closure ends by itself", || whoami(&server, &operator, GUESSER).status == 200);

    // The next failure closes the address for twice as long.
    assert_eq!(whoami(&server, "still-not-a-token", GUESSER).status, 401);
    assert_eq!(retry_after(&whoami(&server, &operator, GUESSER)), Some(2));

    eventually("the aggregate is in the audit log", || {
        let entries = server.client().get("/v1/audit/entries?from=0&limit=1000", &auditor);
        let texts: Vec<String> =
            entries.body["entries"].as_array().unwrap().iter().map(|e| e["entry"].as_str().unwrap().to_owned()).collect();
        assert!(texts.iter().all(|t| !t.contains(GUESSER) && !t.contains("not-a-token")), "counts only");
        let logged: Vec<serde_json::Value> = texts
            .iter()
            .map(|t| serde_json::from_str::<serde_json::Value>(t).unwrap())
            .filter(|e| e["action"] == "account.logon_failed")
            .collect();
        let total = |field: &str| logged.iter().map(|e| e["details"][field].as_u64().unwrap_or(0)).sum::<u64>();
        total("requests") == 7 && total("addresses_closed") == 2 && total("refused_while_closed") >= 2
    });
    server.stop();
}
