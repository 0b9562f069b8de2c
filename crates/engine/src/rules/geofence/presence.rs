//! Where each watched subject is with respect to each fence, and the hysteresis that decides when
//! that changes.

use super::shape::Zone;
use glasshouse_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A state change (or a long stay) to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// From outside to inside; `since` is when the subject first reached the inside.
    Enter { since: Timestamp },
    /// Inside, once per stay (also when the subject was first seen inside).
    Inside { since: Timestamp },
    /// From inside to outside; `since` is when it first reached the outside.
    Exit { since: Timestamp },
    /// Inside for `seconds` (at least the dwell time).
    Dwell { since: Timestamp, seconds: u64 },
}

/// One subject against one fence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Presence {
    /// `None` until the subject has been seen clearly on one side.
    inside: Option<bool>,
    since: Timestamp,
    /// A change seen but not yet held for the confirmation time: the side and when it began.
    pending: Option<(bool, Timestamp)>,
    dwell_reported: bool,
}

impl Default for Presence {
    fn default() -> Self {
        Presence { inside: None, since: Timestamp(0), pending: None, dwell_reported: false }
    }
}

impl Presence {
    /// Known to be outside, with nothing pending.
    pub(super) fn outside() -> Presence {
        Presence { inside: Some(false), ..Presence::default() }
    }

    /// Feeds one position. Within the edge band nothing changes and a pending change is neither
    /// confirmed nor cancelled; a position back on the current side cancels it.
    pub(super) fn step(&mut self, zone: Zone, at: Timestamp, confirm_s: u64, dwell_s: Option<u64>, events: &mut Vec<Event>) {
        let wanted = match zone {
            Zone::Inside => Some(true),
            Zone::Outside => Some(false),
            Zone::Edge => None,
        };
        match wanted {
            None => {}
            Some(side) if self.inside == Some(side) => self.pending = None,
            // First seen outside: nothing to report, but a later entry is now an `enter`.
            Some(false) if self.inside.is_none() => *self = Presence { inside: Some(false), since: at, ..Presence::default() },
            Some(side) => {
                let began = match self.pending {
                    Some((pending_side, began)) if pending_side == side => began,
                    _ => {
                        self.pending = Some((side, at));
                        at
                    }
                };
                if at.0 - began.0 >= confirm_s as i64 * 1_000_000 {
                    let was = self.inside;
                    *self = Presence { inside: Some(side), since: began, pending: None, dwell_reported: false };
                    if !side {
                        events.push(Event::Exit { since: began });
                    } else {
                        if was == Some(false) {
                            events.push(Event::Enter { since: began });
                        }
                        events.push(Event::Inside { since: began });
                    }
                }
            }
        }
        if let (Some(true), false, Some(dwell)) = (self.inside, self.dwell_reported, dwell_s) {
            let seconds = ((at.0 - self.since.0).max(0) / 1_000_000) as u64;
            if seconds >= dwell {
                self.dwell_reported = true;
                events.push(Event::Dwell { since: self.since, seconds });
            }
        }
    }

    /// Known outside with nothing pending: a position outside every envelope changes nothing.
    pub(super) fn is_settled_outside(&self) -> bool {
        self.inside == Some(false) && self.pending.is_none()
    }
}

/// Where every watched subject is; owned by the hot path. Per subject, only the fences it is inside,
/// about to change for, or not yet placed against: a subject known to have been seen is outside
/// every other fence, so state stays small however many fences there are.
#[derive(Debug, Default)]
pub struct GeofenceState {
    pub(super) subjects: HashMap<String, Vec<(u32, Presence)>>,
    /// Fences evaluated for the current observation, for the rules' metrics.
    pub(super) evaluated: Vec<u32>,
}

/// One subject's presences with fences named by id, for a snapshot that outlives the process (a
/// fence's position in the index is stable only within one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPresences {
    subject: String,
    /// Empty for a subject seen outside every fence: its next entry is an `enter`.
    fences: Vec<(String, Presence)>,
}

impl GeofenceState {
    /// The presences, fences named by id (`fence_id` maps a position in the index to its id).
    pub(crate) fn save<'a>(&self, fence_id: impl Fn(u32) -> Option<&'a str>) -> Vec<SavedPresences> {
        let mut saved: Vec<SavedPresences> = self
            .subjects
            .iter()
            .map(|(subject, presences)| SavedPresences {
                subject: subject.clone(),
                fences: presences.iter().filter_map(|(i, p)| Some((fence_id(*i)?.to_owned(), *p))).collect(),
            })
            .collect();
        saved.sort_by(|a, b| a.subject.cmp(&b.subject));
        saved
    }

    /// Rebuilds the state from [`GeofenceState::save`]'s output; presences for fences that no
    /// longer exist are dropped (`position` maps an id to its place in the current index).
    pub(crate) fn load(saved: Vec<SavedPresences>, position: impl Fn(&str) -> Option<u32>) -> GeofenceState {
        let subjects = saved
            .into_iter()
            .map(|s| (s.subject, s.fences.into_iter().filter_map(|(id, p)| Some((position(&id)?, p))).collect()))
            .collect();
        GeofenceState { subjects, evaluated: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(zones: &[(i64, Zone)], confirm_s: u64, dwell_s: Option<u64>) -> Vec<(i64, &'static str)> {
        let mut presence = Presence::default();
        let mut out = Vec::new();
        for &(second, zone) in zones {
            let mut events = Vec::new();
            presence.step(zone, Timestamp(second * 1_000_000), confirm_s, dwell_s, &mut events);
            out.extend(events.into_iter().map(|e| {
                (
                    second,
                    match e {
                        Event::Enter { .. } => "enter",
                        Event::Inside { .. } => "inside",
                        Event::Exit { .. } => "exit",
                        Event::Dwell { .. } => "dwell",
                    },
                )
            }));
        }
        out
    }

    use Zone::{Edge, Inside, Outside};

    #[test]
    fn jitter_in_the_band_changes_nothing_and_brief_excursions_are_not_confirmed() {
        let track =
            [(0, Outside), (5, Edge), (10, Inside), (12, Edge), (15, Inside), (20, Inside), (22, Outside), (24, Inside), (30, Edge)];
        assert_eq!(run(&track, 5, None), vec![(15, "enter"), (15, "inside")]);
        let leaving = [(0, Inside), (10, Inside), (40, Edge), (41, Outside), (43, Edge), (46, Outside)];
        assert_eq!(run(&leaving, 5, None), vec![(10, "inside"), (46, "exit")]);
    }

    #[test]
    fn with_no_confirmation_time_a_clear_side_changes_at_once() {
        let track = [(0, Outside), (1, Inside), (2, Edge), (3, Outside)];
        assert_eq!(run(&track, 0, None), vec![(1, "enter"), (1, "inside"), (3, "exit")]);
    }

    #[test]
    fn dwell_reports_once_per_stay_counted_from_arrival() {
        let track = [
            (0, Outside),
            (10, Inside),
            (20, Inside),
            (60, Inside),
            (69, Inside),
            (70, Inside),
            (200, Inside),
            (300, Outside),
            (400, Inside),
            (470, Inside),
        ];
        let events = run(&track, 0, Some(60));
        assert_eq!(
            events,
            vec![(10, "enter"), (10, "inside"), (70, "dwell"), (300, "exit"), (400, "enter"), (400, "inside"), (470, "dwell")]
        );
    }
}
