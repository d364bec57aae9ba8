// wllama (llama.cpp in wasm, npm @wllama/wllama) on the model selene's page judges with: load
// time, then one greedy completion of the very prompt selene's judge reads (chat template, judge
// prompt and prefill, as text), timed by llama.cpp itself. llama.cpp's own log lines about the
// backend are kept, to show where the layers ran.
import { Wllama } from "/wllama/index.js";

window.runBench = async ({ modelUrl, prompt, maxTokens, gpuLayers, threads, context }) => {
  const backendLog = [];
  const keep = (...args) => {
    const line = args.join(" ");
    if (/webgpu|offload|buffer size|n_threads/i.test(line)) backendLog.push(line.trim().slice(0, 200));
  };
  const logger = { debug: keep, log: keep, warn: keep, error: keep };
  const wllama = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { logger });
  const started = performance.now();
  const params = { n_ctx: context, n_gpu_layers: gpuLayers, useCache: false, ...(threads ? { n_threads: threads } : {}) };
  await wllama.loadModelFromUrl(modelUrl, params);
  const loadMs = performance.now() - started;
  const response = await wllama.createCompletion({ prompt, max_tokens: maxTokens, temperature: 0 });
  const result = {
    load_ms: loadMs,
    timings: response.timings ?? null,
    usage: response.usage ?? null,
    text: response.choices[0].text,
    webgpu: wllama.isSupportWebGPU(),
    threads: wllama.getNumThreads(),
    multithread: wllama.isMultithread(),
    backend_log: backendLog,
    // Where llama.cpp put the weights: a WebGPU model buffer, or only the CPU's.
    weights_on: backendLog.some((l) => /WebGPU\w* model buffer size/i.test(l)) ? "WebGPU" : "CPU",
  };
  await wllama.exit();
  return result;
};
