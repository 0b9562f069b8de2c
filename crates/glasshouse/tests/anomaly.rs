//! The simulator's injected radiation anomaly, fed through the threshold rule the demo registers,
//! raises exactly one alert per anomaly, not one per reading.

use glasshouse_engine::{NewThresholdRule, ThresholdState};
use glasshouse_model::{Body, LatLon};
use glasshouse_sim::{City, CityConfig, RoadNetwork, Simulator, SimulatorConfig};

#[test]
fn one_anomaly_one_alert() {
    let city =
        City::build(RoadNetwork::grid(8, 8, 150.0, LatLon::new(60.16, 24.93)), &CityConfig { vehicles: 20, ..CityConfig::default() });
    let config = SimulatorConfig::default();
    let start = config.start;
    let mut sim = Simulator::new(city, config);
    let mut observations = Vec::new();
    // Two anomaly periods (every three hours): 10–25 minutes into each.
    sim.advance_until(start.plus_secs(6 * 3600), &mut observations);
    let rule = NewThresholdRule {
        name: "gamma".into(),
        quantity: "gamma_dose_rate".into(),
        device_id: None,
        zone: None,
        level: 1.0,
        clear_below: Some(0.5),
        rate_per_min: None,
        priority: None,
    }
    .into_rule("th-1".into())
    .unwrap();
    let readings_above = observations.iter().filter(|o| matches!(&o.body, Body::SensorReading(s) if s.value >= 1.0)).count();
    assert!(readings_above >= 10, "the anomaly spans many readings ({readings_above})");
    let mut state = ThresholdState::default();
    let mut alerts = Vec::new();
    for o in &observations {
        state.evaluate(std::slice::from_ref(&rule), o, glasshouse_model::Timestamp(0), &mut alerts);
    }
    assert_eq!(alerts.len(), 2, "one alert per anomaly over two periods, from {readings_above} readings above the level");
    assert!(alerts.iter().all(|a| a.device_id == alerts[0].device_id));
}
