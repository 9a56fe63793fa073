"""TU graph-classification datasets (MUTAG, PROTEINS, IMDB-BINARY, ...) from a local raw folder.

Reads PyG's ``TUDataset`` raw layout, the ``<NAME>_*.txt`` files of the TU collection
(https://chrsmrrs.github.io/datasets/)::

    <root>/<NAME>/raw/<NAME>_A.txt                (or <root>/<NAME>/, as the TU zip unpacks,
    <root>/<NAME>/raw/<NAME>_graph_indicator.txt   or <root>/TUDataset/<NAME>/raw)
    <root>/<NAME>/raw/<NAME>_graph_labels.txt      graph classes (for probes)
    <root>/<NAME>/raw/<NAME>_node_labels.txt       optional: node classes -> one-hot features

It never downloads: the raw files are looked for first, and a missing one raises an error
naming the files expected. The files PyG parses as integers are checked to hold only integers
(PyG would turn ``1.5`` into ``1`` and ``nan`` into a huge id without a word); they are then
copied to a writable cache folder named after their SHA-256 digests, where PyG writes
``processed/`` (the data folder may be read-only; changed raw files get a new cache folder).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from torch_geometric.data import Data

from selfsup.data.roots import resolve_data_root
from selfsup_graph.data.graphs import GraphDataModule
from selfsup_graph.data.planetoid import default_cache_dir
from selfsup_graph.data.raw_files import (
    cache_key,
    copy_checked,
    drop_unsafe_processed,
    sha256_file,
)

__all__ = ["TU_INTEGER_FILES", "TU_REQUIRED_FILES", "TUDataModule", "find_tu_raw_dir"]

#: The files PyG's ``TUDataset`` needs (``raw_file_names``); without them it would download.
TU_REQUIRED_FILES: tuple[str, ...] = ("A", "graph_indicator")
#: Files read when present (graph labels for probes, node labels as one-hot features).
_USED_FILES = ("graph_labels", "node_labels")
#: The files PyG reads as integers (``read_tu_data``: ``torch.long``), checked before it does.
TU_INTEGER_FILES: tuple[str, ...] = (
    "A",
    "graph_indicator",
    "graph_labels",
    "node_labels",
    "edge_labels",
)
# PyG parses each cell as a float, then casts it to int64 (1.5 -> 1, nan -> -2**63) without an
# error, so anything but digits, signs, commas and white space is refused (a lone sign already
# fails PyG's float parsing)
_INTEGER_BYTES = b"0123456789,+- \t\r\n\x0b\x0c"
_NOT_INTEGER = re.compile(rb"[^0-9,+\- \t\r\n\x0b\x0c]")


def _check_integers(path: Path) -> None:
    """Refuse a TU file that holds anything but comma-separated integers, naming the line."""
    data = path.read_bytes()
    if not data.translate(None, _INTEGER_BYTES):  # the fast path: nothing else in the file
        return
    found = _NOT_INTEGER.search(data)
    assert found is not None
    start = data.rfind(b"\n", 0, found.start()) + 1
    end = data.find(b"\n", found.start())
    text = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace").strip()
    line = data.count(b"\n", 0, found.start()) + 1
    raise ValueError(
        f"{path} line {line}: {text!r} is not a list of integers; TU files hold integer node "
        "ids, graph ids and labels (PyG would cast 1.5 to 1 and nan to a huge id without an "
        "error). Fix the file."
    )


def find_tu_raw_dir(root: Path, name: str) -> Path:
    """The folder under ``root`` holding ``<name>_A.txt`` and ``<name>_graph_indicator.txt``:
    ``root/<name>/raw``, ``root/TUDataset/<name>/raw``, ``root/<name>``, ``root/raw`` or ``root``.

    Raises:
        FileNotFoundError: None has both files (the message lists the folders and files).

    Examples:
        >>> find_tu_raw_dir(Path("/data"), "MUTAG")  # doctest: +SKIP
        PosixPath('/data/MUTAG/raw')
    """
    candidates = [
        root / name / "raw",
        root / "TUDataset" / name / "raw",
        root / name,
        root / "raw",
        root,
    ]
    required = [f"{name}_{f}.txt" for f in TU_REQUIRED_FILES]
    for folder in candidates:
        if all((folder / f).is_file() for f in required):
            return folder
    tried = "\n  ".join(str(c) for c in candidates)
    used = ", ".join(f"{name}_{f}.txt" for f in _USED_FILES)
    raise FileNotFoundError(
        f"TU dataset {name!r}: {' and '.join(required)} not found; looked in:\n  {tried}\n"
        f"Put the unpacked TU files ({' and '.join(required)}, plus {used} when the dataset has "
        f"them) in <root>/{name}/raw and pass root=<root> (in a config: data init_args root) "
        "or set SELFSUP_DATA. Nothing is downloaded."
    )


class TUDataModule(GraphDataModule):
    """A TU graph-classification dataset, offline, with GraphMAE's node features.

    Node features follow GraphMAE's ``load_graph_classification_dataset``: one-hot node labels
    when the dataset has them (MUTAG 7, PROTEINS 3, NCI1 37 columns), else one-hot in-degrees
    capped at ``max_degree`` (GraphMAE's ``MAX_DEGREES = 400``) with ``min(largest in-degree,
    max_degree) + 1`` columns (IMDB-BINARY, IMDB-MULTI, COLLAB, REDDIT-BINARY). Continuous node
    attributes are not used, as in GraphMAE. The integer files (:data:`TU_INTEGER_FILES`) are
    checked to hold only integers; PyG reads the files (``TUDataset``, self-loops removed) from
    a copy in ``cache_dir/tudataset/<name>-<key>/<name>/raw``, ``<key>`` naming the files'
    SHA-256 digests (a changed file gets a new cache folder, never the old graph).
    ``selfsup embed`` ids are the graph indices (file order).

    Args:
        name: The dataset's name as in its files (``"MUTAG"``, ``"IMDB-BINARY"``, ...).
        root: Folder holding the raw files (see :func:`find_tu_raw_dir`); default
            ``$SELFSUP_DATA`` (no other default: with neither, loading raises).
        cache_dir: Writable folder for the copy and PyG's ``processed/`` (default
            ``$XDG_CACHE_HOME/selfsup`` or ``~/.cache/selfsup``).
        features: ``"auto"`` (node labels, else degrees; default) or ``"degree"`` (always
            degrees, GraphMAE's ``--deg4feat``).
        max_degree: Cap of the degree features (default 400, GraphMAE's ``MAX_DEGREES``).
        batch_size, shuffle, num_workers, probe_train_fraction, seed: See
            :class:`~selfsup_graph.data.GraphDataModule`.

    Raises:
        ValueError: An unknown ``features`` or a negative ``max_degree`` (at construction); a
            TU integer file holding anything else (when loading, naming the file and line).
        selfsup.data.DataRootError, FileNotFoundError: No data folder, or the raw files are
            missing (when loading; before PyG could try to download anything).

    Examples:
        >>> data = TUDataModule("MUTAG", root="/data", batch_size=64)  # nothing is read yet
        >>> data.name
        'MUTAG'
    """

    def __init__(
        self,
        name: str = "MUTAG",
        root: str | None = None,
        cache_dir: str | None = None,
        features: Literal["auto", "degree"] = "auto",
        max_degree: int = 400,
        batch_size: int = 32,
        shuffle: bool = True,
        num_workers: int = 0,
        probe_train_fraction: float = 0.8,
        seed: int = 0,
    ) -> None:
        if features not in ("auto", "degree"):
            raise ValueError(f"features must be 'auto' or 'degree', got {features!r}.")
        if isinstance(max_degree, bool) or not isinstance(max_degree, int) or max_degree < 0:
            raise ValueError(
                f"max_degree must be an int >= 0 (the cap of one-hot degree features; GraphMAE "
                f"uses 400), got {max_degree!r}."
            )
        super().__init__(
            None,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=num_workers,
            probe_train_fraction=probe_train_fraction,
            seed=seed,
            missing_features="one_hot_degree",
            max_degree=max_degree,
        )
        self.name = name
        self.root = root
        self.cache_dir = cache_dir
        self.features = features

    def prepare_data(self) -> None:
        self._copy_raw()

    def _copy_raw(self) -> Path:
        """Check ``<name>_*.txt`` and copy them to their cache folder (named after their
        digests, so changed files never meet an old ``processed/``); returns the root PyG
        reads."""
        root = resolve_data_root(self.root, owner="TUDataModule", parameter="root")
        source = find_tu_raw_dir(root, self.name)
        files = sorted(source.glob(f"{self.name}_*.txt"))
        for suffix in TU_INTEGER_FILES:
            path = source / f"{self.name}_{suffix}.txt"
            if path.is_file():
                _check_integers(path)
        digests = {src.name: sha256_file(src) for src in files}
        cache_root = Path(self.cache_dir) if self.cache_dir else default_cache_dir()
        pyg_root = cache_root.expanduser() / "tudataset" / f"{self.name}-{cache_key(digests)}"
        for src in files:
            copy_checked(src, pyg_root / self.name / "raw" / src.name, digests[src.name])
        drop_unsafe_processed(pyg_root / self.name / "processed", "TUDataModule")
        return pyg_root

    def load(self) -> list[Data]:
        from torch_geometric.datasets import TUDataset

        cache = self._copy_raw()
        # the required raw files are in place (find_tu_raw_dir), so PyG has nothing to download
        dataset = TUDataset(str(cache), self.name, use_node_attr=False)
        graphs = []
        for i in range(len(dataset)):
            graph = dataset[i]
            if self.features == "degree" or (graph.x is not None and graph.x.shape[1] == 0):
                graph.x = None
            graphs.append(graph)
        return graphs
