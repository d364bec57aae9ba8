// The benchmark beside selene's page: wllama (llama.cpp compiled to wasm, npm @wllama/wllama)
// runs the same split GGUF in the same headless Chromium, on the same prompts (the absolute and
// the pairwise example, as the token text selene's judge reads), greedy, for as many tokens.
// Reads selene's numbers from the browser test's results, adds wllama's, and writes the table of
// both with their ratios (SELENE_TABLE, Markdown).
//
// Environment as for browser.test.mjs: SELENE_MODELS, SELENE_NATIVE, SELENE_OPTIONS,
// SELENE_RESULTS (read and rewritten), and SELENE_TABLE.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { launch, serve } from "./harness.mjs";

const models = resolve(process.env.SELENE_MODELS);
const native = (task) => JSON.parse(readFileSync(join(resolve(process.env.SELENE_NATIVE), `${task}.json`), "utf8"));
const options = JSON.parse(process.env.SELENE_OPTIONS);
const resultsPath = resolve(process.env.SELENE_RESULTS);
const tablePath = resolve(process.env.SELENE_TABLE);
const results = JSON.parse(readFileSync(resultsPath, "utf8"));
const shards = readdirSync(models).filter((f) => f.endsWith(".gguf")).sort();
const here = import.meta.dirname;
const TASKS = ["absolute", "pairwise"];
// wllama as it comes (every layer offered to WebGPU, its own choice of threads), then its CPU
// path on every core. llama.cpp's WebGPU backend needs shader-f16, which SwiftShader lacks, so
// where the first finds no usable device it runs on the CPU too; `weights_on` records which.
const CONFIGS = [
  { name: "WebGPU requested", gpuLayers: 999 },
  { name: `CPU, ${cpus().length} threads`, gpuLayers: 0, threads: cpus().length },
];

// Cross-origin isolation would let wllama use threads where its build has them.
const server = await serve(
  { "/bench": join(here, "wllama"), "/wllama": join(here, "node_modules/@wllama/wllama/esm"), "/models": models },
  { headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } },
);
const browser = await launch();
const page = browser.page;
const ready = async () => {
  await page.goto(`${server.origin}/bench/index.html`);
  await page.waitForFunction(() => typeof window.runBench === "function");
};
const wllama = {};
try {
  await ready();
  for (const config of CONFIGS) {
    for (const task of TASKS) {
      const key = `${config.name}/${task}`;
      const prompt = native(task).prompt;
      try {
        const run = await page.evaluate((args) => window.runBench(args), {
          modelUrl: `/models/${shards[0]}`,
          prompt: prompt.text,
          maxTokens: options.max_tokens,
          gpuLayers: config.gpuLayers,
          threads: config.threads,
          context: 2048,
        });
        run.same_prompt_length = run.timings?.prompt_n === prompt.ids.length;
        wllama[key] = run;
        console.log(`[wllama] ${key}: ${JSON.stringify({ ...run, text: undefined })}`);
      } catch (e) {
        wllama[key] = { error: e.message.split("\n")[0] };
        console.log(`[wllama] ${key} failed: ${wllama[key].error}`);
        await ready();
      }
    }
  }
} finally {
  await browser.close();
  await server.close();
}

const ratio = (a, b) => (a && b ? a / b : null);
const fixed = (x, digits = 1) => (x == null ? "—" : x.toFixed(digits));
const comparison = [];
for (const task of TASKS) {
  const selene = results[task]?.timing?.runs?.original;
  for (const config of CONFIGS) {
    const w = wllama[`${config.name}/${task}`];
    if (!selene || !w?.timings) continue;
    comparison.push({
      task,
      wllama: { setting: config.name, weights_on: w.weights_on, threads: w.threads },
      prompt_tokens: { selene: selene.prompt_tokens, wllama: w.timings.prompt_n },
      generated_tokens: { selene: selene.generated_tokens, wllama: w.timings.predicted_n },
      load_s: { selene: results.first_load.total_ms / 1000, wllama: w.load_ms / 1000 },
      prefill_tok_s: { selene: selene.prefill_tok_s, wllama: w.timings.prompt_per_second },
      decode_tok_s: { selene: selene.decode_tok_s, wllama: w.timings.predicted_per_second },
      selene_over_wllama: {
        load_speed: ratio(w.load_ms, results.first_load.total_ms),
        prefill: ratio(selene.prefill_tok_s, w.timings.prompt_per_second),
        decode: ratio(selene.decode_tok_s, w.timings.predicted_per_second),
      },
    });
  }
}
results.wllama = wllama;
results.comparison = comparison;
writeFileSync(resultsPath, JSON.stringify(results, null, 2));

const a = results.adapter ?? {};
const rows = comparison.map((c) =>
  `| ${c.task} | ${c.wllama.setting} | ${c.wllama.weights_on}, ${c.wllama.threads} thread(s) | ${c.prompt_tokens.selene} / ${c.prompt_tokens.wllama} | ` +
  `${fixed(c.load_s.selene)} / ${fixed(c.load_s.wllama)} | ${fixed(c.selene_over_wllama.load_speed, 2)} | ` +
  `${fixed(c.prefill_tok_s.selene)} / ${fixed(c.prefill_tok_s.wllama)} | ${fixed(c.selene_over_wllama.prefill, 2)} | ` +
  `${fixed(c.decode_tok_s.selene)} / ${fixed(c.decode_tok_s.wllama)} | ${fixed(c.selene_over_wllama.decode, 2)} |`);
const failed = Object.entries(wllama).filter(([, w]) => w.error).map(([k, w]) => `- wllama ${k} failed: ${w.error}`);
const backendNotes = CONFIGS.map((config) => {
  const w = wllama[`${config.name}/${TASKS[0]}`];
  const lines = w?.backend_log?.slice(0, 4).map((l) => `\`${l}\``).join("; ");
  return w && !w.error ? `- wllama "${config.name}" (n_gpu_layers ${config.gpuLayers}), llama.cpp's log: ${lines || "(nothing about its backend)"}` : null;
}).filter(Boolean);
writeFileSync(tablePath, `# selene's page beside wllama, in the same browser

Written by \`scripts/browser-test.sh\` (\`web/tests/wllama.bench.mjs\`); do not edit by hand.

- Model: SmolLM2-135M-Instruct Q4_1 (the demo model) cut into ${results.shards} shards of at most 32 MiB; both
  runtimes load the same shards from the same local server.
- Browser: headless Debian Chromium ${results.chromium ?? ""}, WebGPU adapter ${a.vendor ?? "?"} ${a.architecture ?? ""} (${a.name || "no name"}; shader-f16 ${a.shader_f16 ? "yes" : "no"}), on ${cpus().length} CPU cores (${cpus()[0]?.model ?? "?"}), shared with other work.
- selene: the judge on the page, greedy, options \`${JSON.stringify(options)}\`; prefill is the time to the first
  token over the prompt's tokens, decode the later tokens over their time; load is from clicking Load to the
  model being ready (fetching the shards into the browser's storage and streaming them onto the GPU).
  The Q4_1 weights stay in their ggml blocks on the GPU and are multiplied there by selene's kernels (WGSL).
- wllama ${JSON.parse(readFileSync(join(here, "node_modules/@wllama/wllama/package.json"), "utf8")).version}: \`createCompletion\` of the same prompt text (chat template, judge prompt and prefill, as
  selene's tokenizer decodes it), temperature 0, the same number of tokens, timed by llama.cpp; load is
  \`loadModelFromUrl\` without its cache.
${backendNotes.join("\n")}

Each pair is selene / wllama; a ratio above 1 means selene is faster.

| item | wllama setting | wllama ran on | prompt tokens | load s | load speed ratio | prefill tok/s | prefill ratio | decode tok/s | decode ratio |
|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
${failed.length ? `\n${failed.join("\n")}\n` : ""}
selene's cached load (the second visit, offline): ${fixed((results.cached_load?.total_ms ?? NaN) / 1000)} s.
`);
console.log(`[wllama] ${JSON.stringify(comparison, null, 2)}`);
console.log(`[wllama] table written to ${tablePath}`);
