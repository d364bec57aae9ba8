//! Files that are either absent or complete, so that a killed run never leaves half a results
//! file or half a cache entry: `selene_gguf::AtomicFiles` (a temporary sibling, renamed over the
//! final name) for one file at a time.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use selene_gguf::AtomicFiles;

/// Writes `contents` to `path` (creating its folder), replacing any earlier file at once.
pub fn write(path: &Path, contents: &[u8]) -> Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| folder.display().to_string())?;
    let mut files = AtomicFiles::new();
    let written = files.create(path).and_then(|mut file| file.write_all(contents)).and_then(|()| files.commit());
    written.map(drop).with_context(|| path.display().to_string())
}
