//! One module per rule, named after what it detects.

pub mod correlation;
pub mod geofence;
pub mod hotlist;
pub mod hotlist_csv;
pub mod misread;
pub mod silence;
pub mod threshold;
pub mod wildcard;
