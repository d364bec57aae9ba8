//! A model on disk: one GGUF file or a split set, opened from the path of its (first) file.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::split::{COUNT as SPLIT_COUNT, NO as SPLIT_NO};
use crate::metadata::Metadata;
use crate::read::Header;
use crate::source::ByteSource;
use crate::split::{ModelLayout, Shard, TensorLocation, parse_shard_path, shard_path};

/// A model's layout together with the bytes of its files.
pub struct GgufModel {
    layout: ModelLayout,
    sources: Vec<Box<dyn ByteSource>>,
}

impl GgufModel {
    /// Opens a single GGUF file, or a whole split set from the path of its first shard. (In a
    /// browser, which has no files to open, this fails; the browser streams its `File`s.)
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let first = open_source(path)?;
        let label = path.display().to_string();
        let header = Header::read(first.as_ref(), &label)?;
        let count = header.metadata.optional_u64(SPLIT_COUNT)?.unwrap_or(0) as usize;
        let mut parts = vec![(Shard { label, header }, first)];
        if count > 1 {
            let first = &parts[0].0;
            if first.header.metadata.require_u64(SPLIT_NO)? != 0 {
                return Err(Error::invalid(
                    &first.label,
                    SPLIT_NO,
                    "open a split set by its first shard (-00001-of-…)",
                ));
            }
            let Some((prefix, _, _)) = parse_shard_path(path) else {
                return Err(Error::invalid(
                    &first.label,
                    SPLIT_COUNT,
                    "the file is a shard of a split set, but its name does not end in -00001-of-NNNNN.gguf",
                ));
            };
            for no in 2..=count {
                let path = shard_path(&prefix, no, count);
                let source = open_source(&path)?;
                let label = path.display().to_string();
                let header = Header::read(source.as_ref(), &label)?;
                parts.push((Shard { label, header }, source));
            }
        }
        Self::from_parts(parts)
    }

    /// A model from in-memory or custom sources: one file, or every shard of a set in any order.
    pub fn from_sources(sources: Vec<(String, Box<dyn ByteSource>)>) -> Result<Self> {
        let mut parts = Vec::with_capacity(sources.len());
        for (label, source) in sources {
            let header = Header::read(source.as_ref(), &label)?;
            parts.push((Shard { label, header }, source));
        }
        Self::from_parts(parts)
    }

    fn from_parts(parts: Vec<(Shard, Box<dyn ByteSource>)>) -> Result<Self> {
        let (shards, sources): (Vec<Shard>, Vec<_>) = parts.into_iter().unzip();
        let (layout, order) = ModelLayout::assemble_indexed(shards)?;
        let mut sources: Vec<Option<Box<dyn ByteSource>>> = sources.into_iter().map(Some).collect();
        let sources = order.iter().map(|&i| sources[i].take().expect("each shard appears once")).collect();
        Ok(GgufModel { layout, sources })
    }

    pub fn layout(&self) -> &ModelLayout {
        &self.layout
    }

    pub fn metadata(&self) -> &Metadata {
        self.layout.metadata()
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorLocation> {
        self.layout.tensor(name)
    }

    /// The raw (still quantized) bytes of a tensor, borrowed when the file is memory-mapped.
    pub fn tensor_bytes(&self, t: &TensorLocation) -> Result<Cow<'_, [u8]>> {
        let source = &self.sources[t.shard];
        let len = t.info.n_bytes() as usize;
        if let Some(all) = source.as_bytes() {
            let start = t.file_offset as usize;
            return Ok(Cow::Borrowed(&all[start..start + len]));
        }
        let mut buf = vec![0u8; len];
        source
            .read_at(t.file_offset, &mut buf)
            .map_err(|k| Error::new(&self.layout.shards()[t.shard].label, &t.info.name, k))?;
        Ok(Cow::Owned(buf))
    }
}

fn open_source(path: &Path) -> Result<Box<dyn ByteSource>> {
    let label = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::new(&label, "open", ErrorKind::Io(e)))?;
    #[cfg(feature = "mmap")]
    {
        // SAFETY: the map is read-only; a model file changed on disk while mapped is outside
        // what this program can guard against, as for every memory-mapping model runtime.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::new(&label, "mmap", ErrorKind::Io(e)))?;
        Ok(Box::new(map))
    }
    #[cfg(all(not(feature = "mmap"), any(unix, windows)))]
    return Ok(Box::new(
        crate::source::FileSource::new(file).map_err(|e| Error::new(&label, "open", ErrorKind::Io(e)))?,
    ));
    #[cfg(all(not(feature = "mmap"), not(any(unix, windows))))]
    Err(Error::new(&label, "open", ErrorKind::Io(std::io::ErrorKind::Unsupported.into())))
}
