//! `glasshouse-bench feeds`: the sources' throughput against a running server, each measured from
//! the first record sent to the last one acknowledged durable (HTTP answers after the WAL; MQTT and
//! JetStream are counted through `/v1/status` once the server reports them accepted). One sender at
//! a time, the same plate reads by every path, so the figures are ratios of one run.

use anyhow::{Context, bail};
use clap::Args;
use glasshouse_model::Timestamp;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct FeedsArgs {
    /// The server, e.g. http://127.0.0.1:8080 (started with --mqtt and --nats to measure those).
    #[arg(long)]
    url: String,
    /// An administrator token (to register the benchmark's readers).
    #[arg(long)]
    admin_token: String,
    /// An ingest token.
    #[arg(long)]
    ingest_token: String,
    /// Any token that may read /v1/status.
    #[arg(long)]
    status_token: String,
    /// The MQTT broker the server subscribes to.
    #[arg(long)]
    mqtt: Option<String>,
    /// The topic published to (the server's topic filter must cover it).
    #[arg(long, default_value = "glasshouse/observations/bench")]
    mqtt_topic: String,
    /// The NATS server whose stream the server reads.
    #[arg(long)]
    nats: Option<String>,
    /// The subject published to (one of the server's stream's subjects).
    #[arg(long, default_value = "glasshouse.observations.bench")]
    nats_subject: String,
    /// The stream the server reads, deleted once measured.
    #[arg(long)]
    nats_stream: Option<String>,
    /// Records per path.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Records per body or message.
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

struct Http {
    agent: ureq::Agent,
    url: String,
}

impl Http {
    fn post(&self, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", content_type)
            .send(&body[..])
            .with_context(|| format!("POST {path}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        if status >= 300 {
            bail!("POST {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let mut response = self.agent.get(format!("{}{path}", self.url)).header("Authorization", format!("Bearer {token}")).call()?;
        Ok(serde_json::from_str(&response.body_mut().read_to_string()?)?)
    }

    fn put(&self, path: &str, token: &str, body: Value) -> anyhow::Result<()> {
        self.agent
            .put(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())?;
        Ok(())
    }
}

fn plate(n: usize) -> String {
    let letters: String = (0..3).map(|i| (b'A' + ((n / 10usize.pow(i) + i as usize) % 26) as u8) as char).collect();
    format!("{letters}{:04}", n % 10_000)
}

/// Our observation JSON, one read per line.
fn ndjson(prefix: &str, from: usize, count: usize) -> Vec<u8> {
    let at = Timestamp::now().plus_secs(-60).to_rfc3339();
    let mut body = String::with_capacity(count * 160);
    for n in from..from + count {
        body.push_str(&format!(
            "{{\"id\":\"{prefix}-{n}\",\"kind\":\"plate_read\",\"device_id\":\"lpr-bench\",\"observed_at\":\"{at}\",\"plate\":\"{}\",\"confidence\":0.9}}\n",
            plate(n)
        ));
    }
    body.into_bytes()
}

/// OpenALPR groups, one per line, with crops of `image_bytes` each when non-zero.
fn groups(prefix: &str, from: usize, count: usize, image_bytes: usize) -> Vec<u8> {
    use base64::Engine;
    let at_ms = Timestamp::now().plus_secs(-60).micros() / 1000;
    let mut body = Vec::new();
    for n in from..from + count {
        let mut group = json!({"data_type": "alpr_group", "camera_id": 9001, "epoch_start": at_ms, "best_uuid": format!("{prefix}-{n}"),
            "best_plate_number": plate(n), "best_confidence": 91.0, "candidates": [{"plate": plate(n), "confidence": 91.0}]});
        if image_bytes > 0 {
            // Distinct bytes per read, as real crops are.
            let crop = |tag: u8| {
                let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
                bytes.extend((0..image_bytes).map(|i| (i as u8) ^ tag ^ (n as u8)));
                base64::engine::general_purpose::STANDARD.encode(bytes)
            };
            group["best_plate"] = json!({"plate_crop_jpeg": crop(1)});
            group["vehicle_crop_jpeg"] = json!(crop(2));
        }
        body.extend_from_slice(group.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

fn rate(name: &str, records: usize, took: Duration, extra: Value) -> Value {
    let per_second = records as f64 / took.as_secs_f64();
    eprintln!("{name}: {records} records in {:.2} s, {per_second:.0}/s", took.as_secs_f64());
    let mut figure = json!({"path": name, "records": records, "seconds": took.as_secs_f64(), "records_per_s": per_second.round()});
    if let (Value::Object(figure), Value::Object(extra)) = (&mut figure, extra) {
        figure.extend(extra);
    }
    figure
}

fn accepted(http: &Http, token: &str, source: &str) -> anyhow::Result<u64> {
    Ok(http.get("/v1/status", token)?["ingest_sources"][source]["accepted"].as_u64().unwrap_or(0))
}

fn wait_accepted(http: &Http, token: &str, source: &str, target: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while accepted(http, token, source)? < target {
        if Instant::now() > deadline {
            bail!("{source}: the server did not take every record within ten minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

pub fn run(args: FeedsArgs) -> anyhow::Result<std::process::ExitCode> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let http = Http { agent, url: args.url.trim_end_matches('/').to_owned() };
    http.put("/v1/devices/lpr-bench", &args.admin_token, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94}))?;
    http.put("/v1/devices/openalpr:9001", &args.admin_token, json!({"type": "plate_reader", "lat": 60.17, "lon": 24.94}))?;
    let run_id = Timestamp::now().micros();
    let (records, batch) = (args.records, args.batch.max(1));
    let mut figures = Vec::new();

    let http_path = |name: &str,
                     path: &str,
                     content_type: &str,
                     body: &dyn Fn(usize, usize) -> Vec<u8>,
                     records: usize,
                     batch: usize|
     -> anyhow::Result<Value> {
        let (mut sent, mut bytes, started) = (0, 0usize, Instant::now());
        while sent < records {
            let count = batch.min(records - sent);
            let payload = body(sent, count);
            bytes += payload.len();
            let answer = http.post(path, &args.ingest_token, content_type, payload)?;
            if answer["accepted"].as_u64() != Some(count as u64) {
                bail!("{name}: {answer}");
            }
            sent += count;
        }
        let took = started.elapsed();
        Ok(rate(name, records, took, json!({"mb_per_s": (bytes as f64 / 1e6 / took.as_secs_f64() * 10.0).round() / 10.0})))
    };
    figures.push(http_path(
        "ndjson_http",
        "/v1/observations",
        "application/x-ndjson",
        &|from, n| ndjson(&format!("nd-{run_id}"), from, n),
        records,
        batch,
    )?);
    figures.push(http_path(
        "openalpr_http",
        "/v1/ingest/openalpr",
        "application/json",
        &|from, n| groups(&format!("oa-{run_id}"), from, n, 0),
        records,
        batch,
    )?);
    // Crops of 8 KB each (plate and vehicle) per read, 50 reads a body: a tenth of the reads, so the
    // images stay within a few hundred megabytes.
    let with_images = records / 10;
    figures.push(http_path(
        "openalpr_http_with_images",
        "/v1/ingest/openalpr",
        "application/json",
        &|from, n| groups(&format!("oi-{run_id}"), from, n, 8 * 1024),
        with_images,
        50,
    )?);

    if let Some(broker) = &args.mqtt {
        let (host, port) = broker.rsplit_once(':').context("--mqtt HOST:PORT")?;
        let mut options = rumqttc::MqttOptions::new(format!("gh-bench-{run_id}"), host, port.parse()?);
        options.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut connection) = rumqttc::Client::new(options, 256);
        let base = accepted(&http, &args.status_token, "mqtt")?;
        let started = Instant::now();
        let pump = std::thread::spawn(move || {
            for event in connection.iter() {
                if event.is_err() {
                    break;
                }
            }
        });
        let mut sent = 0;
        while sent < records {
            let count = batch.min(records - sent);
            client.publish(args.mqtt_topic.clone(), rumqttc::QoS::AtLeastOnce, false, ndjson(&format!("mq-{run_id}"), sent, count))?;
            sent += count;
        }
        wait_accepted(&http, &args.status_token, "mqtt", base + records as u64)?;
        figures.push(rate("mqtt_qos1", records, started.elapsed(), json!({})));
        client.disconnect().ok();
        let _ = pump.join();
    }

    if let Some(url) = &args.nats {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let base = accepted(&http, &args.status_token, "nats")?;
        let started = Instant::now();
        let context = runtime.block_on(async {
            let client = async_nats::connect(url).await?;
            let context = async_nats::jetstream::new(client);
            let mut acks = Vec::new();
            let mut sent = 0;
            while sent < records {
                let count = batch.min(records - sent);
                acks.push(context.publish(args.nats_subject.clone(), ndjson(&format!("js-{run_id}"), sent, count).into()).await?);
                sent += count;
            }
            for ack in acks {
                ack.await?;
            }
            anyhow::Ok(context)
        })?;
        wait_accepted(&http, &args.status_token, "nats", base + records as u64)?;
        figures.push(rate("jetstream", records, started.elapsed(), json!({})));
        if let Some(stream) = &args.nats_stream {
            runtime.block_on(context.delete_stream(stream))?;
        }
    }
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(std::process::ExitCode::SUCCESS)
}
