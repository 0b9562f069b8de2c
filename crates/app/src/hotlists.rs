//! Hotlists: created and extended with their audit entries first, and new entries matched against
//! the reads of the last day (a car stolen this morning may have passed a reader before it was
//! listed). That look at history is logged like a search, with what it found.

use crate::{Action, Actor, App, AppError};
use glasshouse_engine::rules::wildcard;
use glasshouse_engine::{Engine, Hotlist, HotlistEntry, HotlistIndex, MatchPolicy};
use glasshouse_model::limits::QUERY_RESULTS_MAX;
use glasshouse_model::{Kind, Timestamp};
use glasshouse_store::{CatalogEvent, ObservationQuery, PlateMode, PlateQuery};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most entries one call may add. The call's audit entry carries a keyed hash of every plate
/// (about 150 bytes an entry), and an audit record must fit the WAL's 16 MiB: 250,000 entries did
/// not. Larger lists are added in parts (the API and the CSV import refuse more per request).
pub const ENTRIES_PER_CALL_MAX: usize = 100_000;

/// How far back a new entry is matched against reads already made.
pub const PAST_READ_HOURS: i64 = 24;

/// The most new entries matched against the past by plate-index lookups, one per entry. Above
/// this a single pass over the window's reads is cheaper: a lookup costs a few milliseconds
/// whatever the window holds, a pass a fixed time per read.
pub const PAST_READ_LOOKUPS_MAX: usize = 1_000;

/// Whether a batch is matched by lookups. A pattern on a misread-tolerant list matches by glyph
/// class, which the store's wildcard search does not; such a batch takes the pass.
fn by_lookups(list: &Hotlist, entries: &[HotlistEntry]) -> bool {
    entries.len() <= PAST_READ_LOOKUPS_MAX
        && !(list.match_policy == MatchPolicy::MisreadTolerant && entries.iter().any(|e| wildcard::is_pattern(&e.plate)))
}

/// The store search that finds at least every read the list's matcher would take for `plate`.
fn lookup_mode(list: &Hotlist, plate: &str) -> PlateMode {
    match list.match_policy {
        _ if wildcard::is_pattern(plate) => PlateMode::Wildcard,
        MatchPolicy::Exact => PlateMode::Exact,
        MatchPolicy::MisreadTolerant => {
            PlateMode::MisreadTolerant { substitutions_max: list.substitutions_max, length_tolerance: list.length_tolerance }
        }
    }
}

/// A hotlist with its entries, as the rules in force hold them.
pub struct ListedEntries {
    engine: Arc<Engine>,
    /// The list.
    pub list: Hotlist,
}

impl ListedEntries {
    /// Its entries.
    pub fn entries(&self) -> &[HotlistEntry] {
        self.engine.hotlists.entries(&self.list.id)
    }
}

impl App {
    /// Creates a hotlist, audited first.
    pub fn create_hotlist(&self, actor: &Actor, hotlist: Hotlist) -> Result<(), AppError> {
        let mut catalog = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        let details = json!({ "hotlist_id": hotlist.id, "name": hotlist.name, "source": hotlist.source, "match": hotlist.match_policy, "priority": hotlist.priority });
        self.record(actor, Action::HotlistCreate, "ok", details)?;
        catalog.record(CatalogEvent::HotlistCreated { hotlist }).map_err(AppError::internal)?;
        self.publish_catalog(&catalog);
        Ok(())
    }

    /// Adds checked entries to a hotlist (all or none), audited first with the plates as keyed
    /// hashes, then matches them against the last [`PAST_READ_HOURS`] of reads. Returns the
    /// retroactive alerts raised.
    pub fn add_hotlist_entries(&self, actor: &Actor, list_id: &str, entries: Vec<HotlistEntry>, now: Timestamp) -> Result<usize, AppError> {
        if entries.len() > ENTRIES_PER_CALL_MAX {
            return Err(AppError::too_large(format!("{} entries; at most {ENTRIES_PER_CALL_MAX} in one call", entries.len())));
        }
        let fresh = entries.clone();
        {
            let mut catalog = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
            if catalog.hotlists.list(list_id).is_none() {
                return Err(AppError::not_found(format!("no hotlist {list_id}")));
            }
            let mut reasons = BTreeMap::<&str, usize>::new();
            for entry in &entries {
                *reasons.entry(entry.reason.as_str()).or_default() += 1;
            }
            // Plates only as keyed hashes, so the log can be published.
            let plates: Vec<String> = entries.iter().map(|e| self.audit.keyed("plate", &e.plate)).collect();
            let details = json!({ "hotlist_id": list_id, "entries": entries.len(), "reasons": reasons, "plates": plates });
            self.record(actor, Action::HotlistEntriesAdd, "ok", details)?;
            catalog.record(CatalogEvent::HotlistEntriesAdded { hotlist_id: list_id.to_owned(), entries }).map_err(AppError::internal)?;
            self.publish_catalog(&catalog);
        }
        self.past_read_match(actor, list_id, fresh, now)
    }

    /// A hotlist and its entries, the read audited. The entries are read from the rules in force,
    /// not copied (a national list holds a million).
    pub fn hotlist_entries(&self, actor: &Actor, list_id: &str) -> Result<ListedEntries, AppError> {
        let engine = self.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
        let list = engine.hotlists.list(list_id).ok_or_else(|| AppError::not_found(format!("no hotlist {list_id}")))?.clone();
        let count = engine.hotlists.entries(list_id).len();
        self.record(actor, Action::HotlistEntriesRead, "ok", json!({ "hotlist_id": list_id, "entries": count }))?;
        Ok(ListedEntries { engine, list })
    }

    /// Matches new entries against every plate read of the last [`PAST_READ_HOURS`], raising
    /// retroactive alerts. A batch of up to [`PAST_READ_LOOKUPS_MAX`] entries is looked up entry by
    /// entry in the plate indexes (each lookup followed to its last page); a larger one (a list
    /// imported whole) takes one pass over the window's reads, which costs the same whatever the
    /// batch. Neither has a cap: every read of the window is considered. The reads found are judged
    /// by the same matcher as the live path, so only what the live path would have raised is raised.
    fn past_read_match(&self, actor: &Actor, list_id: &str, entries: Vec<HotlistEntry>, now: Timestamp) -> Result<usize, AppError> {
        let engine = self.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(list) = engine.hotlists.list(list_id).cloned() else { return Ok(0) };
        let (from, to) = (now.plus_secs(-PAST_READ_HOURS * 3600), now.plus_secs(1));
        let lookups = by_lookups(&list, &entries);
        let queries: Vec<PlateQuery> = if lookups {
            entries
                .iter()
                .map(|e| PlateQuery {
                    plate: e.plate.clone(),
                    mode: lookup_mode(&list, &e.plate),
                    from: Some(from),
                    to: Some(to),
                    after: None,
                    limit: QUERY_RESULTS_MAX,
                })
                .collect()
        } else {
            Vec::new()
        };
        let method = if lookups { "plate_index" } else { "window_scan" };
        let details = json!({ "hotlist_id": list_id, "hours": PAST_READ_HOURS, "entries": entries.len(), "method": method });
        let event = crate::event(actor, Action::HotlistPastReadMatch, "ok", details);
        let mut index = HotlistIndex::default();
        index.upsert_list(list);
        index.add_entries(list_id, entries);
        let mut alerts = Vec::new();
        let (search_seq, reads_checked) = if lookups {
            let admitted = self.audit.admit(event, queries).map_err(AppError::audit_unavailable)?;
            let reads = self.store.search_plates_exhaustive(&admitted)?;
            for read in &reads {
                index.evaluate(read, now, &mut alerts);
            }
            (admitted.receipt().seq(), reads.len())
        } else {
            let query = ObservationQuery { kinds: vec![Kind::PlateRead], from: Some(from), to: Some(to), bbox: None, limit: usize::MAX };
            let admitted = self.audit.admit(event, query).map_err(AppError::audit_unavailable)?;
            let checked = self.store.scan(&admitted, |read| index.evaluate(&read, now, &mut alerts))?;
            (admitted.receipt().seq(), checked)
        };
        for alert in &mut alerts {
            alert.retroactive = true;
        }
        // Repeats of one plate within minutes fold into one alert, as on the live path.
        let count = self.alerts.append(alerts).map_err(AppError::internal)?;
        let found = json!({ "search_seq": search_seq, "method": method, "reads_checked": reads_checked, "alerts": count });
        self.record(actor, Action::HotlistPastReadMatchResult, "ok", found)?;
        Ok(count)
    }
}
