//! Loading a model from files that can only be read a slice at a time, asynchronously.
//!
//! This is how a browser reads a `File`: it never has the whole model in wasm memory. Each
//! shard's header is parsed from a prefix that grows until it suffices, the shards are checked
//! to form one model, and then every tensor is read, turned into its device buffer and
//! dropped, in file order. Nothing here is browser-specific, so native tests run the same code
//! over files on disk.

use std::collections::HashMap;
use std::future::Future;

use burn::tensor::Device;
use selene_gguf::{Header, ModelLayout, Prefix, Shard};
use selene_model::StreamingLoader;
use selene_runtime::Engine;
use selene_tokenizer::Tokenizer;

use crate::error::{ErrorKind, WebError};

/// First bytes read for a header; a Llama 3 vocabulary makes headers of several MiB, and the
/// prefix doubles until the header fits.
const FIRST_PREFIX: u64 = 4 << 20;

/// One file of a model, read by byte ranges.
pub trait ShardReader {
    /// The file's name, unique within a model.
    fn name(&self) -> String;
    fn len(&self) -> u64;
    /// Bytes `start..end` of the file.
    fn read(&self, start: u64, end: u64) -> impl Future<Output = Result<Vec<u8>, WebError>>;
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Longest prompt plus completion, in tokens (capped by the model's own context length).
    pub context: usize,
    /// Keep Q4_0 and Q8_0 matrices block-quantized on the device.
    pub keep_quantized: bool,
    /// The largest buffer the device can bind (the smaller of WebGPU's
    /// `maxStorageBufferBindingSize` and `maxBufferSize`), when known.
    pub max_buffer: Option<u64>,
}

/// How far loading has come.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub loaded_bytes: u64,
    pub total_bytes: u64,
    /// The tensor just loaded.
    pub tensor: String,
}

/// What was loaded, for display.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// `general.name`, when the file has one.
    pub name: Option<String>,
    /// Bytes of tensor data read.
    pub tensor_bytes: u64,
}

/// Parses every shard's header and checks that the shards form one model. Returns the layout
/// and, for each of its shards (in split order), the index of its reader.
pub async fn read_layout<R: ShardReader>(readers: &[R]) -> Result<(ModelLayout, Vec<usize>), WebError> {
    let mut shards = Vec::with_capacity(readers.len());
    let mut by_name = HashMap::new();
    for (i, reader) in readers.iter().enumerate() {
        let name = reader.name();
        if by_name.insert(name.clone(), i).is_some() {
            return Err(WebError::invalid(format!("{name} was given twice")));
        }
        shards.push(Shard { header: read_header(reader, &name).await?, label: name });
    }
    let layout = ModelLayout::assemble(shards)?;
    let order = layout.shards().iter().map(|s| by_name[&s.label]).collect();
    Ok((layout, order))
}

async fn read_header<R: ShardReader>(reader: &R, name: &str) -> Result<Header, WebError> {
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

/// Loads the model made of `readers` (one GGUF file, or every shard of a split set in any
/// order) onto `device`, calling `progress` after every tensor.
pub async fn load<R: ShardReader>(
    readers: &[R],
    device: &Device,
    options: &LoadOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<(Engine, Summary), WebError> {
    let (layout, order) = read_layout(readers).await?;
    let name = layout.metadata().optional_str("general.name")?.map(str::to_owned);
    let tokenizer = Tokenizer::from_gguf(layout.metadata())?;
    let mut loader = StreamingLoader::new(&layout, device)?.keep_quantized(options.keep_quantized);
    if let Some(limit) = options.max_buffer {
        check_buffer_limit(&loader, limit)?;
    }
    let tensors = loader.tensors().to_vec();
    let mut state = Progress {
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
    let llama = loader.finish(options.context)?;
    let summary = Summary { name, tensor_bytes: state.total_bytes };
    Ok((Engine::new(llama, tokenizer, device.clone())?, summary))
}

/// Every tensor must fit one device buffer; the model's biggest is named when one does not.
fn check_buffer_limit(loader: &StreamingLoader, limit: u64) -> Result<(), WebError> {
    let biggest = loader.tensors().iter().map(|t| (loader.buffer_bytes(t), &t.info.name)).max();
    match biggest {
        Some((bytes, name)) if bytes > limit => Err(WebError::new(
            ErrorKind::LimitsTooSmall,
            format!(
                "this model's tensor {name} needs a GPU buffer of {} MiB, but this browser's WebGPU adapter \
                 allows at most {} MiB per buffer; use a smaller or more strongly quantized model, or a \
                 browser and GPU with higher limits",
                bytes.div_ceil(1 << 20),
                limit >> 20
            ),
        )),
        _ => Ok(()),
    }
}
