//! A small blocking HTTP client for the simulator's live feed and the demo's set-up, so both go
//! through the public API exactly as an outside producer would.

use anyhow::{Context, bail};
use glasshouse_model::Device;
use glasshouse_sim::City;
use serde_json::{Value, json};
use std::time::Duration;

pub struct ApiClient {
    agent: ureq::Agent,
    base: String,
}

pub struct Response {
    pub status: u16,
    pub body: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiClient {
    pub fn new(base: &str) -> ApiClient {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into();
        ApiClient { agent, base: base.trim_end_matches('/').to_owned() }
    }

    pub fn send(&self, method: &str, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> anyhow::Result<Response> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", content_type)
            .body(body)?;
        let mut response = self.agent.run(request).with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let retry_after_secs = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Ok(Response { status, body, retry_after_secs })
    }

    pub fn json(&self, method: &str, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self.send(method, path, token, "application/json", serde_json::to_vec(body)?)?;
        if !(200..300).contains(&response.status) {
            bail!("{method} {path}: {} {}", response.status, response.body);
        }
        Ok(serde_json::from_str(&response.body).unwrap_or(Value::Null))
    }

    /// Posts a body to an ingest route, waiting and retrying while the server pushes back with 503.
    pub fn post_ingest(&self, path: &str, content_type: &str, token: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        for _ in 0..60 {
            let response = self.send("POST", path, token, content_type, body.clone())?;
            match response.status {
                200 => return Ok(serde_json::from_str(&response.body)?),
                503 => std::thread::sleep(Duration::from_secs(response.retry_after_secs.unwrap_or(1).min(10))),
                status => bail!("POST {path}: {status} {}", response.body),
            }
        }
        bail!("POST {path}: the server stayed busy for a minute")
    }
}

/// Registers the city's devices, a radiation threshold rule, a geofence over the city centre for
/// hotlisted vehicles, and the demo hotlist; returns the hotlist id.
pub fn register_city(client: &ApiClient, admin_token: &str, city: &City, expires_in_days: i64) -> anyhow::Result<String> {
    for device in &city.devices {
        let body = device_body(device);
        client.json("PUT", &format!("/v1/devices/{}", device.id), admin_token, &body)?;
    }
    // The radiation sensors' background is about 0.1 µSv/h; the simulator's anomaly peaks near 2.6.
    client.json(
        "POST",
        "/v1/rules",
        admin_token,
        &json!({"type": "threshold", "name": "gamma dose rate above 1 µSv/h", "quantity": "gamma_dose_rate", "level": 1.0, "clear_below": 0.5}),
    )?;
    if let Some(area) = centre_of(city) {
        // Reads place a hotlisted vehicle only at readers, minutes apart: no confirmation time.
        client.json(
            "POST",
            "/v1/rules",
            admin_token,
            &json!({"type": "geofence", "name": "city centre", "area": area, "triggers": ["enter", "exit"],
                    "subjects": {"hotlisted": true}, "margin_m": 0, "confirm_s": 0, "priority": 2}),
        )?;
    }
    // Misread-tolerant (`lenient`), so the simulator's OCR misreads of a listed plate still alert, with the differences shown.
    let created = client.json(
        "POST",
        "/v1/hotlists",
        admin_token,
        &json!({"name": "demo-stolen-and-wanted", "source": "local", "match": "lenient", "substitutions_max": 1, "length_tolerance": true, "priority": 1}),
    )?;
    let id = created["id"].as_str().context("hotlist id missing")?.to_owned();
    let expires_at = glasshouse_model::Timestamp::now().plus_secs(expires_in_days * 86_400).to_rfc3339();
    let entries: Vec<Value> =
        city.hotlist.iter().map(|l| json!({"plate": l.plate, "region": "FI", "reason": l.reason, "expires_at": expires_at})).collect();
    client.json("POST", &format!("/v1/hotlists/{id}/entries"), admin_token, &Value::Array(entries))?;
    Ok(id)
}

/// The middle third (each way) of the box around the city's fixed devices, as a GeoJSON polygon.
fn centre_of(city: &City) -> Option<Value> {
    let points: Vec<(f64, f64)> = city.devices.iter().filter_map(|d| Some((d.lon?, d.lat?))).collect();
    let (min_lon, max_lon) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (min_lat, max_lat) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if points.len() < 3 || max_lon <= min_lon || max_lat <= min_lat {
        return None;
    }
    let (dx, dy) = ((max_lon - min_lon) / 3.0, (max_lat - min_lat) / 3.0);
    let (w, e, s, n) = (min_lon + dx, max_lon - dx, min_lat + dy, max_lat - dy);
    Some(json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}))
}

fn device_body(device: &Device) -> Value {
    let mut body = serde_json::to_value(device).expect("devices serialise");
    if let Some(map) = body.as_object_mut() {
        map.remove("id");
    }
    body
}
