#!/usr/bin/env python3
"""Regenerates the llama.cpp parity goldens of selene-quantize (never run by CI).

For each test checkpoint (made by `cargo run --example make-checkpoint`, the same Rust code the
tests use, so CI converts the very same bytes):

  1. llama.cpp's converter:  convert_hf_to_gguf.py CKPT --outtype bf16
  2. llama-quantize BF16.gguf OUT.gguf TYPE        for every type selene-quantize offers
  3. llama-gguf-split --split --split-max-size N   on one type, for the split-set golden
  4. selene-quantize on the same checkpoint; byte comparison with 2 and 3
  5. llama_ref (tools/reference/llama_ref.cpp, libllama) loads llama.cpp's file, our single file
     and our split set, and computes teacher-forced log-probabilities over a text: the three must
     agree (they do bit for bit when the files are byte-identical; recorded either way)

Writes quantize/tests/golden/quantize.json: per checkpoint the sha256 of every checkpoint file,
per type the file's sha256 and size and each tensor's type and sha256 (so that a failing test
names the tensor), the split shards' sha256, and the byte and logit comparisons.

Run (after tools/reference/setup.sh; the converter needs torch and transformers):
    source tools/reference/env.sh
    CONVERT_PYTHON=/path/to/python-with-torch python tools/reference/quantize_goldens.py
CONVERT_PYTHON defaults to `python3`; it runs llama.cpp's convert_hf_to_gguf.py.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REF = Path(os.environ.get("SELENE_REF", Path.home() / ".cache/selene/ref"))
LLAMA = REF / "llama.cpp"
BIN = LLAMA / "build/bin"
TOOL = REF / "llama_ref"
CONVERT_PYTHON = os.environ.get("CONVERT_PYTHON", "python3")
TARGET = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/selene/target"))
OUT = REPO / "quantize/tests/golden/quantize.json"

# Every type on the small SmolLM2 checkpoint; the brief's five on the Llama 3.1 shaped one
# (its 128256 x 512 embedding and output make each type take a minute here).
ALL_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "F16", "BF16", "F32"]
TYPES = {"llama31": ["Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"], "smollm2": ALL_TYPES}
# (checkpoint, type split by llama-gguf-split, max size): the first tensor must fit (gguf-split
# refuses a shard that would hold none).
SPLITS = {"llama31": ("Q4_K_M", "60M"), "smollm2": ("Q8_0", "40M")}
TEXT = (
    "You are tasked with evaluating a response based on a given instruction and a scoring rubric. "
    "Score 1: Wrong. Score 5: Correct and concise. **Reasoning:** The response correctly names "
    "Rayleigh scattering. **Result:** 5. Bonjour, 東京, 2^32 = 4294967296."
)
TOP_K = 16

# ggml types: id -> (name, block size, bytes per block) (ggml/include/ggml.h, ggml.c type traits)
GGML_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
              7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
              14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2)}
# GGUF metadata value types: id -> fixed size (strings 8, arrays 9 are variable)
FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, **kw)


def cargo_bin(name: str, example: bool) -> Path:
    """Builds a selene-quantize binary or example; with SELENE_PREBUILT=1 takes the one already in
    the target dir (on a shared machine another cargo may hold the build lock for a long time)."""
    path = Path(TARGET) / "release" / ("examples" if example else "") / name
    if os.environ.get("SELENE_PREBUILT") == "1":
        assert path.is_file(), f"SELENE_PREBUILT=1, but {path} is not built"
        return path
    kind = ["--example", name] if example else ["--bin", name]
    run("cargo", "build", "--release", "-p", "selene-quantize", *kind, cwd=REPO, env={**os.environ, "CARGO_TARGET_DIR": TARGET})
    return path


def tensors(path: Path) -> dict:
    """Each tensor's ggml type and data sha256, in file order (a minimal GGUF v3 reader: gguf-py's
    GGUFReader takes minutes over a 128256-token vocabulary)."""
    data = path.read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def skip_string():
        nonlocal pos
        n = take("<Q")
        pos += n

    def skip_value(vtype):
        nonlocal pos
        if vtype == 8:
            skip_string()
        elif vtype == 9:
            etype, n = take("<IQ")
            if etype in FIXED:
                pos += FIXED[etype] * n
            else:
                for _ in range(n):
                    skip_value(etype)
        else:
            pos += FIXED[vtype]

    magic, version, n_tensors, n_kv = take("<4sIQQ")
    assert magic == b"GGUF" and version == 3, path
    for _ in range(n_kv):
        skip_string()
        skip_value(take("<I"))
    infos = []
    for _ in range(n_tensors):
        n = take("<Q")
        name = data[pos:pos + n].decode()
        pos += n
        dims = [take("<Q") for _ in range(take("<I"))]
        ty, offset = take("<IQ")
        infos.append((name, dims, ty, offset))
    start = (pos + 31) // 32 * 32
    out = {}
    for name, dims, ty, offset in infos:
        tname, block, size = GGML_TYPES[ty]
        count = 1
        for d in dims:
            count *= d
        nbytes = count // block * size
        chunk = data[start + offset:start + offset + nbytes]
        out[name] = [tname, hashlib.sha256(chunk).hexdigest()]
    return out


def build_tool():
    src = HERE / "llama_ref.cpp"
    if TOOL.exists() and TOOL.stat().st_mtime > src.stat().st_mtime:
        return
    run("g++", "-O2", "-std=c++17", f"-I{LLAMA}/include", f"-I{LLAMA}/ggml/include", src, f"-L{BIN}", "-lllama",
        "-lggml", "-lggml-base", f"-Wl,-rpath,{BIN}", "-o", TOOL)


def logprobs(model: Path, ids: list[int]):
    out = run(TOOL, "logits", model, TOP_K, input=" ".join(map(str, ids)).encode(), capture_output=True).stdout
    n, k = struct.unpack_from("<II", out, 0)
    rows = [struct.unpack_from("<" + "If" * k, out, 8 + 8 * k * i) for i in range(n)]
    return [list(r[0::2]) for r in rows], [list(r[1::2]) for r in rows]


def compare_logits(reference: Path, ours: Path) -> dict:
    ids = [int(x) for x in run(TOOL, "tokenize", reference, 0, input=TEXT.encode(), capture_output=True).stdout.split()]
    ref_ids, ref_lp = logprobs(reference, ids)
    our_ids, our_lp = logprobs(ours, ids)
    diff = max(abs(a - b) for ra, rb in zip(ref_lp, our_lp) for a, b in zip(ra, rb))
    return {"positions": len(ids), "top_k": TOP_K, "same_top_ids": ref_ids == our_ids, "max_abs_logprob_diff": diff}


def main():
    build_tool()
    make = cargo_bin("make-checkpoint", example=True)
    ours_bin = cargo_bin("selene-quantize", example=False)
    version = (LLAMA / ".selene-source-ok").read_text().split()[0]
    result = {
        "generated_by": "tools/reference/quantize_goldens.py",
        "reference": f"{version}: convert_hf_to_gguf.py --outtype bf16, then llama-quantize TYPE (no imatrix); "
                     "split sets by llama-gguf-split --split --split-max-size",
        "checkpoints": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in ["llama31", "smollm2"]:
            name = run(make, kind, tmp / "ckpt-staging" / kind, capture_output=True, text=True).stdout.strip()
            ckpt = tmp / "ckpt" / name
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            (tmp / "ckpt-staging" / kind).rename(ckpt)
            entry = {"folder": name, "files": {f.name: sha256(f) for f in sorted(ckpt.iterdir())}, "types": {}}
            bf16 = tmp / f"{kind}-convert-BF16.gguf"
            run(CONVERT_PYTHON, LLAMA / "convert_hf_to_gguf.py", ckpt, "--outtype", "bf16", "--outfile", bf16,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for ty in TYPES[kind]:
                ref = tmp / f"{kind}-ref-{ty}.gguf"
                ours = tmp / f"{kind}-ours-{ty}.gguf"
                run(BIN / "llama-quantize", bf16, ref, ty, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                run(ours_bin, ckpt, ours, "--type", ty, "-q", stdout=subprocess.DEVNULL)
                ref_tensors = tensors(ref)
                identical = sha256(ours) == sha256(ref)
                our_tensors = ref_tensors if identical else tensors(ours)
                entry["types"][ty] = {
                    "sha256": sha256(ref),
                    "bytes": ref.stat().st_size,
                    "ours_identical": identical,
                    "tensors_differing": sorted(n for n in ref_tensors if our_tensors.get(n) != ref_tensors[n]),
                    "tensors": ref_tensors,
                }
                print(kind, ty, "identical" if entry["types"][ty]["ours_identical"] else "DIFFERENT", flush=True)
                if ty == SPLITS[kind][0]:
                    entry["logits_single"] = compare_logits(ref, ours)
                else:
                    ours.unlink()
                    ref.unlink()
            ty, size = SPLITS[kind]
            ref = tmp / f"{kind}-ref-{ty}.gguf"
            run(BIN / "llama-gguf-split", "--split", "--split-max-size", size, ref, tmp / f"{kind}-refsplit",
                stdout=subprocess.DEVNULL)
            run(ours_bin, ckpt, tmp / f"{kind}-oursplit.gguf", "--type", ty, "--split-max-size", size, "-q",
                stdout=subprocess.DEVNULL)
            ref_shards = sorted(tmp.glob(f"{kind}-refsplit-*-of-*.gguf"))
            our_shards = sorted(tmp.glob(f"{kind}-oursplit-*-of-*.gguf"))
            entry["split"] = {
                "type": ty,
                "max_size": size,
                "shards": [sha256(p) for p in ref_shards],
                "ours_identical": [sha256(p) for p in our_shards] == [sha256(p) for p in ref_shards],
                "logits": compare_logits(ref, our_shards[0]),
            }
            print(kind, "split", len(ref_shards), "shards", "identical" if entry["split"]["ours_identical"] else "DIFFERENT")
            result["checkpoints"][kind] = entry
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
