//! Event time as microseconds since the Unix epoch, UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An instant in UTC with microsecond precision. Observations carry their event time in this form
/// so ordering and bucketing are integer arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Microseconds in one second.
pub const MICROS_PER_SEC: i64 = 1_000_000;
/// Microseconds in one hour.
pub const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SEC;
/// Microseconds in one day, the cold store's partition.
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Timestamp(chrono::Utc::now().timestamp_micros())
    }

    /// Parses RFC 3339 (`2026-11-27T20:01:02.123Z`, any offset); `None` if malformed.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| Timestamp(t.timestamp_micros()))
    }

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs * MICROS_PER_SEC)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// The start of the hour containing this instant.
    pub fn hour_start(self) -> Timestamp {
        Timestamp(self.0.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR)
    }

    /// This instant shifted by a signed number of seconds.
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0 + secs * MICROS_PER_SEC)
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-27T20:01:02.123000Z`.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp_micros(self.0) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            None => format!("@{}us", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-11-27T20:01:02.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T20:01:02.123000Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let a = Timestamp::parse_rfc3339("2026-11-27T22:00:00+02:00").unwrap();
        let b = Timestamp::parse_rfc3339("2026-11-27T20:00:00Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn hour_start_floors_negative_times_too() {
        assert_eq!(Timestamp(-1).hour_start(), Timestamp(-MICROS_PER_HOUR));
        assert_eq!(Timestamp(MICROS_PER_HOUR + 5).hour_start(), Timestamp(MICROS_PER_HOUR));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
        assert_eq!(Timestamp::parse_rfc3339("2026-13-01T00:00:00Z"), None);
    }
}
