#!/usr/bin/env python3
"""Writes the committed corpus of broken GGUF files that crates/gguf/tests/hostile.rs feeds to the
reader (each must be refused with an error, never a panic or a huge allocation) and that seeds the
fuzz target in crates/gguf/fuzz. The bytes are assembled here with `struct`, independently of
selene's writer, from the layout in the GGUF specification. Usage: make_corpus.py OUT_DIR (the test
runs it into a temporary folder; for the fuzz target, into a folder of seeds)."""

import struct
import sys
from pathlib import Path

MAGIC = b"GGUF"
STRING, UINT32, ARRAY = 8, 4, 9
F32, Q8_0 = 0, 8


def s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def kv_u32(key: bytes, value: int) -> bytes:
    return s(key) + struct.pack("<II", UINT32, value)


def kv_str(key: bytes, value: bytes) -> bytes:
    return s(key) + struct.pack("<I", STRING) + s(value)


def tensor(name: bytes, dims, ggml_type: int, offset: int) -> bytes:
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset)


def gguf(kvs, tensors, data: bytes, version=3, n_kv=None, n_tensors=None) -> bytes:
    head = MAGIC + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\0" * (-len(body) % 32)
    return body + data


ARCH = kv_str(b"general.architecture", b"llama")
GOOD_TENSORS = [tensor(b"a.weight", [32, 2], Q8_0, 0), tensor(b"b", [3], F32, 96)]
GOOD_DATA = b"\x07" * 68 + b"\0" * 28 + b"\x01" * 12

cases = {
    "magic--not-gguf.gguf": b"GGML" + gguf([ARCH], GOOD_TENSORS, GOOD_DATA)[4:],
    "version--big-endian.gguf": MAGIC + struct.pack(">I", 3) + gguf([ARCH], GOOD_TENSORS, GOOD_DATA)[8:],
    "version--unknown.gguf": gguf([ARCH], GOOD_TENSORS, GOOD_DATA, version=99),
    "kv_count--absurd.gguf": gguf([ARCH], GOOD_TENSORS, GOOD_DATA, n_kv=1 << 60),
    "tensor_count--absurd.gguf": gguf([ARCH], GOOD_TENSORS, GOOD_DATA, n_tensors=1 << 61),
    "key--length-past-end.gguf": gguf([struct.pack("<Q", 1 << 40) + b"general.architecture"], [], b""),
    "value--string-length-past-end.gguf": gguf([s(b"general.name") + struct.pack("<IQ", STRING, 1 << 50)], [], b""),
    "value--unknown-type.gguf": gguf([s(b"general.name") + struct.pack("<I", 77) + s(b"x")], [], b""),
    "array--absurd-length.gguf": gguf([s(b"tokenizer.ggml.scores") + struct.pack("<IIQ", ARRAY, 6, 1 << 59)], [], b""),
    "key--duplicate.gguf": gguf([ARCH, ARCH], GOOD_TENSORS, GOOD_DATA),
    "tensor--duplicate-name.gguf": gguf([ARCH], [tensor(b"b", [3], F32, 0), tensor(b"b", [3], F32, 32)], b"\1" * 44),
    "tensor--unknown-type.gguf": gguf([ARCH], [tensor(b"b", [3], 250, 0)], b"\1" * 12),
    "tensor--absurd-dimensions.gguf": gguf([ARCH], [tensor(b"b", [1 << 40, 1 << 40], F32, 0)], b"\1" * 12),
    "tensor--too-many-dimensions.gguf": gguf([ARCH], [tensor(b"b", [1] * 9, F32, 0)], b"\1" * 4),
    "tensor--offset-past-end.gguf": gguf([ARCH], [tensor(b"b", [3], F32, 1 << 20)], b"\1" * 12),
    "tensor--misaligned-offset.gguf": gguf([ARCH], [tensor(b"b", [3], F32, 3)], b"\1" * 16),
    "tensor--rows-not-whole-blocks.gguf": gguf([ARCH], [tensor(b"a.weight", [33, 2], Q8_0, 0)], b"\7" * 68),
    "data--truncated.gguf": gguf([ARCH], GOOD_TENSORS, GOOD_DATA)[:-5],
    "header--truncated.gguf": gguf([ARCH], GOOD_TENSORS, GOOD_DATA)[:40],
}

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name, data in cases.items():
    (out / name).write_bytes(data)
print(f"{len(cases)} files")
