//! Observations to Arrow record batches and back, one schema per kind.
//!
//! Columns are typed (timestamps as `Timestamp(µs, UTC)`, coordinates as `Float64`), so DuckDB or
//! DataFusion read a segment as an ordinary table. Plate candidates are kept as a JSON text column:
//! they are evidence to show, not something to aggregate.

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, Float32Array, Float32Builder, Float64Array, Float64Builder, Int64Array, Int64Builder, StringArray,
    StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder, UInt8Array, UInt8Builder, UInt32Array, UInt32Builder,
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

/// A kind's columns being built, a row at a time.
///
/// Every column of a row is appended in one visit of the observation: building the columns one
/// after another read each observation once per column, 17 passes over a large segment's
/// observations (about a gigabyte for 3.3M plate reads), which was bound by memory bandwidth.
pub struct BatchEncoder {
    kind: Kind,
    id: StringBuilder,
    device_id: StringBuilder,
    observed_at: TimestampMicrosecondBuilder,
    receive_delay_ms: Int64Builder,
    lat: Float64Builder,
    lon: Float64Builder,
    heading_deg: Float64Builder,
    accuracy_m: Float64Builder,
    body: BodyColumns,
    /// A reused buffer for a read's candidates as JSON.
    json: Vec<u8>,
}

/// The columns of one kind's body, in schema order. An encoder holds one, so the variants' sizes
/// differing costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum BodyColumns {
    PlateRead {
        plate: StringBuilder,
        region: StringBuilder,
        confidence: Float32Builder,
        candidates_json: StringBuilder,
        direction: StringBuilder,
        vehicle_make: StringBuilder,
        vehicle_color: StringBuilder,
        vehicle_body: StringBuilder,
        image_ref: StringBuilder,
    },
    SensorReading {
        quantity: StringBuilder,
        value: Float64Builder,
        unit: StringBuilder,
    },
    Gunshot {
        rounds: UInt32Builder,
        confidence: Float32Builder,
        bearing_deg: Float64Builder,
    },
    Incident {
        incident_id: StringBuilder,
        type_code: StringBuilder,
        priority: UInt8Builder,
        status: StringBuilder,
        address: StringBuilder,
    },
    VideoEvent {
        label: StringBuilder,
        count: UInt32Builder,
    },
}

/// A text column's builder, sized for `rows` short values (ids, plates, device names).
fn text_builder(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * 8)
}

/// A text column that is usually empty: reserves nothing for the values.
fn sparse_text_builder(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, 0)
}

fn finish<B: ArrayBuilder>(builder: &mut B) -> ArrayRef {
    builder.finish()
}

impl BatchEncoder {
    /// An encoder for about `rows` observations of `kind`.
    pub fn new(kind: Kind, rows: usize) -> BatchEncoder {
        let body = match kind {
            Kind::PlateRead => BodyColumns::PlateRead {
                plate: text_builder(rows),
                region: sparse_text_builder(rows),
                confidence: Float32Builder::with_capacity(rows),
                candidates_json: sparse_text_builder(rows),
                direction: sparse_text_builder(rows),
                vehicle_make: sparse_text_builder(rows),
                vehicle_color: sparse_text_builder(rows),
                vehicle_body: sparse_text_builder(rows),
                image_ref: sparse_text_builder(rows),
            },
            Kind::SensorReading => BodyColumns::SensorReading {
                quantity: text_builder(rows),
                value: Float64Builder::with_capacity(rows),
                unit: text_builder(rows),
            },
            Kind::Gunshot => BodyColumns::Gunshot {
                rounds: UInt32Builder::with_capacity(rows),
                confidence: Float32Builder::with_capacity(rows),
                bearing_deg: Float64Builder::with_capacity(rows),
            },
            Kind::Incident => BodyColumns::Incident {
                incident_id: text_builder(rows),
                type_code: text_builder(rows),
                priority: UInt8Builder::with_capacity(rows),
                status: sparse_text_builder(rows),
                address: sparse_text_builder(rows),
            },
            Kind::VideoEvent => BodyColumns::VideoEvent { label: text_builder(rows), count: UInt32Builder::with_capacity(rows) },
        };
        BatchEncoder {
            kind,
            id: text_builder(rows),
            device_id: text_builder(rows),
            observed_at: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            receive_delay_ms: Int64Builder::with_capacity(rows),
            lat: Float64Builder::with_capacity(rows),
            lon: Float64Builder::with_capacity(rows),
            heading_deg: Float64Builder::with_capacity(rows),
            accuracy_m: Float64Builder::with_capacity(rows),
            body,
            json: Vec::new(),
        }
    }

    /// Appends one observation as a row.
    ///
    /// # Errors
    /// When the observation is of another kind than the encoder's (nothing is appended).
    pub fn push(&mut self, o: &Observation) -> Result<(), ArrowError> {
        match (&mut self.body, &o.body) {
            (
                BodyColumns::PlateRead {
                    plate,
                    region,
                    confidence,
                    candidates_json,
                    direction,
                    vehicle_make,
                    vehicle_color,
                    vehicle_body,
                    image_ref,
                },
                Body::PlateRead(read),
            ) => {
                plate.append_value(&read.plate);
                region.append_option(read.region.as_deref());
                confidence.append_option(read.confidence);
                if read.candidates.is_empty() {
                    candidates_json.append_null();
                } else {
                    self.json.clear();
                    serde_json::to_writer(&mut self.json, &read.candidates).map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                    candidates_json.append_value(std::str::from_utf8(&self.json).expect("serde_json writes UTF-8"));
                }
                direction.append_option(read.direction.as_deref());
                vehicle_make.append_option(read.vehicle_make.as_deref());
                vehicle_color.append_option(read.vehicle_color.as_deref());
                vehicle_body.append_option(read.vehicle_body.as_deref());
                image_ref.append_option(read.image_ref.as_deref());
            }
            (BodyColumns::SensorReading { quantity, value, unit }, Body::SensorReading(reading)) => {
                quantity.append_value(&reading.quantity);
                value.append_value(reading.value);
                unit.append_value(&reading.unit);
            }
            (BodyColumns::Gunshot { rounds, confidence, bearing_deg }, Body::Gunshot(shot)) => {
                rounds.append_value(shot.rounds);
                confidence.append_option(shot.confidence);
                bearing_deg.append_option(shot.bearing_deg);
            }
            (BodyColumns::Incident { incident_id, type_code, priority, status, address }, Body::Incident(incident)) => {
                incident_id.append_value(&incident.incident_id);
                type_code.append_value(&incident.type_code);
                priority.append_option(incident.priority);
                status.append_option(incident.status.as_deref());
                address.append_option(incident.address.as_deref());
            }
            (BodyColumns::VideoEvent { label, count }, Body::VideoEvent(event)) => {
                label.append_value(event.label.as_str());
                count.append_value(event.count);
            }
            _ => {
                return Err(ArrowError::InvalidArgumentError(format!(
                    "a {} observation in a batch of {}",
                    o.kind().as_str(),
                    self.kind.as_str()
                )));
            }
        }
        self.id.append_value(&o.id);
        self.device_id.append_value(&o.device_id);
        self.observed_at.append_value(o.observed_at.0);
        self.receive_delay_ms.append_value((o.received_at.0 - o.observed_at.0).div_euclid(1_000));
        self.lat.append_value(o.position.lat);
        self.lon.append_value(o.position.lon);
        self.heading_deg.append_option(o.position.heading_deg);
        self.accuracy_m.append_option(o.position.accuracy_m);
        Ok(())
    }

    /// The record batch of every row pushed, in the kind's schema.
    pub fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = vec![
            finish(&mut self.id),
            finish(&mut self.device_id),
            finish(&mut self.observed_at),
            finish(&mut self.receive_delay_ms),
            finish(&mut self.lat),
            finish(&mut self.lon),
            finish(&mut self.heading_deg),
            finish(&mut self.accuracy_m),
        ];
        match &mut self.body {
            BodyColumns::PlateRead {
                plate,
                region,
                confidence,
                candidates_json,
                direction,
                vehicle_make,
                vehicle_color,
                vehicle_body,
                image_ref,
            } => columns.extend([
                finish(plate),
                finish(region),
                finish(confidence),
                finish(candidates_json),
                finish(direction),
                finish(vehicle_make),
                finish(vehicle_color),
                finish(vehicle_body),
                finish(image_ref),
            ]),
            BodyColumns::SensorReading { quantity, value, unit } => columns.extend([finish(quantity), finish(value), finish(unit)]),
            BodyColumns::Gunshot { rounds, confidence, bearing_deg } => {
                columns.extend([finish(rounds), finish(confidence), finish(bearing_deg)])
            }
            BodyColumns::Incident { incident_id, type_code, priority, status, address } => {
                columns.extend([finish(incident_id), finish(type_code), finish(priority), finish(status), finish(address)])
            }
            BodyColumns::VideoEvent { label, count } => columns.extend([finish(label), finish(count)]),
        }
        RecordBatch::try_new(schema(self.kind), columns)
    }
}

/// Encodes observations of one kind as a record batch, in the order given.
///
/// # Errors
/// When an observation is not of `kind` (the segment builder groups by kind first).
pub fn encode<'a>(kind: Kind, rows: impl ExactSizeIterator<Item = &'a Observation>) -> Result<RecordBatch, ArrowError> {
    let mut encoder = BatchEncoder::new(kind, rows.len());
    for o in rows {
        encoder.push(o)?;
    }
    encoder.finish()
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
pub fn decode(kind: Kind, batch: &RecordBatch, each: impl FnMut(Observation) -> bool) -> Result<(), DecodeError> {
    decode_with_plates(kind, batch, None, each)
}

/// [`decode`] for a batch read without its `plate` column, the plate of row `i` given as
/// `plates[i]` (a plate index knows the plates of the rows it selected; the column's pages are
/// the costliest of a row to read). With the column present, `plates` is not used.
///
/// # Errors
/// As [`decode`]; also when `plates` does not hold a plate for every row.
pub fn decode_with_plates(
    kind: Kind,
    batch: &RecordBatch,
    plates: Option<&[&str]>,
    mut each: impl FnMut(Observation) -> bool,
) -> Result<(), DecodeError> {
    if plates.is_some_and(|p| p.len() != batch.num_rows()) {
        return Err(DecodeError {
            column: "plate".into(),
            reason: format!("{} rows but plates for {}", batch.num_rows(), plates.map_or(0, <[_]>::len)),
        });
    }
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
            plate: text(plate, row).or_else(|| plates.map(|p| Cow::Borrowed(p[row]))),
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
