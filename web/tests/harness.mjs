// A static file server for the tests: `mounts` maps URL prefixes to folders. Every response
// carries the page's Content-Security-Policy as a header too, so that the worker (which a
// <meta> policy does not reach) is held to it as well. Every request is logged.

import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize } from "node:path";

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

export const CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
  "style-src 'self'; img-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'";

export async function serve(mounts, { csp = CSP, headers = {} } = {}) {
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
    const common = { ...(csp ? { "Content-Security-Policy": csp } : {}), ...headers, "Cache-Control": "no-store" };
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
