// The Web Worker that owns the GPU, the model and the model cache. The page talks to it with
// messages: {id, op, ...} in, {id, ok, ...} or {id, error: {name, message}} out, plus events
// (progress, token, fatal) in between. Generation runs here, never on the page's thread.

import init, * as selene from "./pkg/selene_web.js";

const CACHE_DIR = "selene-models";
let ready = null;
let model = null;

function post(message) {
  self.postMessage(message);
}

function event(op, fields) {
  post({ op, ...fields });
}

// The GPU device is created inside the wasm module (by wgpu), out of this script's reach. Three
// things need it as it is made:
// - wgpu 30 does not know WebGPU's "subgroups" feature, so it never asks for it, while Burn's
//   matmul tuning also compiles kernels that use subgroup operations; on a device without the
//   feature those fail to compile, and in a browser such a failure loses the device. Asking for
//   the feature wherever the adapter has it lets them compile.
// - those kernels are written for native compilers, which do not prove that every subgroup
//   operation runs in uniform control flow; the browser's does, conservatively (an early return
//   anywhere before one is enough to fail), and refuses them. Its diagnostic is turned off for
//   exactly those shaders, so they run as they run natively (the test compares the tokens).
// - only a GPUDevice says for sure that it was lost or that an allocation failed: those two
//   become the events the page recovers from, instead of whatever error the next GPU call raises.
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (descriptor = {}) {
    const features = new Set(descriptor.requiredFeatures ?? []);
    if (this.features.has("subgroups")) features.add("subgroups");
    const device = await requestDevice.call(this, { ...descriptor, requiredFeatures: [...features] });
    const createShaderModule = device.createShaderModule;
    device.createShaderModule = function (shader) {
      const code = shader.code.includes("enable subgroups;") ? `diagnostic(off, subgroup_uniformity);\n${shader.code}` : shader.code;
      const module = createShaderModule.call(this, { ...shader, code });
      // A shader the browser refuses only shows as "invalid due to a previous error" later on;
      // its compiler's own message goes to the console, for the report.
      module.getCompilationInfo().then((info) => {
        const lines = code.split("\n");
        for (const m of info.messages.filter((m) => m.type === "error")) {
          console.error(`WGSL error in ${shader.label || "a shader"}:${m.lineNum}:${m.linePos}: ${m.message}\n  ${lines[m.lineNum - 1] ?? ""}`);
        }
      });
      return module;
    };
    device.lost.then((info) => {
      if (info.reason !== "destroyed") event("fatal", { name: "DeviceLost", message: `the GPU device was lost: ${info.message || info.reason}` });
    });
    device.addEventListener("uncapturederror", ({ error }) => {
      if (error instanceof GPUOutOfMemoryError) event("fatal", { name: "OutOfMemory", message: `the GPU is out of memory: ${error.message}` });
    });
    return device;
  };
}

async function wasm() {
  if (!ready) {
    ready = init().then(() => {
      selene.onFatal((name, message) => event("fatal", { name, message }));
    });
  }
  return ready;
}

class Failure extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

// ---- the cache: one OPFS folder per model, its shards, and a manifest written last -------------

async function cacheRoot() {
  if (!navigator.storage || !navigator.storage.getDirectory) {
    throw new Failure("Invalid", "this browser has no Origin Private File System, so models cannot be cached");
  }
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(CACHE_DIR, { create: true });
}

// The name a model is cached under: its first file's name without the split suffix.
function modelKey(names) {
  const first = [...names].sort()[0];
  return first.replace(/-\d{5}-of-\d{5}\.gguf$/i, "").replace(/\.gguf$/i, "").replace(/[^\w.-]/g, "_");
}

async function readManifest(dir) {
  try {
    const file = await (await dir.getFileHandle("manifest.json")).getFile();
    return JSON.parse(await file.text());
  } catch {
    return null;
  }
}

// The cached files of a model, when every one is there at its recorded size.
async function cachedFiles(key) {
  const root = await cacheRoot();
  let dir;
  try {
    dir = await root.getDirectoryHandle(key);
  } catch {
    return null;
  }
  const manifest = await readManifest(dir);
  if (!manifest) return null;
  const files = [];
  for (const { name, size } of manifest.files) {
    try {
      const file = await (await dir.getFileHandle(name)).getFile();
      if (file.size !== size) return null;
      files.push(file);
    } catch {
      return null;
    }
  }
  return files;
}

async function listCache() {
  const root = await cacheRoot();
  const models = [];
  for await (const [key, handle] of root.entries()) {
    if (handle.kind !== "directory") continue;
    const manifest = await readManifest(handle);
    if (manifest) {
      models.push({ key, files: manifest.files, bytes: manifest.files.reduce((n, f) => n + f.size, 0), source: manifest.source });
    }
  }
  const estimate = navigator.storage.estimate ? await navigator.storage.estimate() : {};
  return { models, usage: estimate.usage ?? null, quota: estimate.quota ?? null };
}

async function clearCache(key) {
  const root = await navigator.storage.getDirectory();
  if (key) {
    const dir = await root.getDirectoryHandle(CACHE_DIR, { create: true });
    await dir.removeEntry(key, { recursive: true }).catch(() => {});
  } else {
    await root.removeEntry(CACHE_DIR, { recursive: true }).catch(() => {});
  }
}

// Streams `source` (a ReadableStream) into the cache file `name` of folder `dir`, counting bytes.
async function streamInto(dir, name, source, counted) {
  const handle = await dir.getFileHandle(name, { create: true });
  const writable = await handle.createWritable();
  const counter = new TransformStream({
    transform(chunk, controller) {
      counted(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
  await source.pipeThrough(counter).pipeTo(writable);
  return handle.getFile();
}

// Copies a model's files into the cache, one shard at a time, and returns the cached Files.
// `open(i)` gives the i-th file's {name, size, stream}.
async function storeModel(key, entries, source, phase) {
  const root = await cacheRoot();
  await root.removeEntry(key, { recursive: true }).catch(() => {});
  const dir = await root.getDirectoryHandle(key, { create: true });
  const total = entries.reduce((n, e) => n + (e.size ?? 0), 0);
  let done = 0;
  const files = [];
  for (const entry of entries) {
    const { stream, size } = await entry.open();
    const file = await streamInto(dir, entry.name, stream, (n) => {
      done += n;
      event("progress", { phase, loaded: done, total, detail: entry.name });
    });
    if (size != null && file.size !== size) {
      throw new Failure("Invalid", `${entry.name}: stored ${file.size} bytes of ${size}; the disk may be full`);
    }
    files.push(file);
  }
  const manifest = { source, files: files.map((f) => ({ name: f.name, size: f.size })) };
  const writable = await (await dir.getFileHandle("manifest.json", { create: true })).createWritable();
  await writable.write(JSON.stringify(manifest));
  await writable.close();
  return files;
}

// ---- model sources -------------------------------------------------------------------------------

// `name-00001-of-00003.gguf` stands for every shard of its set.
function expandUrls(urls) {
  const out = [];
  for (const url of urls) {
    const m = url.match(/^(.*-)(\d{5})-of-(\d{5})(\.gguf(?:\?.*)?)$/i);
    if (m && Number(m[2]) === 1 && urls.length === 1) {
      const n = Number(m[3]);
      for (let i = 1; i <= n; i++) out.push(`${m[1]}${String(i).padStart(5, "0")}-of-${m[3]}${m[4]}`);
    } else {
      out.push(url);
    }
  }
  return out;
}

function urlName(url) {
  return decodeURIComponent(new URL(url, self.location.href).pathname.split("/").pop());
}

async function fetchOk(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Failure("Invalid", `could not fetch ${url} (${e.message}); only files from this page's own origin can be loaded`);
  }
  if (!response.ok) throw new Failure("Invalid", `${url}: HTTP ${response.status}`);
  return response;
}

// The Files of a model: from the cache when it holds them, else fetched (into the cache when
// `cache`, else into memory-backed blobs) or copied from the user's files.
async function modelFiles(source, cache) {
  if (source.cached) {
    const files = await cachedFiles(source.cached);
    if (!files) throw new Failure("Invalid", `${source.cached} is not (or no longer completely) in the cache`);
    return { files, from: "cache" };
  }
  if (source.urls) {
    const urls = expandUrls(source.urls);
    const key = modelKey(urls.map(urlName));
    const hit = await cachedFiles(key);
    if (hit) return { files: hit, from: "cache" };
    if (cache) {
      const entries = urls.map((url) => ({
        name: urlName(url),
        open: async () => {
          const response = await fetchOk(url);
          const size = response.headers.get("content-length");
          return { stream: response.body, size: size == null ? null : Number(size) };
        },
      }));
      return { files: await storeModel(key, entries, urls, "download"), from: "network" };
    }
    const files = [];
    for (const url of urls) {
      const blob = await (await fetchOk(url)).blob();
      files.push(new File([blob], urlName(url)));
      event("progress", { phase: "download", loaded: files.length, total: urls.length, detail: urlName(url) });
    }
    return { files, from: "network" };
  }
  const files = source.files;
  if (!cache) return { files, from: "files" };
  const key = modelKey(files.map((f) => f.name));
  const entries = files.map((f) => ({ name: f.name, size: f.size, open: async () => ({ stream: f.stream(), size: f.size }) }));
  return { files: await storeModel(key, entries, files.map((f) => f.name), "cache"), from: "files" };
}

// ---- operations ------------------------------------------------------------------------------------

async function adapter() {
  if (!navigator.gpu) {
    throw new Failure("NoWebGpu", "this browser has no WebGPU (navigator.gpu is missing); use a recent Chrome, Edge or another browser with WebGPU enabled");
  }
  await wasm();
  return JSON.parse(await selene.adapter());
}

async function load({ source, cache, context, keepQuantized }) {
  const gpu = await adapter();
  if (model) {
    model.free();
    model = null;
  }
  const started = performance.now();
  const { files, from } = await modelFiles(source, cache);
  const fetched = performance.now();
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const options = JSON.stringify({ context, keep_quantized: keepQuantized !== false });
  model = await selene.Model.load(files, options, (loaded, total, tensor) =>
    event("progress", { phase: "load", loaded, total, detail: tensor }),
  );
  const done = performance.now();
  return {
    info: JSON.parse(model.info()),
    adapter: gpu,
    from,
    files: files.map((f) => ({ name: f.name, size: f.size })),
    bytes,
    timing: { files_ms: fetched - started, load_ms: done - fetched, total_ms: done - started },
  };
}

async function judge({ item, options }) {
  if (!model) throw new Failure("Invalid", "load a model first");
  const tokens = { original: [], swapped: [] };
  const times = { original: [], swapped: [] };
  const started = performance.now();
  const report = JSON.parse(
    await model.judge(JSON.stringify(item), JSON.stringify(options ?? {}), (run, text, token) => {
      tokens[run].push(token);
      times[run].push(performance.now());
      event("token", { run, text, token });
    }),
  );
  const finished = performance.now();
  // Prefill ends with the first token; every later token is one decode step.
  const timing = { total_ms: finished - started, runs: {} };
  let runStart = started;
  for (const [run, judgment] of [["original", report.judgment], ["swapped", report.swapped]]) {
    const t = times[run];
    if (!judgment || t.length === 0) continue;
    const prefillMs = t[0] - runStart;
    const decodeMs = t[t.length - 1] - t[0];
    timing.runs[run] = {
      prompt_tokens: judgment.prompt_tokens,
      generated_tokens: t.length,
      prefill_ms: prefillMs,
      decode_ms: decodeMs,
      prefill_tok_s: (judgment.prompt_tokens / prefillMs) * 1000,
      decode_tok_s: t.length > 1 ? ((t.length - 1) / decodeMs) * 1000 : null,
    };
    runStart = t[t.length - 1];
  }
  return { report, tokens, timing };
}

const ops = {
  adapter,
  load,
  judge,
  cancel: async () => model?.cancel(),
  unload: async () => {
    model?.free();
    model = null;
  },
  listCache,
  clearCache: async ({ key }) => clearCache(key),
  readBatch: async ({ name, text }) => {
    await wasm();
    return JSON.parse(selene.readBatch(name, text));
  },
  formats: async () => {
    await wasm();
    return selene.formats();
  },
};

self.onmessage = async ({ data }) => {
  const { id, op } = data;
  try {
    const result = await ops[op](data);
    post({ id, ok: true, result });
  } catch (e) {
    const name = e && e.name ? e.name : "Error";
    const message = e && e.message ? e.message : String(e);
    post({ id, ok: false, error: { name, message } });
  }
};
