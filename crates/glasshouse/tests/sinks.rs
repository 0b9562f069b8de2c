//! Alerts delivered outside, through the real server: a webhook that is down and then recovers gets
//! every alert exactly once (by idempotency key) with a valid signature; NATS (core and JetStream)
//! and MQTT receive them from the brokers running on this machine; a WebSocket client gets them live.

mod common;

use common::{Server, token};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "webhook-secret-for-tests-0001";

struct City {
    server: Server,
    admin: String,
    ingest: String,
    supervisor: String,
    _dir: tempfile::TempDir,
}

/// A server with one gunshot sensor, delivering to the sinks in `sinks` (a sinks file's array).
fn city(sinks: Value) -> City {
    let dir = tempfile::tempdir().unwrap();
    let (admin, ingest, supervisor) = (token(dir.path(), "administrator"), token(dir.path(), "ingest"), token(dir.path(), "supervisor"));
    let file = dir.path().join("sinks.json");
    std::fs::write(&file, json!({ "sinks": sinks }).to_string()).unwrap();
    let (server, _) = Server::start_with(dir.path(), &["--sinks", file.to_str().unwrap()], 0);
    let reply =
        server.client().json("PUT", "/v1/devices/shots-1", &admin, json!({"type": "gunshot_array", "lat": 60.1701, "lon": 24.9402}));
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    City { server, admin, ingest, supervisor, _dir: dir }
}

/// Raises `n` situation alerts (one per gunshot) and returns their ids, oldest first.
fn raise(city: &City, tag: &str, n: usize) -> Vec<String> {
    let client = city.server.client();
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let at = (chrono::Utc::now() - chrono::Duration::seconds(60 - i as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            json!({"id": format!("{tag}-{i}"), "kind": "gunshot", "device_id": "shots-1", "observed_at": at, "rounds": 2}).to_string()
        })
        .collect();
    assert_eq!(client.ndjson(&city.ingest, &lines).body["accepted"], n);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alerts = client.get("/v1/alerts", &city.supervisor).body["alerts"].as_array().unwrap().clone();
        let mut raised: Vec<(String, String)> = alerts
            .iter()
            .filter(|a| a["observation_id"].as_str().unwrap().starts_with(tag))
            .map(|a| (a["observation_id"].as_str().unwrap().to_owned(), a["id"].as_str().unwrap().to_owned()))
            .collect();
        if raised.len() == n {
            raised.sort();
            return raised.into_iter().map(|(_, id)| id).collect();
        }
        assert!(Instant::now() < deadline, "{n} alerts were not raised");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sink_status(city: &City, name: &str) -> Value {
    let reply = city.server.client().get("/v1/sinks", &city.supervisor);
    assert_eq!(reply.status, 200);
    reply.body["sinks"].as_array().unwrap().iter().find(|s| s["name"] == name).cloned().expect("the sink is listed")
}

/// What the webhook receiver saw: every request, and whether it answered 200.
#[derive(Default)]
struct Received {
    attempts: usize,
    accepted: Vec<(String, String, Vec<u8>)>,
}

/// Answers 503 until `recover_at`, then 200, recording each request's key, signature and body.
fn receiver(listener: TcpListener, recover_at: Instant, seen: Arc<Mutex<Received>>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            handle(stream, recover_at, &seen);
        }
    });
}

/// One HTTP request's headers (names lowercased) and body; `None` if the connection failed first.
fn read_request(reader: &mut impl BufRead) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(": ") else { break };
        headers.insert(name.to_ascii_lowercase(), value.to_owned());
    }
    let mut body = vec![0; headers.get("content-length")?.parse().ok()?];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

fn handle(mut stream: TcpStream, recover_at: Instant, seen: &Mutex<Received>) {
    let (headers, body) = read_request(&mut BufReader::new(stream.try_clone().unwrap())).expect("a whole request");
    let up = Instant::now() >= recover_at;
    {
        let mut seen = seen.lock().unwrap();
        seen.attempts += 1;
        if up {
            seen.accepted.push((headers["idempotency-key"].clone(), headers["x-glasshouse-signature"].clone(), body));
        }
    }
    let status = if up { "200 OK" } else { "503 Service Unavailable" };
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

#[test]
fn a_webhook_outage_then_recovery_delivers_every_alert_once_and_signed() {
    // Down in two ways: first nothing listens (connection refused), then it answers 503.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let city = city(json!([{
        "name": "cad",
        "webhook": {"url": format!("http://127.0.0.1:{port}/alerts"), "secret": SECRET},
        "retry": {"initial_ms": 100, "max_ms": 400, "give_up_after_s": 600}
    }]));
    let ids = raise(&city, "shot", 3);
    std::thread::sleep(Duration::from_millis(800));
    let refused = sink_status(&city, "cad");
    assert_eq!(refused["delivered"], 0);
    assert!(refused["failed_attempts"].as_u64().unwrap() >= 2, "{refused}");
    assert_eq!(refused["pending"], 3);
    let seen = Arc::new(Mutex::new(Received::default()));
    receiver(TcpListener::bind(("127.0.0.1", port)).unwrap(), Instant::now() + Duration::from_millis(800), seen.clone());

    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().accepted.len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = seen.lock().unwrap();
    assert!(seen.attempts > seen.accepted.len(), "the 503 phase was exercised: {} attempts", seen.attempts);
    let keys: Vec<&str> = seen.accepted.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ids.iter().map(String::as_str).collect::<Vec<_>>(), "each alert accepted once, in the order raised");
    for (key, signature, body) in &seen.accepted {
        let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        assert_eq!(hex::encode(mac.finalize().into_bytes()), v1, "signature of {key}");
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!((event["type"].as_str(), event["alert"]["id"].as_str()), (Some("alert.raised"), Some(key.as_str())));
    }
    let status = sink_status(&city, "cad");
    assert_eq!((status["delivered"].as_u64(), status["pending"].as_u64(), status["dead_lettered"].as_u64()), (Some(3), Some(0), Some(0)));
    assert_eq!(status["target"], format!("webhook http://127.0.0.1:{port}/alerts"));
    assert!(!status.to_string().contains(SECRET), "no secret in the status");
    // The transparency report's summary names where alerts go, from the running sinks.
    let report = city.server.client().get("/v1/reports?format=json", &city.supervisor);
    assert_eq!(report.status, 200);
    let text = report.body.to_string();
    assert!(text.contains(&format!("cad (webhook http://127.0.0.1:{port}/alerts, deployment file, 3 delivered)")), "{text}");
    assert!(!text.contains(SECRET));
}

#[test]
fn nats_core_and_jetstream_sinks_publish_each_alert_with_its_id() {
    let prefix = format!("gh-test-{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (client, mut subscriber) = runtime.block_on(async {
        let client = async_nats::connect("127.0.0.1:4222").await.expect("NATS runs on this machine (scripts/test.sh starts it)");
        let subscriber = client.subscribe(format!("{prefix}.core.>")).await.unwrap();
        client.flush().await.unwrap();
        (client, subscriber)
    });
    let stream_name = format!("{prefix}-stream");
    runtime.block_on(async {
        let jetstream = async_nats::jetstream::new(client.clone());
        let _ = jetstream.delete_stream(&stream_name).await;
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: stream_name.clone(),
                subjects: vec![format!("{prefix}.js.>")],
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let city = city(json!([
        {"name": "ops", "nats": {"url": "127.0.0.1:4222", "subject": format!("{prefix}.core")}},
        {"name": "archive", "nats": {"url": "127.0.0.1:4222", "subject": format!("{prefix}.js"), "jetstream": true}}
    ]));
    let ids = raise(&city, "shot", 2);
    let received = runtime.block_on(async {
        use futures_util::StreamExt;
        let mut got = Vec::new();
        while got.len() < 2 {
            let message = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await.expect("published in time").unwrap();
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.to_string()).unwrap();
            let body: Value = serde_json::from_slice(&message.payload).unwrap();
            assert_eq!(body["alert"]["id"].as_str(), Some(id.as_str()));
            got.push((message.subject.to_string(), id));
        }
        got
    });
    let expected: Vec<(String, String)> = ids.iter().map(|id| (format!("{prefix}.core.situation"), id.clone())).collect();
    assert_eq!(received, expected);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink_status(&city, "archive")["delivered"] != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stored = runtime.block_on(async {
        let jetstream = async_nats::jetstream::new(client.clone());
        let mut stream = jetstream.get_stream(&stream_name).await.unwrap();
        let count = stream.info().await.unwrap().state.messages;
        let _ = jetstream.delete_stream(&stream_name).await;
        count
    });
    assert_eq!(stored, 2, "the stream acknowledged both alerts");
}

#[test]
fn an_mqtt_sink_publishes_each_alert_at_qos1() {
    let topic = format!("gh-test-{}/alerts", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut options = rumqttc::MqttOptions::new(format!("gh-test-sub-{}", std::process::id()), "127.0.0.1", 1883);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = {
        let _guard = runtime.enter();
        rumqttc::AsyncClient::new(options, 16)
    };
    runtime.block_on(async {
        client.subscribe(format!("{topic}/#"), rumqttc::QoS::AtLeastOnce).await.unwrap();
        // Wait for the broker to confirm the subscription before anything is published.
        loop {
            let event =
                tokio::time::timeout(Duration::from_secs(10), events.poll()).await.expect("Mosquitto runs on this machine").unwrap();
            if matches!(event, rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) {
                break;
            }
        }
    });
    let city = city(json!([{"name": "wall", "mqtt": {"host": "127.0.0.1", "port": 1883, "topic": topic}}]));
    let ids = raise(&city, "shot", 2);
    let received = runtime.block_on(async {
        let mut got = Vec::new();
        while got.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(10), events.poll()).await.expect("published in time").unwrap();
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)) = event {
                let body: Value = serde_json::from_slice(&publish.payload).unwrap();
                got.push((publish.topic.clone(), body["alert"]["id"].as_str().unwrap().to_owned()));
            }
        }
        got
    });
    assert_eq!(received, ids.iter().map(|id| (format!("{topic}/situation"), id.clone())).collect::<Vec<_>>());
}

#[test]
fn a_websocket_client_gets_alerts_live_and_needs_a_token() {
    use tungstenite::client::IntoClientRequest;
    let city = city(json!([]));
    let url = city.server.base.replace("http://", "ws://") + "/v1/alerts/ws";
    let refused = tungstenite::connect(url.as_str());
    assert!(matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 401), "no token, no socket");
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", city.supervisor).parse().unwrap());
    let (mut socket, _) = tungstenite::connect(request).expect("the supervisor may open the feed");
    let frame =
        |socket: &mut tungstenite::WebSocket<_>| -> Value { serde_json::from_str(socket.read().unwrap().to_text().unwrap()).unwrap() };
    assert_eq!(frame(&mut socket)["type"], "ready");
    let ids = raise(&city, "ws", 1);
    let event = frame(&mut socket);
    assert_eq!((event["type"].as_str(), event["alert"]["id"].as_str()), (Some("alert"), Some(ids[0].as_str())));
    socket.close(None).unwrap();
}

#[test]
fn a_sharing_change_needs_a_second_person_then_starts_the_sink_which_survives_a_restart_until_removed() {
    let prefix = format!("gh-share-{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (_client, mut subscriber) = runtime.block_on(async {
        let client = async_nats::connect("127.0.0.1:4222").await.expect("NATS runs on this machine (scripts/test.sh starts it)");
        let subscriber = client.subscribe(format!("{prefix}.>")).await.unwrap();
        client.flush().await.unwrap();
        (client, subscriber)
    });
    let mut next_subject = |wait: Duration| {
        runtime.block_on(async {
            use futures_util::StreamExt;
            tokio::time::timeout(wait, subscriber.next()).await.ok().flatten().map(|m| m.subject.to_string())
        })
    };
    let mut city = city(json!([]));
    let client = city.server.client();
    let reason = "the regional fusion centre receives gunshot situations under agreement 2026-7";
    let partner = json!({"name": "partner", "nats": {"url": "127.0.0.1:4222", "subject": prefix}, "rules": ["situation"]});

    let vague = client.json("POST", "/v1/sharing/changes", &city.admin, json!({"add": partner, "reason": "partner"}));
    assert_eq!((vague.status, vague.body["field"].as_str()), (400, Some("reason")));
    let unknown = client.json("POST", "/v1/sharing/changes", &city.admin, json!({"remove": "nobody", "reason": reason}));
    assert_eq!((unknown.status, unknown.body["field"].as_str()), (400, Some("remove")));
    let proposed = client.json("POST", "/v1/sharing/changes", &city.admin, json!({"add": partner, "reason": reason}));
    assert_eq!(proposed.status, 201, "{:?}", proposed.body);
    let id = proposed.body["id"].as_str().unwrap().to_owned();
    raise(&city, "before", 1);
    assert_eq!(next_subject(Duration::from_millis(800)), None, "nothing is shared before a second person approves");
    let own = client.json("POST", &format!("/v1/sharing/changes/{id}/decision"), &city.admin, json!({"approve": true}));
    assert_eq!(own.status, 403, "the proposer cannot approve: {:?}", own.body);
    let approved = client.json("POST", &format!("/v1/sharing/changes/{id}/decision"), &city.supervisor, json!({"approve": true}));
    assert_eq!((approved.status, approved.body["status"].as_str()), (200, Some("applied")), "{:?}", approved.body);
    assert_eq!(sink_status(&city, "partner")["origin"], "sharing_change");
    raise(&city, "after", 1);
    assert_eq!(next_subject(Duration::from_secs(10)).as_deref(), Some(format!("{prefix}.situation").as_str()));
    assert_eq!(next_subject(Duration::from_millis(300)), None, "a new sink starts at the end of the log, not its history");

    // A webhook proposal keeps its secret out of every listing; this one is rejected.
    let hook = json!({"name": "press", "webhook": {"url": "http://127.0.0.1:9/alerts", "secret": SECRET}});
    let proposed = client.json("POST", "/v1/sharing/changes", &city.admin, json!({"add": hook, "reason": reason}));
    assert_eq!(proposed.status, 201, "{:?}", proposed.body);
    assert!(!proposed.body.to_string().contains(SECRET));
    let hook_id = proposed.body["id"].as_str().unwrap().to_owned();
    let rejected = client.json("POST", &format!("/v1/sharing/changes/{hook_id}/decision"), &city.supervisor, json!({"approve": false}));
    assert_eq!(rejected.body["status"], "rejected");
    let listing = client.get("/v1/sharing/changes", &city.supervisor);
    assert_eq!(listing.body["changes"].as_array().unwrap().len(), 2);
    assert!(!listing.body.to_string().contains(SECRET), "secrets never leave the server");

    // Approved sharing outlives a restart; the file holding it is the owner's alone.
    let data_dir = city.server.data_dir.clone();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(data_dir.join("sharing.json")).unwrap().permissions().mode() & 0o077, 0);
    let sinks_file = data_dir.join("sinks.json");
    city.server.restart_with(&["--sinks", sinks_file.to_str().unwrap()]);
    let client = city.server.client();
    assert_eq!(sink_status(&city, "partner")["origin"], "sharing_change");

    let removal = client.json("POST", "/v1/sharing/changes", &city.admin, json!({"remove": "partner", "reason": reason}));
    assert_eq!(removal.status, 201, "{:?}", removal.body);
    let removal_id = removal.body["id"].as_str().unwrap();
    let decided = client.json("POST", &format!("/v1/sharing/changes/{removal_id}/decision"), &city.supervisor, json!({"approve": true}));
    assert_eq!(decided.status, 200, "{:?}", decided.body);
    let sinks = client.get("/v1/sinks", &city.supervisor).body["sinks"].as_array().unwrap().clone();
    assert!(sinks.is_empty(), "the removed sink stopped: {sinks:?}");
    raise(&city, "removed", 1);
    assert_eq!(next_subject(Duration::from_millis(800)), None, "nothing is shared after the removal");
}

/// An https receiver with the test authority's server certificate (tests/fixtures/tls), recording
/// each request; a connection whose handshake fails is dropped.
fn tls_receiver(seen: Arc<Mutex<Received>>) -> u16 {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let pem = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let certificate = match ureq::tls::parse_pem(&pem("server.pem")).next().unwrap().unwrap() {
        ureq::tls::PemItem::Certificate(c) => rustls::pki_types::CertificateDer::from(c.der().to_vec()),
        _ => panic!("server.pem holds a certificate"),
    };
    let key = match ureq::tls::parse_pem(&pem("server.key")).next().unwrap().unwrap() {
        ureq::tls::PemItem::PrivateKey(k) => rustls::pki_types::PrivateKeyDer::Pkcs8(k.der().to_vec().into()),
        _ => panic!("server.key holds a private key"),
    };
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let Some((headers, body)) = read_request(&mut BufReader::new(&mut tls)) else {
                seen.lock().unwrap().attempts += 1; // a refused handshake
                continue;
            };
            {
                let mut seen = seen.lock().unwrap();
                seen.attempts += 1;
                seen.accepted.push((headers["idempotency-key"].clone(), headers["x-glasshouse-signature"].clone(), body));
            }
            let _ = write!(tls, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

#[test]
fn an_https_webhook_trusting_the_citys_authority_gets_every_alert_and_an_unknown_authority_is_refused() {
    let seen = Arc::new(Mutex::new(Received::default()));
    let port = tls_receiver(seen.clone());
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let ca = std::fs::read_to_string(fixtures.join("ca.pem")).unwrap();
    let url = format!("https://127.0.0.1:{port}/alerts");
    let city = city(json!([
        {"name": "cad", "webhook": {"url": url, "secret": SECRET, "ca_pem": ca}},
        // The public roots do not know the test authority: this one must never deliver.
        {"name": "untrusted", "webhook": {"url": url, "secret": SECRET}, "retry": {"initial_ms": 100, "max_ms": 200, "give_up_after_s": 600}}
    ]));
    let ids = raise(&city, "tls", 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink_status(&city, "cad")["delivered"] != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let keys: Vec<String> = seen.lock().unwrap().accepted.iter().map(|(key, _, _)| key.clone()).collect();
    assert_eq!(keys, ids, "each alert once, in order, over TLS");
    for (_, signature, body) in &seen.lock().unwrap().accepted {
        let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        assert_eq!(hex::encode(mac.finalize().into_bytes()), v1);
    }
    let untrusted = sink_status(&city, "untrusted");
    assert_eq!(untrusted["delivered"], 0, "{untrusted}");
    assert!(untrusted["failed_attempts"].as_u64().unwrap() >= 1, "{untrusted}");
    assert!(untrusted["last_error"].as_str().unwrap_or("").to_lowercase().contains("certificate"), "{untrusted}");
}
