"""Checkpoints that cannot be lost, and that load without running code.

:class:`AtomicCheckpointIO` replaces Lightning's default ``TorchCheckpointIO`` in every
:class:`~selfsup.experiment.SSLModule` run (the module swaps it in at ``setup``; a
``CheckpointIO`` the user configured is kept):

- **Saving** writes to a temporary file in the checkpoint's own folder, flushes and fsyncs
  it, then renames it over the target (:func:`selfsup.export.atomic_file`). A rename is
  atomic only within one filesystem, which is why the temporary file never lives in
  ``$TMPDIR``: a kill or a full disk at any byte leaves the previous file as it was. A kill
  cannot clean up after itself, so the next save of the same name removes what a killed
  save left behind.
- **Loading** always uses ``torch.load(weights_only=True)`` (tensors and plain data only),
  whatever the PyTorch version, and refuses remote paths (``s3://``, ``https://``, ...)
  unless ``allow_remote=True``, because Lightning reads remote checkpoints with
  ``weights_only=False``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from selfsup.export.atomic import atomic_file

__all__ = ["AtomicCheckpointIO", "is_remote_path", "remove_stale_partials"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_remote_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a URL (``s3://``, ``https://``, ...) rather than a local file.

    Examples:
        >>> is_remote_path("s3://bucket/last.ckpt"), is_remote_path("runs/last.ckpt")
        (True, False)
    """
    text = os.fspath(path)
    return bool(_SCHEME.match(text)) and not text.startswith("file://")


def _local(path: str | os.PathLike[str]) -> Path:
    text = os.fspath(path)
    return Path(text.removeprefix("file://"))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO``: atomic, fsynced saves; weights-only, local-only loads.

    Args:
        allow_remote: Read and write remote paths through Lightning's default IO (its remote
            reads are not weights-only: only for checkpoints you made yourself).

    Examples:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(plugins=[AtomicCheckpointIO()])  # doctest: +SKIP
    """

    def __init__(self, allow_remote: bool = False) -> None:
        super().__init__()
        self.allow_remote = bool(allow_remote)

    def _refuse_remote(self, path: str | os.PathLike[str], what: str) -> None:
        if is_remote_path(path) and not self.allow_remote:
            raise ValueError(
                f"refusing to {what} the remote checkpoint {os.fspath(path)!r}: Lightning reads "
                "remote files with weights_only=False, which can run code. Copy it to a local "
                "file, or pass AtomicCheckpointIO(allow_remote=True) for checkpoints you trust."
            )

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        self._refuse_remote(path, "write")
        if is_remote_path(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            raise TypeError(
                "AtomicCheckpointIO.save_checkpoint takes no storage_options (got "
                f"{storage_options!r}); use a CheckpointIO plugin that supports them."
            )
        target = _local(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(target)
        with atomic_file(target, "wb") as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(
        self,
        path: str | os.PathLike[str],
        map_location: Callable | str | torch.device | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if weights_only is False:
            raise ValueError(
                "AtomicCheckpointIO loads checkpoints with weights_only=True only: a checkpoint "
                "file can otherwise run code. Save what the checkpoint needs as tensors and "
                "plain data."
            )
        self._refuse_remote(path, "read")
        if is_remote_path(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        target = _local(path)
        if not target.is_file():
            raise FileNotFoundError(f"checkpoint file {str(target)!r} does not exist.")
        location = map_location if map_location is not None else "cpu"
        return torch.load(target, map_location=location, weights_only=True)


def remove_stale_partials(target: Path) -> list[Path]:
    """Delete temporary files killed checkpoint saves left in ``target``'s folder; return them.

    Only names :func:`~selfsup.export.atomic_file` makes for checkpoints
    (``.<name>.ckpt.<random>.partial``) and for ``target`` itself are touched: a step
    checkpoint killed mid-save is never saved again under its own name.
    """
    removed = []
    patterns = {f".{target.name}.*.partial", ".*.ckpt.*.partial"}
    stale_files = {p for pattern in patterns for p in target.parent.glob(pattern)}
    for stale in sorted(stale_files):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return removed
