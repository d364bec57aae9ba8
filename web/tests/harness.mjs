// What the browser test and the benchmark share: a static file server and headless Debian
// Chromium with WebGPU (SwiftShader where there is no GPU).
//
// The server sends no Content-Security-Policy header, as a plain static server does not: the
// page's own <meta> policy is what the test holds it to. Every request it receives is logged.

import { createServer } from "node:http";
import { createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".gguf": "application/octet-stream",
};

// `mounts` maps URL prefixes to folders; `headers` go with every response.
export async function serve(mounts, { headers = {} } = {}) {
  const log = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    log.push(path);
    const prefix = Object.keys(mounts)
      .sort((a, b) => b.length - a.length)
      .find((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`));
    let file = null;
    if (prefix !== undefined) {
      const rest = normalize(path.slice(prefix.length)).replace(/^(\.\.[/\\])+/, "");
      file = join(mounts[prefix], rest === "/" || rest === "." || rest === "" ? "index.html" : rest);
    }
    let stat = null;
    try {
      stat = file && statSync(file);
      if (stat && stat.isDirectory()) {
        file = join(file, "index.html");
        stat = statSync(file);
      }
    } catch {
      stat = null;
    }
    const common = { ...headers, "Cache-Control": "no-store" };
    if (!stat) {
      res.writeHead(404, { ...common, "Content-Type": "text/plain" });
      res.end("not found");
      return;
    }
    res.writeHead(200, {
      ...common,
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Content-Length": stat.size,
    });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, log, close: () => new Promise((resolve) => server.close(resolve)) };
}

// Flags that keep Chromium from calling home; WebGPU is behind a flag on Linux.
const QUIET = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

// Debian's Chromium with WebGPU unless `webgpu` is false, in the `profile` folder given (a later
// launch on the same folder is the same person's next visit) or in a fresh one that `close`
// deletes.
export async function launch({ webgpu = true, profile: given, ...options } = {}) {
  const profile = given ?? mkdtempSync(join(tmpdir(), "selene-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.SELENE_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...QUIET, ...(webgpu ? ["--enable-unsafe-webgpu"] : [])],
    ...options,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const close = async () => {
    await context.close();
    if (!given) rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, profile, close };
}
