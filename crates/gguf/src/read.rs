//! Parsing a GGUF header: version, metadata, tensor infos and where the data starts.
//!
//! The header is untrusted input. Every count and length is checked against the bytes that
//! remain in the file before it is used, and buffers grow only as bytes actually arrive, so a
//! hostile header can neither allocate beyond the file nor make the parser panic.

use crate::error::{Error, ErrorKind, Result};
use crate::ggml_type::GgmlType;
use crate::keys::general::ALIGNMENT as ALIGNMENT_KEY;
use crate::metadata::{Array, Metadata, Value, ValueType};
use crate::source::ByteSource;

pub const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: usize = 4;
/// Deepest nesting of arrays accepted; the format allows nesting, llama.cpp accepts none.
const MAX_ARRAY_DEPTH: usize = 4;

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml's `ne`: `dims[0]` is the contiguous (innermost) dimension, the reverse of the
    /// row-major shape numpy and PyTorch print.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Size of the data in bytes (whole blocks; validated when read or written).
    pub fn n_bytes(&self) -> u64 {
        self.n_elements() / self.ggml_type.block_size() as u64 * self.ggml_type.block_bytes() as u64
    }

    /// Row-major shape, outermost dimension first.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

/// Everything before the tensor data.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Offset of the data section from the start of the file.
    pub data_offset: u64,
}

impl Header {
    /// Parses the header of the GGUF in `source`; `label` names it in errors.
    pub fn read<S: ByteSource + ?Sized>(source: &S, label: &str) -> Result<Header> {
        Parser { cur: Cursor::new(source, label) }.header()
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Bytes from the start of the data section to the end of the last tensor.
    pub fn data_len(&self) -> u64 {
        self.tensors.iter().map(|t| t.offset + t.n_bytes()).max().unwrap_or(0)
    }
}

/// Rounds `offset` up to a multiple of `alignment`.
pub fn align_to(offset: u64, alignment: u64) -> u64 {
    offset.div_ceil(alignment) * alignment
}

struct Parser<'a, S: ?Sized> {
    cur: Cursor<'a, S>,
}

impl<S: ByteSource + ?Sized> Parser<'_, S> {
    fn header(mut self) -> Result<Header> {
        self.cur.field = "header.magic".into();
        let magic: [u8; 4] = self.cur.take(4)?.try_into().expect("took 4 bytes");
        if magic != MAGIC {
            return Err(self.cur.error(ErrorKind::BadMagic(magic)));
        }
        self.cur.field = "header.version".into();
        let version = self.cur.u32()?;
        if version != 0 && version & 0xFFFF == 0 {
            return Err(self.cur.error(ErrorKind::BigEndian));
        }
        if !(2..=3).contains(&version) {
            return Err(self.cur.error(ErrorKind::UnsupportedVersion(version)));
        }
        self.cur.field = "header.tensor_count".into();
        let n_tensors = self.cur.count(4 + 8 + 4 + 8 + 8)?;
        self.cur.field = "header.metadata_kv_count".into();
        let n_kv = self.cur.count(8 + 1 + 4 + 1)?;

        let mut metadata = Metadata::new(self.cur.file);
        for i in 0..n_kv {
            self.cur.field = format!("metadata[{i}].key");
            let key = self.cur.string()?;
            if key.is_empty() {
                return Err(self.cur.invalid("empty key"));
            }
            self.cur.field = key;
            if metadata.contains(&self.cur.field) {
                return Err(self.cur.invalid("duplicate key"));
            }
            let value_type = self.value_type()?;
            let value = self.value(value_type, 0)?;
            metadata.push_unchecked(std::mem::take(&mut self.cur.field), value);
        }
        let alignment = self.alignment(&metadata)?;

        let mut tensors: Vec<TensorInfo> = Vec::new();
        let mut names = std::collections::HashSet::new();
        for i in 0..n_tensors {
            self.cur.field = format!("tensor_infos[{i}].name");
            let name = self.cur.string()?;
            self.cur.field = name.clone();
            if !names.insert(name.clone()) {
                return Err(self.cur.invalid("duplicate tensor name"));
            }
            tensors.push(self.tensor_info(name, alignment)?);
        }

        let end_of_infos = self.cur.pos;
        let data_offset = if tensors.is_empty() { end_of_infos } else { align_to(end_of_infos, alignment) };
        let file_len = self.cur.src.len();
        for t in &tensors {
            if data_offset
                .checked_add(t.offset)
                .and_then(|start| start.checked_add(t.n_bytes()))
                .is_none_or(|end| end > file_len)
            {
                return Err(Error::new(
                    self.cur.file,
                    &t.name,
                    ErrorKind::Truncated {
                        offset: data_offset.saturating_add(t.offset),
                        needed: t.n_bytes(),
                        file_len,
                    },
                ));
            }
        }
        Ok(Header { version, metadata, tensors, alignment, data_offset })
    }

    fn alignment(&mut self, metadata: &Metadata) -> Result<u64> {
        self.cur.field = ALIGNMENT_KEY.into();
        match metadata.get(ALIGNMENT_KEY) {
            None => Ok(DEFAULT_ALIGNMENT),
            Some(Value::U32(a)) if a.is_power_of_two() => Ok(u64::from(*a)),
            Some(Value::U32(a)) => Err(self.cur.invalid(format!("{a} is not a power of two"))),
            Some(v) => Err(self.cur.invalid(format!("has type {}, must be u32", v.value_type().name()))),
        }
    }

    fn tensor_info(&mut self, name: String, alignment: u64) -> Result<TensorInfo> {
        let n_dims = self.cur.u32()? as usize;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(self.cur.invalid(format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            dims.push(self.cur.u64()?);
        }
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| self.cur.invalid(format!("shape {dims:?} overflows")))?;
        let type_id = self.cur.u32()?;
        let ggml_type =
            GgmlType::from_id(type_id).ok_or_else(|| self.cur.error(ErrorKind::UnknownGgmlType(type_id)))?;
        if dims[0] % ggml_type.block_size() as u64 != 0 {
            return Err(self.cur.invalid(format!(
                "{ggml_type} row length {} is not a multiple of its block size {}",
                dims[0],
                ggml_type.block_size()
            )));
        }
        if ggml_type.bytes_for(n_elements).is_none_or(|bytes| bytes > self.cur.src.len()) {
            return Err(self.cur.invalid(format!("{n_elements} {ggml_type} values cannot fit in the file")));
        }
        let offset = self.cur.u64()?;
        if offset % alignment != 0 {
            return Err(self
                .cur
                .invalid(format!("data offset {offset} is not a multiple of the alignment {alignment}")));
        }
        Ok(TensorInfo { name, dims, ggml_type, offset })
    }

    fn value_type(&mut self) -> Result<ValueType> {
        let id = self.cur.u32()?;
        ValueType::from_id(id).ok_or_else(|| self.cur.error(ErrorKind::UnknownValueType(id)))
    }

    fn value(&mut self, value_type: ValueType, depth: usize) -> Result<Value> {
        let c = &mut self.cur;
        Ok(match value_type {
            ValueType::U8 => Value::U8(c.take(1)?[0]),
            ValueType::I8 => Value::I8(c.take(1)?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(c.array()?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(c.array()?)),
            ValueType::U32 => Value::U32(c.u32()?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(c.array()?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(c.array()?)),
            ValueType::Bool => Value::Bool(c.bool()?),
            ValueType::String => Value::String(c.string()?),
            ValueType::U64 => Value::U64(c.u64()?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(c.array()?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(c.array()?)),
            ValueType::Array => Value::Array(self.array(depth)?),
        })
    }

    fn array(&mut self, depth: usize) -> Result<Array> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.cur.invalid("arrays nested too deeply"));
        }
        let element_type = self.value_type()?;
        let n = self.cur.count(element_type.min_encoded_size())?;
        let c = &mut self.cur;
        Ok(match element_type {
            ValueType::U8 => Array::U8(c.fixed(n, 1, |b| b[0])?),
            ValueType::I8 => Array::I8(c.fixed(n, 1, |b| b[0] as i8)?),
            ValueType::U16 => Array::U16(c.fixed(n, 2, |b| u16::from_le_bytes([b[0], b[1]]))?),
            ValueType::I16 => Array::I16(c.fixed(n, 2, |b| i16::from_le_bytes([b[0], b[1]]))?),
            ValueType::U32 => Array::U32(c.fixed(n, 4, |b| u32::from_le_bytes(b.try_into().unwrap()))?),
            ValueType::I32 => Array::I32(c.fixed(n, 4, |b| i32::from_le_bytes(b.try_into().unwrap()))?),
            ValueType::F32 => Array::F32(c.fixed(n, 4, |b| f32::from_le_bytes(b.try_into().unwrap()))?),
            ValueType::U64 => Array::U64(c.fixed(n, 8, |b| u64::from_le_bytes(b.try_into().unwrap()))?),
            ValueType::I64 => Array::I64(c.fixed(n, 8, |b| i64::from_le_bytes(b.try_into().unwrap()))?),
            ValueType::F64 => Array::F64(c.fixed(n, 8, |b| f64::from_le_bytes(b.try_into().unwrap()))?),
            ValueType::Bool => {
                let bytes = c.fixed(n, 1, |b| b[0])?;
                if bytes.iter().any(|&b| b > 1) {
                    return Err(c.invalid("bool array holds a value other than 0 or 1"));
                }
                Array::Bool(bytes.into_iter().map(|b| b == 1).collect())
            }
            ValueType::String => {
                let mut out = Vec::new();
                for _ in 0..n {
                    out.push(c.string()?);
                }
                Array::String(out)
            }
            ValueType::Array => {
                let mut out = Vec::new();
                for _ in 0..n {
                    out.push(self.array(depth + 1)?);
                }
                Array::Array(out)
            }
        })
    }
}

/// Buffered sequential reading over a [`ByteSource`], tracking the field being read for errors.
struct Cursor<'a, S: ?Sized> {
    src: &'a S,
    file: &'a str,
    field: String,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

/// Bytes read ahead at once, and the most read in one call while a long value arrives.
const READ_AHEAD: u64 = 64 << 10;
const MAX_READ: u64 = 16 << 20;

impl<'a, S: ByteSource + ?Sized> Cursor<'a, S> {
    fn new(src: &'a S, file: &'a str) -> Self {
        Cursor { src, file, field: String::new(), pos: 0, buf: Vec::new(), buf_start: 0 }
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(self.file, self.field.clone(), kind)
    }

    fn invalid(&self, why: impl Into<String>) -> Error {
        self.error(ErrorKind::Invalid(why.into()))
    }

    fn remaining(&self) -> u64 {
        self.src.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    fn take(&mut self, n: u64) -> Result<&[u8]> {
        if n > self.remaining() {
            return Err(self.error(ErrorKind::Truncated { offset: self.pos, needed: n, file_len: self.src.len() }));
        }
        let end = self.pos + n;
        self.fill_to(end)?;
        let start = (self.pos - self.buf_start) as usize;
        self.pos = end;
        Ok(&self.buf[start..start + n as usize])
    }

    /// Makes the buffer hold `[pos, end)`, reading ahead where the source has the bytes.
    fn fill_to(&mut self, end: u64) -> Result<()> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if end <= buf_end {
            return Ok(());
        }
        self.buf.drain(..(self.pos - self.buf_start) as usize);
        self.buf_start = self.pos;
        let file_len = self.src.len();
        while self.buf_start + (self.buf.len() as u64) < end {
            let at = self.buf_start + self.buf.len() as u64;
            let needed = end - at;
            let ahead = needed.max(READ_AHEAD).min(MAX_READ).min(file_len - at);
            match self.read_more(at, ahead) {
                Err(ErrorKind::NeedMoreBytes { .. }) if ahead > needed => {
                    self.read_more(at, needed.min(MAX_READ)).map_err(|k| self.error(k))?
                }
                other => other.map_err(|k| self.error(k))?,
            }
        }
        Ok(())
    }

    fn read_more(&mut self, at: u64, len: u64) -> Result<(), ErrorKind> {
        let old = self.buf.len();
        self.buf.resize(old + len as usize, 0);
        let result = self.src.read_at(at, &mut self.buf[old..]);
        if result.is_err() {
            self.buf.truncate(old);
        }
        result
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N as u64)?.try_into().expect("took N bytes"))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bool(&mut self) -> Result<bool> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.invalid(format!("bool holds {b}, not 0 or 1"))),
        }
    }

    /// A count of items that each take at least `min_item_bytes`; refused when the rest of the
    /// file could not hold that many.
    fn count(&mut self, min_item_bytes: u64) -> Result<u64> {
        let n = self.u64()?;
        if n.checked_mul(min_item_bytes).is_none_or(|bytes| bytes > self.remaining()) {
            return Err(
                self.invalid(format!("count {n} cannot fit in the {} bytes left in the file", self.remaining()))
            );
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        let bytes = self.take(len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| self.error(ErrorKind::InvalidUtf8))
    }

    /// `n` values of `size` bytes each, decoded by `decode`, read in bounded pieces.
    fn fixed<T>(&mut self, n: u64, size: usize, decode: impl Fn(&[u8]) -> T) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let per_piece = MAX_READ / size as u64;
        let mut left = n;
        while left > 0 {
            let k = left.min(per_piece);
            out.extend(self.take(k * size as u64)?.chunks_exact(size).map(&decode));
            left -= k;
        }
        Ok(out)
    }
}
