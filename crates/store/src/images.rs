//! Plate-read images, stored under the data directory by the SHA-256 of their bytes
//! (`images/ab/abcdef…`), so a re-posted read writes nothing new and a reference names exactly the
//! bytes it was made for. Only the owner may read the files: they are evidence about people.

use glasshouse_model::image::{image_hash, is_image_hash};
use glasshouse_wal::files::{Readers, replace};
use std::io;
use std::path::{Path, PathBuf};

/// The content store of images.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    /// The store in `dir`, created if missing.
    pub fn open(dir: &Path) -> io::Result<ImageStore> {
        std::fs::create_dir_all(dir)?;
        Ok(ImageStore { dir: dir.to_owned() })
    }

    fn path(&self, hash: &str) -> Option<PathBuf> {
        is_image_hash(hash).then(|| self.dir.join(&hash[..2]).join(hash))
    }

    /// Stores `bytes` durably (once; an image already stored is not written again) and returns its hash.
    pub fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let hash = image_hash(bytes);
        let path = self.path(&hash).expect("a SHA-256 in hex is a valid name");
        if !path.exists() {
            std::fs::create_dir_all(path.parent().expect("images sit in a fan-out directory"))?;
            replace(&path, bytes, Readers::OwnerOnly)?;
        }
        Ok(hash)
    }

    /// The image stored under `hash`, if any.
    pub fn get(&self, hash: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(hash) else { return Ok(None) };
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the image stored under `hash`; true when there was one.
    pub fn remove(&self, hash: &str) -> io::Result<bool> {
        let Some(path) = self.path(hash) else { return Ok(false) };
        match std::fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_stored_once_by_content_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("images")).unwrap();
        let jpeg = b"\xff\xd8\xff\xe0 a small plate crop";
        let hash = store.put(jpeg).unwrap();
        assert_eq!(hash, image_hash(jpeg));
        assert_eq!(store.put(jpeg).unwrap(), hash, "the same bytes, the same name");
        assert_eq!(store.get(&hash).unwrap().as_deref(), Some(&jpeg[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("images").join(&hash[..2]).join(&hash)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner reads evidence: {mode:o}");
        }
        assert!(store.remove(&hash).unwrap());
        assert!(!store.remove(&hash).unwrap());
        assert_eq!(store.get(&hash).unwrap(), None);
        // A name that is not a hash reaches no file.
        assert_eq!(store.get("../../etc/passwd").unwrap(), None);
    }
}
