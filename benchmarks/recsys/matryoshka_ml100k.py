"""Matryoshka two-tower retrieval on MovieLens-100K: recall per prefix size, and the speed-up.

Usage (the data is never copied into the repository):

    python benchmarks/recsys/matryoshka_ml100k.py --data-root /path/to/data [--dims 8,16,32,64]
        [--seeds 3] [--out results.json] [--plot recall.png]

Two variants of :class:`~selfsup_recsys.methods.FeatureTwoTower` share every setting of
``two_tower_ml100k.py`` (leave-last-out split, ``--steps`` optimiser steps, checkpoint picked on
validation Recall@50 of the whole vector, test scored once for that state): ``full`` trains the
whole ``--output-dim`` vector only; ``matryoshka`` trains the sum of the same loss over the
``--dims`` prefixes (``matryoshka_dims``). Both are then scored at every prefix size: the first
``d`` features of query and item vectors, L2-normalised. ``full`` at a prefix is plain
truncation, what a user gets without nested training.

Speed: full-corpus scoring and top-``--speed-k`` of ``--speed-queries`` queries against
``--speed-items`` unit vectors at each prefix size (one chunked matmul + ``torch.topk``, the
brute-force retrieval the recall numbers use), median of ``--speed-repeats``; a synthetic corpus,
because MovieLens' 1,682 items take microseconds at any size. Prints a table and, last, one JSON
line (``recall`` / ``speed`` / ``settings``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from two_tower_ml100k import build_parser, load, train_one

from selfsup.data.roots import resolve_data_root
from selfsup.losses import matryoshka_prefix

VARIANTS = ("full", "matryoshka")
METRICS = ("recall@10", "recall@50", "ndcg@10", "tail/recall@50")


def parser() -> argparse.ArgumentParser:
    p = build_parser()
    p.description = __doc__.split("\n\n")[0]
    p.add_argument("--dims", default="8,16,32,64", help="prefix sizes, ascending, the last one "
                   "--output-dim")  # fmt: skip
    p.add_argument("--speed-items", type=int, default=262_144)
    p.add_argument("--speed-queries", type=int, default=4_096)
    p.add_argument("--speed-k", type=int, default=50)
    p.add_argument("--speed-repeats", type=int, default=5)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--plot", default=None, help="write recall and time per prefix size (PNG)")
    return p


def retrieval_seconds(
    items: torch.Tensor, queries: torch.Tensor, dim: int, k: int, chunk: int = 1024
) -> tuple[float, float]:
    """Seconds to score every query against every item on the first ``dim`` features, and to
    score and keep the top ``k`` (``k = 0``: scores only)."""
    corpus = matryoshka_prefix(items, dim)
    blocks = matryoshka_prefix(queries, dim).split(chunk)
    start = time.perf_counter()
    for block in blocks:
        block @ corpus.T
    scoring = time.perf_counter() - start
    start = time.perf_counter()
    for block in blocks:
        torch.topk(block @ corpus.T, k, dim=1)
    return scoring, time.perf_counter() - start


def speed_table(args: argparse.Namespace, dims: list[int]) -> dict[str, dict[str, float]]:
    gen = torch.Generator().manual_seed(0)
    items = torch.randn(args.speed_items, dims[-1], generator=gen)
    queries = torch.randn(args.speed_queries, dims[-1], generator=gen)
    out = {}
    for dim in dims:
        retrieval_seconds(items, queries[:256], dim, args.speed_k)  # warm-up
        times = [
            retrieval_seconds(items, queries, dim, args.speed_k) for _ in range(args.speed_repeats)
        ]
        out[str(dim)] = {
            "score_seconds": statistics.median(t[0] for t in times),
            "seconds": statistics.median(t[1] for t in times),
        }
    full = out[str(dims[-1])]
    for row in out.values():
        row["speedup"] = full["seconds"] / row["seconds"]
        row["score_speedup"] = full["score_seconds"] / row["score_seconds"]
    return out


def summarise(runs: list[dict[str, Any]], dims: list[int], split: str) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for dim in dims:
        row = {}
        for metric in METRICS:
            values = [r[f"dim{dim}/{split}_{metric}"] for r in runs]
            row[metric] = statistics.mean(values)
            row[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        table[str(dim)] = row
    return table


def plot(path: str, recall: dict[str, Any], speed: dict[str, Any] | None, dims: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if speed else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
    axes = axes if panels > 1 else [axes]
    for variant in VARIANTS:
        means = [recall[variant][str(d)]["recall@50"] for d in dims]
        stds = [recall[variant][str(d)]["recall@50_std"] for d in dims]
        axes[0].errorbar(dims, means, yerr=stds, marker="o", capsize=3, label=variant)
    axes[0].set(xlabel="prefix size d", ylabel="test Recall@50",
                title="MovieLens-100K, leave-last-out (mean ± std)")  # fmt: skip
    axes[0].legend()
    if speed:
        for key, label in (("score_seconds", "scores"), ("seconds", "scores + top-k")):
            axes[1].plot(dims, [speed[str(d)][key] for d in dims], marker="o", label=label)
        axes[1].set(xlabel="prefix size d", ylabel="seconds", ylim=(0, None),
                    title="brute-force retrieval, synthetic corpus")  # fmt: skip
        axes[1].legend()
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    args = parser().parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    if dims[-1] != args.output_dim:
        raise SystemExit(f"the last of --dims must be --output-dim ({args.output_dim}), got {dims}")
    if args.min_steps is None:
        args.min_steps = args.steps // 4
    torch.set_num_threads(args.threads)
    root = str(
        resolve_data_root(args.data_root, owner="matryoshka_ml100k.py", parameter="--data-root")
    )
    seeds = (
        [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    )
    args.prefix_dims = dims
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    t0 = time.perf_counter()
    for seed in seeds:
        data = load(root, args.train_fraction, seed, args.item_features)
        for variant in VARIANTS:
            args.matryoshka_dims = dims if variant == "matryoshka" else None
            run = {"seed": seed, **train_one(data, "none", seed, args)}
            runs[variant].append(run)
            scores = " ".join(f"{d}:{run[f'dim{d}/test_recall@50']:.4f}" for d in dims)
            step, seconds = run["best_step"], run["seconds"]
            print(
                f"seed {seed} {variant:10s} test R@50 by prefix {scores} (step {step}, "
                f"{seconds:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    split = "val" if args.val_only else "test"
    recall = {v: summarise(runs[v], dims, split) for v in VARIANTS}
    speed = None if args.skip_speed else speed_table(args, dims)
    print(f"\n{split} Recall@50 (mean ± std over seeds {seeds}) and retrieval time per prefix:")
    for d in dims:
        cells = " | ".join(
            f"{v} {recall[v][str(d)]['recall@50']:.4f} ± {recall[v][str(d)]['recall@50_std']:.4f}"
            for v in VARIANTS
        )
        timing = ""
        if speed:
            row = speed[str(d)]
            timing = (
                f" | score {row['score_seconds']:.3f} s ({row['score_speedup']:.1f}x), "
                f"+top-k {row['seconds']:.3f} s ({row['speedup']:.1f}x)"
            )
        print(f"  d={d:4d}: {cells}{timing}")
    skip = ("data_root", "out", "plot", "variants", "merge", "merge_allow", "matryoshka_dims")
    settings = {k: v for k, v in vars(args).items() if k not in skip}
    out = {
        "split": split,
        "recall": recall,
        "speed": speed,
        "seeds": seeds,
        "seconds": time.perf_counter() - t0,
        "settings": settings,
    }
    if args.plot:
        plot(args.plot, recall, speed, dims)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**out, "runs": runs}, f, indent=1)
            f.write("\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
