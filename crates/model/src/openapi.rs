//! Schemas for the OpenAPI document of the types whose JSON form is written by hand (an instant as
//! RFC 3339 text, an observation as one flat object), so the document says what the wire carries.

use crate::{Kind, Observation, Timestamp, VideoLabel};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 with any offset; answered in UTC with microseconds"))
            .into()
    }
}

impl ToSchema for Timestamp {}

fn typed(kind: Type, description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kind).description(Some(description))
}

impl PartialSchema for Observation {
    fn schema() -> RefOr<Schema> {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let candidate = ObjectBuilder::new()
            .property("plate", typed(Type::String, "normalised plate text"))
            .property("confidence", typed(Type::Number, "0..=1"))
            .required("plate");
        ObjectBuilder::new()
            .description(Some(
                "One flat object: the common fields beside the kind's own. plate_read: plate, region, confidence, \
                 candidates, direction, vehicle_make, vehicle_color, vehicle_body (each with an optional _confidence), image_ref. sensor_reading: quantity, \
                 value, unit. gunshot: rounds, confidence, bearing_deg. incident: incident_id, type_code, priority, \
                 status, address. video_event: label, count. A fixed device's records may leave out lat and lon.",
            ))
            .property("id", typed(Type::String, "the producer's idempotency key; a content hash when absent"))
            .property("kind", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(kinds)))
            .property("device_id", typed(Type::String, "a registered device of the type that makes this kind"))
            .property("observed_at", Timestamp::schema())
            .property("received_at", typed(Type::String, "set by the server; ignored on input"))
            .property("lat", typed(Type::Number, "WGS84"))
            .property("lon", typed(Type::Number, "WGS84"))
            .property("heading_deg", typed(Type::Number, "degrees clockwise from north"))
            .property("accuracy_m", typed(Type::Number, "metres"))
            .property("plate", typed(Type::String, "plate_read: the top reading"))
            .property("region", typed(Type::String, "plate_read: issuing region, e.g. US-NY"))
            .property("confidence", typed(Type::Number, "plate_read, gunshot: 0..=1"))
            .property("candidates", ArrayBuilder::new().items(candidate).description(Some("plate_read: alternatives, best first")))
            .property("direction", typed(Type::String, "plate_read: approaching or receding"))
            .property("vehicle_make", typed(Type::String, "plate_read"))
            .property("vehicle_color", typed(Type::String, "plate_read"))
            .property("vehicle_body", typed(Type::String, "plate_read"))
            .property("vehicle_make_confidence", typed(Type::Number, "plate_read: 0..=1, only with vehicle_make"))
            .property("vehicle_color_confidence", typed(Type::Number, "plate_read: 0..=1, only with vehicle_color"))
            .property("vehicle_body_confidence", typed(Type::Number, "plate_read: 0..=1, only with vehicle_body"))
            .property("image_ref", typed(Type::String, "plate_read: the reader system's image reference"))
            .property("quantity", typed(Type::String, "sensor_reading, e.g. gamma_dose_rate"))
            .property("value", typed(Type::Number, "sensor_reading"))
            .property("unit", typed(Type::String, "sensor_reading, e.g. uSv/h"))
            .property("rounds", typed(Type::Integer, "gunshot"))
            .property("bearing_deg", typed(Type::Number, "gunshot: bearing from the array when only a direction is known"))
            .property("incident_id", typed(Type::String, "incident: the dispatch system's number"))
            .property("type_code", typed(Type::String, "incident, e.g. SHOTS_FIRED"))
            .property("priority", typed(Type::Integer, "incident: 1 = most urgent"))
            .property("status", typed(Type::String, "incident, e.g. open"))
            .property("address", typed(Type::String, "incident"))
            .property(
                "label",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(VideoLabel::ALL.map(VideoLabel::as_str)))
                    .description(Some("video_event: a class of thing, never who")),
            )
            .property("count", typed(Type::Integer, "video_event"))
            .required("kind")
            .required("device_id")
            .required("observed_at")
            .into()
    }
}

impl ToSchema for Observation {}
