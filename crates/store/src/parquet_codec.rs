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
use glasshouse_model::validate::{RawCandidate, from_stored_at};
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
            // Appended after the columns older segments have, so those read with the three as nulls.
            Field::new("vehicle_make_confidence", DataType::Float32, true),
            Field::new("vehicle_color_confidence", DataType::Float32, true),
            Field::new("vehicle_body_confidence", DataType::Float32, true),
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
        vehicle_make_confidence: Float32Builder,
        vehicle_color_confidence: Float32Builder,
        vehicle_body_confidence: Float32Builder,
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
                vehicle_make_confidence: Float32Builder::with_capacity(rows),
                vehicle_color_confidence: Float32Builder::with_capacity(rows),
                vehicle_body_confidence: Float32Builder::with_capacity(rows),
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
                    vehicle_make_confidence,
                    vehicle_color_confidence,
                    vehicle_body_confidence,
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
                vehicle_make_confidence.append_option(read.vehicle_make_confidence);
                vehicle_color_confidence.append_option(read.vehicle_color_confidence);
                vehicle_body_confidence.append_option(read.vehicle_body_confidence);
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
                vehicle_make_confidence,
                vehicle_color_confidence,
                vehicle_body_confidence,
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
                finish(vehicle_make_confidence),
                finish(vehicle_color_confidence),
                finish(vehicle_body_confidence),
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

/// The columns of every kind's schema, as [`observation_from_cells`] asks for them. A column
/// a kind does not have is null in all its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each is its column's name
pub enum Column {
    Id,
    DeviceId,
    ObservedAt,
    ReceiveDelayMs,
    Lat,
    Lon,
    HeadingDeg,
    AccuracyM,
    Plate,
    Region,
    Confidence,
    CandidatesJson,
    Direction,
    VehicleMake,
    VehicleColor,
    VehicleBody,
    ImageRef,
    VehicleMakeConfidence,
    VehicleColorConfidence,
    VehicleBodyConfidence,
    Quantity,
    Value,
    Unit,
    Rounds,
    BearingDeg,
    IncidentId,
    TypeCode,
    Priority,
    Status,
    Address,
    Label,
    Count,
}

impl Column {
    /// Every column, in the order of [`Column::index`].
    pub const ALL: [Column; 32] = [
        Column::Id,
        Column::DeviceId,
        Column::ObservedAt,
        Column::ReceiveDelayMs,
        Column::Lat,
        Column::Lon,
        Column::HeadingDeg,
        Column::AccuracyM,
        Column::Plate,
        Column::Region,
        Column::Confidence,
        Column::CandidatesJson,
        Column::Direction,
        Column::VehicleMake,
        Column::VehicleColor,
        Column::VehicleBody,
        Column::ImageRef,
        Column::VehicleMakeConfidence,
        Column::VehicleColorConfidence,
        Column::VehicleBodyConfidence,
        Column::Quantity,
        Column::Value,
        Column::Unit,
        Column::Rounds,
        Column::BearingDeg,
        Column::IncidentId,
        Column::TypeCode,
        Column::Priority,
        Column::Status,
        Column::Address,
        Column::Label,
        Column::Count,
    ];

    /// Its position in [`Column::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in a segment's schema.
    pub fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::DeviceId => "device_id",
            Column::ObservedAt => "observed_at",
            Column::ReceiveDelayMs => "receive_delay_ms",
            Column::Lat => "lat",
            Column::Lon => "lon",
            Column::HeadingDeg => "heading_deg",
            Column::AccuracyM => "accuracy_m",
            Column::Plate => "plate",
            Column::Region => "region",
            Column::Confidence => "confidence",
            Column::CandidatesJson => "candidates_json",
            Column::Direction => "direction",
            Column::VehicleMake => "vehicle_make",
            Column::VehicleColor => "vehicle_color",
            Column::VehicleBody => "vehicle_body",
            Column::ImageRef => "image_ref",
            Column::VehicleMakeConfidence => "vehicle_make_confidence",
            Column::VehicleColorConfidence => "vehicle_color_confidence",
            Column::VehicleBodyConfidence => "vehicle_body_confidence",
            Column::Quantity => "quantity",
            Column::Value => "value",
            Column::Unit => "unit",
            Column::Rounds => "rounds",
            Column::BearingDeg => "bearing_deg",
            Column::IncidentId => "incident_id",
            Column::TypeCode => "type_code",
            Column::Priority => "priority",
            Column::Status => "status",
            Column::Address => "address",
            Column::Label => "label",
            Column::Count => "count",
        }
    }

    /// The column of that name, if any kind has it.
    pub fn named(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One stored value: integers (times in microseconds, unsigned columns widened), floating point
/// (`Float32` widened) and text, as a segment holds them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// No value.
    Null,
    /// An integer or a time.
    Int(i64),
    /// A floating-point value.
    Float(f64),
    /// Text.
    Text(&'a str),
}

fn mistyped(column: Column, cell: Cell<'_>) -> DecodeError {
    DecodeError { column: column.name().into(), reason: format!("unexpected value {cell:?}") }
}

/// Rebuilds one observation of `kind` from its stored values, `cell` giving the value of each
/// column. Rebuilding goes through the same constructor as ingest, so a segment can never yield an
/// observation that ingest could not have produced.
///
/// # Errors
/// When a value has the wrong type, or the values do not make a valid observation.
pub fn observation_from_cells<'a>(kind: Kind, cell: impl Fn(Column) -> Cell<'a>) -> Result<Observation, DecodeError> {
    let text = |column: Column| match cell(column) {
        Cell::Null => Ok(None),
        Cell::Text(t) => Ok(Some(Cow::Borrowed(t))),
        other => Err(mistyped(column, other)),
    };
    let int = |column: Column| match cell(column) {
        Cell::Null => Ok(None),
        Cell::Int(v) => Ok(Some(v)),
        other => Err(mistyped(column, other)),
    };
    let float = |column: Column| match cell(column) {
        Cell::Null => Ok(None),
        Cell::Float(v) => Ok(Some(v)),
        other => Err(mistyped(column, other)),
    };
    let unsigned = |column: Column| {
        int(column)?
            .map(|v| u32::try_from(v).map_err(|_| DecodeError { column: column.name().into(), reason: format!("{v} is out of range") }))
            .transpose()
    };
    let observed = int(Column::ObservedAt)?.map(Timestamp);
    let delay = int(Column::ReceiveDelayMs)?;
    let priority = unsigned(Column::Priority)?
        .map(|p| u8::try_from(p).map_err(|_| DecodeError { column: "priority".into(), reason: format!("{p} is out of range") }))
        .transpose()?;
    let observed = observed.ok_or_else(|| DecodeError { column: "observed_at".into(), reason: "is required".into() })?;
    let received_at = match delay {
        None => observed,
        Some(ms) => Timestamp(
            ms.checked_mul(1_000)
                .and_then(|delay| observed.0.checked_add(delay))
                .ok_or_else(|| DecodeError { column: "receive_delay_ms".into(), reason: format!("{ms} is out of range") })?,
        ),
    };
    let candidates = match text(Column::CandidatesJson)? {
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
        id: text(Column::Id)?,
        kind: Some(Cow::Borrowed(kind.as_str())),
        device_id: text(Column::DeviceId)?,
        observed_at: None,
        received_at: None,
        lat: float(Column::Lat)?,
        lon: float(Column::Lon)?,
        heading_deg: float(Column::HeadingDeg)?,
        accuracy_m: float(Column::AccuracyM)?,
        plate: text(Column::Plate)?,
        region: text(Column::Region)?,
        confidence: float(Column::Confidence)?,
        candidates,
        direction: text(Column::Direction)?,
        vehicle_make: text(Column::VehicleMake)?,
        vehicle_color: text(Column::VehicleColor)?,
        vehicle_body: text(Column::VehicleBody)?,
        image_ref: text(Column::ImageRef)?,
        vehicle_make_confidence: float(Column::VehicleMakeConfidence)?,
        vehicle_color_confidence: float(Column::VehicleColorConfidence)?,
        vehicle_body_confidence: float(Column::VehicleBodyConfidence)?,
        quantity: text(Column::Quantity)?,
        value: float(Column::Value)?,
        unit: text(Column::Unit)?,
        rounds: unsigned(Column::Rounds)?,
        bearing_deg: float(Column::BearingDeg)?,
        incident_id: text(Column::IncidentId)?,
        type_code: text(Column::TypeCode)?,
        priority,
        status: text(Column::Status)?,
        address: text(Column::Address)?,
        label: text(Column::Label)?,
        count: unsigned(Column::Count)?,
    };
    from_stored_at(&raw, observed, received_at).map_err(|e| DecodeError { column: e.field.into(), reason: e.reason })
}

/// A batch's column, typed as the schema writes it.
enum Typed<'a> {
    Text(&'a StringArray),
    Int64(&'a Int64Array),
    Time(&'a TimestampMicrosecondArray),
    Float64(&'a Float64Array),
    Float32(&'a Float32Array),
    UInt32(&'a UInt32Array),
    UInt8(&'a UInt8Array),
}

impl<'a> Typed<'a> {
    fn of(column: Column, array: &'a ArrayRef) -> Result<Typed<'a>, DecodeError> {
        let any = array.as_any();
        let typed = match array.data_type() {
            DataType::Utf8 => any.downcast_ref().map(Typed::Text),
            DataType::Int64 => any.downcast_ref().map(Typed::Int64),
            DataType::Timestamp(TimeUnit::Microsecond, _) => any.downcast_ref().map(Typed::Time),
            DataType::Float64 => any.downcast_ref().map(Typed::Float64),
            DataType::Float32 => any.downcast_ref().map(Typed::Float32),
            DataType::UInt32 => any.downcast_ref().map(Typed::UInt32),
            DataType::UInt8 => any.downcast_ref().map(Typed::UInt8),
            _ => None,
        };
        typed.ok_or_else(|| DecodeError { column: column.name().into(), reason: format!("unexpected type {}", array.data_type()) })
    }

    fn cell(&self, row: usize) -> Cell<'a> {
        fn or_null<'a>(array: &dyn Array, row: usize, value: impl FnOnce() -> Cell<'a>) -> Cell<'a> {
            if array.is_valid(row) { value() } else { Cell::Null }
        }
        match *self {
            Typed::Text(a) => or_null(a, row, || Cell::Text(a.value(row))),
            Typed::Int64(a) => or_null(a, row, || Cell::Int(a.value(row))),
            Typed::Time(a) => or_null(a, row, || Cell::Int(a.value(row))),
            Typed::Float64(a) => or_null(a, row, || Cell::Float(a.value(row))),
            Typed::Float32(a) => or_null(a, row, || Cell::Float(f64::from(a.value(row)))),
            Typed::UInt32(a) => or_null(a, row, || Cell::Int(i64::from(a.value(row)))),
            Typed::UInt8(a) => or_null(a, row, || Cell::Int(i64::from(a.value(row)))),
        }
    }
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
    let mut columns: Vec<Option<Typed<'_>>> = Vec::with_capacity(Column::ALL.len());
    for column in Column::ALL {
        columns.push(batch.column_by_name(column.name()).map(|array| Typed::of(column, array)).transpose()?);
    }
    for row in 0..batch.num_rows() {
        let observation = observation_from_cells(kind, |column| match &columns[column.index()] {
            Some(typed) => typed.cell(row),
            None if column == Column::Plate => plates.map_or(Cell::Null, |p| Cell::Text(p[row])),
            None => Cell::Null,
        })?;
        if !each(observation) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_column_is_a_decoded_column_and_back() {
        // A column added to a schema without a `Column` would be read by neither reader.
        let mut seen = Vec::new();
        for kind in Kind::ALL {
            for field in schema(kind).fields() {
                let column = Column::named(field.name()).unwrap_or_else(|| panic!("{} has no Column", field.name()));
                assert_eq!(column.name(), field.name());
                seen.push(column);
            }
        }
        for column in Column::ALL {
            assert!(seen.contains(&column), "{column:?} is in no schema");
            assert_eq!(Column::ALL[column.index()], column, "ALL is in index order");
        }
    }
}
