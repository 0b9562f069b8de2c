//! Observations to Arrow record batches and back, one schema per kind.
//!
//! Columns are typed (timestamps as `Timestamp(µs, UTC)`, coordinates as `Float64`), so DuckDB or
//! DataFusion read a segment as an ordinary table. Plate candidates are kept as a JSON text column:
//! they are evidence to show, not something to aggregate.

use arrow::array::{
    Array, ArrayRef, Float32Array, Float32Builder, Float64Array, Float64Builder, Int64Array, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, UInt8Array, UInt8Builder, UInt32Array, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use glasshouse_model::validate::{RawCandidate, from_stored};
use glasshouse_model::{Body, Kind, Observation, RawRecord, Timestamp};
use std::borrow::Cow;
use std::sync::Arc;

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of a kind's segments.
pub fn schema(kind: Kind) -> SchemaRef {
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("device_id", DataType::Utf8, false),
        Field::new("observed_at", utc_micros(), false),
        // Milliseconds from observed_at to receipt: small and repetitive where received_at itself
        // would cost as much as observed_at (received_at to the millisecond is plenty).
        Field::new("receive_delay_ms", DataType::Int64, false),
        Field::new("lat", DataType::Float64, false),
        Field::new("lon", DataType::Float64, false),
        Field::new("heading_deg", DataType::Float64, true),
        Field::new("accuracy_m", DataType::Float64, true),
    ];
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    match kind {
        Kind::PlateRead => fields.extend([
            text("plate", false),
            text("region", true),
            Field::new("confidence", DataType::Float32, true),
            text("candidates_json", true),
            text("direction", true),
            text("vehicle_make", true),
            text("vehicle_color", true),
            text("vehicle_body", true),
            text("image_ref", true),
        ]),
        Kind::SensorReading => fields.extend([text("quantity", false), Field::new("value", DataType::Float64, false), text("unit", false)]),
        Kind::Gunshot => fields.extend([
            Field::new("rounds", DataType::UInt32, false),
            Field::new("confidence", DataType::Float32, true),
            Field::new("bearing_deg", DataType::Float64, true),
        ]),
        Kind::Incident => fields.extend([
            text("incident_id", false),
            text("type_code", false),
            Field::new("priority", DataType::UInt8, true),
            text("status", true),
            text("address", true),
        ]),
        Kind::VideoEvent => fields.extend([text("label", false), Field::new("count", DataType::UInt32, false)]),
    }
    Arc::new(Schema::new(fields))
}

fn strings<'a>(rows: &'a [&Observation], get: impl Fn(&'a Observation) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
    for o in rows {
        b.append_option(get(o));
    }
    Arc::new(b.finish())
}

fn floats(rows: &[&Observation], get: impl Fn(&Observation) -> Option<f64>) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(rows.len());
    for o in rows {
        b.append_option(get(o));
    }
    Arc::new(b.finish())
}

fn floats32(rows: &[&Observation], get: impl Fn(&Observation) -> Option<f32>) -> ArrayRef {
    let mut b = Float32Builder::with_capacity(rows.len());
    for o in rows {
        b.append_option(get(o));
    }
    Arc::new(b.finish())
}

fn u32s(rows: &[&Observation], get: impl Fn(&Observation) -> Option<u32>) -> ArrayRef {
    let mut b = UInt32Builder::with_capacity(rows.len());
    for o in rows {
        b.append_option(get(o));
    }
    Arc::new(b.finish())
}

fn times(rows: &[&Observation], get: impl Fn(&Observation) -> Timestamp) -> ArrayRef {
    let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    for o in rows {
        b.append_value(get(o).0);
    }
    Arc::new(b.finish())
}

macro_rules! body {
    ($o:expr, $variant:ident) => {
        match &$o.body {
            Body::$variant(inner) => inner,
            _ => unreachable!("a segment holds one kind; the caller groups by kind"),
        }
    };
}

/// Encodes observations of one kind as a record batch.
///
/// # Panics
/// If any observation is not of `kind` (the segment builder groups by kind first).
pub fn encode(kind: Kind, rows: &[&Observation]) -> Result<RecordBatch, ArrowError> {
    assert!(rows.iter().all(|o| o.kind() == kind), "encode: mixed kinds");
    let mut columns: Vec<ArrayRef> = vec![
        strings(rows, |o| Some(&o.id)),
        strings(rows, |o| Some(&o.device_id)),
        times(rows, |o| o.observed_at),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|o| (o.received_at.0 - o.observed_at.0).div_euclid(1_000)))),
        floats(rows, |o| Some(o.position.lat)),
        floats(rows, |o| Some(o.position.lon)),
        floats(rows, |o| o.position.heading_deg),
        floats(rows, |o| o.position.accuracy_m),
    ];
    match kind {
        Kind::PlateRead => {
            let candidates: Vec<Option<String>> = rows
                .iter()
                .map(|o| {
                    let r = body!(o, PlateRead);
                    (!r.candidates.is_empty()).then(|| serde_json::to_string(&r.candidates).expect("candidates serialise"))
                })
                .collect();
            columns.extend([
                strings(rows, |o| Some(&body!(o, PlateRead).plate)),
                strings(rows, |o| body!(o, PlateRead).region.as_deref()),
                floats32(rows, |o| body!(o, PlateRead).confidence),
                Arc::new(StringArray::from(candidates)) as ArrayRef,
                strings(rows, |o| body!(o, PlateRead).direction.as_deref()),
                strings(rows, |o| body!(o, PlateRead).vehicle_make.as_deref()),
                strings(rows, |o| body!(o, PlateRead).vehicle_color.as_deref()),
                strings(rows, |o| body!(o, PlateRead).vehicle_body.as_deref()),
                strings(rows, |o| body!(o, PlateRead).image_ref.as_deref()),
            ]);
        }
        Kind::SensorReading => columns.extend([
            strings(rows, |o| Some(&body!(o, SensorReading).quantity)),
            floats(rows, |o| Some(body!(o, SensorReading).value)),
            strings(rows, |o| Some(&body!(o, SensorReading).unit)),
        ]),
        Kind::Gunshot => columns.extend([
            u32s(rows, |o| Some(body!(o, Gunshot).rounds)),
            floats32(rows, |o| body!(o, Gunshot).confidence),
            floats(rows, |o| body!(o, Gunshot).bearing_deg),
        ]),
        Kind::Incident => {
            let mut priority = UInt8Builder::with_capacity(rows.len());
            for o in rows {
                priority.append_option(body!(o, Incident).priority);
            }
            columns.extend([
                strings(rows, |o| Some(&body!(o, Incident).incident_id)),
                strings(rows, |o| Some(&body!(o, Incident).type_code)),
                Arc::new(priority.finish()) as ArrayRef,
                strings(rows, |o| body!(o, Incident).status.as_deref()),
                strings(rows, |o| body!(o, Incident).address.as_deref()),
            ]);
        }
        Kind::VideoEvent => {
            columns.extend([strings(rows, |o| Some(body!(o, VideoEvent).label.as_str())), u32s(rows, |o| Some(body!(o, VideoEvent).count))])
        }
    }
    RecordBatch::try_new(schema(kind), columns)
}

/// Why a stored batch could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("segment column `{column}`: {reason}")]
pub struct DecodeError {
    /// The column at fault.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

struct Columns<'a>(&'a RecordBatch);

impl<'a> Columns<'a> {
    fn get<T: 'static>(&self, name: &str) -> Result<Option<&'a T>, DecodeError> {
        let Some(column) = self.0.column_by_name(name) else { return Ok(None) };
        column
            .as_any()
            .downcast_ref::<T>()
            .map(Some)
            .ok_or_else(|| DecodeError { column: name.into(), reason: format!("unexpected type {}", column.data_type()) })
    }
}

fn text<'a>(array: Option<&'a StringArray>, row: usize) -> Option<Cow<'a, str>> {
    array.filter(|a| a.is_valid(row)).map(|a| Cow::Borrowed(a.value(row)))
}

fn number<A: Array + 'static, T>(array: Option<&A>, row: usize, value: impl Fn(&A, usize) -> T) -> Option<T> {
    array.filter(|a| a.is_valid(row)).map(|a| value(a, row))
}

/// Decodes a batch of a kind back into observations, each row passed to `each` (which may stop early
/// by returning false). Rebuilding goes through the same constructor as ingest, so a segment can never
/// yield an observation that ingest could not have produced.
pub fn decode(kind: Kind, batch: &RecordBatch, mut each: impl FnMut(Observation) -> bool) -> Result<(), DecodeError> {
    let c = Columns(batch);
    let ids = c.get::<StringArray>("id")?;
    let devices = c.get::<StringArray>("device_id")?;
    let observed = c.get::<TimestampMicrosecondArray>("observed_at")?;
    let delay = c.get::<Int64Array>("receive_delay_ms")?;
    let lat = c.get::<Float64Array>("lat")?;
    let lon = c.get::<Float64Array>("lon")?;
    let heading = c.get::<Float64Array>("heading_deg")?;
    let accuracy = c.get::<Float64Array>("accuracy_m")?;
    let plate = c.get::<StringArray>("plate")?;
    let region = c.get::<StringArray>("region")?;
    let confidence = c.get::<Float32Array>("confidence")?;
    let candidates = c.get::<StringArray>("candidates_json")?;
    let direction = c.get::<StringArray>("direction")?;
    let make = c.get::<StringArray>("vehicle_make")?;
    let color = c.get::<StringArray>("vehicle_color")?;
    let vehicle_body = c.get::<StringArray>("vehicle_body")?;
    let image_ref = c.get::<StringArray>("image_ref")?;
    let quantity = c.get::<StringArray>("quantity")?;
    let value = c.get::<Float64Array>("value")?;
    let unit = c.get::<StringArray>("unit")?;
    let rounds = c.get::<UInt32Array>("rounds")?;
    let bearing = c.get::<Float64Array>("bearing_deg")?;
    let incident_id = c.get::<StringArray>("incident_id")?;
    let type_code = c.get::<StringArray>("type_code")?;
    let priority = c.get::<UInt8Array>("priority")?;
    let status = c.get::<StringArray>("status")?;
    let address = c.get::<StringArray>("address")?;
    let label = c.get::<StringArray>("label")?;
    let count = c.get::<UInt32Array>("count")?;
    for row in 0..batch.num_rows() {
        let observed = number(observed, row, |a, i| Timestamp(a.value(i)));
        let received_at = observed.zip(number(delay, row, |a, i| a.value(i))).map(|(t, ms)| Timestamp(t.0 + ms * 1_000).to_rfc3339());
        let observed_at = observed.map(|t| t.to_rfc3339());
        let candidate_list = match text(candidates, row) {
            Some(json) => Some(
                serde_json::from_str::<Vec<RawCandidate>>(&json)
                    .map_err(|e| DecodeError { column: "candidates_json".into(), reason: e.to_string() })?
                    .into_iter()
                    .map(|c| RawCandidate { plate: Cow::Owned(c.plate.into_owned()), confidence: c.confidence })
                    .collect(),
            ),
            None => None,
        };
        let raw = RawRecord {
            id: text(ids, row),
            kind: Some(Cow::Borrowed(kind.as_str())),
            device_id: text(devices, row),
            observed_at: observed_at.map(Cow::Owned),
            received_at: received_at.map(Cow::Owned),
            lat: number(lat, row, |a, i| a.value(i)),
            lon: number(lon, row, |a, i| a.value(i)),
            heading_deg: number(heading, row, |a, i| a.value(i)),
            accuracy_m: number(accuracy, row, |a, i| a.value(i)),
            plate: text(plate, row),
            region: text(region, row),
            confidence: number(confidence, row, |a, i| f64::from(a.value(i))),
            candidates: candidate_list,
            direction: text(direction, row),
            vehicle_make: text(make, row),
            vehicle_color: text(color, row),
            vehicle_body: text(vehicle_body, row),
            image_ref: text(image_ref, row),
            quantity: text(quantity, row),
            value: number(value, row, |a, i| a.value(i)),
            unit: text(unit, row),
            rounds: number(rounds, row, |a, i| a.value(i)),
            bearing_deg: number(bearing, row, |a, i| a.value(i)),
            incident_id: text(incident_id, row),
            type_code: text(type_code, row),
            priority: number(priority, row, |a, i| a.value(i)),
            status: text(status, row),
            address: text(address, row),
            label: text(label, row),
            count: number(count, row, |a, i| a.value(i)),
        };
        let observation = from_stored(&raw).map_err(|e| DecodeError { column: e.field.into(), reason: e.reason })?;
        if !each(observation) {
            break;
        }
    }
    Ok(())
}
