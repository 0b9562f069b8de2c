//! One DataFusion table per observation kind, over the store's Parquet segments.
//!
//! A scan first prunes segments with the manifest (each segment's exact time range and bounding box)
//! using the time and position bounds it finds among the pushed filters, then hands the surviving
//! files to DataFusion's Parquet reader, which prunes row groups by their statistics. Filters are
//! `Inexact`: DataFusion re-checks every row. Columns that identify a vehicle (the plate, its OCR
//! candidates, the image reference) are not part of the table at all, so no query can reach them;
//! `plate_reads` has a `plate_key` instead, a keyed hash computed from the plate as it is read
//! (see [`crate::plate_key`]).

use crate::plate_key::{PLATE_KEY, PlateKey};
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use glasshouse_model::Kind;
use glasshouse_store::{SegmentMeta, Store, parquet_codec};
use std::sync::Arc;

/// Columns no SQL user sees: the plate, its OCR candidates and the image identify a vehicle, and the
/// observation id would let a `GROUP BY id` hand back one row per record.
pub const HIDDEN_COLUMNS: [&str; 4] = ["id", "plate", "candidates_json", "image_ref"];

/// The SQL name of a kind's table.
pub fn table_name(kind: Kind) -> &'static str {
    match kind {
        Kind::PlateRead => "plate_reads",
        Kind::SensorReading => "sensor_readings",
        Kind::Gunshot => "gunshots",
        Kind::Incident => "incidents",
        Kind::VideoEvent => "video_events",
    }
}

/// The columns SQL sees for a kind: the segment schema without [`HIDDEN_COLUMNS`], plus
/// [`PLATE_KEY`] for plate reads.
pub fn visible_schema(kind: Kind) -> SchemaRef {
    let full = parquet_codec::schema(kind);
    let mut fields: Vec<_> = full.fields().iter().filter(|f| !HIDDEN_COLUMNS.contains(&f.name().as_str())).cloned().collect();
    if kind == Kind::PlateRead {
        fields.push(Arc::new(Field::new(PLATE_KEY, DataType::UInt64, true)));
    }
    Arc::new(Schema::new(fields))
}

/// A kind's segments as a table.
pub struct SegmentTable {
    kind: Kind,
    schema: SchemaRef,
    store: Arc<Store>,
    /// Plate reads: what `plate_key` is computed with.
    plate_key: Option<Arc<ScalarUDF>>,
}

impl std::fmt::Debug for SegmentTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentTable").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl SegmentTable {
    /// The table of `kind` over `store`; `plate_key` computes the plate reads' `plate_key` column.
    pub fn new(kind: Kind, store: Arc<Store>, plate_key: &PlateKey) -> SegmentTable {
        let plate_key = (kind == Kind::PlateRead).then(|| Arc::new(ScalarUDF::new_from_impl(plate_key.clone())));
        SegmentTable { kind, schema: visible_schema(kind), store, plate_key }
    }

    /// Where `plate_key` is asked for: the files are read with the hidden `plate` column in its
    /// place, and a projection on top turns each plate into its key.
    fn keyed_scan_schema(&self) -> SchemaRef {
        let full = parquet_codec::schema(self.kind);
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .map(|f| if f.name() == PLATE_KEY { full.field_with_name("plate").map(|p| Arc::new(p.clone())) } else { Ok(f.clone()) })
            .collect::<std::result::Result<_, _>>()
            .expect("plate reads have a plate column");
        Arc::new(Schema::new(fields))
    }
}

/// Whether an expression mentions `plate_key` (such filters stay above the scan).
fn mentions_plate_key(expr: &Expr) -> bool {
    expr.column_refs().iter().any(|c| c.name == PLATE_KEY)
}

/// Bounds found among the filters: `observed_at` in microseconds, `lat`, `lon`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub time: (Option<i64>, Option<i64>),
    pub lat: (Option<f64>, Option<f64>),
    pub lon: (Option<f64>, Option<f64>),
}

fn literal_number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Literal(value, _) => match value {
            ScalarValue::Float64(Some(v)) => Some(*v),
            ScalarValue::Float32(Some(v)) => Some(f64::from(*v)),
            ScalarValue::Int64(Some(v)) => Some(*v as f64),
            ScalarValue::Int32(Some(v)) => Some(f64::from(*v)),
            ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v as f64),
            ScalarValue::TimestampNanosecond(Some(v), _) => Some((*v / 1_000) as f64),
            ScalarValue::TimestampMillisecond(Some(v), _) => Some((*v * 1_000) as f64),
            ScalarValue::TimestampSecond(Some(v), _) => Some((*v * 1_000_000) as f64),
            _ => None,
        },
        Expr::Cast(cast) => literal_number(&cast.expr),
        Expr::TryCast(cast) => literal_number(&cast.expr),
        _ => None,
    }
}

fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(cast) => column_name(&cast.expr),
        _ => None,
    }
}

impl Bounds {
    /// Collects `column op literal` bounds from conjunctions; anything else is ignored (never
    /// wrong: a missed bound only means less pruning).
    pub fn from_filters(filters: &[Expr]) -> Bounds {
        let mut bounds = Bounds::default();
        for filter in filters {
            bounds.visit(filter);
        }
        bounds
    }

    fn visit(&mut self, expr: &Expr) {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else { return };
        if *op == Operator::And {
            self.visit(left);
            self.visit(right);
            return;
        }
        let (name, value, op) = match (column_name(left), literal_number(right), column_name(right), literal_number(left)) {
            (Some(name), Some(value), _, _) => (name, value, *op),
            (_, _, Some(name), Some(value)) => match op.swap() {
                Some(swapped) => (name, value, swapped),
                None => return,
            },
            _ => return,
        };
        let (low, high) = match op {
            Operator::Gt | Operator::GtEq => (Some(value), None),
            Operator::Lt | Operator::LtEq => (None, Some(value)),
            Operator::Eq => (Some(value), Some(value)),
            _ => return,
        };
        let tighten = |range: &mut (Option<f64>, Option<f64>)| {
            if let Some(l) = low {
                range.0 = Some(range.0.map_or(l, |r: f64| r.max(l)));
            }
            if let Some(h) = high {
                range.1 = Some(range.1.map_or(h, |r: f64| r.min(h)));
            }
        };
        match name {
            "observed_at" => {
                let mut range = (self.time.0.map(|v| v as f64), self.time.1.map(|v| v as f64));
                tighten(&mut range);
                self.time = (range.0.map(|v| v as i64), range.1.map(|v| v as i64));
            }
            "lat" => tighten(&mut self.lat),
            "lon" => tighten(&mut self.lon),
            _ => {}
        }
    }

    /// False when the segment's manifest entry rules out every row.
    pub fn may_match(&self, segment: &SegmentMeta) -> bool {
        let (min_t, max_t) = (segment.min_observed_at.0, segment.max_observed_at.0);
        let b = segment.bbox;
        !(self.time.0.is_some_and(|l| max_t < l)
            || self.time.1.is_some_and(|h| min_t > h)
            || self.lon.0.is_some_and(|l| b[2] < l)
            || self.lon.1.is_some_and(|h| b[0] > h)
            || self.lat.0.is_some_and(|l| b[3] < l)
            || self.lat.1.is_some_and(|h| b[1] > h))
    }
}

#[async_trait]
impl TableProvider for SegmentTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (root, segments) = self.store.segment_snapshot();
        let bounds = Bounds::from_filters(filters);
        let files: Vec<ListingTableUrl> = segments
            .iter()
            .filter(|s| s.kind == self.kind.as_str() && bounds.may_match(s))
            .map(|s| ListingTableUrl::parse(root.join(&s.path).to_string_lossy()))
            .collect::<Result<_>>()?;
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        // The policy admits `plate_key` only inside distinct counts, so no filter on it should
        // arrive; one that did would name a column the files do not have.
        let filters: Vec<Expr> = filters.iter().filter(|f| !mentions_plate_key(f)).cloned().collect();
        let key_column = self.schema.index_of(PLATE_KEY).ok();
        let keyed = match (&self.plate_key, key_column) {
            (Some(udf), Some(column)) if projection.is_none_or(|p| p.contains(&column)) => Some((udf.clone(), column)),
            _ => None,
        };
        let Some((udf, column)) = keyed else {
            let config = ListingTableConfig::new_with_multi_paths(files).with_listing_options(options).with_schema(self.schema.clone());
            return ListingTable::try_new(config)?.scan(state, projection, &filters, limit).await;
        };
        // The same columns in the same places, with `plate` where `plate_key` was.
        let scan_schema = self.keyed_scan_schema();
        let config = ListingTableConfig::new_with_multi_paths(files).with_listing_options(options).with_schema(scan_schema.clone());
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let input = ListingTable::try_new(config)?.scan(state, Some(&wanted), &filters, limit).await?;
        let read = scan_schema.project(&wanted)?;
        let config_options = Arc::new(state.config_options().clone());
        let exprs = wanted
            .iter()
            .enumerate()
            .map(|(position, index)| {
                let name = self.schema.field(*index).name().clone();
                let source: Arc<dyn PhysicalExpr> = Arc::new(Column::new(read.field(position).name(), position));
                let expr: Arc<dyn PhysicalExpr> = if *index == column {
                    Arc::new(ScalarFunctionExpr::try_new(udf.clone(), vec![source], &read, config_options.clone())?)
                } else {
                    source
                };
                Ok((expr, name))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};
    use glasshouse_model::Timestamp;

    fn segment(min: i64, max: i64, bbox: [f64; 4]) -> SegmentMeta {
        SegmentMeta {
            path: "kind=plate_read/date=2026-11-27/seg-1-2.parquet".into(),
            kind: "plate_read".into(),
            min_observed_at: Timestamp(min),
            max_observed_at: Timestamp(max),
            rows: 1,
            bbox,
            size_bytes: 1,
            plate_index: None,
            index_bytes: 0,
            id_filter: None,
            id_filter_bytes: 0,
        }
    }

    #[test]
    fn bounds_come_from_conjunctions_in_either_order_and_prune_segments() {
        let ts = |v: i64| lit(ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into())));
        let filters = vec![
            col("observed_at").gt_eq(ts(100)).and(ts(200).gt(col("observed_at"))),
            col("lat").lt(lit(60.2)),
            col("plate_hash").eq(lit("x")),
        ];
        let bounds = Bounds::from_filters(&filters);
        assert_eq!(bounds.time, (Some(100), Some(200)));
        assert_eq!(bounds.lat, (None, Some(60.2)));
        assert!(bounds.may_match(&segment(150, 300, [24.0, 60.0, 25.0, 61.0])));
        assert!(!bounds.may_match(&segment(201, 300, [24.0, 60.0, 25.0, 61.0])), "after the range");
        assert!(!bounds.may_match(&segment(150, 160, [24.0, 60.3, 25.0, 61.0])), "north of lat < 60.2");
        assert!(
            Bounds::from_filters(&[col("observed_at").gt(ts(1)).or(col("lat").lt(lit(0.0)))]) == Bounds::default(),
            "OR is not a bound"
        );
    }

    #[test]
    fn plates_are_not_columns() {
        let schema = visible_schema(Kind::PlateRead);
        for hidden in HIDDEN_COLUMNS {
            assert!(schema.field_with_name(hidden).is_err(), "{hidden} is visible");
        }
        assert!(schema.field_with_name("device_id").is_ok());
        assert!(schema.field_with_name(PLATE_KEY).is_ok(), "plate reads carry a keyed hash instead");
        assert!(visible_schema(Kind::Incident).field_with_name(PLATE_KEY).is_err());
    }
}
