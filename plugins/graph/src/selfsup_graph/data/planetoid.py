"""Planetoid citation graphs (Cora, CiteSeer, PubMed) loaded offline from a read-only raw folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.transforms import NormalizeFeatures

from selfsup.data.roots import resolve_data_root
from selfsup_graph.data.node import NodeDataModule

__all__ = [
    "PLANETOID_NAMES",
    "PlanetoidDataModule",
    "default_cache_dir",
    "find_raw_dir",
]

PLANETOID_NAMES: tuple[str, ...] = ("Cora", "CiteSeer", "PubMed")
_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/selfsup`` (default ``~/.cache/selfsup``): where processed files go.

    Examples:
        >>> default_cache_dir().name
        'selfsup'
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selfsup"


def _raw_files(name: str) -> list[str]:
    return [f"ind.{name.lower()}.{suffix}" for suffix in _SUFFIXES]


def find_raw_dir(root: Path, name: str) -> Path:
    """The folder holding ``ind.<name>.*`` under ``root``: ``root/<name>/raw``,
    ``root/planetoid/<name>/raw`` or ``root`` itself.

    Raises:
        FileNotFoundError: If none has all eight raw files.

    Examples:
        >>> find_raw_dir(Path("/data"), "Cora")  # doctest: +SKIP
        PosixPath('/data/planetoid/Cora/raw')
    """
    candidates = [root / name / "raw", root / "planetoid" / name / "raw", root / "raw", root]
    files = _raw_files(name)
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            return folder
    tried = "\n  ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"Planetoid {name!r} raw files ({', '.join(files[:2])}, ...) not found; looked in:\n  "
        f"{tried}\nPass root=<folder> (in a config: data init_args root) or set the environment "
        f"variable SELFSUP_DATA to the folder that holds planetoid/{name}/raw (PyG's Planetoid "
        "raw layout). Nothing is downloaded."
    )


class PlanetoidDataModule(NodeDataModule):
    """A Planetoid graph with its public split, loaded without network access.

    The raw ``ind.<name>.*`` files are copied from ``root`` (which may be read-only) to
    ``cache_dir/planetoid/<name>/raw``, where PyG's ``Planetoid`` writes its ``processed/``
    files; the copy is skipped when it is already there. Features are row-normalised
    (``NormalizeFeatures``), matching the DGL datasets GraphMAE was tuned on. Public split:
    Cora 140 train / 500 validation / 1000 test nodes.

    Args:
        name: ``"Cora"`` (default), ``"CiteSeer"`` or ``"PubMed"``.
        root: Folder holding ``planetoid/<name>/raw`` (or ``<name>/raw``); default
            ``$SELFSUP_DATA``. There is no other default: with neither, loading raises.
        cache_dir: Writable folder (default ``$XDG_CACHE_HOME/selfsup`` or ``~/.cache/selfsup``).
        split: PyG's ``"public"`` (default), ``"full"``, ``"geom-gcn"`` or ``"random"``.
        normalize_features: Row-normalise features (default True).
        batch_size, num_neighbors, shuffle, num_workers, predict_num_neighbors: See
            :class:`NodeDataModule`.

    Raises:
        selfsup.data.DataRootError: Neither ``root`` nor ``SELFSUP_DATA`` is given, or the
            folder does not exist (a ``FileNotFoundError``).
        FileNotFoundError: When the raw files are not under ``root`` (message lists the paths).
        ValueError: On an unknown ``name``.

    Examples:
        >>> data = PlanetoidDataModule("Cora", root="/data")  # nothing is read yet
        >>> data.name
        'Cora'
    """

    def __init__(
        self,
        name: str = "Cora",
        root: str | None = None,
        cache_dir: str | None = None,
        split: str = "public",
        normalize_features: bool = True,
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
        canonical = {n.lower(): n for n in PLANETOID_NAMES}
        if name.lower() not in canonical:
            raise ValueError(f"name must be one of {PLANETOID_NAMES}, got {name!r}.")
        self.name = canonical[name.lower()]
        self.root = root
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.split = split
        self.normalize_features = normalize_features

    def prepare_data(self) -> None:
        self._copy_raw()

    def _copy_raw(self) -> Path:
        root = resolve_data_root(self.root, owner="PlanetoidDataModule", parameter="root")
        source = find_raw_dir(root, self.name)
        cache = (self.cache_dir or default_cache_dir()).expanduser() / "planetoid"
        target = cache / self.name / "raw"
        target.mkdir(parents=True, exist_ok=True)
        for f in _raw_files(self.name):
            src, dst = source / f, target / f
            if dst.is_file() and dst.stat().st_size == src.stat().st_size:
                continue
            tmp = dst.with_suffix(dst.suffix + f".tmp{os.getpid()}")
            shutil.copyfile(src, tmp)  # copyfile: the copy is writable even if src is not
            os.replace(tmp, dst)
        return cache

    def load(self) -> Data:
        cache = self._copy_raw()
        transform = NormalizeFeatures() if self.normalize_features else None
        dataset = Planetoid(str(cache), self.name, split=self.split, transform=transform)
        return dataset[0]
