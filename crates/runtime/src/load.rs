//! Loading a GGUF model (one file or a split set) into an [`Engine`]: from files on disk, or
//! from files that can only be read a slice at a time and asynchronously, as a browser reads a
//! `File`, never holding the whole model in memory.
//!
//! Either way the shards' headers are checked to form one model, then every tensor the model
//! needs is handed to the model crate's [`StreamingLoader`] in file order, which turns it into
//! what the device holds and lets the bytes go.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use selene_gguf::{GgufModel, Header, ModelLayout, Prefix, Shard};
use selene_kernels::Compute;
use selene_model::{Llama, StreamingLoader};
use selene_tokenizer::Tokenizer;

use crate::device::ChosenDevice;
use crate::engine::{Engine, LoadOptions};
use crate::error::{Result, RuntimeError};

/// First bytes read for a header; a Llama 3 vocabulary makes headers of several MiB, and the
/// prefix doubles until the header fits.
const FIRST_PREFIX: u64 = 4 << 20;

/// One file of a model, read by byte ranges.
pub trait ShardReader {
    /// The file's name, unique within a model.
    fn name(&self) -> String;
    fn len(&self) -> u64;
    /// Bytes `start..end` of the file.
    fn read(&self, start: u64, end: u64) -> impl Future<Output = Result<Vec<u8>>>;
}

/// How far loading has come.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadProgress {
    pub loaded_bytes: u64,
    pub total_bytes: u64,
    /// The tensor just loaded.
    pub tensor: String,
}

/// How to load a model read slice by slice.
#[derive(Clone, Debug)]
pub struct ShardOptions {
    /// Longest prompt plus completion, in tokens (capped by the model's own context length).
    pub context: usize,
    pub compute: Compute,
    /// The largest buffer the device can bind, when known (a browser's WebGPU limits): a model
    /// with a larger tensor is refused before anything is uploaded.
    pub max_buffer: Option<u64>,
}

impl Engine {
    /// Loads a GGUF file (or the first shard of a split set) from disk.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Engine> {
        let device = options.device.open()?;
        let model = GgufModel::open(path)?;
        let tokenizer = match &options.tokenizer_json {
            Some(json) => {
                let read =
                    |p: &Path| std::fs::read(p).map_err(|e| RuntimeError::Invalid(format!("{}: {e}", p.display())));
                let config = json.with_file_name("tokenizer_config.json");
                let config = config.exists().then(|| read(&config)).transpose()?;
                Tokenizer::from_tokenizer_json(&read(json)?, config.as_deref())?
            }
            None => Tokenizer::from_gguf(model.metadata())?,
        };
        let compute = match Compute::of(&device.device) {
            Compute::Host { .. } => Compute::Host { cache: options.cache_type },
            other => other,
        };
        let llama = Llama::from_gguf(&model, options.context, &device.device, compute)?;
        Ok(Engine::new(llama, tokenizer, device)?.named(model_name(model.layout())?))
    }

    /// Loads the model made of `readers` (one GGUF file, or every shard of a split set in any
    /// order) onto `device`, calling `progress` after every tensor.
    pub async fn load_shards<R: ShardReader>(
        readers: &[R],
        device: ChosenDevice,
        options: &ShardOptions,
        mut progress: impl FnMut(&LoadProgress),
    ) -> Result<Engine> {
        let (layout, order) = read_layout(readers).await?;
        let tokenizer = Tokenizer::from_gguf(layout.metadata())?;
        let mut loader = StreamingLoader::new(&layout, &device.device, options.compute)?;
        if let Some(limit) = options.max_buffer {
            check_buffer_limit(&loader, limit)?;
        }
        let tensors = loader.tensors().to_vec();
        let mut state = LoadProgress {
            loaded_bytes: 0,
            total_bytes: tensors.iter().map(|t| t.info.n_bytes()).sum(),
            tensor: String::new(),
        };
        for t in &tensors {
            let bytes = readers[order[t.shard]].read(t.file_offset, t.file_offset + t.info.n_bytes()).await?;
            loader.add(&t.info.name, &bytes)?;
            drop(bytes);
            state.loaded_bytes += t.info.n_bytes();
            state.tensor.clone_from(&t.info.name);
            progress(&state);
        }
        Ok(Engine::new(loader.finish(options.context)?, tokenizer, device)?.named(model_name(&layout)?))
    }
}

fn model_name(layout: &ModelLayout) -> Result<Option<String>> {
    Ok(layout.metadata().optional_str(selene_gguf::keys::general::NAME)?.map(str::to_owned))
}

/// Parses every shard's header and checks that the shards form one model. Returns the layout
/// and, for each of its shards (in split order), the index of its reader.
pub async fn read_layout<R: ShardReader>(readers: &[R]) -> Result<(ModelLayout, Vec<usize>)> {
    let mut shards = Vec::with_capacity(readers.len());
    let mut by_name = HashMap::new();
    for (i, reader) in readers.iter().enumerate() {
        let name = reader.name();
        if by_name.insert(name.clone(), i).is_some() {
            return Err(RuntimeError::Invalid(format!("{name} was given twice")));
        }
        shards.push(Shard { header: read_header(reader, &name).await?, label: name });
    }
    let layout = ModelLayout::assemble(shards)?;
    let order = layout.shards().iter().map(|s| by_name[&s.label]).collect();
    Ok((layout, order))
}

async fn read_header<R: ShardReader>(reader: &R, name: &str) -> Result<Header> {
    let len = reader.len();
    let mut want = FIRST_PREFIX.min(len);
    loop {
        let prefix = reader.read(0, want).await?;
        match Header::read(&Prefix::new(&prefix, len), name) {
            Ok(header) => return Ok(header),
            Err(e) => match e.needs_more_bytes() {
                Some(up_to) if want < len => want = up_to.max(want * 2).min(len),
                _ => return Err(e.into()),
            },
        }
    }
}

/// Every tensor must fit one device buffer; the model's biggest is named when one does not.
fn check_buffer_limit(loader: &StreamingLoader, limit: u64) -> Result<()> {
    let biggest = loader.tensors().iter().map(|t| (loader.buffer_bytes(t), &t.info.name)).max();
    match biggest {
        Some((bytes, name)) if bytes > limit => {
            Err(RuntimeError::BufferTooLarge { tensor: name.clone(), bytes, limit })
        }
        _ => Ok(()),
    }
}
