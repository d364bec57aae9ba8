// wllama (llama.cpp in wasm, npm @wllama/wllama) on the model selene's page judges with: load
// time, then one greedy chat completion of the same judge prompt, timed by llama.cpp itself.
import { Wllama } from "/wllama/index.js";

window.runBench = async ({ modelUrl, prompt, maxTokens, gpuLayers, context }) => {
  const wllama = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { suppressNativeLog: true });
  const started = performance.now();
  await wllama.loadModelFromUrl(modelUrl, { n_ctx: context, n_gpu_layers: gpuLayers, useCache: false });
  const loadMs = performance.now() - started;
  const response = await wllama.createChatCompletion({
    messages: [{ role: "user", content: prompt }],
    max_tokens: maxTokens,
    temperature: 0,
  });
  const result = {
    load_ms: loadMs,
    timings: response.timings ?? null,
    usage: response.usage ?? null,
    text: response.choices[0].message.content,
    webgpu: wllama.isSupportWebGPU(),
    threads: wllama.getNumThreads(),
    multithread: wllama.isMultithread(),
  };
  await wllama.exit();
  return result;
};
