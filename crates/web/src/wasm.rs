//! The JavaScript API, for a Web Worker (`web/worker.js`): it owns the GPU device and one model,
//! and every call that touches the GPU returns a promise, because a browser can only read GPU
//! results back asynchronously.
//!
//! Failures reject with an `Error` whose `name` is an [`ErrorKind`] name (`NoWebGpu`,
//! `LimitsTooSmall`, `OutOfMemory`, `DeviceLost`, `Invalid`, `Error`). A panic aborts the wasm
//! instance; the handler given to `onFatal` hears why first, with the same kind names, so that
//! the page can start a fresh worker and load the model again.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Array, Function, Promise, Uint8Array};
use selene_judge::JudgeItem;
use selene_runtime::{
    ChosenDevice, Compute, Engine, Flow, LoadProgress, Run, RuntimeError, ShardOptions, ShardReader, judge_async,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::File;

use crate::error::{ErrorKind, WebError};
use crate::items::read_batch;
use crate::request::JudgeRequest;

thread_local! {
    static FATAL: RefCell<Option<Function>> = const { RefCell::new(None) };
    static GPU: RefCell<Option<Rc<Gpu>>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
fn start() {
    selene_runtime::tune_briefly();
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        web_sys::console::error_1(&message.as_str().into());
        FATAL.with(|f| {
            if let Some(f) = f.borrow().as_ref() {
                let _ = f.call2(&JsValue::NULL, &ErrorKind::of_message(&message).name().into(), &message.into());
            }
        });
    }));
}

/// Calls `handler(kind, message)` when the instance panics (and is about to abort).
#[wasm_bindgen(js_name = onFatal)]
pub fn on_fatal(handler: Function) {
    FATAL.with(|f| *f.borrow_mut() = Some(handler));
}

fn to_js(e: WebError) -> JsValue {
    let error = js_sys::Error::new(&e.message);
    error.set_name(e.kind.name());
    error.into()
}

/// The WebGPU device, acquired once per worker (a runtime cannot be set up twice).
struct Gpu {
    device: Device,
    max_buffer: u64,
    summary: String,
}

async fn gpu() -> Result<Rc<Gpu>, WebError> {
    if let Some(gpu) = GPU.with(|g| g.borrow().clone()) {
        return Ok(gpu);
    }
    let (device, setup) = Device::wgpu_options().init_with_setup_async().await.map_err(|e| {
        WebError::new(
            ErrorKind::NoWebGpu,
            format!("this browser offers no usable WebGPU adapter ({e}); selene needs a browser with WebGPU enabled"),
        )
    })?;
    let limits = setup.device.limits();
    let max_buffer = u64::from(limits.max_storage_buffer_binding_size).min(u64::from(limits.max_buffer_size));
    let info = setup.adapter.get_info();
    let summary = serde_json::json!({
        "name": info.name,
        "vendor": info.vendor,
        "architecture": info.driver,
        "backend": format!("{:?}", info.backend),
        "max_storage_buffer_binding_size": u64::from(limits.max_storage_buffer_binding_size),
        "max_buffer_size": u64::from(limits.max_buffer_size),
        "shader_f16": setup.device.features().contains(burn::tensor::wgpu::wgpu::Features::SHADER_F16),
        "fallback": info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu,
        "schedule": format!("{:?}", Compute::of(&device).schedule()),
    })
    .to_string();
    let gpu = Rc::new(Gpu { device, max_buffer, summary });
    GPU.with(|g| *g.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

/// Acquires the GPU and describes it as JSON: adapter name, backend and the buffer limits.
#[wasm_bindgen]
pub async fn adapter() -> Result<String, JsValue> {
    gpu().await.map(|g| g.summary.clone()).map_err(to_js)
}

/// The items of a batch file (JSON Lines, or CSV when `name` ends in `.csv`), as a JSON array
/// of `{"key", "item"}` or, for a line that is not an item, `{"key", "error"}`.
#[wasm_bindgen(js_name = readBatch)]
pub fn read_batch_js(name: &str, text: &str) -> Result<String, JsValue> {
    let entries = read_batch(name, text).map_err(to_js)?;
    serde_json::to_string(&entries).map_err(|e| to_js(WebError::invalid(e.to_string())))
}

/// The names of the built-in prompt templates (`format` in the judge options).
#[wasm_bindgen]
pub fn formats() -> Vec<String> {
    selene_judge::BuiltinTemplate::all().iter().map(|b| b.name().to_owned()).collect()
}

struct FileShard(File);

impl ShardReader for FileShard {
    fn name(&self) -> String {
        self.0.name()
    }

    fn len(&self) -> u64 {
        self.0.size() as u64
    }

    async fn read(&self, start: u64, end: u64) -> Result<Vec<u8>, RuntimeError> {
        let fail = |e: JsValue| RuntimeError::Invalid(format!("could not read {}: {e:?}", self.0.name()));
        let slice = self.0.slice_with_f64_and_f64(start as f64, end as f64).map_err(fail)?;
        let buffer = JsFuture::from(slice.array_buffer()).await.map_err(fail)?;
        Ok(Uint8Array::new(&buffer).to_vec())
    }
}

/// `{"context": 2048, "keep_quantized": true}`, both optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelOptions {
    context: Option<usize>,
    /// Keep matrices in their GGUF blocks on the GPU (the default); `false` expands them to f32,
    /// four to eight times the memory, and runs no kernels of selene's, for adapters where they
    /// fail.
    keep_quantized: Option<bool>,
}

/// A model on the GPU, with its tokenizer.
#[wasm_bindgen]
pub struct Model {
    engine: Rc<Engine>,
    cancelled: Rc<Cell<bool>>,
    info: String,
}

#[wasm_bindgen]
impl Model {
    /// Loads a model from its GGUF `files` (an array of `File`: one file, or every shard of a
    /// split set in any order), reading one tensor at a time. `options` is JSON
    /// (`{"context": 2048, "keep_quantized": true}`); `on_progress(loaded_bytes, total_bytes,
    /// tensor)` follows the load.
    pub async fn load(files: Array, options: String, on_progress: Function) -> Result<Model, JsValue> {
        let options: ModelOptions =
            serde_json::from_str(&options).map_err(|e| to_js(WebError::invalid(format!("model options: {e}"))))?;
        let mut shards = Vec::with_capacity(files.length() as usize);
        for file in files.iter() {
            let file = file.dyn_into::<File>().map_err(|_| to_js(WebError::invalid("expected File objects")))?;
            shards.push(FileShard(file));
        }
        let gpu = gpu().await.map_err(to_js)?;
        let load_options = ShardOptions {
            context: options.context.unwrap_or(2048),
            compute: match options.keep_quantized.unwrap_or(true) {
                true => Compute::of(&gpu.device),
                false => Compute::Tensors,
            },
            max_buffer: Some(gpu.max_buffer),
        };
        let device = ChosenDevice { device: gpu.device.clone(), name: "webgpu".into(), reason: None };
        let mut tensor_bytes = 0;
        let engine = Engine::load_shards(&shards, device, &load_options, |p: &LoadProgress| {
            tensor_bytes = p.total_bytes;
            let _ = on_progress.call3(
                &JsValue::NULL,
                &JsValue::from_f64(p.loaded_bytes as f64),
                &JsValue::from_f64(p.total_bytes as f64),
                &p.tensor.as_str().into(),
            );
        })
        .await
        .map_err(|e| to_js(e.into()))?;
        let config = engine.model().config();
        let info = serde_json::json!({
            "name": engine.name(),
            "files": shards.len(),
            "bytes": tensor_bytes,
            "layers": config.num_layers,
            "hidden_size": config.hidden_size,
            "vocab_size": config.vocab_size,
            "context": engine.context(),
            "adapter": serde_json::from_str::<serde_json::Value>(&gpu.summary).unwrap_or_default(),
        })
        .to_string();
        Ok(Model { engine: Rc::new(engine), cancelled: Rc::new(Cell::new(false)), info })
    }

    /// The model and the GPU it runs on, as JSON.
    pub fn info(&self) -> String {
        self.info.clone()
    }

    /// Judges one item (the JSON `selene judge --item` reads) with `options` (JSON:
    /// `{"max_tokens", "swap", "format"}`, all optional), calling `on_token(run, text, id)` for
    /// every generated token, where `run` is `"original"` or `"swapped"`. Resolves to the
    /// report `selene judge --json` prints.
    pub fn judge(&self, item: String, options: String, on_token: Function) -> Promise {
        let engine = self.engine.clone();
        let cancelled = self.cancelled.clone();
        cancelled.set(false);
        future_to_promise(async move {
            let item: JudgeItem =
                serde_json::from_str(&item).map_err(|e| to_js(WebError::invalid(format!("item: {e}"))))?;
            let options = JudgeRequest::parse(&options).and_then(|r| r.options()).map_err(to_js)?;
            let report = judge_async(&engine, &item, &options, |run, token| {
                let run = if run == Run::Original { "original" } else { "swapped" };
                let _ = on_token.call3(
                    &JsValue::NULL,
                    &run.into(),
                    &token.text.as_str().into(),
                    &token.choice.token.into(),
                );
                if cancelled.get() { Flow::Stop } else { Flow::Continue }
            })
            .await
            .map_err(|e| to_js(e.into()))?;
            let json = serde_json::to_string(&report).map_err(|e| to_js(WebError::invalid(e.to_string())))?;
            Ok(json.into())
        })
    }

    /// Stops the judgment under way after its current token; it resolves with what it has,
    /// its `stop` saying `cancelled`.
    pub fn cancel(&self) {
        self.cancelled.set(true);
    }
}
