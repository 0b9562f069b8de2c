//! Toronto Police Service "Major Crime Indicators" CSV, read as `incident` observations.
//!
//! Field mapping (documented in `docs/data.md`):
//! - `observed_at` = `occurrencedate` + `occurrencehour` hours. `occurrencedate` is local midnight
//!   written in UTC (05:00 in winter, 04:00 in summer), so adding the local hour gives the UTC instant
//!   without a time-zone database. On the two DST-change days an hour after 02:00 is off by one hour.
//! - `type_code` = `MCI` in upper snake case (`Break and Enter` → `BREAK_AND_ENTER`).
//! - `lat`, `lon` = `Lat`, `Long` (offset by the police service to the nearest intersection).
//! - `address` = `Neighbourhood`; `status` = `reported`; `incident_id` = `MCI-<line>` because the
//!   export carries no event number; `id` = `toronto-mci-<line>`, so loading the file twice is
//!   idempotent.
//! - `premises_type` and the derived calendar columns are not kept; `Pub_Id`, `Park_Id` and `PS_Id`
//!   are not upstream fields and are ignored.

use crate::decode::{LineError, RAW_BYTES_KEPT_MAX};
use glasshouse_model::{DeviceRegistry, Observation, RawRecord, Timestamp, validate};
use std::borrow::Cow;
use std::io::Read;

/// The device id the incidents are attributed to; a mobile `cad` device.
pub const DEVICE_ID: &str = "toronto-mci";

#[derive(Debug, serde::Deserialize)]
struct Row {
    occurrencedate: String,
    occurrencehour: u8,
    #[serde(rename = "MCI")]
    mci: String,
    #[serde(rename = "Neighbourhood")]
    neighbourhood: String,
    #[serde(rename = "Lat")]
    lat: f64,
    #[serde(rename = "Long")]
    lon: f64,
}

/// Reads the CSV, validating each row as an incident from [`DEVICE_ID`]. Rows are numbered as a
/// spreadsheet numbers them, the header as 1.
pub fn read(
    reader: impl Read,
    registry: &DeviceRegistry,
    received_at: Timestamp,
    mut each: impl FnMut(Result<(u64, Observation), LineError>),
) {
    let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
    let headers = csv.headers().cloned().unwrap_or_default();
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                // A row's number as a spreadsheet shows it (the header is 1), which is also its id:
                // counted, not taken from the reader's line, which a bare CR or a quoted line break
                // leaves shared by two rows (found by the `toronto_csv` fuzz target).
                line += 1;
                let raw: String = record.iter().collect::<Vec<_>>().join(",");
                let result = record
                    .deserialize::<Row>(Some(&headers))
                    .map_err(|e| format!("invalid row: {e}"))
                    .and_then(|row| to_observation(&row, line, registry, received_at));
                each(result.map(|o| (line, o)).map_err(|error| LineError {
                    line,
                    error,
                    raw: raw.chars().take(RAW_BYTES_KEPT_MAX).collect(),
                }));
            }
            Err(e) => {
                line += 1;
                each(Err(LineError { line, error: format!("unreadable CSV: {e}"), raw: String::new() }));
                // A row that is not UTF-8 or has the wrong number of fields costs that row only;
                // the reader has moved past it. Only a failing read ends the file.
                if matches!(e.kind(), csv::ErrorKind::Io(_) | csv::ErrorKind::Seek) {
                    break;
                }
            }
        }
    }
}

fn type_code(mci: &str) -> String {
    mci.split_whitespace().map(|w| w.to_ascii_uppercase()).collect::<Vec<_>>().join("_")
}

fn to_observation(row: &Row, line: u64, registry: &DeviceRegistry, received_at: Timestamp) -> Result<Observation, String> {
    let midnight = chrono::NaiveDateTime::parse_from_str(row.occurrencedate.trim().trim_end_matches("+00"), "%Y/%m/%d %H:%M:%S")
        .map_err(|e| format!("occurrencedate {:?}: {e}", row.occurrencedate))?;
    if row.occurrencehour > 23 {
        return Err(format!("occurrencehour {} is outside 0..=23", row.occurrencehour));
    }
    let observed_at = Timestamp(midnight.and_utc().timestamp_micros()).plus_secs(i64::from(row.occurrencehour) * 3_600);
    let observed_text = observed_at.to_rfc3339();
    let id = format!("{DEVICE_ID}-{line}");
    let incident_id = format!("MCI-{line}");
    let raw = RawRecord {
        id: Some(Cow::Borrowed(&id)),
        kind: Some(Cow::Borrowed("incident")),
        device_id: Some(Cow::Borrowed(DEVICE_ID)),
        observed_at: Some(Cow::Borrowed(&observed_text)),
        lat: Some(row.lat),
        lon: Some(row.lon),
        incident_id: Some(Cow::Borrowed(&incident_id)),
        type_code: Some(Cow::Owned(type_code(&row.mci))),
        status: Some(Cow::Borrowed("reported")),
        address: Some(Cow::Borrowed(row.neighbourhood.trim())),
        ..RawRecord::default()
    };
    validate(&raw, registry, received_at).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Body, Device, DeviceType};

    const SAMPLE: &str = "occurrencedate,occurrencehour,premises_type,occurrencemonth,occurrencedayofweek,MCI,Neighbourhood,occurrenceday,occurrencedayofyear,Pub_Id,Park_Id,PS_Id,Lat,Long
2014/03/02 05:00:00+00,8,House,March,Sunday    ,Assault,West Humber-Clairville,2,61,0,0,0,43.73401277,-79.59033164
2014/07/02 04:00:00+00,23,Outside,July,Wednesday ,Break and Enter,Annex,2,183,0,0,0,43.67,-79.40
2014/07/02 04:00:00+00,25,Outside,July,Wednesday ,Robbery,Annex,2,183,0,0,0,43.67,-79.40
2014/07/02 04:00:00+00,3,Outside,July,Wednesday ,Robbery,Annex,2,183,0,0,0,143.67,-79.40
";

    fn registry() -> DeviceRegistry {
        let mut r = DeviceRegistry::new();
        r.upsert(Device::mobile(DEVICE_ID, DeviceType::Cad));
        r
    }

    /// Found by the `toronto_csv` fuzz target: after a row the CSV reader refused, the next row
    /// could be given the same line, and so the same id, and be dropped as its duplicate.
    #[test]
    fn rows_after_an_unreadable_one_keep_their_own_lines_and_ids() {
        let mut text = SAMPLE.lines().take(2).collect::<Vec<_>>().join("\n").into_bytes();
        text.extend_from_slice(b"\n2014/07/02 04:00:00+00,3,Outside,July,Wed\xff,Robbery,Annex,2,183,0,0,0,43.6,-79.4\n");
        text.extend_from_slice(b"2014/07/02 04:00:00+00,3,Outside\n");
        text.extend_from_slice(SAMPLE.lines().nth(2).unwrap().as_bytes());
        text.push(b'\n');
        let mut lines = Vec::new();
        let mut ids = Vec::new();
        read(text.as_slice(), &registry(), Timestamp::now(), |r| match r {
            Ok((line, o)) => {
                lines.push(line);
                ids.push(o.id);
            }
            Err(e) => lines.push(e.line),
        });
        assert_eq!(lines, [2, 3, 4, 5], "each row its own line");
        assert_eq!(ids, ["toronto-mci-2", "toronto-mci-5"]);
        // Rows ended by a bare CR (old spreadsheets) are rows of their own too.
        let cr = SAMPLE.lines().take(3).collect::<Vec<_>>().join("\r");
        let mut ids = Vec::new();
        read(cr.as_bytes(), &registry(), Timestamp::now(), |r| ids.push(r.map(|(_, o)| o.id).unwrap_or_default()));
        assert_eq!(ids, ["toronto-mci-2", "toronto-mci-3"]);
    }

    #[test]
    fn rows_map_to_incidents_in_utc_and_bad_rows_are_named() {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        read(SAMPLE.as_bytes(), &registry(), Timestamp::now(), |r| match r {
            Ok(o) => good.push(o),
            Err(e) => bad.push(e),
        });
        assert_eq!(good.len(), 2);
        let (line, first) = &good[0];
        assert_eq!(*line, 2);
        assert_eq!(first.observed_at.to_rfc3339(), "2014-03-02T13:00:00.000000Z");
        assert_eq!(first.id, "toronto-mci-2");
        let Body::Incident(incident) = &first.body else { panic!("not an incident") };
        assert_eq!(incident.type_code, "ASSAULT");
        assert_eq!(incident.address.as_deref(), Some("West Humber-Clairville"));
        let Body::Incident(second) = &good[1].1.body else { panic!() };
        assert_eq!(second.type_code, "BREAK_AND_ENTER");
        assert_eq!(good[1].1.observed_at.to_rfc3339(), "2014-07-03T03:00:00.000000Z");
        assert_eq!(bad.iter().map(|e| e.line).collect::<Vec<_>>(), vec![4, 5]);
        assert!(bad[0].error.contains("occurrencehour 25"));
        assert!(bad[1].error.contains("lat"));
    }
}
