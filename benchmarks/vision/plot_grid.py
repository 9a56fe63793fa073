"""Plot the kNN accuracy of every run of one or more ``grid.py`` JSON-lines files.

    python benchmarks/vision/plot_grid.py benchmarks/vision/results/protocol_grid_h200.jsonl \
        --baseline 0.3070 --target 0.4070 --output benchmarks/vision/results/protocol_grid_h200.png

One horizontal bar per run, grouped by method (best first, inside a method too); dashed lines
mark the random-encoder kNN (``--baseline``) and the target (``--target``). The last stdout line
is a JSON object with the number of runs plotted and the image's path.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def load(paths: list[str]) -> list[dict]:
    """Finished runs (failed ones carry ``error`` and no accuracy), the last of each name."""
    runs: dict[str, dict] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("knn_acc") is not None:
                    runs[r["name"]] = r
    if not runs:
        raise SystemExit(f"no finished runs in {paths}")
    return list(runs.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("jsonl", nargs="+")
    p.add_argument("--baseline", type=float, default=None, help="random-encoder kNN")
    p.add_argument("--target", type=float, default=None, help="kNN the protocol asks for")
    p.add_argument("--title", default="CIFAR-10 CPU protocol replayed on a GPU (kNN, k = 200)")
    p.add_argument("--output", required=True)
    args = p.parse_args()
    runs = load(args.jsonl)
    methods = sorted(
        {r["method"] for r in runs},
        key=lambda m: -max(r["knn_acc"] for r in runs if r["method"] == m),
    )
    ordered = [
        r
        for m in methods
        for r in sorted((r for r in runs if r["method"] == m), key=lambda r: -r["knn_acc"])
    ]
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(ordered) + 1.2))
    ax.barh(
        range(len(ordered)),
        [r["knn_acc"] for r in ordered],
        color=[colours[r["method"]] for r in ordered],
    )
    ax.set_yticks(range(len(ordered)), [r["name"] for r in ordered], fontsize=6)
    ax.invert_yaxis()  # the best method's best run on top
    for value, label in ((args.baseline, "random encoder"), (args.target, "target")):
        if value is not None:
            ax.axvline(value, color="k", linestyle="--", linewidth=0.8)
            ax.text(value, -0.8, f" {label}", fontsize=7, va="bottom")
    low = min(r["knn_acc"] for r in ordered)
    ax.set_xlim(min(low, args.baseline or low) - 0.02, max(r["knn_acc"] for r in ordered) + 0.02)
    ax.set_xlabel("kNN accuracy on the CIFAR-10 test folder")
    ax.set_title(args.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=130, bbox_inches="tight")
    print(json.dumps({"runs": len(ordered), "methods": methods, "output": args.output}))


if __name__ == "__main__":
    main()
