"""Raw data files copied into a writable cache for PyG: SHA-256 digests, copies checked byte for
byte, cache folders named by the digests, and PyG ``processed/`` folders checked before PyG
reads them.

PyG datasets (``Planetoid``, ``TUDataset``) read ``<root>/<name>/raw`` and write
``<root>/<name>/processed``; they reuse ``processed/`` whenever its files exist, whatever the raw
files hold now. Naming ``<root>`` after the digests of the raw files (:func:`cache_key`) makes a
changed raw file a new, empty cache folder instead of a stale graph. PyG also reads
``processed/pre_transform.pt`` with ``torch.load(weights_only=False)`` and falls back to it for
``processed/data.pt``: :func:`drop_unsafe_processed` removes a ``processed/`` folder whose files
do not load with ``weights_only=True`` before PyG sees it, so PyG rebuilds it from the checked
raw files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_key", "copy_checked", "drop_unsafe_processed", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 lowercase hex digits.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
        >>> _ = path.write_bytes(b"")
        >>> sha256_file(path)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(digests: Mapping[str, str]) -> str:
    """16 hex digits naming a set of files by their names and digests (order-free).

    Examples:
        >>> cache_key({"a": "00", "b": "11"}) == cache_key({"b": "11", "a": "00"})
        True
        >>> cache_key({"a": "00"}) == cache_key({"a": "01"})
        False
    """
    lines = "".join(f"{name}\t{digest}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def copy_checked(source: Path, target: Path, digest: str) -> None:
    """Make ``target`` a copy of ``source`` whose SHA-256 is ``digest``.

    A ``target`` that already has the digest is kept; any other is replaced by a fresh copy
    (written to a temporary file, checked, then moved into place), so what PyG reads is exactly
    the bytes that were checked, even if the cache was changed since.

    Raises:
        ValueError: The copy's digest is not ``digest``: ``source`` changed after it was
            checked.
    """
    if target.is_file() and sha256_file(target) == digest:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    copied = hashlib.sha256()
    try:
        with source.open("rb") as src, tmp.open("wb") as dst:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                copied.update(chunk)
                dst.write(chunk)
        if copied.hexdigest() != digest:
            raise ValueError(
                f"{source} changed while it was being read (SHA-256 {copied.hexdigest()}, "
                f"checked as {digest} a moment before); load again once nothing writes to the "
                "data folder."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def drop_unsafe_processed(processed: Path, owner: str) -> None:
    """Remove ``processed`` (a PyG ``processed/`` folder) unless every ``*.pt`` file in it loads
    with ``torch.load(weights_only=True)``; PyG then rebuilds it from the raw files.

    Files PyG wrote itself always load this way; one that does not was written by something
    else, and PyG would unpickle it with ``weights_only=False`` (which runs code).
    """
    if not processed.is_dir():
        return
    import torch
    import torch_geometric.data  # noqa: F401 (registers PyG's classes as safe globals)

    for path in sorted(processed.glob("*.pt")):
        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any failure means: not a file PyG wrote
            warnings.warn(
                f"{owner}: {path} does not load with torch.load(weights_only=True) "
                f"({type(err).__name__}), so PyG did not write it and reading it could run "
                f"code; the folder {processed} is removed and rebuilt from the checked raw files.",
                stacklevel=3,
            )
            shutil.rmtree(processed)
            return
