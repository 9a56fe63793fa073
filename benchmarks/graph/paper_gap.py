"""Is a benchmark's mean accuracy distinguishable from a paper's ``mean ± std`` over its seeds?

Welch's two-sample t-test (``scipy.stats.ttest_ind_from_stats``, unequal variances) between
the per-seed test accuracies in benchmark JSON lines (``graphmae_planetoid.py`` output: each line's
``runs``, or one run per line) and a published ``mean ± std`` over ``n`` seeds. GraphMAE-style
papers report ``np.std`` (population), so the paper's std is turned into a sample std first.

    python benchmarks/graph/paper_gap.py benchmarks/graph/results/graphmae2_cora_h100.jsonl \\
        --paper-mean 84.5 --paper-std 0.6 --paper-n 20 [--field test_acc|final_test_acc]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any


def per_seed(paths: list[str], field: str) -> list[float]:
    """Per-seed accuracies in percent from benchmark JSON lines (values in [0, 1] are scaled)."""
    values = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            for run in record.get("runs", [record]):
                v = float(run[field])
                values.append(100 * v if v <= 1.0 else v)
    return values


def welch_against_paper(
    values: list[float], paper_mean: float, paper_std: float, paper_n: int, *, population: bool
) -> dict[str, Any]:
    from scipy.stats import ttest_ind_from_stats

    if len(values) < 2 or paper_n < 2:
        raise ValueError("need at least two values on each side.")
    paper_sd = paper_std * math.sqrt(paper_n / (paper_n - 1)) if population else paper_std
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    t, p = ttest_ind_from_stats(mean, sd, len(values), paper_mean, paper_sd, paper_n, False)
    return {
        "n": len(values),
        "mean": mean,
        "std_population": statistics.pstdev(values),
        "std_sample": sd,
        "paper_mean": paper_mean,
        "paper_std_sample": paper_sd,
        "paper_n": paper_n,
        "gap": mean - paper_mean,
        "welch_t": float(t),
        "p_two_sided": float(p),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jsonl", nargs="+")
    parser.add_argument("--field", default="test_acc", help="test_acc or final_test_acc")
    parser.add_argument("--paper-mean", type=float, required=True)
    parser.add_argument("--paper-std", type=float, required=True)
    parser.add_argument("--paper-n", type=int, required=True)
    parser.add_argument(
        "--paper-std-is-sample", action="store_true", help="the paper's std is already a sample std"
    )
    args = parser.parse_args()
    out = welch_against_paper(
        per_seed(args.jsonl, args.field),
        args.paper_mean,
        args.paper_std,
        args.paper_n,
        population=not args.paper_std_is_sample,
    )
    print(json.dumps({"field": args.field, **out}))


if __name__ == "__main__":
    main()
