//! New hotlist entries against the reads of the last day: every read of the window is considered,
//! the oldest and the newest alike, by index lookups for a small batch and one pass for a large one.

mod common;

use common::{app, entries, read};
use glasshouse_app::Actor;
use glasshouse_engine::{HotlistSource, MatchPolicy, NewHotlist, NewHotlistEntry};
use glasshouse_model::Timestamp;

/// Far more reads than the old capped scan looked at (the oldest 50,000), spread over the last
/// day and flushed to segments, so the lookups go through the plate indexes.
const READS: usize = 3_600_000;

fn actor() -> Actor {
    Actor::new("ada", "administrator")
}

/// `READS` reads over the last 24 h, oldest first; `WANTED1` is read first, last and once at
/// midday, and `WANTEO1` (a misread of it) once.
fn day_of_reads(f: &common::Fixture, now: Timestamp) {
    let step = (24 * 3600 - 120) * 1_000_000 / READS as i64;
    let reads = (0..READS).map(|i| {
        let at = Timestamp(now.0 - (24 * 3600 - 60) * 1_000_000 + i as i64 * step);
        let plate = match i {
            0 => "WANTED1".to_owned(),
            i if i == READS - 1 || i == READS / 2 => "WANTED1".to_owned(),
            i if i == READS / 4 => "WANTEO1".to_owned(),
            i => format!("P{i:06}"),
        };
        ((i + 1) as u64, read(&format!("r-{i}"), &plate, at))
    });
    f.app.store.insert(reads);
    f.app.store.flush().unwrap();
}

fn list(f: &common::Fixture, id: &str, policy: MatchPolicy) {
    let hotlist = NewHotlist {
        name: id.into(),
        source: HotlistSource::Local,
        match_policy: policy,
        priority: None,
        substitutions_max: None,
        length_tolerance: false,
        region_tolerant: false,
    }
    .into_hotlist(id.into(), "ada", Timestamp::now())
    .unwrap();
    f.app.create_hotlist(&actor(), hotlist).unwrap();
}

fn entry(plate: &str, now: Timestamp) -> glasshouse_engine::HotlistEntry {
    NewHotlistEntry { plate: plate.into(), region: None, reason: "stolen_vehicle".into(), expires_at: now.plus_secs(86_400) }
        .into_entry(0, "ada", now)
        .unwrap()
}

/// The observation ids of the retroactive alerts on list `list_id`.
fn retroactive(f: &common::Fixture, list_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = f
        .app
        .alerts
        .recent(1_000)
        .unwrap()
        .into_iter()
        .filter(|a| a.retroactive && a.hotlist_id.as_deref() == Some(list_id))
        .flat_map(|a| {
            std::iter::once(a.observation_id.clone()).chain(a.repeats.iter().map(|r| r.observation_id.clone())).collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

fn last_result(f: &common::Fixture) -> serde_json::Value {
    entries(&f.app).into_iter().rev().find(|e| e["action"] == "hotlist.past_read_match.result").unwrap()["details"].clone()
}

#[test]
fn more_entries_than_one_call_takes_are_refused_before_anything_is_logged_or_listed() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    list(&f, "national", MatchPolicy::Exact);
    let logged = entries(&f.app).len();
    let too_many: Vec<_> = (0..=glasshouse_app::hotlists::ENTRIES_PER_CALL_MAX).map(|i| entry(&format!("N{i:06}"), now)).collect();
    let refused = f.app.add_hotlist_entries(&actor(), "national", too_many, now).unwrap_err();
    assert!(refused.to_string().contains("at most 100000 in one call"), "{refused}");
    assert_eq!(entries(&f.app).len(), logged, "nothing logged");
    assert!(f.app.engine.read().unwrap().hotlists.entries("national").is_empty(), "nothing listed");
    // A call within the limit goes in.
    let parts: Vec<_> = (0..3).map(|i| entry(&format!("N{i:06}"), now)).collect();
    f.app.add_hotlist_entries(&actor(), "national", parts, now).unwrap();
    assert_eq!(f.app.engine.read().unwrap().hotlists.entries("national").len(), 3);
}

#[test]
fn a_new_entry_finds_every_read_of_the_day_oldest_and_newest_by_index_or_by_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let f = app(dir.path());
    let now = Timestamp::now();
    day_of_reads(&f, now);
    let (first, middle, last) = ("r-0".to_owned(), format!("r-{}", READS / 2), format!("r-{}", READS - 1));
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };

    // One entry: looked up in the plate indexes.
    list(&f, "exact", MatchPolicy::Exact);
    f.app.add_hotlist_entries(&actor(), "exact", vec![entry("WANTED1", now)], now).unwrap();
    assert_eq!(retroactive(&f, "exact"), sorted(vec![first.clone(), middle.clone(), last.clone()]));
    let result = last_result(&f);
    assert_eq!((result["method"].as_str(), result["reads_checked"].as_u64()), (Some("plate_index"), Some(3)), "{result}");

    // A misread-tolerant list also takes the misread, through the tolerant index lookup.
    list(&f, "lenient", MatchPolicy::MisreadTolerant);
    f.app.add_hotlist_entries(&actor(), "lenient", vec![entry("WANTED1", now)], now).unwrap();
    let misread = format!("r-{}", READS / 4);
    assert_eq!(retroactive(&f, "lenient"), sorted(vec![first.clone(), middle.clone(), last.clone(), misread]));

    // A list imported whole: one pass over every read of the window.
    list(&f, "imported", MatchPolicy::Exact);
    let mut batch: Vec<_> = (0..glasshouse_app::hotlists::PAST_READ_LOOKUPS_MAX).map(|i| entry(&format!("ZZ{i:05}"), now)).collect();
    batch.push(entry("WANTED1", now));
    f.app.add_hotlist_entries(&actor(), "imported", batch, now).unwrap();
    assert_eq!(retroactive(&f, "imported"), sorted(vec![first, middle, last]));
    let result = last_result(&f);
    assert_eq!((result["method"].as_str(), result["reads_checked"].as_u64()), (Some("window_scan"), Some(READS as u64)), "{result}");
}
