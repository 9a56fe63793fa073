"""What the streaming benchmarks share: their common options, the memory of the process and its
loader workers (counted once, Linux ``/proc``), and its plot over the epoch."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["add_stream_arguments", "plot_memory", "tree_pss_mib"]


def add_stream_arguments(parser: argparse.ArgumentParser, every: int) -> None:
    """The options every streaming benchmark takes (folder, budget, workers, sampling, labels)."""
    parser.add_argument("--out", required=True, help="shard folder (filled when it has none)")
    parser.add_argument("--budget-mib", type=float, default=2048.0, help="memory budget, MiB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=int, default=every, help="batches between measurements")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--machine", default=None, help="free-text label stored in the JSON")
    parser.add_argument("--plot", default=None, help="write memory over the epoch to this PNG")


def _pss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # a worker that just exited
        return 0.0
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_pss_mib() -> float:
    """PSS of this process and its children (the loader workers), MiB."""
    me = os.getpid()
    return _pss_mib(me) + sum(_pss_mib(c) for c in _children(me))


def plot_memory(result: dict[str, Any], path: str, unit: str) -> None:
    """Memory (PSS of the process and its workers) over the epoch, against budget and data.

    ``result`` holds ``series`` (``[[batch, MiB], ...]``), ``batch_size``, ``budget_mib``,
    ``data_gib_on_disk``, ``workers`` and ``<unit>_per_s``; ``unit`` names what a batch holds.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches, pss = zip(*result["series"], strict=True)
    read = [b * result["batch_size"] / 1000 for b in batches]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(read, pss, marker=".", label="training process + loader workers (PSS)")
    ax.axhline(result["budget_mib"], color="tab:red", linestyle="--", label="memory budget")
    ax.set_xlabel(f"{unit} read (thousands)")
    ax.set_ylabel("MiB")
    ax.set_ylim(0, result["budget_mib"] * 1.15)
    ax.set_title(
        f"{result['data_gib_on_disk']:.2f} GiB of shards streamed, "
        f"{result[f'{unit}_per_s']:.0f} {unit}/s, {result['workers']} workers"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
