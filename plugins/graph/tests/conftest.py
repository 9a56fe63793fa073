"""Tiny graphs run fastest on one thread (and do not stall on a busy machine); writers of tiny
data sets in the raw layouts the data modules read; the development copy of Cora."""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

# development data beside the checkout (tests skip without it; shipped code never reads it)
SHARED = Path(
    os.environ.get("SELFSUP_DATA", Path(__file__).resolve().parents[4] / "shared" / "data")
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def cora_root() -> Path:
    """The folder holding ``planetoid/Cora/raw`` (skips the test without it)."""
    if not (SHARED / "planetoid" / "Cora" / "raw" / "ind.cora.x").is_file():
        pytest.skip("Cora raw files not available")
    return SHARED


def _gz_rows(path: Path, rows: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt=fmt, delimiter=",")


def _tiny_arxiv(root: Path, folder: str = "ogbn_arxiv") -> dict[str, np.ndarray]:
    """ogbn-arxiv's raw layout with 6 nodes, 3 features, 5 directed edges."""
    rng = np.random.default_rng(0)
    base = root / folder
    arrays = {
        "edges": np.array([[0, 1], [1, 2], [2, 0], [3, 4], [5, 3]]),
        "feat": rng.normal(size=(6, 3)).astype(np.float32),
        "label": np.array([[0], [1], [2], [0], [1], [2]]),
        "year": np.array([[2010], [2011], [2012], [2013], [2019], [2020]]),
    }
    _gz_rows(base / "raw" / "edge.csv.gz", arrays["edges"], "%d")
    _gz_rows(base / "raw" / "node-feat.csv.gz", arrays["feat"], "%.6f")
    _gz_rows(base / "raw" / "node-label.csv.gz", arrays["label"], "%d")
    _gz_rows(base / "raw" / "node_year.csv.gz", arrays["year"], "%d")
    _gz_rows(base / "raw" / "num-node-list.csv.gz", np.array([[6]]), "%d")
    _gz_rows(base / "raw" / "num-edge-list.csv.gz", np.array([[5]]), "%d")
    for part, ids in (("train", [0, 1, 2]), ("valid", [3]), ("test", [4, 5])):
        _gz_rows(base / "split" / "time" / f"{part}.csv.gz", np.array(ids)[:, None], "%d")
    return arrays


def _tiny_tu(folder: Path, name: str, node_labels: bool) -> None:
    """Three graphs (a triangle, a path of 3, a star of 4) in the TU file format."""
    folder.mkdir(parents=True, exist_ok=True)
    edges = [(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (7, 8), (7, 9), (7, 10)]
    a = [f"{s}, {d}" for s, d in edges] + [f"{d}, {s}" for s, d in edges]
    (folder / f"{name}_A.txt").write_text("\n".join(a) + "\n")
    indicator = [1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    (folder / f"{name}_graph_indicator.txt").write_text("\n".join(map(str, indicator)) + "\n")
    (folder / f"{name}_graph_labels.txt").write_text("1\n-1\n1\n")
    if node_labels:
        labels = [0, 1, 2, 0, 0, 1, 2, 1, 1, 1]
        (folder / f"{name}_node_labels.txt").write_text("\n".join(map(str, labels)) + "\n")


def _tiny_planetoid(folder: Path, name: str = "cora", extra_edge: bool = False) -> None:
    """Planetoid's eight raw files for a 510-node ring (PyG's public split needs ``len(y) + 500``
    nodes): 5 train nodes, 500 more in ``allx``, 5 test nodes; 4 features, 2 classes."""
    import scipy.sparse as sp

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_all, n_test, n_train = 505, 5, 5
    n = n_all + n_test

    def features(rows: int) -> sp.csr_matrix:
        x = (rng.random((rows, 4)) < 0.5).astype(np.float32)
        x[x.sum(1) == 0, 0] = 1.0
        return sp.csr_matrix(x)

    def labels(rows: int) -> np.ndarray:
        return np.eye(2, dtype=np.int32)[rng.integers(0, 2, rows)]

    graph = {i: [(i - 1) % n, (i + 1) % n] for i in range(n)}
    if extra_edge:
        graph[0].append(250)
    allx, ally = features(n_all), labels(n_all)
    items = {
        "x": allx[:n_train],
        "y": ally[:n_train],
        "allx": allx,
        "ally": ally,
        "tx": features(n_test),
        "ty": labels(n_test),
        "graph": graph,
    }
    for suffix, obj in items.items():
        with (folder / f"ind.{name}.{suffix}").open("wb") as f:
            pickle.dump(obj, f, protocol=2)
    test_index = [n_all + i for i in (3, 0, 4, 1, 2)]  # unsorted, as in the real files
    (folder / f"ind.{name}.test.index").write_text("\n".join(map(str, test_index)) + "\n")


@pytest.fixture
def tiny_planetoid() -> Callable[..., None]:
    """``tiny_planetoid(folder, name="cora", extra_edge=False)`` writes :func:`_tiny_planetoid`'s
    files (valid pickles, but not the published ones: loading them needs the opt-in)."""
    return _tiny_planetoid


@pytest.fixture
def tiny_arxiv() -> Callable[..., dict[str, np.ndarray]]:
    """``tiny_arxiv(root, folder="ogbn_arxiv")`` writes :func:`_tiny_arxiv`'s files."""
    return _tiny_arxiv


@pytest.fixture
def tiny_tu() -> Callable[[Path, str, bool], None]:
    """``tiny_tu(folder, name, node_labels)`` writes :func:`_tiny_tu`'s files."""
    return _tiny_tu
