"""Writes metrics.json: correlation values computed by scipy on deterministic data.

The Rust metrics (src/metrics.rs) are checked against these numbers in tests/metrics.rs.
Run from this folder with numpy and scipy installed:  python metrics.py
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
    meta = {"numpy": np.__version__, "scipy": __import__("scipy").__version__}
    path = Path(__file__).with_name("metrics.json")
    path.write_text(json.dumps({"generated_by": "metrics.py", "versions": meta, "cases": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
