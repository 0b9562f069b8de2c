//! Registered devices: what produces observations, where it stands and, for cameras, what it sees.

use crate::geo::{LatLon, Sector};
use crate::limits::{ID_CHARS_MAX, TEXT_CHARS_MAX};
use crate::observation::Kind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a device is. Each type produces exactly one kind of observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    /// An ALPR camera that reports plate reads.
    PlateReader,
    /// A video camera; reports video events (labels and counts, never identities).
    Camera,
    /// An environmental sensor (radiation, chemical, air quality).
    Sensor,
    /// An acoustic gunshot detection array.
    GunshotArray,
    /// A computer-aided dispatch (911/CAD) system that reports incidents.
    Cad,
}

impl DeviceType {
    /// The one observation kind this device type produces.
    pub fn produces(self) -> Kind {
        match self {
            DeviceType::PlateReader => Kind::PlateRead,
            DeviceType::Camera => Kind::VideoEvent,
            DeviceType::Sensor => Kind::SensorReading,
            DeviceType::GunshotArray => Kind::Gunshot,
            DeviceType::Cad => Kind::Incident,
        }
    }

    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::PlateReader => "plate_reader",
            DeviceType::Camera => "camera",
            DeviceType::Sensor => "sensor",
            DeviceType::GunshotArray => "gunshot_array",
            DeviceType::Cad => "cad",
        }
    }
}

/// A registered device. Fixed devices carry their position, so their observations need not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Set from the URL on registration; present in listings.
    #[serde(default)]
    pub id: String,
    /// What the device is.
    #[serde(rename = "type")]
    pub device_type: DeviceType,
    /// Position of a fixed device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Position of a fixed device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// A mobile device (patrol-car reader, body-worn sensor) reports its position with each observation.
    #[serde(default)]
    pub mobile: bool,
    /// Cameras: the direction faced, degrees clockwise from north.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearing_deg: Option<f64>,
    /// Cameras: the full opening angle in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fov_deg: Option<f64>,
    /// Cameras: how far the camera usefully sees, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_m: Option<f64>,
    /// A human-readable label ("Mannerheimintie / Kalevankatu").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why a device registration was refused; `field` names the offending JSON field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct DeviceError {
    /// The JSON field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn device_error(field: &'static str, reason: impl Into<String>) -> DeviceError {
    DeviceError { field, reason: reason.into() }
}

/// Checks an identifier used in URLs and records: 1..=64 characters of `[A-Za-z0-9._:-]`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.len() > ID_CHARS_MAX {
        return Err(format!("is {} bytes, limit is {ID_CHARS_MAX}", id.len()));
    }
    match id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))) {
        Some(c) => Err(format!("contains {c:?}; allowed are letters, digits and . _ : -")),
        None => Ok(()),
    }
}

impl Device {
    /// A fixed device at a position, without a field of view or a name.
    pub fn fixed(id: impl Into<String>, device_type: DeviceType, lat: f64, lon: f64) -> Device {
        Device { lat: Some(lat), lon: Some(lon), mobile: false, ..Device::mobile(id, device_type) }
    }

    /// A mobile device: its observations carry their own position.
    pub fn mobile(id: impl Into<String>, device_type: DeviceType) -> Device {
        Device {
            id: id.into(),
            device_type,
            lat: None,
            lon: None,
            mobile: true,
            bearing_deg: None,
            fov_deg: None,
            range_m: None,
            name: None,
        }
    }

    /// Checks the registration for internal consistency; `id` comes from the URL.
    pub fn validate(&self) -> Result<(), DeviceError> {
        validate_id(&self.id).map_err(|reason| device_error("id", reason))?;
        match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                if !LatLon::new(lat, lon).is_valid() {
                    return Err(device_error("lat", format!("({lat}, {lon}) is not a WGS84 position")));
                }
            }
            (None, None) if self.mobile => {}
            (None, None) => {
                return Err(device_error("lat", "a fixed device needs lat and lon (or set \"mobile\":true)"));
            }
            (Some(_), None) => return Err(device_error("lon", "lat given without lon")),
            (None, Some(_)) => return Err(device_error("lat", "lon given without lat")),
        }
        if let Some(name) = &self.name
            && name.chars().count() > TEXT_CHARS_MAX
        {
            return Err(device_error("name", format!("longer than {TEXT_CHARS_MAX} characters")));
        }
        if self.device_type == DeviceType::Camera {
            let bearing = self.bearing_deg.ok_or_else(|| device_error("bearing_deg", "a camera needs a bearing"))?;
            if !(bearing.is_finite() && (0.0..360.0).contains(&bearing)) {
                return Err(device_error("bearing_deg", format!("{bearing} is outside 0..360")));
            }
            let fov = self.fov_deg.ok_or_else(|| device_error("fov_deg", "a camera needs a field-of-view angle"))?;
            if !(fov.is_finite() && fov > 0.0 && fov <= 360.0) {
                return Err(device_error("fov_deg", format!("{fov} is outside (0, 360]")));
            }
            let range = self.range_m.ok_or_else(|| device_error("range_m", "a camera needs a range"))?;
            // 2 km is beyond any street camera's useful identification range.
            if !(range.is_finite() && range > 0.0 && range <= 2_000.0) {
                return Err(device_error("range_m", format!("{range} is outside (0, 2000]")));
            }
        } else {
            for (field, value) in [("bearing_deg", self.bearing_deg), ("fov_deg", self.fov_deg), ("range_m", self.range_m)] {
                if value.is_some() {
                    return Err(device_error(field, format!("only cameras have a field of view, this is a {}", self.device_type.as_str())));
                }
            }
        }
        Ok(())
    }

    /// The registered position of a fixed device.
    pub fn position(&self) -> Option<LatLon> {
        Some(LatLon::new(self.lat?, self.lon?))
    }

    /// A fixed camera's field of view.
    pub fn field_of_view(&self) -> Option<Sector> {
        if self.device_type != DeviceType::Camera {
            return None;
        }
        Some(Sector { origin: self.position()?, bearing_deg: self.bearing_deg?, fov_deg: self.fov_deg?, range_m: self.range_m? })
    }
}

/// The registered devices by id; a pure lookup table that validation consults.
#[derive(Debug, Clone, Default)]
pub struct DeviceRegistry {
    devices: HashMap<String, Device>,
}

impl DeviceRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a device; returns the previous registration.
    pub fn upsert(&mut self, device: Device) -> Option<Device> {
        self.devices.insert(device.id.clone(), device)
    }

    /// The device with this id.
    pub fn get(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True when no device is registered.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// All devices, sorted by id for stable listings.
    pub fn sorted(&self) -> Vec<&Device> {
        let mut all: Vec<&Device> = self.devices.values().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera() -> Device {
        serde_json::from_str(r#"{"id":"cam-1","type":"camera","lat":60.17,"lon":24.94,"bearing_deg":90,"fov_deg":60,"range_m":80}"#)
            .unwrap()
    }

    #[test]
    fn a_complete_camera_is_valid_and_has_a_field_of_view() {
        let cam = camera();
        cam.validate().unwrap();
        let sector = cam.field_of_view().unwrap();
        assert!(sector.contains(&cam.position().unwrap().destination(90.0, 40.0)));
    }

    #[test]
    fn a_camera_without_range_is_refused_naming_the_field() {
        let mut cam = camera();
        cam.range_m = None;
        assert_eq!(cam.validate().unwrap_err().field, "range_m");
    }

    #[test]
    fn a_fixed_reader_needs_a_position_a_mobile_one_does_not() {
        let mut reader: Device = serde_json::from_str(r#"{"id":"lpr-1","type":"plate_reader"}"#).unwrap();
        assert_eq!(reader.validate().unwrap_err().field, "lat");
        reader.mobile = true;
        reader.validate().unwrap();
    }

    #[test]
    fn a_reader_with_a_field_of_view_is_refused() {
        let reader: Device = serde_json::from_str(r#"{"id":"lpr-1","type":"plate_reader","lat":1,"lon":2,"fov_deg":30}"#).unwrap();
        assert_eq!(reader.validate().unwrap_err().field, "fov_deg");
    }

    #[test]
    fn ids_are_url_safe_and_bounded() {
        assert!(validate_id("lpr-17").is_ok());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id(&"x".repeat(65)).is_err());
        assert!(validate_id("").is_err());
    }
}
