//! The benchmark city's registry and rules, set up before the load through the application layer.
//! Geofences go in as one batch of catalog events with one audit entry: the API adds them one at a
//! time, and each addition rebuilds the fence index, which for 10,000 fences is set-up time the
//! benchmark does not measure.

use super::CityArgs;
use glasshouse_app::catalog::NewRule;
use glasshouse_app::changes::new_id;
use glasshouse_app::{Action, Actor, App};
use glasshouse_engine::{
    GeofenceSubjects, GeofenceTrigger, HotlistEntry, HotlistSource, MatchPolicy, NewCorrelationRule, NewGeofenceRule, NewHotlist,
    NewThresholdRule,
};
use glasshouse_model::Timestamp;
use glasshouse_sim::month::MonthCity;
use glasshouse_store::CatalogEvent;
use serde::Serialize;
use serde_json::json;
use std::time::Instant;

/// Entries added to a list per call: the most the application layer takes at once.
const ENTRIES_PER_CALL: usize = glasshouse_app::hotlists::ENTRIES_PER_CALL_MAX;

#[derive(Serialize)]
pub struct SetupReport {
    pub devices: usize,
    pub hotlist_entries: usize,
    pub geofences: usize,
    pub seconds: f64,
}

/// Plates on the list that the month never reads: eight characters, where the fleet has seven and
/// the list allows no change of length. The latency run reads one per request, and each must raise
/// an alert of its own: every glyph is doubled and none is OCR-confusable, so two probes differ by
/// at least two real substitutions and never match each other's entry (which would fold a probe
/// into another's alert as a repeat).
pub fn probe_plates(n: usize) -> Vec<String> {
    const GLYPHS: &[u8] = b"ACEFHJKMNPRTUVWXY3479";
    let base = GLYPHS.len();
    assert!(n <= base.pow(4), "at most {} probes", base.pow(4));
    (0..n)
        .map(|i| {
            let mut plate = String::with_capacity(8);
            for place in 0..4 {
                let glyph = GLYPHS[i / base.pow(place) % base] as char;
                plate.push(glyph);
                plate.push(glyph);
            }
            plate
        })
        .collect()
}

/// A misread-tolerant list (confusable glyphs free, `substitutions` more, no change of length).
fn hotlist(
    name: &str,
    source: HotlistSource,
    substitutions: u8,
    actor: &Actor,
    now: Timestamp,
) -> anyhow::Result<glasshouse_engine::Hotlist> {
    let list = NewHotlist {
        name: name.into(),
        source,
        match_policy: MatchPolicy::MisreadTolerant,
        priority: Some(2),
        substitutions_max: Some(substitutions),
        length_tolerance: false,
        region_tolerant: true,
    };
    Ok(list.into_hotlist(new_id("hl"), &actor.name, now)?)
}

pub fn register(app: &App, month: &MonthCity, args: &CityArgs, probes: usize) -> anyhow::Result<SetupReport> {
    let started = Instant::now();
    let actor = Actor::new("bench", "administrator");
    let now = Timestamp::now();
    let devices = month.devices();
    let device_count = devices.len();
    app.import_devices(&actor, devices, now)?;

    // Two lists, as a city runs them: the national one (1M entries, confusable glyphs free and
    // `--national-substitutions` more), and the city's own stolen vehicles with the latency probes,
    // small enough to afford one free substitution. With one on the national list too, 4.5 % of a
    // NY-format city's reads come within reach of an entry: 174k alerts a day, nearly all false.
    let national_list = hotlist("national stolen vehicles", HotlistSource::Ncic, args.national_substitutions, &actor, now)?;
    let city_list = hotlist("city stolen vehicles", HotlistSource::Local, 1, &actor, now)?;
    let city = month.fleet_sample(args.hotlisted_vehicles, 0x57_01e);
    let national = args.hotlist.saturating_sub(city.len() + probes);
    let expires_at = now.plus_secs(365 * 86_400);
    let entry = |plate| HotlistEntry {
        plate,
        region: None,
        reason: "stolen vehicle".into(),
        expires_at,
        added_by: actor.name.clone(),
        added_at: now,
    };
    let mut hotlist_entries = 0;
    for (list, plates) in
        [(&national_list, month.national_plates(national)), (&city_list, city.into_iter().chain(probe_plates(probes)).collect())]
    {
        app.create_hotlist(&actor, list.clone())?;
        let entries: Vec<HotlistEntry> = plates.into_iter().map(entry).collect();
        hotlist_entries += entries.len();
        for chunk in entries.chunks(ENTRIES_PER_CALL) {
            app.add_hotlist_entries(&actor, &list.id, chunk.to_vec(), now)?;
        }
    }

    let watched = GeofenceSubjects { devices: month.patrol_car_ids(), hotlisted: true };
    let mut events = Vec::with_capacity(args.geofences);
    for (i, area) in month.fences(args.geofences).into_iter().enumerate() {
        let rule = NewGeofenceRule {
            name: format!("protected site {}", i + 1),
            area,
            triggers: vec![GeofenceTrigger::Dwell],
            dwell_s: Some(600),
            subjects: watched.clone(),
            margin_m: None,
            confirm_s: None,
            priority: Some(3),
        }
        .into_rule(new_id("gf"))?;
        events.push(CatalogEvent::GeofenceCreated { rule, actor: actor.name.clone() });
    }
    {
        let mut catalog = app.catalog.lock().unwrap_or_else(|p| p.into_inner());
        app.record(&actor, Action::RuleCreate, "ok", json!({ "geofences": events.len(), "via": "bench set-up" }))?;
        catalog.record_all(events)?;
        app.publish_catalog(&catalog);
    }

    app.create_rule(
        &actor,
        NewRule::Threshold(NewThresholdRule {
            name: "gamma dose rate".into(),
            quantity: "gamma_dose_rate".into(),
            device_id: None,
            zone: None,
            level: 0.5,
            clear_below: Some(0.3),
            rate_per_min: None,
            priority: Some(1),
        }),
    )?;
    app.create_rule(
        &actor,
        NewRule::Situation(NewCorrelationRule {
            name: "gunshots and violent incidents".into(),
            gunshots: true,
            incident_types: vec!["SHOTS_FIRED".into(), "ASSAULT".into(), "ROBBERY".into()],
            windows: vec![],
        }),
    )?;
    Ok(SetupReport { devices: device_count, hotlist_entries, geofences: args.geofences, seconds: started.elapsed().as_secs_f64() })
}
