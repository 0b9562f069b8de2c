//! The Glasshouse core model: observations, devices, geometry, time and limits.
//!
//! Every other crate speaks these types. The crate does no I/O and has no async, so each pipeline stage
//! can be tested with plain values. Validation lives here too: it is a pure function of a raw record,
//! the device registry and the clock, which keeps the ingest crate about transport only.
#![deny(missing_docs)]

pub mod device;
pub mod geo;
pub mod image;
pub mod limits;
pub mod observation;
#[cfg(feature = "openapi")]
mod openapi;
pub mod plate;
pub mod time;
pub mod validate;

pub use device::{Device, DeviceError, DeviceRegistry, DeviceType};
pub use geo::LatLon;
pub use observation::{Body, Candidate, Gunshot, Incident, Kind, Observation, PlateRead, Position, SensorReading, VideoEvent, VideoLabel};
pub use time::Timestamp;
pub use validate::{RawRecord, ValidationError, validate};
