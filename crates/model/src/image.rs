//! References to a plate read's images (the plate crop and the vehicle crop), stored by the content's
//! SHA-256 so the same bytes are one file and a reference can be checked against what it names.
//!
//! The read's `image_ref` carries them as `blob:plate=<sha256>;vehicle=<sha256>` (either part may be
//! absent). Any other `image_ref` is a reference into the reader's own system, kept as given.

/// The prefix of a reference to stored images.
const PREFIX: &str = "blob:";

/// Which image of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRole {
    /// The crop around the plate.
    Plate,
    /// The crop around the vehicle.
    Vehicle,
}

impl ImageRole {
    /// The name in references and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageRole::Plate => "plate",
            ImageRole::Vehicle => "vehicle",
        }
    }

    /// The role with this name.
    pub fn parse(name: &str) -> Option<ImageRole> {
        [ImageRole::Plate, ImageRole::Vehicle].into_iter().find(|r| r.as_str() == name)
    }
}

/// The stored images of one read, by the SHA-256 (hex) of their bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredImages {
    /// The plate crop.
    pub plate: Option<String>,
    /// The vehicle crop.
    pub vehicle: Option<String>,
}

/// The name an image is stored under: the SHA-256 of its bytes, lowercase hex.
pub fn image_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// True for a name [`image_hash`] could have made (so no other path reaches the store).
pub fn is_image_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl StoredImages {
    /// The images an `image_ref` names, if it names stored ones.
    pub fn parse(image_ref: &str) -> Option<StoredImages> {
        let mut images = StoredImages::default();
        for part in image_ref.strip_prefix(PREFIX)?.split(';') {
            let (role, hash) = part.split_once('=')?;
            if !is_image_hash(hash) {
                return None;
            }
            match ImageRole::parse(role)? {
                ImageRole::Plate => images.plate = Some(hash.to_owned()),
                ImageRole::Vehicle => images.vehicle = Some(hash.to_owned()),
            }
        }
        Some(images)
    }

    /// The `image_ref` naming these images; `None` when there are none.
    pub fn to_ref(&self) -> Option<String> {
        let parts: Vec<String> = [(ImageRole::Plate, &self.plate), (ImageRole::Vehicle, &self.vehicle)]
            .into_iter()
            .filter_map(|(role, hash)| Some(format!("{}={}", role.as_str(), hash.as_ref()?)))
            .collect();
        (!parts.is_empty()).then(|| format!("{PREFIX}{}", parts.join(";")))
    }

    /// The hash of one role's image.
    pub fn get(&self, role: ImageRole) -> Option<&str> {
        match role {
            ImageRole::Plate => self.plate.as_deref(),
            ImageRole::Vehicle => self.vehicle.as_deref(),
        }
    }

    /// Every hash named.
    pub fn hashes(&self) -> impl Iterator<Item = &str> {
        self.plate.iter().chain(self.vehicle.iter()).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn references_round_trip(plate in proptest::option::of("[0-9a-f]{64}"), vehicle in proptest::option::of("[0-9a-f]{64}")) {
            let images = StoredImages { plate, vehicle };
            match images.to_ref() {
                Some(reference) => prop_assert_eq!(StoredImages::parse(&reference), Some(images)),
                None => prop_assert!(images.plate.is_none() && images.vehicle.is_none()),
            }
        }
    }

    #[test]
    fn other_references_are_not_taken_for_stored_images() {
        let hash = "a".repeat(64);
        assert_eq!(StoredImages::parse(&format!("blob:plate={hash}")).unwrap().plate.as_deref(), Some(hash.as_str()));
        for other in [
            "https://reader.example/img/1.jpg",
            "blob:plate=short",
            &format!("blob:face={hash}"),
            &format!("blob:plate={}", "A".repeat(64)),
        ] {
            assert_eq!(StoredImages::parse(other), None, "{other}");
        }
    }
}
