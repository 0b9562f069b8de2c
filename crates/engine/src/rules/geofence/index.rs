//! Every fence, indexed so a position is tested only against the fences whose margin-grown
//! bounding box holds it.
//!
//! The index is a uniform grid of buckets over all fences, not an R-tree: measured with 10k fences
//! over a 20 km city (7 envelopes per point), an rstar R-tree lookup alone cost 450 ns a point, over
//! half the budget of a 1M checks/s target. A bucket is found by arithmetic and lists each fence's
//! grid frame inline, and the fences' cell classes sit packed in one array, so a check touches a few
//! cache lines instead of chasing pointers through tree nodes and per-fence allocations. The exact
//! test of a point in a straddling cell reads the fence's rings from one array of every fence's
//! (its [`ExactRun`]), and a check starts loading each fence's cell class, then each needed run,
//! before it reads any: with 10k fences these are cache misses, and so they overlap instead of
//! queueing (decision 0013).

use super::presence::{Event, GeofenceState, Presence};
use super::shape::{Cell, ExactRun, FenceShape, GridFrame, Zone, parse_geojson_area};
use super::{GeofenceHit, GeofenceRule, GeofenceTrigger};
use crate::alert::{Alert, alert_id};
use crate::rules::misread::prefetch;
use glasshouse_model::{Observation, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// Smallest bucket side: well below a typical fence, so a bucket lists few fences.
const BUCKET_M_MIN: f64 = 250.0;
/// Most buckets along a side, so fences spread over a region do not make a huge grid.
const BUCKETS_PER_SIDE_MAX: f64 = 1024.0;
/// Four two-bit cell classes per byte.
const CELLS_PER_BYTE: usize = 4;
/// Fences of a bucket whose loads are started together (a bucket with more goes in groups).
const STAGED: usize = 32;
/// Pairs of an exact run loaded ahead (four cache lines: a hexagon's whole run).
const RUN_PAIRS_AHEAD: usize = 16;

/// One fence as a bucket lists it: its grid frame and where its cells start.
#[derive(Debug, Clone, Copy)]
struct Probe {
    frame: GridFrame,
    fence: u32,
    /// Index of the fence's first cell in [`Lookup::cells`].
    first_cell: u32,
    /// Where the fence's exact run starts in [`Lookup::runs`].
    run: u32,
}

/// The bucket grid and every enabled fence's packed cell classes.
#[derive(Debug, Default)]
struct Lookup {
    min_lon: f64,
    min_lat: f64,
    buckets_per_degree_lon: f64,
    buckets_per_degree_lat: f64,
    cols: usize,
    rows: usize,
    /// `probes[bucket_starts[b]..bucket_starts[b + 1]]` are the fences of bucket `b`.
    bucket_starts: Vec<u32>,
    probes: Vec<Probe>,
    cells: Vec<u8>,
    /// Every enabled fence's [`ExactRun`], one after another.
    runs: Vec<[f64; 2]>,
    /// Devices some enabled fence watches: most observations are from none of them.
    watched_devices: HashSet<String>,
    watches_hotlisted: bool,
}

impl Lookup {
    fn build(fences: &[Arc<Fence>]) -> Lookup {
        let enabled: Vec<(u32, &Fence)> =
            fences.iter().enumerate().filter(|(_, f)| f.rule.enabled).map(|(i, f)| (i as u32, &**f)).collect();
        if enabled.is_empty() {
            return Lookup::default();
        }
        let watched_devices = enabled.iter().flat_map(|(_, f)| f.devices.iter().cloned()).collect();
        let watches_hotlisted = enabled.iter().any(|(_, f)| f.rule.subjects.hotlisted);
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for (_, f) in &enabled {
            let (lo, hi) = f.shape.envelope;
            min = [min[0].min(lo[0]), min[1].min(lo[1])];
            max = [max[0].max(hi[0]), max[1].max(hi[1])];
        }
        let metres_per_degree_lon = 111_320.0 * ((min[1] + max[1]) / 2.0).to_radians().cos().max(0.01);
        let extent_m = ((max[0] - min[0]) * metres_per_degree_lon).max((max[1] - min[1]) * 110_574.0);
        let bucket_m = (extent_m / BUCKETS_PER_SIDE_MAX).max(BUCKET_M_MIN);
        let (per_lon, per_lat) = (metres_per_degree_lon / bucket_m, 110_574.0 / bucket_m);
        let cols = (((max[0] - min[0]) * per_lon).floor() as usize + 1).max(1);
        let rows = (((max[1] - min[1]) * per_lat).floor() as usize + 1).max(1);

        let mut cells = Vec::new();
        let mut runs = Vec::new();
        let mut probes_of_fence = Vec::with_capacity(enabled.len());
        for (fence, f) in &enabled {
            let first_cell = (cells.len() * CELLS_PER_BYTE) as u32;
            let classes = f.shape.cells();
            for chunk in classes.chunks(CELLS_PER_BYTE) {
                cells.push(chunk.iter().enumerate().fold(0u8, |byte, (k, c)| byte | (*c as u8) << (2 * k)));
            }
            let run = runs.len() as u32;
            runs.extend_from_slice(f.shape.exact_run());
            probes_of_fence.push(Probe { frame: f.shape.frame(), fence: *fence, first_cell, run });
        }
        let bucket_range = |f: &Fence| {
            let (lo, hi) = f.shape.envelope;
            let col = |lon: f64| (((lon - min[0]) * per_lon).floor().max(0.0) as usize).min(cols - 1);
            let row = |lat: f64| (((lat - min[1]) * per_lat).floor().max(0.0) as usize).min(rows - 1);
            (col(lo[0])..=col(hi[0]), row(lo[1])..=row(hi[1]))
        };
        let mut counts = vec![0u32; cols * rows + 1];
        for (_, f) in &enabled {
            let (xs, ys) = bucket_range(f);
            for y in ys {
                for x in xs.clone() {
                    counts[y * cols + x + 1] += 1;
                }
            }
        }
        for b in 1..counts.len() {
            counts[b] += counts[b - 1];
        }
        let bucket_starts = counts.clone();
        let mut next = counts;
        let mut probes = vec![probes_of_fence[0]; *bucket_starts.last().expect("one count per bucket") as usize];
        for (probe, (_, f)) in probes_of_fence.iter().zip(&enabled) {
            let (xs, ys) = bucket_range(f);
            for y in ys {
                for x in xs.clone() {
                    let slot = &mut next[y * cols + x];
                    probes[*slot as usize] = *probe;
                    *slot += 1;
                }
            }
        }
        Lookup {
            min_lon: min[0],
            min_lat: min[1],
            buckets_per_degree_lon: per_lon,
            buckets_per_degree_lat: per_lat,
            cols,
            rows,
            bucket_starts,
            probes,
            cells,
            runs,
            watched_devices,
            watches_hotlisted,
        }
    }

    fn bucket(&self, lat: f64, lon: f64) -> &[Probe] {
        let x = (lon - self.min_lon) * self.buckets_per_degree_lon;
        let y = (lat - self.min_lat) * self.buckets_per_degree_lat;
        if !(x >= 0.0 && y >= 0.0 && x < self.cols as f64 && y < self.rows as f64) {
            return &[];
        }
        let b = y as usize * self.cols + x as usize;
        &self.probes[self.bucket_starts[b] as usize..self.bucket_starts[b + 1] as usize]
    }

    fn cell(&self, index: usize) -> Cell {
        Cell::from_bits(self.cells[index / CELLS_PER_BYTE] >> (2 * (index % CELLS_PER_BYTE)))
    }
}

#[derive(Debug)]
struct Fence {
    rule: GeofenceRule,
    shape: FenceShape,
    devices: HashSet<String>,
}

/// The fences the hot path runs; cheap to clone (the compiled fences and the lookup are shared).
#[derive(Debug, Clone, Default)]
pub struct GeofenceIndex {
    fences: Vec<Arc<Fence>>,
    by_id: HashMap<String, u32>,
    /// Built on first use after a change, not per change: replaying 10k stored fences at start-up
    /// would otherwise rebuild the whole lookup 10k times. The catalog builds it when it publishes
    /// a snapshot ([`GeofenceIndex::prepare`]), so the hot path finds it ready.
    lookup: OnceLock<Arc<Lookup>>,
}
// `fences` only grows and a replaced fence keeps its place, so a fence's index is stable and the
// hot path's presence state can be keyed by it.

impl GeofenceIndex {
    /// Adds `rule`, or replaces the fence with its id. Fails only if its area does not parse (rules
    /// are checked when created, so a stored rule always does).
    pub fn upsert(&mut self, rule: GeofenceRule) -> Result<(), String> {
        let area = parse_geojson_area(&rule.area)?;
        let shape = FenceShape::new(&area, rule.margin_m);
        let devices = rule.subjects.devices.iter().cloned().collect();
        let fence = Arc::new(Fence { rule, shape, devices });
        match self.by_id.get(&fence.rule.id) {
            Some(&i) => self.fences[i as usize] = fence,
            None => {
                self.by_id.insert(fence.rule.id.clone(), self.fences.len() as u32);
                self.fences.push(fence);
            }
        }
        self.lookup = OnceLock::new();
        Ok(())
    }

    /// Enables or disables the fence `id`; false if there is none.
    pub fn set_enabled(&mut self, id: &str, enabled: bool) -> bool {
        let Some(&i) = self.by_id.get(id) else { return false };
        let old = &self.fences[i as usize];
        let rule = GeofenceRule { enabled, ..old.rule.clone() };
        self.fences[i as usize] = Arc::new(Fence { rule, shape: old.shape.clone(), devices: old.devices.clone() });
        self.lookup = OnceLock::new();
        true
    }

    /// The hot path's presences with fences named by id, for a snapshot.
    pub fn save_state(&self, state: &GeofenceState) -> Vec<super::SavedPresences> {
        state.save(|i| self.fences.get(i as usize).map(|f| f.rule.id.as_str()))
    }

    /// The presences of a snapshot placed against these fences (those of deleted fences dropped).
    pub fn load_state(&self, saved: Vec<super::SavedPresences>) -> GeofenceState {
        GeofenceState::load(saved, |id| self.by_id.get(id).copied())
    }

    /// Builds the lookup now if a change left it unbuilt (a clone made afterwards shares it).
    pub fn prepare(&self) {
        self.lookup();
    }

    fn lookup(&self) -> &Lookup {
        self.lookup.get_or_init(|| Arc::new(Lookup::build(&self.fences)))
    }

    /// The fence rules, in creation order.
    pub fn rules(&self) -> impl Iterator<Item = &GeofenceRule> {
        self.fences.iter().map(|f| &f.rule)
    }

    /// The rule `id`.
    pub fn get(&self, id: &str) -> Option<&GeofenceRule> {
        self.by_id.get(id).map(|&i| &self.fences[i as usize].rule)
    }

    /// Number of fences.
    pub fn len(&self) -> usize {
        self.fences.len()
    }

    /// True when there are no fences.
    pub fn is_empty(&self) -> bool {
        self.fences.is_empty()
    }

    /// Appends `(fence, zone)` for every enabled fence whose envelope holds `(lat, lon)`; the
    /// position is [`Zone::Outside`] every other fence.
    pub fn zones_at(&self, lat: f64, lon: f64, out: &mut Vec<(u32, Zone)>) {
        let lookup = self.lookup();
        // In three steps over a group of the bucket's fences: each cell class starts loading, then
        // each run a straddling cell needs, then the answers, so the misses overlap.
        const NONE: usize = usize::MAX;
        for group in lookup.bucket(lat, lon).chunks(STAGED) {
            let mut cells = [NONE; STAGED];
            for (cell, probe) in cells.iter_mut().zip(group) {
                if let Some(at) = probe.frame.cell_of(lat, lon) {
                    *cell = probe.first_cell as usize + at;
                    prefetch(&lookup.cells[*cell / CELLS_PER_BYTE]);
                }
            }
            let mut classes = [Cell::Outside; STAGED];
            for ((class, &cell), probe) in classes.iter_mut().zip(&cells).zip(group) {
                if cell != NONE {
                    *class = lookup.cell(cell);
                    if *class == Cell::Mixed {
                        let run = &lookup.runs[probe.run as usize..];
                        for pair in run.iter().take(RUN_PAIRS_AHEAD).step_by(4) {
                            prefetch(pair);
                        }
                    }
                }
            }
            for ((&class, &cell), probe) in classes.iter().zip(&cells).zip(group) {
                if cell == NONE {
                    continue;
                }
                let zone = match class {
                    Cell::Mixed => ExactRun::zone_at(&lookup.runs[probe.run as usize..], lat, lon),
                    whole => FenceShape::zone_of_whole_cell(whole),
                };
                out.push((probe.fence, zone));
            }
        }
    }

    /// Moves the subjects `observation` places (its device, and the vehicles of the hotlist hits in
    /// `hits`, the alerts already raised for it) and appends an alert for each reported change.
    pub fn evaluate(&self, state: &mut GeofenceState, observation: &Observation, hits: &[Alert], now: Timestamp, alerts: &mut Vec<Alert>) {
        if self.fences.is_empty() {
            return;
        }
        let lookup = self.lookup();
        let mut subjects: Vec<(String, Option<&str>)> = Vec::new();
        if lookup.watched_devices.contains(&observation.device_id) {
            subjects.push((format!("device:{}", observation.device_id), Some(observation.device_id.as_str())));
        }
        if lookup.watches_hotlisted {
            for hit in hits.iter().filter_map(|a| a.hit.as_ref()) {
                let subject = format!("plate:{}", hit.entry_plate);
                if !subjects.iter().any(|(s, _)| *s == subject) {
                    subjects.push((subject, None));
                }
            }
        }
        if subjects.is_empty() {
            return;
        }
        let mut zones = Vec::new();
        self.zones_at(observation.position.lat, observation.position.lon, &mut zones);
        for (subject, device) in subjects {
            let watches = |fence: &Fence| match device {
                Some(d) => fence.devices.contains(d),
                None => fence.rule.subjects.hotlisted,
            };
            // A subject seen before without a presence for a fence was outside it (only presences
            // that are inside, pending or unknown are kept), so its first fix inside is an `enter`.
            let seen_before = state.subjects.contains_key(&subject);
            let mut previous = std::mem::take(state.subjects.entry(subject.clone()).or_default());
            let mut kept = Vec::with_capacity(previous.len());
            for &(i, zone) in &zones {
                let fence = &self.fences[i as usize];
                if !watches(fence) {
                    continue;
                }
                let mut presence = match previous.iter().position(|(f, _)| *f == i) {
                    Some(k) => previous.swap_remove(k).1,
                    None if seen_before => Presence::outside(),
                    None => Presence::default(),
                };
                self.step(fence, &mut presence, zone, &subject, (observation, now), hits, alerts);
                state.evaluated.push(i);
                if !presence.is_settled_outside() {
                    kept.push((i, presence));
                }
            }
            // Fences the subject was in (or about to change for) but whose envelope it has left.
            for (i, mut presence) in previous {
                let fence = &self.fences[i as usize];
                if fence.rule.enabled {
                    self.step(fence, &mut presence, Zone::Outside, &subject, (observation, now), hits, alerts);
                    state.evaluated.push(i);
                }
                if !presence.is_settled_outside() {
                    kept.push((i, presence));
                }
            }
            state.subjects.insert(subject, kept);
        }
    }

    /// Counts the fences the last [`GeofenceIndex::evaluate`] stepped into `metrics`; true if any.
    pub fn drain_evaluated(&self, state: &mut GeofenceState, metrics: &mut crate::metrics::RuleMetrics) -> bool {
        let any = !state.evaluated.is_empty();
        for i in state.evaluated.drain(..) {
            metrics.evaluated(&self.fences[i as usize].rule.id);
        }
        any
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        fence: &Fence,
        presence: &mut Presence,
        zone: Zone,
        subject: &str,
        (observation, now): (&Observation, Timestamp),
        hits: &[Alert],
        alerts: &mut Vec<Alert>,
    ) {
        let rule = &fence.rule;
        let mut events = Vec::new();
        presence.step(zone, observation.observed_at, rule.confirm_s, rule.dwell_s, &mut events);
        for event in events {
            let (trigger, since, dwell_s) = match event {
                Event::Enter { since } => (GeofenceTrigger::Enter, since, None),
                Event::Inside { since } => (GeofenceTrigger::Inside, since, None),
                Event::Exit { since } => (GeofenceTrigger::Exit, since, None),
                Event::Dwell { since, seconds } => (GeofenceTrigger::Dwell, since, Some(seconds)),
            };
            if !rule.triggers.contains(&trigger) {
                continue;
            }
            let plate = hits.iter().find_map(|a| a.plate.clone()).filter(|_| subject.starts_with("plate:"));
            alerts.push(Alert {
                plate,
                geofence: Some(GeofenceHit {
                    rule_id: rule.id.clone(),
                    rule_name: rule.name.clone(),
                    trigger,
                    subject: subject.to_owned(),
                    since,
                    dwell_s,
                }),
                ..Alert::raised(
                    alert_id(&[&observation.id, "geofence", &rule.id, subject, trigger.as_str()]),
                    "geofence",
                    rule.priority,
                    observation,
                    now,
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::geofence::{GeofenceSubjects, NewGeofenceRule};
    use glasshouse_model::{Body, PlateRead, Position, Timestamp};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::LazyLock;

    /// Forty fences over one block, more than one group of staged loads: squares of many sizes and
    /// offsets, every fifth with a hole, with margins from 0 to 39 m; and each fence's own shape.
    static OVERLAPPING: LazyLock<(GeofenceIndex, Vec<FenceShape>)> = LazyLock::new(|| {
        let mut index = GeofenceIndex::default();
        let mut shapes = Vec::new();
        for i in 0..40 {
            let (lat, lon, half) = (60.165 + (i % 7) as f64 * 0.0004, 24.94 + (i % 5) as f64 * 0.0008, 0.002 + (i % 9) as f64 * 0.0006);
            let square = |h: f64| {
                vec![
                    [lon - 2.0 * h, lat - h],
                    [lon + 2.0 * h, lat - h],
                    [lon + 2.0 * h, lat + h],
                    [lon - 2.0 * h, lat + h],
                    [lon - 2.0 * h, lat - h],
                ]
            };
            let rings = if i % 5 == 0 { vec![square(half), square(half / 3.0)] } else { vec![square(half)] };
            let area = json!({"type": "Polygon", "coordinates": rings});
            let margin_m = Some(i as f64);
            let rule = NewGeofenceRule {
                name: format!("block {i}"),
                area: area.clone(),
                triggers: vec![GeofenceTrigger::Enter],
                dwell_s: None,
                subjects: GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: false },
                margin_m,
                confirm_s: None,
                priority: None,
            }
            .into_rule(format!("gf-{i}"))
            .unwrap();
            index.upsert(rule).unwrap();
            shapes.push(FenceShape::new(&parse_geojson_area(&area).unwrap(), i as f64));
        }
        (index, shapes)
    });

    proptest! {
        /// The staged lookups (cell classes, then runs, then answers) give every fence the zone its
        /// own shape's exact test gives, and report each fence at most once.
        #[test]
        fn the_index_agrees_with_each_fence_alone(lat in 60.158f64..60.175, lon in 24.925f64..24.965) {
            let (index, shapes) = &*OVERLAPPING;
            let mut zones = Vec::new();
            index.zones_at(lat, lon, &mut zones);
            for (i, shape) in shapes.iter().enumerate() {
                let reported: Vec<Zone> = zones.iter().filter(|(f, _)| *f == i as u32).map(|(_, z)| *z).collect();
                prop_assert!(reported.len() <= 1, "fence {} reported twice", i);
                prop_assert_eq!(reported.first().copied().unwrap_or(Zone::Outside), shape.exact_zone_at(lat, lon), "fence {}", i);
            }
        }
    }

    /// A square of about 1.1 km × 1.1 km; its west edge is at lon 24.93.
    fn index(subjects: GeofenceSubjects, triggers: Vec<GeofenceTrigger>) -> GeofenceIndex {
        let rule = NewGeofenceRule {
            name: "harbour".into(),
            area: json!({"type": "Polygon", "coordinates": [[[24.93, 60.16], [24.95, 60.16], [24.95, 60.17], [24.93, 60.17], [24.93, 60.16]]]}),
            triggers,
            dwell_s: None,
            subjects,
            margin_m: Some(15.0),
            confirm_s: Some(5),
            priority: None,
        }
        .into_rule("gf-1".into())
        .unwrap();
        let mut index = GeofenceIndex::default();
        index.upsert(rule).unwrap();
        index
    }

    fn at(device: &str, second: i64, lat: f64, lon: f64) -> Observation {
        Observation {
            id: format!("{device}-{second}"),
            device_id: device.into(),
            observed_at: Timestamp(second * 1_000_000),
            received_at: Timestamp(second * 1_000_000),
            position: Position { lat, lon, heading_deg: None, accuracy_m: None },
            body: Body::PlateRead(PlateRead { plate: "ABC123".into(), ..PlateRead::default() }),
        }
    }

    fn triggers(alerts: &[Alert]) -> Vec<(String, &'static str)> {
        alerts.iter().map(|a| (a.observation_id.clone(), a.geofence.as_ref().unwrap().trigger.as_str())).collect()
    }

    #[test]
    fn presences_survive_a_snapshot_into_an_index_that_lists_the_fences_in_another_order() {
        let watched = GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: false };
        let before = index(watched, vec![GeofenceTrigger::Enter, GeofenceTrigger::Exit]);
        let mut state = GeofenceState::default();
        let mut alerts = Vec::new();
        for second in 0..10 {
            before.evaluate(&mut state, &at("car-1", second, 60.165, 24.94), &[], Timestamp(0), &mut alerts);
        }
        let saved = serde_json::to_string(&before.save_state(&state)).unwrap();

        // After a restart the catalog lists another fence first: the harbour is now at position 1.
        let harbour = before.rules().next().unwrap().clone();
        let mut after = GeofenceIndex::default();
        after.upsert(GeofenceRule { id: "gf-other".into(), ..harbour.clone() }).unwrap();
        after.upsert(harbour).unwrap();
        let mut restored = after.load_state(serde_json::from_str(&saved).unwrap());
        let mut exits = Vec::new();
        for second in 10..20 {
            after.evaluate(&mut restored, &at("car-1", second, 60.165, 24.90), &[], Timestamp(0), &mut exits);
        }
        let harbour_exits: Vec<_> = exits.iter().filter(|a| a.geofence.as_ref().unwrap().rule_id != "gf-other").collect();
        assert_eq!(harbour_exits.len(), 1, "the car was inside before the restart, so leaving is an exit: {exits:?}");
        assert_eq!(harbour_exits[0].geofence.as_ref().unwrap().trigger.as_str(), "exit");

        // Without the snapshot the car is unplaced and leaving raises nothing.
        let mut fresh = GeofenceState::default();
        let mut none = Vec::new();
        for second in 10..20 {
            after.evaluate(&mut fresh, &at("car-1", second, 60.165, 24.90), &[], Timestamp(0), &mut none);
        }
        assert!(none.is_empty());
    }

    #[test]
    fn a_device_jittering_across_the_edge_enters_and_exits_once_each() {
        let index = index(
            GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: false },
            vec![GeofenceTrigger::Enter, GeofenceTrigger::Exit],
        );
        let mut state = GeofenceState::default();
        let mut alerts = Vec::new();
        // Metres east of the west edge, one fix a second: approach, ±10 m jitter on the edge, drive
        // in (held for the 5 s confirmation), jitter again, then leave westwards; the last fixes are
        // outside the fence's envelope, where the R-tree no longer returns it.
        let east_m = [
            -200.0, -100.0, -8.0, 6.0, -9.0, 9.0, -5.0, 40.0, 60.0, 80.0, 90.0, 100.0, 110.0, 7.0, -7.0, 8.0, -30.0, -50.0, -70.0, -90.0,
            -500.0, -900.0,
        ];
        for (second, m) in east_m.iter().enumerate() {
            index.evaluate(&mut state, &at("car-1", second as i64, 60.165, 24.93 + m / 55_800.0), &[], Timestamp(0), &mut alerts);
        }
        assert_eq!(triggers(&alerts), vec![("car-1-12".into(), "enter"), ("car-1-21".into(), "exit")]);
        let mut others = Vec::new();
        index.evaluate(&mut state, &at("car-2", 30, 60.165, 24.94), &[], Timestamp(0), &mut others);
        assert!(others.is_empty(), "car-2 is not watched");
    }

    #[test]
    fn a_hotlisted_vehicle_is_placed_at_the_reader_that_read_it() {
        let index = index(GeofenceSubjects { devices: vec![], hotlisted: true }, vec![GeofenceTrigger::Inside]);
        let mut state = GeofenceState::default();
        let read = at("lpr-9", 100, 60.165, 24.94);
        let mut hit = Alert::raised("al-x".into(), "hotlist", 1, &read, Timestamp(0));
        hit.plate = Some("A8C123".into());
        hit.hit = Some(crate::alert::tests::hit("ABC123"));
        let mut alerts = Vec::new();
        index.evaluate(&mut state, &read, &[], Timestamp(0), &mut alerts);
        assert!(alerts.is_empty(), "without a hit the read places nobody");
        index.evaluate(&mut state, &read, std::slice::from_ref(&hit), Timestamp(0), &mut alerts);
        assert!(alerts.is_empty(), "not yet held for the confirmation time");
        index.evaluate(&mut state, &at("lpr-9", 106, 60.165, 24.94), std::slice::from_ref(&hit), Timestamp(0), &mut alerts);
        assert_eq!(alerts.len(), 1);
        let fence = alerts[0].geofence.as_ref().unwrap();
        assert_eq!((fence.subject.as_str(), fence.trigger, fence.since), ("plate:ABC123", GeofenceTrigger::Inside, Timestamp(100_000_000)));
        assert_eq!(alerts[0].plate.as_deref(), Some("A8C123"));
    }

    #[test]
    fn a_disabled_fence_reports_nothing() {
        let mut index = index(GeofenceSubjects { devices: vec!["car-1".into()], hotlisted: false }, vec![GeofenceTrigger::Inside]);
        assert!(index.set_enabled("gf-1", false));
        let mut state = GeofenceState::default();
        let mut alerts = Vec::new();
        for second in 0..20 {
            index.evaluate(&mut state, &at("car-1", second, 60.165, 24.94), &[], Timestamp(0), &mut alerts);
        }
        assert!(alerts.is_empty());
        assert!(!index.rules().next().unwrap().enabled);
    }
}
