//! One module per rule, named after what it detects.

pub mod hotlist;
