"""Your own graph from two CSV files: an edge list with node names and a node-feature table.

Layout (both files have a header row; ``.csv.gz`` works too)::

    my_graph/
      edges.csv   src,dst          one edge per row, by node name
      nodes.csv   node,f1,f2,...   one row per node: its name, then its numeric features

Node ``i`` is the ``i``-th row of ``nodes.csv``; ``selfsup embed`` writes one vector per node
with the node's name as its id.
"""

from __future__ import annotations

import csv
import gzip
import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from selfsup.data.roots import resolve_data_root
from selfsup_graph.data.node import NodeDataModule

__all__ = ["EdgeListDataModule", "read_edge_list_graph"]

# features are stored as float32: a larger magnitude would silently become inf
_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")  # -sig: a spreadsheet's BOM


def _rows(path: Path, what: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of the data rows of a CSV file with a header (yielded first)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"EdgeListDataModule: the {what} file {str(path)!r} does not exist; pass its name "
            "relative to root (or an absolute path)."
        )
    with _open_text(path) as handle:
        for number, cells in enumerate(csv.reader(handle), start=1):
            if not cells or all(not c.strip() for c in cells):
                continue  # blank lines
            yield number, [c.strip() for c in cells]


def _header(rows: Iterator[tuple[int, list[str]]], path: Path, needs: str) -> list[str]:
    """The header cells of :func:`_rows` (its first row); ``needs`` says what it must hold."""
    try:
        return next(rows)[1]
    except StopIteration:
        raise ValueError(
            f"EdgeListDataModule: {path} is empty; it needs a header row {needs}."
        ) from None


def _column(header: list[str], name: str, path: Path) -> int:
    if name not in header:
        raise ValueError(
            f"EdgeListDataModule: {path} has no column {name!r} (its header is {header}); "
            "rename the column or pass the column name in the data module's arguments."
        )
    return header.index(name)


def read_edge_list_graph(
    edges: str | Path,
    nodes: str | Path,
    *,
    source_column: str = "src",
    target_column: str = "dst",
    node_column: str = "node",
    feature_columns: Sequence[str] | None = None,
    undirected: bool = True,
) -> tuple[Data, list[str]]:
    """Read an edge-list CSV and a node-feature CSV into a PyG graph and the node names.

    Args:
        edges: CSV with a header and the columns ``source_column`` and ``target_column``
            (node names; other columns are ignored).
        nodes: CSV with a header, the column ``node_column`` (unique node names) and the
            feature columns (every other column, or ``feature_columns``), all numeric.
        source_column: Edge source column (default ``"src"``).
        target_column: Edge target column (default ``"dst"``).
        node_column: Node name column (default ``"node"``).
        feature_columns: The feature columns, in this order (default: every column but
            ``node_column``, in file order).
        undirected: Add the reverse of every edge (default True: an edge list usually lists
            each link once; neighbour sampling and GCN/GAT messages then go both ways).
            Duplicate edges are merged either way.

    Returns:
        ``(Data(x (N, F) float32, edge_index (2, E) int64), names)``; node ``i`` is the
        ``i``-th data row of ``nodes`` and ``names[i]`` its name.

    Raises:
        FileNotFoundError: A file does not exist.
        ValueError: A missing column, no node rows, a duplicate or empty node name, a feature
            that is not a finite number, a row with too few cells, or an edge naming a node
            that ``nodes`` does not list (each message names the file and line).

    Warns:
        UserWarning: ``edges`` lists no edge (every node isolated: each is embedded from its
            own features only).

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "edges.csv").write_text("src,dst\\na,b\\nb,c\\n")
        >>> _ = (folder / "nodes.csv").write_text("node,f1,f2\\na,1,0\\nb,0,1\\nc,1,1\\n")
        >>> graph, names = read_edge_list_graph(folder / "edges.csv", folder / "nodes.csv")
        >>> graph.x.shape, graph.edge_index.shape[1], names
        (torch.Size([3, 2]), 4, ['a', 'b', 'c'])
    """
    nodes, edges = Path(nodes), Path(edges)
    rows = _rows(nodes, "node-feature")
    header = _header(rows, nodes, f"({node_column},<feature columns...>) and one row per node")
    name_at = _column(header, node_column, nodes)
    if feature_columns is None:
        feature_at = [i for i in range(len(header)) if i != name_at]
        feature_names = [header[i] for i in feature_at]
    else:
        feature_names = list(feature_columns)
        feature_at = [_column(header, c, nodes) for c in feature_names]
    if not feature_at:
        raise ValueError(
            f"EdgeListDataModule: {nodes} has no feature columns besides {node_column!r}; "
            "GraphMAE reconstructs node features, so give every node at least one."
        )
    width = max([name_at, *feature_at]) + 1
    index: dict[str, int] = {}
    first_line: dict[str, int] = {}
    features: list[list[float]] = []
    for line, cells in rows:
        if len(cells) < width:
            raise ValueError(
                f"EdgeListDataModule: {nodes} line {line} has {len(cells)} cells, the header "
                f"{len(header)}; every row needs the node name and all feature columns."
            )
        name = cells[name_at]
        if not name:
            raise ValueError(f"EdgeListDataModule: {nodes} line {line} has an empty node name.")
        if name in index:
            raise ValueError(
                f"EdgeListDataModule: node {name!r} is listed twice in {nodes} (lines "
                f"{first_line[name]} and {line}); give each node exactly one row."
            )
        values = []
        for column, at in zip(feature_names, feature_at, strict=True):
            try:
                value = float(cells[at])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ValueError(
                    f"EdgeListDataModule: {nodes} line {line}, column {column!r}: {cells[at]!r} "
                    "is not a finite number; features must be numeric (encode categories, e.g. "
                    "one-hot, and fill missing values before training)."
                )
            if abs(value) > _FLOAT32_MAX:
                raise ValueError(
                    f"EdgeListDataModule: {nodes} line {line}, column {column!r}: {cells[at]!r} "
                    f"is beyond float32's range (+-{_FLOAT32_MAX:.4g}) and would become inf; "
                    "rescale the column."
                )
            values.append(value)
        index[name], first_line[name] = len(features), line
        features.append(values)
    if not features:
        raise ValueError(f"EdgeListDataModule: {nodes} has a header but no node rows.")

    rows = _rows(edges, "edge-list")
    header = _header(rows, edges, f"({source_column},{target_column})")
    src_at = _column(header, source_column, edges)
    dst_at = _column(header, target_column, edges)
    need = max(src_at, dst_at) + 1
    pairs: list[tuple[int, int]] = []
    for line, cells in rows:
        if len(cells) < need:
            raise ValueError(
                f"EdgeListDataModule: {edges} line {line} has {len(cells)} cells; it needs the "
                f"columns {source_column!r} and {target_column!r}."
            )
        ends = []
        for cell in (cells[src_at], cells[dst_at]):
            if cell not in index:
                raise ValueError(
                    f"EdgeListDataModule: {edges} line {line} names node {cell!r}, which "
                    f"{nodes} does not list; add a row for it there (with its features) or "
                    "remove the edge."
                )
            ends.append(index[cell])
        pairs.append((ends[0], ends[1]))
    n = len(features)
    if not pairs:
        warnings.warn(
            f"EdgeListDataModule: {edges} lists no edges: all {n} nodes of {nodes} are "
            "isolated, so the encoder sees each node's own features only; check that this is "
            "the edge list you meant.",
            stacklevel=2,
        )
    edge_index = (
        torch.tensor(pairs, dtype=torch.long).t().contiguous()
        if pairs
        else torch.zeros(2, 0, dtype=torch.long)
    )
    edge_index = (
        to_undirected(edge_index, num_nodes=n) if undirected else coalesce(edge_index, num_nodes=n)
    )
    names = [""] * n
    for name, i in index.items():
        names[i] = name
    return Data(x=torch.tensor(features, dtype=torch.float32), edge_index=edge_index), names


class EdgeListDataModule(NodeDataModule):
    """Your own graph: ``edges.csv`` (``src,dst`` node names) + ``nodes.csv`` (``node,f1,...``).

    Reads both files from ``root`` (see :func:`read_edge_list_graph` for the format and the
    checks), maps node names to ids ``0..N-1`` in the order of ``nodes.csv``, and trains like
    :class:`~selfsup_graph.data.NodeDataModule` (full graph, or neighbour-sampled mini-batches
    with ``batch_size``). ``selfsup embed`` ids are the node names.

    Args:
        root: The folder holding both files; default ``$SELFSUP_DATA`` (there is no other
            default: with neither, loading raises and says so).
        edges: The edge list, relative to ``root`` or absolute (default ``"edges.csv"``).
        nodes: The node-feature table, relative to ``root`` or absolute (default
            ``"nodes.csv"``).
        source_column, target_column, node_column, feature_columns, undirected: See
            :func:`read_edge_list_graph`.
        batch_size, num_neighbors, shuffle, num_workers, predict_num_neighbors: See
            :class:`~selfsup_graph.data.NodeDataModule`.

    Raises:
        selfsup.data.DataRootError: Neither ``root`` nor ``SELFSUP_DATA`` names an existing
            folder (when loading).
        FileNotFoundError, ValueError: Missing files or malformed contents (when loading).

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "edges.csv").write_text("src,dst\\nann,bob\\n")
        >>> _ = (folder / "nodes.csv").write_text("node,age\\nann,31\\nbob,45\\n")
        >>> data = EdgeListDataModule(root=str(folder))
        >>> data.num_features, data.node_ids()
        (1, ['ann', 'bob'])
    """

    def __init__(
        self,
        root: str | None = None,
        edges: str = "edges.csv",
        nodes: str = "nodes.csv",
        source_column: str = "src",
        target_column: str = "dst",
        node_column: str = "node",
        feature_columns: list[str] | None = None,
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
        self.root = root
        self.edges = edges
        self.nodes = nodes
        self.source_column = source_column
        self.target_column = target_column
        self.node_column = node_column
        self.feature_columns = list(feature_columns) if feature_columns is not None else None
        self.undirected = undirected
        self._names: list[str] | None = None

    def _path(self, name: str) -> Path:
        path = Path(name).expanduser()
        if path.is_absolute():
            return path
        return resolve_data_root(self.root, owner="EdgeListDataModule", parameter="root") / path

    def load(self) -> Data:
        graph, names = read_edge_list_graph(
            self._path(self.edges),
            self._path(self.nodes),
            source_column=self.source_column,
            target_column=self.target_column,
            node_column=self.node_column,
            feature_columns=self.feature_columns,
            undirected=self.undirected,
        )
        self._names = names
        return graph

    def node_ids(self) -> list[str]:
        """The node names, in the order of ``nodes.csv`` (row ``i`` is node ``i``)."""
        self.graph  # noqa: B018 (loading sets the names)
        assert self._names is not None
        return list(self._names)

    def node_index(self) -> dict[str, int]:
        """Node name -> node id (row of ``x``)."""
        return {name: i for i, name in enumerate(self.node_ids())}
