//! Genetec AutoVu SharpV reads as the camera drops them over FTP: one XML file per read, built from
//! the SharpV's FTP template (`<AutoVu><Plate>…</Plate><State>…</State><UTCDate>yyyy:MM:dd</UTCDate>
//! <UTCTime>HH:mm:ss.fff</UTCTime><CameraName>…</CameraName><SourceName>…</SourceName>
//! <ContextImage>…</ContextImage><PlateImage>…</PlateImage><LongitudeX>…</LongitudeX>
//! <LatitudeY>…</LatitudeY><Guid>…</Guid></AutoVu>`, optionally `<ConfidenceScore>`).
//!
//! Field mapping (also in `docs/api.md`):
//! - the device is `sharpv:<SourceName>` (the SharpV's own name), or `sharpv:<CameraName>` when the
//!   template leaves the source out: register each SharpV under that id;
//! - `id` = `Guid`; `observed_at` = `UTCDate` + `UTCTime`; `plate`, `region` = `Plate`, `State`;
//!   `confidence` = `ConfidenceScore` / 100; `lat`, `lon` = `LatitudeY`, `LongitudeX` when given
//!   and not (0, 0);
//! - `PlateImage` and `ContextImage` (base64 JPEG) become the plate and vehicle images, as for
//!   OpenALPR.
//!
//! Only the XML the template makes is read: a document type declaration is refused, and so is any
//! entity but the five predefined ones and character references, so an entity-expansion bomb
//! costs nothing but its own bytes.

use crate::decode::{Batch, LineError, RAW_BYTES_KEPT_MAX};
use crate::sources::openalpr::{hash, image};
use glasshouse_model::image::StoredImages;
use glasshouse_model::{DeviceRegistry, RawRecord, Timestamp, validate};
use quick_xml::Reader;
use quick_xml::events::Event;
use std::borrow::Cow;
use std::collections::HashMap;

/// The prefix of the device id a SharpV is registered under: `sharpv:<SourceName>`.
pub const DEVICE_PREFIX: &str = "sharpv:";

/// The largest file taken: a read with its two images.
pub const FILE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// One file's read (or its refusal, as line 1), and the images the read names.
#[derive(Debug, Default)]
pub struct SharpvFile {
    /// The read, or why the file was refused.
    pub batch: Batch,
    /// The images the read names, to be stored before it is.
    pub images: Vec<Vec<u8>>,
}

/// Decodes one SharpV XML file.
pub fn decode(bytes: &[u8], registry: &DeviceRegistry, received_at: Timestamp) -> SharpvFile {
    let mut file = SharpvFile::default();
    match read(bytes, registry, received_at) {
        Ok((observation, images)) => {
            file.batch.observations.push((1, observation));
            file.images = images;
        }
        Err(error) => file.batch.errors.push(LineError {
            line: 1,
            error,
            raw: String::from_utf8_lossy(&bytes[..bytes.len().min(RAW_BYTES_KEPT_MAX)]).into_owned(),
        }),
    }
    file
}

/// The text of each child of `<AutoVu>`, by element name.
fn fields(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    if bytes.len() > FILE_BYTES_MAX {
        return Err(format!("file is {} bytes, limit is {FILE_BYTES_MAX}", bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let mut reader = Reader::from_str(text);
    let mut fields = HashMap::new();
    let (mut path, mut value): (Vec<String>, String) = (Vec::new(), String::new());
    loop {
        match reader.read_event().map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))? {
            Event::Start(start) => {
                path.push(start.local_name().as_ref().to_owned());
                value.clear();
            }
            Event::End(_) => {
                if path.len() == 2 && path[0] == "AutoVu" {
                    fields.insert(path[1].clone(), std::mem::take(&mut value).trim().to_owned());
                }
                path.pop();
            }
            Event::Text(text) => value.push_str(&text.xml10_content()),
            Event::CData(data) => value.push_str(&data.into_inner()),
            Event::GeneralRef(reference) => {
                if let Some(c) = reference.resolve_char_ref().map_err(|e| format!("bad character reference: {e}"))? {
                    value.push(c);
                } else {
                    let name = reference.xml10_content();
                    let resolved =
                        quick_xml::escape::resolve_predefined_entity(&name).ok_or_else(|| format!("entity &{name}; is not allowed"))?;
                    value.push_str(resolved);
                }
            }
            Event::DocType(_) => return Err("a document type declaration is not allowed".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    if fields.is_empty() {
        return Err("expected an <AutoVu> read".into());
    }
    Ok(fields)
}

fn read(bytes: &[u8], registry: &DeviceRegistry, received_at: Timestamp) -> Result<(glasshouse_model::Observation, Vec<Vec<u8>>), String> {
    let fields = fields(bytes)?;
    let field = |name: &str| fields.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let source = field("SourceName").or(field("CameraName")).ok_or("the read names no SourceName or CameraName")?;
    let device_id = format!("{DEVICE_PREFIX}{source}");
    if registry.get(&device_id).is_none() {
        return Err(format!("SharpV {source} is not registered: register it as device {device_id}"));
    }
    let (date, time) = (field("UTCDate").ok_or("UTCDate is missing")?, field("UTCTime").ok_or("UTCTime is missing")?);
    let observed_at = format!("{}T{time}Z", date.replace(':', "-"));
    let number = |name: &str| field(name).map(|v| v.parse::<f64>().map_err(|_| format!("{name} {v:?} is not a number"))).transpose();
    let (lat, lon) = match (number("LatitudeY")?, number("LongitudeX")?) {
        (Some(lat), Some(lon)) if !(lat == 0.0 && lon == 0.0) => (Some(lat), Some(lon)),
        _ => (None, None),
    };
    let plate_image = image("PlateImage", field("PlateImage"))?;
    let context_image = image("ContextImage", field("ContextImage"))?;
    let stored = StoredImages { plate: plate_image.as_deref().map(hash), vehicle: context_image.as_deref().map(hash) };
    let raw = RawRecord {
        id: field("Guid").map(Cow::Borrowed),
        kind: Some(Cow::Borrowed("plate_read")),
        device_id: Some(Cow::Owned(device_id)),
        observed_at: Some(Cow::Owned(observed_at)),
        lat,
        lon,
        plate: field("Plate").map(Cow::Borrowed),
        region: field("State").map(|s| Cow::Owned(s.to_uppercase())),
        confidence: number("ConfidenceScore")?.map(|c| c / 100.0),
        image_ref: stored.to_ref().map(Cow::Owned),
        ..RawRecord::default()
    };
    let observation = validate(&raw, registry, received_at).map_err(|e| e.to_string())?;
    Ok((observation, [plate_image, context_image].into_iter().flatten().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use glasshouse_model::{Device, DeviceType};
    use proptest::prelude::*;

    fn registry() -> DeviceRegistry {
        let mut r = DeviceRegistry::new();
        r.upsert(Device::fixed("sharpv:SHARP12345", DeviceType::PlateReader, 45.5, -73.6));
        r
    }

    fn file(at: Timestamp, extra: &str) -> String {
        use base64::Engine;
        let jpeg = base64::engine::general_purpose::STANDARD.encode(b"\xff\xd8\xff\xe0plate");
        let when = at.to_rfc3339();
        let (date, time) = (when[..10].replace('-', ":"), &when[11..23]);
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<AutoVu>
  <Plate>ABC123</Plate>
  <State>QC</State>
  <UTCDate>{date}</UTCDate>
  <UTCTime>{time}</UTCTime>
  <CameraName>Camera 1</CameraName>
  <SourceName>SHARP12345</SourceName>
  <ContextImage></ContextImage>
  <PlateImage>{jpeg}</PlateImage>
  <LongitudeX>0</LongitudeX>
  <LatitudeY>0</LatitudeY>
  <Guid>6ee17b00-82c1-466b-9fd6-003417bc82c4</Guid>{extra}
</AutoVu>"#
        )
    }

    #[test]
    fn a_template_file_becomes_a_read_with_its_plate_image() {
        let at = Timestamp::now().plus_secs(-120);
        let decoded = decode(file(at, "<ConfidenceScore>87</ConfidenceScore>").as_bytes(), &registry(), Timestamp::now());
        assert!(decoded.batch.errors.is_empty(), "{:?}", decoded.batch.errors);
        let read = &decoded.batch.observations[0].1;
        assert_eq!((read.id.as_str(), read.device_id.as_str()), ("6ee17b00-82c1-466b-9fd6-003417bc82c4", "sharpv:SHARP12345"));
        assert_eq!(read.observed_at.micros() / 1000, at.micros() / 1000);
        let plate = read.plate_read().unwrap();
        assert_eq!((plate.plate.as_str(), plate.region.as_deref()), ("ABC123", Some("QC")));
        assert!((plate.confidence.unwrap() - 0.87).abs() < 1e-6);
        assert_eq!((read.position.lat, read.position.lon), (45.5, -73.6), "(0, 0) is no fix: the SharpV's registered position");
        assert_eq!(decoded.images.len(), 1);
        assert_eq!(
            StoredImages::parse(plate.image_ref.as_deref().unwrap()).unwrap().plate.as_deref(),
            Some(hash(&decoded.images[0]).as_str())
        );
    }

    #[test]
    fn bombs_bad_xml_and_unknown_sources_are_refused_with_a_reason() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]><AutoVu><Plate>&lol2;</Plate></AutoVu>"#;
        let cases = [
            (bomb.to_owned(), "document type declaration"),
            ("<AutoVu><Plate>&lol;</Plate></AutoVu>".to_owned(), "entity &lol; is not allowed"),
            ("<AutoVu><Plate>ABC</AutoVu>".to_owned(), "malformed XML"),
            (file(Timestamp::now(), "").replace("SHARP12345", "SHARP999"), "SharpV SHARP999 is not registered"),
            (file(Timestamp::now(), "").replace("<UTCTime>", "<X>").replace("</UTCTime>", "</X>"), "UTCTime is missing"),
            ("\u{feff}nonsense".to_owned(), "expected an <AutoVu> read"),
        ];
        for (xml, expected) in cases {
            let decoded = decode(xml.as_bytes(), &registry(), Timestamp::now());
            assert!(decoded.batch.observations.is_empty() && decoded.images.is_empty());
            assert!(decoded.batch.errors[0].error.contains(expected), "{:?} for {expected}", decoded.batch.errors);
        }
        // Character references and the predefined entities are read as the text they stand for.
        let escaped = file(Timestamp::now().plus_secs(-5), "").replace("<Plate>ABC123</Plate>", "<Plate>AB&#67;12&#x33;</Plate>");
        let decoded = decode(escaped.as_bytes(), &registry(), Timestamp::now());
        assert_eq!(decoded.batch.observations[0].1.plate_read().unwrap().plate, "ABC123", "{:?}", decoded.batch.errors);
        let named = file(Timestamp::now().plus_secs(-5), "")
            .replace("<CameraName>Camera 1</CameraName>", "<CameraName>Lane &lt;1&gt; &amp; 2</CameraName>");
        assert!(decode(named.as_bytes(), &registry(), Timestamp::now()).batch.errors.is_empty());
    }

    proptest! {
        #[test]
        fn any_bytes_give_one_read_or_one_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let decoded = decode(&bytes, &registry(), Timestamp::now());
            prop_assert_eq!(decoded.batch.observations.len() + decoded.batch.errors.len(), 1);
        }
    }
}
