//! Writes that a crash cannot leave half done: into a temporary name in the same folder, flushed
//! to disk, then renamed over the target (rename is atomic on one file system).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary sibling of `path`, unique to this process.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::file(path, "write", e)
    })
}

/// Moves a fully written folder `tmp` to `path`, replacing an older `path`.
pub fn publish_dir(tmp: &Path, path: &Path) -> Result<()> {
    let publish = || -> std::io::Result<()> {
        for entry in std::fs::read_dir(tmp)? {
            File::open(entry?.path())?.sync_all()?;
        }
        if path.exists() {
            // A folder cannot be renamed over a non-empty one: move the old one aside first.
            let old = temp_sibling(&path.with_extension("old"));
            std::fs::rename(path, &old)?;
            std::fs::rename(tmp, path)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(tmp, path)?;
        }
        sync_parent(path)
    };
    publish().map_err(|e| Error::file(path, "write", e))
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let folder = dir.path().join("ckpt");
        for content in [&b"x"[..], b"y"] {
            let tmp = temp_sibling(&folder);
            std::fs::create_dir(&tmp).unwrap();
            std::fs::write(tmp.join("f"), content).unwrap();
            publish_dir(&tmp, &folder).unwrap();
        }
        assert_eq!(std::fs::read(folder.join("f")).unwrap(), b"y");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
