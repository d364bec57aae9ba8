//! The safetensors format: an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the raw data.
//!
//! The file is memory-mapped and never read whole: a model can be far larger than memory. The
//! header is untrusted, so every range is checked against the file before it is used (a truncated
//! download is the common case), and nothing is allocated from a size the header claims. Pages of
//! a tensor that has been converted are handed back to the kernel, so that the mapped input does
//! not pile up in the process's resident memory while a large model streams through.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use selene_gguf::codec;
use serde_json::Value;

use crate::error::{Error, Result};

/// Element types of the checkpoints this tool reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    pub fn from_name(name: &str) -> Option<Dtype> {
        Some(match name {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    /// Widens little-endian values to f32 (exactly: every F16 and BF16 value is an f32).
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            Dtype::F32 => out
                .iter_mut()
                .zip(bytes.chunks_exact(4))
                .for_each(|(y, b)| *y = f32::from_le_bytes(b.try_into().unwrap())),
            Dtype::F16 => out
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(y, b)| *y = codec::f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))),
            Dtype::BF16 => out
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(y, b)| *y = codec::bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))),
        }
    }

    /// Rounds an f32 to the nearest value of this dtype (round to nearest even, as ggml does).
    pub fn round(self, x: f32) -> f32 {
        match self {
            Dtype::F32 => x,
            Dtype::F16 => codec::f16_bits_to_f32(codec::f32_to_f16_bits(x)),
            Dtype::BF16 => codec::bf16_bits_to_f32(codec::f32_to_bf16_bits(x)),
        }
    }
}

/// One tensor of a file: where its bytes are.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    /// Row-major shape, outermost dimension first.
    pub shape: Vec<u64>,
    /// Byte range in the file (not relative to the data section).
    start: usize,
    end: usize,
}

impl TensorEntry {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn n_bytes(&self) -> usize {
        self.end - self.start
    }
}

/// A memory-mapped safetensors file with a validated header.
pub struct SafetensorsFile {
    path: PathBuf,
    map: memmap2::Mmap,
    tensors: Vec<TensorEntry>,
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::new(path, "open", e))?;
        // SAFETY: the map is read-only; a checkpoint changed on disk while it is being converted
        // is outside what this program can guard against (as for every tool that maps models).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::new(path, "mmap", e))?;
        let tensors = parse_header(path, &map)?;
        Ok(SafetensorsFile { path: path.to_owned(), map, tensors })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tensors(&self) -> &[TensorEntry] {
        &self.tensors
    }

    /// The raw little-endian bytes of a tensor of this file.
    pub fn bytes(&self, t: &TensorEntry) -> &[u8] {
        &self.map[t.start..t.end]
    }

    /// Tells the kernel that the pages holding bytes `range` of `t` are no longer needed, so
    /// they leave this process's resident memory (they are read from the file again if touched).
    pub fn release(&self, t: &TensorEntry, range: std::ops::Range<usize>) {
        let (start, end) = (t.start + range.start.min(t.n_bytes()), t.start + range.end.min(t.n_bytes()));
        // SAFETY: the map is a read-only file mapping; MADV_DONTNEED only drops the process's
        // copy of the pages, and a later read sees the file's bytes again, the same as before.
        // Failure is harmless (the pages stay resident), so it is ignored.
        let _ = unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
    }
}

fn parse_header(path: &Path, map: &[u8]) -> Result<Vec<TensorEntry>> {
    let err = |field: &str, why: String| Error::new(path, field, why);
    if map.len() < 8 {
        return Err(err("header", format!("the file has {} bytes, too short for a safetensors header", map.len())));
    }
    let header_len = u64::from_le_bytes(map[..8].try_into().expect("8 bytes"));
    let data_start = 8u64.checked_add(header_len).filter(|&end| end <= map.len() as u64).ok_or_else(|| {
        err("header", format!("the header claims {header_len} bytes but the file has only {} (truncated?)", map.len()))
    })? as usize;
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&map[8..data_start]).map_err(|e| err("header", format!("not a JSON object: {e}")))?;
    let data_len = (map.len() - data_start) as u64;
    let mut tensors = Vec::with_capacity(header.len());
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let dtype_name = info.get("dtype").and_then(Value::as_str).ok_or_else(|| err(name, "no dtype".into()))?;
        let dtype = Dtype::from_name(dtype_name).ok_or_else(|| {
            err(name, format!("dtype {dtype_name} is not supported (checkpoints must be BF16, F16 or F32)"))
        })?;
        let shape = u64_list(info.get("shape")).ok_or_else(|| err(name, "shape is not a list of integers".into()))?;
        let offsets = u64_list(info.get("data_offsets"))
            .filter(|o| o.len() == 2 && o[0] <= o[1])
            .ok_or_else(|| err(name, "data_offsets is not a pair [begin, end]".into()))?;
        let n_bytes = shape
            .iter()
            .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| err(name, format!("shape {shape:?} overflows")))?;
        if offsets[1] - offsets[0] != n_bytes {
            return Err(err(
                name,
                format!(
                    "shape {shape:?} of {dtype_name} takes {n_bytes} bytes, data_offsets span {}",
                    offsets[1] - offsets[0]
                ),
            ));
        }
        if offsets[1] > data_len {
            return Err(err(
                name,
                format!(
                    "data ends at byte {} of the data section, which has only {data_len} bytes: the file is truncated",
                    offsets[1]
                ),
            ));
        }
        let start = data_start + offsets[0] as usize;
        tensors.push(TensorEntry { name: name.clone(), dtype, shape, start, end: start + n_bytes as usize });
    }
    Ok(tensors)
}

fn u64_list(v: Option<&Value>) -> Option<Vec<u64>> {
    v?.as_array()?.iter().map(Value::as_u64).collect()
}

/// A tensor to write: name, dtype, row-major shape and little-endian bytes.
pub struct TensorData<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [u64],
    pub bytes: &'a [u8],
}

/// Writes a safetensors file (tensors in the order given, header padded with spaces to 8 bytes
/// as the reference writer does). Used to make checkpoints for tests and to export merges.
pub fn write(path: &Path, tensors: &[TensorData<'_>]) -> Result<()> {
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
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        out.write_all(&(text.len() as u64).to_le_bytes())?;
        out.write_all(&text)?;
        for t in tensors {
            out.write_all(t.bytes)?;
        }
        out.flush()
    };
    write().map_err(|e| Error::new(path, "write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("t.safetensors");
        let a: Vec<u8> = (0..12u8).collect();
        let b = [0u8; 8];
        write(
            &path,
            &[
                TensorData { name: "a", dtype: Dtype::BF16, shape: &[2, 3], bytes: &a },
                TensorData { name: "b", dtype: Dtype::F32, shape: &[2], bytes: &b },
            ],
        )
        .unwrap();
        path
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = SafetensorsFile::open(&sample(dir.path())).unwrap();
        let a = &file.tensors()[0];
        assert_eq!((a.name.as_str(), a.dtype, a.shape.as_slice()), ("a", Dtype::BF16, &[2u64, 3][..]));
        assert_eq!(file.bytes(a), (0..12u8).collect::<Vec<_>>().as_slice());
        file.release(a, 0..a.n_bytes());
        assert_eq!(file.bytes(a)[11], 11, "released pages read back from the file");
    }

    #[test]
    fn truncation_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 3).unwrap();
        let err = SafetensorsFile::open(&path).err().unwrap();
        assert_eq!(err.field, "b");
        assert!(err.why.contains("truncated"), "{err}");
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(20).unwrap();
        let err = SafetensorsFile::open(&path).err().unwrap();
        assert_eq!(err.field, "header");
    }
}
