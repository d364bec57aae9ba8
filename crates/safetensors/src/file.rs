//! One safetensors file: an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range in the data section, then the data.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::dtype::Dtype;
use crate::{Result, SafetensorsError};

/// The largest header accepted, the reference implementation's limit.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One tensor of a file: where its bytes are.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    /// Row-major shape, outermost dimension first.
    pub shape: Vec<u64>,
    /// The file among a folder's shards (0 for a file opened alone).
    pub(crate) shard: usize,
    /// Byte range in the file (not relative to the data section).
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl TensorEntry {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn n_bytes(&self) -> usize {
        self.end - self.start
    }
}

/// A memory-mapped safetensors file with a checked header.
pub struct SafetensorsFile {
    path: PathBuf,
    map: memmap2::Mmap,
    tensors: Vec<TensorEntry>,
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| SafetensorsError::new(path, "open", e))?;
        // SAFETY: the map is read-only; a checkpoint changed on disk while it is being read is
        // outside what this program can guard against (as for every tool that maps models).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| SafetensorsError::new(path, "mmap", e))?;
        let tensors = parse_header(path, &map)?;
        Ok(SafetensorsFile { path: path.to_owned(), map, tensors })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor, sorted by name.
    pub fn tensors(&self) -> &[TensorEntry] {
        &self.tensors
    }

    /// The raw little-endian bytes of a tensor of this file.
    pub fn bytes(&self, t: &TensorEntry) -> &[u8] {
        &self.map[t.start..t.end]
    }

    /// Drops the resident pages of bytes `range` of `t` (see [`SafetensorsFolder::release`]).
    ///
    /// [`SafetensorsFolder::release`]: crate::SafetensorsFolder::release
    pub(crate) fn release(&self, t: &TensorEntry, range: Range<usize>) {
        #[cfg(unix)]
        {
            let (start, end) = (t.start + range.start.min(t.n_bytes()), t.start + range.end.min(t.n_bytes()));
            // SAFETY: the map is a read-only file mapping; MADV_DONTNEED only drops the process's
            // copy of the pages, and a later read sees the file's bytes again, the same as
            // before. Failure is harmless (the pages stay resident), so it is ignored.
            let _ = unsafe {
                self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end.saturating_sub(start))
            };
        }
        #[cfg(not(unix))]
        let _ = (t, range);
    }
}

fn parse_header(path: &Path, map: &[u8]) -> Result<Vec<TensorEntry>> {
    let err = |field: &str, why: String| SafetensorsError::new(path, field, why);
    let Some(len_bytes) = map.get(..8) else {
        return Err(err("header", format!("the file has {} bytes, too short for a safetensors header", map.len())));
    };
    let header_len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if header_len > MAX_HEADER_BYTES {
        return Err(err("header", format!("claims {header_len} bytes, more than the {MAX_HEADER_BYTES} allowed")));
    }
    let data_start = 8 + header_len as usize;
    if data_start > map.len() {
        return Err(err(
            "header",
            format!("the header claims {header_len} bytes but the file has only {} (truncated?)", map.len()),
        ));
    }
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
        tensors.push(TensorEntry { name: name.clone(), dtype, shape, shard: 0, start, end: start + n_bytes as usize });
    }
    Ok(tensors)
}

fn u64_list(v: Option<&Value>) -> Option<Vec<u64>> {
    v?.as_array()?.iter().map(Value::as_u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::{TensorToWrite, write};

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("t.safetensors");
        let a: Vec<u8> = (0..12u8).collect();
        let b = [0u8; 8];
        write(
            &path,
            &[
                TensorToWrite { name: "a", dtype: Dtype::BF16, shape: &[2, 3], bytes: &a },
                TensorToWrite { name: "b", dtype: Dtype::F32, shape: &[2], bytes: &b },
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
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["t.safetensors"], "no temporary file is left");
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

    /// A file with one tensor `t` whose header claims `shape` of `dtype` (4 bytes an element)
    /// and whose data section holds `data_len` bytes.
    fn file(dtype: &str, shape: &[usize], data_len: usize) -> Vec<u8> {
        let n = shape.iter().product::<usize>() * 4;
        raw(&format!(r#"{{"t":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[0,{n}]}}}}"#), data_len)
    }

    fn raw(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(vec![0u8; data_len]);
        bytes
    }

    #[test]
    fn bad_headers_are_errors_naming_file_and_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let huge = [&u64::MAX.to_le_bytes()[..], b"{}"].concat();
        let cases = [
            (file("F32", &[2, 3], 24), None),
            (file("F32", &[2, 3], 20), Some(("t", "data ends at byte 24 of the data section, which has only 20"))),
            (file("I64", &[2, 3], 24), Some(("t", "dtype I64 is not supported"))),
            (file("F32", &[2, 3], 24)[..4].to_vec(), Some(("header", "too short for a safetensors header"))),
            (file("F32", &[2, 3], 24)[..30].to_vec(), Some(("header", "(truncated?)"))),
            (b"\x08\0\0\0\0\0\0\0not json".to_vec(), Some(("header", "not a JSON object"))),
            (huge, Some(("header", "more than the 100000000 allowed"))),
            (
                raw(r#"{"t":{"dtype":"F32","shape":[18446744073709551615,4],"data_offsets":[0,16]}}"#, 16),
                Some(("t", "overflows")),
            ),
        ];
        for (bytes, expected) in cases {
            std::fs::write(&path, bytes).unwrap();
            match (SafetensorsFile::open(&path), expected) {
                (Ok(f), None) => {
                    assert_eq!((f.tensors()[0].name.as_str(), f.tensors()[0].shape.as_slice()), ("t", &[2, 3][..]))
                }
                (Err(e), Some((field, why))) => {
                    assert_eq!(e.file, path.display().to_string());
                    assert!(e.field == field && e.why.contains(why), "{e}");
                }
                (result, _) => panic!("expected {expected:?}, got {:?}", result.map(|f| f.tensors().len())),
            }
        }
    }
}
