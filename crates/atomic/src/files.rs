//! Files renamed into place together, once all are written and flushed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{parent, sweep, sync_dir, sync_file, temp_name};

/// Files written under temporary names and renamed together by [`commit`](Self::commit).
/// Dropping it uncommitted removes the temporary files.
#[derive(Default)]
pub struct AtomicFiles {
    /// (temporary name, final name), in the order created.
    pending: Vec<(PathBuf, PathBuf)>,
}

impl AtomicFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the temporary file that will become `path`, after removing what killed writers
    /// left for `path`.
    pub fn create(&mut self, path: &Path) -> io::Result<File> {
        sweep(path);
        let temp = temp_name(path)?;
        let file = File::create_new(&temp)?;
        self.pending.push((temp, path.to_owned()));
        Ok(file)
    }

    /// Flushes every file to disk, renames each to its final name, and flushes the folders.
    ///
    /// The files are renamed in reverse order, the first created last: readers open a split set
    /// by its first file, so a set whose first file exists is complete even if the renames were
    /// cut short (a later run replaces the stray later files).
    pub fn commit(mut self) -> io::Result<Vec<PathBuf>> {
        for (temp, _) in &self.pending {
            sync_file(temp)?;
        }
        for (temp, path) in self.pending.iter().rev() {
            fs::rename(temp, path)?;
        }
        let mut folders: Vec<&Path> = self.pending.iter().map(|(_, path)| parent(path)).collect();
        folders.dedup();
        for folder in folders {
            sync_dir(folder)?;
        }
        Ok(std::mem::take(&mut self.pending).into_iter().map(|(_, path)| path).collect())
    }
}

impl Drop for AtomicFiles {
    fn drop(&mut self) {
        for (temp, _) in &self.pending {
            let _ = fs::remove_file(temp);
        }
    }
}

/// Writes `bytes` to `path` (creating its folder), replacing any earlier file at once.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(parent(path))?;
    let mut files = AtomicFiles::new();
    files.create(path)?.write_all(bytes)?;
    files.commit().map(drop)
}
