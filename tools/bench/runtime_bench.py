#!/usr/bin/env python3
"""selene's runtime beside llama.cpp on the same GGUF files, in the same run, as ratios.

For every model file: `llama-bench` (llama.cpp's own benchmark, CPU) measures prefill at each
prompt length and decode at the depth of the first prompt; then `selene bench --json` measures
the same on each selene device. Peak memory is each process's peak resident set size, read by
this script from the kernel (wait4 rusage) in the same way for both programs; selene also reports
what Burn's device allocator reserved (on wgpu that is device memory; lavapipe's "device" memory
is host memory, so it is inside the RSS too).

Writes a Markdown table (default tools/bench/results/runtime.md) and the raw numbers beside it
(same name, .json). Python standard library only; never run by CI.

    cargo build --release -p selene-cli      # with CARGO_TARGET_DIR as the team uses it
    source tools/reference/env.sh            # llama-bench from tools/reference/setup.sh
    python3 tools/bench/runtime_bench.py \\
        --model ~/.cache/selene/fixtures/SmolLM2-135M-Instruct.Q4_1.gguf --devices cpu,wgpu-cpu \\
        --model ~/.cache/selene/llama31-parity/Llama-3.1-Selene-Parity-Q8_0.gguf --devices cpu,wgpu-cpu

Give --devices once per --model, in the same order (without any, every model runs on cpu).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
HOME_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
REF = Path(os.environ.get("SELENE_REF", HOME_CACHE / "selene/ref"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", HOME_CACHE / "selene/target"))


def run_measured(cmd, env=None):
    """Runs cmd to completion; returns (stdout, peak RSS in bytes of that process)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err.read().decode(errors='replace')[-4000:]}")
        # ru_maxrss is in KiB on Linux.
        return out.read().decode(), usage.ru_maxrss * 1024


def llama_cpp(bench, model, prompts, gen, reps, threads):
    common = ["-m", model, "-r", reps, "-t", threads, "-o", "json"]
    pp_out, pp_rss = run_measured([bench, *common, "-p", ",".join(map(str, prompts)), "-n", "0"])
    tg_out, tg_rss = run_measured([bench, *common, "-p", "0", "-n", gen, "-d", prompts[0]])
    pp, tg = json.loads(pp_out), json.loads(tg_out)
    return {
        "prefill": {str(r["n_prompt"]): r["avg_ts"] for r in pp},
        "decode": tg[0]["avg_ts"],
        "decode_depth": tg[0]["n_depth"],
        "peak_rss_bytes": max(pp_rss, tg_rss),
        "build": pp[0].get("build_commit"),
        "threads": pp[0].get("n_threads"),
    }


def selene(binary, model, device, prompts, gen, reps):
    context = max(prompts) + gen + 16
    out, rss = run_measured([binary, "bench", "--model", model, "--device", device, "--context", context,
                             "--prompt-tokens", ",".join(map(str, prompts)), "--gen-tokens", gen,
                             "--repetitions", reps, "--json"])
    report = json.loads(out.strip().splitlines()[-1])
    return {
        "prefill": {str(p["prompt_tokens"]): p["tokens_per_second"] for p in report["prefill"]},
        "decode": report["decode"]["tokens_per_second"],
        "decode_depth": report["decode"]["depth"],
        "peak_rss_bytes": rss,
        "device_memory_reserved_bytes": report["device_memory_reserved_bytes"],
        "weights_device_bytes": report["weights_device_bytes"],
        "kv_cache_bytes": report["kv_cache_bytes"],
        "model_file_bytes": Path(model).stat().st_size,
        "load_seconds": report["load_seconds"],
    }


def machine():
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"


def mib(b, digits=0):
    return f"{b / 2**20:.{digits}f}"


def table(results, prompts):
    heads = [f"prefill {p} tok/s" for p in prompts] + [f"decode tok/s @{prompts[0]}", "peak RSS MiB"]
    lines = ["| model | selene device | " + " | ".join(f"{h}: selene / llama.cpp (ratio)" for h in heads) + " |",
             "|---|---|" + "---|" * len(heads)]
    for r in results:
        ref = r["llama.cpp"]
        for device, ours in r["selene"].items():
            cells = []
            for p in prompts:
                a, b = ours["prefill"][str(p)], ref["prefill"][str(p)]
                cells.append(f"{a:.1f} / {b:.1f} ({a / b:.2f}x)")
            a, b = ours["decode"], ref["decode"]
            cells.append(f"{a:.1f} / {b:.1f} ({a / b:.2f}x)")
            a, b = ours["peak_rss_bytes"], ref["peak_rss_bytes"]
            cells.append(f"{mib(a)} / {mib(b)} ({a / b:.2f}x)")
            lines.append(f"| {r['model']} | {device} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, type=Path)
    ap.add_argument("--devices", action="append", default=[], help="selene devices for the preceding --model")
    ap.add_argument("--prompt-tokens", default="512,2048")
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--selene", type=Path, default=TARGET / "release/selene")
    ap.add_argument("--llama-bench", type=Path, default=REF / "llama.cpp/build/bin/llama-bench")
    ap.add_argument("--out", type=Path, default=REPO / "tools/bench/results/runtime.md")
    args = ap.parse_args()
    if args.devices and len(args.devices) != len(args.model):
        sys.exit("give --devices once for every --model, or never (then every model runs on cpu)")
    devices = args.devices or ["cpu"] * len(args.model)
    prompts = [int(p) for p in args.prompt_tokens.split(",")]
    for tool in (args.selene, args.llama_bench):
        if not tool.exists():
            sys.exit(f"{tool} is missing (build selene with cargo; llama-bench with tools/reference/setup.sh)")

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    results = []
    for model, devs in zip(args.model, devices):
        print(f"{model.name}: llama.cpp", flush=True)
        entry = {"model": model.name, "llama.cpp": llama_cpp(args.llama_bench, model, prompts, args.gen_tokens,
                                                             args.repetitions, args.threads), "selene": {}}
        for device in devs.split(","):
            print(f"{model.name}: selene on {device}", flush=True)
            entry["selene"][device] = selene(args.selene, model, device, prompts, args.gen_tokens, args.repetitions)
        results.append(entry)
    load_after = os.getloadavg()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    source = (REF / "llama.cpp/.selene-source-ok")
    version = source.read_text().split()[0] if source.exists() else "llama.cpp"
    ref = results[0]["llama.cpp"]
    devices_note = []
    for r in results:
        for device, ours in r["selene"].items():
            reserved = ours["device_memory_reserved_bytes"]
            if reserved is not None:
                held = ours["model_file_bytes"] + ours["kv_cache_bytes"]
                devices_note.append(
                    f"- {r['model']} on {device}: {mib(reserved, 1)} MiB, {reserved / held:.3f}x the file "
                    f"({mib(ours['model_file_bytes'], 1)} MiB) plus the f32 KV cache for the context "
                    f"({mib(ours['kv_cache_bytes'], 1)} MiB); the weights take {mib(ours['weights_device_bytes'], 1)} MiB on the device")
    md = f"""# selene runtime beside llama.cpp

Generated by `tools/bench/runtime_bench.py` on {started:%Y-%m-%d %H:%M} UTC; selene {commit}, {version}
(build {ref['build']}, CPU backend, {ref['threads']} threads). Machine: {machine()}; load average
{load_before[0]:.1f} before and {load_after[0]:.1f} after the run (the machine is shared, so absolute
numbers move between runs; the ratios are from one run of both programs).

Prefill: tokens/s for a prompt of N tokens (llama.cpp: `llama-bench -p N -n 0`; selene: time to the
first token). Decode: tokens/s generating {args.gen_tokens} tokens after {prompts[0]} tokens of context
(`llama-bench -p 0 -n {args.gen_tokens} -d {prompts[0]}`). Mean of {args.repetitions} timed runs after a
warm-up, on both sides. Ratios are selene / llama.cpp: above 1 is faster for speed, below 1 is less
memory for RSS. Peak RSS counts the mapped model file's touched pages for both programs.

{table(results, prompts)}

Device memory reserved by Burn's allocator (at most, sampled after each measurement; the kernels
issue's budget is 1.10x the file plus the KV cache):
{chr(10).join(devices_note) if devices_note else "not reported"}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    args.out.with_suffix(".json").write_text(json.dumps({"started": started.isoformat(), "machine": machine(),
                                                         "load_average": [load_before, load_after],
                                                         "results": results}, indent=1) + "\n")
    print(md)


if __name__ == "__main__":
    main()
