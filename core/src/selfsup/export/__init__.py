"""Getting results out of selfsup: encoder folders, embedding files, atomic writes.

- :func:`save_pretrained` / :func:`load_pretrained`: an encoder as ``model.safetensors`` +
  ``config.json``, rebuilt without the training config and without running code from the folder
  (``selfsup export``).
- :class:`EmbeddingFile` / :class:`EmbeddingWriter` / :func:`read_embeddings`: ids + vectors
  streamed to Parquet or ``.npy`` (``selfsup embed``).
- :func:`atomic_file` / :func:`atomic_folder`: outputs that appear whole or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from selfsup.export.atomic import atomic_file, atomic_folder
from selfsup.export.pretrained import (
    CONFIG_NAME,
    CORE_COMPONENTS,
    WEIGHTS_NAME,
    ExportError,
    export_config,
    exportable,
    is_exportable,
    load_pretrained,
    read_pretrained_config,
    resolve_component,
    save_pretrained,
)

if TYPE_CHECKING:
    from selfsup.export.embeddings import (
        EMBEDDING_FORMATS,
        EmbeddingFile,
        EmbeddingWriter,
        read_embeddings,
    )

_LAZY = ("EMBEDDING_FORMATS", "EmbeddingFile", "EmbeddingWriter", "read_embeddings")

__all__ = [
    "CONFIG_NAME",
    "CORE_COMPONENTS",
    "EMBEDDING_FORMATS",
    "WEIGHTS_NAME",
    "EmbeddingFile",
    "EmbeddingWriter",
    "ExportError",
    "atomic_file",
    "atomic_folder",
    "export_config",
    "exportable",
    "is_exportable",
    "load_pretrained",
    "read_embeddings",
    "read_pretrained_config",
    "resolve_component",
    "save_pretrained",
]


def __getattr__(name: str) -> Any:
    # the embedding writer is a Lightning callback: `exportable` (used by encoders) stays light
    if name in _LAZY:
        from selfsup.export import embeddings

        return getattr(embeddings, name)
    raise AttributeError(f"module 'selfsup.export' has no attribute {name!r}")
