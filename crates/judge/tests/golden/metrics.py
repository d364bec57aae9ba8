"""Writes metrics.json: correlation values computed by scipy on deterministic data, and the
benchmark figures (src/evaluation.rs) of random judge outcomes computed here independently.

The Rust metrics (src/metrics.rs, src/evaluation.rs) are checked against these numbers in
tests/metrics.rs. Run from this folder with numpy and scipy installed:  python metrics.py
"""

import json
import math
from pathlib import Path

import numpy as np
from scipy import stats


def lcg(seed):
    """A fixed pseudo-random sequence in [0, 1), identical on every machine."""
    state = seed
    while True:
        state = (1103515245 * state + 12345) % 2**31
        yield state / 2**31


def likert(source, n, low=1, high=5):
    return [low + int(next(source) * (high - low + 1)) for _ in range(n)]


def cases():
    rng = lcg(20250128)
    yield "linear_with_noise", [float(i) for i in range(40)], [0.5 * i + 3 * math.sin(i) for i in range(40)]

    # A judge's 1-5 scores against the mean of three ratings: many ties on both sides.
    judge = likert(rng, 120)
    gold = [round((j + sum(likert(rng, 2))) / 3, 4) for j in judge]
    yield "likert_vs_mean_rating", [float(j) for j in judge], gold

    yield "heavy_ties", [float(v) for v in likert(rng, 60, 1, 2)], [float(v) for v in likert(rng, 60, 1, 3)]

    x = [next(rng) * 10 for _ in range(30)]
    yield "negative", x, [-2 * v + next(rng) for v in x]

    yield "scale_1_to_10", [float(v) for v in likert(rng, 300, 1, 10)], [float(v) for v in likert(rng, 300, 1, 10)]

    yield "two_points", [1.0, 2.0], [3.0, 5.0]


def pick(source, choices):
    return choices[int(next(source) * len(choices))]


def pairwise_evaluation(rng, n):
    """Outcomes of pairwise items judged in both orders, some runs unparsed, and their figures.

    `swapped` is the verdict as the model printed it on the swapped pair, so its `A` means the
    item's response_b."""
    items = [{"gold": pick(rng, "AB"), "original": pick(rng, ["A", "B", None]),
              "swapped": pick(rng, ["A", "B", "B", None])} for _ in range(n)]
    flip = {"A": "B", "B": "A", None: None}
    original = np.array([i["original"] == i["gold"] for i in items])
    swapped = np.array([flip[i["swapped"]] == i["gold"] for i in items])
    consistent = np.array([i["original"] is not None and flip[i["swapped"]] == i["original"] for i in items])
    failures = sum(i["original"] is None for i in items) + sum(i["swapped"] is None for i in items)
    return {"task": "pairwise", "items": items, "expected": {
        "items": n, "parse_failures": failures, "original_order": float(original.mean()),
        "swapped_order": float(swapped.mean()), "mean": float((original.mean() + swapped.mean()) / 2),
        "consistency": float(consistent.mean())}}


def absolute_evaluation(rng, n):
    """1-5 judge scores, some unparsed (scored 0 inside the correlations), against mean ratings."""
    items = []
    for _ in range(n):
        gold = round(sum(likert(rng, 3)) / 3, 4)
        predicted = None if next(rng) < 0.15 else min(5, max(1, round(gold + next(rng) * 2 - 1)))
        items.append({"gold": gold, "predicted": predicted})
    judged = np.array([0.0 if i["predicted"] is None else float(i["predicted"]) for i in items])
    gold = np.array([i["gold"] for i in items])
    parsed = [i for i in items if i["predicted"] is not None]
    return {"task": "absolute", "items": items, "expected": {
        "items": n, "parse_failures": n - len(parsed),
        "pearson": float(stats.pearsonr(judged, gold).statistic),
        "spearman": float(stats.spearmanr(judged, gold).statistic),
        "kendall_tau_b": float(stats.kendalltau(judged, gold, variant="b").statistic),
        "pearson_parsed_only": float(stats.pearsonr([i["predicted"] for i in parsed],
                                                    [i["gold"] for i in parsed]).statistic)}}


def classification_evaluation(rng, n):
    items = [{"gold": pick(rng, ["Yes", "No"]), "predicted": pick(rng, ["Yes", "No", "Yes", None])}
             for _ in range(n)]
    return {"task": "classification", "items": items, "expected": {
        "items": n, "parse_failures": sum(i["predicted"] is None for i in items),
        "accuracy": float(np.mean([i["predicted"] == i["gold"] for i in items]))}}


def overall_case(rng, n):
    """Benchmark figures of mixed task kinds; Table 1's two overall averages of them."""
    scores = [{"benchmark": f"b{k}", "task": pick(rng, ["absolute", "pairwise", "classification"]),
               "score": next(rng)} for k in range(n)]
    kinds = sorted({s["task"] for s in scores})
    per_kind = [np.mean([s["score"] for s in scores if s["task"] == kind]) for kind in kinds]
    return {"scores": scores, "tasks": float(np.mean(per_kind)),
            "benchmarks": float(np.mean([s["score"] for s in scores]))}


def spread_case(rng, n):
    values = np.array([0.4 + 0.5 * next(rng) for _ in range(n)])
    return {"values": values.tolist(), "min": float(values.min()), "max": float(values.max()),
            "range": float(np.ptp(values)), "mean": float(values.mean()), "std_dev": float(values.std())}


def main():
    out = []
    for name, x, y in cases():
        xa, ya = np.array(x), np.array(y)
        out.append({
            "name": name,
            "x": x,
            "y": y,
            "pearson": float(stats.pearsonr(xa, ya).statistic),
            "spearman": float(stats.spearmanr(xa, ya).statistic),
            "kendall_tau_b": float(stats.kendalltau(xa, ya, variant="b").statistic),
        })
    rng = lcg(20250301)
    evaluations = [pairwise_evaluation(rng, 50), pairwise_evaluation(rng, 7), absolute_evaluation(rng, 80),
                   classification_evaluation(rng, 40)]
    overall = [overall_case(rng, n) for n in (3, 8, 13)]
    spreads = [spread_case(rng, n) for n in (2, 5, 6)]
    meta = {"numpy": np.__version__, "scipy": __import__("scipy").__version__}
    path = Path(__file__).with_name("metrics.json")
    document = {"generated_by": "metrics.py", "versions": meta, "cases": out, "evaluations": evaluations,
                "overall": overall, "spreads": spreads}
    path.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
