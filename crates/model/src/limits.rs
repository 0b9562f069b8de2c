//! Named bounds on everything the engine accepts, with the reason for each.

/// Plates we accept are at most 8 characters in any region we know; 10 leaves room for regional
/// prefixes. Longer strings are OCR noise or abuse (a 100 kB "plate" must not reach the store).
pub const PLATE_CHARS_MAX: usize = 10;
/// Region codes are ISO 3166-1/2 style: "FI", "US-NY", "CA-ON".
pub const REGION_CHARS_MAX: usize = 6;
/// A plate reader reports at most a handful of alternatives; OpenALPR's default is 10.
pub const CANDIDATES_MAX: usize = 10;
/// Identifiers (device, observation, incident, quantity) are short keys, not documents.
pub const ID_CHARS_MAX: usize = 64;
/// Free text such as an incident address or a vehicle colour.
pub const TEXT_CHARS_MAX: usize = 256;
/// One NDJSON line. Generous for a plate read with ten candidates and vehicle attributes (~1 kB),
/// small enough that a runaway producer cannot make one record a memory problem.
pub const RECORD_BYTES_MAX: usize = 16 * 1024;
/// Device clocks drift; a reading stamped further ahead than this is a broken clock, not the future.
pub const FUTURE_SKEW_SECS_MAX: i64 = 300;
/// Observations older than this are refused: nothing a city keeps reaches back further, and a
/// timestamp of 1970 is a device that lost its clock.
pub const PAST_YEARS_MAX: i64 = 30;
/// One ingest request body, after decompression.
pub const INGEST_BODY_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Records in one ingest request; bounds the per-request error list and the WAL group.
pub const INGEST_REQUEST_RECORDS_MAX: usize = 200_000;
/// Per-line errors returned in one response; the rest are counted and dead-lettered.
pub const INGEST_ERRORS_REPORTED_MAX: usize = 1_000;
/// Requests waiting for the WAL. A slow disk pushes back (503) instead of filling memory.
pub const INGEST_QUEUE_REQUESTS_MAX: usize = 64;
/// Records per segment flush before the hot window is written out early.
pub const HOT_WINDOW_RECORDS_MAX: usize = 200_000;
/// Results of one observation query page.
pub const QUERY_RESULTS_MAX: usize = 50_000;
const _: () = assert!(INGEST_ERRORS_REPORTED_MAX <= INGEST_REQUEST_RECORDS_MAX);
const _: () = assert!(PLATE_CHARS_MAX <= ID_CHARS_MAX);
