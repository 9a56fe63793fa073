"""The batches a data module hands ``selfsup embed``: ids beside the inputs ``Method.embed`` takes.

A data module that can be embedded implements Lightning's ``predict_dataloader()``;
each batch it yields is an :class:`EmbeddingBatch` (or a plain ``(ids, inputs)``
pair) over the whole data set, in a fixed order, without augmentation. ``ids`` say
which sample each output row belongs to: file paths relative to the data folder, a
table's id column, row or node numbers. ``inputs`` is whatever the method's
:meth:`~selfsup.experiment.Method.embed` accepts, so ``method.embed(batch.inputs)``
returns one row per id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import default_collate

__all__ = [
    "EmbeddingBatch",
    "Ids",
    "check_embedding_batch",
    "collate_embedding_batch",
    "ids_to_list",
]

#: A batch's sample ids: an integer tensor ``(B,)`` or a sequence of ``B`` strings / ints.
Ids = Tensor | Sequence[str] | Sequence[int]


class EmbeddingBatch(NamedTuple):
    """One batch for embedding: ``ids`` ``(B,)`` and the ``inputs`` of ``Method.embed``.

    Examples:
        >>> batch = EmbeddingBatch(ids=["a.png", "b.png"], inputs=torch.zeros(2, 3, 8, 8))
        >>> len(batch.ids)
        2
    """

    ids: Ids
    inputs: Any


def ids_to_list(ids: Ids) -> list[str] | list[int]:
    """``ids`` as a Python list of ``str`` or of ``int`` (one kind, never mixed).

    Raises:
        TypeError: floating-point or multi-dimensional id tensors, or mixed kinds.
    """
    if isinstance(ids, Tensor):
        if ids.dim() != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise TypeError(
                f"embedding ids must be a 1-D integer tensor or a list of strings, got a "
                f"{ids.dtype} tensor of shape {tuple(ids.shape)}."
            )
        return [int(v) for v in ids.tolist()]
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise TypeError(
            f"embedding ids must be a 1-D integer tensor or a list of strings, got "
            f"{type(ids).__name__}."
        )
    out = list(ids)
    if all(isinstance(v, str) for v in out):
        return out
    if all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        return out
    kinds = sorted({type(v).__name__ for v in out})
    raise TypeError(f"embedding ids must all be str or all be int, got {', '.join(kinds)}.")


def check_embedding_batch(batch: Any, owner: str = "predict_dataloader()") -> EmbeddingBatch:
    """``batch`` as an :class:`EmbeddingBatch`, or a clear error.

    Raises:
        TypeError: ``batch`` is not an ``(ids, inputs)`` pair.
    """
    if isinstance(batch, EmbeddingBatch):
        return batch
    if isinstance(batch, tuple | list) and len(batch) == 2:
        return EmbeddingBatch(batch[0], batch[1])
    raise TypeError(
        f"{owner} must yield EmbeddingBatch(ids, inputs) pairs for `selfsup embed`, got "
        f"{type(batch).__name__}; see selfsup.data.EmbeddingBatch."
    )


def collate_embedding_batch(items: Sequence[tuple[Any, Any]]) -> EmbeddingBatch:
    """``collate_fn`` for a dataset of ``(id, input)`` pairs: ids and inputs collated apart.

    String ids stay a list; integer ids become an int64 tensor; inputs use PyTorch's
    ``default_collate``.

    Examples:
        >>> batch = collate_embedding_batch([("a", torch.zeros(2)), ("b", torch.ones(2))])
        >>> batch.ids, batch.inputs.shape
        (['a', 'b'], torch.Size([2, 2]))
    """
    ids = [item[0] for item in items]
    inputs = default_collate([item[1] for item in items])
    if ids and all(isinstance(i, str) for i in ids):
        return EmbeddingBatch(ids, inputs)
    return EmbeddingBatch(torch.as_tensor([int(i) for i in ids], dtype=torch.long), inputs)
