//! WGS84 points, great-circle distance and bearing, and the camera field-of-view sector test.

use serde::{Deserialize, Serialize};

/// Mean Earth radius in metres (IUGG), adequate for city-scale distances.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude in degrees, -90..=90.
    pub lat: f64,
    /// Longitude in degrees, -180..=180.
    pub lon: f64,
}

impl LatLon {
    /// A position; callers validate the range with [`LatLon::is_valid`].
    pub fn new(lat: f64, lon: f64) -> Self {
        LatLon { lat, lon }
    }

    /// True when both coordinates are finite and in range.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite() && self.lon.is_finite() && (-90.0..=90.0).contains(&self.lat) && (-180.0..=180.0).contains(&self.lon)
    }

    /// Great-circle (haversine) distance in metres.
    pub fn distance_m(&self, other: &LatLon) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }

    /// Initial bearing from `self` to `other`, degrees clockwise from north in 0..360.
    pub fn bearing_deg(&self, other: &LatLon) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlon = (other.lon - self.lon).to_radians();
        let y = dlon.sin() * lat2.cos();
        let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
        y.atan2(x).to_degrees().rem_euclid(360.0)
    }

    /// The point reached by travelling `distance_m` along `bearing_deg` (for drawing sectors).
    pub fn destination(&self, bearing_deg: f64, distance_m: f64) -> LatLon {
        let delta = distance_m / EARTH_RADIUS_M;
        let theta = bearing_deg.to_radians();
        let lat1 = self.lat.to_radians();
        let lon1 = self.lon.to_radians();
        let lat2 = (lat1.sin() * delta.cos() + lat1.cos() * delta.sin() * theta.cos()).asin();
        let lon2 = lon1 + (theta.sin() * delta.sin() * lat1.cos()).atan2(delta.cos() - lat1.sin() * lat2.sin());
        LatLon { lat: lat2.to_degrees(), lon: (lon2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0 }
    }
}

/// A camera's field of view: a circular sector at `origin`, centred on `bearing_deg`, `fov_deg` wide,
/// reaching `range_m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sector {
    /// Where the camera stands.
    pub origin: LatLon,
    /// Direction the camera faces, degrees clockwise from north.
    pub bearing_deg: f64,
    /// Full opening angle in degrees (360 for a dome that sees all around).
    pub fov_deg: f64,
    /// How far the camera usefully sees, in metres.
    pub range_m: f64,
}

impl Sector {
    /// True when `point` lies within range and inside the opening angle.
    pub fn contains(&self, point: &LatLon) -> bool {
        let distance = self.origin.distance_m(point);
        if distance > self.range_m {
            return false;
        }
        // A point on top of the camera is covered whatever the bearing says.
        if distance < 0.5 || self.fov_deg >= 360.0 {
            return true;
        }
        angle_between_deg(self.origin.bearing_deg(point), self.bearing_deg) <= self.fov_deg / 2.0
    }

    /// The sector's outline as a closed ring of (lon, lat) pairs, for GeoJSON.
    pub fn outline(&self, steps: usize) -> Vec<[f64; 2]> {
        let steps = steps.max(2);
        let mut ring = Vec::with_capacity(steps + 3);
        let full = self.fov_deg >= 360.0;
        if !full {
            ring.push([self.origin.lon, self.origin.lat]);
        }
        let start = self.bearing_deg - self.fov_deg.min(360.0) / 2.0;
        for i in 0..=steps {
            let bearing = start + self.fov_deg.min(360.0) * (i as f64) / (steps as f64);
            let p = self.origin.destination(bearing, self.range_m);
            ring.push([p.lon, p.lat]);
        }
        ring.push(ring[0]);
        ring
    }
}

/// The smallest absolute angle between two bearings, in 0..=180 degrees.
pub fn angle_between_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    if d > 180.0 { 360.0 - d } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HELSINKI: LatLon = LatLon { lat: 60.1699, lon: 24.9384 };

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = LatLon::new(60.0, 25.0).distance_m(&LatLon::new(61.0, 25.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
    }

    #[test]
    fn sector_sees_ahead_not_behind() {
        let camera = Sector { origin: HELSINKI, bearing_deg: 90.0, fov_deg: 60.0, range_m: 100.0 };
        assert!(camera.contains(&HELSINKI.destination(90.0, 50.0)));
        assert!(camera.contains(&HELSINKI.destination(115.0, 50.0)));
        assert!(!camera.contains(&HELSINKI.destination(125.0, 50.0)));
        assert!(!camera.contains(&HELSINKI.destination(270.0, 50.0)));
        assert!(!camera.contains(&HELSINKI.destination(90.0, 150.0)));
    }

    #[test]
    fn sector_wraps_through_north() {
        let camera = Sector { origin: HELSINKI, bearing_deg: 350.0, fov_deg: 40.0, range_m: 100.0 };
        assert!(camera.contains(&HELSINKI.destination(5.0, 50.0)));
        assert!(!camera.contains(&HELSINKI.destination(20.0, 50.0)));
    }

    proptest! {
        #[test]
        fn destination_then_distance_and_bearing_round_trip(bearing in 0.0f64..360.0, distance in 1.0f64..5_000.0) {
            let p = HELSINKI.destination(bearing, distance);
            prop_assert!((HELSINKI.distance_m(&p) - distance).abs() < 0.01 * distance.max(1.0));
            prop_assert!(angle_between_deg(HELSINKI.bearing_deg(&p), bearing) < 0.1);
        }

        #[test]
        fn angle_between_is_symmetric_and_bounded(a in -720.0f64..720.0, b in -720.0f64..720.0) {
            let d = angle_between_deg(a, b);
            prop_assert!((0.0..=180.0).contains(&d));
            prop_assert!((d - angle_between_deg(b, a)).abs() < 1e-9);
        }
    }
}
