//! Storage beyond the WAL: the catalog of devices and hotlists, and the cold store of observations.
//!
//! - [`catalog`]: configuration changes (device registrations, hotlists, entries) as an append-only
//!   event log, replayed into the registry and the hotlist index at start. Each event names its actor;
//!   the audit log holds the accountable record of each change.
//! - [`segments`]: observations flushed from the WAL into immutable Parquet files, one per kind and
//!   day per flush (compacted to one per kind and day), plus a manifest that records which WAL
//!   position they cover. Queries read the
//!   segments and the hot window (durable in the WAL, not yet flushed), so nothing acknowledged is
//!   ever invisible.
#![deny(missing_docs)]

pub mod catalog;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod id_filter;
pub mod images;
pub mod metrics;
pub mod parquet_codec;
pub mod query;
pub mod segments;

pub use catalog::{Catalog, CatalogError, CatalogEvent};
pub use images::ImageStore;
pub use query::{ObservationQuery, QueryResult};
pub use segments::{SegmentMeta, SegmentStore, StoreError};

pub mod hot;
pub mod neighbourhood;
pub use hot::{LatestReading, PurgeOutcome, Store};
pub use neighbourhood::{ContextWindow, IncidentContext, IncidentContextQuery, KindContext, NeighbourhoodQuery};

mod pages;
mod plate_dictionary;
pub mod plate_index;
pub mod search;
pub use search::{AreaQuery, Cursor, Explain, Page, PlateCount, PlateMatch, PlateMode, PlateQuery, PlateTally, Shape};
pub use segments::CompactionReport;
pub mod retention;
pub use retention::{CONFIRMED_ALERT_EVIDENCE, DEAD_LETTERS, Keep, OTHER_CLASSES, PurgePlan, RetentionPolicy};
