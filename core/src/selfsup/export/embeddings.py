"""Embeddings out: ids + vectors streamed to Parquet or ``.npy``, written atomically.

Rows arrive batch by batch (``selfsup embed`` runs Lightning's predict loop) and go
to disk in chunks, so a data set larger than memory can be embedded; the file takes
its final name only once the last row is written.

Formats, by the output's suffix:

- ``.parquet`` (needs ``pyarrow``: ``pip install 'selfsup-core[parquet]'``): columns
  ``id`` (string or int64) and ``embedding`` (fixed-size list of float32), one row
  group per chunk; the schema metadata ``selfsup`` holds the run's facts as JSON.
- ``.npy``: ``NAME.npy`` holds the float32 ``(N, D)`` matrix and ``NAME.ids.npy`` the
  ids (a unicode or int64 array), both readable with ``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor

from selfsup.data.embedding import Ids, ids_to_list
from selfsup.export.atomic import atomic_file, new_temp_file
from selfsup.imports import require

__all__ = ["EMBEDDING_FORMATS", "EmbeddingFile", "EmbeddingWriter", "read_embeddings"]

EMBEDDING_FORMATS = (".parquet", ".npy")
_NPY_HEADER_BYTES = 128  # reserved up front; the final shape is written into it at the end


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EMBEDDING_FORMATS:
        raise ValueError(
            f"embedding output {str(path)!r} must end in {' or '.join(EMBEDDING_FORMATS)}."
        )
    return suffix


def _npy_header(rows: int, dim: int) -> bytes:
    body = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    magic = b"\x93NUMPY\x01\x00"
    room = _NPY_HEADER_BYTES - len(magic) - 2
    text = body.ljust(room - 1) + "\n"
    return magic + len(text).to_bytes(2, "little") + text.encode("latin1")


class EmbeddingFile:
    """Stream ``(ids, vectors)`` batches into one embedding file.

    Args:
        path: The output, ending in ``.parquet`` or ``.npy``.
        metadata: JSON facts stored with the vectors (Parquet schema metadata, or a
            ``NAME.meta.json`` beside ``.npy`` files).
        chunk_rows: Rows buffered before a chunk goes to disk.
        overwrite: Replace an existing output (otherwise :class:`FileExistsError`).

    Raises:
        ValueError: batches that disagree on the vector width or id kind, non-finite
            vectors, repeated ids, or a count of ids other than the rows of vectors.

    Examples:
        >>>         >>> out = Path(tempfile.mkdtemp()) / "emb.npy"
        >>> with EmbeddingFile(out) as f:
        ...     f.write(["a", "b"], torch.ones(2, 3))
        >>> read_embeddings(out)[1].shape
        (2, 3)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
        chunk_rows: int = 65536,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.format = _format_of(self.path)
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}.")
        self.metadata = dict(metadata or {})
        self.chunk_rows = int(chunk_rows)
        self.overwrite = overwrite
        targets = [self.path]
        if self.format == ".npy":
            targets += [self._sibling(".ids.npy"), self._sibling(".meta.json")]
        for target in targets:
            if target.exists() and not overwrite:
                raise FileExistsError(
                    f"{target} exists; pass overwrite=True (--overwrite) to replace it."
                )
        if self.format == ".parquet":
            require("pyarrow", "pyarrow", extra="selfsup-core[parquet]")
        self.rows = 0
        self.dim: int | None = None
        self._id_kind: type | None = None
        self._seen: set[Any] = set()
        self._ids: list[Any] = []
        self._pending_ids: list[Any] = []
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._tmp: Path | None = None
        self._handle: Any = None
        self._closed = False

    def _sibling(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name[: -len(".npy")] + suffix)

    # -- writing -------------------------------------------------------------------------
    def write(self, ids: Ids, vectors: Tensor | np.ndarray) -> None:
        """Append one batch: ``len(ids)`` ids and the ``(len(ids), D)`` vectors."""
        if self._closed:
            raise RuntimeError("EmbeddingFile is closed.")
        id_list = ids_to_list(ids)
        if isinstance(vectors, Tensor):
            vectors = vectors.detach().to("cpu", torch.float32).numpy()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(
                f"embed() must return (B, D) vectors, got shape {tuple(vectors.shape)}."
            )
        if vectors.shape[0] != len(id_list):
            raise ValueError(
                f"a batch has {len(id_list)} ids but {vectors.shape[0]} embedding rows; the data "
                "module's ids and the method's embed() output must align one to one."
            )
        if self.dim is None:
            self.dim = int(vectors.shape[1])
        elif vectors.shape[1] != self.dim:
            raise ValueError(f"embedding width changed from {self.dim} to {vectors.shape[1]}.")
        if not np.isfinite(vectors).all():
            bad = [id_list[i] for i in np.flatnonzero(~np.isfinite(vectors).all(axis=1))[:5]]
            raise ValueError(f"non-finite embeddings for ids {bad}; nothing was written.")
        if id_list:
            kind = type(id_list[0])
            if self._id_kind is None:
                self._id_kind = kind
            elif kind is not self._id_kind:
                raise ValueError(
                    f"ids changed kind from {self._id_kind.__name__} to {kind.__name__}."
                )
        for value in id_list:
            if value in self._seen:
                raise ValueError(f"id {value!r} appears twice; each sample must be embedded once.")
            self._seen.add(value)
        self._pending_ids.extend(id_list)
        self._pending.append(vectors)
        self._pending_rows += len(id_list)
        if self._pending_rows >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        block = np.concatenate(self._pending, axis=0)
        if self._handle is None:
            self._open()
        if self.format == ".parquet":
            self._handle.write_table(self._table(self._pending_ids, block))
        else:
            self._handle.write(np.ascontiguousarray(block).tobytes())
        self.rows += self._pending_rows
        self._ids.extend(self._pending_ids if self.format == ".npy" else ())
        self._pending_ids, self._pending, self._pending_rows = [], [], 0

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = new_temp_file(self.path)
        if self.format == ".parquet":
            pq = require("pyarrow.parquet", "pyarrow", extra="selfsup-core[parquet]")
            self._handle = pq.ParquetWriter(str(self._tmp), self._schema())
        else:
            self._handle = open(self._tmp, "wb")
            self._handle.write(_npy_header(0, self.dim or 0))

    def _schema(self) -> Any:
        import pyarrow as pa

        id_type = pa.int64() if self._id_kind is int else pa.string()
        meta = {"selfsup": json.dumps({**self.metadata, "dim": self.dim})}
        return pa.schema(
            [("id", id_type), ("embedding", pa.list_(pa.float32(), self.dim or 0))],
            metadata=meta,
        )

    def _table(self, ids: list[Any], block: np.ndarray) -> Any:
        import pyarrow as pa

        schema = self._schema()
        flat = pa.array(block.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(flat, self.dim or 0)
        return pa.Table.from_arrays(
            [pa.array(ids, type=schema.field("id").type), column], schema=schema
        )

    # -- finishing -----------------------------------------------------------------------
    def close(self) -> Path:
        """Write what is buffered and move the file(s) into place; returns the output path."""
        if self._closed:
            return self.path
        self._flush()
        if self._handle is None:  # no rows at all: still an honest, empty file
            if self.dim is None:
                self.dim = 0
            self._open()
        if self.format == ".npy":
            self._handle.seek(0)
            self._handle.write(_npy_header(self.rows, self.dim or 0))
            self._handle.flush()
            os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        if self.format == ".npy":
            ids = np.asarray(self._ids, dtype=np.int64 if self._id_kind is int else np.str_)
            with atomic_file(self._sibling(".ids.npy")) as f:
                np.save(f, ids, allow_pickle=False)
            with atomic_file(self._sibling(".meta.json"), "w") as f:
                f.write(json.dumps({**self.metadata, "dim": self.dim, "rows": self.rows}) + "\n")
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        self._tmp = None
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; an existing output stays as it was."""
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.close()
            self._handle = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None
        self._closed = True

    def __enter__(self) -> EmbeddingFile:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class EmbeddingWriter(BasePredictionWriter):
    """Lightning callback: each predict batch's ``(ids, vectors)`` into an :class:`EmbeddingFile`.

    The module's ``predict_step`` returns ``(ids, vectors)``. The file is finished at the
    end of the predict loop and dropped if the loop fails.

    Examples:
        >>> writer = EmbeddingWriter("embeddings.parquet")  # doctest: +SKIP
        >>> Trainer(callbacks=[writer]).predict(module, datamodule=data)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
        chunk_rows: int = 65536,
        overwrite: bool = False,
    ) -> None:
        super().__init__(write_interval="batch")
        self.file = EmbeddingFile(path, metadata, chunk_rows=chunk_rows, overwrite=overwrite)

    def write_on_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        ids, vectors = prediction
        self.file.write(ids, vectors)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self.file.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.file.abort()


def read_embeddings(path: str | os.PathLike[str]) -> tuple[list[str] | list[int], np.ndarray]:
    """``(ids, vectors)`` of a file written by :class:`EmbeddingFile` (``selfsup embed``).

    Examples:
        >>> ids, vectors = read_embeddings("embeddings.parquet")  # doctest: +SKIP
    """
    path = Path(path)
    fmt = _format_of(path)
    if fmt == ".npy":
        vectors = np.load(path, allow_pickle=False)
        ids = np.load(path.with_name(path.name[: -len(".npy")] + ".ids.npy"), allow_pickle=False)
        return ids.tolist(), vectors
    pq = require("pyarrow.parquet", "pyarrow", extra="selfsup-core[parquet]")
    table = pq.read_table(str(path))
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    flat = column.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    vectors = flat.reshape(-1, dim) if dim else np.zeros((table.num_rows, 0), np.float32)
    return table.column("id").to_pylist(), vectors
