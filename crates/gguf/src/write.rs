//! Writing GGUF v3 the way llama.cpp's reader demands it.
//!
//! llama.cpp refuses a file unless tensor data is contiguous, in tensor-info order, and every
//! tensor (the last included) is zero-padded to the alignment; it also refuses tensor names of
//! 64 bytes or more. The writer computes the offsets itself and takes tensor data one tensor at a
//! time, in order, so that a quantizer never holds more than one tensor.

use std::io::Write;

use crate::error::{Error, ErrorKind, Result};
use crate::ggml_type::GgmlType;
use crate::keys::general::ALIGNMENT as ALIGNMENT_KEY;
use crate::metadata::{Array, Metadata, Value};
use crate::read::{DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS, TensorInfo, align_to};

/// Longest tensor name llama.cpp accepts, in bytes (its `GGML_MAX_NAME` is 64 with the NUL).
pub const MAX_TENSOR_NAME: usize = 63;
const VERSION: u32 = 3;

/// Streams one GGUF file: the header when created, then each tensor's data in order.
pub struct GgufWriter<W: Write> {
    out: W,
    file: String,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    next: usize,
}

impl<W: Write> GgufWriter<W> {
    /// Writes the header for `metadata` and `tensors` to `out`; `label` names the output in
    /// errors. Tensor offsets are computed here (the `offset` fields passed in are ignored).
    pub fn new(mut out: W, label: &str, metadata: &Metadata, mut tensors: Vec<TensorInfo>) -> Result<Self> {
        let alignment = alignment_of(metadata, label)?;
        validate_tensors(&tensors, label)?;
        let mut offset = 0;
        for t in &mut tensors {
            t.offset = offset;
            offset += align_to(t.n_bytes(), alignment);
        }
        let header = encode_header(metadata, &tensors, alignment);
        out.write_all(&header).map_err(|e| Error::new(label, "header", e))?;
        Ok(GgufWriter { out, file: label.to_owned(), tensors, alignment, next: 0 })
    }

    /// The tensors with the offsets they are written at.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor whose data [`write_tensor`](Self::write_tensor) expects next.
    pub fn next_tensor(&self) -> Option<&TensorInfo> {
        self.tensors.get(self.next)
    }

    /// Writes the data of the next tensor, followed by its padding.
    pub fn write_tensor(&mut self, data: &[u8]) -> Result<()> {
        let Some(info) = self.tensors.get(self.next) else {
            return Err(Error::invalid(&self.file, "tensor data", "more tensors written than declared"));
        };
        if data.len() as u64 != info.n_bytes() {
            return Err(Error::invalid(
                &self.file,
                &info.name,
                format!(
                    "{} bytes of data given, {} {} values take {}",
                    data.len(),
                    info.n_elements(),
                    info.ggml_type,
                    info.n_bytes()
                ),
            ));
        }
        let padding = (align_to(info.n_bytes(), self.alignment) - info.n_bytes()) as usize;
        let io = |e| Error::new(&self.file, &info.name, ErrorKind::Io(e));
        self.out.write_all(data).map_err(io)?;
        self.out.write_all(&[0u8; 256][..padding]).map_err(io)?;
        self.next += 1;
        Ok(())
    }

    /// Checks that every declared tensor was written and flushes.
    pub fn finish(mut self) -> Result<W> {
        if let Some(missing) = self.tensors.get(self.next) {
            return Err(Error::invalid(&self.file, &missing.name, "tensor declared but its data never written"));
        }
        self.out.flush().map_err(|e| Error::new(&self.file, "tensor data", e))?;
        Ok(self.out)
    }
}

fn alignment_of(metadata: &Metadata, label: &str) -> Result<u64> {
    match metadata.get(ALIGNMENT_KEY) {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(Value::U32(a)) if a.is_power_of_two() => Ok(u64::from(*a)),
        Some(_) => Err(Error::invalid(label, ALIGNMENT_KEY, "must be a u32 power of two")),
    }
}

fn validate_tensors(tensors: &[TensorInfo], label: &str) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for t in tensors {
        let bad = |why: String| Err(Error::invalid(label, &t.name, why));
        if t.name.is_empty() || t.name.len() > MAX_TENSOR_NAME {
            return bad(format!("tensor names must be 1 to {MAX_TENSOR_NAME} bytes long"));
        }
        if !names.insert(t.name.as_str()) {
            return bad("duplicate tensor name".into());
        }
        if t.dims.is_empty() || t.dims.len() > MAX_DIMS {
            return bad(format!("{} dimensions (1 to {MAX_DIMS} allowed)", t.dims.len()));
        }
        if t.dims[0] % t.ggml_type.block_size() as u64 != 0 {
            return bad(format!("{} row length {} is not a multiple of its block size", t.ggml_type, t.dims[0]));
        }
        if t.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).is_none_or(|n| n > i64::MAX as u64) {
            return bad(format!("shape {:?} overflows", t.dims));
        }
    }
    Ok(())
}

fn encode_header(metadata: &Metadata, tensors: &[TensorInfo], alignment: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    b.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata.iter() {
        put_str(&mut b, key);
        b.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
        put_value(&mut b, value);
    }
    for t in tensors {
        put_str(&mut b, &t.name);
        b.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&t.ggml_type.id().to_le_bytes());
        b.extend_from_slice(&t.offset.to_le_bytes());
    }
    b.resize(align_to(b.len() as u64, alignment) as usize, 0);
    b
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => b.push(*x),
        Value::I8(x) => b.push(*x as u8),
        Value::U16(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => b.push(u8::from(*x)),
        Value::String(s) => put_str(b, s),
        Value::U64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => b.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => put_array(b, a),
    }
}

fn put_array(b: &mut Vec<u8>, a: &Array) {
    b.extend_from_slice(&(a.element_type() as u32).to_le_bytes());
    b.extend_from_slice(&(a.len() as u64).to_le_bytes());
    fn each<T>(b: &mut Vec<u8>, items: &[T], put: impl Fn(&mut Vec<u8>, &T)) {
        items.iter().for_each(|x| put(b, x));
    }
    match a {
        Array::U8(v) => b.extend_from_slice(v),
        Array::I8(v) => each(b, v, |b, x| b.push(*x as u8)),
        Array::U16(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::I16(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::U32(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::I32(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::F32(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::Bool(v) => each(b, v, |b, x| b.push(u8::from(*x))),
        Array::String(v) => each(b, v, |b, s| put_str(b, s)),
        Array::Array(v) => each(b, v, put_array),
        Array::U64(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::I64(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        Array::F64(v) => each(b, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
    }
}

/// A tensor info from a row-major `shape` (outermost dimension first, as numpy and PyTorch
/// print it); the writer fills in the offset.
pub fn tensor_info(name: impl Into<String>, shape: &[u64], ggml_type: GgmlType) -> TensorInfo {
    TensorInfo { name: name.into(), dims: shape.iter().rev().copied().collect(), ggml_type, offset: 0 }
}
