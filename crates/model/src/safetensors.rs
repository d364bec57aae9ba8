//! Weights from a Hugging Face Llama checkpoint folder: `config.json` and safetensors files
//! (one `model.safetensors`, or shards listed by `model.safetensors.index.json`).
//!
//! This is how training starts from a released checkpoint. Tensors are read one at a time with
//! plain file reads (no memory map, so the crate still builds for wasm32), widened to f32 and
//! handed to the device, which stores them at its default float type (bf16 where the trainer
//! configured that). Headers are untrusted: every range is checked against the file before it is
//! read, and every error names the file and the tensor.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use selene_gguf::{GgmlType, codec};
use serde_json::Value;

use selene_kernels::Compute;

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::layers::Linear;
use crate::weights::{EmbeddingTable, Weight, WeightSource};

const CONFIG: &str = "config.json";
const INDEX: &str = "model.safetensors.index.json";
const SINGLE: &str = "model.safetensors";

/// Element types a checkpoint may store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    fn from_name(name: &str) -> Option<Dtype> {
        Some(match name {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    fn widen(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => {
                bytes.chunks_exact(2).map(|b| codec::f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()
            }
            Dtype::BF16 => {
                bytes.chunks_exact(2).map(|b| codec::bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()
            }
        }
    }
}

/// Where one tensor's bytes are.
#[derive(Clone, Debug)]
struct Entry {
    file: PathBuf,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Absolute byte offset in the file.
    start: u64,
    len: usize,
}

/// A Hugging Face `LlamaForCausalLM` checkpoint folder as a [`WeightSource`].
pub struct SafetensorsWeights {
    dir: PathBuf,
    config: LlamaConfig,
    tensors: BTreeMap<String, Entry>,
}

impl SafetensorsWeights {
    /// Opens `dir`, reading `config.json` and every safetensors header (not the tensors).
    pub fn open(dir: &Path) -> Result<Self> {
        let config_path = dir.join(CONFIG);
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| ModelError::Config(format!("{}: {e}", config_path.display())))?;
        let mut config = LlamaConfig::from_hf_json(&text, &config_path.display().to_string())?;
        let mut tensors = BTreeMap::new();
        for file in shard_files(dir)? {
            for (name, entry) in read_header(&file)? {
                if tensors.insert(name.clone(), entry).is_some() {
                    return Err(weight_error(&file, &name, "also stored in another shard".into()));
                }
            }
        }
        config.tied_embeddings = !tensors.contains_key(&Weight::Output.hf_name());
        Ok(SafetensorsWeights { dir: dir.to_owned(), config, tensors })
    }

    /// The checkpoint folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every tensor name in the checkpoint, sorted.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The values of `weight` as f32, row-major, checked against the shape the model needs.
    pub fn read_f32(&self, weight: Weight) -> Result<(Vec<f32>, Vec<usize>)> {
        let name = weight.hf_name();
        let shape = weight.shape(&self.config);
        let entry = self.tensors.get(&name).ok_or_else(|| weight_error(&self.dir, &name, "missing".into()))?;
        if entry.shape != shape {
            return Err(weight_error(
                &entry.file,
                &name,
                format!("has shape {:?}, the model needs {shape:?}", entry.shape),
            ));
        }
        let mut bytes = vec![0u8; entry.len];
        let mut read = || -> std::io::Result<()> {
            let mut f = File::open(&entry.file)?;
            f.seek(SeekFrom::Start(entry.start))?;
            f.read_exact(&mut bytes)
        };
        read().map_err(|e| weight_error(&entry.file, &name, format!("cannot read: {e}")))?;
        Ok((entry.dtype.widen(&bytes), shape))
    }
}

impl WeightSource for SafetensorsWeights {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn has(&self, weight: Weight) -> bool {
        self.tensors.contains_key(&weight.hf_name())
    }

    fn linear(&self, weight: Weight, device: &Device, _compute: Compute) -> Result<Linear> {
        let (values, shape) = self.read_f32(weight)?;
        Ok(Linear::new(Tensor::from_data(TensorData::new(values, [shape[0], shape[1]]), device)))
    }

    fn vector(&self, weight: Weight, device: &Device) -> Result<Tensor<1>> {
        let (values, shape) = self.read_f32(weight)?;
        Ok(Tensor::from_data(TensorData::new(values, [shape[0]]), device))
    }

    fn embedding_table(&self) -> Result<EmbeddingTable> {
        let (values, shape) = self.read_f32(Weight::TokenEmbedding)?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        EmbeddingTable::new(Arc::from(bytes), GgmlType::F32, shape[0], shape[1])
    }
}

fn weight_error(file: &Path, tensor: &str, problem: String) -> ModelError {
    ModelError::Weight { file: file.display().to_string(), tensor: tensor.into(), problem }
}

/// The weight files: those the index names, else `model.safetensors`.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX);
    if !index.is_file() {
        let single = dir.join(SINGLE);
        if !single.is_file() {
            return Err(weight_error(dir, SINGLE, format!("no {SINGLE} and no {INDEX} in the folder")));
        }
        return Ok(vec![single]);
    }
    let text = std::fs::read(&index).map_err(|e| weight_error(&index, "open", e.to_string()))?;
    let json: Value = serde_json::from_slice(&text).map_err(|e| weight_error(&index, "JSON", e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| weight_error(&index, "weight_map", "missing or not an object".into()))?;
    let mut files = std::collections::BTreeSet::new();
    for (tensor, file) in map {
        let field = format!("weight_map.{tensor}");
        let file = file.as_str().ok_or_else(|| weight_error(&index, &field, "not a file name".into()))?;
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(weight_error(&index, &field, format!("{file:?} is not a file of the folder")));
        }
        files.insert(file.to_owned());
    }
    let files: Vec<PathBuf> = files.into_iter().map(|f| dir.join(f)).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(weight_error(missing, "open", format!("missing shard (listed in {INDEX})")));
    }
    Ok(files)
}

/// Reads and checks one file's header.
fn read_header(path: &Path) -> Result<Vec<(String, Entry)>> {
    let err = |field: &str, why: String| weight_error(path, field, why);
    let mut file = File::open(path).map_err(|e| err("open", e.to_string()))?;
    let file_len = file.metadata().map_err(|e| err("open", e.to_string()))?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes).map_err(|_| err("header", "too short for a safetensors header".into()))?;
    let header_len = u64::from_le_bytes(len_bytes);
    let data_start = 8u64
        .checked_add(header_len)
        .filter(|&end| end <= file_len)
        .ok_or_else(|| err("header", format!("claims {header_len} bytes but the file has {file_len} (truncated?)")))?;
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| err("header", e.to_string()))?;
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&header).map_err(|e| err("header", format!("not a JSON object: {e}")))?;
    let data_len = file_len - data_start;
    let mut entries = Vec::with_capacity(header.len());
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype_name = info.get("dtype").and_then(Value::as_str).ok_or_else(|| err(&name, "no dtype".into()))?;
        let dtype = Dtype::from_name(dtype_name)
            .ok_or_else(|| err(&name, format!("dtype {dtype_name} is not supported (BF16, F16 or F32)")))?;
        let list = |key: &str| -> Option<Vec<u64>> { info.get(key)?.as_array()?.iter().map(Value::as_u64).collect() };
        let shape = list("shape").ok_or_else(|| err(&name, "shape is not a list of integers".into()))?;
        let offsets = list("data_offsets")
            .filter(|o| o.len() == 2 && o[0] <= o[1])
            .ok_or_else(|| err(&name, "data_offsets is not a pair [begin, end]".into()))?;
        let n_bytes = shape
            .iter()
            .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| err(&name, format!("shape {shape:?} overflows")))?;
        if offsets[1] - offsets[0] != n_bytes {
            return Err(err(
                &name,
                format!("shape {shape:?} needs {n_bytes} bytes, data_offsets span {}", offsets[1] - offsets[0]),
            ));
        }
        if offsets[1] > data_len {
            return Err(err(
                &name,
                format!("ends at byte {} of a {data_len}-byte data section: truncated", offsets[1]),
            ));
        }
        let entry = Entry {
            file: path.to_owned(),
            dtype,
            shape: shape.iter().map(|&d| d as usize).collect(),
            start: data_start + offsets[0],
            len: n_bytes as usize,
        };
        entries.push((name, entry));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with one tensor `t` whose header claims `shape` of `dtype` (4 bytes an element)
    /// and whose data section holds `data_len` bytes.
    fn file(dtype: &str, shape: &[usize], data_len: usize) -> Vec<u8> {
        let n = shape.iter().product::<usize>() * 4;
        let header = format!(r#"{{"t":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[0,{n}]}}}}"#);
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(vec![0u8; data_len]);
        bytes
    }

    #[test]
    fn bad_headers_are_errors_naming_file_and_tensor() {
        let dir = std::env::temp_dir().join(format!("selene-model-safetensors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.safetensors");
        let cases = [
            (file("F32", &[2, 3], 24), None),
            (file("F32", &[2, 3], 20), Some("tensor t: ends at byte 24 of a 20-byte data section: truncated")),
            (file("I64", &[2, 3], 24), Some("tensor t: dtype I64 is not supported")),
            (file("F32", &[2, 3], 24)[..4].to_vec(), Some("too short for a safetensors header")),
            (file("F32", &[2, 3], 24)[..30].to_vec(), Some("(truncated?)")),
            (b"\x08\0\0\0\0\0\0\0not json".to_vec(), Some("not a JSON object")),
        ];
        for (bytes, expected) in cases {
            std::fs::write(&path, bytes).unwrap();
            match (read_header(&path), expected) {
                (Ok(entries), None) => {
                    assert_eq!((entries[0].0.as_str(), entries[0].1.shape.as_slice()), ("t", &[2, 3][..]))
                }
                (Err(e), Some(why)) => {
                    let message = e.to_string();
                    assert!(message.starts_with(&path.display().to_string()) && message.contains(why), "{message}");
                }
                (result, _) => panic!("expected {expected:?}, got {:?}", result.map(|e| e.len())),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
