"""Does RankMe rank runs and checkpoints the way a validation probe does?

RankMe (arXiv 2210.02885) proposes selecting hyper-parameters and checkpoints without labels.
This script measures it for one method family at a time and prints ONE JSON line last:

- ``--family digits``: trains a grid of SimCLR settings (temperature x view noise x width) on
  scikit-learn's digits with core's ``VectorSimCLR`` and, every ``--every`` epochs, records RankMe
  of the validation images' embeddings and the validation kNN / linear-probe accuracy. The
  validation images are a stratified carve-out of the training split (their labels are used
  by the probes only); the test split is scored once, for the run each criterion selects.
- ``--from-jsonl FILE [FILE ...] --family NAME``: reads runs another benchmark wrote (one JSON
  object per line with ``--rankme-key`` and ``--probe-key`` fields, dotted for nested ones, e.g.
  ``val.tjepa_rankme``; a settings sweep) instead.

For each family it reports Spearman's rho and Kendall's tau-b between RankMe and the probe
across runs (final checkpoints), the mean Kendall tau across checkpoints within a run, and the
selection regret (validation probe points lost by picking the highest-RankMe run or checkpoint
instead of the best by the probe). ``--plot`` draws RankMe against the probe (PNG).

    python benchmarks/core/rankme_selection.py --family digits --threads 1 \\
        --out benchmarks/results/rankme_selection_digits_cpu.json \\
        --plot benchmarks/results/rankme_selection_digits_cpu.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from selfsup.demo import DigitsDataModule, VectorSimCLR
from selfsup.metrics import (
    kendall_tau,
    knn_accuracy,
    linear_probe,
    rankme,
    selection_regret,
    spearman,
)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _carve(x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int) -> tuple:
    """Stratified ``(x_fit, y_fit, x_val, y_val)`` from the training split."""
    gen = torch.Generator().manual_seed(seed)
    fit, val = [], []
    for cls in y.unique():
        idx = (y == cls).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = max(1, round(len(idx) * fraction))
        val.append(idx[:n_val])
        fit.append(idx[n_val:])
    f, v = torch.cat(fit), torch.cat(val)
    return x[f], y[f], x[v], y[v]


def _measure(encoder: torch.nn.Module, splits: dict, *, test: bool = False) -> dict:
    encoder.eval()
    with torch.no_grad():
        z = {name: encoder(x) for name, (x, _) in splits.items()}
    (_, y_fit), (_, y_val) = splits["fit"], splits["val"]
    out = {
        "rankme": float(rankme(z["val"])),
        "val_knn": knn_accuracy(z["fit"], y_fit, z["val"], y_val, k=20),
        "val_linear": linear_probe(z["fit"], y_fit, z["val"], y_val).accuracy,
    }
    if test:
        y_test = splits["test"][1]
        out["test_knn"] = knn_accuracy(z["fit"], y_fit, z["test"], y_test, k=20)
        out["test_linear"] = linear_probe(z["fit"], y_fit, z["test"], y_test).accuracy
    encoder.train()
    return out


def digits_runs(epochs: int, every: int, seed: int) -> list[dict]:
    """Train the grid; every run keeps its per-checkpoint measurements and final encoder."""
    data = DigitsDataModule(batch_size=128, seed=seed)
    data.setup()
    x_train, y_train = data.train_set.tensors
    x_fit, y_fit, x_val, y_val = _carve(x_train, y_train, 0.2, seed)
    splits = {"fit": (x_fit, y_fit), "val": (x_val, y_val), "test": data.test_set.tensors}
    grid = itertools.product((0.05, 0.1, 0.2, 0.5, 1.0), (0.0, 0.2, 0.4), (32, 256))
    runs = []
    for temperature, drop_prob, width in grid:
        torch.manual_seed(seed)
        method = VectorSimCLR(
            in_dim=64,
            hidden_dim=width,
            embed_dim=width,
            temperature=temperature,
            drop_prob=drop_prob,
            noise_std=0.05,
            image_shape=(8, 8),
        )
        optimizer = torch.optim.AdamW(method.parameters(), lr=2e-3, weight_decay=1e-4)
        checkpoints = []
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            method.train()
            for x, _ in data.train_dataloader():  # all training images; labels unused
                loss = method.training_losses(x)["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if epoch % every == 0 or epoch == epochs:
                checkpoints.append({"epoch": epoch, **_measure(method.encoder, splits)})
        settings = {"temperature": temperature, "drop_prob": drop_prob, "width": width}
        final = _measure(method.encoder, splits, test=True)
        runs.append(
            {
                "settings": settings,
                "checkpoints": checkpoints,
                "final": final,
                "seconds": time.perf_counter() - start,
            }
        )
        _log(
            f"{settings}: RankMe {final['rankme']:.1f} val kNN {final['val_knn']:.3f} "
            f"val linear {final['val_linear']:.3f}"
        )
    return runs


def _summary(runs: list[dict], probe: str) -> dict:
    final_rankme = [r["final"]["rankme"] for r in runs]
    final_probe = [r["final"][probe] for r in runs]
    out = {
        "runs": len(runs),
        "spearman": spearman(final_rankme, final_probe),
        "kendall": kendall_tau(final_rankme, final_probe),
        "run_regret": selection_regret(final_rankme, final_probe),
    }
    within = [
        (
            kendall_tau(
                [c["rankme"] for c in r["checkpoints"]], [c[probe] for c in r["checkpoints"]]
            ),
            selection_regret(
                [c["rankme"] for c in r["checkpoints"]], [c[probe] for c in r["checkpoints"]]
            ),
        )
        for r in runs
        if len(r.get("checkpoints", [])) >= 2
    ]
    taus = [t for t, _ in within if t == t]  # drop NaN (a constant sequence)
    if within:
        out["checkpoint_kendall_mean"] = statistics.mean(taus) if taus else float("nan")
        out["checkpoint_regret_mean"] = statistics.mean(r for _, r in within)
    by_probe = max(range(len(runs)), key=lambda i: final_probe[i])
    by_rankme = max(range(len(runs)), key=lambda i: final_rankme[i])
    test_key = probe.replace("val_", "test_")
    if test_key in runs[0]["final"]:
        out["test_of_probe_selected"] = runs[by_probe]["final"][test_key]
        out["test_of_rankme_selected"] = runs[by_rankme]["final"][test_key]
    out["probe_selected"] = runs[by_probe].get("settings")
    out["rankme_selected"] = runs[by_rankme].get("settings")
    return out


def _field(record: dict, key: str) -> object:
    """``record[key]``, where a dotted key walks nested objects (``val.mlp_tjepa``)."""
    node: object = record
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def from_jsonl(path: Path, rankme_key: str, probe_key: str) -> list[dict]:
    """Runs of a sweep file. Keys may be dotted (nested objects). A record with an
    ``eval_history`` list (the vision benchmark's ``--eval-every``) also gives the run's
    checkpoints, each with the same two keys."""
    runs = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        rank, probe = _field(record, rankme_key), _field(record, probe_key)
        if rank is None or probe is None:
            if record.get("error"):
                continue  # a failed sweep run: nothing to rank
            raise SystemExit(
                f"{path}: a record lacks {rankme_key!r} or {probe_key!r}: {line[:200]}"
            )
        name = record.get("name", record.get("settings"))
        if "seed" in record and name is not None:
            name = f"{name}/seed{record['seed']}"
        run = {"settings": name, "final": {"rankme": rank, probe_key: probe}}
        history = [
            {"rankme": _field(h, rankme_key), probe_key: _field(h, probe_key)}
            for h in record.get("eval_history") or []
        ]
        if len(history) > 1 and all(None not in c.values() for c in history):
            run["checkpoints"] = history
        runs.append(run)
    return runs


def plot(runs: list[dict], probe: str, family: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 2 if runs[0].get("checkpoints") else 1, figsize=(11, 4.2), squeeze=False
    )
    ax = axes[0][0]
    xs = [r["final"]["rankme"] for r in runs]
    ys = [r["final"][probe] for r in runs]
    ax.scatter(xs, ys, s=18)
    ax.set_xlabel("RankMe (validation embeddings)")
    ax.set_ylabel(probe.replace("_", " "))
    ax.set_title(f"{family}: runs (tau = {kendall_tau(xs, ys):.2f})")
    if runs[0].get("checkpoints"):
        ax = axes[0][1]
        for r in runs:
            ax.plot(
                [c["rankme"] for c in r["checkpoints"]],
                [c[probe] for c in r["checkpoints"]],
                marker=".",
                lw=0.8,
                alpha=0.7,
            )
        ax.set_xlabel("RankMe")
        ax.set_ylabel(probe.replace("_", " "))
        ax.set_title(f"{family}: checkpoints within each run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", required=True, help="digits, or a name for --from-jsonl runs")
    p.add_argument("--from-jsonl", type=Path, nargs="+", default=None, help="sweep files")
    p.add_argument("--rankme-key", default="rankme")
    p.add_argument("--probe-key", default="val_linear")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--plot", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.from_jsonl is not None:
        runs = [r for f in args.from_jsonl for r in from_jsonl(f, args.rankme_key, args.probe_key)]
        probes = [args.probe_key]
    elif args.family == "digits":
        runs = digits_runs(args.epochs, args.every, args.seed)
        probes = ["val_linear", "val_knn"]
    else:
        raise SystemExit(f"unknown family {args.family!r}: use digits or --from-jsonl")
    summary = {probe: _summary(runs, probe) for probe in probes}
    if args.from_jsonl is None:
        # RankMe is capped by the embedding width, so across widths it may mostly rank widths;
        # the same measures within each width say whether it ranks the other settings
        for probe in probes:
            summary[probe]["by_width"] = {
                str(width): _summary([r for r in runs if r["settings"]["width"] == width], probe)
                for width in sorted({r["settings"]["width"] for r in runs})
            }
    record = {
        "benchmark": "core.rankme_selection",
        "family": args.family,
        "seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "summary": summary,
        "runs": runs,
    }
    if args.plot is not None:
        plot(runs, probes[0], args.family, args.plot)
    line = json.dumps(record)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
