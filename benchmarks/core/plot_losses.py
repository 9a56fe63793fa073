"""Plot peak memory and time against N from ``benchmarks/core/losses.py`` JSON output.

    python benchmarks/core/plot_losses.py benchmarks/results/core_losses_h200_fp32.json \
        --out benchmarks/results/core_losses_h200_fp32.png

Prints one JSON line last naming the written file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a JSON line written by losses.py")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    record = json.loads(args.results.read_text().strip().splitlines()[-1])
    losses = sorted({r["loss"] for r in record["results"]})
    fig, axes = plt.subplots(2, len(losses), figsize=(4 * len(losses), 7), squeeze=False)
    for col, loss in enumerate(losses):
        for chunked, style in ((False, "o-"), (True, "s--")):
            rows = sorted(
                (r for r in record["results"] if r["loss"] == loss and r["chunked"] == chunked),
                key=lambda r: r["n"],
            )
            label = f"chunk={rows[0]['chunk_size']}" if chunked else "dense"
            ns = [r["n"] for r in rows]
            axes[0][col].plot(ns, [r["peak_mem_bytes"] / 2**20 for r in rows], style, label=label)
            axes[1][col].plot(ns, [r["time_ms_median"] for r in rows], style, label=label)
        axes[0][col].set_title(loss)
        axes[0][col].set_ylabel("peak memory (MiB)")
        axes[1][col].set_ylabel("forward + backward (ms)")
        for row in axes:
            row[col].set_xscale("log", base=2)
            row[col].set_yscale("log")
            row[col].set_xlabel("N")
            row[col].grid(True, which="both", alpha=0.3)
            row[col].legend()
    fig.suptitle(
        f"selfsup contrastive losses on {record['device_name']} "
        f"({record['dtype']}, D={record['dim']}, {record['mem_method']})"
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(json.dumps({"benchmark": "core.plot_losses", "png": str(args.out)}))


if __name__ == "__main__":
    main()
