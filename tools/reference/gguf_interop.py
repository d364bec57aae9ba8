#!/usr/bin/env python3
"""Shows that GGUF files written by selene open in the PyPI `gguf` reader and in llama.cpp.

Never run by CI (it needs the reference toolchain). selene-quantize, which writes through
crates/gguf's writer, converts the SmolLM2 test checkpoint (`make-checkpoint smollm2`, the
bytes the tests convert) to three outputs:

  q8_0.gguf                     Q8_0 (matrices) and F32 (vectors), one file
  q8_0-split-0000k-of-0000N     the same as a split set (--split-max-size 40M)
  bf16.gguf                     BF16, lossless for this bf16 checkpoint

Each is then checked against what the checkpoint implies, computed here without selene:

  1. gguf.GGUFReader opens every file and shard: header, metadata (printed with the value types
     the reader saw), tensor list. Metadata is compared with config.json, tokenizer.json and
     tokenizer_config.json; the tensor list with the checkpoint's tensors under gguf-py's own
     name map (MODEL_ARCH.LLAMA), shapes in ggml order.
  2. Every tensor: the reader's data dequantized by gguf.quants equals the checkpoint's values
     (safetensors bf16 widened to f32 by numpy; Q and K rows in llama.cpp's interleaved RoPE
     order, the converter's permutation), quantized by gguf-py where the type is quantized (Q8_0,
     whose numpy quantizer is bit-identical to ggml's): bytes and dequantized values equal.
  3. The split set: split.no / split.count / split.tensors.count on each shard, and its tensors and
     metadata (less split.*) equal the single file's.
  4. llama.cpp: llama-simple loads each file (the split set from its first shard) and generates
     greedily; the Q8_0 single file and split set must generate the same text.

Run (after tools/reference/setup.sh):
    source tools/reference/env.sh
    python tools/reference/gguf_interop.py | tee gguf_interop.txt
(SELENE_PREBUILT=1: use the selene-quantize binary and make-checkpoint example already built.)
"""
from __future__ import annotations

import json
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType

from quantize_goldens import BIN, cargo_bin, run

PROMPT = "The capital of France is"
N_PREDICT = 24
SPLIT_SIZE = "40M"
FILE_TYPE = {"Q8_0": 7, "BF16": 32}  # llama_ftype: LLAMA_FTYPE_MOSTLY_Q8_0, _BF16


def check(ok: bool, what: str):
    print(f"  [{'ok' if ok else 'FAIL'}] {what}", flush=True)
    if not ok:
        raise SystemExit(f"failed: {what}")


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Each tensor as f32 (the checkpoint is bf16: a bf16 value is the top half of an f32)."""
    raw = path.read_bytes()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "BF16", (name, t["dtype"])
        start, end = t["data_offsets"]
        bits = np.frombuffer(raw, dtype="<u2", count=(end - start) // 2, offset=8 + n + start)
        out[name] = (bits.astype(np.uint32) << 16).view(np.float32).reshape(t["shape"])
    return out


def rope_interleave(w: np.ndarray, n_head: int) -> np.ndarray:
    """The converter's Q/K permutation: within each head, row j*hd/2 + i moves to 2i + j."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def expected_tensors(ckpt: Path, config: dict) -> dict[str, np.ndarray]:
    """GGUF name -> the f32 values the converter writes, in GGUF row order."""
    n_layer = config["num_hidden_layers"]
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)
    out = {}
    for file in sorted(ckpt.glob("*.safetensors")):
        for hf, w in read_safetensors(file).items():
            name = names.get_name(hf, try_suffixes=(".weight", ".bias"))
            assert name is not None, hf
            if name.endswith("attn_q.weight"):
                w = rope_interleave(w, config["num_attention_heads"])
            elif name.endswith("attn_k.weight"):
                w = rope_interleave(w, config["num_key_value_heads"])
            out[name] = w
    return out


def value(field) -> object:
    v = field.contents()
    if isinstance(v, list) and len(v) > 6:
        return f"[{len(v)} x {field.types[-1].name}: {', '.join(map(repr, v[:3]))}, ...]"
    if isinstance(v, str) and len(v) > 60:
        return repr(v[:57] + "...") + f" ({len(v)} chars)"
    return repr(v)


def metadata(reader: GGUFReader) -> dict[str, object]:
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def open_reader(path: Path) -> GGUFReader:
    start = time.perf_counter()
    reader = GGUFReader(path)
    print(f"GGUFReader({path.name}): {len(reader.fields)} fields, {len(reader.tensors)} tensors, "
          f"data at {reader.data_offset}, alignment {reader.alignment} ({time.perf_counter() - start:.1f} s)")
    return reader


def check_metadata(reader: GGUFReader, ckpt: Path, config: dict, ftype: str):
    print("  metadata (key: reader's value type = value):")
    for k, f in reader.fields.items():
        if not k.startswith("GGUF."):
            types = "/".join(t.name for t in f.types)
            print(f"    {k}: {types} = {value(f)}")
    m = metadata(reader)
    tok = json.loads((ckpt / "tokenizer.json").read_text())
    tok_config = json.loads((ckpt / "tokenizer_config.json").read_text())
    vocab = [t for t, _ in sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])]
    expect = {
        "general.architecture": "llama",
        "general.file_type": FILE_TYPE[ftype],
        "llama.block_count": config["num_hidden_layers"],
        "llama.context_length": config["max_position_embeddings"],
        "llama.embedding_length": config["hidden_size"],
        "llama.feed_forward_length": config["intermediate_size"],
        "llama.attention.head_count": config["num_attention_heads"],
        "llama.attention.head_count_kv": config["num_key_value_heads"],
        "llama.rope.freq_base": np.float32(config["rope_theta"]),
        "llama.attention.layer_norm_rms_epsilon": np.float32(config["rms_norm_eps"]),
        "llama.vocab_size": config["vocab_size"],
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": vocab,
        "tokenizer.ggml.bos_token_id": config["bos_token_id"],
        "tokenizer.ggml.eos_token_id": config["eos_token_id"],
        "tokenizer.chat_template": tok_config["chat_template"],
    }
    wrong = {k: (m.get(k), v) for k, v in expect.items() if m.get(k) != v}
    check(not wrong, f"{len(expect)} keys equal config.json / tokenizer.json / tokenizer_config.json"
                     + (f": differ {wrong}" if wrong else ""))
    merges = tok["model"]["merges"]
    merges = [" ".join(p) if isinstance(p, list) else p for p in merges]
    check(m.get("tokenizer.ggml.merges") == merges, f"tokenizer.ggml.merges: the {len(merges)} merges of tokenizer.json")
    check(reader.fields["general.file_type"].types == [GGUFValueType.UINT32]
          and reader.fields["llama.block_count"].types == [GGUFValueType.UINT32]
          and reader.fields["llama.rope.freq_base"].types == [GGUFValueType.FLOAT32]
          and reader.fields["tokenizer.ggml.token_type"].types == [GGUFValueType.ARRAY, GGUFValueType.INT32],
          "value types as llama.cpp expects (u32 counts, f32 rope base, i32 token types)")


def check_tensors(tensors: list, expected: dict[str, np.ndarray], ftype: str):
    names = [t.name for t in tensors]
    check(sorted(names) == sorted(expected) and len(set(names)) == len(names),
          f"tensor list: the checkpoint's {len(expected)} tensors under gguf-py's llama name map")
    for t in tensors[:4]:
        print(f"    {t.name:28} {t.tensor_type.name:5} ne={list(map(int, t.shape))} {t.n_bytes} bytes")
    print(f"    ... {len(tensors) - 4} more")
    worst = 0.0
    for t in tensors:
        want = expected[t.name]
        check_ok = [int(d) for d in t.shape] == list(reversed(want.shape))
        qtype = GGMLQuantizationType[ftype] if want.ndim == 2 else GGMLQuantizationType.F32
        check_ok &= t.tensor_type == qtype
        stored = np.asarray(t.data).view(np.uint8).reshape(-1)
        want_bytes = gguf.quants.quantize(want, qtype).view(np.uint8).reshape(-1)
        check_ok &= np.array_equal(stored, want_bytes)
        got = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(want.shape)
        check_ok &= np.array_equal(got, gguf.quants.dequantize(want_bytes, qtype).reshape(want.shape))
        if not check_ok:
            check(False, f"{t.name}: type, shape, bytes and dequantized values")
        worst = max(worst, float(np.max(np.abs(got - want))))
    check(True, f"every tensor: ggml shape, type, bytes and gguf.quants.dequantize values equal the checkpoint's "
                f"{'values' if ftype != 'BF16' else 'values exactly'} quantized by gguf-py "
                f"(max |dequantized - checkpoint| = {worst:.3g})")


def llama_simple(model: Path) -> str:
    out = subprocess.run([BIN / "llama-simple", "-m", model, "-n", str(N_PREDICT), PROMPT],
                         capture_output=True, text=True)
    loaded = [l.strip() for l in out.stderr.splitlines()
              if "loaded meta data" in l or "additional" in l and "GGUFs" in l or "file type" in l]
    for l in loaded:
        print(f"    llama.cpp: {l}")
    check(out.returncode == 0, f"llama-simple -m {model.name} -n {N_PREDICT}: exit code {out.returncode}")
    text = out.stdout.strip()
    print(f"    generated: {text!r}")
    check(PROMPT in text and len(text.split(PROMPT, 1)[1]) > 8, "llama.cpp generated text after the prompt")
    return text


def main():
    make = cargo_bin("make-checkpoint", example=True)
    quantize = cargo_bin("selene-quantize", example=False)
    with tempfile.TemporaryDirectory(prefix="selene-gguf-interop-") as tmp:
        tmp = Path(tmp)
        name = run(make, "smollm2", tmp / "staging", capture_output=True, text=True).stdout.strip()
        ckpt = tmp / name
        (tmp / "staging").rename(ckpt)
        config = json.loads((ckpt / "config.json").read_text())
        expected = expected_tensors(ckpt, config)
        print(f"checkpoint {name}: {len(expected)} tensors, "
              f"{sum(w.size for w in expected.values()):,} parameters (bf16)\n")

        q8 = tmp / "q8_0.gguf"
        bf16 = tmp / "bf16.gguf"
        run(quantize, ckpt, q8, "--type", "Q8_0", "-q", stdout=subprocess.DEVNULL)
        run(quantize, ckpt, tmp / "q8_0-split.gguf", "--type", "Q8_0", "--split-max-size", SPLIT_SIZE, "-q",
            stdout=subprocess.DEVNULL)
        run(quantize, ckpt, bf16, "--type", "BF16", "-q", stdout=subprocess.DEVNULL)
        shards = sorted(tmp.glob("q8_0-split-*-of-*.gguf"))
        print("selene-quantize wrote:", ", ".join(f"{p.name} ({p.stat().st_size:,} B)" for p in [q8, *shards, bf16]))
        print()

        print("== 1-2. gguf-py reads the single files ==")
        singles = {}
        for path, ftype in [(q8, "Q8_0"), (bf16, "BF16")]:
            reader = open_reader(path)
            check_metadata(reader, ckpt, config, ftype)
            check_tensors(reader.tensors, expected, ftype)
            singles[ftype] = reader
            print()

        print(f"== 3. gguf-py reads the split set ({len(shards)} shards of at most {SPLIT_SIZE} of tensors) ==")
        readers = [open_reader(p) for p in shards]
        split_tensors = [t for r in readers for t in r.tensors]
        for i, r in enumerate(readers):
            m = metadata(r)
            check(m.get("split.no") == i and m.get("split.count") == len(shards)
                  and m.get("split.tensors.count") == len(split_tensors),
                  f"{shards[i].name}: split.no={m.get('split.no')} split.count={m.get('split.count')} "
                  f"split.tensors.count={m.get('split.tensors.count')}, {len(r.tensors)} tensors")
        single_meta = metadata(singles["Q8_0"])
        first_meta = {k: v for k, v in metadata(readers[0]).items() if not k.startswith("split.")}
        check(first_meta == single_meta, f"first shard's metadata (less split.*) equals the single file's "
                                         f"({len(single_meta)} keys); later shards carry only split.*: "
                                         f"{sorted(metadata(readers[-1]))}")
        check([t.name for t in split_tensors] == [t.name for t in singles["Q8_0"].tensors],
              "the shards hold the single file's tensors, in its order")
        check_tensors(split_tensors, expected, "Q8_0")
        print()

        print("== 4. llama.cpp (llama-simple, greedy) ==")
        texts = {}
        for path in [q8, shards[0], bf16]:
            texts[path.name] = llama_simple(path)
        check(texts[q8.name] == texts[shards[0].name], "the split set generates what the single Q8_0 file does")
    print("\nall checks passed")


if __name__ == "__main__":
    main()
