"""OGB node-property graphs (``ogbn-arxiv``) read from the raw files of a local folder.

No ``ogb`` package and no download: the module reads the layout OGB's own download unpacks
(``ogb/io/read_graph_raw.py::read_csv_graph_raw`` and ``NodePropPredDataset.get_idx_split``)::

    <root>/ogbn_arxiv/                 (or <root>/arxiv, the zip's folder, or <root> itself)
      raw/edge.csv.gz                  E rows "source,target" (node ids 0..N-1), no header
      raw/node-feat.csv.gz             N rows of F comma-separated floats
      raw/node-label.csv.gz            N rows, one class id each
      raw/node_year.csv.gz             N rows, one year each (optional)
      raw/num-node-list.csv.gz         one row: N (optional; else the feature rows)
      split/time/train.csv.gz          node ids, one per row (also valid.csv.gz, test.csv.gz)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from selfsup.data.roots import resolve_data_root
from selfsup_graph.data.node import NodeDataModule

__all__ = [
    "OGB_NODE_SPLITS",
    "OGBNodeDataModule",
    "find_ogb_dir",
    "read_ogb_node_graph",
    "standardize",
]

#: The official split folder (``split/<type>``) of the OGB node datasets stored as CSV files.
OGB_NODE_SPLITS: dict[str, str] = {"ogbn-arxiv": "time", "ogbn-products": "sales_ranking"}

_REQUIRED = ("raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node-label.csv.gz")
_SPLITS = ("train", "valid", "test")


def _expected(split: str) -> list[str]:
    return [*_REQUIRED, *(f"split/{split}/{s}.csv.gz" for s in _SPLITS)]


def find_ogb_dir(root: Path, name: str) -> Path:
    """The dataset folder under ``root``: ``<root>/ogbn_arxiv`` (OGB's folder after download),
    ``<root>/arxiv`` (the zip's folder), ``<root>/ogbn-arxiv`` or ``root`` itself.

    Raises:
        FileNotFoundError: None of them holds ``raw/edge.csv.gz`` (the message lists the
            folders tried and the files expected).

    Examples:
        >>> find_ogb_dir(Path("/data"), "ogbn-arxiv")  # doctest: +SKIP
        PosixPath('/data/ogbn_arxiv')
    """
    short = name.split("-", 1)[1] if name.startswith("ogbn-") else name
    candidates = list(
        dict.fromkeys([root / name.replace("-", "_"), root / short, root / name, root])
    )
    for folder in candidates:
        if (folder / "raw" / "edge.csv.gz").is_file():
            return folder
    tried = "\n  ".join(str(c) for c in candidates)
    split = OGB_NODE_SPLITS.get(name, "<split>")
    raise FileNotFoundError(
        f"{name} raw files not found; looked for raw/edge.csv.gz in:\n  {tried}\nExpected the "
        f"layout of OGB's download: {', '.join(_expected(split))}. Pass root=<folder> (in a "
        "config: data init_args root) or set SELFSUP_DATA. Nothing is downloaded."
    )


def _read(path: Path, dtype: type) -> np.ndarray:
    """A headerless CSV (``.gz`` read transparently) as a 2-D array."""
    try:
        return np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path} is not a comma-separated table of numbers: {err}") from err


def _check_features(x: np.ndarray, path: Path) -> None:
    """Refuse NaN/inf features, naming the first one's line and column (both from 1)."""
    bad = ~np.isfinite(x)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(
            f"{path} line {rows[0] + 1}, column {cols[0] + 1}: {x[rows[0], cols[0]]} is not a "
            f"finite number ({int(bad.sum())} such values in {len(np.unique(rows))} rows); a "
            "NaN or inf feature would spread to the whole column when the features are "
            "standardised, and to the neighbours' embeddings. Fill or drop the missing values."
        )


def _labels(path: Path, num_nodes: int) -> torch.Tensor:
    """Class ids, ``-1`` where the file says ``nan`` (OGB's missing label); other non-integers
    are refused with their line."""
    labels = _read(path, np.float64).reshape(-1)
    if labels.shape[0] != num_nodes:
        raise ValueError(f"{path} has {labels.shape[0]} rows but the graph has {num_nodes} nodes.")
    known = ~np.isnan(labels)
    bad = known & ~(np.isfinite(labels) & (labels == np.round(labels)) & (labels >= 0))
    if bad.any():
        row = int(np.nonzero(bad)[0][0])
        raise ValueError(
            f"{path} line {row + 1}: {labels[row]} is not a class id (an integer >= 0, or nan "
            f"for a node without a label); {int(bad.sum())} such rows."
        )
    return torch.from_numpy(np.where(known, labels, -1).astype(np.int64))


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Columns to zero mean and unit (population) variance; constant columns only centred.

    GraphMAE's ``scale_feats`` (scikit-learn ``StandardScaler``) for ogbn-arxiv.

    Examples:
        >>> standardize(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
        tensor([[-1.,  0.],
                [ 1.,  0.]])
    """
    x64 = x.double()
    std = x64.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((x64 - x64.mean(dim=0)) / std).to(x.dtype)


def read_ogb_node_graph(folder: Path, split: str) -> Data:
    """Read one OGB node-property graph from its raw files (layout in the module docstring).

    Args:
        folder: The dataset folder (holding ``raw/`` and ``split/``).
        split: The split type, the folder under ``split/`` (ogbn-arxiv: ``"time"``).

    Returns:
        ``Data(x (N, F) float32, edge_index (2, E) as stored, y (N,) int64 (-1 where a label
        is missing), train_mask, val_mask, test_mask, node_year (N,) when present)``.

    Raises:
        FileNotFoundError: A required file is missing (the message lists all expected files).
        ValueError: Inconsistent sizes (feature, label or year rows against the node count),
            node ids out of range, a NaN/inf feature, or a label that is neither a class id
            nor ``nan`` (each naming the file and line).

    Examples:
        >>> graph = read_ogb_node_graph(Path("/data/ogbn_arxiv"), "time")  # doctest: +SKIP
        >>> graph.num_nodes, graph.num_features  # doctest: +SKIP
        (169343, 128)
    """
    missing = [f for f in _expected(split) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {', '.join(missing)}; an OGB node dataset folder holds "
            f"{', '.join(_expected(split))} (as OGB's download unpacks them)."
        )
    raw = folder / "raw"
    features = _read(raw / "node-feat.csv.gz", np.float32)
    _check_features(features, raw / "node-feat.csv.gz")
    x = torch.from_numpy(features)
    num_nodes = int(x.shape[0])
    if (raw / "num-node-list.csv.gz").is_file():
        counts = _read(raw / "num-node-list.csv.gz", np.int64).reshape(-1)
        if counts.size != 1:
            raise ValueError(
                f"{raw / 'num-node-list.csv.gz'} lists {counts.size} graphs; only single-graph "
                "node datasets are supported."
            )
        num_nodes = int(counts[0])
    if x.shape[0] != num_nodes:
        raise ValueError(
            f"{raw / 'node-feat.csv.gz'} has {x.shape[0]} rows but the graph has {num_nodes} nodes."
        )
    edges = _read(raw / "edge.csv.gz", np.int64)
    if edges.size and edges.shape[1] != 2:
        raise ValueError(
            f"{raw / 'edge.csv.gz'} has {edges.shape[1]} columns; expected 2 (source,target)."
        )
    edge_index = torch.from_numpy(edges.reshape(-1, 2).T.copy())
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(
            f"{raw / 'edge.csv.gz'} has node ids in [{int(edge_index.min())}, "
            f"{int(edge_index.max())}] but the graph has {num_nodes} nodes "
            f"(ids 0..{num_nodes - 1})."
        )
    y = _labels(raw / "node-label.csv.gz", num_nodes)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=num_nodes)
    for key, part in zip(("train_mask", "val_mask", "test_mask"), _SPLITS, strict=True):
        path = folder / "split" / split / f"{part}.csv.gz"
        idx = torch.from_numpy(_read(path, np.int64).reshape(-1))
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_nodes):
            raise ValueError(f"{path} has node ids outside 0..{num_nodes - 1}.")
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[idx] = True
        data[key] = mask
    if (raw / "node_year.csv.gz").is_file():
        year = torch.from_numpy(_read(raw / "node_year.csv.gz", np.int64).reshape(-1))
        if year.numel() != num_nodes:
            raise ValueError(
                f"{raw / 'node_year.csv.gz'} has {year.numel()} rows but the graph has "
                f"{num_nodes} nodes."
            )
        data.node_year = year
    return data


class OGBNodeDataModule(NodeDataModule):
    """An OGB node-property graph (``ogbn-arxiv``) from its raw CSV files, offline.

    Reads the files of the module docstring with NumPy (no ``ogb`` package, nothing is
    downloaded; the folder may be read-only), then, as GraphMAE and GraphMAE2 prepare
    ogbn-arxiv (``datasets/data_proc.py``: ``dgl.to_bidirected`` and ``scale_feats``), adds
    reverse edges and standardises the features. ``y`` and the official split masks feed the
    node probe (:class:`~selfsup_graph.evaluation.NodeProbeMonitor`); ``selfsup embed`` ids are
    OGB's node ids ``0..N-1``.

    Args:
        name: The dataset (default ``"ogbn-arxiv"``; ``"ogbn-products"`` is stored the same
            way). Other names need ``split``.
        root: Folder holding the dataset folder (see :func:`find_ogb_dir`); default
            ``$SELFSUP_DATA`` (no other default: with neither, loading raises).
        split: Split type under ``split/`` (default: :data:`OGB_NODE_SPLITS` of ``name``).
        standardize_features: Zero-mean, unit-variance feature columns (default True,
            GraphMAE's ``scale_feats``).
        undirected: Add reverse edges and merge duplicates (default True, ``to_bidirected``).
        batch_size, num_neighbors, shuffle, num_workers, predict_num_neighbors: See
            :class:`~selfsup_graph.data.NodeDataModule`.

    Raises:
        ValueError: An unknown ``name`` without ``split`` (at construction).
        selfsup.data.DataRootError, FileNotFoundError, ValueError: Missing folder or files,
            or inconsistent files (when loading).

    Examples:
        >>> data = OGBNodeDataModule("ogbn-arxiv", root="/data", batch_size=512)
        >>> data.split
        'time'
    """

    def __init__(
        self,
        name: str = "ogbn-arxiv",
        root: str | None = None,
        split: str | None = None,
        standardize_features: bool = True,
        undirected: bool = True,
        batch_size: int | None = None,
        num_neighbors: list[int] | None = None,
        shuffle: bool = True,
        num_workers: int = 0,
        predict_num_neighbors: list[int] | None = None,
    ) -> None:
        super().__init__(
            None,
            batch_size=batch_size,
            num_neighbors=num_neighbors,
            shuffle=shuffle,
            num_workers=num_workers,
            predict_num_neighbors=predict_num_neighbors,
        )
        if split is None:
            if name not in OGB_NODE_SPLITS:
                raise ValueError(
                    f"no known split type for {name!r} (known: {sorted(OGB_NODE_SPLITS)}); pass "
                    "split=<the folder name under split/>."
                )
            split = OGB_NODE_SPLITS[name]
        self.name = name
        self.root = root
        self.split = split
        self.standardize_features = standardize_features
        self.undirected = undirected

    def load(self) -> Data:
        root = resolve_data_root(self.root, owner="OGBNodeDataModule", parameter="root")
        data = read_ogb_node_graph(find_ogb_dir(root, self.name), self.split)
        if self.standardize_features:
            data.x = standardize(data.x)
        n = int(data.num_nodes)
        if self.undirected:
            data.edge_index = to_undirected(data.edge_index, num_nodes=n)
        else:
            data.edge_index = coalesce(data.edge_index, num_nodes=n)
        return data
