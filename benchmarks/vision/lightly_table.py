"""Render the CIFAR-10 rows of ``gpu_table.sh`` next to lightly's published table.

    python benchmarks/vision/lightly_table.py benchmarks/vision/results/lightly_table.jsonl \
        --plot benchmarks/vision/results/lightly_table.png

Prints a Markdown table (one row per run: method, device, epochs run of those scheduled, wall
minutes, images/s, the test kNN of the epoch chosen on validation, the best test kNN over
epochs as lightly reports it, and lightly's row at batch 512 / 200 epochs) and, last, one JSON
line with the rows. lightly's numbers are the ones their documentation publishes (ResNet-18 CIFAR
stem, kNN k = 200, blur off, best kNN over epochs, batch 512, 200 epochs); they are reference
values to compare against, not results of this project.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

#: lightly's CIFAR-10 kNN accuracy, batch 512, 200 epochs (their "Benchmarks" page).
LIGHTLY_B512_E200 = {
    "simclr": 0.848,
    "byol": 0.868,
    "dcl": 0.840,
    "dclw": 0.824,
    "barlow": 0.819,
    "moco": 0.847,
    "swav": 0.842,
    "dino": 0.813,
}


def load(paths: list[str]) -> list[dict]:
    """Every finished run (a JSON line with ``test_knn_at_best_val``), in file order."""
    runs = []
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SystemExit(f"{path}:{number}: not a JSON line ({err.msg})") from err
            if row.get("test_knn_at_best_val") is not None:
                runs.append(row)
    if not runs:
        raise SystemExit(
            f"no finished run in {paths}: rows need test_knn_at_best_val "
            "(cifar10.py with --val-size and --eval-every)"
        )
    return runs


def table_rows(runs: list[dict]) -> list[dict]:
    """One summary per run; ``lightly`` is None for a method lightly's table lacks."""
    rows = []
    for r in runs:
        method = r.get("table_method") or r["method"]
        wall = r.get("pretrain_seconds", 0.0) + r.get("eval_seconds", 0.0)
        rows.append(
            {
                "method": method,
                "device": r.get("device"),
                "epochs_run": r.get("epochs"),
                "epochs_scheduled": r.get("epochs_scheduled"),
                "batch_size": r.get("batch_size"),
                "wall_min": round(wall / 60, 2),
                "images_per_sec": r.get("images_per_sec"),
                "best_val_epoch": r.get("best_val_epoch"),
                "test_knn_at_best_val": r["test_knn_at_best_val"],
                "test_knn_best_over_evals": r.get("test_knn_best_over_evals"),
                "lightly": LIGHTLY_B512_E200.get(method),
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    def cell(v: object, fmt: str = "{}") -> str:
        return "—" if v is None else fmt.format(v)

    out = [
        "| method | device | epochs (run / scheduled) | wall min | images/s "
        "| test kNN, epoch chosen on val | best test kNN over epochs | lightly, b512 / 200 ep |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['method']} | {cell(r['device'])} | {cell(r['epochs_run'])} / "
            f"{cell(r['epochs_scheduled'])} | {r['wall_min']:.1f} | "
            f"{cell(r['images_per_sec'], '{:,.0f}')} | {r['test_knn_at_best_val']:.3f} | "
            f"{cell(r['test_knn_best_over_evals'], '{:.3f}')} | {cell(r['lightly'], '{:.3f}')} |"
        )
    return "\n".join(out)


def plot(rows: list[dict], path: str) -> None:
    fig, ax = plt.subplots(figsize=(1.3 * len(rows) + 2, 3.6))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["test_knn_at_best_val"] for r in rows], 0.4, label="selfsup")
    ax.bar(
        [x + 0.2 for x in xs],
        [r["lightly"] or 0.0 for r in rows],
        0.4,
        label="lightly (b512, 200 ep)",
    )
    ax.set_xticks(list(xs), [f"{r['method']}\n{r['wall_min']:.0f} min" for r in rows])
    ax.set_ylabel("CIFAR-10 test kNN (k = 200)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("jsonl", nargs="+")
    p.add_argument("--plot", default=None, help="also draw the table as a PNG here")
    args = p.parse_args(argv)
    rows = table_rows(load(args.jsonl))
    print(markdown(rows))
    if args.plot:
        plot(rows, args.plot)
    print(json.dumps({"rows": rows, "plot": args.plot}))


if __name__ == "__main__":
    main()
