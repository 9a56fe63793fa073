"""Two-tower retrieval on MovieLens-100K without SSL, with RFM and with CFM (Yao et al. 2021).

Usage (the data is never copied into the repository):

    python benchmarks/recsys/two_tower_ml100k.py --data-root /path/to/data [--train-fraction F]
        [--seeds 3 | --seed-list 0,1,2,3,4] [--val-only] [--out results.json]

``--data-root`` is the folder holding ``movielens-100k/ml-100k`` (or the ``ml-100k`` folder
itself); default ``$SELFSUP_DATA`` (with neither, the script stops). Leave-last-out by timestamp
(validation = second to last), ``--train-fraction`` keeps that share of the training
interactions. The three variants share every setting (towers, optimiser, steps, batch, logQ);
only the SSL term differs. Each run trains ``--steps`` optimiser steps (whatever the fraction),
keeps the state (evaluated every ``--eval-every`` steps, from ``--min-steps`` on: default a
quarter of the budget) with the best validation Recall@50 (``--select-on``) and scores that one
state once on the test items with full-corpus retrieval (the user's history excluded).
``--val-only`` never touches the test split (``sweep_cfm.py`` chooses settings with it).
``--curves`` prints every run's validation Recall@50 / tail Recall@50 by step. Prints a table
per variant (mean ± std over seeds) and, last, one JSON line with keys ``no_ssl``, ``rfm``,
``cfm``, ``popularity_test`` (metric -> mean), ``timing`` and ``paired`` (per seed, each
variant's relative gain over ``no_ssl`` on the same seed in tail and overall Recall@50);
``--out`` also writes it (with every run's metrics) to a file.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from typing import Any

import torch

from selfsup.data.roots import resolve_data_root
from selfsup_recsys.data.movielens import (
    ITEM_COLUMNS,
    ITEM_COLUMNS_EXTENDED,
    USER_COLUMNS,
    load_movielens_100k,
)
from selfsup_recsys.data.retrieval_data import RetrievalData, build_retrieval_data
from selfsup_recsys.methods import FeatureTwoTower

VARIANTS = {"no_ssl": "none", "rfm": "rfm", "cfm": "cfm"}
ITEM_FEATURE_SETS = {"base": ITEM_COLUMNS, "extended": ITEM_COLUMNS_EXTENDED}
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


def load(root: str, fraction: float, seed: int, item_features: str = "base") -> RetrievalData:
    inter, items, users = load_movielens_100k(_ml_folder(root))
    return build_retrieval_data(
        inter, items, users, item_columns=ITEM_FEATURE_SETS[item_features],
        user_columns=USER_COLUMNS,
        train_fraction=fraction, seed=seed, min_count=2,
    )  # fmt: skip


def train_one(data: RetrievalData, ssl: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one variant; return the validation metrics of the best validation state (keys
    ``val_*``), that state's test metrics (unless ``args.val_only``) and timings."""
    torch.manual_seed(seed)
    method = FeatureTwoTower(
        data.users.specs, data.items.specs,
        embedding_dim=args.embedding_dim, hidden_dims=[args.hidden_dim], output_dim=args.output_dim,
        temperature=args.temperature, logq=args.logq, ssl=ssl, ssl_weight=args.alpha,
        ssl_temperature=args.ssl_temperature, bag_dropout=args.bag_dropout,
        num_correlated=args.num_correlated,
        frequency_buckets=1 << 14, frequency_alpha=args.frequency_alpha,
        matryoshka_dims=getattr(args, "matryoshka_dims", None),
        cross_batch_negatives=args.cross_batch_negatives,
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
    best: tuple[float, int, dict[str, float], dict[str, Any]] = (-1.0, -1, {}, {})
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
            score = val[args.select_on]
            if step >= min_steps and score > best[0]:
                # the state is kept and the test split is scored once, after training: the
                # test numbers cannot influence which state (or setting) is picked
                state = copy.deepcopy(method.state_dict())
                best = (score, step, {f"val_{k}": v for k, v in val.items()}, state)
    seconds = time.perf_counter() - start
    if args.curves:
        points = " ".join(f"{s}:{r:.3f}/{t:.3f}" for s, r, t in curve)
        print(f"  val R@50/tail R@50 by step ({ssl}, seed {seed}): {points}", file=sys.stderr)
    test: dict[str, float] = {}
    method.load_state_dict(best[3])
    # the selected state at smaller prefix sizes (matryoshka_ml100k.py): selection stays on
    # the whole vector, so these read the test split of the one state already chosen
    prefixes: dict[str, float] = {}
    for dim in getattr(args, "prefix_dims", None) or ():
        splits = ("val",) if args.val_only else ("val", "test")
        for split in splits:
            scores = data.evaluate(method, split, head_fraction=args.head_fraction, dim=dim)
            prefixes.update({f"dim{dim}/{split}_{k}": v for k, v in scores.items()})
    if not args.val_only:
        test = data.evaluate(method, "test", head_fraction=args.head_fraction)
    return {"best_step": best[1], **best[2], **test, **prefixes, "seconds": seconds}


def _summary(runs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    out = {}
    keys = [f"val_{k}" for k in METRICS] + ["best_step", "seconds"]
    if runs and "recall@50" in runs[0]:  # --val-only runs have no test metrics
        keys = METRICS + keys
    for key in keys:
        vals = [r[key] for r in runs]
        out[key] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
    return out


def relative_gain(value: float, base: float) -> float | None:
    """``value / base - 1`` (None when the baseline is 0: no relative gain is defined)."""
    return value / base - 1 if base > 0 else None


def paired_gains(
    results: dict[str, list[dict[str, Any]]], seeds: list[int], prefix: str = ""
) -> dict[str, Any]:
    """Per seed, each variant's relative gain over ``no_ssl`` trained on the same seed (same data
    subsample, initialisation and batch order), for tail and overall Recall@50; ``prefix``
    ``"val_"`` reads the validation metrics. Seeds differ more between each other than the
    variants do, so the paired gains, not the gain of the means, say whether every seed gains."""
    out: dict[str, Any] = {}
    base = results.get("no_ssl")
    if not base:
        return out
    for variant, runs in results.items():
        if variant == "no_ssl":
            continue
        entry: dict[str, Any] = {}
        for metric in ("tail/recall@50", "recall@50"):
            key = prefix + metric
            gains = [relative_gain(r[key], b[key]) for r, b in zip(runs, base, strict=True)]
            known = [g for g in gains if g is not None]
            entry[metric] = {
                "per_seed": dict(zip(map(str, seeds), gains, strict=True)),
                "mean": statistics.fmean(known) if known else None,
                "min": min(known) if known else None,
                "all_positive": bool(known) and len(known) == len(gains) and min(known) > 0,
                "gain_of_means": relative_gain(
                    statistics.fmean(r[key] for r in runs), statistics.fmean(b[key] for b in base)
                ),
            }
        out[variant] = entry
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data-root", default=None, help="folder holding movielens-100k/ml-100k ($SELFSUP_DATA)"
    )
    p.add_argument("--train-fraction", type=float, default=1.0)
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    p.add_argument("--seed-list", default=None, help="comma-separated seeds (overrides --seeds)")
    p.add_argument("--variants", default="no_ssl,rfm,cfm")
    p.add_argument(
        "--val-only", action="store_true", help="never score the test split (for sweeps)"
    )
    p.add_argument(
        "--select-on",
        default="recall@50",
        choices=["recall@50", "tail/recall@50"],
        help="validation metric that picks the checkpoint",
    )
    p.add_argument("--item-features", default="base", choices=sorted(ITEM_FEATURE_SETS))
    p.add_argument("--out", default=None, help="also write the JSON result (and every run) here")
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="join the --out files of parallel processes (same settings) instead of training",
    )
    p.add_argument(
        "--merge-allow",
        nargs="*",
        default=[],
        help="settings the merged files may differ in (kept per variant), e.g. item_features",
    )
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
    p.add_argument(
        "--cross-batch-negatives",
        type=int,
        default=0,
        help="queue of past training items as extra negatives (FeatureTwoTower, 0: off)",
    )
    return p


def seed_list(args: argparse.Namespace) -> list[int]:
    if args.seed_list:
        return [int(s) for s in args.seed_list.split(",")]
    return list(range(args.seeds))


def report(
    results: dict[str, list[dict[str, Any]]],
    popularity: list[dict[str, Any]],
    args: argparse.Namespace,
    total_seconds: float,
) -> dict[str, Any]:
    """Print the table and return the JSON result of runs that carry their ``seed``."""
    seeds = [r["seed"] for r in popularity]
    for variant, runs in results.items():
        if [r["seed"] for r in runs] != seeds:
            raise SystemExit(f"variant {variant!r} ran on seeds {[r['seed'] for r in runs]}, "
                             f"not {seeds}: paired gains need the same seeds")  # fmt: skip
    split = "val" if args.val_only else "test"
    table = {v: _summary(r) for v, r in results.items()}
    pop = {k: statistics.fmean(r[k] for r in popularity) for k in METRICS}
    shown = METRICS if not args.val_only else [f"val_{k}" for k in METRICS]
    print(f"{'metric':22s}" + "".join(f"{v:>20s}" for v in table) + f"{'popularity':>12s}")
    for key in shown:
        cells = "".join(f"{table[v][key][0]:>12.4f} ± {table[v][key][1]:.4f}" for v in table)
        print(f"{key:22s}{cells}{pop[key.removeprefix('val_')]:>12.4f}")
    out: dict[str, Any] = {}
    if not args.val_only:
        out.update({v: {k: table[v][k][0] for k in METRICS} for v in table})
        out["std"] = {v: {k: table[v][k][1] for k in METRICS} for v in table}
        out["paired"] = paired_gains(results, seeds)
    out["validation"] = {v: {k: table[v][f"val_{k}"][0] for k in METRICS} for v in table}
    out["paired_validation"] = paired_gains(results, seeds, prefix="val_")
    out[f"popularity_{split}"] = pop
    out["timing"] = {
        "total_seconds": total_seconds,
        **{f"{v}_seconds_per_run": table[v]["seconds"][0] for v in table},
    }
    out["settings"] = {
        k: v for k, v in vars(args).items() if k not in ("data_root", "out", "merge", "merge_allow")
    }
    out["seeds"] = seeds
    return out


# settings that may differ between the files of one --merge (how the runs were split up)
_SPLIT_ONLY = ("seeds", "seed_list", "variants", "threads", "curves")


def merge(
    paths: list[str], allow: tuple[str, ...] = ()
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], dict]:
    """Runs of several ``--out`` files of one configuration (e.g. seeds or variants run in
    parallel processes), joined by seed. Refuses files whose training settings differ, except
    in ``allow`` (e.g. ``item_features`` when the selected no-SSL and SSL configurations use
    different feature sets); those settings are kept per variant under ``by_variant``."""
    results: dict[str, dict[int, dict[str, Any]]] = {}
    popularity: dict[int, dict[str, Any]] = {}
    settings: dict[str, Any] | None = None
    by_variant: dict[str, dict[str, Any]] = {}
    seconds = 0.0
    for path in paths:
        with open(path) as f:
            part = json.load(f)
        mine = {k: v for k, v in part["settings"].items() if k not in _SPLIT_ONLY + allow}
        for variant in part["runs"]:
            by_variant[variant] = {k: part["settings"].get(k) for k in allow}
        if settings is not None and mine != settings:
            diff = sorted(k for k in set(mine) | set(settings) if mine.get(k) != settings.get(k))
            raise SystemExit(f"{path}: settings differ from the other files in {diff}")
        settings = mine
        seconds += part["timing"]["total_seconds"]
        for variant, runs in part["runs"].items():
            for run in runs:
                results.setdefault(variant, {})[run["seed"]] = run
        for row in part["popularity_runs"]:
            popularity[row["seed"]] = row
    seeds = sorted(popularity)
    joined = {v: [runs[s] for s in seeds if s in runs] for v, runs in results.items()}
    out = {**(settings or {}), "seconds": seconds}
    if allow:
        out["by_variant"] = by_variant
    return joined, [popularity[s] for s in seeds], out


def main() -> None:
    args = build_parser().parse_args()
    if args.min_steps is None:
        args.min_steps = args.steps // 4
    if args.merge:
        results, popularity, settings = merge(args.merge, tuple(args.merge_allow))
        seconds = settings.pop("seconds")
        by_variant = settings.pop("by_variant", None)
        for key, value in settings.items():
            setattr(args, key, value)
        args.seed_list = ",".join(str(r["seed"]) for r in popularity)
        args.variants = ",".join(results)
        out = report(results, popularity, args, seconds)
        out["merged_from"] = list(args.merge)
        if by_variant:
            for key in args.merge_allow:
                out["settings"][key] = {v: by_variant[v][key] for v in results}
        print(json.dumps(out))
        if args.out:
            with open(args.out, "w") as f:
                json.dump({**out, "runs": results, "popularity_runs": popularity}, f, indent=1)
                f.write("\n")
        return
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    seeds = seed_list(args)
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants.split(",")}
    popularity = []
    root = str(
        resolve_data_root(args.data_root, owner="two_tower_ml100k.py", parameter="--data-root")
    )
    split = "val" if args.val_only else "test"
    for seed in seeds:
        data = load(root, args.train_fraction, seed, args.item_features)
        if seed == seeds[0]:
            print(f"data: {data.stats}", file=sys.stderr)
        popularity.append(
            {"seed": seed, **data.popularity(split, head_fraction=args.head_fraction)}
        )
        for variant in results:
            run = {"seed": seed, **train_one(data, VARIANTS[variant], seed, args)}
            results[variant].append(run)
            test = (
                ""
                if args.val_only
                else f" | test R@50 {run['recall@50']:.4f} tail R@50 {run['tail/recall@50']:.4f} "
                f"R@10 {run['recall@10']:.4f}"
            )
            print(
                f"seed {seed} {variant:7s} val R@50 {run['val_recall@50']:.4f} val tail R@50 "
                f"{run['val_tail/recall@50']:.4f}{test} (step {run['best_step']}, "
                f"{run['seconds']:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    out = report(results, popularity, args, time.perf_counter() - t0)
    print(json.dumps(out))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**out, "runs": results, "popularity_runs": popularity}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
