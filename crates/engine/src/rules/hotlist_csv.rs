//! Hotlist entries from a CSV import: a header row naming `plate`, `reason` and `expires_at`
//! (RFC 3339), and optionally `region`, in any order. The whole file is refused at its first bad
//! row, named by line number (the header is line 1, as a spreadsheet counts), so an import is all or
//! nothing.

use super::hotlist::NewHotlistEntry;
use glasshouse_model::Timestamp;

/// Why an import was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A row (or the header) that cannot be read.
    #[error("line {line}: {reason}")]
    Bad {
        /// The line, counting the header as 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// More rows than one import may carry.
    #[error("at most {0} entries per import")]
    TooMany(usize),
}

/// Reads the entries of `body`, at most `entries_max` of them.
pub fn entries_from_csv(body: &[u8], entries_max: usize) -> Result<Vec<NewHotlistEntry>, CsvError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| CsvError::Bad { line: 1, reason: e.to_string() })?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(plate), Some(reason), Some(expires)) = (column("plate"), column("reason"), column("expires_at")) else {
        return Err(CsvError::Bad { line: 1, reason: "the header must name plate, reason and expires_at (and may name region)".into() });
    };
    let region = column("region");
    let mut entries = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        let record = record.map_err(|e| CsvError::Bad { line, reason: e.to_string() })?;
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        let expires_at = Timestamp::parse_rfc3339(&field(expires))
            .ok_or_else(|| CsvError::Bad { line, reason: format!("expires_at {:?} is not an RFC 3339 time", field(expires)) })?;
        if entries.len() == entries_max {
            return Err(CsvError::TooMany(entries_max));
        }
        entries.push(NewHotlistEntry {
            plate: field(plate),
            region: region.map(field).filter(|r| !r.is_empty()),
            reason: field(reason),
            expires_at,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_in_any_order_with_an_optional_region() {
        let body =
            b"reason, Expires_At ,plate,region\nstolen_vehicle,2030-01-01T00:00:00Z, abc123 ,FI\nwanted,2030-01-01T00:00:00Z,XYZ9,\n";
        let entries = entries_from_csv(body, 10).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].plate.as_str(), entries[0].region.as_deref(), entries[0].reason.as_str()),
            ("abc123", Some("FI"), "stolen_vehicle")
        );
        assert_eq!(entries[1].region, None);
    }

    #[test]
    fn a_bad_row_is_named_by_its_line_and_a_long_file_is_refused() {
        let body = b"plate,reason,expires_at\nABC123,wanted,2030-01-01T00:00:00Z\nXYZ9,wanted,next week\n";
        assert_eq!(
            entries_from_csv(body, 10).unwrap_err(),
            CsvError::Bad { line: 3, reason: "expires_at \"next week\" is not an RFC 3339 time".into() }
        );
        assert!(matches!(entries_from_csv(b"plate,reason\nA,b\n", 10), Err(CsvError::Bad { line: 1, .. })));
        let two = b"plate,reason,expires_at\nA1,w,2030-01-01T00:00:00Z\nB2,w,2030-01-01T00:00:00Z\n";
        assert_eq!(entries_from_csv(two, 1).unwrap_err(), CsvError::TooMany(1));
        assert_eq!(entries_from_csv(two, 2).unwrap().len(), 2);
    }
}
