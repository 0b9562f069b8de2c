//! Fixtures shared by the store's integration tests and its duplicate-check bench.

use glasshouse_model::{Body, Observation, PlateRead, Position, Timestamp};

/// A plate read at one fixed reader: only its id and time vary, as the duplicate check sees them.
pub fn read(id: String, at: Timestamp) -> Observation {
    Observation {
        id,
        device_id: "lpr-1".into(),
        observed_at: at,
        received_at: at,
        position: Position { lat: 60.17, lon: 24.94, heading_deg: None, accuracy_m: None },
        body: Body::PlateRead(PlateRead { plate: "ABC123".into(), ..PlateRead::default() }),
    }
}
