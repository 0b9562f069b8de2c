//! One module per rule, named after what it detects.

pub mod correlation;
pub mod fuzzy;
pub mod geofence;
pub mod hotlist;
pub mod threshold;
pub mod wildcard;
