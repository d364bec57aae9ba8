// The page: forms and display. Everything that touches the model runs in worker.js.

const $ = (id) => document.getElementById(id);

// What the page has done, for people poking at it in the console and for the browser test.
const state = { adapter: null, model: null, lastLoad: null, last: null, batch: [], errors: [] };
window.selene = state;

// ---- the worker ----------------------------------------------------------------------------------

let worker = null;
let nextId = 1;
const pending = new Map();
let onEvent = () => {};
let lastLoadRequest = null;

// The worker is started from a blob: URL that imports worker.js. A worker loaded from its own URL
// is held only to the policy in its HTTP response, which a plain static server does not send; a
// blob: worker inherits this page's Content-Security-Policy (the <meta> in index.html), so no
// server setting is needed for the worker to be unable to reach any other origin.
function startWorker() {
  const source = `import ${JSON.stringify(new URL("worker.js", location.href).href)};`;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  worker = new Worker(url, { type: "module" });
  worker.onmessage = ({ data }) => {
    if (data.id !== undefined && pending.has(data.id)) {
      const { resolve, reject } = pending.get(data.id);
      pending.delete(data.id);
      if (data.ok) resolve(data.result);
      else reject(Object.assign(new Error(data.error.message), { name: data.error.name }));
    } else if (data.op === "fatal") {
      fatal(data.name, data.message);
    } else {
      onEvent(data);
    }
  };
  // A script error in the worker (or its failing to start at all): not a lost model, so no restart.
  worker.onerror = (e) => {
    const message = e.message || "the worker failed to start (the browser's console says why)";
    rejectPending("Error", message);
    showProblem("Error", message);
  };
}

function rejectPending(name, message) {
  for (const { reject } of pending.values()) reject(Object.assign(new Error(message), { name }));
  pending.clear();
}

function call(op, fields = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, ...fields });
  });
}

// The wasm instance aborted (a panic: usually the GPU device was lost or ran out of memory).
// Its state is gone: start a fresh worker, and offer to load the model again.
function fatal(name, message) {
  rejectPending(name, message);
  worker.terminate();
  startWorker();
  state.model = null;
  setModelReady(false);
  showProblem(name, message, Boolean(lastLoadRequest));
}

// ---- problems, with what a person can do about each ----------------------------------------------

const REMEDIES = {
  NoWebGpu: ["WebGPU is not available.", "Use a browser with WebGPU (a recent Chrome or Edge; in Firefox or Safari enable WebGPU), and make sure hardware acceleration is on."],
  LimitsTooSmall: ["This GPU's limits are too small for the model.", "Use a smaller or more strongly quantized model, or another browser or GPU."],
  OutOfMemory: ["The GPU ran out of memory.", "Close other tabs that use the GPU, lower the context length, or use a smaller model, then load the model again."],
  DeviceLost: ["The GPU device was lost.", "The graphics driver reset or the GPU process crashed. Load the model again."],
  Invalid: ["That did not work.", ""],
  Error: ["Something went wrong.", ""],
};

function showProblem(name, message, offerReload = false) {
  const [title, remedy] = REMEDIES[name] ?? REMEDIES.Error;
  state.errors.push({ name, message });
  $("problem").hidden = false;
  $("problem").dataset.kind = name;
  $("problem-title").textContent = title;
  $("problem-text").textContent = [message, remedy].filter(Boolean).join(" — ");
  $("problem-reload").hidden = !offerReload;
}

function clearProblem() {
  $("problem").hidden = true;
}

function fail(e) {
  showProblem(e.name || "Error", e.message || String(e), e.name === "DeviceLost" || e.name === "OutOfMemory");
}

// ---- model -------------------------------------------------------------------------------------

function mib(bytes) {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 1 : 0)} MiB`;
}

function setModelReady(ready) {
  $("judge").disabled = !ready;
  $("batch-run").disabled = !ready || state.batch.length === 0;
}

async function loadModel(source) {
  clearProblem();
  lastLoadRequest = source;
  setModelReady(false);
  const progress = $("load-progress");
  progress.hidden = false;
  progress.value = 0;
  const phases = { download: "Downloading", cache: "Copying into the browser's storage", load: "Loading onto the GPU" };
  onEvent = (e) => {
    if (e.op !== "progress") return;
    progress.value = e.total ? e.loaded / e.total : 0;
    $("load-status").textContent = `${phases[e.phase]}: ${mib(e.loaded)} of ${mib(e.total)} (${e.detail})`;
  };
  $("load-status").textContent = "Starting…";
  try {
    const loaded = await call("load", {
      source,
      cache: $("use-cache").checked,
      context: Number($("context").value),
      keepQuantized: $("keep-quantized").checked,
    });
    state.model = loaded.info;
    state.lastLoad = loaded;
    const info = loaded.info;
    const from = { cache: "from this browser's cache", network: "downloaded", files: "from your files" }[loaded.from];
    $("load-status").textContent =
      `${info.name ?? "Model"} ready: ${info.layers} layers, ${mib(loaded.bytes)} in ${loaded.files.length} file(s) ${from}, ` +
      `loaded in ${(loaded.timing.total_ms / 1000).toFixed(1)} s; context ${info.context} tokens.`;
    document.body.dataset.model = "ready";
    setModelReady(true);
  } catch (e) {
    $("load-status").textContent = "";
    fail(e);
  } finally {
    progress.hidden = true;
    onEvent = () => {};
    refreshCache();
  }
}

async function refreshCache() {
  try {
    const { models, usage, quota } = await call("listCache");
    const list = $("cached-models");
    list.replaceChildren();
    for (const m of models) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Load";
      button.dataset.key = m.key;
      button.addEventListener("click", () => loadModel({ cached: m.key }));
      const forget = document.createElement("button");
      forget.type = "button";
      forget.textContent = "Remove";
      forget.addEventListener("click", async () => {
        await call("clearCache", { key: m.key });
        refreshCache();
      });
      li.append(`${m.key} (${m.files.length} file(s), ${mib(m.bytes)}) `, button, " ", forget);
      list.append(li);
    }
    if (models.length === 0) list.append(Object.assign(document.createElement("li"), { textContent: "No model cached." }));
    $("cache-usage").textContent = usage != null ? `Storage used by this site: ${mib(usage)} of ${mib(quota)} allowed.` : "";
  } catch (e) {
    $("cache-usage").textContent = `The model cache is unavailable: ${e.message}`;
  }
}

// ---- one item ------------------------------------------------------------------------------------

function value(id) {
  return $(id).value.trim();
}

function itemFromForm() {
  const task = $("task").value;
  const item = { task, user_input: value("user-input") };
  const objective = value("objective");
  if (task === "pairwise") {
    item.response_a = value("response-a");
    item.response_b = value("response-b");
    if (objective) item.rubric = { objective };
  } else {
    item.response = value("response");
    if (value("reference")) item.reference = value("reference");
    item.rubric = { objective };
    if (task === "absolute") item.rubric.scores = [1, 2, 3, 4, 5].map((i) => value(`score-${i}`));
    else Object.assign(item.rubric, { yes: value("yes"), no: value("no") });
  }
  return item;
}

function judgeOptions() {
  const options = { max_tokens: Number($("max-tokens").value) };
  if ($("format").value) options.format = $("format").value;
  if ($("prefill").value) options.prefill = $("prefill").value;
  if ($("task").value === "pairwise" && $("swap").checked) options.swap = true;
  return options;
}

// Runs one judgment; `onToken(run, text)` sees the reasoning as it is written.
function judgeItem(item, options, onToken) {
  onEvent = (e) => {
    if (e.op === "token") onToken(e.run, e.text);
  };
  return call("judge", { item, options }).finally(() => {
    onEvent = () => {};
  });
}

function resultText(judgment) {
  if (!judgment) return "";
  if (judgment.verdict) return String(judgment.verdict.result);
  return "no verdict";
}

function showVerdict(report, timing) {
  const verdict = $("verdict");
  verdict.replaceChildren();
  const runs = [["", report.judgment], ["A and B swapped: ", report.swapped]];
  for (const [label, j] of runs) {
    if (!j) continue;
    const p = document.createElement("p");
    if (j.verdict) {
      p.append(`${label}Result: `, Object.assign(document.createElement("strong"), { textContent: String(j.verdict.result) }));
    } else {
      p.textContent = `${label}The output did not parse: ${j.parse_error}`;
      p.className = "warn";
    }
    verdict.append(p);
  }
  if (report.order) {
    const p = document.createElement("p");
    p.textContent = report.order.consistent ? "Both orders agree." : "The two orders disagree (position bias).";
    verdict.append(p);
  }
  const dist = $("distribution");
  dist.replaceChildren();
  const d = report.judgment.distribution;
  if (d) {
    const h = document.createElement("h3");
    h.textContent = "Score distribution";
    dist.append(h);
    for (const [label, p] of d.probabilities) {
      const row = document.createElement("div");
      row.className = "bar";
      const meter = Object.assign(document.createElement("meter"), { min: 0, max: 1, value: p });
      row.append(Object.assign(document.createElement("span"), { textContent: label }), meter,
        Object.assign(document.createElement("span"), { textContent: `${(p * 100).toFixed(1)}%` }));
      dist.append(row);
    }
    if (d.expected_score != null) {
      dist.append(Object.assign(document.createElement("p"), { textContent: `Expected score: ${d.expected_score.toFixed(2)}` }));
    }
  } else if (report.judgment.distribution_error) {
    dist.append(Object.assign(document.createElement("p"), { className: "muted", textContent: `No distribution: ${report.judgment.distribution_error}` }));
  }
  const r = timing.runs.original;
  $("judge-stats").textContent = r
    ? `${r.prompt_tokens} prompt tokens at ${r.prefill_tok_s.toFixed(1)} tok/s, ${r.generated_tokens} generated` +
      (r.decode_tok_s ? ` at ${r.decode_tok_s.toFixed(1)} tok/s` : "") + `; stopped: ${report.judgment.stop}.`
    : "";
}

async function judgeForm(event) {
  event.preventDefault();
  clearProblem();
  const item = itemFromForm();
  $("result").hidden = false;
  const reasoning = $("reasoning");
  reasoning.textContent = "";
  $("verdict").replaceChildren();
  $("distribution").replaceChildren();
  $("judge-stats").textContent = "Reading the prompt…";
  document.body.dataset.judging = "yes";
  $("judge").disabled = true;
  $("cancel").disabled = false;
  let current = "original";
  try {
    const done = await judgeItem(item, judgeOptions(), (run, text) => {
      if (run !== current) {
        reasoning.textContent += "\n\n--- A and B swapped ---\n";
        current = run;
      }
      reasoning.textContent += text;
      $("judge-stats").textContent = "Writing…";
    });
    state.last = { item, ...done };
    showVerdict(done.report, done.timing);
    document.body.dataset.verdict = resultText(done.report.judgment);
  } catch (e) {
    $("judge-stats").textContent = "";
    fail(e);
  } finally {
    delete document.body.dataset.judging;
    $("judge").disabled = !state.model;
    $("cancel").disabled = true;
  }
}

// Fills the form with one of the examples (the same as examples/*.json).
const EXAMPLES = {
  absolute: {
    user_input: "Explain in two sentences why the sky is blue.",
    response: "Sunlight is scattered by the molecules of the air, and short blue wavelengths scatter far more than long red ones (Rayleigh scattering). So when we look at the sky away from the sun, most of the light reaching our eyes is scattered blue light.",
    objective: "Is the explanation scientifically correct, and does it keep to two sentences?",
    scores: [
      "The explanation is wrong or missing.",
      "The explanation has a major error or ignores the length limit badly.",
      "The explanation is partly right but vague or imprecise.",
      "The explanation is correct with a minor flaw in precision or length.",
      "The explanation is correct, precise and exactly two sentences.",
    ],
  },
  pairwise: {
    user_input: "Give one tip for writing a clear email.",
    response_a: "Put the request in the first sentence, so the reader knows at once what you need.",
    response_b: "Emails are a form of communication that has existed since the 1970s.",
    objective: "Which response gives a useful, relevant tip?",
  },
  classification: {
    user_input: "What is the boiling point of water at sea level in degrees Celsius?",
    response: "Water boils at 100 °C at sea level.",
    objective: "Is the response factually correct?",
    yes: "The response states the correct boiling point.",
    no: "The response states a wrong boiling point or none.",
  },
};

function showTask() {
  const task = $("task").value;
  for (const el of document.querySelectorAll("[data-task]")) el.hidden = !el.dataset.task.split(" ").includes(task);
  const e = EXAMPLES[task];
  if (!value("user-input") || Object.values(EXAMPLES).some((x) => x.user_input === value("user-input"))) {
    $("user-input").value = e.user_input;
    $("response").value = e.response ?? "";
    $("response-a").value = e.response_a ?? "";
    $("response-b").value = e.response_b ?? "";
    $("objective").value = e.objective;
    (e.scores ?? ["", "", "", "", ""]).forEach((s, i) => ($(`score-${i + 1}`).value = s));
    $("yes").value = e.yes ?? "";
    $("no").value = e.no ?? "";
  }
}

// ---- batch ------------------------------------------------------------------------------------------

let batchStop = false;
let batchResults = [];

async function readBatchFile() {
  const file = $("batch-file").files[0];
  if (!file) return;
  clearProblem();
  try {
    state.batch = await call("readBatch", { name: file.name, text: await file.text() });
    const bad = state.batch.filter((e) => e.error).length;
    $("batch-status").textContent = `${state.batch.length} item(s) in ${file.name}` + (bad ? `, ${bad} of them invalid.` : ".");
    setModelReady(Boolean(state.model));
  } catch (e) {
    fail(e);
  }
}

function cell(text) {
  return Object.assign(document.createElement("td"), { textContent: text ?? "" });
}

async function runBatch() {
  clearProblem();
  batchStop = false;
  batchResults = [];
  const tbody = $("batch-table").querySelector("tbody");
  tbody.replaceChildren();
  $("batch-table").hidden = false;
  $("batch-run").disabled = true;
  $("batch-stop").disabled = false;
  const progress = $("batch-progress");
  progress.hidden = false;
  const options = judgeOptions();
  delete options.swap;
  const started = performance.now();
  let done = 0;
  for (const entry of state.batch) {
    if (batchStop) break;
    $("batch-status").textContent = `Judging ${entry.key} (${done + 1} of ${state.batch.length})…`;
    let row;
    if (entry.error) {
      row = { key: entry.key, error: entry.error };
    } else {
      try {
        const { report } = await judgeItem(entry.item, options, () => {});
        row = { key: entry.key, gold: entry.item.gold ?? null, ...report };
      } catch (e) {
        if (e.name === "DeviceLost" || e.name === "OutOfMemory") {
          fail(e);
          break;
        }
        row = { key: entry.key, error: e.message };
      }
    }
    batchResults.push(row);
    const j = row.judgment;
    const top = probabilityOf(j);
    const tr = document.createElement("tr");
    tr.append(cell(row.key), cell(row.task), cell(j ? resultText(j) : ""), cell(row.gold == null ? "" : String(row.gold)),
      cell(top == null ? "" : `${(top * 100).toFixed(1)}%`), cell(row.error ?? j?.parse_error ?? ""));
    tbody.append(tr);
    done++;
    progress.value = done / state.batch.length;
  }
  const secs = (performance.now() - started) / 1000;
  $("batch-status").textContent = `${done} of ${state.batch.length} item(s) judged in ${secs.toFixed(1)} s${batchStop ? " (stopped)" : ""}.`;
  progress.hidden = true;
  $("batch-run").disabled = false;
  $("batch-stop").disabled = true;
  $("batch-jsonl").disabled = $("batch-csv").disabled = batchResults.length === 0;
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function csvField(v) {
  const s = v == null ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

// The probability the distribution gives the verdict's label.
function probabilityOf(judgment) {
  const pair = judgment?.distribution?.probabilities.find(([label]) => label === judgment.verdict?.result);
  return pair ? pair[1] : null;
}

function batchCsv() {
  const header = ["key", "task", "result", "gold", "probability", "expected", "parse_error", "error", "reasoning"];
  const lines = [header.join(",")];
  for (const r of batchResults) {
    const j = r.judgment;
    const d = j?.distribution;
    lines.push([r.key, r.task, j?.verdict ? j.verdict.result : "", r.gold, probabilityOf(j), d?.expected_score,
      j?.parse_error, r.error, j?.verdict?.reasoning].map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}

// ---- start -------------------------------------------------------------------------------------------

async function start() {
  startWorker();
  $("task").addEventListener("change", showTask);
  showTask();
  $("item-form").addEventListener("submit", judgeForm);
  $("cancel").addEventListener("click", () => call("cancel"));
  $("model-files").addEventListener("change", () => {
    const files = [...$("model-files").files];
    if (files.length) loadModel({ files });
  });
  $("load-url").addEventListener("click", () => {
    // Absolute URLs: the worker's own address is a blob: URL, against which nothing resolves.
    const urls = value("model-url").split(/\s+/).filter(Boolean).map((u) => new URL(u, location.href).href);
    if (urls.length) loadModel({ urls });
  });
  $("clear-cache").addEventListener("click", async () => {
    await call("clearCache", {});
    refreshCache();
  });
  $("problem-reload").addEventListener("click", () => lastLoadRequest && loadModel(lastLoadRequest));
  $("batch-file").addEventListener("change", readBatchFile);
  $("batch-run").addEventListener("click", runBatch);
  $("batch-stop").addEventListener("click", () => {
    batchStop = true;
    call("cancel");
  });
  $("batch-jsonl").addEventListener("click", () =>
    download("selene-results.jsonl", "application/x-ndjson", batchResults.map((r) => JSON.stringify(r)).join("\n") + "\n"));
  $("batch-csv").addEventListener("click", () => download("selene-results.csv", "text/csv", batchCsv()));

  try {
    const formats = await call("formats");
    for (const name of formats) $("format").append(new Option(name, name));
  } catch (e) {
    fail(e);
  }
  refreshCache();
  try {
    const a = await call("adapter");
    state.adapter = a;
    $("gpu").textContent = `WebGPU: ${a.name || a.vendor || "adapter"} (${a.architecture || a.backend}); ` +
      `largest buffer ${mib(Math.min(a.max_storage_buffer_binding_size, a.max_buffer_size))}` +
      (a.shader_f16 ? ", f16 shaders" : "") +
      (a.fallback ? "; a software adapter that computes on the CPU, so a judgment takes minutes" : "") + ".";
  } catch (e) {
    $("gpu").textContent = "WebGPU is not available.";
    fail(e);
  }
  document.body.dataset.ready = "yes";
}

start();
