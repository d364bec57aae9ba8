#!/usr/bin/env python3
"""Why no second implementation can agree with llama.cpp on 99% of top tokens for SmolLM2 Q4_1.

On quantized weights llama.cpp's CPU backend rounds the input of every matrix product to 8 bits
per block of 32 (ggml's Q8_1 for Q4_1 weights, Q8_0 for the Q8_0 output head) and keeps the KV
cache in f16. This script recomputes the first layer of SmolLM2-135M-Instruct Q4_1 that way in
numpy, from the file's raw blocks (read with PyPI gguf), and compares it with llama.cpp's own
output of that layer (`l_out-0`, dumped by llama_ref's `hidden` mode) for the first text of
crates/model/tests/golden/smollm2_logits.json. It prints:

  1. how close the recomputation comes to llama.cpp, position by position: to a few 1e-7 where
     both happen to round every input the same way, and about 0.5% from the first position where
     a value lies within float noise of a rounding boundary in one of them;
  2. how far the recomputation moves when its inputs (the embedding rows) are perturbed by a
     relative 1e-7, the size of a float summation-order difference: also about 0.5%, at every
     position. One input crossing a boundary changes by a whole step of its block (amax / 127,
     about half the median |value| here, since a few values per block are 30-50x the median).

So the first layer's output is a discontinuous function of float noise; agreeing with llama.cpp
beyond what it agrees with itself (95.67% top-1 when it runs one token at a time instead of one
batch) takes reproducing its float operation order bit for bit, which no other implementation,
and not llama.cpp on another CPU, does.

Run: source tools/reference/env.sh && python tools/reference/rounding_sensitivity.py
(output recorded in rounding_sensitivity.txt beside this script).
"""
import json
import math
import os
import struct
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = Path(os.environ.get("SELENE_FIXTURES", Path.home() / ".cache/selene/fixtures"))
MODEL = FIXTURES / "SmolLM2-135M-Instruct.Q4_1.gguf"
TOOL = Path(os.environ.get("SELENE_REF", Path.home() / ".cache/selene/ref")) / "llama_ref"
POSITIONS = 24

F32 = np.float32


def f16(a):
    return np.asarray(a, F32).astype(np.float16).astype(F32)


class Layer0:
    """llama.cpp's first SmolLM2 layer, recomputed from the file's blocks."""

    def __init__(self, reader: GGUFReader):
        self.t = {t.name: t for t in reader.tensors}
        field = reader.fields["llama.rope.freq_base"]
        self.rope_base = float(field.parts[-1][0])
        self.embeddings = self.values("token_embd.weight")
        self.heads, self.kv_heads, self.dim = 9, 3, 64

    @lru_cache(maxsize=None)
    def values(self, name):
        t = self.t[name]
        return dequantize(t.data, t.tensor_type).reshape(-1, int(t.shape[0])).astype(F32)

    @lru_cache(maxsize=None)
    def q4_1(self, name):
        t = self.t[name]
        rows, blocks = int(t.shape[1]), int(t.shape[0]) // 32
        raw = np.asarray(t.data).reshape(-1).view(np.uint8).reshape(rows, blocks, 20)
        d = raw[:, :, 0:2].copy().view(np.float16)[:, :, 0].astype(F32)
        m = raw[:, :, 2:4].copy().view(np.float16)[:, :, 0].astype(F32)
        q = np.concatenate([raw[:, :, 4:] & 0xF, raw[:, :, 4:] >> 4], axis=2).astype(F32)
        return d, m, q

    def product(self, name, x):
        """ggml's Q4_1 x Q8_1 dot product: the input rounded as ggml's x86 quantize_row_q8_1
        (scale amax/127 kept to f16, reciprocal 127/amax, ties to even, the block sum kept to
        f16), then integer dot products times both scales plus the minimum times that sum."""
        d, m, q = self.q4_1(name)
        blocks = x.reshape(-1, 32)
        amax = np.abs(blocks).max(1)
        scale = (amax / F32(127)).astype(F32)
        inverse = np.where(amax > 0, F32(127) / np.where(amax > 0, amax, 1), 0).astype(F32)
        qx = np.rint((blocks * inverse[:, None]).astype(F32))
        sums = f16(scale * qx.sum(1))
        return ((d * f16(scale)[None]) * (q * qx[None]).sum(2) + m * sums[None]).sum(1).astype(F32)

    def norm(self, x, name):
        rms = np.sqrt((x.astype(np.float64) ** 2).mean() + 1e-5)
        return (x / rms).astype(F32) * self.values(name).reshape(-1)

    def rope(self, x, position):
        """ggml's rope (adjacent pairs, angles multiplied up in f32)."""
        x = x.reshape(-1, self.dim)
        out = x.copy()
        step = F32(self.rope_base) ** F32(-2.0 / self.dim)
        theta = F32(position)
        for i in range(self.dim // 2):
            c, s = F32(math.cos(theta)), F32(math.sin(theta))
            out[:, 2 * i] = x[:, 2 * i] * c - x[:, 2 * i + 1] * s
            out[:, 2 * i + 1] = x[:, 2 * i] * s + x[:, 2 * i + 1] * c
            theta = F32(theta * step)
        return out.reshape(-1)

    def output(self, ids, position, embeddings=None):
        e = self.embeddings if embeddings is None else embeddings
        xs = [e[t] for t in ids[: position + 1]]
        normed = [self.norm(x, "blk.0.attn_norm.weight") for x in xs]
        keys = np.stack([f16(self.rope(self.product("blk.0.attn_k.weight", n), p)) for p, n in enumerate(normed)])
        values = np.stack([f16(self.product("blk.0.attn_v.weight", n)) for n in normed])
        keys = keys.reshape(position + 1, self.kv_heads, self.dim)
        values = values.reshape(position + 1, self.kv_heads, self.dim)
        q = self.rope(self.product("blk.0.attn_q.weight", normed[-1]), position).reshape(self.heads, self.dim)
        group = self.heads // self.kv_heads
        attended = []
        for h in range(self.heads):
            scores = keys[:, h // group] @ q[h] / math.sqrt(self.dim)
            w = np.exp(scores - scores.max())
            attended.append((w / w.sum()) @ values[:, h // group])
        h = xs[-1] + self.product("blk.0.attn_output.weight", np.concatenate(attended).astype(F32))
        m = self.norm(h, "blk.0.ffn_norm.weight")
        gate, up = self.product("blk.0.ffn_gate.weight", m), self.product("blk.0.ffn_up.weight", m)
        return h + self.product("blk.0.ffn_down.weight", (gate / (1 + np.exp(-gate))) * up)


def relative(a, b):
    return float(np.abs(a - b).mean() / np.abs(b).mean())


def main():
    golden = json.loads((REPO / "crates/model/tests/golden/smollm2_logits.json").read_text())
    ids = golden["sequences"][0]["ids"]
    out = subprocess.run([str(TOOL), "hidden", str(MODEL), "0"], input=" ".join(map(str, ids)).encode(),
                         capture_output=True, check=True).stdout
    layers, width, positions = struct.unpack_from("<III", out, 0)
    llama = np.frombuffer(out, F32, offset=12).reshape(layers, positions, width)[0]
    layer = Layer0(GGUFReader(str(MODEL)))
    rng = np.random.default_rng(0)
    noisy = layer.embeddings * (1 + F32(1e-7) * rng.standard_normal(layer.embeddings.shape).astype(F32))
    print(f"SmolLM2 Q4_1, first text of the logits golden ({len(ids)} tokens), layer 0 output")
    print("position  recomputed vs llama.cpp  recomputed with 1e-7 input noise vs without")
    for p in range(POSITIONS):
        ours = layer.output(ids, p)
        print(f"{p:8d}  {relative(ours, llama[p]):23.2e}  {relative(layer.output(ids, p, noisy), ours):10.2e}")


if __name__ == "__main__":
    main()
