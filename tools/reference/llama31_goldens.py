#!/usr/bin/env python3
"""Regenerates crates/model/tests/golden/llama31_logits.json: llama.cpp's teacher-forced
next-token distributions on a Llama-3.1-shaped model with designed random weights (never run by CI).

  1. `make-parity-checkpoint DIR` (quantize/tests/support/parity_checkpoint.rs, the same Rust
     code the test runs, so CI rebuilds the very same bytes): Llama 3.1's tokenizer and 128256-token
     vocabulary, grouped-query attention 4:1 (8 query heads over 2 key/value heads), llama3 RoPE
     scaling (`rope_freqs`), 4 layers, hidden size 512, untied output; the weights are random but
     laid out so that the next-token distributions are peaked and decided by attention (how and
     why: that file's module comment).
  2. llama.cpp converts and quantizes it: convert_hf_to_gguf.py --outtype bf16, then
     llama-quantize to Q8_0 and Q4_K_M. The files stay in $SELENE_MODELS (default
     ~/.cache/selene/llama31-parity) for tools/bench/runtime_bench.py.
  3. llama_ref (tools/reference/llama_ref.cpp on libllama, CPU) tokenizes the runtime goldens'
     varied texts (runtime_goldens.TEXTS, joined) with llama.cpp's tokenizer, and computes the K most
     likely next tokens with their log-probabilities at every position, as one batch (the
     reference) and one token at a time (how far llama.cpp agrees with itself).

The golden records each file's sha256: the test converts the same checkpoint with selene-quantize,
which must give the same bytes, then compares selene's distributions with these.

Run: source tools/reference/env.sh && python tools/reference/llama31_goldens.py
"""
import json
import math
import os
import subprocess
from pathlib import Path

from quantize_goldens import BIN, CONVERT_PYTHON, LLAMA, cargo_bin, sha256
from quantize_goldens import run as run_command
from runtime_goldens import TEXTS, TOP_K, agreement, build_tool, tokenize, top_logprobs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TYPES = ["Q8_0", "Q4_K_M"]
MODELS = Path(os.environ.get("SELENE_MODELS", Path.home() / ".cache/selene/llama31-parity"))
OUT = REPO / "crates/model/tests/golden/llama31_logits.json"


def checkpoint() -> Path:
    make = cargo_bin("make-parity-checkpoint", example=True)
    staging = MODELS / "staging"
    name = run_command(make, staging, capture_output=True, text=True).stdout.strip()
    ckpt = MODELS / name
    if ckpt.exists():
        subprocess.run(["rm", "-rf", str(ckpt)], check=True)
    staging.rename(ckpt)
    return ckpt


def summary(ids, top_ids, top_lps):
    """How peaked the distributions are and how often the top token is the previous input token
    (what the designed attention head predicts)."""
    n = len(ids)
    previous = [ids[0]] + ids[:-1]
    return {
        "mean_top1_probability": round(sum(math.exp(lp[0]) for lp in top_lps) / n, 4),
        "mean_top1_margin_nats": round(sum(lp[0] - lp[1] for lp in top_lps) / n, 4),
        "min_top1_margin_nats": round(min(lp[0] - lp[1] for lp in top_lps), 4),
        "top1_is_previous_token": round(sum(t[0] == p for t, p in zip(top_ids, previous)) / n, 4),
    }


def main():
    build_tool()
    MODELS.mkdir(parents=True, exist_ok=True)
    ckpt = checkpoint()
    bf16 = MODELS / f"{ckpt.name}-BF16.gguf"
    run_command(CONVERT_PYTHON, LLAMA / "convert_hf_to_gguf.py", ckpt, "--outtype", "bf16", "--outfile", bf16,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = {}
    for ty in TYPES:
        files[ty] = MODELS / f"{ckpt.name}-{ty}.gguf"
        run_command(BIN / "llama-quantize", bf16, files[ty], ty, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bf16.unlink()

    text = "\n\n".join(TEXTS.values())
    bos = tokenize("<|begin_of_text|>", special=True, model=files["Q8_0"])
    ids = bos + tokenize(text, special=False, model=files["Q8_0"])
    assert len(bos) == 1 and len(ids) >= 512, (bos, len(ids))
    types = {}
    for ty, path in files.items():
        top_ids, top_lps = top_logprobs(ids, model=path)
        seq_ids, seq_lps = top_logprobs(ids, model=path, options=["sequential"])
        top1, kl = agreement(top_ids, top_lps, seq_ids, seq_lps)
        types[ty] = {
            "sha256": sha256(path),
            "bytes": path.stat().st_size,
            "summary": summary(ids, top_ids, top_lps),
            "self_agreement": {"top1": round(top1, 4), "mean_kl": round(kl, 6)},
            "reference": {"top_ids": top_ids, "top_logprobs": top_lps},
        }
        print(ty, types[ty]["summary"], "self-agreement", types[ty]["self_agreement"], flush=True)
    version = (LLAMA / ".selene-source-ok").read_text().split()[0]
    OUT.write_text(json.dumps({
        "generated_by": "tools/reference/llama31_goldens.py",
        "reference": f"{version}: convert_hf_to_gguf.py --outtype bf16, then llama-quantize TYPE; "
                     "logits from libllama on the CPU, the text as one batch",
        "checkpoint": {"folder": ckpt.name,
                       "files": {f.name: sha256(f) for f in sorted(ckpt.iterdir())}},
        "top_k": TOP_K, "positions": len(ids), "text": text, "ids": ids, "types": types,
    }, ensure_ascii=False) + "\n")
    print(f"{len(ids)} positions -> {OUT}")


if __name__ == "__main__":
    main()
