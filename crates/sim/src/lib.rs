//! A deterministic synthetic city for the demo, the tests and the benchmarks.
//!
//! [`network`] reads a real road network from an OpenStreetMap extract (or generates a grid city of
//! any size). [`city`] places devices on it. [`simulator`] drives vehicles on routed trips past the
//! plate readers, with realistic OCR misreads, and mixes in sensor baselines with an injected
//! radiation anomaly, gunshots, camera counts and CAD incidents. [`month`] writes a month of a big
//! city at full rate, without routes, for the whole-system benchmark. The same seed gives the same
//! city and the same observations, byte for byte.
#![deny(missing_docs)]

pub mod city;
pub mod month;
pub mod network;
pub mod simulator;

pub use city::{City, CityConfig};
pub use network::RoadNetwork;
pub use simulator::{Simulator, SimulatorConfig};
