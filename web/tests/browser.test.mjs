// selene's page in headless Chromium with WebGPU (SwiftShader on a machine without a GPU), served
// by a plain static server (no security headers: the page's own <meta> policy must suffice):
// - a request to another origin, from the page or from its worker, is refused before it is sent;
// - the demo model's shards load from the page's site; an absolute and a pairwise item are judged
//   through the form, the page shows the parsed verdicts, and the greedy tokens equal the native
//   runtime's for the same item and options; a screenshot is written;
// - the GPU process is crashed: the page says the device was lost, offers to load the model
//   again, and loads it again from the cache;
// - a second visit, with the network cut off, loads the model from the browser's cache (OPFS);
// - the model loads from the person's files, a batch is judged and downloaded, the cache cleared;
// - no request was made for anything but the page's own files and the model files;
// - a browser without WebGPU gets the page's message saying so.
//
// Run by scripts/browser-test.sh, which builds the page, splits the model and runs the native
// judge first; the environment names what they produced:
//   SELENE_DIST      the built page (dist/)
//   SELENE_MODELS    a folder with the model's split set
//   SELENE_NATIVE    a folder with absolute.json and pairwise.json from the native_judge example
//   SELENE_OPTIONS   the judge options both sides used (JSON)
//   SELENE_SHOT      where to write the screenshot
//   SELENE_RESULTS   where to write the measurements (JSON)
//   SELENE_JUDGE_TIMEOUT_S  how long one judgment may take (default an hour: SwiftShader)

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { launch, serve } from "./harness.mjs";

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

const shards = readdirSync(models).filter((f) => f.endsWith(".gguf")).sort();
assert.ok(shards.length > 1, `expected a split set in ${models}`);
const firstShard = `models/${shards[0]}`;
const nativeRun = (task) => JSON.parse(readFileSync(join(native, `${task}.json`), "utf8"));

// SwiftShader computes on the CPU: one judgment of the demo model takes minutes there.
const judgeTimeout = Number(process.env.SELENE_JUDGE_TIMEOUT_S ?? 3600) * 1000;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const step = (what) => console.log(`[browser-test ${elapsed()}] ${what}`);

const site = await serve({ "/": dist, "/models": models });
// Another origin holding the same files: only the page's policy can keep requests from reaching it.
const elsewhere = await serve({ "/models": models });
const profile = mkdtempSync(join(tmpdir(), "selene-profile-"));

// Every request the browser makes, from the page and from its worker, whatever its origin and
// whether or not it is let through. The worker's own blob: URL is the page's memory, not a request.
const requests = [];
let phase = "start";
let offline = false;
const consoleLines = [];

// One visit: Chromium on the test's profile, so that a later visit finds what an earlier one cached.
async function visit() {
  const browser = await launch({ profile, viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const { context, page } = browser;
  context.on("request", (request) => {
    if (!request.url().startsWith(`blob:${site.origin}/`)) requests.push({ url: request.url(), phase });
  });
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (offline) return route.abort("internetdisconnected");
    if (url.origin === elsewhere.origin) return route.continue();
    if (url.origin !== site.origin) return route.abort("blockedbyclient");
    return route.continue();
  });
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("worker", (w) => w.on("console", (m) => consoleLines.push(`worker ${m.type()}: ${m.text()}`)));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  return browser;
}

let browser = await visit();
let page = browser.page;

const results = { shards: shards.length, shard_bytes: shards.map((s) => readFileSync(join(models, s)).length), options };

const errors = () => page.evaluate(() => window.selene.errors);
const forgetErrors = () => page.evaluate(() => (window.selene.errors = []));

async function open() {
  await page.goto(`${site.origin}/`);
  await page.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
  assert.deepEqual(await errors(), [], "the page reported a problem on start");
}

// Waits for the load under way: its result, or the problem the page showed.
async function loaded() {
  await page.waitForFunction(
    () => document.body.dataset.model === "ready" || window.selene.errors.length > 0,
    null,
    { timeout: 900_000, polling: 500 },
  );
  const { errors, lastLoad } = await page.evaluate(() => ({ errors: window.selene.errors, lastLoad: window.selene.lastLoad }));
  assert.deepEqual(errors, [], "loading the model failed");
  return lastLoad;
}

async function loadUrl(url) {
  await page.evaluate(() => delete document.body.dataset.model);
  await page.fill("#model-url", url);
  await page.click("#load-url");
}

async function judge(task, maxTokens = options.max_tokens) {
  await page.selectOption("#task", task);
  await page.fill("#max-tokens", String(maxTokens));
  await page.fill("#prefill", options.prefill ?? "");
  if (task === "pairwise") await page.setChecked("#swap", Boolean(options.swap));
  await page.evaluate(() => (window.selene.last = null));
  await page.click("#judge");
  // A software adapter takes minutes per judgment: say how far it got, once a minute.
  const progress = setInterval(async () => {
    const stats = await page.textContent("#judge-stats").catch(() => "?");
    const written = await page.textContent("#reasoning").catch(() => "");
    step(`judging the ${task} item: ${stats} ${JSON.stringify(written.slice(-60))}`);
  }, 60_000);
  await page
    .waitForFunction(() => window.selene.last || window.selene.errors.length > 0, null, {
      timeout: judgeTimeout,
      polling: 500,
    })
    .finally(() => clearInterval(progress));
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
  step(`serving ${dist} and ${shards.length} shards at ${site.origin}; the same shards at ${elsewhere.origin}`);
  phase = "first visit";
  await open();
  const adapter = await page.evaluate(() => window.selene.adapter);
  step(`adapter: ${JSON.stringify(adapter)}`);
  results.adapter = adapter;
  results.chromium = browser.context.browser().version();

  // The policy refuses another origin before a request is made: from the page, and from the
  // worker (which fetches model URLs), although the other server would answer.
  const fromPage = await page.evaluate(
    (url) => fetch(url).then(() => "sent", (e) => `refused: ${e.message}`),
    `${elsewhere.origin}/${firstShard}?text=secret`,
  );
  assert.match(fromPage, /^refused/, "the page reached another origin");
  await loadUrl(`${elsewhere.origin}/${firstShard}`);
  await page.waitForFunction(() => window.selene.errors.length > 0, null, { timeout: 60_000 });
  const [refused] = await errors();
  assert.equal(refused.name, "Invalid");
  assert.match(refused.message, /could not fetch .*only files from this page's own origin/);
  assert.deepEqual(elsewhere.log, [], "a request reached the other origin");
  step(`another origin is refused from the page and from the worker: ${refused.message}`);
  await forgetErrors();

  step(`loading ${firstShard} (all ${shards.length} shards) from the page's site`);
  await loadUrl(firstShard);
  const first = await loaded();
  assert.equal(first.from, "network");
  assert.equal(first.files.length, shards.length);
  step(`loaded in ${(first.timing.total_ms / 1000).toFixed(1)} s: ${JSON.stringify(first.info)}`);
  results.first_load = first.timing;
  results.model = first.info;

  for (const task of ["absolute", "pairwise"]) {
    step(`judging the ${task} example`);
    const got = await judge(task);
    const want = nativeRun(task);
    assert.deepEqual(got.item, exampleItem(task), "the form's item is not the example's");
    const verdict = got.report.judgment.verdict;
    const shown = await page.textContent("#verdict");
    step(`${task}: ${got.tokens.original.length} tokens, verdict ${JSON.stringify(verdict?.result)}, ` +
      `page shows ${JSON.stringify(shown)}, timing ${JSON.stringify(got.timing.runs.original)}`);
    results[task] = {
      verdict: verdict?.result ?? null,
      shown,
      output: got.report.judgment.output,
      parse_error: got.report.judgment.parse_error,
      distribution: got.report.judgment.distribution,
      timing: got.timing,
      tokens: got.tokens,
      native_tokens: want.tokens,
      tokens_equal: JSON.stringify(got.tokens) === JSON.stringify(want.tokens),
    };
    assert.equal(got.report.judgment.prompt_tokens, want.prompt.ids.length);
    assert.deepEqual(got.tokens, want.tokens, `the browser's greedy tokens for ${task} differ from the native runtime's`);
    assert.equal(got.report.judgment.output, want.report.judgment.output);
    assert.ok(verdict, `the ${task} output did not parse: ${got.report.judgment.parse_error}`);
    assert.deepEqual(verdict, want.report.judgment.verdict);
    assert.ok(shown.includes(`Result: ${verdict.result}`), `the page shows ${JSON.stringify(shown)}`);
    if (task === "absolute") {
      await page.screenshot({ path: shot, fullPage: true });
      step(`screenshot: ${shot}`);
    }
  }

  // The GPU process crashes: the device is lost, the page says so and loads the model again.
  phase = "device lost";
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send("Browser.crashGpuProcess");
  await page.waitForFunction(() => window.selene.errors.length > 0, null, { timeout: 60_000 });
  const [lost] = await errors();
  assert.equal(lost.name, "DeviceLost", JSON.stringify(lost));
  assert.ok(await page.isVisible("#problem-reload"), "no way offered to load the model again");
  const problem = await page.textContent("#problem");
  step(`GPU process crashed; the page shows: ${problem.replace(/\s+/g, " ").trim()}`);
  await forgetErrors();
  await page.evaluate(() => delete document.body.dataset.model);
  await page.click("#problem-reload");
  const reloaded = await loaded();
  assert.equal(reloaded.from, "cache");
  // (Judging with the reloaded model is shown by the offline visit below, which loads the same
  // cached shards: on SwiftShader every judgment costs minutes.)
  step(`reloaded in ${(reloaded.timing.total_ms / 1000).toFixed(1)} s`);
  results.device_lost = { shown: problem.replace(/\s+/g, " ").trim(), reload: reloaded.timing };

  // A second visit (Chromium started again on the same profile) with the network cut off once
  // the page is open: the model comes from the cache.
  await browser.close();
  browser = await visit();
  page = browser.page;
  phase = "second visit";
  await open();
  phase = "offline";
  await browser.context.setOffline(true);
  offline = true;
  const cachedButton = page.locator("#cached-models button[data-key]");
  assert.equal(await cachedButton.count(), 1, "the cache does not list the model");
  step("offline; loading the model from the cache");
  await cachedButton.click();
  const second = await loaded();
  assert.equal(second.from, "cache");
  const check = await judge("absolute", 4);
  assert.deepEqual(check.tokens.original, nativeRun("absolute").tokens.original.slice(0, 4));
  assert.deepEqual(requests.filter((r) => r.phase === phase), [], "offline, the page asked the network for something");
  results.cached_load = second.timing;
  step(`loaded from the cache in ${(second.timing.total_ms / 1000).toFixed(1)} s with the network blocked, and judged`);
  offline = false;
  await browser.context.setOffline(false);

  // From the person's own files (not cached), then a two-item batch, downloaded as JSONL.
  phase = "files and batch";
  await page.setChecked("#use-cache", false);
  await page.evaluate(() => delete document.body.dataset.model);
  await page.setInputFiles("#model-files", shards.map((s) => join(models, s)));
  const fromFiles = await loaded();
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

  // Nothing but the page's own files and the model's shards was asked for, from its site only.
  const assets = new Set(["/", "/index.html", "/app.js", "/worker.js", "/style.css", "/favicon.svg", "/pkg/selene_web.js", "/pkg/selene_web_bg.wasm"]);
  const modelPaths = new Set(shards.map((s) => `/models/${s}`));
  const foreign = requests.filter((r) => {
    const url = new URL(r.url);
    return url.origin !== site.origin || !(assets.has(url.pathname) || modelPaths.has(url.pathname));
  });
  assert.deepEqual(foreign, [], "requests other than the page's assets and the model files");
  assert.ok(site.log.every((p) => assets.has(p) || modelPaths.has(p)), `the server saw ${site.log.join(", ")}`);
  assert.deepEqual(elsewhere.log, []);
  results.requests = { seen_by_browser: requests.length, paths: [...new Set(requests.map((r) => new URL(r.url).pathname))] };
  step(`${requests.length} requests, all to the page's assets or the model files: ${results.requests.paths.join(" ")}`);
} catch (e) {
  console.error(consoleLines.slice(-400).join("\n"));
  throw e;
} finally {
  writeFileSync(resultsPath, JSON.stringify(results, null, 2));
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}

// A browser without WebGPU: the page says what is missing and what to do.
const plain = await launch({ webgpu: false });
try {
  await plain.page.goto(`${site.origin}/`);
  await plain.page.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
  const [none] = await plain.page.evaluate(() => window.selene.errors);
  assert.equal(none?.name, "NoWebGpu", JSON.stringify(none));
  const shown = (await plain.page.textContent("#problem")).replace(/\s+/g, " ").trim();
  assert.match(shown, /WebGPU is not available/);
  step(`without WebGPU the page shows: ${shown}`);
  results.no_webgpu = shown;
  writeFileSync(resultsPath, JSON.stringify(results, null, 2));
} finally {
  await plain.close();
  await site.close();
  await elsewhere.close();
}
step("passed");
