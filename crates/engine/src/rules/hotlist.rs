//! Plate hotlists: lists of plates of interest, each entry with a reason and an expiry.
//!
//! Exact lists: an index maps a normalised plate to the entries that list it, so a read costs one
//! hash lookup per reading, never a scan of the lists. Misread-tolerant lists (the API's `lenient`): a variant-key
//! index per list (see [`super::misread`]). Partial plates (`AB?12*`): a pattern index.

use crate::alert::{Alert, HotlistHit, alert_id};
use crate::rules::misread::{CanonicalKey, CharDiff, MisreadIndex, Probes, canonical, compare, prefetch};
use crate::rules::wildcard::{self, PatternIndex};
use glasshouse_model::device::validate_id;
use glasshouse_model::limits::{CANDIDATES_MAX, ID_CHARS_MAX, TEXT_CHARS_MAX};
use glasshouse_model::{Observation, Timestamp, plate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HotlistSource {
    /// The national crime information system.
    Ncic,
    /// A state or regional list.
    State,
    /// Kept by this agency.
    Local,
}

/// How reads are compared with entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MatchPolicy {
    /// The normalised plate must be equal.
    #[default]
    Exact,
    /// Misread-tolerant (the API's `lenient`): confusable glyphs are free, up to
    /// `substitutions_max` other substitutions, and with `length_tolerance` one dropped or extra
    /// character (see [`super::misread`]).
    #[serde(rename = "lenient")]
    MisreadTolerant,
}

/// The most substitutions a misread-tolerant list may allow: beyond two, a six-character plate matches
/// thousands of innocent ones.
pub const SUBSTITUTIONS_MAX: u8 = 2;

/// A request to create a list.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewHotlist {
    /// Display name.
    pub name: String,
    /// Where the list comes from.
    pub source: HotlistSource,
    /// Matching policy.
    #[serde(default, rename = "match")]
    pub match_policy: MatchPolicy,
    /// 1 = most urgent; defaults to 2.
    #[serde(default)]
    pub priority: Option<u8>,
    /// Misread-tolerant lists: substitutions allowed besides confusable glyphs (0..=2, default 1).
    #[serde(default)]
    pub substitutions_max: Option<u8>,
    /// Misread-tolerant lists: allow one dropped or extra character.
    #[serde(default)]
    pub length_tolerance: bool,
    /// Match reads whatever region they report (a misread region code).
    #[serde(default)]
    pub region_tolerant: bool,
}

/// A list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotlist {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the list comes from.
    pub source: HotlistSource,
    /// Matching policy.
    #[serde(rename = "match")]
    pub match_policy: MatchPolicy,
    /// 1 = most urgent.
    pub priority: u8,
    /// Misread-tolerant lists: substitutions allowed besides confusable glyphs.
    #[serde(default)]
    pub substitutions_max: u8,
    /// Misread-tolerant lists: one dropped or extra character allowed.
    #[serde(default)]
    pub length_tolerance: bool,
    /// Reads match whatever region they report.
    #[serde(default)]
    pub region_tolerant: bool,
    /// The account that created it.
    pub owner: String,
    /// When.
    pub created_at: Timestamp,
}

/// The furthest ahead an entry may expire: ten years, so every listing is reviewed at some point.
pub const EXPIRY_SECS_MAX: i64 = 10 * 366 * 86_400;

/// A request to add one entry.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewHotlistEntry {
    /// Plate text; normalised on entry.
    pub plate: String,
    /// Issuing region; when set, reads from another region do not match.
    #[serde(default)]
    pub region: Option<String>,
    /// Why it is listed: `stolen_vehicle`, `amber_alert`, `wanted`, ...
    pub reason: String,
    /// When the entry lapses. Required: a listing nobody revisits must not live for ever.
    pub expires_at: Timestamp,
}

/// An entry in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotlistEntry {
    /// Normalised plate.
    pub plate: String,
    /// Issuing region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Why it is listed.
    pub reason: String,
    /// When it lapses.
    pub expires_at: Timestamp,
    /// The account that added it.
    pub added_by: String,
    /// When.
    pub added_at: Timestamp,
}

/// Why a list or entry was refused; `field` names the JSON field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct HotlistError {
    /// The JSON field (for entries, prefixed with the array index: `[3].plate`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl NewHotlist {
    /// Checks the request and builds the list.
    pub fn into_hotlist(self, id: String, owner: &str, now: Timestamp) -> Result<Hotlist, HotlistError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > ID_CHARS_MAX {
            return Err(HotlistError { field: "name".into(), reason: format!("must be 1..={ID_CHARS_MAX} characters") });
        }
        let priority = self.priority.unwrap_or(2);
        if !(1..=5).contains(&priority) {
            return Err(HotlistError { field: "priority".into(), reason: "must be 1..=5".into() });
        }
        let substitutions_max = match (self.match_policy, self.substitutions_max) {
            (MatchPolicy::Exact, Some(n)) if n > 0 => {
                return Err(HotlistError {
                    field: "substitutions_max".into(),
                    reason: "an exact list allows no substitutions; use \"match\":\"lenient\"".into(),
                });
            }
            (MatchPolicy::Exact, _) if self.length_tolerance => {
                return Err(HotlistError {
                    field: "length_tolerance".into(),
                    reason: "an exact list allows no length difference; use \"match\":\"lenient\"".into(),
                });
            }
            (MatchPolicy::Exact, _) => 0,
            (MatchPolicy::MisreadTolerant, Some(n)) if n > SUBSTITUTIONS_MAX => {
                return Err(HotlistError { field: "substitutions_max".into(), reason: format!("at most {SUBSTITUTIONS_MAX}") });
            }
            (MatchPolicy::MisreadTolerant, n) => n.unwrap_or(1),
        };
        Ok(Hotlist {
            id,
            name: name.to_owned(),
            source: self.source,
            match_policy: self.match_policy,
            priority,
            substitutions_max,
            length_tolerance: self.length_tolerance,
            region_tolerant: self.region_tolerant,
            owner: owner.to_owned(),
            created_at: now,
        })
    }
}

impl NewHotlistEntry {
    /// Checks the request (`index` locates it in its array) and builds the entry.
    pub fn into_entry(self, index: usize, added_by: &str, now: Timestamp) -> Result<HotlistEntry, HotlistError> {
        let error = |field: &str, reason: String| HotlistError { field: format!("[{index}].{field}"), reason };
        let plate = if wildcard::is_pattern(&self.plate) {
            wildcard::normalize_pattern(&self.plate).map_err(|e| error("plate", e))?
        } else {
            plate::normalize(&self.plate).map_err(|e| error("plate", e.to_string()))?
        };
        let region = match self.region {
            Some(r) if r.len() <= 6 && !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                Some(r.to_ascii_uppercase())
            }
            Some(_) => return Err(error("region", "must be 1..=6 letters, digits or '-'".into())),
            None => None,
        };
        validate_id(&self.reason).map_err(|reason| error("reason", reason))?;
        if self.expires_at <= now {
            return Err(error("expires_at", format!("{} is in the past", self.expires_at)));
        }
        if self.expires_at > now.plus_secs(EXPIRY_SECS_MAX) {
            return Err(error("expires_at", "is more than 10 years ahead; list entries must be reviewed".into()));
        }
        Ok(HotlistEntry {
            plate,
            region,
            reason: self.reason.chars().take(TEXT_CHARS_MAX).collect(),
            expires_at: self.expires_at,
            added_by: added_by.to_owned(),
            added_at: now,
        })
    }
}

/// All lists, an exact index from plate to entries, and a variant-key index per misread-tolerant list.
#[derive(Debug, Default, Clone)]
pub struct HotlistIndex {
    lists: HashMap<String, Hotlist>,
    entries: HashMap<String, Vec<HotlistEntry>>,
    by_plate: HashMap<String, Vec<(String, usize)>>,
    misread: HashMap<String, MisreadIndex>,
    /// Partial plates (`AB?12*`) of every list.
    patterns: PatternIndex,
}

impl HotlistIndex {
    /// Adds or replaces a list's header (entries stay).
    pub fn upsert_list(&mut self, list: Hotlist) {
        self.entries.entry(list.id.clone()).or_default();
        if list.match_policy == MatchPolicy::MisreadTolerant {
            let mut index = MisreadIndex::new(list.substitutions_max, list.length_tolerance);
            for (i, entry) in self.entries[&list.id].iter().enumerate().filter(|(_, e)| !wildcard::is_pattern(&e.plate)) {
                index.insert(canonical(&entry.plate).as_bytes(), i as u32);
            }
            self.misread.insert(list.id.clone(), index);
        } else {
            self.misread.remove(&list.id);
        }
        self.lists.insert(list.id.clone(), list);
    }

    /// Adds entries to a list; returns false when the list does not exist. An entry for a plate
    /// and region already listed replaces the old one (a renewal moves the expiry).
    pub fn add_entries(&mut self, list_id: &str, new_entries: Vec<HotlistEntry>) -> bool {
        let Some(entries) = self.entries.get_mut(list_id) else { return false };
        for entry in new_entries {
            // A renewal is found through the plate index, not a scan: bulk imports stay linear.
            let existing = self
                .by_plate
                .get(&entry.plate)
                .and_then(|slots| slots.iter().find(|(list, i)| list == list_id && entries[*i].region == entry.region).map(|(_, i)| *i));
            if let Some(i) = existing {
                entries[i] = entry;
                continue;
            }
            self.by_plate.entry(entry.plate.clone()).or_default().push((list_id.to_owned(), entries.len()));
            if wildcard::is_pattern(&entry.plate) {
                self.patterns.insert(list_id, entries.len(), &entry.plate);
            } else if let Some(index) = self.misread.get_mut(list_id) {
                index.insert(canonical(&entry.plate).as_bytes(), entries.len() as u32);
            }
            entries.push(entry);
        }
        true
    }

    /// The list with this id.
    pub fn list(&self, id: &str) -> Option<&Hotlist> {
        self.lists.get(id)
    }

    /// All lists, by name, with their entry counts.
    pub fn lists(&self) -> Vec<(&Hotlist, usize)> {
        let mut all: Vec<_> = self.lists.values().map(|l| (l, self.entries.get(&l.id).map_or(0, Vec::len))).collect();
        all.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
        all
    }

    /// A list's entries.
    pub fn entries(&self, id: &str) -> &[HotlistEntry] {
        self.entries.get(id).map_or(&[], Vec::as_slice)
    }

    /// Raises one alert per (list, entry) matched by the read's plate or any candidate (see
    /// [`HotlistIndex::matches`]), best match first.
    pub fn evaluate(&self, observation: &Observation, now: Timestamp, alerts: &mut Vec<Alert>) {
        let Some(read) = observation.plate_read() else { return };
        let mut found = Vec::new();
        self.matches(observation, &mut found);
        for hit in found {
            let HotlistMatch { distance, reading, from_candidate, list, entry, diffs, .. } = hit;
            let id = alert_id(&[&observation.id, "hotlist", &list.id, &entry.plate]);
            alerts.push(Alert {
                plate: Some(read.plate.clone()),
                hotlist_id: Some(list.id.clone()),
                hit: Some(HotlistHit {
                    plate: read.plate.clone(),
                    matched_plate: reading.to_owned(),
                    from_candidate,
                    region: read.region.clone(),
                    hotlist_id: list.id.clone(),
                    hotlist_name: list.name.clone(),
                    entry_plate: entry.plate.clone(),
                    entry_region: entry.region.clone(),
                    reason: entry.reason.clone(),
                    entry_expires_at: entry.expires_at,
                    match_policy: list.match_policy,
                    distance,
                    diffs,
                    image_ref: read.image_ref.clone(),
                    vehicle: crate::alert::VehicleAttribute::of(read),
                }),
                ..Alert::raised(id, "hotlist", list.priority, observation, now)
            });
        }
    }

    /// The (list, entry) pairs the read's plate or any candidate matches, skipping entries
    /// expired at the time of the read and, unless the list tolerates it, another region's;
    /// ranked by distance, then reading (the top reading first), then list priority, each pair
    /// once (its best match). Exact lists match by hash lookup; misread-tolerant lists look up the
    /// reading's variant keys and verify each candidate (an identical plate included).
    pub fn matches<'a>(&'a self, observation: &'a Observation, found: &mut Vec<HotlistMatch<'a>>) {
        let Some(read) = observation.plate_read() else { return };
        let readings = std::iter::once((read.plate.as_str(), false)).chain(read.candidates.iter().map(|c| (c.plate.as_str(), true)));
        let first = found.len();
        let hits = found;
        // Every reading's canonical key, and every misread-tolerant list's probes for them started at once:
        // the index is far larger than the caches, and overlapping the misses is most of the speed.
        let mut keys = [None; READINGS_MAX];
        let mut staged = Staged::default();
        if !self.misread.is_empty() {
            for (key, (reading, _)) in keys.iter_mut().zip(readings.clone()) {
                *key = CanonicalKey::of(reading);
            }
            // Each step of the lookups for every reading before the next: fingerprints (their
            // filter words loading meanwhile), then the filter (the slots loading meanwhile).
            for index in self.misread.values() {
                staged.push(std::array::from_fn(|rank| keys[rank].map(|k| index.probes(k.as_bytes())).unwrap_or_default()));
            }
        }
        // Misread-tolerant lists find identical plates themselves; the exact index (a general hash map, a
        // miss or two per reading) is only asked when some list is exact.
        let any_exact = self.lists.values().any(|l| l.match_policy == MatchPolicy::Exact);
        for (rank, (reading, from_candidate)) in readings.clone().enumerate() {
            if any_exact && let Some(exact) = self.by_plate.get(reading) {
                for (list_id, index) in exact {
                    let (Some(list), Some(entry)) = (self.lists.get(list_id), self.entries.get(list_id).and_then(|e| e.get(*index))) else {
                        continue;
                    };
                    if list.match_policy == MatchPolicy::Exact {
                        hits.push(HotlistMatch { distance: 0, rank, reading, from_candidate, list, entry, diffs: Vec::new() });
                    }
                }
            }
            if !self.patterns.is_empty() {
                self.pattern_hits(reading, rank, from_candidate, first, hits);
            }
        }
        for (index, per_reading) in self.misread.values().zip(staged.iter_mut()) {
            for probes in per_reading.iter_mut() {
                index.filter(probes);
            }
        }
        // List by list, so each list and its entries are looked up once per read. Every reading's
        // candidates are gathered first, and their entries, then the entries' plates, start
        // loading before any is compared: in a list of a million entries each is a cache miss.
        for ((list_id, index), probes) in self.misread.iter().zip(staged.iter()) {
            let (Some(list), Some(entries)) = (self.lists.get(list_id), self.entries.get(list_id)) else { continue };
            let mut candidates = Candidates::default();
            for (rank, (reading, _)) in readings.clone().enumerate() {
                let mut gather = |id: u32| {
                    if let Some(entry) = entries.get(id as usize) {
                        prefetch(entry);
                        candidates.push(rank, id);
                    }
                };
                match (keys.get(rank), probes.get(rank)) {
                    (Some(Some(key)), Some(probes)) => index.candidates_of(key.as_bytes(), probes, &mut gather),
                    (Some(None), _) => {} // longer than any plate: within reach of nothing
                    _ => {
                        if let Some(key) = CanonicalKey::of(reading) {
                            index.candidates(key.as_bytes(), &mut gather);
                        }
                    }
                }
            }
            for &(_, id) in candidates.as_slice() {
                prefetch(entries[id as usize].plate.as_ptr());
            }
            for &(rank, id) in candidates.as_slice() {
                let entry = &entries[id as usize];
                let Some((reading, from_candidate)) = readings.clone().nth(rank) else { continue };
                if let Some(found) = compare(reading, &entry.plate, list.substitutions_max, list.length_tolerance) {
                    hits.push(HotlistMatch { distance: found.distance(), rank, reading, from_candidate, list, entry, diffs: found.diffs });
                }
            }
        }
        let usable = |h: &HotlistMatch<'_>| {
            let region_differs =
                matches!((&h.entry.region, &read.region, h.list.region_tolerant), (Some(want), Some(got), false) if want != got);
            h.entry.expires_at > observation.observed_at && !region_differs
        };
        let mut kept = first;
        for i in first..hits.len() {
            if usable(&hits[i]) {
                hits.swap(kept, i);
                kept += 1;
            }
        }
        hits.truncate(kept);
        hits[first..].sort_by_key(|h| (h.distance, h.rank, h.list.priority));
        // The top reading and a candidate can name the same entry: its best match stays.
        let mut kept = first;
        for i in first..hits.len() {
            let seen = hits[first..kept].iter().any(|h| h.list.id == hits[i].list.id && h.entry.plate == hits[i].entry.plate);
            if !seen {
                hits.swap(kept, i);
                kept += 1;
            }
        }
        hits.truncate(kept);
    }
}

impl HotlistIndex {
    /// Pattern entries the reading matches: literally on an exact list, in canonical glyphs (8 for
    /// B, 0 for O, ...) on a misread-tolerant one.
    fn pattern_hits<'a>(&'a self, reading: &'a str, rank: usize, from_candidate: bool, first: usize, hits: &mut Vec<HotlistMatch<'a>>) {
        let canonical_reading = canonical(reading);
        self.patterns.candidates(reading, &mut |list_id, index| {
            let (Some(list), Some(entry)) = (self.lists.get(list_id), self.entries.get(list_id).and_then(|e| e.get(index))) else {
                return;
            };
            let matched = match list.match_policy {
                MatchPolicy::Exact => wildcard::matches(entry.plate.as_bytes(), reading.as_bytes()),
                MatchPolicy::MisreadTolerant => wildcard::matches(canonical(&entry.plate).as_bytes(), canonical_reading.as_bytes()),
            };
            if matched && !hits[first..].iter().any(|h| std::ptr::eq(h.entry, entry)) {
                hits.push(HotlistMatch { distance: 0, rank, reading, from_candidate, list, entry, diffs: Vec::new() });
            }
        });
    }
}

/// Readings of one read: the plate and its alternatives.
const READINGS_MAX: usize = 1 + CANDIDATES_MAX;

/// Every misread-tolerant list's probes for each reading of one read. The first list's are held
/// inline: a deployment has one or a few lenient lists, and allocating them on every read was a
/// measurable part of a lookup's instructions (decision 0013).
#[derive(Default)]
struct Staged {
    first: Option<[Probes; READINGS_MAX]>,
    rest: Vec<[Probes; READINGS_MAX]>,
}

impl Staged {
    fn push(&mut self, probes: [Probes; READINGS_MAX]) {
        if self.first.is_none() {
            self.first = Some(probes);
        } else {
            self.rest.push(probes);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &[Probes; READINGS_MAX]> {
        self.first.iter().chain(&self.rest)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut [Probes; READINGS_MAX]> {
        self.first.iter_mut().chain(&mut self.rest)
    }
}

/// A read's (reading, entry) candidates on one list, kept inline: a read matches an entry or two
/// at most, short of a list full of near-identical plates (which spills to the heap).
#[derive(Default)]
struct Candidates {
    inline: [(usize, u32); CANDIDATES_INLINE],
    len: usize,
    spill: Vec<(usize, u32)>,
}

const CANDIDATES_INLINE: usize = 8;

impl Candidates {
    fn push(&mut self, rank: usize, id: u32) {
        if self.spill.is_empty() && self.len < CANDIDATES_INLINE {
            self.inline[self.len] = (rank, id);
            self.len += 1;
            return;
        }
        if self.spill.is_empty() {
            self.spill.extend_from_slice(&self.inline[..self.len]);
        }
        self.spill.push((rank, id));
    }

    fn as_slice(&self) -> &[(usize, u32)] {
        if self.spill.is_empty() { &self.inline[..self.len] } else { &self.spill }
    }
}

/// A verified match of a read on a list entry: what an alert is raised for.
#[derive(Debug)]
pub struct HotlistMatch<'a> {
    /// Substitutions plus the length difference (confusable characters are free).
    pub distance: u8,
    /// Which reading matched: 0 for the plate, then the candidates in order.
    pub rank: usize,
    /// The reading's text.
    pub reading: &'a str,
    /// True when an OCR candidate matched, not the plate.
    pub from_candidate: bool,
    /// The list.
    pub list: &'a Hotlist,
    /// The entry.
    pub entry: &'a HotlistEntry,
    /// Every differing position (empty for an identical plate or a pattern).
    pub diffs: Vec<CharDiff>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Body, Candidate, PlateRead, Position};
    use proptest::prelude::*;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn read(plate: &str, region: Option<&str>, candidates: &[&str]) -> Observation {
        Observation {
            id: format!("obs-{plate}"),
            device_id: "lpr-1".into(),
            observed_at: t("2026-11-27T20:00:00Z"),
            received_at: t("2026-11-27T20:00:01Z"),
            position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
            body: Body::PlateRead(PlateRead {
                plate: plate.into(),
                region: region.map(Into::into),
                candidates: candidates.iter().map(|c| Candidate { plate: (*c).into(), confidence: None }).collect(),
                ..PlateRead::default()
            }),
        }
    }

    fn index(entries: &[(&str, Option<&str>, &str)]) -> HotlistIndex {
        index_with(MatchPolicy::Exact, None, false, false, entries)
    }

    fn index_with(
        policy: MatchPolicy,
        k: Option<u8>,
        length_tolerance: bool,
        region_tolerant: bool,
        entries: &[(&str, Option<&str>, &str)],
    ) -> HotlistIndex {
        let mut index = HotlistIndex::default();
        let now = t("2026-11-01T00:00:00Z");
        let list = NewHotlist {
            name: "stolen".into(),
            source: HotlistSource::Local,
            match_policy: policy,
            priority: None,
            substitutions_max: k,
            length_tolerance,
            region_tolerant,
        }
        .into_hotlist("hl-1".into(), "admin", now)
        .unwrap();
        index.upsert_list(list);
        let entries = entries
            .iter()
            .enumerate()
            .map(|(i, (plate, region, expires))| {
                NewHotlistEntry {
                    plate: (*plate).into(),
                    region: region.map(Into::into),
                    reason: "stolen_vehicle".into(),
                    expires_at: t(expires),
                }
                .into_entry(i, "admin", now)
                .unwrap()
            })
            .collect();
        assert!(index.add_entries("hl-1", entries));
        index
    }

    fn plates_hit(index: &HotlistIndex, observation: &Observation) -> Vec<String> {
        let mut alerts = Vec::new();
        index.evaluate(observation, Timestamp(0), &mut alerts);
        alerts.into_iter().map(|a| a.hit.unwrap().entry_plate).collect()
    }

    #[test]
    fn a_partial_plate_matches_reads_and_candidates_literally_or_by_glyph_class() {
        const LATER: &str = "2027-01-01T00:00:00Z";
        let entries = [("ab?12*", None, LATER), ("XY?99", None, "2026-11-02T00:00:00Z")];
        let exact = index(&entries);
        assert_eq!(plates_hit(&exact, &read("ABX12", None, &[])), vec!["AB?12*"]);
        assert_eq!(plates_hit(&exact, &read("ABX1234", None, &[])), vec!["AB?12*"]);
        assert_eq!(plates_hit(&exact, &read("ZZZ999", None, &["ABQ129"])), vec!["AB?12*"], "a candidate counts");
        assert!(plates_hit(&exact, &read("A8X12", None, &[])).is_empty(), "an exact list takes the glyphs as written");
        assert!(plates_hit(&exact, &read("AB12", None, &[])).is_empty(), "? needs a character");
        assert!(plates_hit(&exact, &read("XYZ99", None, &[])).is_empty(), "an expired pattern never alerts");
        let lenient = index_with(MatchPolicy::MisreadTolerant, Some(1), false, false, &entries);
        assert_eq!(plates_hit(&lenient, &read("A8X12", None, &[])), vec!["AB?12*"], "8 for B on a lenient list");
        let mut alerts = Vec::new();
        exact.evaluate(&read("ABX12", None, &["ABY12"]), Timestamp(0), &mut alerts);
        assert_eq!(alerts.len(), 1, "one alert per entry, however many readings match");
        assert_eq!((alerts[0].hit.as_ref().unwrap().distance, alerts[0].hit.as_ref().unwrap().from_candidate), (0, false));
    }

    #[test]
    fn an_exact_read_hits_and_carries_the_evidence() {
        let index = index(&[("abc-123", Some("FI"), "2027-01-01T00:00:00Z")]);
        let mut alerts = Vec::new();
        let mut observation = read("ABC123", Some("FI"), &[]);
        if let Body::PlateRead(r) = &mut observation.body {
            (r.vehicle_make, r.vehicle_make_confidence, r.vehicle_color) = (Some("toyota".into()), Some(0.87), Some("silver".into()));
        }
        index.evaluate(&observation, Timestamp(0), &mut alerts);
        assert_eq!(alerts.len(), 1);
        let hit = alerts[0].hit.as_ref().unwrap();
        assert_eq!((hit.entry_plate.as_str(), hit.reason.as_str(), hit.from_candidate), ("ABC123", "stolen_vehicle", false));
        assert_eq!(alerts[0].hotlist_id.as_deref(), Some("hl-1"));
        let described: Vec<(&str, &str, Option<f32>)> =
            hit.vehicle.iter().map(|v| (v.attribute.as_str(), v.value.as_str(), v.confidence)).collect();
        assert_eq!(described, [("make", "toyota", Some(0.87)), ("color", "silver", None)], "the reader's description travels with the hit");
    }

    #[test]
    fn a_candidate_hit_is_marked_and_duplicates_collapse() {
        let index = index(&[("ABC123", None, "2027-01-01T00:00:00Z")]);
        let mut alerts = Vec::new();
        index.evaluate(&read("A8C123", None, &["A8C123", "ABC123", "ABC123"]), Timestamp(0), &mut alerts);
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].hit.as_ref().unwrap().from_candidate);
    }

    #[test]
    fn expired_entries_and_other_regions_do_not_hit() {
        let index = index(&[("ABC123", None, "2026-11-27T19:00:00Z"), ("XYZ789", Some("FI"), "2027-01-01T00:00:00Z")]);
        assert!(plates_hit(&index, &read("ABC123", None, &[])).is_empty());
        assert!(plates_hit(&index, &read("XYZ789", Some("SE"), &[])).is_empty());
        assert_eq!(plates_hit(&index, &read("XYZ789", None, &[])), vec!["XYZ789"]);
    }

    #[test]
    fn alert_ids_are_deterministic_per_observation() {
        let index = index(&[("ABC123", None, "2027-01-01T00:00:00Z")]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        index.evaluate(&read("ABC123", None, &[]), Timestamp(0), &mut a);
        index.evaluate(&read("ABC123", None, &[]), Timestamp(0), &mut b);
        assert_eq!(a[0].id, b[0].id);
    }

    #[test]
    fn entries_in_the_past_or_with_bad_plates_are_refused() {
        let now = t("2026-11-27T00:00:00Z");
        let past = NewHotlistEntry { plate: "ABC123".into(), region: None, reason: "wanted".into(), expires_at: t("2026-01-01T00:00:00Z") };
        assert_eq!(past.into_entry(4, "a", now).unwrap_err().field, "[4].expires_at");
        let bad = NewHotlistEntry { plate: "AB#1".into(), region: None, reason: "wanted".into(), expires_at: t("2027-01-01T00:00:00Z") };
        assert_eq!(bad.into_entry(0, "a", now).unwrap_err().field, "[0].plate");
    }

    #[test]
    fn misreads_hit_a_lenient_list_and_miss_an_exact_one() {
        let listed = [("ABC123", Some("FI"), "2027-01-01T00:00:00Z")];
        let exact = index(&listed);
        let lenient = index_with(MatchPolicy::MisreadTolerant, Some(1), true, false, &listed);
        for misread in ["A8C123", "ABC12Z", "ABC124", "AC123", "ABCC123", "0BC123".replace('0', "A").as_str()] {
            assert_eq!(plates_hit(&lenient, &read(misread, Some("FI"), &[])), vec!["ABC123"], "{misread}");
        }
        for misread in ["A8C123", "ABC124", "AC123"] {
            assert!(plates_hit(&exact, &read(misread, Some("FI"), &[])).is_empty(), "{misread}");
        }
        assert!(plates_hit(&lenient, &read("XYC124", Some("FI"), &[])).is_empty(), "two substitutions exceed the budget");
        assert!(plates_hit(&lenient, &read("ABC124", Some("SE"), &[])).is_empty(), "a wrong region misses");
        let region_tolerant = index_with(MatchPolicy::MisreadTolerant, Some(1), false, true, &listed);
        assert_eq!(plates_hit(&region_tolerant, &read("ABC124", Some("SE"), &[])), vec!["ABC123"]);
    }

    #[test]
    fn the_alert_says_which_characters_differed_and_hits_rank_by_distance() {
        let listed = [("ABC123", None, "2027-01-01T00:00:00Z"), ("A8C124", None, "2027-01-01T00:00:00Z")];
        let lenient = index_with(MatchPolicy::MisreadTolerant, Some(1), false, false, &listed);
        let mut alerts = Vec::new();
        lenient.evaluate(&read("A8C124", None, &[]), Timestamp(0), &mut alerts);
        let hits: Vec<_> = alerts.iter().map(|a| a.hit.as_ref().unwrap()).collect();
        assert_eq!(hits.iter().map(|h| (h.entry_plate.as_str(), h.distance)).collect::<Vec<_>>(), vec![("A8C124", 0), ("ABC123", 1)]);
        let diffs = &hits[1].diffs;
        assert_eq!(diffs.len(), 2);
        assert_eq!((diffs[0].position, diffs[0].read, diffs[0].listed, diffs[0].confusable), (1, Some('8'), Some('B'), true));
        assert_eq!((diffs[1].position, diffs[1].read, diffs[1].listed, diffs[1].confusable), (5, Some('4'), Some('3'), false));
    }

    #[test]
    fn matches_of_several_reads_gather_in_one_list_each_ranked_and_once() {
        let listed = [("ABC123", None, "2027-01-01T00:00:00Z"), ("A8C124", None, "2027-01-01T00:00:00Z")];
        let lenient = index_with(MatchPolicy::MisreadTolerant, Some(1), false, false, &listed);
        let (first, second) = (read("A8C124", None, &["ABC123"]), read("XBC123", None, &[]));
        let mut found = Vec::new();
        lenient.matches(&first, &mut found);
        lenient.matches(&second, &mut found);
        let summary: Vec<_> = found.iter().map(|m| (m.entry.plate.as_str(), m.distance, m.rank)).collect();
        // The first read names each entry through its plate and its candidate: the best match
        // stays. The second read's matches follow, untouched by the first's.
        assert_eq!(summary, vec![("A8C124", 0, 0), ("ABC123", 0, 1), ("ABC123", 1, 0)]);
    }

    #[test]
    fn an_exact_list_refuses_lenient_settings() {
        let bad = NewHotlist {
            name: "x".into(),
            source: HotlistSource::Local,
            match_policy: MatchPolicy::Exact,
            priority: None,
            substitutions_max: Some(1),
            length_tolerance: false,
            region_tolerant: false,
        };
        assert_eq!(bad.into_hotlist("h".into(), "a", t("2026-11-01T00:00:00Z")).unwrap_err().field, "substitutions_max");
        let too_loose = NewHotlist {
            name: "x".into(),
            source: HotlistSource::Local,
            match_policy: MatchPolicy::MisreadTolerant,
            priority: None,
            substitutions_max: Some(3),
            length_tolerance: false,
            region_tolerant: false,
        };
        assert_eq!(too_loose.into_hotlist("h".into(), "a", t("2026-11-01T00:00:00Z")).unwrap_err().field, "substitutions_max");
    }

    proptest! {
        /// A misread-tolerant list finds exactly what comparing the read (and its candidates) with every entry finds.
        #[test]
        fn lenient_index_matches_brute_force(
            listed in proptest::collection::vec("[A-C0-2OIB8]{4,6}", 0..25),
            plate in "[A-C0-2OIB8]{3,7}",
            candidates in proptest::collection::vec("[A-C0-2OIB8]{4,6}", 0..3),
            k in 0u8..=2,
            tolerance in any::<bool>(),
        ) {
            let entries: Vec<_> = listed.iter().map(|p| (p.as_str(), None, "2027-01-01T00:00:00Z")).collect();
            let index = index_with(MatchPolicy::MisreadTolerant, Some(k), tolerance, false, &entries);
            let candidate_refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            let mut got = plates_hit(&index, &read(&plate, None, &candidate_refs));
            got.sort();
            let readings: Vec<&str> = std::iter::once(plate.as_str()).chain(candidate_refs.iter().copied()).collect();
            let mut want: Vec<String> = listed.iter().filter(|l| readings.iter().any(|r| crate::rules::misread::compare(r, l, k, tolerance).is_some())).cloned().collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(got, want);
        }

        /// The index agrees with a brute-force scan of every entry.
        #[test]
        fn index_matches_a_brute_force_scan(
            listed in proptest::collection::vec("[A-C][0-2]{2}", 0..30),
            plate in "[A-C][0-2]{2}",
            candidates in proptest::collection::vec("[A-C][0-2]{2}", 0..4),
        ) {
            let entries: Vec<_> = listed.iter().map(|p| (p.as_str(), None, "2027-01-01T00:00:00Z")).collect();
            let index = index(&entries);
            let candidate_refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            let mut got = plates_hit(&index, &read(&plate, None, &candidate_refs));
            got.sort();
            let mut want: Vec<String> = listed.iter().filter(|p| **p == plate || candidates.contains(p)).cloned().collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(got, want);
        }
    }
}
