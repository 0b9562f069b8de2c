//! Plate hotlists: lists of plates of interest, each entry with a reason and an expiry.
//!
//! The index maps a normalised plate to the entries that list it, so a read costs one hash lookup
//! per candidate, never a scan of the lists. Matching is exact for now; a list records its policy so
//! lenient (OCR-tolerant) matching can be added per list.

use crate::alert::{Alert, AlertStatus, HotlistHit, alert_id};
use glasshouse_model::device::validate_id;
use glasshouse_model::limits::{ID_CHARS_MAX, TEXT_CHARS_MAX};
use glasshouse_model::{Observation, Timestamp, plate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(rename_all = "snake_case")]
pub enum MatchPolicy {
    /// The normalised plate must be equal.
    #[default]
    Exact,
}

/// A request to create a list.
#[derive(Debug, Clone, Deserialize)]
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
    /// The account that created it.
    pub owner: String,
    /// When.
    pub created_at: Timestamp,
}

/// The furthest ahead an entry may expire: ten years, so every listing is reviewed at some point.
pub const EXPIRY_SECS_MAX: i64 = 10 * 366 * 86_400;

/// A request to add one entry.
#[derive(Debug, Clone, Deserialize)]
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
        Ok(Hotlist {
            id,
            name: name.to_owned(),
            source: self.source,
            match_policy: self.match_policy,
            priority,
            owner: owner.to_owned(),
            created_at: now,
        })
    }
}

impl NewHotlistEntry {
    /// Checks the request (`index` locates it in its array) and builds the entry.
    pub fn into_entry(self, index: usize, added_by: &str, now: Timestamp) -> Result<HotlistEntry, HotlistError> {
        let error = |field: &str, reason: String| HotlistError { field: format!("[{index}].{field}"), reason };
        let plate = plate::normalize(&self.plate).map_err(|e| error("plate", e.to_string()))?;
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

/// All lists and an index from plate to entries.
#[derive(Debug, Default, Clone)]
pub struct HotlistIndex {
    lists: HashMap<String, Hotlist>,
    entries: HashMap<String, Vec<HotlistEntry>>,
    by_plate: HashMap<String, Vec<(String, usize)>>,
}

impl HotlistIndex {
    /// Adds or replaces a list's header (entries stay).
    pub fn upsert_list(&mut self, list: Hotlist) {
        self.entries.entry(list.id.clone()).or_default();
        self.lists.insert(list.id.clone(), list);
    }

    /// Adds entries to a list; returns false when the list does not exist. An entry for a plate
    /// and region already listed replaces the old one (a renewal moves the expiry).
    pub fn add_entries(&mut self, list_id: &str, new_entries: Vec<HotlistEntry>) -> bool {
        let Some(entries) = self.entries.get_mut(list_id) else { return false };
        for entry in new_entries {
            if let Some(existing) = entries.iter_mut().find(|e| e.plate == entry.plate && e.region == entry.region) {
                *existing = entry;
                continue;
            }
            self.by_plate.entry(entry.plate.clone()).or_default().push((list_id.to_owned(), entries.len()));
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

    /// Raises one alert per (list, entry) matched by the read's plate or any candidate, skipping
    /// entries expired at the time of the read.
    pub fn evaluate(&self, observation: &Observation, alerts: &mut Vec<Alert>) {
        let Some(read) = observation.plate_read() else { return };
        let readings = std::iter::once((read.plate.as_str(), false)).chain(read.candidates.iter().map(|c| (c.plate.as_str(), true)));
        let first_alert = alerts.len();
        for (reading, from_candidate) in readings {
            let Some(hits) = self.by_plate.get(reading) else { continue };
            for (list_id, index) in hits {
                let (Some(list), Some(entry)) = (self.lists.get(list_id), self.entries.get(list_id).and_then(|e| e.get(*index))) else {
                    continue;
                };
                if entry.expires_at <= observation.observed_at {
                    continue;
                }
                if let (Some(want), Some(got)) = (&entry.region, &read.region)
                    && want != got
                {
                    continue;
                }
                let id = alert_id(&[&observation.id, "hotlist", list_id, &entry.plate]);
                // The top reading and a candidate can name the same plate: one alert is enough.
                if alerts[first_alert..].iter().any(|a| a.id == id) {
                    continue;
                }
                alerts.push(Alert {
                    id,
                    rule: "hotlist".into(),
                    status: AlertStatus::New,
                    priority: list.priority,
                    observed_at: observation.observed_at,
                    raised_at: Timestamp::now(),
                    observation_id: observation.id.clone(),
                    device_id: observation.device_id.clone(),
                    lat: observation.position.lat,
                    lon: observation.position.lon,
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
                    }),
                    history: Vec::new(),
                });
            }
        }
    }
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
        let mut index = HotlistIndex::default();
        let now = t("2026-11-01T00:00:00Z");
        let list = NewHotlist { name: "stolen".into(), source: HotlistSource::Local, match_policy: MatchPolicy::Exact, priority: None }
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
        index.evaluate(observation, &mut alerts);
        alerts.into_iter().map(|a| a.hit.unwrap().entry_plate).collect()
    }

    #[test]
    fn an_exact_read_hits_and_carries_the_evidence() {
        let index = index(&[("abc-123", Some("FI"), "2027-01-01T00:00:00Z")]);
        let mut alerts = Vec::new();
        index.evaluate(&read("ABC123", Some("FI"), &[]), &mut alerts);
        assert_eq!(alerts.len(), 1);
        let hit = alerts[0].hit.as_ref().unwrap();
        assert_eq!((hit.entry_plate.as_str(), hit.reason.as_str(), hit.from_candidate), ("ABC123", "stolen_vehicle", false));
        assert_eq!(alerts[0].hotlist_id.as_deref(), Some("hl-1"));
    }

    #[test]
    fn a_candidate_hit_is_marked_and_duplicates_collapse() {
        let index = index(&[("ABC123", None, "2027-01-01T00:00:00Z")]);
        let mut alerts = Vec::new();
        index.evaluate(&read("A8C123", None, &["A8C123", "ABC123", "ABC123"]), &mut alerts);
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
        index.evaluate(&read("ABC123", None, &[]), &mut a);
        index.evaluate(&read("ABC123", None, &[]), &mut b);
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

    proptest! {
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
