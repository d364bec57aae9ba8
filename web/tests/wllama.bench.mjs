// The benchmark beside selene's: wllama (llama.cpp compiled to wasm, npm @wllama/wllama) runs
// the same split GGUF in the same headless Chromium, on the absolute example's judge prompt, as
// a greedy chat completion of the same length. Reads selene's numbers from the browser test's
// results and adds wllama's and the ratios.
//
// Environment as for browser.test.mjs: SELENE_MODELS, SELENE_NATIVE, SELENE_OPTIONS,
// SELENE_RESULTS (read and rewritten).

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";

const models = resolve(process.env.SELENE_MODELS);
const native = JSON.parse(readFileSync(join(resolve(process.env.SELENE_NATIVE), "absolute.json"), "utf8"));
const options = JSON.parse(process.env.SELENE_OPTIONS);
const resultsPath = resolve(process.env.SELENE_RESULTS);
const results = JSON.parse(readFileSync(resultsPath, "utf8"));
const shards = readdirSync(models).filter((f) => f.endsWith(".gguf")).sort();
const here = import.meta.dirname;

// Cross-origin isolation lets wllama use its threads.
const server = await serve(
  { "/bench": join(here, "wllama"), "/wllama": join(here, "node_modules/@wllama/wllama/esm"), "/models": models },
  { csp: null, headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } },
);
const profile = mkdtempSync(join(tmpdir(), "selene-wllama-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.SELENE_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--enable-unsafe-webgpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = context.pages()[0] ?? (await context.newPage());
const log = [];
page.on("console", (m) => log.push(m.text()));
const wllama = {};
try {
  await page.goto(`${server.origin}/bench/index.html`);
  await page.waitForFunction(() => typeof window.runBench === "function");
  // WebGPU first (all layers offloaded), then the CPU build; either may be what this browser can run.
  for (const [name, gpuLayers] of [["webgpu", 999], ["cpu", 0]]) {
    try {
      wllama[name] = await page.evaluate((args) => window.runBench(args), {
        modelUrl: `/models/${shards[0]}`,
        prompt: native.prompt,
        maxTokens: options.max_tokens,
        gpuLayers,
        context: 2048,
      });
      console.log(`[wllama] ${name}: ${JSON.stringify({ ...wllama[name], text: undefined })}`);
    } catch (e) {
      wllama[name] = { error: e.message.split("\n")[0] };
      console.log(`[wllama] ${name} failed: ${wllama[name].error}`);
      await page.reload();
      await page.waitForFunction(() => typeof window.runBench === "function");
    }
  }
} finally {
  await context.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}

const selene = results.absolute?.timing?.runs?.original;
const ratio = (a, b) => (a && b ? a / b : null);
results.wllama = wllama;
results.comparison = Object.fromEntries(
  Object.entries(wllama)
    .filter(([, w]) => w.timings)
    .map(([name, w]) => [
      name,
      {
        load_s: { selene: results.first_load.total_ms / 1000, wllama: w.load_ms / 1000 },
        prefill_tok_s: { selene: selene?.prefill_tok_s, wllama: w.timings.prompt_per_second },
        decode_tok_s: { selene: selene?.decode_tok_s, wllama: w.timings.predicted_per_second },
        selene_over_wllama: {
          prefill: ratio(selene?.prefill_tok_s, w.timings.prompt_per_second),
          decode: ratio(selene?.decode_tok_s, w.timings.predicted_per_second),
          load_time: ratio(results.first_load.total_ms, w.load_ms),
        },
      },
    ]),
);
writeFileSync(resultsPath, JSON.stringify(results, null, 2));
console.log(`[wllama] ${JSON.stringify(results.comparison, null, 2)}`);
