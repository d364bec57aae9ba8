//! Outputs that appear complete or not at all: a model or its split set, a results file, a cache
//! entry, a training checkpoint folder.
//!
//! Everything is written under a temporary name beside its destination, flushed to disk (the
//! files, then the folder they are in), and only then renamed into place; a rename is atomic on
//! one file system. A run killed at any moment therefore leaves the previous output or the new
//! one, and perhaps temporary names that no reader takes for output: `.<name>.partial-<pid>-<n>`,
//! hidden and not ending as the output's name does. The next write to the same destination
//! removes those whose process no longer runs (on Unix; elsewhere they stay, ignored).
//!
//! - [`write`]: one file.
//! - [`AtomicFiles`]: several files, such as a GGUF split set, renamed together.
//! - [`AtomicDir`]: a folder, swapped with the one it replaces so that the destination never
//!   goes missing.

mod dir;
mod files;

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use dir::AtomicDir;
pub use files::{AtomicFiles, write};

/// What follows a destination's name (and a dot before it) in its temporary names.
const PARTIAL: &str = ".partial-";

/// The folder `path` is in.
fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A new temporary name for `path`, unique to this process and this call.
fn temp_name(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", path.display())))?;
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!("{PARTIAL}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    Ok(path.with_file_name(temp))
}

/// Removes what killed writers left for `path`: its temporary names whose process has ended.
/// Best effort: a leftover that stays costs disk space only, since no reader takes it for output.
fn sweep(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return };
    let Ok(entries) = fs::read_dir(parent(path)) else { return };
    let prefix = format!(".{name}{PARTIAL}");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(leftover_pid) else {
            continue;
        };
        if running(pid) {
            continue;
        }
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(entry.path()),
            _ => fs::remove_file(entry.path()),
        };
    }
}

/// The process id in the `<pid>-<n>` ending of a temporary name.
fn leftover_pid(ending: &str) -> Option<u32> {
    let (pid, n) = ending.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then(|| pid.parse().ok()).flatten()
}

/// Whether process `pid` may still be writing (a process of another user counts as running).
#[cfg(unix)]
fn running(pid: u32) -> bool {
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0) else { return true };
    // SAFETY: with signal 0, kill sends nothing; it only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Without a cheap check, every writer counts as running and its leftovers stay.
#[cfg(not(unix))]
fn running(_pid: u32) -> bool {
    true
}

/// Flushes a file's contents to disk.
fn sync_file(path: &Path) -> io::Result<()> {
    // Opened for writing: Windows flushes only through a handle that may write.
    OpenOptions::new().write(true).open(path)?.sync_all()
}

/// Flushes a folder's entries, such as the names just renamed into it, to disk. Only Unix lets a
/// program open a folder to flush it.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    return fs::File::open(dir)?.sync_all();
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
