//! Whole small files (configuration, cursors, manifests, snapshots) replaced durably.
//!
//! The one way the project replaces such a file: write a temporary beside it, sync it, rename it
//! over the old one, then sync the directory so the rename itself survives a power cut. A crash at
//! any point leaves the old file or the new one, never a torn or missing one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Who may read the file once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// The process's umask decides (configuration without secrets).
    Default,
    /// The owner only (mode 0600): files holding secrets.
    OwnerOnly,
}

/// Replaces `path` with `bytes` durably (see the module documentation).
pub fn replace(path: &Path, bytes: &[u8], readers: Readers) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a file path has a name"))?;
    let mut temporary_name = name.to_os_string();
    temporary_name.push(".next");
    let temporary = path.with_file_name(temporary_name);
    let mut options = OpenOptions::new();
    options.create(true).truncate(true).write(true);
    if readers == Readers::OwnerOnly {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    sync_parent(path)
}

/// Syncs the directory holding `path`, so a file created or renamed there survives a power cut
/// (for files written as a stream, then renamed into place by their writer).
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_replaced_file_holds_the_new_bytes_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        replace(&path, b"first", Readers::Default).unwrap();
        replace(&path, b"second", Readers::Default).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["settings.json"]);
    }

    #[test]
    fn a_secret_file_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        replace(&path, b"{}", Readers::OwnerOnly).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_directory_that_does_not_exist_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(replace(&dir.path().join("missing/file.json"), b"x", Readers::Default).is_err());
    }
}
