//! A folder published in place of an older one without a moment where neither is there.
//!
//! A folder cannot be renamed over a non-empty one. Moving the old one aside first leaves its
//! name missing between the two renames, and a reader (a resumed run looking for its checkpoint,
//! a user's script polling for the export) that looks then finds nothing. Two schemes avoid that:
//! a stable symbolic link retargeted by renaming a new link over it, or swapping the two folders
//! in one step. The link would make every output a link to a versioned sibling, which copies
//! and archives treat differently from a folder; the swap keeps a plain folder. On Linux the swap
//! is `renameat2(RENAME_EXCHANGE)` (ext4, xfs, btrfs and tmpfs have it); elsewhere, or
//! on a file system without it, publishing falls back to moving the old folder aside.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{parent, sweep, sync_dir, sync_file, temp_name};

/// A folder written under a temporary name and published in place of its destination by
/// [`publish`](Self::publish). Dropping it unpublished removes it.
pub struct AtomicDir {
    staging: PathBuf,
    destination: PathBuf,
}

impl AtomicDir {
    /// Creates an empty temporary folder that will become `path`, after removing what killed
    /// writers left for `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        sweep(path);
        let staging = temp_name(path)?;
        fs::create_dir(&staging)?;
        Ok(AtomicDir { staging, destination: path.to_owned() })
    }

    /// Where the folder's files are written until it is published.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Flushes every file and folder to disk, puts the folder at its destination (swapping it
    /// with an older one there), flushes the destination's folder, then removes the older one.
    pub fn publish(self) -> io::Result<()> {
        sync_tree(&self.staging)?;
        let old = swap_in(&self.staging, &self.destination)?;
        sync_dir(parent(&self.destination))?;
        match old {
            Some(old) => fs::remove_dir_all(old),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        // Unpublished, or published in exchange for an old folder that could not be removed.
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// Flushes every file under `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            sync_file(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// Puts folder `new` at `path`; returns where the folder it replaced now is.
fn swap_in(new: &Path, path: &Path) -> io::Result<Option<PathBuf>> {
    if fs::symlink_metadata(path).is_err() {
        fs::rename(new, path)?;
        return Ok(None);
    }
    if exchange(new, path)? {
        return Ok(Some(new.to_owned()));
    }
    let aside = temp_name(path)?;
    fs::rename(path, &aside)?;
    fs::rename(new, path)?;
    Ok(Some(aside))
}

/// Swaps two paths in one step; `false` where the kernel or the file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{} contains a NUL byte", p.display())))
    };
    let (a, b) = (c_path(a)?, c_path(b)?);
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let swapped =
        unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) } == 0;
    if swapped {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(error),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<bool> {
    Ok(false)
}
