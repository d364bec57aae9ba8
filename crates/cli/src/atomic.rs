//! Files that are either absent or complete: written beside their final name, then renamed over
//! it, so that a killed run never leaves half a results file or half a cache entry.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Writes `contents` to `path` (creating its folder), replacing any earlier file at once.
pub fn write(path: &Path, contents: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| folder.display().to_string())?;
    let name = path.file_name().map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let temporary =
        folder.join(format!(".{name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let written = std::fs::write(&temporary, contents).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| path.display().to_string())
}
