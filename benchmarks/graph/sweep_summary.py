"""Choose a GraphMAE(2) setting and its probe on Cora's validation mask alone; RankMe vs probe.

Reads the JSON lines that ``graphmae_planetoid.py --no-test --jsonl ... --save-embeddings DIR``
wrote (one per run: ``tag``, ``seed``, ``rankme``, validation probe results) and the saved
embeddings, and never reads a test label. For every setting (``tag``), probe learning rate and
weight decay, and probe rule it estimates validation accuracy over the seeds:

- ``last``: the probe after its last epoch, scored on the 500 validation nodes.
- ``best_val``: the probe from its best validation epoch (GraphMAE's ``early-stopping_acc``).
  Scored on the same nodes that chose the epoch, this is a maximum over 300 noisy epochs and
  biased upwards, so it is *cross-fitted*: the epoch is chosen on one half of the validation
  nodes and scored on the other half, and the other way round.

The setting with the highest mean is chosen (ties: the earlier in the ``--order`` of tags, then
``last`` before ``best_val``, then the smaller learning rate and weight decay). The Spearman and
Kendall rank correlations (``selfsup.metrics.spearman`` / ``kendall_tau``) of RankMe against the
validation accuracy of the runs are reported too. One JSON object goes to ``--out`` and stdout.

``--score-test FILE`` then scores the test mask once, for the chosen setting only: the chosen
probe (learning rate, weight decay, rule) on each of its seeds' saved embeddings, mean and
population std over the seeds (GraphMAE's ``np.std``), written to ``FILE``.

    python benchmarks/graph/sweep_summary.py --jsonl runs.jsonl --embeddings DIR \\
        --data-root /path/to/data [--out summary.json] [--score-test final.json] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.metrics import kendall_tau, spearman
from selfsup_graph.evaluation import mean_std, node_linear_probe


def val_history(
    embeddings: Tensor,
    labels: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    *,
    lr: float,
    weight_decay: float,
    epochs: int,
    seed: int,
) -> Tensor:
    """``(epochs, n_val)`` booleans: is validation node ``j`` right after probe epoch ``e``?

    The probe of :func:`selfsup_graph.evaluation.node_linear_probe` (same seeding, Adam,
    full-batch cross-entropy on the train nodes), keeping every epoch's validation predictions
    so that several epoch-selection rules can be scored afterwards. Test nodes are not touched.
    """
    x = embeddings.detach().float()
    y = labels.long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    x_val, y_val = x[val_mask], y[val_mask]
    rows = []
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(probe(x[train_mask]), y[train_mask]).backward()
        optimizer.step()
        with torch.no_grad():
            rows.append(probe(x_val).argmax(1) == y_val)
    return torch.stack(rows)


def best_epoch(history: Tensor) -> int:
    """The epoch with the highest accuracy; ties go to the later epoch (GraphMAE's ``>=``)."""
    acc = history.float().mean(1)
    return int(len(acc) - 1 - torch.argmax(acc.flip(0)))


def rule_scores(history: Tensor, halves: tuple[Tensor, Tensor]) -> dict[str, float]:
    """Validation accuracy of each probe rule, without scoring a choice on its own nodes.

    ``best_val_in_sample`` (the epoch chosen and scored on all validation nodes) is returned
    for comparison; it is what ``node_linear_probe`` reports as ``val_acc``.
    """
    a, b = halves
    crossed = 0.0
    for pick, score in ((a, b), (b, a)):
        e = best_epoch(history[:, pick])
        crossed += float(history[e, score].float().sum())
    return {
        "last": float(history[-1].float().mean()),
        "best_val": crossed / history.shape[1],
        "best_val_in_sample": float(history[best_epoch(history)].float().mean()),
    }


def split_halves(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A fixed random split of ``n`` validation positions into two halves."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n // 2], perm[n // 2 :]


def read_runs(paths: list[str]) -> list[dict[str, Any]]:
    runs = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                runs.append(json.loads(line))
    for run in runs:
        if run.get("test_acc") is not None:
            raise ValueError(
                f"{run.get('tag')} seed {run.get('seed')} was scored on test: a validation-only "
                "sweep must be run with --no-test."
            )
    return runs


def summarise(
    runs: list[dict[str, Any]],
    scores: dict[tuple[str, int], dict[tuple[float, float], dict[str, float]]],
    order: list[str],
) -> dict[str, Any]:
    """Mean validation accuracy per (tag, lr, wd, rule) over seeds, the choice, and RankMe.

    Settings are compared on the seeds that every tag has (paired: the same initialisations and
    masks where the settings agree), so an unfinished sweep cannot favour the setting whose
    extra seeds happened to be lucky.
    """
    seeds_of: dict[str, set[int]] = defaultdict(set)
    for tag, seed in scores:
        seeds_of[tag].add(seed)
    paired = set.intersection(*seeds_of.values()) if seeds_of else set()
    table: dict[tuple[str, float, float, str], list[float]] = defaultdict(list)
    for (tag, seed), per_setting in scores.items():
        if seed not in paired:
            continue
        for (lr, wd), by_rule in per_setting.items():
            for rule in ("last", "best_val"):
                table[(tag, lr, wd, rule)].append(by_rule[rule])
    rows = []
    for (tag, lr, wd, rule), vals in table.items():
        rows.append(
            {
                "tag": tag,
                "probe_lr": lr,
                "probe_weight_decay": wd,
                "probe_rule": rule,
                "val_mean": 100 * statistics.fmean(vals),
                "val_std": 100 * (statistics.pstdev(vals) if len(vals) > 1 else 0.0),
                "seeds": len(vals),
            }
        )
    rank = {tag: i for i, tag in enumerate(order)}

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            -round(r["val_mean"], 9),
            rank.get(r["tag"], len(rank)),
            r["probe_rule"] != "last",
            r["probe_lr"],
            r["probe_weight_decay"],
        )

    rows.sort(key=key)
    chosen = rows[0] if rows else None
    # RankMe against the validation accuracy of every run (the benchmark's own probe and the
    # chosen probe setting/rule): does the unsupervised signal rank runs like the probe does?
    rankmes = [float(r["rankme"]) for r in runs]
    probe_val = [float(r["val_acc"]) for r in runs]
    corr: dict[str, Any] = {
        "runs": len(runs),
        "vs_config_probe_best_val_in_sample": {
            "spearman": spearman(rankmes, probe_val) if len(runs) > 1 else None,
            "kendall_tau": kendall_tau(rankmes, probe_val) if len(runs) > 1 else None,
        },
    }
    if chosen is not None and scores:
        setting = (chosen["probe_lr"], chosen["probe_weight_decay"])
        chosen_val = [scores[(r["tag"], r["seed"])][setting][chosen["probe_rule"]] for r in runs]
        corr["vs_chosen_probe"] = {
            "spearman": spearman(rankmes, chosen_val) if len(runs) > 1 else None,
            "kendall_tau": kendall_tau(rankmes, chosen_val) if len(runs) > 1 else None,
        }
    per_run = [
        {
            "tag": r["tag"],
            "seed": r["seed"],
            "rankme": r["rankme"],
            "val_acc_config_probe": r["val_acc"],
            "scores": {
                f"lr={lr},wd={wd}": v
                for (lr, wd), v in scores.get((r["tag"], r["seed"]), {}).items()
            },
        }
        for r in runs
    ]
    return {
        "chosen": chosen,
        "paired_seeds": sorted(paired),
        "table": rows,
        "rankme_correlation": corr,
        "runs": per_run,
    }


def score_test(
    chosen: dict[str, Any], runs: list[dict[str, Any]], embeddings: Path, graph: Any
) -> dict[str, Any]:
    """Test accuracy of the chosen setting's runs with the chosen probe (the only test read)."""
    # every seed of the chosen setting (the choice itself used the paired seeds only)
    mine = sorted((r for r in runs if r["tag"] == chosen["tag"]), key=lambda r: r["seed"])
    per_seed = []
    for run in mine:
        emb = torch.load(embeddings / f"{run['tag']}_seed{run['seed']}.pt")
        r = node_linear_probe(
            emb,
            graph.y,
            graph.train_mask,
            graph.val_mask,
            graph.test_mask,
            lr=chosen["probe_lr"],
            weight_decay=chosen["probe_weight_decay"],
            epochs=int(run["probe"]["epochs"]),
            seed=int(run["seed"]),
        )
        test = r.test_acc if chosen["probe_rule"] == "best_val" else r.final_test_acc
        val = r.val_acc if chosen["probe_rule"] == "best_val" else r.final_val_acc
        assert test is not None
        per_seed.append(
            {
                "seed": run["seed"],
                "test_acc": 100 * test,
                "val_acc": 100 * val,
                "best_probe_epoch": r.best_epoch,
                "rankme": run["rankme"],
                "fit_seconds": run["fit_seconds"],
                "sec_per_epoch": run["sec_per_epoch"],
                "epochs": run["epochs"],
            }
        )
    test_mean, test_std = mean_std([p["test_acc"] for p in per_seed])
    val_mean, val_std = mean_std([p["val_acc"] for p in per_seed])
    return {
        "chosen": chosen,
        "overrides": mine[0]["overrides"],
        "test_acc_mean": test_mean,
        "test_acc_std": test_std,
        "val_acc_mean": val_mean,
        "val_acc_std": val_std,
        "seeds": [p["seed"] for p in per_seed],
        "per_seed": per_seed,
        "fit_seconds_total": sum(p["fit_seconds"] for p in per_seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jsonl", action="append", required=True, help="sweep JSON lines")
    parser.add_argument("--embeddings", required=True, help="folder of <tag>_seed<s>.pt")
    parser.add_argument("--data-root", default=None, help="folder holding planetoid/Cora/raw")
    parser.add_argument("--dataset", default="Cora")
    parser.add_argument("--order", default="", help="tags in tie-break order, comma-separated")
    parser.add_argument("--out", default=None, help="write the summary JSON here too")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--score-test", default=None, help="score the chosen setting on test once; JSON here"
    )
    parser.add_argument("--machine", default=None, help="free-text label for --score-test")
    parser.add_argument(
        "--cache",
        default=None,
        help="JSON of validation scores already computed (reused, extended)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from selfsup_graph.data import PlanetoidDataModule

    runs = read_runs(args.jsonl)
    graph = PlanetoidDataModule(name=args.dataset, root=args.data_root).probe_graph()
    halves = split_halves(int(graph.val_mask.sum()))
    scores: dict[tuple[str, int], dict[tuple[float, float], dict[str, float]]] = {}
    # validation scores are deterministic per (tag, seed, lr, wd): a cache lets the summary run
    # after every finished run on a busy machine without re-probing the earlier ones
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    for run in runs:
        emb = torch.load(Path(args.embeddings) / f"{run['tag']}_seed{run['seed']}.pt")
        settings = [(g["lr"], g["weight_decay"]) for g in run["probe_grid"]] or [
            (run["probe"]["lr"], run["probe"]["weight_decay"])
        ]
        per: dict[tuple[float, float], dict[str, float]] = {}
        for lr, wd in settings:
            key = f"{run['tag']}|{run['seed']}|{lr}|{wd}"
            if key in cache:
                per[(lr, wd)] = cache[key]
                continue
            history = val_history(
                emb,
                graph.y,
                graph.train_mask,
                graph.val_mask,
                lr=lr,
                weight_decay=wd,
                epochs=int(run["probe"]["epochs"]),
                seed=int(run["seed"]),
            )
            per[(lr, wd)] = cache[key] = rule_scores(history, halves)
        scores[(run["tag"], run["seed"])] = per
        if cache_path is not None:
            cache_path.write_text(json.dumps(cache))
        print(f"scored {run['tag']} seed {run['seed']}", file=sys.stderr, flush=True)
    order = [t for t in args.order.split(",") if t] or list(dict.fromkeys(r["tag"] for r in runs))
    summary = summarise(runs, scores, order)
    summary["jsonl"] = args.jsonl
    text = json.dumps(summary, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    if args.score_test and summary["chosen"] is not None:
        final = score_test(summary["chosen"], runs, Path(args.embeddings), graph)
        final.update(
            dataset=args.dataset,
            machine=args.machine,
            torch=torch.__version__,
            threads=torch.get_num_threads(),
            rankme_correlation=summary["rankme_correlation"],
            selection="tag, probe lr/weight decay and rule chosen on validation (cross-fitted)",
        )
        Path(args.score_test).write_text(json.dumps(final, indent=1) + "\n")
        print(
            f"test ({summary['chosen']['tag']}, {len(final['seeds'])} seeds): "
            f"{final['test_acc_mean']:.2f} +- {final['test_acc_std']:.2f}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
