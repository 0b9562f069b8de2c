//! Feeds Glasshouse pulls from, against the real Mosquitto broker on 127.0.0.1:1883: messages are
//! stored once, bad ones dead-lettered with their topic, and what is published while the server is
//! down arrives when it is back.

mod common;

use common::{PURPOSE, Server, eventually, eventually_within, read_line, token};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use std::time::{Duration, Instant};

const BROKER: &str = "127.0.0.1:1883";

/// Publishes each (topic, payload) at QoS 1 and returns once the broker has acknowledged them all.
fn publish(messages: &[(String, Vec<u8>)]) {
    publish_to(1883, messages)
}

/// [`publish`] to the broker on 127.0.0.1:`port`.
fn publish_to(port: u16, messages: &[(String, Vec<u8>)]) {
    static PUBLISHERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!("gh-test-publisher-{}-{}", std::process::id(), PUBLISHERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_max_packet_size(2 << 20, 2 << 20);
    // Room for every request: the connection is only driven once all are queued.
    let (client, mut connection) = Client::new(options, messages.len() + 8);
    for (topic, payload) in messages {
        client.publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone()).unwrap();
    }
    let mut acknowledged = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    for event in connection.iter() {
        assert!(Instant::now() < deadline, "the broker did not acknowledge every message");
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acknowledged += 1;
                if acknowledged == messages.len() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("publishing to 127.0.0.1:{port}: {e}"),
        }
    }
    client.disconnect().ok();
}

fn plate_ids(client: &common::Client, investigator: &str) -> Vec<String> {
    let found = client.get(&format!("/v1/observations?kind=plate_read&{PURPOSE}"), investigator);
    assert_eq!(found.status, 200, "{:?}", found.body);
    let mut ids: Vec<String> =
        found.body["observations"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[test]
fn mqtt_messages_are_stored_once_bad_ones_dead_lettered_and_none_lost_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, ingest, investigator) =
        (token(dir.path(), "administrator"), token(dir.path(), "ingest"), token(dir.path(), "investigator"));
    let unique =
        format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let prefix = format!("gh-test/{unique}");
    let datastreams = dir.path().join("datastreams.json");
    std::fs::write(&datastreams, r#"{"datastreams": {"17": {"device_id": "rad-3", "quantity": "gamma_dose_rate", "unit": "uSv/h"}}}"#)
        .unwrap();
    let client_id = format!("gh-test-{unique}");
    let topic_filter = format!("{prefix}/#");
    let args = [
        "--mqtt",
        BROKER,
        "--mqtt-topic",
        &topic_filter,
        "--mqtt-client-id",
        &client_id,
        "--mqtt-datastreams",
        datastreams.to_str().unwrap(),
    ];
    let (server, lines) = Server::start_with(dir.path(), &args, 1);
    assert!(lines[0].starts_with("glasshouse taking MQTT from 127.0.0.1:1883"), "{lines:?}");
    common::open_cases(&server);
    let client = server.client();
    for (id, device) in [
        ("lpr-17", json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})),
        ("rad-3", json!({"type": "sensor", "lat": 60.2, "lon": 24.9})),
    ] {
        assert_eq!(client.json("PUT", &format!("/v1/devices/{id}"), &admin, device).status, 201);
    }
    // The feed subscribes once connected; wait for that before publishing (a message published
    // before the first subscription is not the session's to keep).
    eventually("the feed has subscribed", || {
        publish(&[(format!("{prefix}/probe"), read_line("probe", "lpr-17", "PROBE1").into_bytes())]);
        plate_ids(&client, &investigator).contains(&"probe".to_owned())
    });

    let duplicates = || client.get("/v1/status", &ingest).body["ingest_sources"]["mqtt"]["duplicates"].as_u64().unwrap();
    let duplicates_before = duplicates();
    let batch = [read_line("m-1", "lpr-17", "ABC123"), "{not json".into(), read_line("m-2", "lpr-17", "XYZ789")].join("\n");
    let reading = json!({"phenomenonTime": glasshouse_model::Timestamp::now().plus_secs(-5).to_rfc3339(), "result": 0.42, "@iot.id": 5});
    publish(&[
        (format!("{prefix}/site-1"), batch.clone().into_bytes()),
        (format!("{prefix}/site-1"), batch.into_bytes()),
        (format!("{prefix}/v1.1/Datastreams(17)/Observations"), reading.to_string().into_bytes()),
        (format!("{prefix}/v1.1/Datastreams(99)/Observations"), reading.to_string().into_bytes()),
        (format!("{prefix}/site-2"), b"\xff\xfe not utf-8".to_vec()),
    ]);
    eventually("both reads are stored", || plate_ids(&client, &investigator) == ["m-1", "m-2", "probe"]);
    eventually("the refused lines are dead-lettered", || {
        client.get("/v1/dead_letters", &ingest).body["dead_letters"].as_array().unwrap().len() == 4
    });
    let letters = client.get("/v1/dead_letters", &ingest).body["dead_letters"].clone();
    let sources: Vec<&str> = letters.as_array().unwrap().iter().map(|l| l["source"].as_str().unwrap()).collect();
    assert_eq!(sources.iter().filter(|s| **s == format!("mqtt:{prefix}/site-1")).count(), 2, "{letters}");
    assert!(sources.contains(&format!("mqtt:{prefix}/v1.1/Datastreams(99)/Observations").as_str()), "{letters}");
    assert!(sources.contains(&format!("mqtt:{prefix}/site-2").as_str()), "{letters}");
    let readings = client.get("/v1/sensors/latest", &admin);
    assert_eq!(readings.body["readings"][0]["value"], 0.42, "{:?}", readings.body);
    assert_eq!(duplicates() - duplicates_before, 2, "the second copy of the batch is two duplicates");

    // Down hard: what is published meanwhile waits in the broker's session for the same client id.
    server.kill_hard();
    publish(&[(format!("{prefix}/site-1"), read_line("m-3", "lpr-17", "LATE33").into_bytes())]);
    let (server, _) = Server::start_with(dir.path(), &args, 1);
    let client = server.client();
    eventually("the message published while down is stored", || plate_ids(&client, &investigator) == ["m-1", "m-2", "m-3", "probe"]);
    server.stop();
    forget_session(&client_id);
}

/// Ends the broker's persistent session for `client_id`, so test runs leave nothing behind in it.
fn forget_session(client_id: &str) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", 1883);
    options.set_clean_session(true);
    let (client, mut connection) = Client::new(options, 4);
    for event in connection.iter() {
        if matches!(event, Ok(Event::Incoming(Packet::ConnAck(_))) | Err(_)) {
            break;
        }
    }
    client.disconnect().ok();
}

/// Publishes each (subject, message id, payload) to JetStream and waits for the stream's acknowledgement.
fn publish_jetstream(messages: &[(String, String, Vec<u8>)]) {
    publish_jetstream_to("nats://127.0.0.1:4222", messages)
}

/// [`publish_jetstream`] to the server at `url`.
fn publish_jetstream_to(url: &str, messages: &[(String, String, Vec<u8>)]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
        let context = async_nats::jetstream::new(client);
        for (subject, id, payload) in messages {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            let ack = context.publish_with_headers(subject.clone(), headers, payload.clone().into()).await.unwrap();
            ack.await.expect("the stream acknowledges");
        }
    });
}

fn delete_stream(name: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let _ = async_nats::jetstream::new(client).delete_stream(name).await;
    });
}

#[test]
fn jetstream_messages_are_acknowledged_once_durable_and_message_ids_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, ingest, investigator) =
        (token(dir.path(), "administrator"), token(dir.path(), "ingest"), token(dir.path(), "investigator"));
    let unique =
        format!("{}{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let (stream, subject_filter) = (format!("GH_TEST_{unique}"), format!("gh.test.{unique}.>"));
    let consumer = format!("gh-test-{unique}");
    let args =
        ["--nats", "nats://127.0.0.1:4222", "--nats-stream", &stream, "--nats-subject", &subject_filter, "--nats-consumer", &consumer];
    let (server, lines) = Server::start_with(dir.path(), &args, 1);
    assert!(lines[0].starts_with(&format!("glasshouse taking JetStream {stream}")), "{lines:?}");
    common::open_cases(&server);
    let client = server.client();
    assert_eq!(client.json("PUT", "/v1/devices/lpr-17", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status, 201);
    // The feed creates the stream once connected; publish only into a stream that exists.
    eventually("the feed has created the stream", || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
            async_nats::jetstream::new(client).get_stream(&stream).await.is_ok()
        })
    });
    let subject = |site: &str| format!("gh.test.{unique}.{site}");
    let batch = [read_line("j-1", "lpr-17", "ABC123"), "{not json".into(), read_line("j-2", "lpr-17", "XYZ789")].join("\n");
    let at = glasshouse_model::Timestamp::now().plus_secs(-5).to_rfc3339();
    let unnamed = format!(r#"{{"kind":"plate_read","device_id":"lpr-17","observed_at":"{at}","plate":"NOID11"}}"#);
    publish_jetstream(&[
        (subject("site1"), "batch-1".into(), batch.clone().into_bytes()),
        (subject("site1"), "batch-1".into(), batch.into_bytes()),
        (subject("site2"), "unnamed-1".into(), unnamed.into_bytes()),
    ]);
    eventually("the reads are stored", || plate_ids(&client, &investigator) == ["j-1", "j-2", "unnamed-1"]);
    eventually("the bad line is dead-lettered", || {
        client.get("/v1/dead_letters", &ingest).body["dead_letters"].as_array().unwrap().len() == 1
    });
    let letters = client.get("/v1/dead_letters", &ingest).body;
    assert_eq!(letters["dead_letters"][0]["source"].as_str(), Some(format!("nats:{}", subject("site1")).as_str()), "{letters}");
    let nats = &client.get("/v1/status", &ingest).body["ingest_sources"]["nats"];
    assert_eq!(nats["batches"].as_u64(), Some(2), "JetStream dropped the re-publish inside its window: {nats}");

    server.kill_hard();
    publish_jetstream(&[(subject("site1"), "late-1".into(), read_line("j-3", "lpr-17", "LATE33").into_bytes())]);
    let (server, _) = Server::start_with(dir.path(), &args, 1);
    let client = server.client();
    eventually("the message published while down is stored", || plate_ids(&client, &investigator) == ["j-1", "j-2", "j-3", "unnamed-1"]);
    server.stop();
    delete_stream(&stream);
}

#[test]
fn spooled_vendor_files_are_taken_once_settled_and_moved_to_done_or_failed_with_the_reason() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let (admin, ingest, investigator) =
        (token(dir.path(), "administrator"), token(dir.path(), "ingest"), token(dir.path(), "investigator"));
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let (server, lines) = Server::start_with(dir.path(), &["--spool", spool.to_str().unwrap()], 1);
    assert!(lines[0].starts_with("glasshouse taking files from"), "{lines:?}");
    common::open_cases(&server);
    let client = server.client();
    for (id, device) in [
        ("lpr-17", json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})),
        ("sharpv:SHARP7", json!({"type": "plate_reader", "lat": 45.5, "lon": -73.6})),
    ] {
        assert_eq!(client.json("PUT", &format!("/v1/devices/{id}"), &admin, device).status, 201);
    }
    // A half-written upload keeps its .part name until complete: it is left alone.
    std::fs::write(spool.join("reads.ndjson.part"), read_line("s-0", "lpr-17", "PART00")).unwrap();
    std::fs::write(spool.join("reads.ndjson"), [read_line("s-1", "lpr-17", "ABC123"), "{bad".into()].join("\n")).unwrap();
    let at = glasshouse_model::Timestamp::now().plus_secs(-30).to_rfc3339();
    let jpeg = base64::engine::general_purpose::STANDARD.encode(b"\xff\xd8\xff\xe0 plate");
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AutoVu><Plate>XYZ789</Plate><State>QC</State><UTCDate>{}</UTCDate><UTCTime>{}</UTCTime>\
         <CameraName>Camera 1</CameraName><SourceName>SHARP7</SourceName><PlateImage>{jpeg}</PlateImage><Guid>guid-1</Guid></AutoVu>",
        at[..10].replace('-', ":"),
        &at[11..23]
    );
    std::fs::write(spool.join("SHARP7_guid-1_lpr.xml"), xml).unwrap();
    std::fs::write(spool.join("notes.txt"), "not a feed").unwrap();
    std::fs::write(spool.join("bomb.xml"), r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><AutoVu><Plate>&a;</Plate></AutoVu>"#).unwrap();

    eventually("the settled files are taken", || {
        std::fs::read_dir(&spool).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count() == 1
    });
    assert!(spool.join("reads.ndjson.part").exists(), "a .part file is left until it is renamed");
    assert_eq!(plate_ids(&client, &investigator), ["guid-1", "s-1"]);
    assert!(spool.join("done/reads.ndjson").exists() && spool.join("done/SHARP7_guid-1_lpr.xml").exists());
    assert!(spool.join("done/bomb.xml").exists(), "a refused read is a dead letter; the file was read");
    let reason = std::fs::read_to_string(spool.join("failed/notes.txt.error.txt")).unwrap();
    assert!(reason.contains("unknown format"), "{reason}");
    let letters = client.get("/v1/dead_letters", &ingest).body["dead_letters"].clone();
    let named: Vec<(&str, &str)> =
        letters.as_array().unwrap().iter().map(|l| (l["source"].as_str().unwrap(), l["error"].as_str().unwrap())).collect();
    assert!(named.iter().any(|(s, e)| *s == "spool:bomb.xml" && e.contains("document type declaration")), "{named:?}");
    assert!(named.iter().any(|(s, _)| *s == "spool:reads.ndjson"), "{named:?}");

    // Renamed once complete, the upload is taken; a second file of a taken name keeps both.
    std::fs::rename(spool.join("reads.ndjson.part"), spool.join("reads.ndjson")).unwrap();
    eventually("the completed upload is taken", || spool.join("done/reads.ndjson.1").exists());
    assert_eq!(plate_ids(&client, &investigator), ["guid-1", "s-0", "s-1"]);
    server.stop();
}

/// Plate reads stored, counted by the server's own totals (a search caps its page).
fn stored_reads(client: &common::Client, token: &str) -> u64 {
    let status = client.get("/v1/status", token).body;
    status["stored_observations"].as_u64().unwrap_or(0) + status["hot_window_observations"].as_u64().unwrap_or(0)
}

#[test]
fn a_kill_9_with_broker_messages_in_flight_loses_nothing_and_stores_nothing_twice() {
    const MESSAGES: usize = 200;
    const LINES: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let (admin, analyst) = (token(dir.path(), "administrator"), token(dir.path(), "analyst"));
    let unique =
        format!("{}{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let (topic, stream, subject) = (format!("gh-test/{unique}/k9"), format!("GH_TEST_K9_{unique}"), format!("gh.test.k9.{unique}"));
    let client_id = format!("gh-test-k9-{unique}");
    let args = [
        "--mqtt",
        BROKER,
        "--mqtt-topic",
        &topic,
        "--mqtt-client-id",
        &client_id,
        "--nats",
        "nats://127.0.0.1:4222",
        "--nats-stream",
        &stream,
        "--nats-subject",
        &subject,
        "--nats-consumer",
        &client_id,
    ];
    let (server, _) = Server::start_with(dir.path(), &args, 2);
    let client = server.client();
    assert_eq!(client.json("PUT", "/v1/devices/lpr-17", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status, 201);
    eventually("both feeds are ready", || {
        publish(&[(topic.clone(), read_line("probe-m", "lpr-17", "PROBE1").into_bytes())]);
        let ready = client.get("/v1/status", &analyst).body["ingest_sources"]["mqtt"]["accepted"].as_u64().is_some();
        ready && {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
                async_nats::jetstream::new(nats).get_stream(&stream).await.is_ok()
            })
        }
    });
    let body = |prefix: &str, m: usize| -> Vec<u8> {
        (0..LINES).map(|l| read_line(&format!("{prefix}-{m}-{l}"), "lpr-17", "ABC123")).collect::<Vec<_>>().join("\n").into_bytes()
    };
    let mqtt: Vec<(String, Vec<u8>)> = (0..MESSAGES).map(|m| (topic.clone(), body("m", m))).collect();
    let nats: Vec<(String, String, Vec<u8>)> = (0..MESSAGES).map(|m| (subject.clone(), format!("j-{m}"), body("j", m))).collect();
    // The brokers hold every message (acknowledged to the publishers); the server is killed while it
    // is still taking them.
    let (mqtt_publisher, nats_publisher) =
        (std::thread::spawn(move || publish(&mqtt)), std::thread::spawn(move || publish_jetstream(&nats)));
    eventually("the server is taking the stream", || stored_reads(&client, &analyst) > 200);
    server.kill_hard();
    mqtt_publisher.join().unwrap();
    nats_publisher.join().unwrap();
    let (server, _) = Server::start_with(dir.path(), &args, 2);
    let client = server.client();
    let expected = (2 * MESSAGES * LINES) as u64 + 1;
    // Twenty thousand reads through two feeds of a debug build: allow minutes, not seconds.
    eventually_within("every published read is stored", Duration::from_secs(180), || stored_reads(&client, &analyst) >= expected);
    assert_eq!(stored_reads(&client, &analyst), expected, "each read once: the probe and both streams, no repeats");
    server.stop();
    forget_session(&client_id);
    delete_stream(&stream);
}

/// A broker of the test's own on a free port of 127.0.0.1, keeping its state in a directory of its
/// own, so the test can restart it without disturbing the machine's shared brokers (other suites
/// stream through those meanwhile). The same Debian binaries the machine's brokers run.
struct OwnBroker {
    program: &'static str,
    args: Vec<String>,
    port: u16,
    child: Option<std::process::Child>,
    _state: tempfile::TempDir,
}

impl OwnBroker {
    /// Mosquitto with persistence on, so a session and its queued messages outlive a restart.
    fn mosquitto() -> OwnBroker {
        let (state, port) = (tempfile::tempdir().unwrap(), free_port());
        let config = state.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 0\nuser root\n",
                state.path().display()
            ),
        )
        .unwrap();
        OwnBroker::started("/usr/sbin/mosquitto", vec!["-c".into(), config.display().to_string()], port, state)
    }

    /// A NATS server with JetStream storing on disk.
    fn nats() -> OwnBroker {
        let (state, port) = (tempfile::tempdir().unwrap(), free_port());
        let args =
            ["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd", &state.path().display().to_string()].map(String::from).to_vec();
        OwnBroker::started("/usr/sbin/nats-server", args, port, state)
    }

    fn started(program: &'static str, args: Vec<String>, port: u16, state: tempfile::TempDir) -> OwnBroker {
        let mut broker = OwnBroker { program, args, port, child: None, _state: state };
        broker.start();
        broker
    }

    fn start(&mut self) {
        let child = std::process::Command::new(self.program)
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.program));
        self.child = Some(child);
        let port = self.port;
        eventually(&format!("{} listens on {port}", self.program), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    }

    /// Stops the broker as an operator's restart does (SIGTERM, so it saves its state) and starts it again.
    fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        self.start();
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The durable consumer's messages delivered and not yet acknowledged, and not yet delivered.
fn consumer_backlog(url: &str, stream: &str, consumer: &str) -> (usize, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let stream = async_nats::jetstream::new(client).get_stream(stream).await.unwrap();
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream.get_consumer(consumer).await.unwrap();
        let info = consumer.info().await.unwrap();
        (info.num_ack_pending, info.num_pending)
    })
}

/// Publishes each (topic, payload) at QoS 1 to 127.0.0.1:`port`, one every `pace`, as a device
/// streams, riding out the broker going away: the client sends again what the broker had not
/// acknowledged when the connection dropped. Returns once every message is acknowledged.
fn publish_through_restarts(port: u16, messages: Vec<(String, Vec<u8>)>, pace: Duration) {
    let mut options = MqttOptions::new(format!("gh-test-restart-publisher-{}", std::process::id()), "127.0.0.1", port);
    options.set_max_packet_size(2 << 20, 2 << 20);
    let (client, mut connection) = Client::new(options, messages.len() + 8);
    let total = messages.len();
    let publisher = std::thread::spawn(move || {
        for (topic, payload) in messages {
            client.publish(topic, QoS::AtLeastOnce, false, payload).unwrap();
            std::thread::sleep(pace);
        }
        client
    });
    let (mut acknowledged, deadline) = (0, Instant::now() + Duration::from_secs(120));
    while acknowledged < total {
        assert!(Instant::now() < deadline, "the broker acknowledged {acknowledged} of {total} messages");
        match connection.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acknowledged += 1,
            Ok(Ok(_)) | Err(_) => {}
            // The broker is away: try again shortly (the connection reconnects when polled).
            Ok(Err(_)) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    publisher.join().unwrap().disconnect().ok();
}

/// Publishes each (subject, message id, payload) to JetStream at `url`, one every `pace`, riding
/// out the server going away: a message whose acknowledgement does not come is published again
/// under its id, which JetStream's duplicate window makes one message.
fn publish_jetstream_through_restarts(url: &str, messages: Vec<(String, String, Vec<u8>)>, pace: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
        let context = async_nats::jetstream::new(client);
        let deadline = Instant::now() + Duration::from_secs(120);
        for (subject, id, payload) in messages {
            loop {
                assert!(Instant::now() < deadline, "JetStream did not acknowledge {id}");
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                let sent = context.publish_with_headers(subject.clone(), headers, payload.clone().into()).await;
                if let Ok(ack) = sent
                    && ack.await.is_ok()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(pace).await;
        }
    });
}

#[test]
fn both_brokers_restarted_mid_stream_lose_nothing_and_store_nothing_twice() {
    const MESSAGES: usize = 300;
    const LINES: usize = 20;
    const PACE: Duration = Duration::from_millis(10);
    let (mut mosquitto, mut nats) = (OwnBroker::mosquitto(), OwnBroker::nats());
    let (mqtt_address, nats_url) = (format!("127.0.0.1:{}", mosquitto.port), format!("nats://127.0.0.1:{}", nats.port));
    let dir = tempfile::tempdir().unwrap();
    let (admin, analyst) = (token(dir.path(), "administrator"), token(dir.path(), "analyst"));
    let (topic, stream, subject, client_id) = ("gh-test/restart", "GH_TEST_RESTART", "gh.test.restart", "gh-test-restart");
    let args = [
        "--mqtt",
        &mqtt_address,
        "--mqtt-topic",
        topic,
        "--mqtt-client-id",
        client_id,
        "--nats",
        &nats_url,
        "--nats-stream",
        stream,
        "--nats-subject",
        subject,
        "--nats-consumer",
        client_id,
    ];
    let (server, _) = Server::start_with(dir.path(), &args, 2);
    let client = server.client();
    assert_eq!(client.json("PUT", "/v1/devices/lpr-17", &admin, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94})).status, 201);
    eventually("both feeds are ready", || {
        publish_to(mosquitto.port, &[(topic.to_owned(), read_line("probe-m", "lpr-17", "PROBE1").into_bytes())]);
        let ready = client.get("/v1/status", &analyst).body["ingest_sources"]["mqtt"]["accepted"].as_u64().is_some();
        ready && {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = async_nats::connect(&nats_url).await.unwrap();
                async_nats::jetstream::new(client).get_stream(stream).await.is_ok()
            })
        }
    });
    let body = |prefix: &str, m: usize| -> Vec<u8> {
        (0..LINES).map(|l| read_line(&format!("{prefix}-{m}-{l}"), "lpr-17", "ABC123")).collect::<Vec<_>>().join("\n").into_bytes()
    };
    let mqtt: Vec<(String, Vec<u8>)> = (0..MESSAGES).map(|m| (topic.to_owned(), body("m", m))).collect();
    let jetstream: Vec<(String, String, Vec<u8>)> = (0..MESSAGES).map(|m| (subject.to_owned(), format!("j-{m}"), body("j", m))).collect();

    // Both streams flow at a device's pace; both brokers restart while they do, with messages
    // delivered to Glasshouse and not yet acknowledged, and others not yet delivered.
    let (mqtt_port, url) = (mosquitto.port, nats_url.clone());
    let publishers = [
        std::thread::spawn(move || publish_through_restarts(mqtt_port, mqtt, PACE)),
        std::thread::spawn(move || publish_jetstream_through_restarts(&url, jetstream, PACE)),
    ];
    let expected = (2 * MESSAGES * LINES) as u64 + 1;
    eventually("the feeds are taking the streams", || stored_reads(&client, &analyst) > expected / 5);
    mosquitto.restart();
    nats.restart();
    assert!(publishers.iter().all(|p| !p.is_finished()), "both streams were still flowing when the brokers restarted");
    for publisher in publishers {
        publisher.join().unwrap();
    }
    eventually_within("every published read is stored", Duration::from_secs(180), || stored_reads(&client, &analyst) >= expected);
    assert_eq!(stored_reads(&client, &analyst), expected, "each read once: the probe and both streams, no repeats");
    // Every message was acknowledged in the end, and only once its reads were stored (above). An
    // acknowledgement sent while the server was restarting is lost with the connection; JetStream
    // delivers that message again after the feed's 30 s ack wait, and it is taken as a duplicate.
    eventually_within("JetStream holds nothing unacknowledged", Duration::from_secs(75), || {
        consumer_backlog(&nats_url, stream, client_id) == (0, 0)
    });
    server.stop();
}
