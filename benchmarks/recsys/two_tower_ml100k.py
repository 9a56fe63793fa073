"""Two-tower retrieval on MovieLens-100K without SSL, with RFM and with CFM (Yao et al. 2021).

Usage (the data is never copied into the repository):

    python benchmarks/recsys/two_tower_ml100k.py --data-root /path/to/data [--train-fraction F]
        [--seeds 3]

``--data-root`` is the folder holding ``movielens-100k/ml-100k`` (or the ``ml-100k`` folder
itself); default ``$SELFSUP_DATA`` (with neither, the script stops). Leave-last-out by timestamp
(validation = second to last), ``--train-fraction`` keeps that share of the training
interactions. The three variants share every setting (towers, optimiser, steps, batch, logQ);
only the SSL term differs. Each run trains ``--steps`` optimiser steps (whatever the fraction),
keeps the state (evaluated every ``--eval-every`` steps, from ``--min-steps`` on: default a
quarter of the budget) with the best validation Recall@50 and is scored on the test items with
full-corpus retrieval (the user's history excluded). ``--curves`` prints every run's validation
Recall@50 / tail Recall@50 by step. Prints a
table per variant (mean ± std over seeds) and, last, one JSON line with keys ``no_ssl``,
``rfm``, ``cfm``, ``popularity`` (metric -> mean) and ``timing``.
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

from selfsup.data.roots import resolve_data_root
from selfsup_recsys.data.movielens import ITEM_COLUMNS, USER_COLUMNS, load_movielens_100k
from selfsup_recsys.data.retrieval_data import RetrievalData, build_retrieval_data
from selfsup_recsys.methods import FeatureTwoTower

VARIANTS = {"no_ssl": "none", "rfm": "rfm", "cfm": "cfm"}
METRICS = [
    f"{g}{m}@{k}" for g in ("", "head/", "tail/") for m in ("recall", "ndcg") for k in (10, 50)
]


def _ml_folder(root: str) -> str:
    for cand in (
        root,
        os.path.join(root, "ml-100k"),
        os.path.join(root, "movielens-100k", "ml-100k"),
    ):
        if os.path.exists(os.path.join(cand, "u.data")):
            return cand
    raise SystemExit(
        f"MovieLens-100K not found under {root!r} (looked for u.data in it, ml-100k/ and "
        "movielens-100k/ml-100k/); pass --data-root or set SELFSUP_DATA."
    )


def load(root: str, fraction: float, seed: int) -> RetrievalData:
    inter, items, users = load_movielens_100k(_ml_folder(root))
    return build_retrieval_data(
        inter, items, users, item_columns=ITEM_COLUMNS, user_columns=USER_COLUMNS,
        train_fraction=fraction, seed=seed, min_count=2,
    )  # fmt: skip


def train_one(data: RetrievalData, ssl: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one variant; return test metrics at the best validation epoch and timings."""
    torch.manual_seed(seed)
    method = FeatureTwoTower(
        data.users.specs, data.items.specs,
        embedding_dim=args.embedding_dim, hidden_dims=[args.hidden_dim], output_dim=args.output_dim,
        temperature=args.temperature, logq=args.logq, ssl=ssl, ssl_weight=args.alpha,
        ssl_temperature=args.ssl_temperature, bag_dropout=args.bag_dropout,
        num_correlated=args.num_correlated,
        frequency_buckets=1 << 14, frequency_alpha=args.frequency_alpha,
    )  # fmt: skip
    method.set_feature_correlation(data.item_mi)
    optimizers = {
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "adagrad": torch.optim.Adagrad,
    }
    opt = optimizers[args.optimizer](
        method.parameters(), lr=args.lr, weight_decay=args.weight_decay
    )
    # cosine decay to 0 over the budget: late states stop jumping between evaluations, so the
    # best-validation pick depends less on which noisy step it lands on
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps)
        if args.lr_schedule == "cosine"
        else None
    )
    gen = torch.Generator().manual_seed(seed)
    n, b, m = len(data.train), args.batch_size, data.num_items
    best: tuple[float, int, dict[str, float]] = (-1.0, -1, {})
    curve: list[tuple[int, float, float]] = []
    # checkpoints before min_steps are not candidates: in the sparse regime an almost untrained
    # (popularity-like) state can top validation recall, which compares nothing about training
    min_steps = min(args.min_steps, args.steps)
    start = time.perf_counter()
    perm, pos = torch.randperm(n, generator=gen), 0
    counts_log_prob = data.item_log_prob() if args.logq == "batch" else None  # logQ by counts
    for step in range(1, args.steps + 1):
        if pos + b > n:  # a new epoch: reshuffle, drop the incomplete batch
            perm, pos = torch.randperm(n, generator=gen), 0
        pairs = data.train[perm[pos : pos + b]]
        pos += b
        ssl_items = torch.randperm(m, generator=gen)[: args.ssl_batch_size]
        method.train()
        batch = data.batch(pairs, ssl_items if ssl != "none" else None, counts_log_prob)
        loss = method.training_losses(batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if step % args.eval_every == 0 or step == args.steps:
            val = data.evaluate(method, "val", head_fraction=args.head_fraction)
            curve.append((step, val["recall@50"], val["tail/recall@50"]))
            if step >= min_steps and val["recall@50"] > best[0]:
                test = data.evaluate(method, "test", head_fraction=args.head_fraction)
                best = (val["recall@50"], step, {**test, **{f"val_{k}": v for k, v in val.items()}})
    if args.curves:
        points = " ".join(f"{s}:{r:.3f}/{t:.3f}" for s, r, t in curve)
        print(f"  val R@50/tail R@50 by step ({ssl}, seed {seed}): {points}", file=sys.stderr)
    return {"best_step": best[1], **best[2], "seconds": time.perf_counter() - start}


def _summary(runs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    out = {}
    for key in METRICS + [f"val_{k}" for k in METRICS] + ["best_step", "seconds"]:
        vals = [r[key] for r in runs]
        out[key] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data-root", default=None, help="folder holding movielens-100k/ml-100k ($SELFSUP_DATA)"
    )
    p.add_argument("--train-fraction", type=float, default=1.0)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", default="no_ssl,rfm,cfm")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--min-steps", type=int, default=None)
    p.add_argument("--curves", action="store_true")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--ssl-batch-size", type=int, default=512)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "adagrad"])
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"])
    p.add_argument("--embedding-dim", type=int, default=32)
    p.add_argument("--hidden-dim", type=int, default=128)
    p.add_argument("--output-dim", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.07)
    p.add_argument("--ssl-temperature", type=float, default=None)
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--bag-dropout", type=float, default=0.3)
    p.add_argument("--num-correlated", type=int, default=None)
    p.add_argument("--logq", default="streaming", choices=["none", "streaming", "batch"])
    p.add_argument("--frequency-alpha", type=float, default=0.1)
    p.add_argument("--head-fraction", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.min_steps is None:
        args.min_steps = args.steps // 4
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants.split(",")}
    popularity = []
    root = str(
        resolve_data_root(args.data_root, owner="two_tower_ml100k.py", parameter="--data-root")
    )
    for seed in range(args.seeds):
        data = load(root, args.train_fraction, seed)
        if seed == 0:
            print(f"data: {data.stats}", file=sys.stderr)
        popularity.append(data.popularity("test", head_fraction=args.head_fraction))
        for variant in results:
            run = train_one(data, VARIANTS[variant], seed, args)
            results[variant].append(run)
            print(
                f"seed {seed} {variant:7s} val R@50 {run['val_recall@50']:.4f} val tail R@50 "
                f"{run['val_tail/recall@50']:.4f} | test R@50 {run['recall@50']:.4f} tail R@50 "
                f"{run['tail/recall@50']:.4f} R@10 {run['recall@10']:.4f} (step "
                f"{run['best_step']}, {run['seconds']:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    table = {v: _summary(r) for v, r in results.items()}
    pop = {k: statistics.fmean(r[k] for r in popularity) for k in METRICS}
    print(f"{'metric':18s}" + "".join(f"{v:>20s}" for v in table) + f"{'popularity':>12s}")
    for key in METRICS:
        cells = "".join(f"{table[v][key][0]:>12.4f} ± {table[v][key][1]:.4f}" for v in table)
        print(f"{key:18s}{cells}{pop[key]:>12.4f}")
    out: dict[str, Any] = {v: {k: table[v][k][0] for k in METRICS} for v in table}
    out["std"] = {v: {k: table[v][k][1] for k in METRICS} for v in table}
    out["validation"] = {v: {k: table[v][f"val_{k}"][0] for k in METRICS} for v in table}
    out["popularity"] = pop
    out["timing"] = {
        "total_seconds": time.perf_counter() - t0,
        **{f"{v}_seconds_per_run": table[v]["seconds"][0] for v in table},
    }
    out["settings"] = {k: v for k, v in vars(args).items() if k != "data_root"}
    if "cfm" in table and "no_ssl" in table:
        base = table["no_ssl"]["tail/recall@50"][0]
        out["cfm_tail_recall@50_relative_gain"] = (
            table["cfm"]["tail/recall@50"][0] / base - 1 if base > 0 else None
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
