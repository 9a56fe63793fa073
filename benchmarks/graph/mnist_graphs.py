"""Graph classification from self-supervised graph embeddings: MNIST digits as pixel graphs.

    python benchmarks/graph/mnist_graphs.py --data-root /path/to/data --methods graphcl,graphmae \\
        --seeds 0,1 --threads 1

Data: the MNIST test set (``DIR/mnist-test/t10k-*-idx*-ubyte.gz``, the only MNIST split the
machine holds) turned into graphs: the pixels brighter than ``--threshold`` are the nodes (features:
intensity, column / 27, row / 27), joined to their bright 8-neighbours (undirected), the digit is
the graph's label. Split per seed: ``--train`` graphs for pre-training and the probe's fit,
``--val`` for validation, the rest (about 2,000) for test. Per method: pre-training on the train
graphs (no labels), then :func:`selfsup.metrics.linear_probe` (logistic regression on
standardised graph embeddings) fitted on the train graphs, scored on validation and test. The
untrained encoder of each method and the mean node features of each graph are reported beside
it. Prints progress on stderr, one JSON line last (``results``: per method and seed, val / test
accuracy, pre-training seconds).
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import global_mean_pool

from selfsup.metrics import linear_probe
from selfsup_graph.methods import GraphCL, GraphMAEGraphLevel


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def pixel_graph(image: np.ndarray, label: int, threshold: float) -> Data:
    """Bright pixels as nodes (intensity, x, y), 8-neighbour edges both ways."""
    bright = image > threshold
    ys, xs = np.nonzero(bright)
    index = -np.ones(image.shape, dtype=np.int64)
    index[ys, xs] = np.arange(len(ys))
    src, dst = [], []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        y2, x2 = ys + dy, xs + dx
        ok = (y2 >= 0) & (y2 < image.shape[0]) & (x2 >= 0) & (x2 < image.shape[1])
        a, b = index[ys[ok], xs[ok]], index[y2[ok], x2[ok]]
        keep = b >= 0
        src += [a[keep], b[keep]]
        dst += [b[keep], a[keep]]
    edge_index = torch.from_numpy(np.stack([np.concatenate(src), np.concatenate(dst)]))
    x = np.stack([image[ys, xs], xs / 27.0, ys / 27.0], axis=1).astype(np.float32)
    return Data(x=torch.from_numpy(x), edge_index=edge_index, y=torch.tensor([label]))


def load_graphs(root: Path, threshold: float) -> list[Data]:
    images = read_idx(root / "mnist-test" / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx(root / "mnist-test" / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return [pixel_graph(img, int(y), threshold) for img, y in zip(images, labels, strict=True)]


def build(name: str) -> torch.nn.Module:
    if name == "graphcl":  # GraphCL's unsupervised TU settings (the class defaults)
        return GraphCL(in_channels=3)
    if name == "graphmae":  # GraphMAE's graph-level (MUTAG) settings, 3 input features
        return GraphMAEGraphLevel(in_channels=3)
    raise ValueError(f"unknown method {name!r}")


#: Pre-training settings of each method's reference: (lr, batch size, epochs)
SETTINGS = {"graphcl": (0.01, 128, 20), "graphmae": (5e-4, 64, 20)}


def embed(method: torch.nn.Module, graphs: list[Data]) -> torch.Tensor:
    method.eval()
    with torch.no_grad():
        out = [
            method.embed(Batch.from_data_list(graphs[i : i + 512]))
            for i in range(0, len(graphs), 512)
        ]
    method.train()
    return torch.cat(out)


def pretrain(
    method: torch.nn.Module, graphs: list[Data], name: str, seed: int, epochs: int
) -> float:
    lr, batch_size, _ = SETTINGS[name]
    torch.manual_seed(seed)
    loader = DataLoader(graphs, batch_size=batch_size, shuffle=True, drop_last=True)
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    start = time.time()
    for epoch in range(epochs):
        losses = []
        for batch in loader:
            loss = method.training_losses(batch)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        log(
            f"{name} seed {seed} epoch {epoch + 1}/{epochs} loss {np.mean(losses):.4f} "
            f"({time.time() - start:.0f}s)"
        )
    return time.time() - start


def probe(feats: list[torch.Tensor], labels: list[torch.Tensor]) -> tuple[float, float]:
    val = linear_probe(feats[0], labels[0], feats[1], labels[1]).accuracy
    test = linear_probe(feats[0], labels[0], feats[2], labels[2]).accuracy
    return round(float(val), 4), round(float(test), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", required=True, help="folder holding mnist-test/")
    ap.add_argument("--methods", default="graphcl,graphmae")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=None, help="default: each method's reference")
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", default=None, help="also write the JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    graphs = load_graphs(Path(args.data_root), args.threshold)
    nodes = [g.num_nodes for g in graphs]
    log(f"{len(graphs)} graphs, {np.mean(nodes):.0f} nodes on average ({time.time() - t0:.0f}s)")
    results = []
    for seed in (int(s) for s in args.seeds.split(",") if s.strip()):
        order = np.random.default_rng(seed).permutation(len(graphs))
        cuts = [
            order[: args.train],
            order[args.train : args.train + args.val],
            order[args.train + args.val :],
        ]
        splits = [[graphs[i] for i in idx] for idx in cuts]
        labels = [torch.cat([g.y for g in split]) for split in splits]
        mean_feats = [
            global_mean_pool(b.x, b.batch, size=b.num_graphs)
            for b in (Batch.from_data_list(s) for s in splits)
        ]
        val, test = probe(mean_feats, labels)
        results.append({"method": "mean_node_features", "seed": seed, "val": val, "test": test})
        log(f"seed {seed}: mean node features val {val} test {test}")
        for name in (m for m in args.methods.split(",") if m.strip()):
            torch.manual_seed(seed)
            method = build(name)
            val, test = probe([embed(method, s) for s in splits], labels)
            results.append({"method": f"{name}_untrained", "seed": seed, "val": val, "test": test})
            log(f"seed {seed}: {name} untrained val {val} test {test}")
            epochs = args.epochs or SETTINGS[name][2]
            seconds = pretrain(method, splits[0], name, seed, epochs)
            val, test = probe([embed(method, s) for s in splits], labels)
            results.append(
                {
                    "method": name,
                    "seed": seed,
                    "val": val,
                    "test": test,
                    "epochs": epochs,
                    "pretrain_seconds": round(seconds, 1),
                }
            )
            log(f"seed {seed}: {name} val {val} test {test} ({seconds:.0f}s)")
    line = json.dumps(
        {
            "results": results,
            "graphs": len(graphs),
            "train": args.train,
            "val": args.val,
            "threshold": args.threshold,
            "threads": args.threads,
            "cpu": platform.processor() or platform.machine(),
            "total_seconds": round(time.time() - t0, 1),
        }
    )
    if args.output:
        Path(args.output).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
