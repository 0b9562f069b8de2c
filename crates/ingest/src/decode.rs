//! NDJSON decoding: one flat JSON object per line, each validated on its own.

use glasshouse_model::limits::{INGEST_BODY_BYTES_MAX, INGEST_REQUEST_RECORDS_MAX, RECORD_BYTES_MAX};
use glasshouse_model::{DeviceRegistry, Observation, RawRecord, Timestamp, validate};
use std::io::Read;

/// The outcome of decoding one body: every line ends up in exactly one of the two lists.
#[derive(Debug, Default)]
pub struct Batch {
    /// Valid observations with their 1-based line numbers.
    pub observations: Vec<(u64, Observation)>,
    /// One entry per refused line.
    pub errors: Vec<LineError>,
}

/// Why one line was refused, with the line itself (cut to a bound) for the dead-letter store.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    /// 1-based line number in the body or file.
    pub line: u64,
    /// A precise, lowercase reason.
    pub error: String,
    /// The offending line, lossily decoded and cut at [`RAW_BYTES_KEPT_MAX`].
    pub raw: String,
}

/// How much of a refused line the dead-letter store keeps: enough to diagnose, not a 100 kB payload.
pub const RAW_BYTES_KEPT_MAX: usize = 2_048;

/// Why a whole body was refused before any line was read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    /// Larger than [`INGEST_BODY_BYTES_MAX`] (after decompression).
    #[error("body exceeds {INGEST_BODY_BYTES_MAX} bytes")]
    TooLarge,
    /// More lines than [`INGEST_REQUEST_RECORDS_MAX`].
    #[error("body has more than {INGEST_REQUEST_RECORDS_MAX} records; split it")]
    TooManyRecords,
    /// The gzip stream is damaged.
    #[error("invalid gzip body: {0}")]
    BadGzip(String),
}

/// Inflates a gzip body, refusing to grow past `bytes_max` (a small bomb must not fill memory).
pub fn gunzip(body: &[u8], bytes_max: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(bytes_max));
    let mut decoder = flate2::read::GzDecoder::new(body).take(bytes_max as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > bytes_max {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

fn cut(raw: &[u8]) -> String {
    let kept = &raw[..raw.len().min(RAW_BYTES_KEPT_MAX)];
    String::from_utf8_lossy(kept).into_owned()
}

/// Decodes and validates an NDJSON body. Blank lines are skipped; every other line becomes either
/// an observation or a [`LineError`].
pub fn decode_ndjson(body: &[u8], registry: &DeviceRegistry, received_at: Timestamp) -> Result<Batch, BodyError> {
    if body.len() > INGEST_BODY_BYTES_MAX {
        return Err(BodyError::TooLarge);
    }
    let mut batch = Batch::default();
    let mut records = 0usize;
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        records += 1;
        if records > INGEST_REQUEST_RECORDS_MAX {
            return Err(BodyError::TooManyRecords);
        }
        match decode_line(line, registry, received_at) {
            Ok(observation) => batch.observations.push((line_number, observation)),
            Err(error) => batch.errors.push(LineError { line: line_number, error, raw: cut(line) }),
        }
    }
    Ok(batch)
}

/// Decodes and validates one line.
pub fn decode_line(line: &[u8], registry: &DeviceRegistry, received_at: Timestamp) -> Result<Observation, String> {
    if line.len() > RECORD_BYTES_MAX {
        return Err(format!("record is {} bytes, limit is {RECORD_BYTES_MAX}", line.len()));
    }
    let text = std::str::from_utf8(line).map_err(|e| format!("line is not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let raw: RawRecord = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    validate(&raw, registry, received_at).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Device, DeviceType};

    fn registry() -> DeviceRegistry {
        let mut r = DeviceRegistry::new();
        r.upsert(Device::fixed("lpr-17", DeviceType::PlateReader, 60.17, 24.94));
        r
    }

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-27T21:00:00Z").unwrap()
    }

    const GOOD: &str = r#"{"kind":"plate_read","device_id":"lpr-17","observed_at":"2026-11-27T20:01:02.123Z","lat":60.1699,"lon":24.9384,"plate":"ABC123","region":"FI","confidence":0.91}"#;

    #[test]
    fn a_mixed_batch_keeps_every_good_line_and_names_every_bad_one() {
        let big_plate = GOOD.replace("ABC123", &"X".repeat(100_000));
        let lines = [
            GOOD.to_string(),
            "{not json".into(),
            GOOD.replace("60.1699", "NaN"),
            GOOD.replace("60.1699", "95.0"),
            GOOD.replace("lpr-17", "lpr-404"),
            big_plate,
            String::new(),
            GOOD.replace("ABC123", "XYZ789"),
        ];
        let mut body = lines.join("\n").into_bytes();
        body.extend_from_slice(b"\n\xff\xfe\n");
        let batch = decode_ndjson(&body, &registry(), now()).unwrap();
        let good: Vec<_> = batch.observations.iter().map(|(line, o)| (*line, o.plate_read().unwrap().plate.clone())).collect();
        assert_eq!(good, vec![(1, "ABC123".to_string()), (8, "XYZ789".to_string())]);
        let errors: Vec<_> = batch.errors.iter().map(|e| (e.line, e.error.clone())).collect();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert_eq!(errors[0].0, 2);
        assert!(errors[0].1.starts_with("invalid JSON"));
        assert_eq!(errors[1].0, 3);
        assert!(errors[1].1.starts_with("invalid JSON"));
        assert_eq!(errors[2], (4, "field `lat`: (95, 24.9384) is not a WGS84 position".to_string()));
        assert!(errors[3].1.contains("unknown device \"lpr-404\""));
        assert_eq!(errors[4].0, 6);
        assert!(errors[4].1.contains("limit is 16384"));
        assert_eq!(errors[5].0, 9);
        assert!(errors[5].1.contains("UTF-8"));
        assert!(batch.errors.iter().all(|e| e.raw.len() <= RAW_BYTES_KEPT_MAX));
    }

    #[test]
    fn gzip_round_trips_and_a_bomb_is_refused() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(GOOD.as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        assert_eq!(gunzip(&compressed, 1 << 20).unwrap(), GOOD.as_bytes());
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&vec![b'x'; 1 << 20]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert_eq!(gunzip(&bomb, 1 << 16), Err(BodyError::TooLarge));
        assert!(matches!(gunzip(b"not gzip", 100), Err(BodyError::BadGzip(_))));
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let body = format!("{GOOD}\r\n{GOOD}\r\n");
        let batch = decode_ndjson(body.as_bytes(), &registry(), now()).unwrap();
        assert_eq!(batch.observations.len(), 2);
        assert!(batch.errors.is_empty());
    }
}
