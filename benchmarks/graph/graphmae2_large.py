"""GraphMAE2 mini-batch pre-training on a generated graph of a million nodes: memory and nodes/s.

The user's path end to end: ``NodeDataModule(graph, batch_size, num_neighbors)`` (PyG's
``NeighborLoader``, or our pure-PyTorch sampler when neither ``pyg-lib`` nor ``torch-sparse`` is
installed) feeding ``GraphMAE2`` through ``SSLModule`` and a Lightning ``Trainer``. The graph is a
planted partition (``--communities`` groups, a share ``--p-in`` of each node's edges inside its
group, features = the group's centroid plus noise), made undirected, so a probe could find the
groups; nothing is downloaded.

Measured: seconds per optimiser step after ``--warmup`` steps, seed nodes per second (the
mini-batch's ``batch_size`` nodes whose features are reconstructed) and sampled nodes per second
(every node a step's encoder runs on), the resident memory (RSS) after the graph is built and at
every step, and the bytes of the graph's tensors. A flat RSS over the steps shows that memory is
set by the graph and the batch, not by how long training runs.

    python benchmarks/graph/graphmae2_large.py --nodes 1000000 --steps 40 --threads 2

Prints progress to stderr (Lightning's bar) and one JSON line last on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import Any

import torch
from lightning.pytorch import Callback, Trainer
from torch_geometric.data import Data

from selfsup.experiment import SSLModule, Task
from selfsup_graph.data import NodeDataModule
from selfsup_graph.data.sampling import has_pyg_sampler_backend
from selfsup_graph.methods.graphmae import GraphMAE2


def planted_partition(
    nodes: int, avg_degree: int, features: int, communities: int, p_in: float, seed: int
) -> Data:
    """An undirected graph with ``nodes * avg_degree`` directed edges (each edge both ways)."""
    gen = torch.Generator().manual_seed(seed)
    group = torch.randint(0, communities, (nodes,), generator=gen)
    half = nodes * avg_degree // 2
    src = torch.randint(0, nodes, (half,), generator=gen)
    # inside the group: another node of src's group, found through the nodes sorted by group
    order = torch.argsort(group)
    start = torch.zeros(communities + 1, dtype=torch.long)
    start[1:] = torch.cumsum(torch.bincount(group, minlength=communities), 0)
    g = group[src]
    size = start[g + 1] - start[g]
    inside = order[start[g] + (torch.rand(half, generator=gen) * size).long()]
    anywhere = torch.randint(0, nodes, (half,), generator=gen)
    dst = torch.where(torch.rand(half, generator=gen) < p_in, inside, anywhere)
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    centroids = torch.randn(communities, features, generator=gen)
    x = centroids[group] + 2.0 * torch.randn(nodes, features, generator=gen)
    return Data(x=x, edge_index=edge_index, y=group)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class StepMeter(Callback):
    """Wall time, seed nodes, sampled nodes and RSS of every training step."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        graph = next(iter(batch.values()))
        self.rows.append(
            {
                "seconds": time.perf_counter() - self._start,
                "seeds": int(graph.batch_size),
                "sampled": int(graph.num_nodes),
                "rss_mib": rss_mib(),
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--avg-degree", type=int, default=10, help="directed edges per node")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--communities", type=int, default=20)
    parser.add_argument("--p-in", type=float, default=0.8)
    parser.add_argument("--hidden", type=int, default=256, help="GraphMAE2 hidden width")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--fanout", default="10,5", help="neighbours per hop, one per GAT layer")
    parser.add_argument("--batch-size", type=int, default=1024, help="seed nodes per step")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--machine", default=None, help="free-text label stored in the JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fanout = [int(k) for k in args.fanout.split(",")]
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")

    rss_start = rss_mib()
    t0 = time.perf_counter()
    graph = planted_partition(
        args.nodes, args.avg_degree, args.features, args.communities, args.p_in, args.seed
    )
    build_s = time.perf_counter() - t0
    graph_bytes = sum(t.numel() * t.element_size() for t in (graph.x, graph.edge_index, graph.y))
    print(
        f"graph: {args.nodes:,} nodes, {graph.edge_index.shape[1]:,} edges, "
        f"{graph_bytes / 2**20:.0f} MiB of tensors, built in {build_s:.1f} s",
        file=sys.stderr,
    )
    data = NodeDataModule(graph, batch_size=args.batch_size, num_neighbors=fanout)
    torch.manual_seed(args.seed)
    method = GraphMAE2(
        in_channels=args.features,
        hidden_channels=args.hidden,
        num_heads=args.heads,
        num_layers=len(fanout),
    )
    module = SSLModule(
        [Task("graph", method=method, data=data)],
        optimizer=lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05),
    )
    meter = StepMeter()
    trainer = Trainer(
        max_steps=args.steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[meter],
    )
    rss_ready = rss_mib()
    t0 = time.perf_counter()
    trainer.fit(module)
    wall = time.perf_counter() - t0
    timed = meter.rows[args.warmup :]
    seconds = sum(r["seconds"] for r in timed)
    rss = [r["rss_mib"] for r in meter.rows]
    result: dict[str, Any] = {
        "benchmark": "graphmae2_large",
        "nodes": args.nodes,
        "edges": int(graph.edge_index.shape[1]),
        "features": args.features,
        "hidden": args.hidden,
        "heads": args.heads,
        "fanout": fanout,
        "batch_size": args.batch_size,
        "sampler": "pyg NeighborLoader" if has_pyg_sampler_backend() else "selfsup uniform",
        "steps": len(meter.rows),
        "timed_steps": len(timed),
        "seconds_per_step": seconds / len(timed),
        "seed_nodes_per_s": sum(r["seeds"] for r in timed) / seconds,
        "sampled_nodes_per_s": sum(r["sampled"] for r in timed) / seconds,
        "mean_sampled_nodes_per_step": sum(r["sampled"] for r in timed) / len(timed),
        "graph_tensor_mib": graph_bytes / 2**20,
        "rss_start_mib": rss_start,
        "rss_graph_built_mib": rss_ready,
        "rss_first_step_mib": rss[0],
        "rss_after_warmup_mib": rss[args.warmup],
        "rss_last_step_mib": rss[-1],
        "rss_max_step_mib": max(rss),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "build_graph_s": build_s,
        "fit_wall_s": wall,
        "final_loss": float(trainer.callback_metrics.get("train/loss", float("nan"))),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": args.machine or platform.processor() or platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
