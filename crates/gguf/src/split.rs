//! Split sets: one model in several GGUF files, as llama.cpp's `gguf-split` writes them.
//!
//! A browser fetches and caches a model in pieces of a few hundred MiB, so the quantizer writes
//! split sets and every reader in selene takes one. The conventions are llama.cpp's: files named
//! `<prefix>-00001-of-00003.gguf`, all metadata in the first, `split.no` (u16, 0-based),
//! `split.tensors.count` (i32) and `split.count` (u16) in each, and no tensor cut in two.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::keys::split::{COUNT as SPLIT_COUNT, NO as SPLIT_NO, TENSORS_COUNT as SPLIT_TENSORS_COUNT};
use crate::metadata::{Metadata, Value};
use crate::read::{Header, TensorInfo, align_to};

/// `<prefix>-<no>-of-<count>.gguf` with `no` counted from 1, as llama.cpp names shards.
pub fn shard_path(prefix: &Path, no: usize, count: usize) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(format!("-{no:05}-of-{count:05}.gguf"));
    PathBuf::from(name)
}

/// Splits a shard's path into its prefix, its number (from 1) and the shard count.
pub fn parse_shard_path(path: &Path) -> Option<(PathBuf, usize, usize)> {
    let s = path.to_str()?;
    let stem = s.strip_suffix(".gguf")?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (prefix, no) = rest.rsplit_once('-')?;
    let digits = |x: &str| x.len() == 5 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(no) || !digits(count) {
        return None;
    }
    Some((PathBuf::from(prefix), no.parse().ok()?, count.parse().ok()?))
}

/// How to cut a model into shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitLimit {
    /// At most this many bytes of (padded) tensor data per shard; a tensor larger than the limit
    /// gets a shard of its own. Metadata is not counted, as in `gguf-split`.
    MaxBytes(u64),
    /// At most this many tensors per shard.
    MaxTensors(usize),
}

/// Groups consecutive tensors into shards under `limit`.
pub fn plan_shards(tensors: &[TensorInfo], limit: SplitLimit, alignment: u64) -> Vec<Range<usize>> {
    let mut shards = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, t) in tensors.iter().enumerate() {
        let size = align_to(t.n_bytes(), alignment);
        let full = match limit {
            SplitLimit::MaxBytes(max) => bytes + size > max,
            SplitLimit::MaxTensors(max) => i - start >= max.max(1),
        };
        if full && i > start {
            shards.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < tensors.len() || shards.is_empty() {
        shards.push(start..tensors.len());
    }
    shards
}

/// Parses a size such as `512M`, `2G`, `300K` or `1000000` (decimal units, as llama.cpp's tools).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let factor = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(factor).filter(|&n| n > 0)
}

/// Split keys for shard `no` (0-based) of `count`, in the order `llama-gguf-split --split` leaves
/// them: it appends `split.no`, a placeholder `split.count` and `split.tensors.count`, then sets
/// `split.count` once it knows the number of shards, and ggml's `gguf_set_val_*` removes a key and
/// appends it again, which moves `split.count` last. (`llama-quantize --keep-split` appends them
/// as no, count, tensors.count; gguf-split's order is the one the split goldens pin.)
#[cfg(any(unix, windows))]
pub(crate) fn split_keys(metadata: &mut Metadata, no: usize, count: usize, total_tensors: usize) {
    let keys = [
        (SPLIT_NO, Value::U16(no as u16)),
        (SPLIT_TENSORS_COUNT, Value::I32(total_tensors as i32)),
        (SPLIT_COUNT, Value::U16(count as u16)),
    ];
    for (key, value) in keys {
        // Appended even where the input already had the key (a set split again), as ggml does.
        metadata.remove(key);
        metadata.set(key, value);
    }
}

/// One file of a model, by its label and header.
#[derive(Clone, Debug)]
pub struct Shard {
    pub label: String,
    pub header: Header,
}

/// Where a tensor of a model lives.
#[derive(Clone, Debug)]
pub struct TensorLocation {
    /// Index into [`ModelLayout::shards`].
    pub shard: usize,
    pub info: TensorInfo,
    /// Offset of the data from the start of its shard's file.
    pub file_offset: u64,
}

/// The shards of one model, checked to belong together, presented as one set of tensors.
#[derive(Clone, Debug)]
pub struct ModelLayout {
    shards: Vec<Shard>,
    tensors: Vec<TensorLocation>,
    by_name: HashMap<String, usize>,
}

impl ModelLayout {
    /// Assembles a model from a single file or from every shard of a split set, given in any order.
    pub fn assemble(shards: Vec<Shard>) -> Result<Self> {
        Self::assemble_indexed(shards).map(|(layout, _)| layout)
    }

    /// [`assemble`](Self::assemble), also giving for each shard of the layout its position in
    /// `shards`.
    pub(crate) fn assemble_indexed(mut shards: Vec<Shard>) -> Result<(Self, Vec<usize>)> {
        let Some(first) = shards.first() else {
            return Err(Error::invalid("(no files)", "model", "no GGUF file given"));
        };
        let count = split_count(first)?;
        if count <= 1 && shards.len() == 1 {
            return Ok((Self::index(shards)?, vec![0]));
        }
        if shards.len() != count {
            return Err(Error::invalid(
                &first.label,
                SPLIT_COUNT,
                format!("the set has {count} shards, but {} files were given", shards.len()),
            ));
        }
        let mut numbered = Vec::with_capacity(count);
        for (position, shard) in shards.drain(..).enumerate() {
            if split_count(&shard)? != count {
                return Err(Error::invalid(
                    &shard.label,
                    SPLIT_COUNT,
                    format!("differs from the other shards' {count}"),
                ));
            }
            let no = shard.header.metadata.require_u64(SPLIT_NO)? as usize;
            if no >= count {
                return Err(Error::invalid(&shard.label, SPLIT_NO, format!("{no} is not below {SPLIT_COUNT} {count}")));
            }
            numbered.push((no, position, shard));
        }
        numbered.sort_by_key(|(no, _, _)| *no);
        for pair in numbered.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(Error::invalid(&pair[1].2.label, SPLIT_NO, format!("shard {} given twice", pair[0].0)));
            }
        }
        let order = numbered.iter().map(|(_, position, _)| *position).collect();
        let layout = Self::index(numbered.into_iter().map(|(_, _, s)| s).collect())?;
        let first = &layout.shards[0];
        if let Some(expected) = first.header.metadata.optional_u64(SPLIT_TENSORS_COUNT)? {
            if expected != layout.tensors.len() as u64 {
                return Err(Error::invalid(
                    &first.label,
                    SPLIT_TENSORS_COUNT,
                    format!("says {expected} tensors, the shards hold {}", layout.tensors.len()),
                ));
            }
        }
        Ok((layout, order))
    }

    fn index(shards: Vec<Shard>) -> Result<Self> {
        let mut tensors = Vec::new();
        let mut by_name = HashMap::new();
        for (i, shard) in shards.iter().enumerate() {
            for info in &shard.header.tensors {
                if by_name.insert(info.name.clone(), tensors.len()).is_some() {
                    return Err(Error::invalid(&shard.label, &info.name, "tensor appears in two shards"));
                }
                let file_offset = shard.header.data_offset + info.offset;
                tensors.push(TensorLocation { shard: i, info: info.clone(), file_offset });
            }
        }
        Ok(ModelLayout { shards, tensors, by_name })
    }

    /// The model's metadata: the first shard's.
    pub fn metadata(&self) -> &Metadata {
        &self.shards[0].header.metadata
    }

    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> &[TensorLocation] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorLocation> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }
}

fn split_count(shard: &Shard) -> Result<usize> {
    Ok(shard.header.metadata.optional_u64(SPLIT_COUNT)?.unwrap_or(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ggml_type::GgmlType;

    #[test]
    fn shard_names_round_trip() {
        let p = shard_path(Path::new("out/model-Q4_0"), 2, 12);
        assert_eq!(p, Path::new("out/model-Q4_0-00002-of-00012.gguf"));
        assert_eq!(parse_shard_path(&p), Some((PathBuf::from("out/model-Q4_0"), 2, 12)));
        assert_eq!(parse_shard_path(Path::new("model.gguf")), None);
        assert_eq!(parse_shard_path(Path::new("m-1-of-2.gguf")), None);
    }

    #[test]
    fn sizes_parse_like_llama_cpp() {
        assert_eq!(parse_size("512M"), Some(512_000_000));
        assert_eq!(parse_size("2G"), Some(2_000_000_000));
        assert_eq!(parse_size("32"), Some(32));
        assert_eq!(parse_size("1.5G"), None);
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("12X"), None);
    }

    fn tensor(bytes: u64) -> TensorInfo {
        TensorInfo { name: String::new(), dims: vec![bytes], ggml_type: GgmlType::I8, offset: 0 }
    }

    #[test]
    fn plans_cut_between_tensors_only() {
        let ts: Vec<_> = [10, 40, 33, 64, 5].into_iter().map(tensor).collect();
        // Padded sizes 32, 64, 64, 64, 32.
        assert_eq!(plan_shards(&ts, SplitLimit::MaxBytes(100), 32), vec![0..2, 2..3, 3..5]);
        assert_eq!(plan_shards(&ts, SplitLimit::MaxBytes(10), 32), vec![0..1, 1..2, 2..3, 3..4, 4..5]);
        assert_eq!(plan_shards(&ts, SplitLimit::MaxBytes(1 << 20), 32), vec![0..5]);
        assert_eq!(plan_shards(&ts, SplitLimit::MaxTensors(2), 32), vec![0..2, 2..4, 4..5]);
        assert_eq!(plan_shards(&[], SplitLimit::MaxTensors(2), 32), vec![0..0]);
    }
}
