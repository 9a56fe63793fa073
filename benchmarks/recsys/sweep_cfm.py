"""Validation-only sweep for ``two_tower_ml100k.py``: run configurations, then select one by rule.

Usage (the data is never copied into the repository):

    python benchmarks/recsys/sweep_cfm.py run --data-root /path/to/data --jsonl sweep.jsonl \\
        --seed-list 0,1 --config "no_ssl=--variants no_ssl" \\
        --config "cfm_a0.3=--variants cfm --alpha 0.3" [--shard 0/2]
    python benchmarks/recsys/sweep_cfm.py select --jsonl sweep.jsonl [--seed-list 0,1]

``run`` trains every ``--config`` (``name=`` then arguments of ``two_tower_ml100k.py``, one
variant each) on every seed with ``--val-only`` forced, so the test split is never scored, and
appends one JSON line per (config, seed) with the validation metrics of the selected checkpoint.
Lines already in the file are skipped, so a stopped sweep resumes; ``--shard i/n`` runs every
n-th job (two processes on two cores).

``select`` applies one rule to the no-SSL configurations and, separately, to the SSL ones: among
configurations with every seed done, the highest mean validation tail Recall@50, among those
whose mean validation Recall@50 is not below the reference no-SSL configuration's
(``--reference``, default ``no_ssl``): a tail gain bought by losing overall recall is not taken.
It prints both picks, each SSL configuration's paired (same seed) validation gains over the
no-SSL configuration with the same shared settings, and writes the picks to ``--selected``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from two_tower_ml100k import VARIANTS, build_parser, load, train_one

from selfsup.data.roots import resolve_data_root

# settings that only the SSL term reads: a no-SSL run with the other settings equal is the pair
SSL_ONLY = ("variants", "alpha", "ssl_temperature", "bag_dropout", "num_correlated")
# settings that do not change what is trained
NOT_TRAINING = ("seeds", "seed_list", "curves", "threads", "val_only", "out")


def parse_config(text: str) -> tuple[str, argparse.Namespace]:
    """``"name=--variants cfm --alpha 1"`` -> ``(name, benchmark namespace)``."""
    if "=" not in text:
        raise SystemExit(f"--config must be NAME=ARGS, got {text!r}")
    name, rest = text.split("=", 1)
    args = build_parser().parse_args([*shlex.split(rest), "--val-only"])
    if "," in args.variants:
        raise SystemExit(f"config {name!r}: one variant per configuration, got {args.variants!r}")
    if args.min_steps is None:
        args.min_steps = args.steps // 4
    return name, args


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in NOT_TRAINING + ("data_root",)}


def shared_key(record: dict[str, Any]) -> str:
    """The settings a no-SSL run must share with an SSL run to be its pair."""
    return json.dumps(
        {k: v for k, v in record["settings"].items() if k not in SSL_ONLY}, sort_keys=True
    )


def run(ns: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    seeds = [int(s) for s in ns.seed_list.split(",")]
    configs = [parse_config(c) for c in ns.config]
    done = set()
    if os.path.exists(ns.jsonl):
        with open(ns.jsonl) as f:
            done = {(r["config"], r["seed"]) for r in map(json.loads, f) if r}
    shard, shards = (int(x) for x in ns.shard.split("/"))
    root = str(resolve_data_root(ns.data_root, owner="sweep_cfm.py", parameter="--data-root"))
    jobs = [(c, s) for s in seeds for c in configs]
    cache: dict[tuple[float, int, str], Any] = {}
    for j, ((name, args), seed) in enumerate(jobs):
        if j % shards != shard or (name, seed) in done:
            continue
        key = (args.train_fraction, seed, args.item_features)
        if key not in cache:
            cache.clear()  # one seed's data at a time
            cache[key] = load(root, *key)
        t0 = time.perf_counter()
        result = train_one(cache[key], VARIANTS[args.variants], seed, args)
        record = {
            "config": name,
            "seed": seed,
            "settings": settings(args),
            "best_step": result["best_step"],
            "seconds": result["seconds"],
            "val": {k[4:]: v for k, v in result.items() if k.startswith("val_")},
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(ns.jsonl, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(
            f"{name:28s} seed {seed} val R@50 {record['val']['recall@50']:.4f} tail "
            f"{record['val']['tail/recall@50']:.4f} step {result['best_step']} "
            f"({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )


def _mean(records: list[dict[str, Any]], metric: str) -> float:
    return statistics.fmean(r["val"][metric] for r in records)


def select(ns: argparse.Namespace) -> dict[str, Any]:
    with open(ns.jsonl) as f:
        records = [json.loads(line) for line in f if line.strip()]
    seeds = (
        [int(s) for s in ns.seed_list.split(",")]
        if ns.seed_list
        else sorted({r["seed"] for r in records})
    )
    by_config: dict[str, dict[int, dict[str, Any]]] = {}
    for r in records:
        if r["seed"] in seeds:
            by_config.setdefault(r["config"], {})[r["seed"]] = r
    complete = {c: [rs[s] for s in seeds] for c, rs in by_config.items() if set(rs) >= set(seeds)}
    if ns.reference not in complete:
        raise SystemExit(f"reference {ns.reference!r} has not run on every seed {seeds}")
    floor = _mean(complete[ns.reference], "recall@50")
    baselines = {
        shared_key(rs[0]): (c, rs)
        for c, rs in complete.items()
        if rs[0]["settings"]["variants"] == "no_ssl"
    }
    rows = []
    for c, rs in complete.items():
        row: dict[str, Any] = {
            "config": c,
            "ssl": rs[0]["settings"]["variants"] != "no_ssl",
            "val_recall@50": _mean(rs, "recall@50"),
            "val_tail/recall@50": _mean(rs, "tail/recall@50"),
            "eligible": _mean(rs, "recall@50") >= floor,
        }
        pair = baselines.get(shared_key(rs[0]))
        if row["ssl"] and pair is not None:
            gains = [
                r["val"]["tail/recall@50"] / b["val"]["tail/recall@50"] - 1
                for r, b in zip(rs, pair[1], strict=True)
            ]
            row["paired_baseline"] = pair[0]
            row["paired_tail_gain_mean"] = statistics.fmean(gains)
            row["paired_tail_gain_min"] = min(gains)
            row["paired_overall_gain_mean"] = statistics.fmean(
                r["val"]["recall@50"] / b["val"]["recall@50"] - 1
                for r, b in zip(rs, pair[1], strict=True)
            )
        rows.append(row)
    rows.sort(key=lambda r: -r["val_tail/recall@50"])
    print(f"seeds {seeds}; reference {ns.reference} val R@50 {floor:.4f} (eligibility floor)")
    for r in rows:
        paired = (
            f" paired vs {r['paired_baseline']}: tail {r['paired_tail_gain_mean']:+.1%} "
            f"(min {r['paired_tail_gain_min']:+.1%}), overall {r['paired_overall_gain_mean']:+.1%}"
            if "paired_baseline" in r
            else ""
        )
        print(
            f"{'*' if r['eligible'] else ' '} {r['config']:28s} val R@50 {r['val_recall@50']:.4f} "
            f"tail {r['val_tail/recall@50']:.4f}{paired}"
        )
    picks = {}
    for kind, is_ssl in (("no_ssl", False), ("ssl", True)):
        ok = [r for r in rows if r["ssl"] == is_ssl and r["eligible"]]
        if ok:
            best = max(ok, key=lambda r: r["val_tail/recall@50"])
            picks[kind] = {**best, "settings": complete[best["config"]][0]["settings"]}
            print(f"selected {kind}: {best['config']}")
    out = {"seeds": seeds, "reference": ns.reference, "floor": floor, "rows": rows, **picks}
    if ns.selected:
        with open(ns.selected, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data-root", default=None)
    r.add_argument("--jsonl", required=True)
    r.add_argument("--seed-list", default="0,1")
    r.add_argument("--config", action="append", required=True)
    r.add_argument("--shard", default="0/1")
    s = sub.add_parser("select")
    s.add_argument("--jsonl", required=True)
    s.add_argument("--seed-list", default=None)
    s.add_argument("--reference", default="no_ssl")
    s.add_argument("--selected", default=None, help="write the picks (JSON) here")
    ns = p.parse_args()
    run(ns) if ns.command == "run" else select(ns)


if __name__ == "__main__":
    main()
