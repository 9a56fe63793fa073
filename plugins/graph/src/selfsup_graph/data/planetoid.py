"""Planetoid citation graphs (Cora, CiteSeer, PubMed) loaded offline from a read-only raw folder.

The raw ``ind.<name>.*`` files are Python pickles, and PyG reads them with ``pickle.load``,
which runs whatever code a file holds. Every raw file is therefore checked against the SHA-256
of the published file (:data:`PLANETOID_SHA256`) before anything reads it; other files are
refused unless the user opts in with ``trust_pickle_files=True``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from torch_geometric.data import Data

from selfsup.data.roots import resolve_data_root
from selfsup_graph.data.node import NodeDataModule
from selfsup_graph.data.raw_files import (
    cache_key,
    copy_checked,
    drop_unsafe_processed,
    sha256_file,
)

__all__ = [
    "PLANETOID_NAMES",
    "PLANETOID_SHA256",
    "PLANETOID_SOURCE",
    "PlanetoidDataModule",
    "UntrustedPickleError",
    "check_raw_files",
    "default_cache_dir",
    "find_raw_dir",
]

PLANETOID_NAMES: tuple[str, ...] = ("Cora", "CiteSeer", "PubMed")
_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_SPLITS = ("public", "full", "random")

#: Where the raw files are published (the folder PyG's ``Planetoid`` downloads from).
PLANETOID_SOURCE = (
    "https://github.com/kimiyoung/planetoid/tree/af6abf468a772cc055bec88c52e4d6f51b7c37e3/data"
)

#: SHA-256 of each published raw file (:data:`PLANETOID_SOURCE`). Cora's were computed here from
#: a byte-for-byte copy of that commit's files. CiteSeer's and PubMed's files were not available
#: offline: their digests are the ones published for the same commit in
#: github.com/skygazer42/sky-vgl (``vgl/data/public.py``, ``_PLANETOID_RAW_SHA256``, commit
#: 7cbb28df), which two other public records agree with digit for digit (a loader pinning the
#: same commit, and a reproduction log that hashed its downloads); its Cora digests match ours.
PLANETOID_SHA256: dict[str, dict[str, str]] = {
    "Cora": {
        "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
        "ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    },
    "CiteSeer": {
        "ind.citeseer.x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
        "ind.citeseer.tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
        "ind.citeseer.allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
        "ind.citeseer.y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
        "ind.citeseer.ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
        "ind.citeseer.ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
        "ind.citeseer.graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
        "ind.citeseer.test.index": (
            "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4"
        ),
    },
    "PubMed": {
        "ind.pubmed.x": "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33",
        "ind.pubmed.tx": "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d",
        "ind.pubmed.allx": "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e",
        "ind.pubmed.y": "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3",
        "ind.pubmed.ty": "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd",
        "ind.pubmed.ally": "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e",
        "ind.pubmed.graph": "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9",
        "ind.pubmed.test.index": (
            "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5"
        ),
    },
}


class UntrustedPickleError(ValueError):
    """A Planetoid raw file (a pickle) is not the published file, and loading it was not
    allowed (``trust_pickle_files=False``)."""


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


def check_raw_files(
    folder: Path, name: str, trust_pickle_files: bool = False, owner: str = "PlanetoidDataModule"
) -> dict[str, str]:
    """SHA-256 of the eight raw files of ``name`` in ``folder``, checked against the published.

    Nothing is unpickled here: the files are only hashed.

    Args:
        folder: The folder holding ``ind.<name>.*``.
        name: ``"Cora"``, ``"CiteSeer"`` or ``"PubMed"``.
        trust_pickle_files: Accept files that differ from the published ones (with a warning
            naming them) instead of refusing them.
        owner: Named in the error and the warning.

    Returns:
        ``{file name: SHA-256}`` of the eight files.

    Raises:
        UntrustedPickleError: A file differs from the published one and
            ``trust_pickle_files`` is False (the message names each file with both digests).

    Examples:
        >>> check_raw_files(Path("/data/planetoid/Cora/raw"), "Cora")  # doctest: +SKIP
        {'ind.cora.x': '23cfa55d...', ...}
    """
    published = PLANETOID_SHA256.get(name, {})
    digests = {f: sha256_file(folder / f) for f in _raw_files(name)}
    differ = [f for f, digest in digests.items() if published.get(f) != digest]
    if not differ:
        return digests
    if not trust_pickle_files:
        lines = "\n".join(
            f"  {f}: SHA-256 {digests[f]} (published {published.get(f, 'unknown')})" for f in differ
        )
        raise UntrustedPickleError(
            f"{owner}: {len(differ)} of the {len(digests)} raw files of {name} in {folder} "
            f"differ from the published files ({PLANETOID_SOURCE}):\n{lines}\nPlanetoid's raw "
            "files (all but test.index) are Python pickles, and PyG reads them with pickle.load, "
            "which runs any code a file holds, so they were refused before anything read them. "
            "Use the published files; "
            "or, only if you trust whoever made these files, pass trust_pickle_files=True (in a "
            "config: trust_pickle_files: true in the data's init_args): this runs code from the "
            "folder."
        )
    warnings.warn(
        f"{owner}: trust_pickle_files=True: loading {len(differ)} raw file(s) of {name} in "
        f"{folder} that differ from the published files ({', '.join(differ)}); unpickling them "
        "runs any code they hold.",
        stacklevel=3,
    )
    return digests


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

    The raw ``ind.<name>.*`` files are pickles, which PyG reads with ``pickle.load`` (running any
    code a file holds). Before anything reads them, each is hashed and compared with the
    published file's SHA-256 (:data:`PLANETOID_SHA256`); a file that differs is refused with
    :class:`UntrustedPickleError` unless ``trust_pickle_files=True``. The checked files are then
    copied from ``root`` (which may be read-only) to ``cache_dir/planetoid/<name>-<key>/<name>/
    raw``, ``<key>`` naming the files' digests, where PyG's ``Planetoid`` writes ``processed/``:
    changed raw files get a new cache folder (never the old graph), a cached copy that no
    longer matches is copied again, and a ``processed/`` file that PyG did not write is removed
    before PyG reads it. Features are row-normalised (``NormalizeFeatures``), matching the DGL
    datasets GraphMAE was tuned on. Public split: Cora 140 train / 500 validation / 1000 test
    nodes.

    Args:
        name: ``"Cora"`` (default), ``"CiteSeer"`` or ``"PubMed"``.
        root: Folder holding ``planetoid/<name>/raw`` (or ``<name>/raw``); default
            ``$SELFSUP_DATA``. There is no other default: with neither, loading raises.
        cache_dir: Writable folder (default ``$XDG_CACHE_HOME/selfsup`` or ``~/.cache/selfsup``).
        split: PyG's ``"public"`` (default), ``"full"`` or ``"random"``. (``"geom-gcn"`` needs
            ten more split files that this module does not read, and is refused.)
        normalize_features: Row-normalise features (default True).
        trust_pickle_files: Load raw files that differ from the published ones (default False).
            This runs code from the folder: only for files whose maker you trust.
        batch_size, num_neighbors, shuffle, num_workers, predict_num_neighbors: See
            :class:`NodeDataModule`.

    Raises:
        selfsup.data.DataRootError: Neither ``root`` nor ``SELFSUP_DATA`` is given, or the
            folder does not exist (a ``FileNotFoundError``).
        FileNotFoundError: When the raw files are not under ``root`` (message lists the paths).
        UntrustedPickleError: A raw file differs from the published one and
            ``trust_pickle_files`` is False (a ``ValueError``; when loading).
        ValueError: On an unknown ``name`` or ``split``.
        TypeError: ``trust_pickle_files`` is not a bool.

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
        trust_pickle_files: bool = False,
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
        if split == "geom-gcn":
            raise ValueError(
                "split='geom-gcn' needs Geom-GCN's ten split files, which PlanetoidDataModule "
                "does not read (PyG would download them); use split='public', 'full' or "
                "'random', or load the graph yourself and pass it to NodeDataModule."
            )
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}.")
        if not isinstance(trust_pickle_files, bool):
            raise TypeError(
                f"trust_pickle_files must be True or False, got {trust_pickle_files!r} "
                f"({type(trust_pickle_files).__name__})."
            )
        self.name = canonical[name.lower()]
        self.root = root
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.split = split
        self.normalize_features = normalize_features
        self.trust_pickle_files = trust_pickle_files

    def prepare_data(self) -> None:
        self._copy_raw()

    def _copy_raw(self) -> Path:
        """Check the raw files, copy them to their cache folder; returns the root PyG reads."""
        root = resolve_data_root(self.root, owner="PlanetoidDataModule", parameter="root")
        source = find_raw_dir(root, self.name)
        digests = check_raw_files(source, self.name, self.trust_pickle_files)
        cache = (self.cache_dir or default_cache_dir()).expanduser() / "planetoid"
        pyg_root = cache / f"{self.name}-{cache_key(digests)}"
        for f, digest in digests.items():
            copy_checked(source / f, pyg_root / self.name / "raw" / f, digest)
        drop_unsafe_processed(pyg_root / self.name / "processed", "PlanetoidDataModule")
        return pyg_root

    def load(self) -> Data:
        from torch_geometric.datasets import Planetoid
        from torch_geometric.transforms import NormalizeFeatures

        pyg_root = self._copy_raw()
        transform = NormalizeFeatures() if self.normalize_features else None
        dataset = Planetoid(str(pyg_root), self.name, split=self.split, transform=transform)
        return dataset[0]
