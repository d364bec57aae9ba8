//! Writing a safetensors file, as the reference writer lays it out: the header padded with
//! spaces to a multiple of 8 bytes, then the tensors' bytes back to back, in the order given.
//! The file is written under a temporary name beside the target and renamed when complete, so
//! that a crash leaves the old file or the new one, never half of one.

use std::io::Write;
use std::path::Path;

use crate::dtype::Dtype;
use crate::{Result, SafetensorsError};

/// A tensor to write: name, dtype, row-major shape and little-endian bytes.
pub struct TensorToWrite<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [u64],
    pub bytes: &'a [u8],
}

/// Writes `tensors` as the safetensors file `path`, replacing it if it exists.
pub fn write(path: &Path, tensors: &[TensorToWrite<'_>]) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for t in tensors {
        let end = offset + t.bytes.len() as u64;
        header.insert(
            t.name.to_owned(),
            serde_json::json!({ "dtype": t.dtype.name(), "shape": t.shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut text = serde_json::to_vec(&header).expect("a JSON map serializes");
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        out.write_all(&(text.len() as u64).to_le_bytes())?;
        out.write_all(&text)?;
        for t in tensors {
            out.write_all(t.bytes)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SafetensorsError::new(path, "write", e)
    })
}
